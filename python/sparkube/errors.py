"""The exceptions sparkube raises, all rooted in `SparkubeError`.

They carry structured fields (the offending option, the HTTP status, the final app status) so
callers can act on them without parsing messages. The native core raises these same classes
(it binds each one once, by name). The hierarchy follows where they are raised: bad input
(`ConfigError`) and a failed API call (`KubernetesApiError`, from any call: submit, status,
wait, logs, kill) can come from anywhere; `SubmissionError` only from submitting;
`AppFailed`, `StartupTimeout`, `WaitTimeout` and `AppStalled` only from waiting.

    SparkubeError
    ├── ConfigError (also a ValueError)
    ├── KubernetesApiError
    ├── SubmissionError
    ├── AppFailed
    ├── StartupTimeout
    ├── WaitTimeout
    └── AppStalled
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparkube._core import AppStatus, Progress


class SparkubeError(Exception):
    """Base class of every error sparkube raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SparkubeError, ValueError):
    """The application or connection settings are invalid; nothing was sent to Kubernetes.

    `option` names the offending option (a spark-submit flag, a Spark conf key or a spec field)
    when there is one.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class SubmissionError(SparkubeError):
    """Submitting failed other than by an API error; anything created before the failure has
    been deleted."""


class KubernetesApiError(SparkubeError):
    """The Kubernetes API answered with an error, or could not be reached.

    `status` is the HTTP status code, `reason` the `Status.reason` (`Unauthorized`,
    `Forbidden`, `NotFound`, `AlreadyExists`, ...); both are None when no answer came
    (connection refused, unknown host, TLS failure).
    """

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class AppFailed(SparkubeError):
    """The application ended without succeeding; `status` is its final status."""

    def __init__(self, message: str, status: AppStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


class StartupTimeout(SparkubeError):
    """The driver did not start running within the startup timeout."""

    def __init__(self, message: str, status: AppStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


class WaitTimeout(SparkubeError):
    """The application did not finish within the wait timeout."""

    def __init__(self, message: str, status: AppStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


class AppStalled(SparkubeError):
    """The application ran without completing a task or registering an executor for
    `stall_timeout` (`wait(stall_timeout=..., on_stall="fail")`); `status` is its last status,
    `progress` its last progress, `stalled_for` the seconds since it last progressed."""

    def __init__(
        self,
        message: str,
        status: AppStatus | None = None,
        progress: Progress | None = None,
        stalled_for: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.progress = progress
        self.stalled_for = stalled_for
