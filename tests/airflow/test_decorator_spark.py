"""`@task.sparkube` with real Spark (kubesim's process runtime, tests/e2e's cluster): the
function runs in a real driver, with executors, and its return value is the task's; a result
that is not JSON fails the task with the driver program's one line, and nothing is left.

A driver JVM and its executors per task take minutes on a 2-core machine, so these run with
`make test-airflow-spark`, not with `make test` (whose kubesim runs stand in for the driver).
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime
from operator import add
from typing import TYPE_CHECKING, Any

import pytest
from airflow_harness import Kube
from test_operator_kubesim import TaskInstance

from sparkube.airflow._compat import AirflowFailException
from sparkube.airflow.decorators import sparkube_task
from tests.e2e.conftest import IMAGE, spark_cluster

if TYPE_CHECKING:
    from tests.e2e.conftest import SparkCluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("SPARKUBE_AIRFLOW_SPARK") != "1",
        reason="real Spark drivers take minutes: make test-airflow-spark runs these",
    ),
]

__all__ = ["spark_cluster"]  # the module-scoped fixture of tests/e2e, used here

DAG_ID = "functions_spark"


def word_lengths(spark: Any, words: list[str], day: str) -> dict[str, Any]:
    counts = (
        spark.sparkContext.parallelize(words, 2)
        .map(lambda w: (len(w), 1))
        .reduceByKey(add)
        .collectAsMap()
    )
    return {"day": day, "by_length": {str(k): v for k, v in sorted(counts.items())}}


def a_set(spark: Any) -> Any:
    return {spark.range(3).count()}


@pytest.fixture
def kube(spark_cluster: SparkCluster, monkeypatch: pytest.MonkeyPatch) -> Kube:
    """`kubernetes_default` pointing at the real-Spark kubesim, in this process."""
    kube = Kube(spark_cluster.kubesim)
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", kube.connection())
    return kube


def run(
    spark_cluster: SparkCluster, fn: Any, *args: Any, **kwargs: Any
) -> tuple[Any, TaskInstance]:
    """Render and execute a decorated `fn` as the worker would, without deferring."""
    from airflow.sdk import DAG

    submit = spark_cluster.submit_args(fn.__name__, executors=1)
    conf = dict(v.split("=", 1) for f, v in itertools.pairwise(submit) if f == "--conf")
    with DAG(DAG_ID, schedule=None, start_date=datetime(2024, 1, 1)):
        out = sparkube_task(image=IMAGE, conf=conf, startup_timeout=300)(fn)(*args, **kwargs)
    task = out.operator
    task.render_template_fields({"ds": "2024-03-01"})
    ti = TaskInstance(DAG_ID, task.task_id, f"manual__{time.time()}")
    try:
        return task.execute({"ti": ti}), ti
    except AirflowFailException as e:
        return e, ti


def assert_nothing_left(kube: Kube, ti: TaskInstance) -> None:
    assert kube.drivers_left(timeout=60, dag_id=DAG_ID, run_id=ti.run_id) == []
    driver = ti.xcoms["spark_app"]["driver_pod"]
    deadline = time.monotonic() + 60
    while owned := kube.owned_by(driver):
        assert time.monotonic() < deadline, f"left behind: {owned}"
        time.sleep(0.5)


def test_the_function_runs_in_a_real_driver_and_returns_the_tasks_value(
    spark_cluster: SparkCluster, kube: Kube
) -> None:
    words = ["spark", "on", "kubernetes", "from", "airflow"]
    value, ti = run(spark_cluster, word_lengths, words, day="{{ ds }}")
    assert value == {"day": "2024-03-01", "by_length": {"2": 1, "4": 1, "5": 1, "7": 1, "10": 1}}
    assert_nothing_left(kube, ti)


def test_a_result_that_is_not_json_fails_the_task_with_one_line(
    spark_cluster: SparkCluster, kube: Kube
) -> None:
    error, ti = run(spark_cluster, a_set)
    assert isinstance(error, AirflowFailException), error
    assert str(error) == (
        "sparkube: the result of a_set is not JSON: Object of type set is not JSON serializable"
    )
    assert_nothing_left(kube, ti)
