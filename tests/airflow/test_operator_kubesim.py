"""SparkAppOperator and SparkAppSensor pieces against kubesim, in this process: submitting with
task identity, adopting a running driver on retry (and not a finished one), `on_kill`, and the
sensor's pokes. The full task runs are in test_dags.py."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from airflow_harness import IMAGE, SMALL_DRIVER

from sparkube.airflow._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    PokeReturnValue,
)
from sparkube.airflow.operators import SparkAppOperator
from sparkube.airflow.sensors import SparkAppSensor
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_harness import Kube

    import sparkube
    from tests.conftest import S3Server

pytestmark = pytest.mark.slow

PI = "local:///opt/spark/examples/src/main/python/pi.py"


@dataclass
class TaskInstance:
    """The task-instance fields the operator reads, and a record of its XComs."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(ti: TaskInstance) -> Any:
    return {"ti": ti}


def operator(run_seconds: str = "3600", **kwargs: Any) -> SparkAppOperator:
    return SparkAppOperator(
        task_id="load",
        application=PI,
        image=IMAGE,
        conf=SMALL_DRIVER,
        annotations={"kubesim.io/run-seconds": run_seconds},
        **kwargs,
    )


def wait_state(handle: sparkube.SparkAppHandle, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while handle.status().state.value != state:
        assert time.monotonic() < deadline, f"{handle.driver_pod} never reached {state}"
        time.sleep(0.2)


def test_driver_carries_the_task_identity(kube_conn: Kube) -> None:
    ti = TaskInstance("etl", "load", "manual__2024-01-01T00:00:00+00:00", map_index=4, try_number=2)
    handle = operator().submit(context(ti))
    try:
        (pod,) = kube_conn.drivers(dag_id="etl", run_id=ti.run_id, map_index="4")
        assert pod.metadata.name == handle.driver_pod
        assert pod.metadata.labels["sparkube.io/try-number"] == "2"
        assert pod.metadata.annotations["sparkube.io/run-id"] == ti.run_id
        assert pod.metadata.annotations["kubesim.io/run-seconds"] == "3600"
    finally:
        handle.kill()


def test_retry_adopts_the_running_driver_and_not_a_finished_one(kube_conn: Kube) -> None:
    run_id = f"manual__{time.time()}"
    first = operator(run_seconds="3").submit(context(TaskInstance("etl", "load", run_id)))
    wait_state(first, "Running")
    retry = operator(run_seconds="3").submit(
        context(TaskInstance("etl", "load", run_id, try_number=2))
    )
    assert retry.driver_pod == first.driver_pod
    assert len(kube_conn.drivers(dag_id="etl", run_id=run_id)) == 1
    # Another map index of the same task is another task instance.
    other = operator(run_seconds="3").submit(
        context(TaskInstance("etl", "load", run_id, map_index=0))
    )
    assert other.driver_pod != first.driver_pod
    # Once finished, a driver is not adopted: the next try submits again.
    wait_state(first, "Succeeded")
    third = operator().submit(context(TaskInstance("etl", "load", run_id, try_number=3)))
    try:
        assert third.driver_pod != first.driver_pod
        assert len(kube_conn.drivers(dag_id="etl", run_id=run_id, map_index="none")) == 2
    finally:
        third.kill()
        other.kill()


def test_retry_does_not_adopt_a_driver_being_deleted(kube_conn: Kube) -> None:
    """A driver killed by an earlier try (cleared, marked failed) may take a while to stop: the
    next try submits its own instead of adopting one that will not finish."""
    slow_to_stop = {"kubesim.io/run-seconds": "3600", "kubesim.io/termination-seconds": "30"}
    task = SparkAppOperator(
        task_id="load", application=PI, image=IMAGE, conf=SMALL_DRIVER, annotations=slow_to_stop
    )
    run_id = f"manual__{time.time()}"
    first = task.submit(context(TaskInstance("etl", "load", run_id)))
    wait_state(first, "Running")
    first.kill()
    assert first.status().reason == "Terminating"
    retry = operator(run_seconds="3").submit(
        context(TaskInstance("etl", "load", run_id, try_number=2))
    )
    try:
        assert retry.driver_pod != first.driver_pod
        assert first.status().state.value == "Running"  # still stopping
    finally:
        retry.kill()
        first.kill(grace_period=0)


def test_reattach_can_be_turned_off(kube_conn: Kube) -> None:
    run_id = f"manual__{time.time()}"
    first = operator().submit(context(TaskInstance("etl", "load", run_id)))
    second = operator(reattach_on_restart=False).submit(
        context(TaskInstance("etl", "load", run_id, try_number=2))
    )
    try:
        assert second.driver_pod != first.driver_pod
    finally:
        first.kill()
        second.kill()


def test_on_kill_deletes_the_driver(kube_conn: Kube) -> None:
    task = operator()
    ti = TaskInstance("etl", "load", f"manual__{time.time()}")
    task._handle = task.submit(context(ti))
    task.on_kill()
    deadline = time.monotonic() + 30
    while kube_conn.drivers(dag_id="etl", run_id=ti.run_id):
        assert time.monotonic() < deadline, "the driver was not deleted"
        time.sleep(0.2)


def test_finish_applies_on_finish_action(kube_conn: Kube) -> None:
    for action, run_seconds, status, kept in [
        ("delete_succeeded", "0", "success", False),
        ("keep", "0", "success", True),
    ]:
        task = operator(run_seconds=run_seconds, on_finish_action=action)
        ti = TaskInstance("etl", "load", f"manual__{time.time()}")
        handle = task.submit(context(ti))
        wait_state(handle, "Succeeded")
        result = task.finish(
            {
                "status": status,
                "message": "done",
                "namespace": handle.namespace,
                "driver_pod": handle.driver_pod,
                "app": handle.status().to_dict(),
            }
        )
        assert result["state"] == "Succeeded"
        time.sleep(1)
        assert bool(kube_conn.drivers(dag_id="etl", run_id=ti.run_id)) is kept, action


def test_sensor_pokes(kube_conn: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkube import Client, SparkApp

    client = Client(kubeconfig=kube_conn.kubeconfig)

    def app(name: str, exit_code: str) -> sparkube.SparkAppHandle:
        annotations = {
            "kubesim.io/run-seconds": "2",
            "kubesim.io/exit-code": exit_code,
            "kubesim.io/log": "Pi is roughly 3.14",
        }
        app = SparkApp(
            name=name, application=PI, image=IMAGE, conf=SMALL_DRIVER, annotations=annotations
        )
        return client.submit(app)

    good, bad = app("sensor-ok", "0"), app("sensor-bad", "5")
    by_pod = SparkAppSensor(task_id="by_pod", driver_pod=good.driver_pod)
    by_id = SparkAppSensor(task_id="by_id", app_id=good.app_id)
    assert by_pod.poke({}) is False
    wait_state(good, "Succeeded")
    for sensor in (by_pod, by_id):
        done = sensor.poke({})
        assert isinstance(done, PokeReturnValue)
        assert done.xcom_value["state"] == "Succeeded"
        assert done.xcom_value["driver_pod"] == good.driver_pod
    wait_state(bad, "Failed")
    with pytest.raises(AirflowFailException, match="exit code 5"):
        SparkAppSensor(task_id="bad", driver_pod=bad.driver_pod).poke({})
    # Deferrable, finding the application already ended: fails, or skips with soft_fail.
    with pytest.raises(AirflowFailException, match="exit code 5"):
        SparkAppSensor(task_id="d", driver_pod=bad.driver_pod, deferrable=True).execute({})
    with pytest.raises(AirflowSkipException):
        SparkAppSensor(
            task_id="s", driver_pod=bad.driver_pod, deferrable=True, soft_fail=True
        ).execute({})
    done = SparkAppSensor(task_id="ok", app_id=good.app_id, deferrable=True).execute({})
    assert done["state"] == "Succeeded"
    # With get_logs, the driver log of an application that had ended is written at once.
    written: list[str] = []
    recorder = SimpleNamespace(
        info=lambda msg, *args: written.append(msg % args),
        warning=lambda msg, *args: written.append(msg % args),
    )
    monkeypatch.setattr(SparkAppSensor, "log", property(lambda _: recorder))
    sensor = SparkAppSensor(task_id="log", app_id=good.app_id, deferrable=True, get_logs=True)
    assert sensor.execute({})["state"] == "Succeeded"
    assert "[driver] Pi is roughly 3.14" in written
    with pytest.raises(AirflowFailException, match="does not exist"):
        SparkAppSensor(task_id="missing", driver_pod="no-such-driver").poke({})


def test_a_deferred_task_killed_while_no_triggerer_runs_leaves_the_driver_to_its_next_try(
    kube_conn: Kube,
) -> None:
    """Marked failed or cleared while deferred with no triggerer running, a task has no process
    to tell: no worker runs it (so no `on_kill`) and no triggerer runs its trigger (Airflow 3.3
    calls a trigger's `on_kill` only in a running triggerer; one started later never loads the
    trigger of a task that is no longer deferred). The driver runs on; the next try of a cleared
    task adopts it instead of submitting a second one. (README, "Airflow versions".)"""
    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # Airflow < 3.2
        from airflow.exceptions import TaskDeferred

    run_id = f"manual__{time.time()}"
    first = operator(deferrable=True)
    with pytest.raises(TaskDeferred):
        first.execute(context(TaskInstance("etl", "load", run_id)))
    handle = first._handle
    assert handle is not None
    wait_state(handle, "Running")
    # The task is killed now: nothing in Airflow reaches sparkube, and the driver runs on.
    retry = operator(deferrable=True)
    try:
        with pytest.raises(TaskDeferred):
            retry.execute(context(TaskInstance("etl", "load", run_id, try_number=2)))
        assert retry._handle is not None
        assert retry._handle.driver_pod == handle.driver_pod
        assert len(kube_conn.drivers(dag_id="etl", run_id=run_id)) == 1
        assert handle.status().state.value == "Running"
    finally:
        handle.kill()


def test_deferral_timeout_deletes_the_driver(kube_conn: Kube) -> None:
    """`execution_timeout` passing while deferred resumes the task with `__fail__`: the driver
    of the task instance is deleted too, not left running."""
    try:
        from airflow.sdk.exceptions import TaskDeferralTimeout
    except ImportError:
        try:  # Airflow 3.0, 3.1
            from airflow.exceptions import TaskDeferralTimeout
        except ImportError:  # Airflow 2: the same resumption raises TaskDeferralError
            from airflow.exceptions import TaskDeferralError as TaskDeferralTimeout

    task = operator()
    ti = TaskInstance("etl", "load", f"manual__{time.time()}")
    handle = task.submit(context(ti))
    wait_state(handle, "Running")
    with pytest.raises(TaskDeferralTimeout):
        operator().resume_execution("__fail__", {"error": "Trigger timeout"}, context(ti))
    deadline = time.monotonic() + 30
    while kube_conn.drivers(dag_id="etl", run_id=ti.run_id):
        assert time.monotonic() < deadline, "the driver was not deleted"
        time.sleep(0.2)


def test_preflight_fails_the_task_before_anything_is_created(kube_conn: Kube) -> None:
    ns = f"pf-{int(time.time() * 1000)}"
    status, body = kube_conn.sim.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    quota = {"metadata": {"name": "compute"}, "spec": {"hard": {"requests.cpu": "4"}}}
    status, body = kube_conn.sim.request("POST", f"/api/v1/namespaces/{ns}/resourcequotas", quota)
    assert status == 201, body
    task = operator(namespace=ns, executor_instances=5, executor_cores=2, preflight=True)
    with pytest.raises(AirflowException) as failed:
        task.submit(context(TaskInstance("etl", "load", f"manual__{time.time()}")))
    assert str(failed.value).startswith(
        "Preflight failed, nothing was submitted: ResourceQuota compute: driver fits; "
        "5 executors need 10 CPU (requests.cpu)"
    )
    status, pods = kube_conn.sim.request("GET", f"/api/v1/namespaces/{ns}/pods")
    assert status == 200
    assert pods["items"] == []


def test_aws_connection_uploads_the_dag_folder_script(
    kube_conn: Kube, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The script beside the DAG goes to the S3 server with the credentials of an Airflow AWS
    # connection (login, password, endpoint_url); the conf given names none of them.
    bucket = f"airflow-{int(time.time() * 1000)}"
    s3_server.create_bucket(bucket)
    monkeypatch.setenv(
        "AIRFLOW_CONN_S3_UPLOADS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": S3_ACCESS_KEY,
                "password": S3_SECRET_KEY,
                "extra": {"endpoint_url": s3_server.endpoint},
            }
        ),
    )
    (tmp_path / "job.py").write_text("print('from the DAG folder')\n")
    op = SparkAppOperator(
        task_id="upload",
        application="job.py",
        image=IMAGE,
        conf={**SMALL_DRIVER, "spark.kubernetes.file.upload.path": f"s3a://{bucket}/dags"},
        annotations={"kubesim.io/run-seconds": "1"},
        aws_conn_id="s3_uploads",
        wait_for_completion=False,
    )
    masked: list[str] = []
    monkeypatch.setattr("sparkube.airflow._secrets.mask", lambda values: masked.extend(values))
    ti = TaskInstance("dag", "upload", "run-aws")
    ctx = {"ti": ti, "dag": type("Dag", (), {"fileloc": str(tmp_path / "dag.py")})()}
    op.execute(ctx)
    (key,) = s3_server.keys(bucket)
    assert key.startswith("dags/spark-upload-")
    assert key.endswith("/job.py")
    assert S3_SECRET_KEY in masked
    assert S3_ACCESS_KEY in masked
