"""The native core of sparkube (Rust, via PyO3). Use the public API in `sparkube` instead.

Statuses, progress and pod references cross this boundary as frozen classes made by the core
(`AppStatus`, `Progress`, `PodRef`); specs and rendered objects as plain data. The core owns
every grammar (spark-submit's arguments, `[ns:]pod`) and label name Python needs. Blocking
methods release the GIL; `*_async` methods return awaitables driven by the core's shared tokio
runtime.
"""

import builtins
import datetime
import os
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import Any, Literal, NotRequired, TypedDict, final

from typing_extensions import Self

from sparkube.client import AppState

__version__: str

APP_ID_LABEL: str
"""`spark-app-selector`: the Spark application id, on every pod and service of an app."""
APP_NAME_LABEL: str
"""`spark-app-name`: the sanitised application name."""
ROLE_LABEL: str
"""`spark-role`: `driver` or `executor`."""
EXECUTOR_ID_LABEL: str
"""`spark-exec-id`: an executor pod's id."""
SUBMISSION_ID_LABEL: str
"""`sparkube.io/submission-id`: one submission across retries."""
LABEL_PREFIX: str
"""`sparkube.io/`: the prefix of sparkube's own label and annotation keys."""
SESSION_LABEL: str
"""`sparkube.io/session`: on a Spark Connect server's driver, the session's name."""
IDLE_TIMEOUT_KEY: str
HISTORY_SERVER_URL_KEY: str
"""`spark.sparkube.session.idleTimeout`: no client request for that long ends a session's
server (a Spark duration; 30min when unset)."""
CONNECT_PORT: int
"""15002: the Spark Connect server's port in the driver."""

def render_args(
    args: list[str],
    ids: Mapping[str, Any] | None = None,
    show_secrets: bool = False,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Objects a spark-submit argument list would create, in API call order; relative local
    paths resolve against `base_dir`, else the working directory.

    Secret-looking conf values, environment values and Secret data are shown as
    `*********(redacted)` unless `show_secrets`. Raises `sparkube.ConfigError` naming the
    offending option for bad input.
    """

def render_spec(
    spec: Mapping[str, Any],
    ids: Mapping[str, Any] | None = None,
    show_secrets: bool = False,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Objects a `SparkApp.to_dict()` spec would create, in API call order (secrets
    redacted unless `show_secrets`)."""

def is_secret_key(key: str, redaction_regex: str | None = None) -> bool:
    """Whether the value of a conf key (or an environment variable name) is shown redacted;
    `redaction_regex` is a `spark.redaction.regex` applied on top of the default rule."""

def reset_log_cache() -> None:
    """Make the Rust core's logs follow Python logging levels changed since they were first
    used (levels are cached per logger)."""

def to_yaml(obj: Any) -> str:
    """A Python object (dicts, lists, scalars) as a YAML document."""

def parse_command(args: list[str]) -> tuple[str, str | None, dict[str, str]]:
    """What a spark-submit command line asks for: `(action, target, conf)`.

    `action` is `submit`, `kill`, `status`, `version` or `help`; `target` the `[ns:]pod` of
    `kill` and `status`; `conf` the resolved conf of a submission, else the given `--conf`s
    and `--master`. Raises `sparkube.ConfigError` naming the option for bad input.
    """

def split_tool_args(
    args: list[str], value_options: list[str], switches: list[str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """A tool's own options taken out of a spark-submit argument list with spark-submit's
    grammar, up to the primary resource: `(values, switches given, the other arguments)`."""

def submit_args_conf(args: list[str]) -> dict[str, str]:
    """The `--conf`/`-c` pairs of a spark-submit argument list, up to the primary resource."""

def time_conf(key: str, value: str, unit: Literal["ms", "s"]) -> int:
    """A Spark time conf's value (`1s`, `500ms`, `2min`, a bare number in `unit`) in `unit`, as
    Spark reads it; raises `sparkube.ConfigError` naming `key` when it is not a time."""

def spec_fields() -> dict[str, list[str]]:
    """The field names the core's spec types read (`AppSpec`, `RoleSpec`, `Deps`, ...), from
    their serde definitions."""

def metrics() -> list[MetricFamily]:
    """Every metric of this process (all clients together), read now: submissions by outcome,
    API attempts, retries and throttling, watch restarts and re-lists, state transitions by
    reason, notice delay, log bytes. Reading costs a few atomic loads."""

def metrics_text() -> str:
    """`metrics()` in the OpenMetrics text format, ending with `# EOF`."""

class MetricSample(TypedDict):
    """One value of a metric family (type only)."""

    name: str
    labels: dict[str, str]
    value: float
    """A counter's count, or a histogram's number of observations."""
    buckets: list[tuple[float, int]]
    """A histogram's cumulative counts by upper bound in seconds; empty for a counter."""
    sum: float
    """A histogram's sum of observed seconds; 0 for a counter."""

class MetricFamily(TypedDict):
    """One metric of `metrics()` (type only)."""

    name: str
    """`sparkube_…`, without the `_total` of a counter's samples in the text format."""
    kind: Literal["counter", "histogram"]
    unit: str
    help: str
    samples: list[MetricSample]

class AppStatusDict(TypedDict):
    """`AppStatus.to_dict()`: JSON-safe, keyed by `AppStatus`'s attribute names (type only)."""

    state: str
    namespace: str
    driver_pod: str
    app_id: str | None
    submission_id: str | None
    reason: str | None
    message: str | None
    exit_code: int | None
    phase: str | None
    node: str | None
    labels: dict[str, str]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    last_log_lines: list[str]
    cause: NotRequired[str | None]
    result: NotRequired[Any]

class ProgressDict(TypedDict):
    """`Progress.to_dict()`: keyed by `Progress`'s attribute names (type only)."""

    app_id: str
    jobs_total: int
    jobs_succeeded: int
    jobs_running: int
    jobs_failed: int
    stages_total: int
    stages_completed: int
    stages_active: int
    stages_pending: int
    stages_skipped: int
    stages_failed: int
    tasks_total: int
    tasks_completed: int
    tasks_active: int
    tasks_failed: int
    tasks_skipped: int
    fraction: float | None
    executors_total: int
    executors_active: int

@final
class AppStatus:
    """The state of one application, from its driver pod."""

    @property
    def state(self) -> AppState: ...
    @property
    def namespace(self) -> str: ...
    @property
    def driver_pod(self) -> str: ...
    @property
    def app_id(self) -> str | None: ...
    @property
    def submission_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def result(self) -> Any:
        """What the application returned: once it succeeded, its driver's termination
        message parsed as JSON, if it is JSON (else None)."""
    @property
    def exit_code(self) -> int | None: ...
    @property
    def phase(self) -> str | None: ...
    @property
    def node(self) -> str | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def created_at(self) -> datetime.datetime | None: ...
    @property
    def started_at(self) -> datetime.datetime | None: ...
    @property
    def finished_at(self) -> datetime.datetime | None: ...
    @property
    def last_log_lines(self) -> tuple[str, ...]: ...
    @property
    def cause(self) -> str | None:
        """Why a failed application failed, in one line, when that is known."""
    @property
    def is_final(self) -> bool:
        """Whether the application has ended."""
    @property
    def succeeded(self) -> bool:
        """Whether the application ended successfully."""
    @property
    def duration_s(self) -> float | None:
        """Seconds from the driver's start to its end (or to now while it runs)."""
    def summary(self) -> str:
        """One line: state, reason, exit code and message."""
    def to_dict(self) -> AppStatusDict:
        """JSON-safe data (for XCom and trigger events); `from_dict` reads it back."""
    @staticmethod
    def from_dict(data: Mapping[str, object]) -> AppStatus:
        """The status `to_dict` produced."""
    def __reduce__(self) -> tuple[Any, tuple[AppStatusDict]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def _repr_html_(self) -> str: ...

@final
class Progress:
    """How far a running application is, as its driver's Spark UI counts it."""

    def __new__(
        cls,
        app_id: str,
        *,
        jobs_total: int = 0,
        jobs_succeeded: int = 0,
        jobs_running: int = 0,
        jobs_failed: int = 0,
        stages_total: int = 0,
        stages_completed: int = 0,
        stages_active: int = 0,
        stages_pending: int = 0,
        stages_skipped: int = 0,
        stages_failed: int = 0,
        tasks_total: int = 0,
        tasks_completed: int = 0,
        tasks_active: int = 0,
        tasks_failed: int = 0,
        tasks_skipped: int = 0,
        fraction: float | None = None,
        executors_total: int = 0,
        executors_active: int = 0,
    ) -> Self: ...
    @property
    def app_id(self) -> str: ...
    @property
    def jobs_total(self) -> int: ...
    @property
    def jobs_succeeded(self) -> int: ...
    @property
    def jobs_running(self) -> int: ...
    @property
    def jobs_failed(self) -> int: ...
    @property
    def stages_total(self) -> int: ...
    @property
    def stages_completed(self) -> int: ...
    @property
    def stages_active(self) -> int: ...
    @property
    def stages_pending(self) -> int: ...
    @property
    def stages_skipped(self) -> int: ...
    @property
    def stages_failed(self) -> int: ...
    @property
    def tasks_total(self) -> int: ...
    @property
    def tasks_completed(self) -> int: ...
    @property
    def tasks_active(self) -> int: ...
    @property
    def tasks_failed(self) -> int: ...
    @property
    def tasks_skipped(self) -> int: ...
    @property
    def fraction(self) -> float | None:
        """`tasks_completed / tasks_total`; None while there are no tasks."""
    @property
    def executors_total(self) -> int:
        """Executors registered so far, removed ones included (the driver not counted)."""
    @property
    def executors_active(self) -> int:
        """Executors registered now."""
    @property
    def percent(self) -> int | None:
        """The completed percentage, rounded down (100 only when every task is done)."""
    def summary(self) -> str:
        """One line: `3/4 jobs, 120/200 tasks (60%)`, with failed task attempts if any."""
    def to_dict(self) -> ProgressDict:
        """JSON-safe data; `from_dict` reads it back."""
    @staticmethod
    def from_dict(data: Mapping[str, object]) -> Progress:
        """The progress `to_dict` produced."""
    def __reduce__(self) -> tuple[Any, tuple[ProgressDict]]: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class PodRef:
    """A `[namespace:]pod` target; a trailing `*` matches a name prefix."""

    @staticmethod
    def parse(target: str) -> PodRef:
        """Reads `target`; raises `sparkube.ConfigError` (option `target`) when it is not one."""
    @property
    def namespace(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def glob(self) -> bool: ...
    def matches(self, pod: str) -> bool:
        """Whether a pod of this name is selected."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class PreflightCheck:
    """One finding of a preflight."""

    @property
    def subject(self) -> str:
        """What was checked: `Pod ns/name`, `ResourceQuota compute`, `LimitRange limits`."""
    @property
    def passed(self) -> bool: ...
    @property
    def message(self) -> str:
        """What was found, in one line."""
    def __eq__(self, value: object, /) -> bool: ...

class PreflightCheckDict(TypedDict):
    """One entry of `PreflightDict.checks` (type only)."""

    subject: str
    passed: bool
    message: str

class PreflightDict(TypedDict):
    """`Preflight.to_dict()` (type only)."""

    namespace: str
    passed: bool
    checks: list[PreflightCheckDict]
    round_trips: int

@final
class Preflight:
    """What `Client.preflight` found; true when every check passed."""

    @property
    def namespace(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def checks(self) -> tuple[PreflightCheck, ...]:
        """Every finding: the objects' dry runs, then quotas and limit ranges."""
    @property
    def failures(self) -> tuple[PreflightCheck, ...]: ...
    @property
    def round_trips(self) -> int:
        """API requests sent (a retried request counts once)."""
    def to_dict(self) -> PreflightDict: ...
    def __bool__(self) -> bool: ...

class ExecutorUsageDict(TypedDict):
    """One entry of `ReportDict.executors` (type only): bytes and seconds."""

    id: str
    seconds: float
    peak_heap: int | None
    peak_off_heap: int | None
    peak_python: int | None
    task_seconds: float
    gc_seconds: float
    gc_share: float | None

class ReportDict(TypedDict):
    """`Report.to_dict()` (type only): bytes and seconds."""

    app_id: str
    source: Literal["history_server", "live_snapshot"]
    partial: bool
    note: str | None
    executors: list[ExecutorUsageDict]
    executor_seconds: float
    peak_heap: int | None
    peak_off_heap: int | None
    peak_python: int | None
    memory_bytes_spilled: int
    disk_bytes_spilled: int
    task_seconds: float
    gc_seconds: float
    gc_share: float | None
    executor_memory: int | None
    recommended_executor_memory: str | None
    summary: str | None

@final
class Report:
    """The right-sizing report of an ended application (`AppHandle.report`)."""

    @property
    def app_id(self) -> str: ...
    @property
    def source(self) -> Literal["history_server", "live_snapshot"]: ...
    @property
    def partial(self) -> bool:
        """Whether the figures may miss the end of the app (a live snapshot)."""
    @property
    def note(self) -> str | None: ...
    @property
    def summary(self) -> str | None:
        """`executors peaked at 1.1 GiB of 4 GiB heap (27 %): spark.executor.memory=2g would
        do; ...`; None when no executor reported its heap."""
    @property
    def recommended_executor_memory(self) -> str | None: ...
    @property
    def executor_seconds(self) -> float: ...
    @property
    def peak_heap(self) -> int | None: ...
    @property
    def executor_memory(self) -> int | None: ...
    def to_dict(self) -> ReportDict: ...

@final
class Client:
    """A connection to one Kubernetes cluster."""

    def __new__(
        cls, options: Mapping[str, Any], conf: Mapping[str, str] | None = None
    ) -> Client: ...
    @property
    def namespace(self) -> str: ...
    @property
    def cluster_url(self) -> str: ...
    @property
    def active_watches(self) -> int: ...
    def submit(
        self,
        app: list[str] | Mapping[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
    ) -> AppHandle: ...
    def submit_async(
        self,
        app: list[str] | Mapping[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Awaitable[AppHandle]: ...
    def preflight(
        self,
        app: list[str] | Mapping[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Preflight:
        """Dry runs of every object, then the whole app against the namespace's quotas."""
    def preflight_async(
        self,
        app: list[str] | Mapping[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
    ) -> Awaitable[Preflight]: ...
    def attach(self, driver_pod: str, namespace: str | None = None) -> AppHandle: ...
    def attach_async(
        self, driver_pod: str, namespace: str | None = None
    ) -> Awaitable[AppHandle]: ...
    def list(
        self, namespace: str | None = None, selector: str | None = None
    ) -> builtins.list[AppStatus]: ...
    def list_async(
        self, namespace: str | None = None, selector: str | None = None
    ) -> Awaitable[builtins.list[AppStatus]]: ...
    def connect(
        self,
        app: Mapping[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        local_port: int = 0,
    ) -> Session:
        """Opens (or attaches to) the session a `SparkApp` spec describes."""
    def connect_async(
        self,
        app: Mapping[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        local_port: int = 0,
    ) -> Awaitable[Session]: ...
    def kill_matching(
        self, target: str, grace_period: float | None = None, wait: bool = False
    ) -> builtins.list[tuple[str, str, str | None]]:
        """Deletes the drivers a `--kill` target selects; `(namespace, driver_pod, app_id)` of
        each one deleted."""

@final
class Session:
    """An open Spark Connect session: the server's driver and the local forward to it."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def local_port(self) -> int: ...
    @property
    def attached(self) -> bool: ...
    @property
    def is_open(self) -> bool: ...
    def handle(self) -> AppHandle: ...
    def forward_stats(self) -> tuple[int, int]:
        """`(connections accepted, forwards failed)` of the local forward."""
    def close(self, wait: bool = False) -> bool: ...
    def close_async(self, wait: bool = False) -> Awaitable[bool]: ...
    def detach(self) -> None: ...

@final
class AppHandle:
    """A submitted or attached application."""

    @property
    def app_id(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def driver_pod(self) -> str: ...
    @property
    def submission_id(self) -> str | None: ...
    @property
    def adopted(self) -> bool: ...
    @property
    def spark_ui_url(self) -> str | None:
        """The driver's Spark UI through the API server's service proxy, or None when its
        service is not known from the pod."""
    @property
    def uploads(self) -> list[str]:
        """The URIs of the objects this submission uploaded (not those already there)."""
    def remove_uploads(self) -> None:
        """Removes the objects this submission uploaded."""
    def remove_uploads_async(self) -> Awaitable[None]: ...
    def status(self) -> AppStatus: ...
    def status_async(self) -> Awaitable[AppStatus]: ...
    def progress(self) -> Progress | None:
        """Jobs, stages and tasks from the driver's Spark UI (through the API server's service
        proxy), or None while the UI cannot answer."""
    def progress_async(self) -> Awaitable[Progress | None]: ...
    def report(
        self, history_server_url: str | None = None, *, wait: float | None = None
    ) -> Report | None:
        """The right-sizing report once the app has ended: from the History Server when given
        and answering, else from the last progress read (partial); None without figures."""
    def report_async(
        self, history_server_url: str | None = None, *, wait: float | None = None
    ) -> Awaitable[Report | None]: ...
    def annotation_async(self, key: str) -> Awaitable[str | None]:
        """An annotation of the driver pod, None when absent."""
    def annotate_async(self, key: str, value: str) -> Awaitable[bool]:
        """Sets an annotation of the driver pod (`patch` on pods); whether the pod was there."""
    def wait(
        self,
        *,
        timeout: float | None = None,
        startup_timeout: float | None = None,
        kill_on_timeout: bool = False,
        kill_grace_period: float | None = None,
    ) -> AppStatus: ...
    def wait_async(
        self,
        *,
        timeout: float | None = None,
        startup_timeout: float | None = None,
        kill_on_timeout: bool = False,
        kill_grace_period: float | None = None,
    ) -> Awaitable[AppStatus]: ...
    def updates(self) -> StatusUpdates: ...
    def logs(
        self,
        *,
        follow: bool = False,
        since: float | None = None,
        tail: int | None = None,
        executor: str | None = None,
        container: str | None = None,
        timestamps: bool = False,
    ) -> LogLines: ...
    def logs_async(
        self,
        *,
        follow: bool = False,
        since: float | None = None,
        tail: int | None = None,
        executor: str | None = None,
        container: str | None = None,
        timestamps: bool = False,
    ) -> Awaitable[LogLines]: ...
    def kill(self, grace_period: float | None = None, wait: bool = False) -> bool: ...
    def kill_async(
        self, grace_period: float | None = None, wait: bool = False
    ) -> Awaitable[bool]: ...

@final
class StatusUpdates(Iterator[AppStatus], AsyncIterator[AppStatus]):
    """Status changes of one app, ending with the final status."""

    def __iter__(self) -> StatusUpdates: ...
    def __next__(self) -> AppStatus: ...
    def __aiter__(self) -> StatusUpdates: ...
    def __anext__(self) -> Awaitable[AppStatus]: ...

@final
class LogLines(Iterator[str]):
    """Log lines, one at a time (blocking) or in batches (async)."""

    def __iter__(self) -> LogLines: ...
    def __next__(self) -> str: ...
    def next_batch_async(self) -> Awaitable[list[str]]: ...
