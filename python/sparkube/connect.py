"""`Connection`: an interactive Spark session on Kubernetes through Spark Connect.

`Client.connect` submits a Spark Connect server as the driver (or attaches to the running one of
the same name), waits until it answers, and forwards a local port to it through the API server.
`connection.session()` is then a `pyspark.sql.connect` `SparkSession` on
`sc://127.0.0.1:<port>`; closing the connection deletes the server, its executors and
everything else it owns. The forward and the server's life are the Rust core's; this module
only hands out sessions and shows the connection in notebooks.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
from typing import TYPE_CHECKING, Any

from sparkube.client import AppState, SparkAppHandle
from sparkube.errors import SparkubeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import TracebackType

    from typing_extensions import Self

    from sparkube import _core

INSTALL_HINT = (
    "Spark Connect sessions need the Spark Connect client: pip install 'sparkube[connect]' "
    "(or pyspark with its connect extras)"
)
"""What to install when no Spark Connect client can be imported."""


class ConnectClientMissing(SparkubeError, ImportError):
    """No Spark Connect client (`pyspark-client`, or `pyspark` with its connect extras) is
    installed; the message says what to install."""


def _session_builder() -> Any:
    """`pyspark.sql.connect.session.SparkSession.builder`, or one line saying what to install."""
    try:
        from pyspark.sql.connect.session import SparkSession
    except ImportError as err:
        raise ConnectClientMissing(f"{INSTALL_HINT} ({err})") from None
    return SparkSession.builder


def interactive() -> bool:
    """Whether a person is watching: a Jupyter kernel, or a terminal on stderr."""
    shell = sys.modules.get("IPython")
    if shell is not None:
        get_ipython = getattr(shell, "get_ipython", None)
        if get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell":
            return True
    return sys.stderr is not None and sys.stderr.isatty()


class QueryProgress:
    """A Spark Connect progress handler showing each running query as a tqdm bar (a widget in
    notebooks, text in terminals): completed of total tasks, running tasks and bytes read.

    The server streams the progress of a query's stages with its results (pyspark's
    `registerProgressHandler`); one bar per operation, closed when the query is done. `last`
    keeps the final figures of the latest query: `(completed tasks, total tasks, bytes read)`.
    """

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self._tqdm_kwargs = tqdm_kwargs
        self._bars: dict[str | None, Any] = {}
        self._lock = threading.Lock()
        self.last: tuple[int, int, int] | None = None

    def __call__(
        self,
        stages: Iterable[Any] | None,
        inflight_tasks: int,
        operation_id: str | None,
        done: bool,
    ) -> None:
        from tqdm.auto import tqdm

        stages = list(stages or ())
        total = sum(s.num_tasks for s in stages)
        completed = sum(s.num_completed_tasks for s in stages)
        read = sum(s.num_bytes_read for s in stages)
        with self._lock:
            bar = self._bars.get(operation_id)
            if bar is None:
                if done and not stages:
                    return  # a query answered by the driver alone: nothing to show
                bar = tqdm(
                    total=total, desc="Spark", unit="task", dynamic_ncols=True, **self._tqdm_kwargs
                )
                self._bars[operation_id] = bar
            if total != bar.total:
                bar.total = total
            bar.n = min(completed, total)
            bar.set_postfix_str(f"{inflight_tasks} running, {read / 2**20:.1f} MiB read", False)
            bar.refresh()
            self.last = (completed, total, read)
            if done:
                bar.close()
                del self._bars[operation_id]

    @property
    def open(self) -> int:
        """Bars of queries still running."""
        with self._lock:
            return len(self._bars)


class Connection:
    """An open Spark Connect session: its server on the cluster and the local forward to it.

    A context manager: leaving the block closes it, which deletes the server and everything it
    owns. `detach()` instead leaves the server running for `sparkube connect NAME` (or another
    `Client.connect` with the same name) to reattach.
    """

    def __init__(self, core: _core.Session) -> None:
        self._core = core
        self._sessions: list[Any] = []

    @property
    def name(self) -> str:
        """The session's name (label `_core.SESSION_LABEL` on its driver)."""
        return self._core.name

    @property
    def url(self) -> str:
        """`sc://127.0.0.1:PORT`, for any Spark Connect client."""
        return self._core.url

    @property
    def local_port(self) -> int:
        """The local port the server is forwarded to."""
        return self._core.local_port

    @property
    def attached(self) -> bool:
        """Whether the server was already running (this connection attached to it by name)."""
        return self._core.attached

    @property
    def handle(self) -> SparkAppHandle:
        """The server's driver, as any application: `status()`, `logs()`, `progress()`."""
        return SparkAppHandle(self._core.handle())

    def session(self, *, progress: bool | None = None) -> Any:
        """A Spark Connect `SparkSession` on this connection (one per call, all sharing the
        server). Raises `ConnectClientMissing` when no Spark Connect client is installed.

        `progress` shows a bar per running query (`QueryProgress`); by default only when a
        person watches (a Jupyter kernel, or stderr a terminal), not in scripts and tasks.
        """
        if not self._core.is_open:
            raise SparkubeError(f"the connection to session {self.name} is closed")
        session = _session_builder().remote(self.url).create()
        if progress if progress is not None else interactive():
            session.registerProgressHandler(QueryProgress())
        self._sessions.append(session)
        return session

    def logs(
        self,
        follow: bool = False,
        tail: int | None = None,
        *,
        executor: str | None = None,
        since: float | None = None,
    ) -> Iterator[str]:
        """The server's driver log lines, or executor `executor`'s (its Spark id, `"1"`):
        the batch apps' `SparkAppHandle.logs`."""
        return self.handle.logs(follow=follow, since=since, tail=tail, executor=executor)

    def close(self, wait: bool = False) -> bool:
        """Stop the sessions and the forward, delete the server with its executors, service and
        config maps; with `wait`, return once all of it is gone. Returns whether the server
        still existed."""
        self._stop_sessions()
        return self._core.close(wait)

    async def close_async(self, wait: bool = False) -> bool:
        """`close` for asyncio."""
        self._stop_sessions()
        return await self._core.close_async(wait)

    def detach(self) -> None:
        """Stop the forward and leave the server running (it ends after its idle timeout)."""
        self._stop_sessions()
        self._core.detach()

    def _stop_sessions(self) -> None:
        """Release the sessions on the server while it runs; against a server already gone
        (deleted by another connection, or ended) the client would retry for minutes."""
        sessions, self._sessions = self._sessions, []
        if not sessions or not self._core.is_open:
            return
        try:
            running = self.handle.status().state == AppState.RUNNING
        except SparkubeError:
            running = False
        if not running:
            return
        for session in sessions:
            # A server going away meanwhile must not stop closing.
            with contextlib.suppress(Exception):
                session.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close_async()

    def __repr__(self) -> str:
        return f"Connection(name={self.name!r}, url={self.url!r})"

    def _repr_html_(self) -> str:
        handle = self.handle
        running = False
        try:
            status = handle.status()
            state = str(status.state)
            reason = status.reason
            running = status.state == AppState.RUNNING
        except SparkubeError as err:
            state, reason = str(AppState.UNKNOWN), err.message
        if not self._core.is_open:
            state += " (connection closed)"
        rows = [
            ("Session", f"<b>{html.escape(self.name)}</b>"),
            ("State", html.escape(state + (f": {reason}" if reason else ""))),
            (
                "Driver pod",
                f"<code>{html.escape(handle.namespace)}/{html.escape(handle.driver_pod)}</code>",
            ),
            ("Spark Connect", f"<code>{html.escape(self.url)}</code>"),
        ]
        progress = None
        if running:
            with contextlib.suppress(SparkubeError):
                progress = handle.progress()
        if progress is not None:
            rows.append(("Executors", f"{progress.executors_active} active"))
        ui = handle.spark_ui_url
        if ui is not None and running:
            link = html.escape(ui, quote=True)
            rows.append(("Spark UI", f"<a href='{link}' target='_blank'>{html.escape(ui)}</a>"))
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows
        )
        return f"<table class='sparkube-connection'>{body}</table>"
