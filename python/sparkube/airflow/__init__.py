"""The Apache Airflow provider of sparkube: submit and track Spark applications from DAG tasks.

`@task.sparkube` runs a Python function as a Spark application and returns its result as the
task's XCom; `SparkAppOperator` submits an application (and by default waits for it, streaming the driver
log into the task log), `SparkAppSensor` waits for one submitted earlier, `SparkAppTrigger`
does the waiting in the triggerer on the core's shared watch, and `SparkKubernetesHook` reads
the standard Kubernetes connection. Install with ``pip install "sparkube[airflow]"``.

Tested with Apache Airflow 3.3.2 (imports come from ``airflow.sdk``). Airflow 2.10 and later
2.x are meant to work through guarded imports but are not tested here; there, and on Airflow 3
before 3.3, a task killed while deferred does not delete its driver (that needs triggers'
``on_kill``, which Airflow 3.3 added).

Importing this package is cheap: it loads neither Airflow nor the native core. Airflow calls
`get_provider_info` on every command, and the classes are imported on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparkube.airflow.decorators import SparkFunctionOperator, sparkube_task
    from sparkube.airflow.hooks import SparkKubernetesHook
    from sparkube.airflow.links import SparkHistoryLink, SparkUILink
    from sparkube.airflow.operators import SparkAppOperator
    from sparkube.airflow.sensors import SparkAppSensor
    from sparkube.airflow.triggers import SparkAppTrigger

__all__ = [
    "SparkAppOperator",
    "SparkAppSensor",
    "SparkAppTrigger",
    "SparkFunctionOperator",
    "SparkHistoryLink",
    "SparkKubernetesHook",
    "SparkUILink",
    "get_provider_info",
    "sparkube_task",
]

_LAZY = {
    "SparkKubernetesHook": "sparkube.airflow.hooks",
    "SparkAppOperator": "sparkube.airflow.operators",
    "SparkAppSensor": "sparkube.airflow.sensors",
    "SparkAppTrigger": "sparkube.airflow.triggers",
    "SparkUILink": "sparkube.airflow.links",
    "SparkHistoryLink": "sparkube.airflow.links",
    "SparkFunctionOperator": "sparkube.airflow.decorators",
    "sparkube_task": "sparkube.airflow.decorators",
}

INTEGRATION = "Spark on Kubernetes (sparkube)"

# The extras of the standard Kubernetes connection, as the connection form shows them.
CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "in_cluster": {
        "label": "In cluster configuration",
        "schema": {"type": ["boolean", "null"], "default": False},
        "description": "Use the pod's service account (when Airflow runs in the cluster).",
    },
    "kube_config_path": {
        "label": "Kube config path",
        "schema": {"type": ["string", "null"]},
        "description": "Path of a kubeconfig file on the Airflow workers.",
    },
    "kube_config": {
        "label": "Kube config (JSON or YAML)",
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "The whole kubeconfig, inline.",
    },
    "cluster_context": {
        "label": "Cluster context",
        "schema": {"type": ["string", "null"]},
        "description": "Context of the kubeconfig to use (default: its current context).",
    },
    "namespace": {
        "label": "Namespace",
        "schema": {"type": ["string", "null"]},
        "description": "Default namespace of the Spark applications.",
    },
    "disable_verify_ssl": {
        "label": "Disable SSL verification",
        "schema": {"type": ["boolean", "null"], "default": False},
        "description": "Do not verify the API server's certificate (logged as a warning).",
    },
}

CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    "spark_ui_url_template": {
        "description": (
            "URL of a running application's Spark UI, shown as the 'Spark UI' link of "
            "SparkAppOperator tasks: a str.format template over {app_id}, {namespace}, "
            "{driver_pod} and {submission_id}, typically the deployment's reverse proxy. "
            "Empty: no link."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "https://spark.example.com/proxy/{app_id}/",
        "default": "",
    },
    "spark_history_url_template": {
        "description": (
            "URL of a finished application in the Spark History Server, shown as the "
            "'Spark History' link: a str.format template over the same fields as "
            "spark_ui_url_template. Empty: no link."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "https://spark-history.example.com/history/{app_id}/",
        "default": "",
    },
    "history_server_url": {
        "description": (
            "Base URL of the Spark History Server whose REST API gives the right-sizing "
            "report of SparkAppOperator (the operator's history_server_url wins). Empty: "
            "the report comes from the driver's UI read while waiting (partial)."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "http://spark-history.spark.svc:18080",
        "default": "",
    },
}


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sparkube")
    except PackageNotFoundError:
        return "0.0.0"


def _cncf_provider_installed() -> bool:
    """Whether `apache-airflow-providers-cncf-kubernetes` already owns the `kubernetes` type."""
    try:
        return importlib.util.find_spec("airflow.providers.cncf.kubernetes") is not None
    except (ImportError, ValueError):
        return False


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow reads through the `apache_airflow_provider` entry point.

    The `kubernetes` connection type is registered here only when the cncf-kubernetes provider
    is not installed; otherwise that provider owns it, with the same extras, and connections of
    that type work with `SparkKubernetesHook` unchanged.
    """
    info: dict[str, Any] = {
        "package-name": "sparkube",
        "name": "sparkube",
        "description": (
            "Submit Apache Spark applications to Kubernetes as spark-submit's cluster mode "
            "does, without a JVM, and track them on one shared watch per namespace."
        ),
        "versions": [_package_version()],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://spark.apache.org/docs/latest/running-on-kubernetes.html",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["sparkube.airflow.operators", "sparkube.airflow.decorators"],
            }
        ],
        # `@task.sparkube`
        "task-decorators": [
            {"name": "sparkube", "class-name": "sparkube.airflow.decorators.sparkube_task"}
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["sparkube.airflow.sensors"]}
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["sparkube.airflow.hooks"]}],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["sparkube.airflow.triggers"]}
        ],
        "extra-links": [
            "sparkube.airflow.links.SparkUILink",
            "sparkube.airflow.links.SparkHistoryLink",
        ],
        "config": {
            "sparkube": {
                "description": "Settings of the sparkube provider.",
                "options": CONFIG_OPTIONS,
            }
        },
    }
    if not _cncf_provider_installed():
        info["connection-types"] = [
            {
                "connection-type": "kubernetes",
                "hook-class-name": "sparkube.airflow.hooks.SparkKubernetesHook",
                "hook-name": "Kubernetes Cluster Connection",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port", "extra"],
                    "relabeling": {},
                    "placeholders": {},
                },
            }
        ]
    return info


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
