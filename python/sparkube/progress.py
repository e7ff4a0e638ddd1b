"""A live line (or notebook bar) of an application's state while `wait(progress=True)` waits."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from sparkube.client import AppStatus, SparkAppHandle


def show_progress(handle: SparkAppHandle, wait: Callable[[], AppStatus]) -> AppStatus:
    """Shows each state change of `handle` until it ends, then returns `wait()`'s result."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        for status in handle.updates():
            print(f"{handle.app_id}: {status.summary()}", file=sys.stderr)
        return wait()
    with tqdm(total=None, desc=handle.app_id, bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        for status in handle.updates():
            bar.set_postfix_str(status.summary())
    return wait()
