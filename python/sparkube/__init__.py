"""Run Apache Spark on Kubernetes from Python and Airflow, the way spark-submit does.

`SparkApp` describes an application, `render` shows the objects it becomes; every call goes
through the Rust core that also serves the `sparkube` command line and the Airflow provider.
"""

from __future__ import annotations

from sparkube._core import __version__
from sparkube.app import (
    Deps,
    Driver,
    DynamicAllocation,
    Executor,
    RoleSpec,
    SparkApp,
    Volume,
    render,
)
from sparkube.client import (
    AppState,
    AppStatus,
    Client,
    Preflight,
    PreflightCheck,
    Progress,
    Report,
    SparkAppHandle,
)
from sparkube.errors import (
    AppFailed,
    AppStalled,
    ConfigError,
    KubernetesApiError,
    SparkubeError,
    StartupTimeout,
    SubmissionError,
    WaitTimeout,
)

__all__ = [
    "AppFailed",
    "AppStalled",
    "AppState",
    "AppStatus",
    "Client",
    "ConfigError",
    "Deps",
    "Driver",
    "DynamicAllocation",
    "Executor",
    "KubernetesApiError",
    "Preflight",
    "PreflightCheck",
    "Progress",
    "Report",
    "RoleSpec",
    "SparkApp",
    "SparkAppHandle",
    "SparkubeError",
    "StartupTimeout",
    "SubmissionError",
    "Volume",
    "WaitTimeout",
    "__version__",
    "render",
]
