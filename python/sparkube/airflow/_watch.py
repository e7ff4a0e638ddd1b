"""Waiting for one application while streaming its driver log: shared by the trigger and the
operator's non-deferrable mode, so both behave the same.

The outcome is a JSON-safe dict (the trigger's event payload): `status` is one of `success`,
`failed`, `startup_timeout`, `timeout`, `stalled` or `error`; `message` says what happened;
`app` is the last `AppStatus.to_dict()` seen, when there is one; `report` the right-sizing
report's `to_dict()` once the application has ended, when there are figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

from sparkube.errors import AppFailed, AppStalled, SparkubeError, StartupTimeout, WaitTimeout

if TYPE_CHECKING:
    from collections.abc import Sequence

    import sparkube


class Log(Protocol):
    """The logger methods used here (a `logging.Logger` or Airflow's structlog logger)."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Log at info level."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Log at warning level."""


SUCCESS = "success"
FAILED = "failed"
STARTUP_TIMEOUT = "startup_timeout"
TIMEOUT = "timeout"
STALLED = "stalled"
ERROR = "error"

# How long the log stream may take to deliver its last lines once the application has ended.
DRAIN_SECONDS = 30.0


def remaining(deadline: float | None) -> float | None:
    """Seconds left until `deadline` (epoch seconds), never negative; None without a deadline."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.time())


def outcome(
    status: str, message: str, *, namespace: str, driver_pod: str, app: Any = None
) -> dict[str, Any]:
    """An outcome payload; `app` is the application's `AppStatus` when there is one."""
    return {
        "status": status,
        "message": message,
        "namespace": namespace,
        "driver_pod": driver_pod,
        "app": app.to_dict() if app is not None else None,
    }


class LogCursor:
    """Where a driver log stands: the kubelet timestamp (epoch nanoseconds) of the last line
    written and how many written lines carry exactly it (timestamps have a limited resolution,
    so several lines may share one). A reader resuming from a cursor skips exactly those lines
    and the older ones: nothing is written twice, nothing is lost.

    As plain data (`to_list`, `from_list`) it is part of a trigger's serialized state.
    """

    def __init__(self, nanos: int | None = None, count: int = 0) -> None:
        self.nanos = nanos
        self.count = count

    def to_list(self) -> list[int] | None:
        return None if self.nanos is None else [self.nanos, self.count]

    @classmethod
    def from_list(cls, value: Sequence[int] | None) -> LogCursor:
        return cls() if not value else cls(int(value[0]), int(value[1]))

    def since_seconds(self) -> float | None:
        """The `sinceSeconds` that still returns the last line written (whole seconds, one more
        for the rounding), None from the start."""
        if self.nanos is None:
            return None
        return float(math.ceil(time.time() - self.nanos / 1e9) + 1)

    def admit(self, nanos: int | None, skipping: list[int]) -> bool:
        """Whether a line stamped `nanos` is new; `skipping` counts, across calls, the lines at
        the cursor's own timestamp seen again. Advances the cursor over a new line."""
        if nanos is None:  # no timestamp to place it by: written, the cursor stays
            return True
        if self.nanos is not None:
            if nanos < self.nanos:
                return False
            if nanos == self.nanos and skipping[0] < self.count:
                skipping[0] += 1
                return False
        if nanos == self.nanos:
            self.count += 1
        else:
            self.nanos, self.count = nanos, 1
        skipping[0] = self.count  # past the cursor: nothing more to skip
        return True


LOG_CURSOR_ANNOTATION = "sparkube.io/airflow-log-cursor"
"""The driver pod's annotation where a trigger keeps its `LogCursor`: Airflow rebuilds a trigger
from the arguments of the deferral, never from a later state, so a triggerer restart would
otherwise write the log again from the deferral."""

CURSOR_SAVE_SECONDS = 15.0
"""How often a trigger writing the driver log saves its cursor; it also saves when stopped. A
triggerer killed outright writes again at most the lines of this interval."""


class CursorKeeper:
    """Keeps a deferral's `LogCursor` on the driver pod (`LOG_CURSOR_ANNOTATION`), keyed by
    the deferral's `logs_since` so that a later deferral (a retry) starts afresh."""

    def __init__(self, handle: sparkube.SparkAppHandle, log: Log, deferral: float | None) -> None:
        self.handle = handle
        self.log = log
        self.deferral = deferral
        self.saved: list[int] | None = None
        self.saved_at = time.monotonic()
        self.refused = False

    async def load(self, cursor: LogCursor) -> LogCursor:
        """The later of `cursor` and the one stored for this deferral."""
        try:
            text = await self.handle.annotation_async(LOG_CURSOR_ANNOTATION)
            stored = json.loads(text) if text else {}
        except (SparkubeError, ValueError) as e:
            self.log.warning("Could not read where the driver log stopped: %s", e)
            return cursor
        if not isinstance(stored, dict) or stored.get("since") != self.deferral:
            return cursor
        found = LogCursor.from_list(stored.get("cursor"))
        self.saved = found.to_list()
        if found.nanos is None:
            return cursor
        if cursor.nanos is not None and (cursor.nanos, cursor.count) >= (found.nanos, found.count):
            return cursor
        return found

    async def save(self, cursor: LogCursor, *, now: bool = False) -> None:
        """Stores `cursor` when it moved, at most every `CURSOR_SAVE_SECONDS` unless `now`."""
        position = cursor.to_list()
        if self.refused or position is None or position == self.saved:
            return
        if not now and time.monotonic() - self.saved_at < CURSOR_SAVE_SECONDS:
            return
        self.saved_at = time.monotonic()
        value = json.dumps({"since": self.deferral, "cursor": position})
        try:
            await self.handle.annotate_async(LOG_CURSOR_ANNOTATION, value)
        except SparkubeError as e:
            self.refused = True
            self.log.warning(
                "Cannot keep where the driver log stopped on driver pod %s (%s): after a"
                " triggerer restart its lines are written again from the deferral",
                self.handle.driver_pod,
                e,
            )
            return
        self.saved = position


_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ?")


def split_timestamp(line: str) -> tuple[int | None, str]:
    """`2025-01-01T00:00:01.123456789Z text` -> (epoch nanoseconds, `text`); a line without a
    leading RFC 3339 timestamp -> (None, line)."""
    match = _TIMESTAMP.match(line)
    if match is None:
        return None, line
    base, fraction, zone = match.groups()
    when = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    nanos = int((fraction or "0").ljust(9, "0")[:9])
    return int(when.timestamp()) * 1_000_000_000 + nanos, line[match.end() :]


async def stream_logs(
    handle: sparkube.SparkAppHandle,
    log: Log,
    since: float | None = None,
    cursor: LogCursor | None = None,
    keep_cursor: bool = False,
) -> None:
    """Write the driver's log lines to `log` as they come, until the driver's container ends.

    `since` (epoch seconds) skips older lines, for a trigger that starts at a deferral. A
    `cursor` resumes after the last line written (a trigger restarted from its serialized
    state) and is advanced over every line written. With `keep_cursor` (a trigger), the cursor
    is also kept on the driver pod (`CursorKeeper`), and a trigger of the same deferral
    started again by a new triggerer resumes from it.
    """
    cursor = cursor if cursor is not None else LogCursor()
    keeper = CursorKeeper(handle, log, since) if keep_cursor else None
    if keeper is not None:
        cursor = await keeper.load(cursor)
    since_seconds = cursor.since_seconds()
    if since_seconds is None and since is not None:
        since_seconds = max(1.0, time.time() - since)
    skipping = [0]
    try:
        async for line in handle.logs_async(follow=True, since=since_seconds, timestamps=True):
            nanos, text = split_timestamp(line)
            if cursor.admit(nanos, skipping):
                log.info("[driver] %s", text.rstrip("\n"))
                if keeper is not None:
                    await keeper.save(cursor)
    except SparkubeError as e:
        log.warning("Stopped reading the driver log of %s: %s", handle.driver_pod, e)
    except asyncio.CancelledError:
        # The triggerer stops this trigger (a restart, or the task's end): keep the place.
        if keeper is not None:
            await keeper.save(cursor, now=True)
        raise


async def log_progress(handle: sparkube.SparkAppHandle, log: Log, interval: float) -> None:
    """Every `interval` seconds, write the application's progress to `log` when it changed.

    The line is `{app id}: 3/4 jobs, 120/200 tasks (60%)`, from the driver's Spark UI. Nothing
    is written while the UI cannot answer (the driver is starting or has ended); an error that
    asking again would not cure (the proxy is forbidden) is written once and ends the reading.
    """
    last = None
    while True:
        await asyncio.sleep(interval)
        try:
            progress = await handle.progress_async()
        except SparkubeError as e:
            log.warning("Stopped reading the progress of %s: %s", handle.app_id, e)
            return
        if progress is None:
            continue
        line = progress.summary()
        if line != last:
            log.info("%s: %s", handle.app_id, line)
            last = line


async def right_sizing(
    handle: sparkube.SparkAppHandle, log: Log, history_server_url: str | None
) -> dict[str, Any] | None:
    """Log the right-sizing report of the ended application; its `to_dict()`, or None when
    there are no figures. A History Server that does not answer gives a partial report from
    the progress read meanwhile, never a failure."""
    try:
        report = await handle.report_async(history_server_url)
    except SparkubeError as e:
        log.warning("No right-sizing report for %s: %s", handle.app_id, e)
        return None
    if report is None:
        return None
    if report.summary:
        log.info("Right-sizing: %s", report.summary)
    if report.partial and history_server_url:
        log.warning("Right-sizing report of %s is partial: %s", handle.app_id, report.note)
    return dict(report.to_dict())


async def follow(
    handle: sparkube.SparkAppHandle,
    *,
    log: Log,
    get_logs: bool = True,
    logs_since: float | None = None,
    logs_cursor: LogCursor | None = None,
    keep_logs_cursor: bool = False,
    startup_deadline: float | None = None,
    deadline: float | None = None,
    kill_on_timeout: bool = True,
    progress_interval: float | None = None,
    stall_timeout: float | None = None,
    stall_action: str = "warn",
    history_server_url: str | None = None,
) -> dict[str, Any]:
    """Wait for the application's end on the core's shared watch; the outcome payload.

    Deadlines are absolute (epoch seconds) so that a resumed wait keeps the original ones. With
    `kill_on_timeout`, the driver is deleted when a deadline passes (or its image cannot be
    pulled); the core's wait does that, so it happens once even if two waiters race. With
    `progress_interval` (seconds), a progress line is logged that often when it changed.
    `stall_timeout` and `stall_action` are the stall watchdog's (`sparkube.stall`): `warn`
    logs a warning, `fail` ends the wait as `stalled` (deleting the driver with
    `kill_on_timeout`). Once the application has ended, its right-sizing report
    (`SparkAppHandle.report`, from `history_server_url` or the progress read meanwhile) is
    logged and put in the outcome.
    """
    where = {"namespace": handle.namespace, "driver_pod": handle.driver_pod}
    logs = (
        asyncio.ensure_future(stream_logs(handle, log, logs_since, logs_cursor, keep_logs_cursor))
        if get_logs
        else None
    )
    progress = (
        asyncio.ensure_future(log_progress(handle, log, progress_interval))
        if progress_interval
        else None
    )
    try:
        try:
            status = await handle.wait_async(
                timeout=remaining(deadline),
                startup_timeout=remaining(startup_deadline),
                kill_on_timeout=kill_on_timeout,
                stall_timeout=stall_timeout,
                on_stall=stall_action,
            )
        except AppFailed as e:
            result = outcome(FAILED, e.message, app=e.status, **where)
        except AppStalled as e:
            result = outcome(STALLED, e.message, app=e.status, **where)
        except StartupTimeout as e:
            result = outcome(STARTUP_TIMEOUT, e.message, app=e.status, **where)
        except WaitTimeout as e:
            result = outcome(TIMEOUT, e.message, app=e.status, **where)
        except SparkubeError as e:
            message = f"Tracking driver pod {handle.namespace}/{handle.driver_pod} failed: {e}"
            result = outcome(ERROR, message, **where)
        else:
            name = status.app_id or handle.driver_pod
            result = outcome(SUCCESS, f"Spark application {name} succeeded", app=status, **where)
        if logs is not None:
            # Let the stream hand out the driver's last lines before the outcome is reported.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(logs), DRAIN_SECONDS)
        if result["status"] != ERROR:
            result["report"] = await right_sizing(handle, log, history_server_url)
        return result
    finally:
        for task in (progress, logs):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
