"""`SparkAppSensor`: waits for a Spark application submitted earlier, typically by a
`SparkAppOperator` with `wait_for_completion=False` (templated from its XCom)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sparkube._core import APP_ID_LABEL
from sparkube.airflow import _watch
from sparkube.airflow._compat import (
    AirflowFailException,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    default_deferrable,
)
from sparkube.airflow.hooks import SparkKubernetesHook
from sparkube.airflow.operators import app_result, failure_message
from sparkube.errors import KubernetesApiError, SparkubeError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import sparkube
    from sparkube.airflow._compat import Context


class SparkAppSensor(BaseSensorOperator):
    """Succeeds when the Spark application succeeds; fails (or skips, with `soft_fail`) when it
    fails or its driver is deleted.

    :param driver_pod: the driver pod's name. Templated.
    :param app_id: the Spark application id (`spark-…`), when the driver pod is not known.
        Templated.
    :param namespace: the namespace (default: the connection's, else the kubeconfig's). Templated.
    :param kubernetes_conn_id: the Kubernetes connection (see `SparkKubernetesHook`).
    :param deferrable: wait in the triggerer (default: `[operators] default_deferrable`).
    :param get_logs: write the driver log into the task log (deferrable mode): the whole log,
        from the driver's start, as it comes; at once when the application had already ended
        when the sensor looked (the operator that submitted it wrote none of it).

    The poke and reschedule modes read the driver's status once per poke. Returns (XCom) the
    same dict as `SparkAppOperator`.
    """

    template_fields: Sequence[str] = ("driver_pod", "app_id", "namespace")
    ui_color = "#f4a460"

    def __init__(
        self,
        *,
        driver_pod: str | None = None,
        app_id: str | None = None,
        namespace: str | None = None,
        kubernetes_conn_id: str | None = SparkKubernetesHook.default_conn_name,
        deferrable: bool | None = None,
        get_logs: bool = False,
        poke_interval: float | timedelta = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        if driver_pod is None and app_id is None:
            raise ValueError(f"{type(self).__name__} {self.task_id}: give driver_pod or app_id")
        self.driver_pod = driver_pod
        self.app_id = app_id
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.get_logs = get_logs

    @cached_property
    def hook(self) -> SparkKubernetesHook:
        """The hook of `kubernetes_conn_id`."""
        return SparkKubernetesHook(self.kubernetes_conn_id)

    def attach(self) -> sparkube.SparkAppHandle:
        """The handle of the application, found by driver pod or by app id."""
        client = self.hook.get_client()
        namespace = self.namespace or self.hook.namespace
        try:
            if self.driver_pod:
                return client.attach(namespace=namespace, driver_pod=self.driver_pod)
            apps = client.list(namespace, selector=f"{APP_ID_LABEL}={self.app_id}")
        except KubernetesApiError as e:
            if e.status == 404:
                raise AirflowFailException(
                    f"Driver pod {namespace}/{self.driver_pod} does not exist: {e}"
                ) from e
            raise
        if not apps:
            raise AirflowFailException(
                f"No driver of Spark application {self.app_id} in namespace {namespace}"
            )
        return client.attach(namespace=apps[0].namespace, driver_pod=apps[0].driver_pod)

    def conclude(self, app: Mapping[str, Any], message: str | None = None) -> dict[str, Any]:
        """The XCom value of a succeeded application; raises for any other final state."""
        if app.get("state") == "Succeeded":
            return app_result(app)
        where = f"{app.get('namespace')}/{app.get('driver_pod')}"
        if message is None:
            details = [str(app.get("state"))]
            if app.get("reason"):
                details.append(f"reason {app['reason']}")
            if app.get("exit_code") is not None:
                details.append(f"exit code {app['exit_code']}")
            if app.get("message"):
                details.append(str(app["message"]))
            message = (
                f"Spark application {app.get('app_id')} (driver pod {where}) ended: "
                + ", ".join(details)
            )
        raise AirflowFailException(failure_message(message, app))

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One status read: done when the application has ended."""
        status = self.attach().status()
        if not status.state.is_final:
            self.log.info(
                "Driver pod %s/%s: %s", status.namespace, status.driver_pod, status.state.value
            )
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.conclude(status.to_dict()))

    def execute(self, context: Context) -> Any:
        """Poke or reschedule as any sensor, or defer to `SparkAppTrigger`."""
        if not self.deferrable:
            return super().execute(context)
        try:
            try:
                handle = self.attach()
                status = handle.status()
            except SparkubeError as e:
                raise AirflowFailException(f"Cannot track the Spark application: {e}") from e
            if status.state.is_final:
                if self.get_logs:
                    asyncio.run(_watch.stream_logs(handle, self.log))
                return self.conclude(status.to_dict())
        except AirflowFailException as e:
            # Ending here, before deferring, skips the base class's soft_fail handling.
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping (soft_fail): {e}") from e
            raise
        from sparkube.airflow.triggers import SparkAppTrigger

        self.defer(
            trigger=SparkAppTrigger(
                namespace=handle.namespace,
                driver_pod=handle.driver_pod,
                kubernetes_conn_id=self.kubernetes_conn_id,
                kill_on_timeout=False,
                get_logs=self.get_logs,
                kill_on_task_kill=False,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resumed from the trigger: succeed, or fail with the application's reason."""
        app = event.get("app") or {}
        if event.get("status") == _watch.SUCCESS:
            return app_result(app)
        return self.conclude(
            {"namespace": event.get("namespace"), "driver_pod": event.get("driver_pod"), **app},
            message=str(event.get("message")),
        )
