"""SparkAppSensor on a failing application: with soft_fail the sensor is skipped, in poke,
reschedule and deferrable modes (deferring, or finding the application already ended);
without it, it fails."""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG

from sparkube.airflow import SparkAppOperator, SparkAppSensor

with DAG(
    dag_id="sparkube_test_sensor",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 0, "image": "apache/spark:4.0.1"},
):
    submit = SparkAppOperator(
        task_id="submit",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        annotations={"kubesim.io/run-seconds": "2", "kubesim.io/exit-code": "1"},
        wait_for_completion=False,
    )
    pod = "{{ ti.xcom_pull(task_ids='submit')['driver_pod'] }}"
    app_id = "{{ ti.xcom_pull(task_ids='submit')['app_id'] }}"
    for mode in ("poke", "reschedule"):
        submit >> SparkAppSensor(
            task_id=f"soft_{mode}", driver_pod=pod, mode=mode, poke_interval=1, soft_fail=True
        )
    soft = SparkAppSensor(task_id="soft_deferred", app_id=app_id, deferrable=True, soft_fail=True)
    hard = SparkAppSensor(task_id="hard_deferred", driver_pod=pod, deferrable=True)
    # Runs once everything else is done, so the application has surely ended by then.
    late = SparkAppSensor(
        task_id="soft_deferred_late",
        driver_pod=pod,
        deferrable=True,
        soft_fail=True,
        trigger_rule="all_done",
    )
    submit >> [soft, hard] >> late
