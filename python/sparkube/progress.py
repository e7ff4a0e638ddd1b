"""A live progress bar while `wait(progress=True)` waits: completed/total tasks from the driver's
Spark UI, the application's state from the shared watch in the description.

`tqdm.auto` gives a widget bar in notebooks and a text bar in terminals. A monitor coroutine
drives the bar: it follows the state on the shared watch and, while the driver runs, reads the
progress every `interval` seconds. The wait itself is the ordinary one (its timeouts, its
exceptions, Ctrl-C); the monitor only displays. While progress cannot be read (the driver is not
running yet, its UI is not up, or the API server refuses the proxy) the bar shows the state and
the elapsed time alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from sparkube.client import AppState, AppStatus
from sparkube.errors import SparkubeError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sparkube.client import Progress, SparkAppHandle

log = logging.getLogger(__name__)

INTERVAL = 1.0
"""Seconds between two progress reads while the driver runs."""

WITHOUT_TASKS = "{desc} [{elapsed}{postfix}]"
"""The bar's text until progress is known (then tqdm's own, with the task counts)."""


class ProgressBar:
    """The tqdm bar of one application: tasks as the count, state and jobs as text."""

    def __init__(self, handle: SparkAppHandle) -> None:
        from tqdm.auto import tqdm

        self.app_id = handle.app_id
        self.state = AppState.SUBMITTED
        self.last: Progress | None = None
        self._lock = threading.Lock()
        # Until there are tasks to count, the state and the elapsed time alone.
        self.bar: Any = tqdm(
            total=None,
            desc=self._desc(),
            unit="task",
            dynamic_ncols=True,
            bar_format=WITHOUT_TASKS,
        )

    def _desc(self) -> str:
        return f"{self.app_id} {self.state.value}"

    def show_state(self, status: AppStatus) -> None:
        """The application's state, in the description."""
        with self._lock:
            self.state = status.state
            self.bar.set_description_str(self._desc())

    def show_progress(self, progress: Progress) -> None:
        """Completed of total tasks as the bar, the jobs after it."""
        with self._lock:
            self.last = progress
            bar = self.bar
            if progress.tasks_total > 0 and progress.tasks_total != bar.total:
                # A new job adds tasks: a new total, keeping the elapsed time.
                started = bar.start_t
                bar.bar_format = None
                bar.reset(total=progress.tasks_total)
                bar.start_t = started
            bar.n = min(progress.tasks_completed, progress.tasks_total)
            jobs = f"{progress.jobs_succeeded}/{progress.jobs_total} jobs"
            if progress.tasks_failed:
                jobs += f", {progress.tasks_failed} failed tasks"
            bar.set_postfix_str(jobs, refresh=False)
            bar.refresh()

    def close(self, status: AppStatus | None) -> None:
        """The final state; a succeeded application's bar is full."""
        with self._lock:
            bar = self.bar
            if status is not None:
                self.state = status.state
                bar.set_description_str(self._desc(), refresh=False)
                if status.state is AppState.SUCCEEDED and bar.total:
                    bar.n = bar.total
            bar.close()


async def monitor(
    handle: SparkAppHandle, bar: ProgressBar, stop: asyncio.Event, interval: float = INTERVAL
) -> None:
    """Show `handle`'s state changes and, while it runs, its progress, until `stop` is set."""
    running = asyncio.Event()

    async def follow_state() -> None:
        async for status in handle.updates_async():
            bar.show_state(status)
            if status.state is AppState.RUNNING:
                running.set()
            else:
                running.clear()

    async def poll() -> None:
        while True:
            await running.wait()
            try:
                progress = await handle.progress_async()
            except SparkubeError as e:
                # Refused credentials or a UI that is not Spark's: asking again will not help.
                log.warning("Progress of %s cannot be read: %s", handle.app_id, e)
                return
            if progress is not None:
                bar.show_progress(progress)
            await asyncio.sleep(interval)

    tasks = [asyncio.ensure_future(follow_state()), asyncio.ensure_future(poll())]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _status_of(error: SparkubeError) -> AppStatus | None:
    """The last status an `AppFailed`, `StartupTimeout` or `WaitTimeout` carries."""
    status = getattr(error, "status", None)
    return status if isinstance(status, AppStatus) else None


def show_progress(
    handle: SparkAppHandle, wait: Callable[[], AppStatus], interval: float = INTERVAL
) -> AppStatus:
    """Runs `wait()` with a progress bar of `handle`, and returns (or raises) what it does.

    The monitor runs on an event loop of its own in a background thread, so that this works
    from notebooks (which already run a loop) as from scripts; the blocking wait releases the
    GIL meanwhile.
    """
    bar = ProgressBar(handle)
    started = threading.Event()
    control: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def run() -> None:
        stop = asyncio.Event()
        control.append((asyncio.get_running_loop(), stop))
        started.set()
        await monitor(handle, bar, stop, interval)

    thread = threading.Thread(
        target=asyncio.run, args=(run(),), name=f"sparkube-progress-{handle.app_id}", daemon=True
    )
    thread.start()
    status: AppStatus | None = None
    try:
        status = wait()
        return status
    except SparkubeError as e:
        status = _status_of(e)
        raise
    finally:
        started.wait(5)
        for loop, stop in control:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        bar.close(status)


async def show_progress_async(
    handle: SparkAppHandle, wait: Awaitable[AppStatus], interval: float = INTERVAL
) -> AppStatus:
    """`show_progress` for asyncio: the monitor is a task beside the awaited wait."""
    bar = ProgressBar(handle)
    stop = asyncio.Event()
    task = asyncio.ensure_future(monitor(handle, bar, stop, interval))
    status: AppStatus | None = None
    try:
        status = await wait
        return status
    except SparkubeError as e:
        status = _status_of(e)
        raise
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        bar.close(status)
