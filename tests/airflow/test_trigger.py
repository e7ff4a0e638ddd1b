"""`SparkAppTrigger` against kubesim: the events it fires, killing on task kill while deferred
(through Airflow's own triggerer code path), resuming after a triggerer restart, and one shared
watch for many triggers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import pytest
from airflow_harness import IMAGE, SMALL_DRIVER

from sparkube.airflow._compat import TRIGGER_ON_KILL
from sparkube.airflow._watch import LOG_CURSOR_ANNOTATION
from sparkube.airflow.triggers import SparkAppTrigger

if TYPE_CHECKING:
    from airflow_harness import Kube

    import sparkube

pytestmark = pytest.mark.slow

PI = "local:///opt/spark/examples/src/main/python/pi.py"


def submit(kube: Kube, name: str, **annotations: str) -> sparkube.SparkAppHandle:
    from sparkube import Client, SparkApp

    app = SparkApp(
        name=name,
        application=PI,
        image=IMAGE,
        conf=SMALL_DRIVER,
        namespace=kube.namespace,
        annotations={f"kubesim.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
    )
    return Client(kubeconfig=kube.kubeconfig).submit(app)


def trigger_for(handle: sparkube.SparkAppHandle, **kwargs: Any) -> SparkAppTrigger:
    return SparkAppTrigger(namespace=handle.namespace, driver_pod=handle.driver_pod, **kwargs)


async def first_event(trigger: SparkAppTrigger, timeout: float = 60) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return await asyncio.wait_for(first(), timeout)


def driver_exists(kube: Kube, handle: sparkube.SparkAppHandle) -> bool:
    return any(p.metadata.name == handle.driver_pod for p in kube.pods("spark-role=driver"))


def gone(kube: Kube, handle: sparkube.SparkAppHandle, timeout: float = 60) -> bool:
    """Whether the driver pod disappears in time (deletion runs through its 30 s grace period)."""
    deadline = time.monotonic() + timeout
    while driver_exists(kube, handle):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


async def until_running(handle: sparkube.SparkAppHandle, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (await handle.status_async()).state.value != "Running":
        assert time.monotonic() < deadline, "the driver did not start"
        await asyncio.sleep(0.2)


def test_success_event_carries_the_final_status(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-ok", run_seconds="1", exit_code="0", log="a\nb")
    event = asyncio.run(first_event(trigger_for(handle, get_logs=True)))
    assert event["status"] == "success"
    assert (event["namespace"], event["driver_pod"]) == (handle.namespace, handle.driver_pod)
    assert event["app"]["state"] == "Succeeded"
    assert event["app"]["exit_code"] == 0
    assert event["app"]["app_id"] == handle.app_id


def test_failure_event_carries_exit_code_and_log_tail(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-fail", run_seconds="1", exit_code="4", log="x\nboom")
    event = asyncio.run(first_event(trigger_for(handle)))
    assert event["status"] == "failed"
    assert event["app"]["exit_code"] == 4
    assert event["app"]["last_log_lines"][-1] == "boom"
    assert driver_exists(kube_conn, handle)


def test_deadline_deletes_the_driver(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-deadline", run_seconds="3600")
    event = asyncio.run(first_event(trigger_for(handle, deadline=time.time() + 2)))
    assert event["status"] == "timeout"
    assert gone(kube_conn, handle)


def test_startup_deadline_deletes_the_driver(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-start", run_seconds="1", start_delay_seconds="600")
    event = asyncio.run(first_event(trigger_for(handle, startup_deadline=time.time() + 2)))
    assert event["status"] == "startup_timeout"
    assert gone(kube_conn, handle)


def test_driver_deleted_before_the_trigger_runs_fails(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-gone", run_seconds="3600")
    handle.kill(wait=True)
    event = asyncio.run(first_event(trigger_for(handle)))
    assert event["status"] == "failed"


def test_driver_deleted_while_waiting_fails(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-deleted", run_seconds="3600")

    async def scenario() -> dict[str, Any]:
        trigger = trigger_for(handle)
        waiting = asyncio.ensure_future(first_event(trigger))
        await until_running(handle)
        # Deleted once the trigger tracks the driver (deleted before, it is not found: the
        # event then says it cannot be tracked, without the final status).
        while trigger._handle is None:
            await asyncio.sleep(0.05)
        await handle.kill_async()
        return await waiting

    event = asyncio.run(scenario())
    assert event["status"] == "failed"
    assert event["app"]["state"] == "Deleted"


async def _run_in_triggerer(
    trigger: SparkAppTrigger, handle: sparkube.SparkAppHandle, *, user_action: bool
) -> None:
    """Runs the trigger in Airflow's TriggerRunner, then cancels it as the triggerer does on a
    user action (mark failed/success, clear) or on shutdown."""
    if not TRIGGER_ON_KILL:
        # Airflow < 3.3: stopping the triggerer cancels the trigger's task, and nothing else.
        assert not user_action, "Airflow < 3.3 never calls a trigger's on_kill"
        waiting = asyncio.ensure_future(first_event(trigger))
        await until_running(handle)
        while trigger._handle is None:
            await asyncio.sleep(0.05)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        return
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    task = asyncio.ensure_future(runner.run_trigger(1, trigger))
    runner.triggers[1] = {"task": task, "name": "sparkube-test", "events": 0, "is_watcher": False}
    await until_running(handle)
    # Cancel only once the trigger is inside its run() (it has attached to the driver), as the
    # triggerer does: cancelled before, the TriggerRunner has nothing to call on_kill on.
    while trigger._handle is None:
        await asyncio.sleep(0.05)
    if user_action:
        runner.to_cancel.append(1)
        await runner.cancel_triggers()
    else:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.skipif(not TRIGGER_ON_KILL, reason="Airflow < 3.3 never calls a trigger's on_kill")
def test_task_killed_while_deferred_deletes_the_driver(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-kill", run_seconds="3600")
    trigger = trigger_for(handle, kill_on_task_kill=True)
    asyncio.run(_run_in_triggerer(trigger, handle, user_action=True))
    assert gone(kube_conn, handle)


@pytest.mark.skipif(not TRIGGER_ON_KILL, reason="Airflow < 3.3 never calls a trigger's on_kill")
@pytest.mark.parametrize(
    ("state", "deleted"), [("running", False), ("deferred", False), ("failed", True), (None, True)]
)
def test_task_killed_while_deferred_leaves_the_driver_to_a_next_try_that_started(
    kube_conn: Kube, monkeypatch: pytest.MonkeyPatch, state: str | None, deleted: bool
) -> None:
    """Clearing a deferred task lets Airflow start the next try, which adopts the driver, before
    the triggerer cancels the old trigger: `on_kill` then leaves the driver to that try. Marked
    failed (or cleared, next try not started yet), the driver is deleted."""
    import uuid
    from types import SimpleNamespace

    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    asked: list[dict[str, Any]] = []

    def get_task_states(**query: Any) -> dict[str, Any]:
        asked.append(query)
        return {"run-1": {"load": state}}

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
    handle = submit(kube_conn, f"trig-cleared-{state}", run_seconds="3600")
    trigger = trigger_for(handle, kill_on_task_kill=True, reattach_on_restart=True)
    # The fields of the task instance the triggerer gives a trigger that it reads.
    trigger.task_instance = SimpleNamespace(  # type: ignore[assignment]
        id=uuid.uuid4(),
        dag_id="etl",
        task_id="load",
        run_id="run-1",
        map_index=-1,
        try_number=1,
        context_carrier=None,
    )
    asyncio.run(_run_in_triggerer(trigger, handle, user_action=True))
    assert asked == [{"dag_id": "etl", "map_index": -1, "task_ids": ["load"], "run_ids": ["run-1"]}]
    if deleted:
        assert gone(kube_conn, handle)
    else:
        time.sleep(1)
        assert driver_exists(kube_conn, handle)
        handle.kill()


@pytest.mark.skipif(not TRIGGER_ON_KILL, reason="Airflow < 3.3 never calls a trigger's on_kill")
def test_sensor_trigger_leaves_the_driver_on_task_kill(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-sensor", run_seconds="3600")
    asyncio.run(_run_in_triggerer(trigger_for(handle), handle, user_action=True))
    assert driver_exists(kube_conn, handle)
    handle.kill()


def test_trigger_resumes_after_a_triggerer_restart(kube_conn: Kube) -> None:
    handle = submit(kube_conn, "trig-restart", run_seconds="6", exit_code="0")
    kwargs = trigger_for(handle, kill_on_task_kill=True, deadline=time.time() + 120).serialize()[1]
    # The triggerer stops (no user action): the driver keeps running ...
    asyncio.run(_run_in_triggerer(SparkAppTrigger(**kwargs), handle, user_action=False))
    assert driver_exists(kube_conn, handle)

    # ... and the same trigger, recreated from its serialized kwargs, sees it to the end; running
    # it twice at once is harmless.
    async def twice() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                first_event(SparkAppTrigger(**kwargs)), first_event(SparkAppTrigger(**kwargs))
            )
        )

    events = asyncio.run(twice())
    assert [e["status"] for e in events] == ["success", "success"]


def test_an_application_ending_at_once_fires_no_sooner_than_fire_not_before(
    kube_conn: Kube,
) -> None:
    """The operator holds the event of an application that ends within seconds of the deferral
    until Airflow has registered the deferring workload's end (tests/reliability/README.md)."""
    handle = submit(kube_conn, "trig-quick", run_seconds="0", exit_code="0")
    not_before = time.time() + 3
    event = asyncio.run(first_event(trigger_for(handle, fire_not_before=not_before)))
    assert time.time() >= not_before
    assert event["status"] == "success"
    # Resumed after that moment (a triggerer restart), nothing is held back.
    started = time.monotonic()
    asyncio.run(first_event(trigger_for(handle, fire_not_before=not_before)))
    assert time.monotonic() - started < 3


class Lines:
    """A trigger's logger that keeps the driver lines it is given."""

    def __init__(self) -> None:
        self.driver: list[str] = []
        self.warnings: list[str] = []

    def info(self, msg: str, /, *args: Any) -> None:
        if msg.startswith("[driver]"):
            self.driver.append(msg % args)

    def warning(self, msg: str, /, *args: Any) -> None:
        self.warnings.append(msg % args)


def with_lines(trigger: SparkAppTrigger) -> tuple[SparkAppTrigger, Lines]:
    lines = Lines()
    trigger._log = lines  # LoggingMixin's logger, on every Airflow version
    return trigger, lines


def test_driver_log_after_a_triggerer_restart_resumes_after_the_last_line_written(
    kube_conn: Kube,
) -> None:
    """A triggerer restart: Airflow builds the new trigger from the deferral's arguments, and
    it resumes the driver log after the last line the stopped one wrote (its kubelet timestamp
    and the count of lines written with it, kept on the driver pod and read again with
    `sinceSeconds` reaching back to it): no line twice, none lost, and nothing from before the
    deferral."""
    log = "\n".join(f"line {i}" for i in range(1, 11))
    handle = submit(kube_conn, "trig-logs", run_seconds="12", log=log, log_interval_ms="1000")
    asyncio.run(until_running(handle))
    time.sleep(3)  # lines written before the deferral
    kwargs = trigger_for(handle, get_logs=True, logs_since=time.time()).serialize()[1]
    assert kwargs["logs_cursor"] is None

    first, before_restart = with_lines(SparkAppTrigger(**kwargs))

    async def until_cancelled() -> None:
        # Stopped once it has written two lines, as a triggerer restart stops it.
        waiting = asyncio.ensure_future(first_event(first))
        while len(before_restart.driver) < 2:
            assert not waiting.done(), "the first trigger ended early"
            await asyncio.sleep(0.05)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    asyncio.run(until_cancelled())
    (pod,) = [
        p for p in kube_conn.pods("spark-role=driver") if p.metadata.name == handle.driver_pod
    ]
    assert LOG_CURSOR_ANNOTATION in (pod.metadata.annotations or {}), pod.metadata
    second, after_restart = with_lines(SparkAppTrigger(**kwargs))
    assert asyncio.run(first_event(second))["status"] == "success"
    written = before_restart.driver + after_restart.driver
    assert after_restart.driver, "the second trigger wrote nothing"
    # Each line once, in order, through the last one.
    numbers = [int(line.rsplit(" ", 1)[1]) for line in written]
    assert numbers == list(range(numbers[0], 11)), written
    # The deferral came 3 s into the run (a line a second): the first lines are never written
    # (sinceSeconds counts whole seconds, so the line at the boundary may be).
    assert numbers[0] >= 3, written


@pytest.mark.skipif(TRIGGER_ON_KILL, reason="this Airflow calls the trigger's on_kill")
def test_without_on_kill_the_trigger_says_the_driver_outlives_a_kill(
    kube_conn: Kube,
) -> None:
    handle = submit(kube_conn, "trig-nokill", run_seconds="1", exit_code="0")
    trigger, lines = with_lines(trigger_for(handle, kill_on_task_kill=True))
    asyncio.run(first_event(trigger))
    assert any(
        f"leaves driver pod {handle.namespace}/{handle.driver_pod} running" in w
        for w in lines.warnings
    ), lines.warnings


def test_many_triggers_share_one_watch(kube_conn: Kube) -> None:
    """Ten deferred tasks in one triggerer: one watch, no polling loop per task."""
    count = 10
    handles = [submit(kube_conn, f"trig-many-{i}", run_seconds="8") for i in range(count)]
    before = {v: kube_conn.request_count(v, "pods") for v in ("GET", "LIST", "WATCH")}

    async def all_events() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(trigger_for(h)) for h in handles)))

    started = time.monotonic()
    events = asyncio.run(all_events())
    elapsed = time.monotonic() - started
    assert [e["status"] for e in events] == ["success"] * count
    delta = {v: kube_conn.request_count(v, "pods") - n for v, n in before.items()}
    assert elapsed > 6, "the applications ended too early for polling to show"
    # Polling every 2 s, as KubernetesPodTrigger does, would cost 40+ GETs here.
    assert delta["WATCH"] <= 2, delta
    assert delta["GET"] + delta["LIST"] <= 2 * count + 2, delta
