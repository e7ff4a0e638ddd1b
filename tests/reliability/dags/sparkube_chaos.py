"""The DAGs of tests/reliability/test_airflow_chaos.py, run there by a real scheduler
(LocalExecutor) and triggerer on kubesim's simulated runtime.

Each DAG runs one SparkAppOperator, in the worker or deferred. Its driver runs `run_seconds`
on the first try and `retry_run_seconds` on later ones (params), takes `termination_seconds`
to stop after SIGTERM, and keeps its pod when it ends (`on_finish_action="keep"`), so that the
tests can count the drivers of a task instance afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from sparkube.airflow import SparkAppOperator

PI = "local:///opt/spark/examples/src/main/python/pi.py"
SIMULATION = {
    "kubesim.io/run-seconds": (
        "{{ params.run_seconds if ti.try_number == 1 else params.retry_run_seconds }}"
    ),
    "kubesim.io/termination-seconds": "{{ params.termination_seconds }}",
    "kubesim.io/exit-code": "0",
    "kubesim.io/log": "Pi is roughly 3.141640",
}

for dag_id, deferrable in [("sparkube_chaos_worker", False), ("sparkube_chaos_deferred", True)]:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        params={
            "run_seconds": Param(20, type="integer", minimum=0),
            "retry_run_seconds": Param(3, type="integer", minimum=0),
            "termination_seconds": Param(0, type="integer", minimum=0),
        },
        default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    ):
        SparkAppOperator(
            task_id="pi",
            application=PI,
            image="apache/spark:4.0.1",
            conf={"spark.kubernetes.driver.request.cores": "100m"},
            annotations=SIMULATION,
            get_logs=True,
            progress_interval=None,
            on_finish_action="keep",
            deferrable=deferrable,
        )
