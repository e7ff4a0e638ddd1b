"""Dynamic allocation: executors are added while tasks queue up and removed when idle.

Kubernetes has no external shuffle service, so shuffle tracking keeps executors holding shuffle
data alive (`sparkube.DynamicAllocation` turns it on by default). With `{"simulate": true}` as
the run conf, kubesim's simulated runtime decides the outcome (see `spark_pi`).

The application is a `sparkube.SparkApp`, the operator's primary form: its strings are
templates. The DAG renders templates as native objects, so that the `annotations` template
gives a mapping.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from sparkube import DynamicAllocation, SparkApp
from sparkube.airflow import SparkAppOperator
from sparkube.app import Executor

SIMULATION = {
    "kubesim.io/run-seconds": "3",
    "kubesim.io/exit-code": "0",
    "kubesim.io/log": "\n".join(
        [
            "INFO ExecutorAllocationManager: Requesting 1 new executor because tasks are backlogged",
            "INFO ExecutorAllocationManager: Requesting 2 new executors because tasks are backlogged",
            "Pi is roughly 3.141592",
            "INFO ExecutorAllocationManager: Removing executor 3 because it has been idle for 10 seconds",
        ]
    ),
}

with DAG(
    dag_id="spark_dynamic_allocation",
    description="SparkPi with dynamic allocation and shuffle tracking",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    render_template_as_native_obj=True,
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "partitions": Param(200, type="integer", minimum=1, description="Pi's slices"),
        "simulate": Param(
            False, type="boolean", description="Add the simulation annotations (kubesim)"
        ),
        "simulation": Param(
            SIMULATION, type="object", description="kubesim.io/* driver annotations"
        ),
    },
):
    SparkAppOperator(
        task_id="spark_pi_dynamic",
        app=SparkApp(
            name="spark-pi-dynamic",
            application="local:///opt/spark/examples/src/main/python/pi.py",
            arguments=["{{ params.partitions }}"],
            image="{{ params.image }}",
            executor=Executor(memory="512m"),
            dynamic_allocation=DynamicAllocation(
                min_executors=0, initial_executors=1, max_executors=4, shuffle_tracking=True
            ),
            conf={
                "spark.dynamicAllocation.executorIdleTimeout": "10s",
                "spark.dynamicAllocation.schedulerBacklogTimeout": "1s",
            },
            annotations="{{ params.simulation if params.simulate else {} }}",  # type: ignore[arg-type]
        ),
    )
