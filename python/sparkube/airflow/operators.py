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

from sparkube.airflow import _secrets, _watch
from sparkube.airflow._compat import (
    TRIGGER_FAIL_METHOD,
    AirflowException,
    AirflowFailException,
    BaseOperator,
    default_deferrable,
)
from sparkube.airflow._identity import TaskIdentity
from sparkube.airflow._secrets import args_conf
from sparkube.airflow.hooks import SparkKubernetesHook
from sparkube.airflow.links import APP_XCOM_KEY, SparkHistoryLink, SparkUILink
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


def conf_value(value: Any) -> str:
    """A Spark conf, label, annotation or env value as the string Spark expects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    return {str(k): conf_value(v) for k, v in value.items()}


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
    return [conf_value(v) for v in value]


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

    Give either `application` (with the typed parameters below) or `spark_submit_args`.

    :param application: the primary resource (`local:///opt/spark/app/job.py`, a jar, an
        `s3a://` URL). Templated.
    :param main_class: the main class of a JVM application.
    :param arguments: the application's arguments. Templated.
    :param conf: Spark conf (any key); the typed parameters win over it. Templated.
    :param name: the application name (default: the task id). Templated.
    :param image: the container image of the driver and executors. Templated.
    :param namespace: the namespace (default: the connection's, else the kubeconfig's). Templated.
    :param service_account: the driver's service account. Templated.
    :param driver_cores: driver cores. :param driver_memory: driver memory (`"2g"`).
    :param executor_cores: cores per executor. :param executor_memory: memory per executor.
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
    :param driver_pod_template: a Pod (dict) the driver pod starts from.
    :param executor_pod_template: a Pod (dict) the executor pods start from.
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

    Returns (XCom) `{app_id, namespace, driver_pod, submission_id, state, exit_code,
    spark_ui_url, duration_s}`. While the application runs, the XCom `spark_app` holds its
    `app_id`, `namespace`, `driver_pod` and `submission_id` (the extra links read it).
    """

    template_fields: Sequence[str] = (
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
        "spark_submit_args",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
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
        application: str | None = None,
        main_class: str | None = None,
        arguments: Sequence[str] | None = None,
        conf: Mapping[str, Any] | str | None = None,
        name: str | None = None,
        image: str | None = None,
        namespace: str | None = None,
        service_account: str | None = None,
        driver_cores: float | None = None,
        driver_memory: str | None = None,
        executor_cores: float | None = None,
        executor_memory: str | None = None,
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
        driver_pod_template: Mapping[str, Any] | None = None,
        executor_pod_template: Mapping[str, Any] | None = None,
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (application is None) == (spark_submit_args is None):
            raise ValueError(
                f"{type(self).__name__} {self.task_id}: give either application or "
                "spark_submit_args (one of them, not both)"
            )
        if on_finish_action not in ON_FINISH_ACTIONS:
            raise ValueError(
                f"{type(self).__name__} {self.task_id}: on_finish_action must be one of "
                f"{', '.join(ON_FINISH_ACTIONS)}, not {on_finish_action!r}"
            )
        self.application = application
        self.main_class = main_class
        self.arguments = arguments
        self.conf = conf
        self.name = name
        self.image = image
        self.namespace = namespace
        self.service_account = service_account
        self.driver_cores = driver_cores
        self.driver_memory = driver_memory
        self.executor_cores = executor_cores
        self.executor_memory = executor_memory
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
        self._handle: sparkube.SparkAppHandle | None = None

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
        super().render_template_fields(context, jinja_env)
        self.mask_secrets()

    def mask_secrets(self) -> None:
        """Register the secret values of `conf`, `env` and `spark_submit_args` with Airflow's
        secrets masker."""
        values: list[str] = []
        try:
            values += _secrets.conf_secrets(str_map(self.conf, "conf"))
            values += _secrets.env_secrets(str_map(self.env, "env"))
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
        return self.namespace or self.hook.namespace

    def build_app(self, namespace: str) -> SparkApp:
        """The `SparkApp` the typed parameters describe (after template rendering)."""
        from sparkube.app import Driver, DynamicAllocation, Executor, SparkApp

        if self.application is None:
            raise ConfigError("application is not set (spark_submit_args are used)", "application")
        env = str_map(self.env, "env")
        role: dict[str, Any] = {
            "env": env,
            "secret_env": dict(self.secret_env),
            "secret_mounts": dict(self.secret_mounts),
            "volumes": list(self.volumes),
        }
        extra: dict[str, Any] = {}
        if self.dependencies is not None:
            extra["deps"] = self.dependencies
        dynamic = self.dynamic_allocation
        if dynamic is True:
            dynamic = DynamicAllocation()
        elif dynamic is False:
            dynamic = None
        app = SparkApp(
            name=str(self.name or self.task_id),
            application=str(self.application),
            main_class=self.main_class or None,
            arguments=str_list(self.arguments, "arguments"),
            image=self.image or None,
            namespace=namespace,
            service_account=self.service_account or None,
            conf=str_map(self.conf, "conf"),
            labels=str_map(self.labels, "labels"),
            annotations=str_map(self.annotations, "annotations"),
            node_selector=dict(self.node_selector),
            image_pull_secrets=list(self.image_pull_secrets),
            driver=Driver(
                cores=self.driver_cores,
                memory=self.driver_memory,
                pod_template=self.driver_pod_template,
                **role,
            ),
            executor=Executor(
                cores=self.executor_cores,
                memory=self.executor_memory,
                instances=self.executor_instances,
                pod_template=self.executor_pod_template,
                **role,
            ),
            dynamic_allocation=dynamic,
            tolerations=list(self.tolerations),
            affinity=self.affinity,
            **extra,
        )
        return app

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
        spec = self.build(namespace)
        # Local files of the DAG (a script beside it) resolve against the DAG's folder.
        dag = context.get("dag")
        fileloc = getattr(dag, "fileloc", None)
        handle = client.submit(
            spec,
            labels=identity.labels(),
            annotations=identity.annotations(),
            base_dir=os.path.dirname(fileloc) if fileloc else None,
        )
        self.log.info(
            "Submitted Spark application %s: driver pod %s/%s",
            handle.app_id,
            handle.namespace,
            handle.driver_pod,
        )
        return handle

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
            )
        )
        return self.finish(outcome)

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
            return self.result(app, namespace=namespace, driver_pod=driver_pod)
        raise AirflowException(failure_message(message, app))

    def result(
        self, app: Mapping[str, Any], *, namespace: str = "", driver_pod: str = ""
    ) -> dict[str, Any]:
        """The task's XCom return value."""
        return app_result(app, namespace=namespace, driver_pod=driver_pod)

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
