"""`Client`, `SparkAppHandle` and `AppStatus`: submitting and following Spark applications.

Everything here is a thin layer over the Rust core: connections, retries, the shared watch and
log streams live there. Blocking calls release the GIL and can be interrupted with Ctrl-C; each
has an `_async` twin that runs on the core's one tokio runtime. All handles made by one
`Client` share one watch per namespace, however many applications are being waited on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import html
import json
import os
import sys
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sparkube import _core
from sparkube.app import SparkApp
from sparkube.errors import AppFailed

if TYPE_CHECKING:
    import builtins

    from typing_extensions import Self

    from sparkube.connect import Connection


class AppState(str, enum.Enum):
    """Where an application is in its life, judged from the driver container."""

    SUBMITTED = "Submitted"
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETED = "Deleted"
    UNKNOWN = "Unknown"

    @property
    def is_final(self) -> bool:
        """Whether the application has ended (it will not change state again)."""
        return self in (AppState.SUCCEEDED, AppState.FAILED, AppState.DELETED)

    def __str__(self) -> str:
        return self.value


AppStatus = _core.AppStatus
"""The state of one application, from its driver pod (a frozen value made by the core).

`state` is an `AppState`; `reason` is Kubernetes' word for the state (`Unschedulable`,
`ErrImagePull`, `OOMKilled`, `Error`, `Evicted`, ...), `message` the scheduler's or the
termination message, and `last_log_lines` the end of the driver log for a failed application.
`to_dict()` gives JSON-safe data (for XCom and trigger events) that `AppStatus.from_dict` reads
back.
"""

Progress = _core.Progress
"""How far a running application is, as its driver's Spark UI counts it (a frozen value made by
the core).

Counts cover the jobs submitted so far: a job that starts later adds to the totals, so
`fraction` can go down. Tasks of skipped stages are not counted as tasks to run
(`tasks_skipped` has them); each task counts once as completed, however many attempts it
took (`tasks_failed` counts failed attempts).
"""

Preflight = _core.Preflight
"""What `Client.preflight` found: `passed`, `checks` (each a `PreflightCheck` with `subject`,
`passed`, `message`), `failures`, `round_trips`; true when every check passed."""

PreflightCheck = _core.PreflightCheck
"""One finding of a preflight."""

Report = _core.Report
"""The right-sizing report of an ended application (`SparkAppHandle.report`): `summary` (one
line, None when no executor reported its heap), `recommended_executor_memory`, `partial`,
`source`, `note`; `to_dict()` has every figure per executor and summed (bytes, seconds)."""


class SparkAppHandle:
    """A submitted (or attached) Spark application: its status, logs, and a way to end it."""

    def __init__(self, core: _core.AppHandle, *, delete_uploads: bool = False) -> None:
        self._core = core
        self._delete_uploads = delete_uploads

    @property
    def uploads(self) -> list[str]:
        """The URIs of the objects this submission uploaded to the upload path (not those
        it found already there)."""
        return self._core.uploads

    def remove_uploads(self) -> None:
        """Remove the objects this submission uploaded; objects it found already there (a
        former submission's, by their contents) stay, as other apps may use them."""
        self._core.remove_uploads()

    async def remove_uploads_async(self) -> None:
        """`remove_uploads` for asyncio."""
        await self._core.remove_uploads_async()

    def _ended(self, status: AppStatus | None) -> None:
        """The app has ended: remove its uploads if the submission asked to."""
        if self._delete_uploads and status is not None and status.state.is_final:
            self.remove_uploads()

    async def _ended_async(self, status: AppStatus | None) -> None:
        if self._delete_uploads and status is not None and status.state.is_final:
            await self.remove_uploads_async()

    @property
    def app_id(self) -> str:
        """The Spark application id (`spark-…`)."""
        return self._core.app_id

    @property
    def namespace(self) -> str:
        """The namespace of the driver pod."""
        return self._core.namespace

    @property
    def driver_pod(self) -> str:
        """The name of the driver pod."""
        return self._core.driver_pod

    @property
    def submission_id(self) -> str | None:
        """The driver's submission id label (`_core.SUBMISSION_ID_LABEL`)."""
        return self._core.submission_id

    @property
    def adopted(self) -> bool:
        """Whether this submission found its driver already created and adopted it."""
        return self._core.adopted

    @property
    def spark_ui_url(self) -> str | None:
        """The driver's Spark UI through the API server's service proxy (it needs the
        caller's credentials, or `kubectl proxy` in front); None when the driver service is
        not known from the pod."""
        return self._core.spark_ui_url

    def status(self) -> AppStatus:
        """The current status (one API request)."""
        return self._core.status()

    async def status_async(self) -> AppStatus:
        """`status` for asyncio."""
        return await self._core.status_async()

    def progress(self) -> Progress | None:
        """Jobs, stages and tasks from the driver's Spark UI, or None while it cannot answer.

        Two requests through the API server's service proxy (so the caller's credentials and
        no port-forward): None while the driver is pending, after it has finished, or when
        its UI does not answer within a few seconds. Needs `get` on `services/proxy`.
        """
        return self._core.progress()

    async def progress_async(self) -> Progress | None:
        """`progress` for asyncio."""
        return await self._core.progress_async()

    def report(
        self, history_server_url: str | None = None, *, wait: float | None = None
    ) -> Report | None:
        """The right-sizing report, once the application has ended.

        Executor-seconds, peak JVM heap and off-heap, peak Python memory, spill and the GC
        share of task time, per executor and summed, with a line such as `executors peaked
        at 1.1 GiB of 4 GiB heap (27 %): spark.executor.memory=2g would do`: the peak heap
        plus half, rounded up to 512 MiB (whole GiB from 4 GiB), never below 512 MiB, and
        advised only when smaller than the configured memory.

        From the History Server's REST API at `history_server_url` (waiting up to `wait`
        seconds, 30 by default, for it to list the application as completed); else, or when
        it does not answer, from the last `progress()` read of this handle, marked `partial`.
        None when there is neither. Never raises for an unreachable History Server.
        """
        return self._core.report(history_server_url, wait=wait)

    async def report_async(
        self, history_server_url: str | None = None, *, wait: float | None = None
    ) -> Report | None:
        """`report` for asyncio."""
        return await self._core.report_async(history_server_url, wait=wait)

    async def annotation_async(self, key: str) -> str | None:
        """An annotation of the driver pod, None when absent: where a follower of the app
        (the Airflow trigger) keeps state that must outlive its process."""
        return await self._core.annotation_async(key)

    async def annotate_async(self, key: str, value: str) -> bool:
        """Set an annotation of the driver pod (needs `patch` on pods); whether the pod was
        there (a pod that is gone is not created again)."""
        return await self._core.annotate_async(key, value)

    def wait(
        self,
        timeout: float | None = None,
        startup_timeout: float | None = None,
        *,
        kill_on_timeout: bool = False,
        kill_grace_period: float | None = None,
        progress: bool = False,
        stall_timeout: float | None = None,
        on_stall: str = "warn",
    ) -> AppStatus:
        """Wait for the application to end and return its final status.

        Raises `AppFailed` when it fails or its driver is deleted, `StartupTimeout` when the
        driver is not running after `startup_timeout` seconds (image pull errors fail sooner),
        and `WaitTimeout` after `timeout` seconds; with `kill_on_timeout` the driver is then
        deleted. Each exception's `status` is the last `AppStatus` seen. `progress` shows a
        bar of completed/total tasks from the driver's Spark UI with the state beside it (a
        widget in notebooks, text in terminals), read every second while the driver runs; the
        state alone while the UI cannot answer. A submission with `delete_uploads` removes
        its uploads once the application has ended, succeeded or failed.

        `stall_timeout` (seconds) watches for a stall (`sparkube.stall`): a running application
        that completes no task and registers no executor for that long. `on_stall="warn"` logs
        a warning and waits on; `"fail"` raises `AppStalled` (deleting the driver first with
        `kill_on_timeout`).
        """
        from sparkube import stall

        stall.check(stall_timeout, on_stall)

        def wait() -> AppStatus:
            if stall_timeout is not None:
                # The asyncio wait watches for the stall, and removes the uploads at the end.
                return _run_in_thread(
                    self.wait_async(
                        timeout,
                        startup_timeout,
                        kill_on_timeout=kill_on_timeout,
                        kill_grace_period=kill_grace_period,
                        stall_timeout=stall_timeout,
                        on_stall=on_stall,
                    )
                )
            try:
                status = self._core.wait(
                    timeout=timeout,
                    startup_timeout=startup_timeout,
                    kill_on_timeout=kill_on_timeout,
                    kill_grace_period=kill_grace_period,
                )
            except AppFailed as err:
                self._ended(err.status)
                raise
            self._ended(status)
            return status

        if progress:
            from sparkube.progress import show_progress

            return show_progress(self, wait)
        return wait()

    async def wait_async(
        self,
        timeout: float | None = None,
        startup_timeout: float | None = None,
        *,
        kill_on_timeout: bool = False,
        kill_grace_period: float | None = None,
        progress: bool = False,
        stall_timeout: float | None = None,
        on_stall: str = "warn",
    ) -> AppStatus:
        """`wait` for asyncio."""
        from sparkube import stall

        stall.check(stall_timeout, on_stall)

        async def ended() -> AppStatus:
            waiting: Awaitable[AppStatus] = self._core.wait_async(
                timeout=timeout,
                startup_timeout=startup_timeout,
                kill_on_timeout=kill_on_timeout,
                kill_grace_period=kill_grace_period,
            )
            if stall_timeout is not None:
                waiting = self._watch_stall(
                    waiting, stall_timeout, on_stall, kill_on_timeout, kill_grace_period
                )
            try:
                status = await waiting
            except AppFailed as err:
                await self._ended_async(err.status)
                raise
            await self._ended_async(status)
            return status

        waiting = ended()
        if progress:
            from sparkube.progress import show_progress_async

            return await show_progress_async(self, waiting)
        return await waiting

    async def _watch_stall(
        self,
        waiting: Awaitable[AppStatus],
        stall_timeout: float,
        on_stall: str,
        kill_on_timeout: bool,
        kill_grace_period: float | None,
    ) -> AppStatus:
        """`waiting`, beside the stall watchdog; raises `AppStalled` when it fails first."""
        from sparkube import stall
        from sparkube.errors import AppStalled

        waiter = asyncio.ensure_future(waiting)
        watchdog = asyncio.ensure_future(
            stall.watch(self, stall_timeout, "fail" if on_stall == "fail" else "warn")
        )
        try:
            await asyncio.wait({waiter, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                return waiter.result()
            stalled_for, last = watchdog.result()
        finally:
            for task in (waiter, watchdog):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        status = await self.status_async()
        if kill_on_timeout:
            await self.kill_async(kill_grace_period)
        raise AppStalled(stall.message(self, stalled_for, last), status, last, stalled_for)

    def updates(self) -> Iterator[AppStatus]:
        """Each status change, from the shared watch, ending with the final status."""
        yield from self._core.updates()

    async def updates_async(self) -> AsyncIterator[AppStatus]:
        """`updates` for asyncio."""
        async for status in self._core.updates():
            yield status

    def logs(
        self,
        follow: bool = False,
        since: float | None = None,
        tail: int | None = None,
        *,
        executor: str | None = None,
        container: str | None = None,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """The driver's log lines (or executor `executor`'s).

        With `follow`, lines arrive as they are written until the container ends; a dropped
        connection is resumed without losing or repeating a line. `since` is in seconds,
        `tail` a number of lines.
        """
        return iter(
            self._core.logs(
                follow=follow,
                since=since,
                tail=tail,
                executor=executor,
                container=container,
                timestamps=timestamps,
            )
        )

    async def logs_async(
        self,
        follow: bool = False,
        since: float | None = None,
        tail: int | None = None,
        *,
        executor: str | None = None,
        container: str | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[str]:
        """`logs` for asyncio."""
        lines = await self._core.logs_async(
            follow=follow,
            since=since,
            tail=tail,
            executor=executor,
            container=container,
            timestamps=timestamps,
        )
        while batch := await lines.next_batch_async():
            for line in batch:
                yield line

    def kill(self, grace_period: float | None = None, wait: bool = False) -> bool:
        """Delete the driver pod; its executors, service and config maps go with it.

        Returns whether the driver existed. With `wait`, returns once everything is gone.
        """
        return self._core.kill(grace_period, wait)

    async def kill_async(self, grace_period: float | None = None, wait: bool = False) -> bool:
        """`kill` for asyncio."""
        return await self._core.kill_async(grace_period, wait)

    def __repr__(self) -> str:
        return (
            f"SparkAppHandle(app_id={self.app_id!r}, namespace={self.namespace!r}, "
            f"driver_pod={self.driver_pod!r})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<b>{html.escape(self.app_id)}</b> "
            f"driver pod <code>{html.escape(self.namespace)}/{html.escape(self.driver_pod)}</code>"
        )


def _run_in_thread(coroutine: Coroutine[Any, Any, AppStatus]) -> AppStatus:
    """Run `coroutine` on an event loop of its own in another thread (so that this works
    where a loop already runs, as in a notebook) and return or raise what it does."""
    import threading

    outcome: list[AppStatus] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(coroutine))
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    thread = threading.Thread(target=run, name="sparkube-wait", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def caller_dir() -> str | None:
    """The folder of the module that called into sparkube, against which relative local paths
    resolve; None (the working directory) for code without a file, such as a notebook cell."""
    frame = sys._getframe(1)
    package = os.path.dirname(os.path.abspath(__file__))
    while frame is not None:
        module_file = frame.f_globals.get("__file__")
        if not isinstance(module_file, str):
            return None
        path = os.path.abspath(module_file)
        if not path.startswith(package + os.sep):
            return os.path.dirname(path)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _submission(
    app: SparkApp | Sequence[str],
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
) -> Any:
    """The core's input: a spec dict or an argument list, with extra driver metadata."""
    if isinstance(app, str):
        raise TypeError("submit() takes a SparkApp or a list of spark-submit arguments, not a str")
    if isinstance(app, SparkApp):
        if labels or annotations:
            driver = replace(
                app.driver,
                labels={**app.driver.labels, **(labels or {})},
                annotations={**app.driver.annotations, **(annotations or {})},
            )
            app = replace(app, driver=driver)
        return app.to_dict()
    args = list(app)
    extra: list[str] = []
    for key, value in (labels or {}).items():
        extra += ["--conf", f"spark.kubernetes.driver.label.{key}={value}"]
    for key, value in (annotations or {}).items():
        extra += ["--conf", f"spark.kubernetes.driver.annotation.{key}={value}"]
    return extra + args


def _session_spec(
    app: SparkApp | str, image: str | None, idle_timeout: float | None
) -> dict[str, Any]:
    """The core's input for `connect`: a session spec, from a `SparkApp` or a name."""
    if isinstance(app, str):
        timeout = {} if idle_timeout is None else {"idle_timeout": idle_timeout}
        app = SparkApp.session(app, image=image, **timeout)
    else:
        if image is not None:
            app = replace(app, image=image)
        if idle_timeout is not None:
            key = _core.IDLE_TIMEOUT_KEY
            timeout_conf = SparkApp.session(app.name, idle_timeout=idle_timeout).conf[key]
            app = replace(app, conf={**app.conf, key: timeout_conf})
    return app.to_dict()


def _is_inline(kubeconfig: str) -> bool:
    """Whether a `kubeconfig` string is the kubeconfig itself (YAML or JSON), not a path."""
    text = kubeconfig.strip()
    return "\n" in text or text.startswith("{") or text.startswith("apiVersion:")


class Client:
    """A connection to a Kubernetes cluster for submitting and following Spark applications.

    Connection sources, first match wins: `kubeconfig` (a path, or an inline kubeconfig as a
    dict or YAML/JSON text) with `context`; `in_cluster=True` (the pod's service account);
    `master` (`k8s://https://host:port`, with spark-submit's
    `spark.kubernetes.authenticate.submission.*` settings in `conf`); else `$KUBECONFIG`,
    `~/.kube/config`, then the in-cluster service account. TLS certificates are verified
    unless `verify_ssl=False`, which logs a warning.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        context: str | None = None,
        namespace: str | None = None,
        in_cluster: bool | None = None,
        master: str | None = None,
        verify_ssl: bool = True,
        conf: Mapping[str, str] | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "context": context,
            "namespace": namespace,
            "in_cluster": in_cluster,
            "master": master,
            "insecure_skip_tls_verify": not verify_ssl,
        }
        if isinstance(kubeconfig, Mapping):
            options["kubeconfig_content"] = json.dumps(kubeconfig)
        elif isinstance(kubeconfig, str) and _is_inline(kubeconfig):
            # Never taken for a path: a path is quoted in errors, content is not.
            options["kubeconfig_content"] = kubeconfig
        elif kubeconfig is not None:
            options["kubeconfig"] = os.fspath(kubeconfig)
        self._core = _core.Client(
            {k: v for k, v in options.items() if v is not None}, dict(conf or {})
        )

    @property
    def namespace(self) -> str:
        """The default namespace."""
        return self._core.namespace

    @property
    def cluster_url(self) -> str:
        """The API server's URL."""
        return self._core.cluster_url

    def submit(
        self,
        app: SparkApp | Sequence[str],
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        delete_uploads: bool = False,
    ) -> SparkAppHandle:
        """Submit `app` (a `SparkApp` or spark-submit arguments) and return its handle.

        Creates what spark-submit creates, in the same order; if any step fails, the driver
        pod is deleted and nothing is left behind. A repeated submission with the same
        `submission_id` adopts the driver it already created. `labels` and `annotations` go
        on the driver pod. Local files ship with the application; relative paths resolve
        against `base_dir`, by default the folder of the calling module (the working
        directory in a notebook). With `spark.kubernetes.file.upload.path` they are uploaded
        there first (an unchanged file is found and not sent again); `delete_uploads` removes
        what this submission uploaded once the handle's `wait` sees the app end.
        """
        base = base_dir if base_dir is not None else caller_dir()
        core = self._core.submit(_submission(app, labels, annotations), base)
        return SparkAppHandle(core, delete_uploads=delete_uploads)

    async def submit_async(
        self,
        app: SparkApp | Sequence[str],
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        delete_uploads: bool = False,
    ) -> SparkAppHandle:
        """`submit` for asyncio."""
        base = base_dir if base_dir is not None else caller_dir()
        core = await self._core.submit_async(_submission(app, labels, annotations), base)
        return SparkAppHandle(core, delete_uploads=delete_uploads)

    def preflight(
        self,
        app: SparkApp | Sequence[str],
        *,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Preflight:
        """Check `app` without creating anything; returns what was found (truthy if it fits).

        Every object `submit` would send goes to the API server with `dryRun=All` (RBAC,
        admission webhooks, Pod Security, LimitRange and the quota on the driver answer; nothing
        is stored); then the whole app, the driver plus `spark.executor.instances` (or the
        dynamic-allocation maximum) executors, is compared with the namespace's ResourceQuotas
        and LimitRanges. A refusal is a failed check, not an exception.
        """
        base = base_dir if base_dir is not None else caller_dir()
        return self._core.preflight(_submission(app, None, None), base)

    async def preflight_async(
        self,
        app: SparkApp | Sequence[str],
        *,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Preflight:
        """`preflight` for asyncio."""
        base = base_dir if base_dir is not None else caller_dir()
        return await self._core.preflight_async(_submission(app, None, None), base)

    def run(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> Any:
        """Run `fn(spark, *args, **kwargs)` as a Spark application and return its result.

        The application is `SparkApp.from_function(fn, args, kwargs, **fields)`; this waits
        for it (raising `AppFailed` when it fails, with the driver log's last lines) and
        returns what `fn` returned, or None when it returned nothing.
        """
        app = SparkApp.from_function(fn, args, kwargs, **fields)
        return self.submit(app).wait(timeout=timeout).result

    def connect(
        self,
        app: SparkApp | str,
        *,
        image: str | None = None,
        timeout: float | None = None,
        local_port: int = 0,
        idle_timeout: float | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Connection:
        """Open an interactive Spark Connect session on the cluster and return its `Connection`.

        `app` is a `SparkApp.session(...)` (executors, dynamic allocation, conf as for batch
        apps) or just the session's name, with `image`. The live server of that name is
        attached to (a different image is refused), else one is submitted; this waits up to
        `timeout` seconds (default 300) until it answers, failing as a batch app fails
        (`AppFailed` with the reason and log tail, `StartupTimeout`) and deleting a server it
        started. Its port is forwarded to `local_port` on 127.0.0.1 (0: any free one).
        `idle_timeout` (seconds; default 30 minutes, or what the `SparkApp` sets) ends a server
        started here once no client request reached it for that long, from inside the
        cluster, so a client that goes away leaves nothing running.
        """
        from sparkube.connect import Connection

        base = base_dir if base_dir is not None else caller_dir()
        spec = _session_spec(app, image, idle_timeout)
        return Connection(self._core.connect(spec, base, timeout, local_port))

    async def connect_async(
        self,
        app: SparkApp | str,
        *,
        image: str | None = None,
        timeout: float | None = None,
        local_port: int = 0,
        idle_timeout: float | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Connection:
        """`connect` for asyncio."""
        from sparkube.connect import Connection

        base = base_dir if base_dir is not None else caller_dir()
        spec = _session_spec(app, image, idle_timeout)
        return Connection(await self._core.connect_async(spec, base, timeout, local_port))

    def sessions(self, namespace: str | None = None) -> builtins.list[AppStatus]:
        """The statuses of the session servers (drivers labelled `_core.SESSION_LABEL`)."""
        return self._core.list(namespace, _core.SESSION_LABEL)

    def attach(self, driver_pod: str, namespace: str | None = None) -> SparkAppHandle:
        """A handle for an existing driver pod (submitted by sparkube or spark-submit)."""
        return SparkAppHandle(self._core.attach(driver_pod, namespace))

    async def attach_async(self, driver_pod: str, namespace: str | None = None) -> SparkAppHandle:
        """`attach` for asyncio."""
        return SparkAppHandle(await self._core.attach_async(driver_pod, namespace))

    def list(
        self,
        namespace: str | None = None,
        *,
        selector: str | None = None,
        all_namespaces: bool = False,
    ) -> list[AppStatus]:
        """The Spark drivers in `namespace` (default: the client's) or in all namespaces."""
        ns = "*" if all_namespaces else namespace
        return self._core.list(ns, selector)

    async def list_async(
        self,
        namespace: str | None = None,
        *,
        selector: str | None = None,
        all_namespaces: bool = False,
    ) -> builtins.list[AppStatus]:
        """`list` for asyncio."""
        ns = "*" if all_namespaces else namespace
        return await self._core.list_async(ns, selector)

    def metrics(self) -> builtins.list[_core.MetricFamily]:
        """This process's counters and histograms, read now.

        Process-wide (every `Client` adds to the same numbers): submissions by outcome, API
        attempts, retries by reason and 429 answers, shared-watch restarts and re-lists,
        state transitions of tracked applications by reason, how late a final state was
        noticed, and log bytes read. `metrics_text()` gives the OpenMetrics text format.
        """
        return _core.metrics()

    def metrics_text(self) -> str:
        """`metrics()` in the OpenMetrics text format (for a Prometheus textfile collector)."""
        return _core.metrics_text()

    def __repr__(self) -> str:
        return f"Client(cluster_url={self.cluster_url!r}, namespace={self.namespace!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
