"""OpenLineage through SparkAppOperator: the parent-job and transport conf injected as the
`[openlineage] spark_inject_*` settings ask (typed, deferred) or as the parameters override them
(spark-submit arguments, in the worker); drivers kept for the test to read their conf."""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG

from sparkube.airflow import SparkAppOperator

PI = "local:///opt/spark/examples/src/main/python/pi.py"
QUICK = {"kubesim.io/run-seconds": "1", "kubesim.io/log": "Pi is roughly 3.14"}

with DAG(
    dag_id="sparkube_test_openlineage",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 0},
):
    SparkAppOperator(
        task_id="typed",
        application=PI,
        image="apache/spark:4.0.1",
        annotations=QUICK,
        conf={"spark.kubernetes.driver.request.cores": "100m"},
        deferrable=True,
        on_finish_action="keep",
    )
    SparkAppOperator(
        task_id="args",
        spark_submit_args=[
            "--conf", "spark.kubernetes.container.image=apache/spark:4.0.1",
            "--conf", "spark.kubernetes.driver.request.cores=100m",
            *("--conf", "spark.kubernetes.driver.annotation.kubesim.io/run-seconds=1"),
            PI,
        ],
        openlineage_inject_transport_info=False,
        deferrable=False,
        on_finish_action="keep",
    )  # fmt: skip
