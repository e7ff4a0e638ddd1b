"""`SparkAppOperator`: submit a Spark application in cluster mode and (by default) wait for it.

The operator compiles its parameters into a `sparkube.SparkApp` (or takes a raw spark-submit
argument list), submits it through the Rust core, and waits on the core's shared watch, in the
worker or, deferred, in the triggerer, writing the driver's log into the task log as it comes.

The driver carries the task instance's identity as labels (see `_identity`): when a task is
retried or its worker died, a driver of the same task instance that is still running is adopted
instead of a second one being submitted. Finished drivers are never adopted. This needs no
XCom, which Airflow clears on retry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from sparkube import _core, stall
from sparkube.airflow import _openlineage, _secrets, _watch
from sparkube.airflow._compat import (
    TRIGGER_FAIL_METHOD,
    AirflowException,
    AirflowFailException,
    BaseOperator,
    default_deferrable,
    deferral_settle_seconds,
)
from sparkube.airflow._identity import TaskIdentity
from sparkube.airflow._metrics import emits_metrics
from sparkube.airflow._secrets import args_conf
from sparkube.airflow.hooks import SparkKubernetesHook
from sparkube.airflow.links import APP_XCOM_KEY, SparkHistoryLink, SparkUILink, url_template
from sparkube.app import spark_text
from sparkube.errors import ConfigError, KubernetesApiError, SparkubeError

if TYPE_CHECKING:
    import sparkube
    from sparkube.airflow._compat import Context
    from sparkube.app import Deps, DynamicAllocation, SparkApp, Volume

OnFinishAction = Literal["keep", "delete", "delete_succeeded"]
ON_FINISH_ACTIONS: tuple[str, ...] = ("keep", "delete", "delete_succeeded")

NAMESPACE_KEY = "spark.kubernetes.namespace"

# Driver log lines repeated in the error of a failed task.
FAILURE_LOG_LINES = 20

# The status reason of a driver whose pod is being deleted while its container still runs.
TERMINATING = "Terminating"


def seconds(value: float | timedelta | None) -> float | None:
    """A timeout in seconds, from seconds or a timedelta."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# The flat keyword arguments: shorthand for fields of the `SparkApp` the operator submits
# (dotted paths into it), mapped onto it in one place, `SparkAppOperator.shorthand`.
SHORTHAND: dict[str, tuple[str, ...]] = {
    "application": ("application",),
    "main_class": ("main_class",),
    "arguments": ("arguments",),
    "conf": ("conf",),
    "name": ("name",),
    "image": ("image",),
    "service_account": ("service_account",),
    "proxy_user": ("proxy_user",),
    "image_pull_policy": ("image_pull_policy",),
    "image_pull_secrets": ("image_pull_secrets",),
    "labels": ("labels",),
    "annotations": ("annotations",),
    "node_selector": ("node_selector",),
    "tolerations": ("tolerations",),
    "affinity": ("affinity",),
    "dependencies": ("deps",),
    "dynamic_allocation": ("dynamic_allocation",),
    "driver_cores": ("driver.cores",),
    "driver_memory": ("driver.memory",),
    "driver_memory_overhead": ("driver.memory_overhead",),
    "driver_pod_template": ("driver.pod_template",),
    "executor_cores": ("executor.cores",),
    "executor_memory": ("executor.memory",),
    "executor_memory_overhead": ("executor.memory_overhead",),
    "executor_instances": ("executor.instances",),
    "executor_pod_template": ("executor.pod_template",),
    "env": ("driver.env", "executor.env"),
    "secret_env": ("driver.secret_env", "executor.secret_env"),
    "secret_mounts": ("driver.secret_mounts", "executor.secret_mounts"),
    "volumes": ("driver.volumes", "executor.volumes"),
}

# The `SparkApp` fields no flat keyword argument sets: the namespace comes from the operator's
# `namespace` (or the connection), and the rest only from `app=`.
SPEC_ONLY: tuple[str, ...] = (
    "namespace",
    "master",
    "submission_id",
    *(
        f"{role}.{name}"
        for role in ("driver", "executor")
        for name in ("labels", "annotations", "node_selector")
    ),
)

# What a pod template file may be named: a YAML (or JSON) Pod, rendered with Jinja.
POD_TEMPLATE_EXT = (".yaml", ".yml", ".json")


def str_map(value: Any, field: str) -> dict[str, str]:
    """A mapping parameter as `dict[str, str]`.

    After rendering, a templated mapping parameter may also be a JSON object string (what a
    template ending in `| tojson` produces), so that a whole mapping can come from a template.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise ConfigError(f"{field} must be a mapping or a JSON object string", field) from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{field} must be a mapping, not {type(value).__name__}", field)
    return {str(k): spark_text(v) for k, v in value.items()}


def str_list(value: Any, field: str) -> list[str]:
    """A list-of-strings parameter (a JSON array string is accepted, as for mappings)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(f"{field} must be a list of strings, not a string", field) from None
        if not isinstance(value, list):
            raise ConfigError(f"{field} must be a list of strings", field)
    if not isinstance(value, Sequence):
        raise ConfigError(f"{field} must be a list of strings, not {type(value).__name__}", field)
    return [spark_text(v) for v in value]


def given_value(value: Any) -> bool:
    """Whether a flat parameter was set: not None, not empty."""
    return value is not None and not (isinstance(value, (str, Mapping, list, tuple)) and not value)


def spec_template(app: SparkApp | Mapping[str, Any] | str | None) -> dict[str, Any] | str | None:
    """The `app` parameter as the plain data Airflow renders in place (and serializes): a
    `SparkApp` becomes its `to_dict()`, whose strings are then templates."""
    from sparkube.app import SparkApp

    if app is None or isinstance(app, str):
        return app
    if isinstance(app, SparkApp):
        return app.to_dict()
    if isinstance(app, Mapping):
        return dict(app)
    raise TypeError(f"app must be a sparkube.SparkApp, a mapping or a JSON string, not {app!r}")


def spec_data(app: Mapping[str, Any] | str) -> dict[str, Any]:
    """The rendered `app` parameter as a mapping (a JSON object string is parsed)."""
    if isinstance(app, str):
        try:
            app = json.loads(app)
        except ValueError as e:
            raise ConfigError(f"app is not a JSON object: {e}", "app") from None
    if not isinstance(app, Mapping):
        raise ConfigError(f"app must be a mapping, not {type(app).__name__}", "app")
    return dict(app)


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (`driver.memory`) in nested dicts."""
    *parents, last = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[last] = value


def load_pod_template(value: Any, field: str, context: Context, jinja_env: Any) -> Any:
    """A pod template given as a file path, read through the DAG's Jinja environment (so
    relative to the DAG's folder or `template_searchpath`), rendered and parsed as YAML."""
    import yaml

    if not isinstance(value, str):
        return value
    path = value.strip()
    if not path.endswith(POD_TEMPLATE_EXT):
        raise ConfigError(
            f"{field} must be a Pod (a mapping) or the path of a "
            f"{'/'.join(POD_TEMPLATE_EXT)} file, not {value!r}",
            field,
        )
    from jinja2 import TemplateNotFound

    try:
        text = jinja_env.get_template(path).render(context)
    except TemplateNotFound:
        raise ConfigError(f"{field}: no file {path!r} beside the DAG", field) from None
    try:
        pod = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{field}: {path} is not YAML: {e}".replace("\n", " "), field) from None
    if not isinstance(pod, Mapping):
        raise ConfigError(f"{field}: {path} does not hold a Pod (a mapping)", field)
    return dict(pod)


def args_namespace(args: Sequence[str]) -> str | None:
    """The `spark.kubernetes.namespace` a spark-submit argument list sets (the last one wins)."""
    value = args_conf(args).get(NAMESPACE_KEY)
    return None if value is None else value.strip()


def _iso(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def duration_seconds(app: Mapping[str, Any]) -> float | None:
    """Seconds from the driver's start to its end, when both are known."""
    started, finished = _iso(app.get("started_at")), _iso(app.get("finished_at"))
    if started is None or finished is None:
        return None
    return round((finished - started).total_seconds(), 3)


def app_result(
    app: Mapping[str, Any], *, namespace: str = "", driver_pod: str = ""
) -> dict[str, Any]:
    """The XCom return value of the operator and the sensor, from an `AppStatus.to_dict()`."""
    info = {
        "app_id": app.get("app_id"),
        "namespace": app.get("namespace") or namespace,
        "driver_pod": app.get("driver_pod") or driver_pod,
        "submission_id": app.get("submission_id"),
    }
    return {
        **info,
        "state": app.get("state"),
        "exit_code": app.get("exit_code"),
        "spark_ui_url": SparkUILink().url(info) or None,
        "duration_s": duration_seconds(app),
        # What the driver wrote to /dev/termination-log, when it is JSON.
        "result": app.get("result"),
    }


def failure_message(message: str, app: Mapping[str, Any]) -> str:
    """`message` followed by the last lines of the driver log, when the status has them."""
    lines = [str(line) for line in app.get("last_log_lines") or []][-FAILURE_LOG_LINES:]
    if lines:
        message += "\nLast lines of the driver log:\n" + "\n".join(lines)
    return message


class SparkAppOperator(BaseOperator):
    """Submits a Spark application to Kubernetes as `spark-submit --deploy-mode cluster` does.

    Give the application as `app=sparkube.SparkApp(...)` (the primary form), or as
    `application` with the flat parameters below (a shorthand for the same `SparkApp`), or as
    `spark_submit_args`.

    :param app: the application: a `sparkube.SparkApp`, the same as a mapping
        (`SparkApp.to_dict()`'s shape), or a template rendering to a JSON object. Templated:
        every string inside renders (name, arguments, conf values, env, image, ...). A pod
        template (`driver.pod_template`) may be a file path, as below. Unknown fields fail the
        task naming the field. The flat parameters below cannot be given with it.
    :param application: the primary resource (`local:///opt/spark/app/job.py`, a jar, an
        `s3a://` URL). Templated.
    :param main_class: the main class of a JVM application.
    :param arguments: the application's arguments. Templated.
    :param conf: Spark conf (any key); the typed parameters win over it. Templated.
    :param name: the application name (default: the task id). Templated.
    :param image: the container image of the driver and executors. Templated.
    :param namespace: the namespace (default: the connection's, else the kubeconfig's). Templated.
    :param service_account: the driver's service account. Templated.
    :param proxy_user: the user the application runs as (`--proxy-user`).
    :param image_pull_policy: `Always`, `IfNotPresent` or `Never`.
    :param driver_cores: driver cores. :param driver_memory: driver memory (`"2g"`).
    :param driver_memory_overhead: the driver's non-heap memory (`"512m"`).
    :param executor_cores: cores per executor. :param executor_memory: memory per executor.
    :param executor_memory_overhead: each executor's non-heap memory.
    :param executor_instances: number of executors (without dynamic allocation).
    :param dynamic_allocation: True, or a `sparkube.DynamicAllocation`, for dynamic allocation
        (with shuffle tracking, as Kubernetes has no external shuffle service).
    :param env: environment variables of the driver and executors. Templated.
    :param secret_env: environment variables from Kubernetes secrets, `{"VAR": "secret:key"}`
        (a `secretKeyRef`; the value never passes through Airflow).
    :param secret_mounts: Kubernetes secrets mounted as files, `{"secret": "/mount/path"}`.
    :param volumes: `sparkube.Volume`s mounted into the driver and the executors.
    :param labels: labels of the driver and executor pods. Templated.
    :param annotations: annotations of the driver and executor pods. Templated.
    :param node_selector: node selector of the driver and executors.
    :param tolerations: tolerations of the driver and executors.
    :param affinity: affinity of the driver and executors.
    :param image_pull_secrets: secrets to pull the image with.
    :param dependencies: a `sparkube.Deps` (jars, py-files, files, archives, Maven packages
        resolved in the cluster).
    :param driver_pod_template: a Pod (dict) the driver pod starts from, or the path of a
        YAML file holding one, relative to the DAG's folder (or `template_searchpath`) and
        rendered with Jinja, as KubernetesPodOperator reads its `pod_template_file`.
        Templated.
    :param executor_pod_template: the same for the executor pods. Templated.
    :param spark_submit_args: a spark-submit argument list instead of the parameters above
        (only `namespace` applies on top of it). Templated.
    :param kubernetes_conn_id: the Kubernetes connection (see `SparkKubernetesHook`).
    :param aws_conn_id: an Airflow AWS connection whose credentials (login, password, extra
        `aws_session_token`) and `endpoint_url` upload local files to an `s3a://`
        `spark.kubernetes.file.upload.path`, as `spark.hadoop.fs.s3a.*` (conf given wins);
        masked in the logs.
    :param wait_for_completion: wait for the application to end (False: submit and return, for
        a `SparkAppSensor` downstream).
    :param deferrable: wait in the triggerer instead of the worker (default:
        `[operators] default_deferrable`).
    :param startup_timeout: how long the driver may take to start running (seconds or
        timedelta); past it, or at once when its image cannot be pulled, the driver is deleted
        and the task fails with the reason.
    :param timeout: how long the application may run; past it the driver is deleted and the
        task fails, unless `succeed_on_timeout`.
    :param succeed_on_timeout: a timeout ends the task successfully, for streaming applications
        that run until stopped.
    :param get_logs: write the driver log into the task log as it comes (deferred too).
    :param progress_interval: how often (seconds or timedelta) to write the application's
        progress into the task log while waiting (deferred too), as
        `spark-…: 3/4 jobs, 120/200 tasks (60%)` from the driver's Spark UI, only when it
        changed; None for none.
    :param on_finish_action: what to do with the driver pod when the application has ended:
        `keep`, `delete`, or `delete_succeeded` (keep failed drivers for inspection).
    :param reattach_on_restart: adopt a still-running driver of the same task instance instead
        of submitting another one.
    :param openlineage_inject_parent_job_info: add the OpenLineage parent job (this task's run)
        to the Spark conf, as SparkSubmitOperator does, so that the application's own
        OpenLineage events link to the task (default: `[openlineage]
        spark_inject_parent_job_info`; needs `apache-airflow-providers-openlineage`).
    :param openlineage_inject_transport_info: add the OpenLineage HTTP transport Airflow uses to
        the Spark conf (default: `[openlineage] spark_inject_transport_info`).
    :param stall_timeout: seconds (or timedelta) after which a running application that has
        completed no task and registered no executor is stalled (`sparkube.stall`, reading the
        progress through the driver's Spark UI); None for no watchdog. Deferred too.
    :param stall_action: `warn` logs the stall and waits on; `fail` deletes the driver and
        fails the task.
    :param history_server_url: the History Server (its base URL) whose REST API gives the
        right-sizing report logged at the end and returned under `report`; default: the conf
        `spark.sparkube.historyServer.url`. Without one, or when it does not answer, the
        progress read while waiting gives a partial report; never a failed task. Templated.
    :param preflight: before submitting, send every object as a dry run and check the whole
        app (driver and executors) against the namespace's ResourceQuota and LimitRange
        (`sparkube.Client.preflight`); the task fails, creating nothing, when a check fails.

    Returns (XCom) `{app_id, namespace, driver_pod, submission_id, state, exit_code,
    spark_ui_url, duration_s, result, report}`, `report` being the right-sizing report's
    `to_dict()` (None without figures). While the application runs, the XCom `spark_app` holds its
    `app_id`, `namespace`, `driver_pod` and `submission_id` (the extra links read it).
    """

    template_fields: Sequence[str] = (
        "app",
        "application",
        "main_class",
        "arguments",
        "conf",
        "name",
        "image",
        "namespace",
        "service_account",
        "env",
        "labels",
        "annotations",
        "driver_pod_template",
        "executor_pod_template",
        "spark_submit_args",
        "history_server_url",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "app": "json",
        "driver_pod_template": "yaml",
        "executor_pod_template": "yaml",
        "conf": "json",
        "env": "json",
        "labels": "json",
        "annotations": "json",
        "arguments": "py",
        "spark_submit_args": "py",
    }
    ui_color = "#f4a460"
    operator_extra_links = (SparkUILink(), SparkHistoryLink())

    def __init__(
        self,
        *,
        app: SparkApp | Mapping[str, Any] | str | None = None,
        application: str | None = None,
        main_class: str | None = None,
        arguments: Sequence[str] | None = None,
        conf: Mapping[str, Any] | str | None = None,
        name: str | None = None,
        image: str | None = None,
        namespace: str | None = None,
        service_account: str | None = None,
        proxy_user: str | None = None,
        image_pull_policy: str | None = None,
        driver_cores: float | None = None,
        driver_memory: str | None = None,
        driver_memory_overhead: str | None = None,
        executor_cores: float | None = None,
        executor_memory: str | None = None,
        executor_memory_overhead: str | None = None,
        executor_instances: int | None = None,
        dynamic_allocation: DynamicAllocation | bool | None = None,
        env: Mapping[str, Any] | str | None = None,
        secret_env: Mapping[str, str] | None = None,
        secret_mounts: Mapping[str, str] | None = None,
        volumes: Sequence[Volume] = (),
        labels: Mapping[str, Any] | str | None = None,
        annotations: Mapping[str, Any] | str | None = None,
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] = (),
        affinity: Mapping[str, Any] | None = None,
        image_pull_secrets: Sequence[str] = (),
        dependencies: Deps | None = None,
        driver_pod_template: Mapping[str, Any] | str | None = None,
        executor_pod_template: Mapping[str, Any] | str | None = None,
        spark_submit_args: Sequence[str] | None = None,
        kubernetes_conn_id: str | None = SparkKubernetesHook.default_conn_name,
        aws_conn_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        startup_timeout: float | timedelta = 300.0,
        timeout: float | timedelta | None = None,
        succeed_on_timeout: bool = False,
        get_logs: bool = True,
        progress_interval: float | timedelta | None = 30.0,
        on_finish_action: OnFinishAction = "delete_succeeded",
        reattach_on_restart: bool = True,
        openlineage_inject_parent_job_info: bool | None = None,
        openlineage_inject_transport_info: bool | None = None,
        preflight: bool = False,
        stall_timeout: float | timedelta | None = None,
        stall_action: str = "warn",
        history_server_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if stall_action not in stall.ON_STALL:
            raise ValueError(
                f"{type(self).__name__} {self.task_id}: stall_action must be 'warn' or 'fail', "
                f"not {stall_action!r}"
            )
        stall_seconds = seconds(stall_timeout)
        if stall_seconds is not None and not stall_seconds > 0:
            raise ValueError(
                f"{type(self).__name__} {self.task_id}: stall_timeout must be a positive number "
                f"of seconds, not {stall_timeout!r}"
            )
        forms = {"app": app, "application": application, "spark_submit_args": spark_submit_args}
        given = [form for form, value in forms.items() if value is not None]
        if len(given) != 1:
            raise ValueError(
                f"{type(self).__name__} {self.task_id}: give one of app, application or "
                f"spark_submit_args, not {' and '.join(given) or 'none'}"
            )
        if on_finish_action not in ON_FINISH_ACTIONS:
            raise ValueError(
                f"{type(self).__name__} {self.task_id}: on_finish_action must be one of "
                f"{', '.join(ON_FINISH_ACTIONS)}, not {on_finish_action!r}"
            )
        self.app = spec_template(app)
        self.application = application
        self.main_class = main_class
        self.arguments = arguments
        self.conf = conf
        self.name = name
        self.image = image
        self.namespace = namespace
        self.service_account = service_account
        self.proxy_user = proxy_user
        self.image_pull_policy = image_pull_policy
        self.driver_cores = driver_cores
        self.driver_memory = driver_memory
        self.driver_memory_overhead = driver_memory_overhead
        self.executor_cores = executor_cores
        self.executor_memory = executor_memory
        self.executor_memory_overhead = executor_memory_overhead
        self.executor_instances = executor_instances
        self.dynamic_allocation = dynamic_allocation
        self.env = env
        self.secret_env = dict(secret_env or {})
        self.secret_mounts = dict(secret_mounts or {})
        self.volumes = list(volumes)
        self.labels = labels
        self.annotations = annotations
        self.node_selector = dict(node_selector or {})
        self.tolerations = list(tolerations)
        self.affinity = affinity
        self.image_pull_secrets = list(image_pull_secrets)
        self.dependencies = dependencies
        self.driver_pod_template = driver_pod_template
        self.executor_pod_template = executor_pod_template
        self.spark_submit_args = spark_submit_args
        self.kubernetes_conn_id = kubernetes_conn_id
        self.aws_conn_id = aws_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.startup_timeout = seconds(startup_timeout)
        self.timeout = seconds(timeout)
        self.succeed_on_timeout = succeed_on_timeout
        self.get_logs = get_logs
        self.progress_interval = seconds(progress_interval)
        self.on_finish_action = on_finish_action
        self.reattach_on_restart = reattach_on_restart
        self.preflight = preflight
        self.stall_timeout = stall_seconds
        self.stall_action = stall_action
        self.history_server_url = history_server_url
        self._handle: sparkube.SparkAppHandle | None = None
        if app is not None:
            flat = [k for k in SHORTHAND if k != "application" and given_value(getattr(self, k))]
            if flat:
                raise ValueError(
                    f"{type(self).__name__} {self.task_id}: {', '.join(flat)} cannot be given "
                    "with app: set them in the SparkApp"
                )
        self.openlineage_inject_parent_job_info = (
            _openlineage.inject_setting("parent_job_info")
            if openlineage_inject_parent_job_info is None
            else openlineage_inject_parent_job_info
        )
        self.openlineage_inject_transport_info = (
            _openlineage.inject_setting("transport_info")
            if openlineage_inject_transport_info is None
            else openlineage_inject_transport_info
        )
        # The application the task ran, for its OpenLineage facets.
        self._lineage_app: dict[str, Any] = {}

    @cached_property
    def hook(self) -> SparkKubernetesHook:
        """The hook of `kubernetes_conn_id`."""
        return SparkKubernetesHook(self.kubernetes_conn_id)

    # -- secrets ------------------------------------------------------------------------------

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render the templated fields, then have Airflow mask the secret values they hold.

        Conf values of keys that look secret (`*secret*`, `*password*`, `*token*`, `*.key`,
        ...) and values of environment variables with such names are still submitted as
        they are, but show as `***` in the rendered fields, the task log and exceptions.
        """
        if not jinja_env:
            jinja_env = self.get_template_env()
        super().render_template_fields(context, jinja_env)
        self.load_pod_templates(context, jinja_env)
        self.mask_secrets()

    def load_pod_templates(self, context: Context, jinja_env: Any) -> None:
        """Replace pod templates given as file paths by the Pods the files hold."""
        for role in ("driver", "executor"):
            field = f"{role}_pod_template"
            setattr(self, field, load_pod_template(getattr(self, field), field, context, jinja_env))
            if isinstance(self.app, dict) and isinstance(self.app.get(role), Mapping):
                spec = dict(self.app[role])
                where = f"app.{role}.pod_template"
                spec["pod_template"] = load_pod_template(
                    spec.get("pod_template"), where, context, jinja_env
                )
                self.app[role] = spec

    def mask_secrets(self) -> None:
        """Register the secret values of `conf`, `env` and `spark_submit_args` with Airflow's
        secrets masker."""
        values: list[str] = []
        try:
            values += _secrets.conf_secrets(str_map(self.conf, "conf"))
            values += _secrets.env_secrets(str_map(self.env, "env"))
            if self.app is not None:
                data = spec_data(self.app)
                values += _secrets.conf_secrets(str_map(data.get("conf"), "app.conf"))
                for role in ("driver", "executor"):
                    env = (data.get(role) or {}).get("env")
                    values += _secrets.env_secrets(str_map(env, f"app.{role}.env"))
            if self.spark_submit_args is not None:
                args = str_list(self.spark_submit_args, "spark_submit_args")
                values += _secrets.conf_secrets(_secrets.args_conf(args))
        except ConfigError:
            pass  # reported by execute, naming the parameter
        _secrets.mask(values)

    # -- building ---------------------------------------------------------------------------

    def target_namespace(self) -> str:
        """The namespace the driver goes to: the spark-submit arguments', else `namespace`,
        else the connection's, else the kubeconfig context's."""
        if self.spark_submit_args is not None:
            from_args = args_namespace(str_list(self.spark_submit_args, "spark_submit_args"))
            if from_args:
                return from_args
        if self.app is not None and not self.namespace:
            try:
                from_app = spec_data(self.app).get("namespace")
            except ConfigError:
                from_app = None  # reported by build_app, naming the field
            if from_app:
                return str(from_app)
        return self.namespace or self.hook.namespace

    def build_app(self, namespace: str) -> SparkApp:
        """The `SparkApp` submitted (after template rendering): `app`, or the flat parameters'."""
        from sparkube.app import SparkApp

        if self.app is not None:
            data = spec_data(self.app)
        elif self.application is not None:
            data = self.shorthand()
        else:
            raise ConfigError("application is not set (spark_submit_args are used)", "application")
        if not data.get("name"):
            data["name"] = self.task_id
        data["namespace"] = namespace
        try:
            return SparkApp.from_dict(data)
        except ConfigError as e:
            if self.app is None:
                raise
            raise ConfigError(f"app: {e}", f"app.{e.option}" if e.option else "app") from None

    def shorthand(self) -> dict[str, Any]:
        """The flat parameters as `SparkApp` data (`SHORTHAND`); unset ones are left out, so
        that the spec's defaults apply."""
        from sparkube.app import DynamicAllocation

        parse: dict[str, Any] = {
            "conf": str_map,
            "env": str_map,
            "labels": str_map,
            "annotations": str_map,
            "arguments": str_list,
        }
        data: dict[str, Any] = {}
        for kwarg, paths in SHORTHAND.items():
            value = getattr(self, kwarg)
            if kwarg in parse:
                value = parse[kwarg](value, kwarg)
            elif kwarg == "dynamic_allocation":
                value = DynamicAllocation() if value is True else value or None
            if not given_value(value):
                continue
            for path in paths:
                set_path(data, path, value)
        return data

    def build_args(self, namespace: str) -> list[str]:
        """The spark-submit argument list, with the namespace set when the list lacks one."""
        args = str_list(self.spark_submit_args, "spark_submit_args")
        if args_namespace(args) is None:
            args = ["--conf", f"{NAMESPACE_KEY}={namespace}", *args]
        return args

    def build(self, namespace: str) -> SparkApp | list[str]:
        """What is submitted: a `SparkApp`, or a spark-submit argument list, with the S3
        credentials of `aws_conn_id` where the conf does not set them."""
        store = self.aws_conf()
        if self.spark_submit_args is not None:
            args = self.build_args(namespace)
            given = args_conf(args)
            extra = [a for k, v in store.items() if k not in given for a in ("--conf", f"{k}={v}")]
            return [*extra, *args]
        app = self.build_app(namespace)
        return dataclasses.replace(app, conf={**store, **app.conf}) if store else app

    def aws_conf(self) -> dict[str, str]:
        """`spark.hadoop.fs.s3a.*` from the Airflow AWS connection `aws_conn_id`, its secrets
        masked; empty without one."""
        if self.aws_conn_id is None:
            return {}
        from sparkube.airflow._compat import BaseHook

        connection = BaseHook.get_connection(self.aws_conn_id)
        extra = connection.extra_dejson
        prefix = "spark.hadoop.fs.s3a."
        values = {
            f"{prefix}access.key": connection.login,
            f"{prefix}secret.key": connection.password,
            f"{prefix}session.token": extra.get("aws_session_token"),
            f"{prefix}endpoint": extra.get("endpoint_url"),
            f"{prefix}endpoint.region": extra.get("region_name"),
        }
        if extra.get("endpoint_url"):
            # A custom endpoint is an S3-compatible server (MinIO): buckets go in the path.
            values[f"{prefix}path.style.access"] = "true"
        conf = {k: str(v) for k, v in values.items() if v}
        _secrets.mask(
            v for k, v in conf.items() if k.endswith(("access.key", "secret.key", "session.token"))
        )
        return conf

    def with_openlineage(
        self, spec: SparkApp | list[str], context: Context
    ) -> SparkApp | list[str]:
        """`spec` with the OpenLineage parent-job and transport conf injected, as asked by
        `openlineage_inject_parent_job_info` and `openlineage_inject_transport_info`."""
        parent, transport = (
            self.openlineage_inject_parent_job_info,
            self.openlineage_inject_transport_info,
        )
        if not (parent or transport):
            return spec
        if isinstance(spec, list):
            before = args_conf(spec)
            after = _openlineage.inject(
                before, context, parent_job=parent, transport=transport, log=self.log
            )
            added = [("--conf", f"{k}={v}") for k, v in after.items() if k not in before]
            return [*(a for pair in added for a in pair), *spec]
        spec.conf = _openlineage.inject(
            spec.conf, context, parent_job=parent, transport=transport, log=self.log
        )
        return spec

    # -- submitting and adopting --------------------------------------------------------------

    def find_running_driver(
        self, client: sparkube.Client, namespace: str, identity: TaskIdentity
    ) -> sparkube.SparkAppHandle | None:
        """A still-running driver of this task instance (any earlier try), or None.

        A driver being deleted (still stopping after a kill, as when an earlier try was cleared
        or marked failed) is not running on: it is not adopted.
        """
        apps = client.list(namespace, selector=identity.selector())
        running = [
            a
            for a in apps
            if not a.state.is_final and a.reason != TERMINATING and identity.owns(a.labels)
        ]
        if not running:
            return None
        running.sort(key=lambda a: (a.started_at is not None, a.started_at or datetime.min))
        if len(running) > 1:
            self.log.warning(
                "%d running drivers belong to this task instance (%s); adopting %s",
                len(running),
                ", ".join(a.driver_pod for a in running),
                running[-1].driver_pod,
            )
        app = running[-1]
        return client.attach(namespace=app.namespace, driver_pod=app.driver_pod)

    def submit(self, context: Context) -> sparkube.SparkAppHandle:
        """Adopts this task instance's running driver, or submits the application."""
        identity = TaskIdentity.from_context(context)
        client = self.hook.get_client()
        namespace = self.target_namespace()
        if self.reattach_on_restart:
            handle = self.find_running_driver(client, namespace, identity)
            if handle is not None:
                self.log.info(
                    "Adopting running driver %s/%s of an earlier try of this task",
                    handle.namespace,
                    handle.driver_pod,
                )
                return handle
        spec = self.with_openlineage(self.build(namespace), context)
        # Local files of the DAG (a script beside it) resolve against the DAG's folder.
        dag = context.get("dag")
        fileloc = getattr(dag, "fileloc", None)
        base_dir = os.path.dirname(fileloc) if fileloc else None
        if self.preflight:
            self.check_preflight(client, spec, base_dir)
        handle = client.submit(
            spec,
            labels=identity.labels(),
            annotations=identity.annotations(),
            base_dir=base_dir,
        )
        self.log.info(
            "Submitted Spark application %s: driver pod %s/%s",
            handle.app_id,
            handle.namespace,
            handle.driver_pod,
        )
        return handle

    def check_preflight(
        self, client: sparkube.Client, spec: SparkApp | list[str], base_dir: str | None
    ) -> None:
        """Log the preflight's findings; raise (nothing created) when one failed."""
        report = client.preflight(spec, base_dir=base_dir)
        for check in report.checks:
            log = self.log.info if check.passed else self.log.error
            log("Preflight %s: %s", check.subject, check.message)
        if not report.passed:
            failures = "; ".join(f"{c.subject}: {c.message}" for c in report.failures)
            raise AirflowException(f"Preflight failed, nothing was submitted: {failures}")

    def _publish(self, context: Context, handle: sparkube.SparkAppHandle) -> dict[str, Any]:
        """Push the `spark_app` XCom and the extra links while the application runs."""
        app = {
            "app_id": handle.app_id,
            "namespace": handle.namespace,
            "driver_pod": handle.driver_pod,
            "submission_id": handle.submission_id,
        }
        ti = context["ti"]
        ti.xcom_push(key=APP_XCOM_KEY, value=app)
        for link in self.operator_extra_links:
            url = link.url(app)
            if url:
                ti.xcom_push(key=link.xcom_key, value=url)
                self.log.info("%s: %s", link.name, url)
        return app

    # -- running ------------------------------------------------------------------------------

    @emits_metrics
    def execute(self, context: Context) -> dict[str, Any]:
        """Submit (or adopt), then wait here or in the triggerer unless not waiting."""
        self.mask_secrets()  # also when executed without rendering first (mapped tasks, tests)
        try:
            handle = self.submit(context)
        except ConfigError as e:
            # Invalid input does not get better with a retry; nothing was created.
            raise AirflowFailException(f"Invalid Spark application: {e}") from e
        except SparkubeError as e:
            raise AirflowException(f"Submitting the Spark application failed: {e}") from e
        self._handle = handle
        self._publish(context, handle)
        if not self.wait_for_completion:
            return self.result(handle.status().to_dict())
        startup_deadline = time.time() + self.startup_timeout if self.startup_timeout else None
        deadline = time.time() + self.timeout if self.timeout else None
        if self.deferrable:
            from sparkube.airflow.triggers import SparkAppTrigger

            self.defer(
                trigger=SparkAppTrigger(
                    namespace=handle.namespace,
                    driver_pod=handle.driver_pod,
                    kubernetes_conn_id=self.kubernetes_conn_id,
                    startup_deadline=startup_deadline,
                    deadline=deadline,
                    kill_on_timeout=True,
                    get_logs=self.get_logs,
                    logs_since=time.time(),
                    kill_on_task_kill=True,
                    reattach_on_restart=self.reattach_on_restart,
                    progress_interval=self.progress_interval,
                    fire_not_before=time.time() + deferral_settle_seconds(),
                    stall_timeout=self.stall_timeout,
                    stall_action=self.stall_action,
                    history_server_url=self.history_server(),
                ),
                method_name="execute_complete",
            )
        outcome = asyncio.run(
            _watch.follow(
                handle,
                log=self.log,
                get_logs=self.get_logs,
                startup_deadline=startup_deadline,
                deadline=deadline,
                kill_on_timeout=True,
                progress_interval=self.progress_interval,
                stall_timeout=self.stall_timeout,
                stall_action=self.stall_action,
                history_server_url=self.history_server(),
            )
        )
        return self.finish(outcome)

    def history_server(self) -> str | None:
        """`history_server_url`, else the conf `spark.sparkube.historyServer.url`, else the
        provider config `[sparkube] history_server_url`."""
        if self.history_server_url:
            return self.history_server_url
        conf = self.conf if isinstance(self.conf, Mapping) else {}
        value = conf.get(_core.HISTORY_SERVER_URL_KEY) or url_template("history_server_url")
        return str(value) if value else None

    @emits_metrics
    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resumed from the trigger: act on its outcome."""
        return self.finish(event)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Deferral timed out (`execution_timeout` while deferred): delete the driver too."""
        if next_method == TRIGGER_FAIL_METHOD:
            error = str((next_kwargs or {}).get("error", ""))
            if "timeout" in error.lower():
                self._delete_task_drivers(context, "the task timed out while deferred")
        return super().resume_execution(next_method, next_kwargs, context)

    def _delete_task_drivers(self, context: Context, why: str) -> None:
        identity = TaskIdentity.from_context(context)
        try:
            client = self.hook.get_client()
            handle = self.find_running_driver(client, self.target_namespace(), identity)
            if handle is not None:
                self.log.info(
                    "Deleting driver pod %s/%s: %s", handle.namespace, handle.driver_pod, why
                )
                handle.kill()
        except SparkubeError as e:
            self.log.error("Could not delete the driver of this task: %s", e)

    def _delete_driver(self, namespace: str, driver_pod: str, why: str) -> None:
        self.log.info("Deleting driver pod %s/%s (%s)", namespace, driver_pod, why)
        try:
            handle = self._handle
            if handle is None or (handle.namespace, handle.driver_pod) != (namespace, driver_pod):
                handle = self.hook.get_client().attach(namespace=namespace, driver_pod=driver_pod)
            handle.kill()
        except KubernetesApiError as e:
            if e.status != 404:
                self.log.error("Could not delete driver pod %s/%s: %s", namespace, driver_pod, e)
        except SparkubeError as e:
            self.log.error("Could not delete driver pod %s/%s: %s", namespace, driver_pod, e)

    def finish(self, outcome: Mapping[str, Any]) -> dict[str, Any]:
        """Apply `on_finish_action`, then return the XCom result or fail with the reason."""
        status = str(outcome.get("status"))
        message = str(outcome.get("message") or status)
        app = outcome.get("app") or {}
        namespace = str(outcome.get("namespace") or app.get("namespace") or "")
        driver_pod = str(outcome.get("driver_pod") or app.get("driver_pod") or "")
        succeeded = status == _watch.SUCCESS or (
            status == _watch.TIMEOUT and self.succeed_on_timeout
        )
        gone = app.get("state") == "Deleted"
        delete = self.on_finish_action == "delete" or (
            self.on_finish_action == "delete_succeeded" and succeeded
        )
        # After a tracking error the driver is left running, for a retry to adopt; after a
        # timeout it is already deleted, and deleting again is a harmless no-op.
        if delete and status != _watch.ERROR and driver_pod and not gone:
            self._delete_driver(
                namespace, driver_pod, f"on_finish_action={self.on_finish_action}, {status}"
            )
        if succeeded:
            if status == _watch.TIMEOUT:
                self.log.info("Stopped after its timeout, as asked: %s", message)
            else:
                self.log.info(message)
            return self.result(
                app, namespace=namespace, driver_pod=driver_pod, report=outcome.get("report")
            )
        if app.get("cause"):
            self.log.error("Cause: %s", app["cause"])
        raise AirflowException(failure_message(message, app))

    def result(
        self,
        app: Mapping[str, Any],
        *,
        namespace: str = "",
        driver_pod: str = "",
        report: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The task's XCom return value: the app's final status with its right-sizing
        `report`."""
        result = app_result(app, namespace=namespace, driver_pod=driver_pod)
        self._lineage_app = result
        return {**result, "report": report}

    # -- OpenLineage --------------------------------------------------------------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The OpenLineage run facet of the application this task ran (the Spark app id, the
        driver pod, the image), for the COMPLETE event of `apache-airflow-providers-openlineage`."""
        app = self._lineage_app or {}
        if not app:
            # Resumed elsewhere, or failed: what the task published while the app ran.
            app = task_instance.xcom_pull(task_ids=self.task_id, key=APP_XCOM_KEY) or {}
        return _openlineage.facets(app, self.lineage_image())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on completion: the FAIL event names the application that failed."""
        return self.get_openlineage_facets_on_complete(task_instance)

    def lineage_image(self) -> str | None:
        """The container image the application ran, as given (None for Spark's default)."""
        if self.spark_submit_args is not None:
            try:
                args = args_conf(str_list(self.spark_submit_args, "spark_submit_args"))
            except ConfigError:
                return None
            return args.get("spark.kubernetes.container.image")
        return str(self.image) if self.image else None

    def on_kill(self) -> None:
        """The task is killed (or timed out) while waiting in the worker: delete the driver."""
        handle = self._handle
        if handle is None:
            return
        self.log.info("Task killed: deleting driver pod %s/%s", handle.namespace, handle.driver_pod)
        try:
            handle.kill()
        except SparkubeError as e:
            self.log.error(
                "Could not delete driver pod %s/%s: %s", handle.namespace, handle.driver_pod, e
            )
