"""Dynamic task mapping: one Spark application per day of the last `days` days, each its own
mapped task instance (and so its own driver, found again by its map index on retry).

The mapped tasks are deferrable: however many run at once, the triggerer follows them on one
shared watch per namespace. The application is `apps/daily_count.py` next to this file: a
relative path resolves against the DAG's folder, and the script ships with each submission (no
image to build); a `local://` path in the image works as well. With `{"simulate": true}` as the
run conf, kubesim's simulated runtime decides the outcome (see `spark_pi`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2
    from airflow.decorators import task
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from sparkube.airflow import SparkAppOperator

SIMULATION = {
    "kubesim.io/run-seconds": "2",
    "kubesim.io/exit-code": "0",
    "kubesim.io/log": "daily count done",
}

with DAG(
    dag_id="spark_mapped",
    description="One Spark application per day, with dynamic task mapping",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "application": Param(
            "apps/daily_count.py",
            type="string",
            description="The application: beside the DAG, or local:// in the image",
        ),
        "days": Param(3, type="integer", minimum=1, maximum=31),
        "simulate": Param(
            False, type="boolean", description="Add the simulation annotations (kubesim)"
        ),
        "simulation": Param(
            SIMULATION, type="object", description="kubesim.io/* driver annotations"
        ),
    },
):

    @task
    def days_to_process(ds: str | None = None, params: dict | None = None) -> list[list[str]]:
        """The application arguments of each mapped task: one day each, ending the day before."""
        end = date.fromisoformat(ds) if ds else date.today()
        count = int((params or {}).get("days", 3))
        return [[(end - timedelta(days=n)).isoformat()] for n in range(count, 0, -1)]

    SparkAppOperator.partial(
        task_id="daily_count",
        name="daily-count",
        application="{{ params.application }}",
        image="{{ params.image }}",
        executor_instances=1,
        deferrable=True,
        annotations="{{ (params.simulation if params.simulate else {}) | tojson }}",
    ).expand(arguments=days_to_process())
