"""Submit, then wait with a sensor: the operator returns as soon as the driver exists, and a
deferrable `SparkAppSensor` waits for the end in the triggerer, freeing the worker slot.

The sensor is templated from the operator's XCom (`driver_pod`, `namespace`). With
`{"simulate": true}` as the run conf, kubesim's simulated runtime decides the outcome from the
`simulation` param (see `spark_pi`).
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from sparkube.airflow import SparkAppOperator, SparkAppSensor

SIMULATION = {
    "kubesim.io/run-seconds": "4",
    "kubesim.io/exit-code": "0",
    "kubesim.io/log": "Pi is roughly 3.141640",
}

with DAG(
    dag_id="spark_pi_submit_then_sensor",
    description="Submit-only operator followed by a deferrable sensor",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "simulate": Param(
            False, type="boolean", description="Add the simulation annotations (kubesim)"
        ),
        "simulation": Param(
            SIMULATION, type="object", description="kubesim.io/* driver annotations"
        ),
    },
):
    submit = SparkAppOperator(
        task_id="submit",
        name="spark-pi",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        arguments=["10"],
        image="{{ params.image }}",
        executor_instances=1,
        wait_for_completion=False,
        annotations="{{ (params.simulation if params.simulate else {}) | tojson }}",
    )
    wait = SparkAppSensor(
        task_id="wait",
        driver_pod="{{ ti.xcom_pull(task_ids='submit')['driver_pod'] }}",
        namespace="{{ ti.xcom_pull(task_ids='submit')['namespace'] }}",
        deferrable=True,
        get_logs=True,
        timeout=3600,
    )
    submit >> wait
