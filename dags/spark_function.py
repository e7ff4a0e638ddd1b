"""A Python function as a Spark application, with `@task.sparkube`, and its result passed on.

`word_lengths` runs in the driver: its source ships with the submission (no image to rebuild),
`spark` is the driver's SparkSession, its other arguments are rendered by Airflow as for any
task (the upstream task's XCom and `{{ ds }}` here), and what it returns comes back through the driver's termination
message as the task's XCom, which `report` receives.

On kubesim's simulated runtime, run it with `{"simulate": true}` as the run conf: the driver
then gets the `kubesim.io/*` annotations of the `simulation` param, which stand in for the
function (kubesim's simulated drivers run no Python) and set the termination message it
would write. A real cluster ignores those annotations, and they are left out unless
`simulate` is on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2
    from airflow.decorators import task
    from airflow.models.dag import DAG
    from airflow.models.param import Param

# What word_lengths returns for the default text on 2024-01-01.
RESULT = {
    "day": "2024-01-01",
    "words": 8,
    "by_length": {"1": 1, "2": 2, "3": 1, "4": 1, "5": 1, "7": 1, "10": 1},
}
SIMULATION = {
    "kubesim.io/run-seconds": "2",
    "kubesim.io/log": "INFO SparkContext: Running Spark version 4.0.1",
    "kubesim.io/termination-message": json.dumps(RESULT),
}


@task.sparkube(
    image="{{ params.image }}",
    driver_memory="512m",
    executor_instances=2,
    executor_memory="512m",
    annotations="{{ (params.simulation if params.simulate else {}) | tojson }}",
    deferrable=True,  # wait in the triggerer; the result still becomes the XCom
)
def word_lengths(spark: Any, text: str, day: str) -> dict[str, Any]:
    """Count the words of `text` by length, on the executors."""
    words = spark.sparkContext.parallelize(text.split(), 2)
    counts = words.map(lambda w: (len(w), 1)).reduceByKey(lambda a, b: a + b).collectAsMap()
    return {
        "day": day,
        "words": sum(counts.values()),
        "by_length": {str(k): v for k, v in sorted(counts.items())},
    }


@task
def choose_text(params: dict[str, Any] | None = None) -> str:
    """An upstream task whose XCom becomes the Spark function's argument."""
    assert params is not None
    return " ".join(str(params["text"]).split())


@task
def report(result: dict[str, Any]) -> str:
    """A downstream task using the Spark function's result."""
    longest = max(result["by_length"], key=int)
    return f"{result['day']}: {result['words']} words, the longest {longest} letters long"


with DAG(
    dag_id="spark_function",
    description="A Python function as the Spark driver, its result in XCom for the next task",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "text": Param("a spark job on kubernetes in cluster mode", type="string"),
        "simulate": Param(
            False, type="boolean", description="Add the simulation annotations (kubesim)"
        ),
        "simulation": Param(
            SIMULATION, type="object", description="kubesim.io/* driver annotations"
        ),
    },
):
    report(word_lengths(choose_text(), day="{{ ds }}"))
