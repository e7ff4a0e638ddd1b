"""Spark from a plain `@task` through Spark Connect: the task's own Python code drives a
`SparkSession` whose server and executors run on the cluster, for the task's duration only.

`SparkKubernetesHook.session` starts a Spark Connect server as the driver, forwards a local
port to it through the API server, and deletes the server with its executors when the block
ends, also when the task fails. Unlike `@task.sparkube`, the code runs in the Airflow worker
(rows come back to it as Python objects) and needs `pyspark-client`
(`pip install "sparkube[connect]"`) there, not in the image.

It needs a real Spark Connect server: on kubesim, its process runtime (the tests run it so).
`conf` adds Spark conf to the server (the tests move its ports off the defaults).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2
    from airflow.decorators import task
    from airflow.models.dag import DAG
    from airflow.models.param import Param


@task
def top_words(params: dict[str, Any] | None = None) -> list[list[Any]]:
    """The three most frequent words of `text`, counted on the cluster's executors."""
    from sparkube.airflow.hooks import SparkKubernetesHook

    assert params is not None
    hook = SparkKubernetesHook()
    with hook.session(
        image=params["image"],
        executor_instances=1,
        driver_memory="512m",
        executor_memory="512m",
        conf=params["conf"],
    ) as spark:
        words = spark.createDataFrame([(w,) for w in str(params["text"]).split()], ["word"])
        rows = words.groupBy("word").count().orderBy("count", "word", ascending=[False, True])
        return [[r["word"], r["count"]] for r in rows.limit(3).collect()]


with DAG(
    dag_id="spark_connect_session",
    description="A @task querying Spark on Kubernetes through a Spark Connect session",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "text": Param("to be or not to be that is the question", type="string"),
        "conf": Param({}, type="object", description="Spark conf of the server"),
    },
):
    top_words()
