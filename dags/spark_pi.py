"""SparkPi: submit Spark's own Pi example and wait for it, with the driver log in the task log.

On kubesim's simulated runtime, run it with `{"simulate": true}` as the run conf (for example
`airflow dags test spark_pi -c '{"simulate": true}'`): the driver then gets the `kubesim.io/*`
annotations of the `simulation` param, which decide how long it runs, its exit code and its log.
A real cluster ignores those annotations, and they are left out unless `simulate` is on.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from sparkube.airflow import SparkAppOperator

SIMULATION = {
    "kubesim.io/run-seconds": "3",
    "kubesim.io/exit-code": "0",
    "kubesim.io/log": "\n".join(
        [
            "INFO SparkContext: Running Spark version 4.0.1",
            "INFO SparkContext: Submitted application: PythonPi",
            "INFO DAGScheduler: Job 0 finished: reduce at pi.py:42, took 1.2 s",
            "Pi is roughly 3.141640",
            "INFO SparkContext: Successfully stopped SparkContext",
        ]
    ),
}

with DAG(
    dag_id="spark_pi",
    description="SparkPi in cluster mode, waiting for it and streaming the driver log",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "partitions": Param(10, type="integer", minimum=1, description="Pi's slices"),
        "simulate": Param(
            False, type="boolean", description="Add the simulation annotations (kubesim)"
        ),
        "simulation": Param(
            SIMULATION, type="object", description="kubesim.io/* driver annotations"
        ),
    },
):
    SparkAppOperator(
        task_id="spark_pi",
        name="spark-pi",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        arguments=["{{ params.partitions }}"],
        image="{{ params.image }}",
        driver_memory="512m",
        executor_instances=2,
        executor_memory="512m",
        get_logs=True,
        annotations="{{ (params.simulation if params.simulate else {}) | tojson }}",
    )
