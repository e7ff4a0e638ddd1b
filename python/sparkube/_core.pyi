"""The native core of sparkube (Rust, via PyO3). Use the public API in `sparkube` instead.

Statuses cross this boundary as dicts in the core's shape; `sparkube.AppStatus.from_core`
turns them into objects. Blocking methods release the GIL; `*_async` methods return
awaitables driven by the core's shared tokio runtime.
"""

import builtins
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import Any, final

__version__: str

def render_args(
    args: list[str], ids: Mapping[str, Any] | None = None, show_secrets: bool = False
) -> list[dict[str, Any]]:
    """Objects a spark-submit argument list would create, in API call order.

    Secret-looking conf values, environment values and Secret data are shown as
    `*********(redacted)` unless `show_secrets`. Raises `sparkube.ConfigError` naming the
    offending option for bad input.
    """

def render_spec(
    spec: Mapping[str, Any], ids: Mapping[str, Any] | None = None, show_secrets: bool = False
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

def parse_command(args: list[str]) -> dict[str, Any]:
    """What a spark-submit command line asks for: action, target and conf."""

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
    def submit(self, app: list[str] | Mapping[str, Any]) -> AppHandle: ...
    def submit_async(self, app: list[str] | Mapping[str, Any]) -> Awaitable[AppHandle]: ...
    def attach(self, driver_pod: str, namespace: str | None = None) -> AppHandle: ...
    def attach_async(
        self, driver_pod: str, namespace: str | None = None
    ) -> Awaitable[AppHandle]: ...
    def list(
        self, namespace: str | None = None, selector: str | None = None
    ) -> builtins.list[dict[str, Any]]: ...
    def list_async(
        self, namespace: str | None = None, selector: str | None = None
    ) -> Awaitable[builtins.list[dict[str, Any]]]: ...
    def kill_matching(
        self, target: str, grace_period: float | None = None, wait: bool = False
    ) -> builtins.list[dict[str, Any]]: ...

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
    def status(self) -> dict[str, Any]: ...
    def status_async(self) -> Awaitable[dict[str, Any]]: ...
    def progress(self) -> dict[str, Any] | None:
        """Jobs, stages and tasks from the driver's Spark UI (through the API server's service
        proxy), or None while the UI cannot answer."""
    def progress_async(self) -> Awaitable[dict[str, Any] | None]: ...
    def wait(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]: ...
    def wait_async(self, options: Mapping[str, Any] | None = None) -> Awaitable[dict[str, Any]]: ...
    def updates(self) -> StatusUpdates: ...
    def logs(self, options: Mapping[str, Any] | None = None) -> LogLines: ...
    def logs_async(self, options: Mapping[str, Any] | None = None) -> Awaitable[LogLines]: ...
    def kill(self, grace_period: float | None = None, wait: bool = False) -> bool: ...
    def kill_async(
        self, grace_period: float | None = None, wait: bool = False
    ) -> Awaitable[bool]: ...

@final
class StatusUpdates(Iterator[dict[str, Any]], AsyncIterator[dict[str, Any]]):
    """Status changes of one app, ending with the final status."""

    def __iter__(self) -> StatusUpdates: ...
    def __next__(self) -> dict[str, Any]: ...
    def __aiter__(self) -> StatusUpdates: ...
    def __anext__(self) -> Awaitable[dict[str, Any]]: ...

@final
class LogLines(Iterator[str]):
    """Log lines, one at a time (blocking) or in batches (async)."""

    def __iter__(self) -> LogLines: ...
    def __next__(self) -> str: ...
    def next_batch_async(self) -> Awaitable[list[str]]: ...
