"""`Client`, `SparkAppHandle` and `AppStatus`: submitting and following Spark applications.

Everything here is a thin layer over the Rust core: connections, retries, the shared watch and
log streams live there. Blocking calls release the GIL and can be interrupted with Ctrl-C; each
has an `_async` twin that runs on the core's one tokio runtime. All handles made by one
`Client` share one watch per namespace, however many applications are being waited on.
"""

from __future__ import annotations

import enum
import html
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sparkube import _core
from sparkube.app import SparkApp

if TYPE_CHECKING:
    import builtins

    from typing_extensions import Self


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


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class AppStatus:
    """The state of one application, from its driver pod.

    `reason` is Kubernetes' word for the state (`Unschedulable`, `ErrImagePull`, `OOMKilled`,
    `Error`, `Evicted`, ...), `message` the scheduler's or the termination message, and
    `last_log_lines` the end of the driver log for a failed application.
    """

    state: AppState
    namespace: str
    driver_pod: str
    app_id: str | None = None
    submission_id: str | None = None
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    phase: str | None = None
    node: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_log_lines: Sequence[str] = ()

    @property
    def is_final(self) -> bool:
        """Whether the application has ended."""
        return self.state.is_final

    @property
    def succeeded(self) -> bool:
        """Whether the application ended successfully."""
        return self.state is AppState.SUCCEEDED

    @property
    def duration_s(self) -> float | None:
        """Seconds from the driver's start to its end (or to now while it runs)."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()

    @classmethod
    def from_core(cls, data: Mapping[str, Any]) -> AppStatus:
        """A status from the core's representation."""
        return cls(
            state=AppState(data["state"]),
            namespace=data["namespace"],
            driver_pod=data["driver_pod"],
            app_id=data.get("app_id"),
            submission_id=data.get("submission_id"),
            reason=data.get("reason"),
            message=data.get("message"),
            exit_code=data.get("exit_code"),
            phase=data.get("pod_phase"),
            node=data.get("node"),
            labels=dict(data.get("labels") or {}),
            created_at=_time(data.get("created_at")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            last_log_lines=tuple(data.get("log_tail") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe data (for XCom and trigger events); `from_dict` reads it back."""
        return {
            "state": self.state.value,
            "namespace": self.namespace,
            "driver_pod": self.driver_pod,
            "app_id": self.app_id,
            "submission_id": self.submission_id,
            "reason": self.reason,
            "message": self.message,
            "exit_code": self.exit_code,
            "phase": self.phase,
            "node": self.node,
            "labels": dict(self.labels),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "last_log_lines": list(self.last_log_lines),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppStatus:
        """The status `to_dict` produced."""
        return cls.from_core(
            {**data, "pod_phase": data.get("phase"), "log_tail": data.get("last_log_lines")}
        )

    def summary(self) -> str:
        """One line: state, reason, exit code and message."""
        parts = [self.state.value]
        if self.reason:
            parts.append(f"({self.reason})")
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.message:
            parts.append(f"- {self.message}")
        return " ".join(parts)

    def __str__(self) -> str:
        return f"{self.app_id or self.driver_pod}: {self.summary()}"

    def _repr_html_(self) -> str:
        rows = [
            ("state", self.summary()),
            ("app id", self.app_id or ""),
            ("driver pod", f"{self.namespace}/{self.driver_pod}"),
        ]
        if self.duration_s is not None:
            rows.append(("duration", f"{self.duration_s:.1f} s"))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        tail = ""
        if self.last_log_lines:
            tail = f"<pre>{html.escape(chr(10).join(self.last_log_lines))}</pre>"
        return f"<table>{body}</table>{tail}"


@dataclass(frozen=True)
class Progress:
    """How far a running application is, as its driver's Spark UI counts it.

    Counts cover the jobs submitted so far: a job that starts later adds to the totals, so
    `fraction` can go down. Tasks of skipped stages are not counted as tasks to run
    (`tasks_skipped` has them); each task counts once as completed, however many attempts it
    took (`tasks_failed` counts failed attempts).
    """

    app_id: str
    jobs_total: int = 0
    jobs_succeeded: int = 0
    jobs_running: int = 0
    jobs_failed: int = 0
    stages_total: int = 0
    stages_completed: int = 0
    stages_active: int = 0
    stages_pending: int = 0
    stages_skipped: int = 0
    stages_failed: int = 0
    tasks_total: int = 0
    tasks_completed: int = 0
    tasks_active: int = 0
    tasks_failed: int = 0
    tasks_skipped: int = 0
    fraction: float | None = None
    """`tasks_completed / tasks_total`; None while there are no tasks."""

    @property
    def percent(self) -> int | None:
        """The completed percentage, rounded down (100 only when every task is done)."""
        if self.tasks_total <= 0:
            return None
        return min(self.tasks_completed, self.tasks_total) * 100 // self.tasks_total

    @classmethod
    def from_core(cls, data: Mapping[str, Any]) -> Progress:
        """Progress from the core's representation."""
        counts = {
            f.name: int(data.get(f.name) or 0)
            for f in fields(cls)
            if f.name not in ("app_id", "fraction")
        }
        fraction = data.get("fraction")
        return cls(
            app_id=str(data["app_id"]),
            fraction=None if fraction is None else float(fraction),
            **counts,
        )

    def summary(self) -> str:
        """One line: `3/4 jobs, 120/200 tasks (60%)`, with failed task attempts if any."""
        line = (
            f"{self.jobs_succeeded}/{self.jobs_total} jobs, "
            f"{self.tasks_completed}/{self.tasks_total} tasks"
        )
        if self.percent is not None:
            line += f" ({self.percent}%)"
        if self.tasks_failed:
            line += f", {self.tasks_failed} failed"
        return line

    def __str__(self) -> str:
        return f"{self.app_id}: {self.summary()}"


def _progress(data: Mapping[str, Any] | None) -> Progress | None:
    return None if data is None else Progress.from_core(data)


def _wait_options(
    timeout: float | None,
    startup_timeout: float | None,
    kill_on_timeout: bool,
    kill_grace_period: float | None,
) -> dict[str, Any]:
    options: dict[str, Any] = {"kill_on_timeout": kill_on_timeout}
    if timeout is not None:
        options["timeout"] = timeout
    if startup_timeout is not None:
        options["startup_timeout"] = startup_timeout
    if kill_grace_period is not None:
        options["kill_grace_period"] = kill_grace_period
    return options


def _log_options(
    follow: bool,
    since: float | None,
    tail: int | None,
    executor: str | None,
    container: str | None,
    timestamps: bool,
) -> dict[str, Any]:
    options: dict[str, Any] = {"follow": follow, "timestamps": timestamps}
    if since is not None:
        options["since"] = since
    if tail is not None:
        options["tail"] = tail
    if executor is not None:
        options["executor"] = executor
    if container is not None:
        options["container"] = container
    return options


def _raise_with_status(err: Exception) -> Exception:
    """Exceptions from the core carry the status as a dict; give callers an `AppStatus`."""
    status = getattr(err, "status", None)
    if isinstance(status, Mapping):
        err.status = AppStatus.from_core(status)  # type: ignore[attr-defined]
    return err


class SparkAppHandle:
    """A submitted (or attached) Spark application: its status, logs, and a way to end it."""

    def __init__(self, core: _core.AppHandle) -> None:
        self._core = core

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
        """The driver's `sparkube.io/submission-id` label."""
        return self._core.submission_id

    @property
    def adopted(self) -> bool:
        """Whether this submission found its driver already created and adopted it."""
        return self._core.adopted

    def status(self) -> AppStatus:
        """The current status (one API request)."""
        return AppStatus.from_core(self._core.status())

    async def status_async(self) -> AppStatus:
        """`status` for asyncio."""
        return AppStatus.from_core(await self._core.status_async())

    def progress(self) -> Progress | None:
        """Jobs, stages and tasks from the driver's Spark UI, or None while it cannot answer.

        Two requests through the API server's service proxy (so the caller's credentials and
        no port-forward): None while the driver is pending, after it has finished, or when
        its UI does not answer within a few seconds. Needs `get` on `services/proxy`.
        """
        return _progress(self._core.progress())

    async def progress_async(self) -> Progress | None:
        """`progress` for asyncio."""
        return _progress(await self._core.progress_async())

    def wait(
        self,
        timeout: float | None = None,
        startup_timeout: float | None = None,
        *,
        kill_on_timeout: bool = False,
        kill_grace_period: float | None = None,
        progress: bool = False,
    ) -> AppStatus:
        """Wait for the application to end and return its final status.

        Raises `AppFailed` when it fails or its driver is deleted, `StartupTimeout` when the
        driver is not running after `startup_timeout` seconds (image pull errors fail sooner),
        and `WaitTimeout` after `timeout` seconds; with `kill_on_timeout` the driver is then
        deleted. Each exception's `status` is the last `AppStatus` seen. `progress` shows a
        bar of completed/total tasks from the driver's Spark UI with the state beside it (a
        widget in notebooks, text in terminals), read every second while the driver runs; the
        state alone while the UI cannot answer.
        """
        options = _wait_options(timeout, startup_timeout, kill_on_timeout, kill_grace_period)
        if progress:
            from sparkube.progress import show_progress

            return show_progress(self, lambda: self._wait(options))
        return self._wait(options)

    def _wait(self, options: Mapping[str, Any]) -> AppStatus:
        try:
            return AppStatus.from_core(self._core.wait(options))
        except Exception as err:
            raise _raise_with_status(err) from None

    async def wait_async(
        self,
        timeout: float | None = None,
        startup_timeout: float | None = None,
        *,
        kill_on_timeout: bool = False,
        kill_grace_period: float | None = None,
        progress: bool = False,
    ) -> AppStatus:
        """`wait` for asyncio."""
        options = _wait_options(timeout, startup_timeout, kill_on_timeout, kill_grace_period)
        if progress:
            from sparkube.progress import show_progress_async

            return await show_progress_async(self, self._wait_async(options))
        return await self._wait_async(options)

    async def _wait_async(self, options: Mapping[str, Any]) -> AppStatus:
        try:
            return AppStatus.from_core(await self._core.wait_async(options))
        except Exception as err:
            raise _raise_with_status(err) from None

    def updates(self) -> Iterator[AppStatus]:
        """Each status change, from the shared watch, ending with the final status."""
        for data in self._core.updates():
            yield AppStatus.from_core(data)

    async def updates_async(self) -> AsyncIterator[AppStatus]:
        """`updates` for asyncio."""
        async for data in self._core.updates():
            yield AppStatus.from_core(data)

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
        options = _log_options(follow, since, tail, executor, container, timestamps)
        return iter(self._core.logs(options))

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
        options = _log_options(follow, since, tail, executor, container, timestamps)
        lines = await self._core.logs_async(options)
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
    ) -> SparkAppHandle:
        """Submit `app` (a `SparkApp` or spark-submit arguments) and return its handle.

        Creates what spark-submit creates, in the same order; if any step fails, the driver
        pod is deleted and nothing is left behind. A repeated submission with the same
        `submission_id` adopts the driver it already created. `labels` and `annotations` go
        on the driver pod.
        """
        return SparkAppHandle(self._core.submit(_submission(app, labels, annotations)))

    async def submit_async(
        self,
        app: SparkApp | Sequence[str],
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> SparkAppHandle:
        """`submit` for asyncio."""
        core = await self._core.submit_async(_submission(app, labels, annotations))
        return SparkAppHandle(core)

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
        return [AppStatus.from_core(s) for s in self._core.list(ns, selector)]

    async def list_async(
        self,
        namespace: str | None = None,
        *,
        selector: str | None = None,
        all_namespaces: bool = False,
    ) -> builtins.list[AppStatus]:
        """`list` for asyncio."""
        ns = "*" if all_namespaces else namespace
        return [AppStatus.from_core(s) for s in await self._core.list_async(ns, selector)]

    def __repr__(self) -> str:
        return f"Client(cluster_url={self.cluster_url!r}, namespace={self.namespace!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
