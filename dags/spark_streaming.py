"""A streaming application that runs until stopped: the operator waits in the triggerer
(deferrable), and when `timeout` has passed it deletes the driver (and with it the executors and
everything else the application owns) and ends the task successfully (`succeed_on_timeout`).

The application is `apps/rate_to_console.py` next to this file; give its location in the
driver's image (or an `s3a://` URL) as the `application` param. With `{"simulate": true}` as
the run conf, kubesim's simulated runtime keeps the driver running past the timeout.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from sparkube.airflow import SparkAppOperator

SIMULATION = {
    "kubesim.io/run-seconds": "3600",
    "kubesim.io/exit-code": "0",
    "kubesim.io/log": "\n".join(
        [
            "INFO MicroBatchExecution: Starting new streaming query.",
            "Batch: 0",
            "Batch: 1",
        ]
    ),
}

with DAG(
    dag_id="spark_streaming",
    description="Long-running streaming app, stopped by a timeout and deleted cleanly",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "application": Param(
            "local:///opt/spark/work-dir/apps/rate_to_console.py",
            type="string",
            description="Where the driver finds apps/rate_to_console.py",
        ),
        "rows_per_second": Param(10, type="integer", minimum=1),
        "simulate": Param(
            False, type="boolean", description="Add the simulation annotations (kubesim)"
        ),
        "simulation": Param(
            SIMULATION, type="object", description="kubesim.io/* driver annotations"
        ),
    },
):
    SparkAppOperator(
        task_id="rate_to_console",
        name="rate-to-console",
        application="{{ params.application }}",
        arguments=["{{ params.rows_per_second }}"],
        image="{{ params.image }}",
        executor_instances=1,
        conf={"spark.sql.streaming.stopGracefullyOnShutdown": "true"},
        deferrable=True,
        timeout=timedelta(seconds=15),
        succeed_on_timeout=True,
        on_finish_action="delete",
        annotations="{{ (params.simulation if params.simulate else {}) | tojson }}",
    )
