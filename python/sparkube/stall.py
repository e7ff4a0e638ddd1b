"""The stall watchdog: an application that runs but has completed no task and registered no
new executor for `stall_timeout` seconds is stalled (a lost shuffle host, a skewed task that
never ends, executors that never come), which no state of its driver pod shows.

It reads the progress that `wait(progress=True)` reads, through the API server's service proxy
to the driver's Spark UI (`SparkAppHandle.progress`), every `interval` seconds. The clock starts
at the first answer of the UI (the driver then runs) and restarts whenever the completed tasks
or the registered executors go above the highest counts seen; reads that get no answer neither stop nor restart it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Literal

from sparkube.errors import ConfigError, SparkubeError

if TYPE_CHECKING:
    from sparkube.client import Progress, SparkAppHandle

log = logging.getLogger(__name__)

OnStall = Literal["warn", "fail"]
ON_STALL: tuple[OnStall, ...] = ("warn", "fail")


def check(stall_timeout: float | None, on_stall: str) -> None:
    """Refuse a non-positive `stall_timeout` or an `on_stall` other than warn and fail."""
    if stall_timeout is not None and not stall_timeout > 0:
        raise ConfigError(
            f"stall_timeout must be a positive number of seconds, not {stall_timeout!r}",
            "stall_timeout",
        )
    if on_stall not in ON_STALL:
        raise ConfigError(f"on_stall must be 'warn' or 'fail', not {on_stall!r}", "on_stall")


class StallClock:
    """When the application last made progress (pure: the caller passes the time)."""

    def __init__(self, stall_timeout: float) -> None:
        self.stall_timeout = stall_timeout
        self.since: float | None = None
        self._seen: tuple[int, int] | None = None

    def observe(self, progress: Progress, now: float) -> bool:
        """Take one reading; True when there has been no progress for `stall_timeout`."""
        seen = (progress.tasks_completed, progress.executors_total)
        if (
            self._seen is None
            or self.since is None
            or any(new > old for new, old in zip(seen, self._seen, strict=True))
        ):
            self.since = now
        # The highest counts seen: a read that missed the executors (0) and the next one that
        # has them again is no progress.
        old = self._seen or seen
        self._seen = (max(seen[0], old[0]), max(seen[1], old[1]))
        return now - self.since >= self.stall_timeout

    def stalled_for(self, now: float) -> float:
        """Seconds since the last progress (0 before the first reading)."""
        return 0.0 if self.since is None else now - self.since


def message(handle: SparkAppHandle, stalled_for: float, progress: Progress) -> str:
    """`spark-…: stalled: no task completed and no executor registered for 120 s (…)`."""
    return (
        f"{handle.app_id}: stalled: no task completed and no executor registered for "
        f"{stalled_for:.0f} s ({progress.summary()}, {progress.executors_active} executors)"
    )


async def watch(
    handle: SparkAppHandle, stall_timeout: float, on_stall: OnStall, interval: float = 1.0
) -> tuple[float, Progress]:
    """Read progress until the application stalls. With `warn`, log a warning for each stall
    and keep watching (a later progress re-arms it); with `fail`, return how long it has been
    stalled and its last progress. Ends when progress cannot be read at all (refused
    credentials, a UI that is not Spark's), after logging why."""
    clock = StallClock(stall_timeout)
    warned = False
    interval = min(interval, stall_timeout / 2)
    while True:
        try:
            progress = await handle.progress_async()
        except SparkubeError as e:
            log.warning("%s: the stall watchdog cannot read progress: %s", handle.app_id, e)
            await asyncio.Event().wait()  # the wait goes on without the watchdog
            raise AssertionError("unreachable") from None
        now = time.monotonic()
        if progress is not None:
            before = clock.since
            stalled = clock.observe(progress, now)
            if clock.since != before:
                warned = False
            if stalled:
                if on_stall == "fail":
                    return clock.stalled_for(now), progress
                if not warned:
                    log.warning("%s", message(handle, clock.stalled_for(now), progress))
                    warned = True
        await asyncio.sleep(interval)
