"""Failure semantics of SparkAppOperator, on kubesim's simulated runtime: every task fails, each
for its own reason, in the worker and deferred."""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG

from sparkube.airflow import SparkAppOperator

PI = "local:///opt/spark/examples/src/main/python/pi.py"
FAILING = {
    "kubesim.io/run-seconds": "1",
    "kubesim.io/exit-code": "3",
    "kubesim.io/log": "Traceback (most recent call last):\nValueError: the input is empty",
}

with DAG(
    dag_id="sparkube_test_failures",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 0, "image": "apache/spark:4.0.1"},
):
    for deferrable in (False, True):
        suffix = "_deferred" if deferrable else ""
        SparkAppOperator(
            task_id=f"exit_code{suffix}",
            application=PI,
            annotations=FAILING,
            deferrable=deferrable,
        )
        SparkAppOperator(
            task_id=f"image_pull{suffix}",
            application=PI,
            image="registry.example.com/does-not-exist:1.0",
            startup_timeout=120,
            deferrable=deferrable,
        )
        SparkAppOperator(
            task_id=f"unschedulable{suffix}",
            application=PI,
            node_selector={"kubernetes.io/hostname": "no-such-node"},
            startup_timeout=3,
            deferrable=deferrable,
        )
