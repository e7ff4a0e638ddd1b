"""The example DAGs: they parse cleanly, render, and run end to end with `airflow dags test`
against kubesim's simulated runtime (outcome annotations switched on with `simulate`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from airflow_harness import AIRFLOW_2

if TYPE_CHECKING:
    from airflow_harness import AirflowCli, Kube

EXAMPLES = {
    "spark_pi",
    "spark_pi_submit_then_sensor",
    "spark_streaming",
    "spark_dynamic_allocation",
    "spark_mapped",
    "spark_s3_etl",
    "spark_function",
    "spark_connect_session",
}
SIMULATE = {"simulate": True}


def _json(output: str) -> Any:
    """The JSON document an `airflow ... -o json` command printed (after any log lines)."""
    for line in reversed(output.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise AssertionError(f"no JSON in:\n{output}")


def test_dags_parse_without_import_errors(airflow_cli: AirflowCli) -> None:
    airflow_cli.run("dags", "reserialize")
    assert _json(airflow_cli.run("dags", "list-import-errors", "-o", "json").stdout) == []
    listed = {d["dag_id"] for d in _json(airflow_cli.run("dags", "list", "-o", "json").stdout)}
    assert listed >= EXAMPLES


def test_s3_etl_renders_with_its_secret_references(airflow_cli: AirflowCli) -> None:
    airflow_cli.run("dags", "reserialize")
    out = airflow_cli.run("tasks", "render", "spark_s3_etl", "etl", "2024-03-01").stdout
    assert "s3a://curated/sales_by_category/ds=2024-03-01" in out
    assert "http://minio.minio.svc:9000" in out


def test_s3_etl_compiles_to_pods_reading_credentials_from_a_secret() -> None:
    from airflow_harness import DAGS

    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,unused-ignore]

    import sparkube

    bag = DagBag(dag_folder=str(DAGS / "spark_s3_etl.py"))
    assert bag.import_errors == {}
    dag = bag.dags["spark_s3_etl"]
    task = dag.get_task("etl")
    task.render_template_fields({"params": dag.params.dump(), "ds": "2024-03-01"})
    pod, *rest = sparkube.render(task.build_app("spark"))
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "s3-credentials",
        "key": "access-key",
    }
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]
    (conf_map,) = [o for o in rest if "spark.properties" in o.get("data", {})]
    properties = dict(
        line.replace("\\:", ":").split("=", 1)
        for line in conf_map["data"]["spark.properties"].splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert properties["spark.jars.packages"] == "org.apache.hadoop:hadoop-aws:3.4.1"
    assert properties["spark.hadoop.fs.s3a.endpoint"] == "http://minio.minio.svc:9000"
    assert properties["spark.kubernetes.authenticate.driver.serviceAccountName"] == "spark"
    # The conf spark-submit writes into the config map holds references, not credentials.
    for role in ("driver", "executor"):
        ref = properties[f"spark.kubernetes.{role}.secretKeyRef.AWS_SECRET_ACCESS_KEY"]
        assert ref == "s3-credentials:secret-key"
    assert not any(k.startswith("spark.hadoop.fs.s3a.") and "key" in k for k in properties)


# -- end to end against kubesim --------------------------------------------------------------


@pytest.mark.slow
def test_spark_pi(airflow_k8s: AirflowCli, kube: Kube) -> None:
    run = airflow_k8s.dags_test("spark_pi", SIMULATE)
    assert run.state_of("spark_pi") == "success", run.output
    result = run.xcom("spark_pi")
    assert result["state"] == "Succeeded"
    assert result["exit_code"] == 0
    assert result["app_id"].startswith("spark-")
    assert result["namespace"] == kube.namespace
    assert result["duration_s"] >= 2
    # kubesim's simulated driver has no Spark UI: no figures, so no right-sizing report.
    assert "report" in result
    assert result["report"] is None
    # The extra links, from the provider config's templates.
    app_id = result["app_id"]
    assert result["spark_ui_url"] == f"https://spark.example/proxy/{app_id}/"
    assert run.xcom("spark_pi", key="_link_SparkUILink") == result["spark_ui_url"]
    assert run.xcom("spark_pi", key="_link_SparkHistoryLink") == (
        f"https://history.example/history/{app_id}/1/jobs/"
    )
    assert run.xcom("spark_pi", key="spark_app")["driver_pod"] == result["driver_pod"]
    # The driver log reached the task log, before the task reported the end.
    out = run.output
    assert "[driver] Pi is roughly 3.141640" in out
    assert out.index("[driver] Pi is roughly") < out.index("succeeded")
    # on_finish_action=delete_succeeded: nothing is left.
    assert kube.drivers_left(dag_id="spark_pi", run_id=run.run_id) == []


@pytest.mark.slow
def test_the_drivers_json_termination_message_is_the_result_in_xcom(
    airflow_k8s: AirflowCli,
) -> None:
    simulation = {
        "kubesim.io/run-seconds": "1",
        "kubesim.io/log": "Pi is roughly 3.14",
        "kubesim.io/termination-message": '{"pi": 3.14, "slices": 10}',
    }
    run = airflow_k8s.dags_test("spark_pi", {"simulate": True, "simulation": simulation})
    assert run.state_of("spark_pi") == "success", run.output
    assert run.xcom("spark_pi")["result"] == {"pi": 3.14, "slices": 10}


@pytest.mark.slow
def test_spark_function_result_reaches_the_downstream_task(
    airflow_k8s: AirflowCli, kube: Kube
) -> None:
    run = airflow_k8s.dags_test("spark_function", SIMULATE, logical_date="2024-01-01")
    assert run.state_of("word_lengths") == "success", run.output
    # The upstream task's XCom and the rendered template are the function's arguments.
    assert (
        "The driver calls word_lengths(spark, 'a spark job on kubernetes in cluster mode', "
        "day='2024-01-01')"
    ) in run.output
    # The driver's termination message (kubesim's stands in for the function) is the XCom...
    assert run.xcom("word_lengths") == {
        "day": "2024-01-01",
        "words": 8,
        "by_length": {"1": 1, "2": 2, "3": 1, "4": 1, "5": 1, "7": 1, "10": 1},
    }
    assert run.xcom("word_lengths", key="spark_app")["app_id"].startswith("spark-")
    # ...that the downstream task received.
    assert run.state_of("report") == "success", run.output
    assert run.xcom("report") == "2024-01-01: 8 words, the longest 10 letters long"
    assert kube.drivers_left(dag_id="spark_function", run_id=run.run_id) == []


@pytest.mark.slow
def test_spark_pi_failure_reports_exit_code_and_last_log_lines(
    airflow_k8s: AirflowCli, kube: Kube
) -> None:
    simulation = {
        "kubesim.io/run-seconds": "1",
        "kubesim.io/exit-code": "2",
        "kubesim.io/log": "Traceback (most recent call last):\nZeroDivisionError: division by zero",
    }
    run = airflow_k8s.dags_test("spark_pi", {"simulate": True, "simulation": simulation})
    assert run.state_of("spark_pi") == "failed", run.output
    assert "exit code 2" in run.output
    assert "Last lines of the driver log:\nTraceback (most recent call last):" in run.output
    # A failed driver is kept for inspection (delete_succeeded).
    (pod,) = kube.drivers(dag_id="spark_pi", run_id=run.run_id)
    assert pod.status.phase == "Failed"


@pytest.mark.slow
def test_submit_then_deferrable_sensor(airflow_k8s: AirflowCli) -> None:
    run = airflow_k8s.dags_test("spark_pi_submit_then_sensor", SIMULATE)
    assert run.state_of("submit") == "success", run.output
    assert run.state_of("wait") == "success", run.output
    submitted, finished = run.xcom("submit"), run.xcom("wait")
    assert submitted["state"] in {"Submitted", "Pending", "Running"}
    assert submitted["exit_code"] is None
    assert finished["state"] == "Succeeded"
    assert finished["driver_pod"] == submitted["driver_pod"]
    assert finished["app_id"] == submitted["app_id"]
    # Airflow 2's `dags test` runs the trigger inline without its log handler: the trigger's
    # lines reach the task log only in a real triggerer there.
    assert AIRFLOW_2 or "[driver] Pi is roughly 3.141640" in run.output


@pytest.mark.slow
def test_streaming_app_is_stopped_by_its_timeout_and_deleted(
    airflow_k8s: AirflowCli, kube: Kube
) -> None:
    run = airflow_k8s.dags_test("spark_streaming", SIMULATE)
    assert run.state_of("rate_to_console") == "success", run.output
    result = run.xcom("rate_to_console")
    assert result["state"] in {"Running", "Deleted"}
    assert "Stopped after its timeout" in run.output
    assert "[driver] Batch: 1" in run.output
    assert kube.drivers_left(dag_id="spark_streaming", run_id=run.run_id) == []


@pytest.mark.slow
def test_dynamic_allocation(airflow_k8s: AirflowCli) -> None:
    run = airflow_k8s.dags_test("spark_dynamic_allocation", SIMULATE)
    assert run.state_of("spark_pi_dynamic") == "success", run.output
    result = run.xcom("spark_pi_dynamic")
    assert result["state"] == "Succeeded"
    # The app= form: the spec's name, and its rendered annotations (the simulation) applied.
    assert result["driver_pod"].startswith("spark-pi-dynamic-")
    assert "Requesting 2 new executors because tasks are backlogged" in run.output


@pytest.mark.slow
def test_mapped_over_days(airflow_k8s: AirflowCli, kube: Kube) -> None:
    run = airflow_k8s.dags_test("spark_mapped", {**SIMULATE, "days": 3}, logical_date="2024-03-04")
    assert run.state_of("days_to_process") == "success", run.output
    results = [run.xcom("daily_count", map_index=i) for i in range(3)]
    assert [run.state_of("daily_count", i) for i in range(3)] == ["success"] * 3, run.output
    assert len({r["driver_pod"] for r in results}) == 3
    assert all(r["state"] == "Succeeded" for r in results)
    assert run.state_of("daily_count", 3) is None
    # The script beside the DAG shipped with each submission.
    assert run.output.count("apps/daily_count.py (") >= 3, run.output


@pytest.mark.slow
@pytest.mark.timeout(600)  # six tasks one after the other: over 300 s on a loaded machine
def test_failures_fail_the_task_with_the_reason_and_clean_up(
    airflow_k8s: AirflowCli, kube: Kube
) -> None:
    run = airflow_k8s.dags_test("sparkube_test_failures", timeout=540)
    for suffix in ("", "_deferred"):
        for task in ("exit_code", "image_pull", "unschedulable"):
            assert run.state_of(task + suffix) == "failed", (task + suffix, run.output)
        # Drivers that never started are deleted; the one that ran and failed is kept.
        assert kube.drivers_left(run_id=run.run_id, task_id="image_pull" + suffix) == []
        assert kube.drivers_left(run_id=run.run_id, task_id="unschedulable" + suffix) == []
        assert len(kube.drivers(run_id=run.run_id, task_id="exit_code" + suffix)) == 1
    assert "ValueError: the input is empty" in run.output
    assert "ErrImagePull" in run.output or "ImagePullBackOff" in run.output
    assert "Unschedulable" in run.output


@pytest.mark.slow
def test_sensor_soft_fail_skips_and_hard_failure_fails(airflow_k8s: AirflowCli) -> None:
    run = airflow_k8s.dags_test("sparkube_test_sensor")
    assert run.state_of("submit") == "success", run.output
    for task in ("soft_poke", "soft_reschedule", "soft_deferred", "soft_deferred_late"):
        assert run.state_of(task) == "skipped", (task, run.output)
    assert run.state_of("hard_deferred") == "failed", run.output


@pytest.mark.slow
def test_task_killed_mid_wait_then_run_again_adopts_the_driver(
    airflow_k8s: AirflowCli, kube: Kube
) -> None:
    """The process running the task dies (SIGKILL) while the driver runs; running the same task
    instance again adopts that driver instead of submitting another one."""
    import os
    import signal
    import time

    # The driver must still run when `airflow tasks test` attaches (finished drivers are never
    # adopted): on a loaded 2-core machine, starting that command alone took over 40 s.
    simulation = {"kubesim.io/run-seconds": "90", "kubesim.io/log": "Pi is roughly 3.141640"}
    conf = {"simulate": True, "simulation": simulation}
    proc = airflow_k8s.popen(*airflow_k8s.dags_test_args("spark_pi", conf, "2024-05-01"))
    run_id = None
    try:
        deadline = time.monotonic() + 120
        while run_id is None or not kube.drivers(dag_id="spark_pi", run_id=run_id):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no driver was submitted"
            time.sleep(0.5)
            run_id = run_id or airflow_k8s.run_id_at("spark_pi", "2024-05-01")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    (first,) = kube.drivers(dag_id="spark_pi", run_id=run_id)
    assert first.status.phase in {"Pending", "Running"}

    out = airflow_k8s.run("tasks", "test", "spark_pi", "spark_pi", run_id, timeout=180).stdout
    assert f"Adopting running driver {kube.namespace}/{first.metadata.name}" in out
    assert "succeeded" in out
    # One driver in all, deleted after its success.
    assert kube.drivers_left(dag_id="spark_pi", run_id=run_id) == []
