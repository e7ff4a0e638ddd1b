"""`SparkAppTrigger`: waits in the triggerer for a Spark application to end.

Every trigger of a triggerer process waits on the core's shared watch (one per cluster and
namespace, whatever the number of triggers), not on a poll loop of its own. Its arguments are
plain data with absolute deadlines, so a trigger that is restarted (triggerer restart, or two
triggerers running it at once) resumes where it stood: it attaches to the driver again and
waits for the same end; nothing it does is harmful when done twice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sparkube.airflow import _watch
from sparkube.airflow._compat import TRIGGER_ON_KILL, BaseTrigger, TriggerEvent
from sparkube.airflow.hooks import SparkKubernetesHook
from sparkube.errors import SparkubeError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import sparkube

# States of a task instance whose trigger was cancelled that mean a later try has started.
_LATER_TRY_STARTED = frozenset({"running", "deferred"})


class SparkAppTrigger(BaseTrigger):
    """Fires one event when the application whose driver is `namespace`/`driver_pod` ends.

    :param namespace: namespace of the driver pod.
    :param driver_pod: name of the driver pod.
    :param kubernetes_conn_id: the Kubernetes connection (see `SparkKubernetesHook`).
    :param startup_deadline: epoch seconds by which the driver must be running (else the event
        is `startup_timeout`); image pull errors end the wait early.
    :param deadline: epoch seconds by which the application must have ended (else `timeout`).
    :param kill_on_timeout: delete the driver when a deadline passes.
    :param get_logs: write the driver's log lines to the trigger's log (the task log) as they come.
    :param logs_since: epoch seconds; older driver log lines are not written.
    :param logs_cursor: the last driver log line written, as `[kubelet timestamp in epoch
        nanoseconds, lines written with that timestamp]`; set as lines are written, so that a
        trigger recreated from `serialize()` writes none of them again (over `logs_since`).
    :param kill_on_task_kill: delete the driver when the task is killed while deferred (a user
        marks it failed or success, or clears it); operators set it, sensors do not.
    :param reattach_on_restart: a later try of the task adopts this driver (the operator's
        `reattach_on_restart`). Clearing a deferred task lets Airflow start the next try before
        the triggerer cancels this trigger; when that try is already running (or deferred),
        `on_kill` leaves the driver to it instead of deleting it under it.
    :param progress_interval: seconds between progress lines (jobs and tasks from the driver's
        Spark UI) in the trigger's log, written only when they changed; None for none.
    :param stall_timeout: seconds without a completed task or a new executor after which the
        running application is stalled (`sparkube.stall`); None for no watchdog.
    :param stall_action: `warn` (log it and wait on) or `fail` (the event is `stalled`; the
        driver is deleted with `kill_on_timeout`).
    :param history_server_url: the History Server whose REST API gives the right-sizing report
        in the event (`report`); without one, or when it does not answer, the progress read
        meanwhile gives a partial one.
    :param fire_not_before: epoch seconds before which the event is held back: an application
        that ends within seconds of the deferral must not resume the task before Airflow has
        registered the end of the deferring workload (`_compat.deferral_settle_seconds`).

    The event payload has `status` (`success`, `failed`, `startup_timeout`, `timeout`,
    `stalled`, `error`), `message`, `app`, the final `AppStatus.to_dict()`, and `report`, the
    right-sizing report's `to_dict()` when there are figures.
    """

    def __init__(
        self,
        *,
        namespace: str,
        driver_pod: str,
        kubernetes_conn_id: str | None = SparkKubernetesHook.default_conn_name,
        startup_deadline: float | None = None,
        deadline: float | None = None,
        kill_on_timeout: bool = True,
        get_logs: bool = False,
        logs_since: float | None = None,
        logs_cursor: list[int] | None = None,
        kill_on_task_kill: bool = False,
        reattach_on_restart: bool = False,
        progress_interval: float | None = 30.0,
        fire_not_before: float | None = None,
        stall_timeout: float | None = None,
        stall_action: str = "warn",
        history_server_url: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.namespace = namespace
        self.driver_pod = driver_pod
        self.kubernetes_conn_id = kubernetes_conn_id
        self.startup_deadline = startup_deadline
        self.deadline = deadline
        self.kill_on_timeout = kill_on_timeout
        self.get_logs = get_logs
        self.logs_since = logs_since
        self._logs_cursor = _watch.LogCursor.from_list(logs_cursor)
        self.kill_on_task_kill = kill_on_task_kill
        self.reattach_on_restart = reattach_on_restart
        self.progress_interval = progress_interval
        self.fire_not_before = fire_not_before
        self.stall_timeout = stall_timeout
        self.stall_action = stall_action
        self.history_server_url = history_server_url
        self._handle: sparkube.SparkAppHandle | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and exactly the keyword arguments of `__init__`."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "namespace": self.namespace,
                "driver_pod": self.driver_pod,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "startup_deadline": self.startup_deadline,
                "deadline": self.deadline,
                "kill_on_timeout": self.kill_on_timeout,
                "get_logs": self.get_logs,
                "logs_since": self.logs_since,
                "logs_cursor": self._logs_cursor.to_list(),
                "kill_on_task_kill": self.kill_on_task_kill,
                "reattach_on_restart": self.reattach_on_restart,
                "progress_interval": self.progress_interval,
                "fire_not_before": self.fire_not_before,
                "stall_timeout": self.stall_timeout,
                "stall_action": self.stall_action,
                "history_server_url": self.history_server_url,
            },
        )

    async def _attach(self) -> sparkube.SparkAppHandle:
        if self._handle is None:
            hook = SparkKubernetesHook(self.kubernetes_conn_id)
            client = await hook.get_client_async()
            self._handle = await client.attach_async(
                namespace=self.namespace, driver_pod=self.driver_pod
            )
        return self._handle

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the end of the application and yield one event describing it."""
        if self.kill_on_task_kill and not TRIGGER_ON_KILL:
            self.log.warning(
                "This Airflow version does not tell a trigger that its task was killed while"
                " deferred (Airflow 3.3 does): marking the task failed or clearing it now leaves"
                " driver pod %s/%s running",
                self.namespace,
                self.driver_pod,
            )
        try:
            handle = await self._attach()
        except SparkubeError as e:
            # A driver deleted from outside while the task was deferred is not found (404): the
            # application failed. Other errors leave the driver alone, for a retry to adopt.
            gone = getattr(e, "status", None) == 404
            yield TriggerEvent(  # type: ignore[no-untyped-call]
                _watch.outcome(
                    _watch.FAILED if gone else _watch.ERROR,
                    f"Driver pod {self.namespace}/{self.driver_pod} cannot be tracked: {e}",
                    namespace=self.namespace,
                    driver_pod=self.driver_pod,
                )
            )
            return
        result = await _watch.follow(
            handle,
            log=self.log,
            get_logs=self.get_logs,
            logs_since=self.logs_since,
            logs_cursor=self._logs_cursor,
            keep_logs_cursor=True,
            startup_deadline=self.startup_deadline,
            deadline=self.deadline,
            kill_on_timeout=self.kill_on_timeout,
            progress_interval=self.progress_interval,
            stall_timeout=self.stall_timeout,
            stall_action=self.stall_action,
            history_server_url=self.history_server_url,
        )
        hold = _watch.remaining(self.fire_not_before)
        if hold:
            self.log.info(
                "The application ended within seconds of the deferral: holding the event %.1f s"
                " so that Airflow registers the end of the deferring workload first",
                hold,
            )
            await asyncio.sleep(hold)
        yield TriggerEvent(result)  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """The task was killed while deferred (Airflow 3.3+): delete the driver if asked to.

        Deleting the driver pod removes everything the application owns (executors, service,
        config maps) through their owner references.
        """
        if not self.kill_on_task_kill:
            return
        if self.reattach_on_restart:
            state = await self._task_state()
            if state in _LATER_TRY_STARTED:
                self.log.info(
                    "Task killed, but its next try is already %s and adopts driver pod %s/%s:"
                    " leaving it running",
                    state,
                    self.namespace,
                    self.driver_pod,
                )
                return
        self.log.info("Task killed: deleting driver pod %s/%s", self.namespace, self.driver_pod)
        handle = await self._attach()
        await handle.kill_async()

    async def _task_state(self) -> str | None:
        """The state of this trigger's task instance now, through Airflow 3's Task SDK, or None
        when it cannot be known (no task instance, Airflow 2)."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
            from asgiref.sync import sync_to_async
        except ImportError:
            return None
        map_index = getattr(ti, "map_index", -1)
        try:
            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, map_index=map_index, task_ids=[ti.task_id], run_ids=[ti.run_id]
            )
        except Exception as e:
            self.log.warning("Could not read the state of the task: %s", e)
            return None
        key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
        state = (states or {}).get(ti.run_id, {}).get(key)
        return None if state is None else str(state)
