"""`@task.sparkube` with real Spark (kubesim's process runtime, tests/e2e's cluster): the
function runs in a real driver, and its return value is the task's (the XCom Airflow passes
downstream); with executors too; a result that is not JSON fails the task with the driver
program's one line, and nothing is left.

`make test` runs one driver without executors (a Spark SQL query the driver answers alone, so
one JVM: well under a minute). A driver with its executors per task takes minutes on a 2-core
machine, so the others run with `make test-airflow-spark`.
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

# kubesim runs the drivers with pyspark's Spark: `make test`'s virtualenv has it, `make compat`'s
# (one per Airflow version) do not, so the real-Spark run is make test's, on the newest Airflow.
pytest.importorskip("pyspark", reason="kubesim's process runtime runs pyspark's Spark")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
with_executors = pytest.mark.skipif(
    os.environ.get("SPARKUBE_AIRFLOW_SPARK") != "1",
    reason="real Spark drivers with executors take minutes: make test-airflow-spark runs these",
)

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


def lengths_on_the_driver(spark: Any, words: list[str], day: str) -> dict[str, Any]:
    # An inline table is a local relation: the driver answers the query without a Spark job,
    # so no executor is needed.
    values = ", ".join(f"('{w}')" for w in words)
    rows = spark.sql(f"SELECT w, length(w) AS n FROM VALUES {values} AS t(w)").collect()
    return {
        "day": day,
        "spark": spark.version,
        "app_id": spark.sparkContext.applicationId,
        "lengths": {row.w: row.n for row in rows},
    }


def a_set(spark: Any) -> Any:
    return {spark.range(3).count()}


@pytest.fixture
def kube(spark_cluster: SparkCluster, monkeypatch: pytest.MonkeyPatch) -> Kube:
    """`kubernetes_default` pointing at the real-Spark kubesim, in this process."""
    kube = Kube(spark_cluster.kubesim)
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", kube.connection())
    return kube


def run(
    spark_cluster: SparkCluster, fn: Any, *args: Any, executors: int = 1, **kwargs: Any
) -> tuple[Any, TaskInstance]:
    """Render and execute a decorated `fn` as the worker would, without deferring."""
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow.models.dag import DAG

    # No executors: dynamic allocation from zero, which asks for none while no job runs.
    no_executors = (
        "spark.dynamicAllocation.enabled=true",
        "spark.dynamicAllocation.shuffleTracking.enabled=true",
        "spark.dynamicAllocation.minExecutors=0",
    )
    submit = spark_cluster.submit_args(
        fn.__name__, *(() if executors else no_executors), executors=executors
    )
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


def test_the_function_runs_in_a_real_driver_and_its_return_is_the_tasks_value(
    spark_cluster: SparkCluster, kube: Kube
) -> None:
    import pyspark

    words = ["spark", "on", "kubernetes"]
    value, ti = run(spark_cluster, lengths_on_the_driver, words, day="{{ ds }}", executors=0)
    assert not isinstance(value, Exception), value
    # Rendered arguments reached the driver; the session is the real one, of the Spark that
    # kubesim runs (pyspark's), and the application is the one the task submitted.
    assert value == {
        "day": "2024-03-01",
        "spark": pyspark.__version__,
        "app_id": ti.xcoms["spark_app"]["app_id"],
        "lengths": {"spark": 5, "on": 2, "kubernetes": 10},
    }
    assert_nothing_left(kube, ti)


@with_executors
def test_the_function_runs_in_a_real_driver_with_executors_and_returns_the_tasks_value(
    spark_cluster: SparkCluster, kube: Kube
) -> None:
    words = ["spark", "on", "kubernetes", "from", "airflow"]
    value, ti = run(spark_cluster, word_lengths, words, day="{{ ds }}")
    assert value == {"day": "2024-03-01", "by_length": {"2": 1, "4": 1, "5": 1, "7": 1, "10": 1}}
    assert_nothing_left(kube, ti)


@with_executors
def test_a_result_that_is_not_json_fails_the_task_with_one_line(
    spark_cluster: SparkCluster, kube: Kube
) -> None:
    error, ti = run(spark_cluster, a_set)
    assert isinstance(error, AirflowFailException), error
    assert str(error) == (
        "sparkube: the result of a_set is not JSON: Object of type set is not JSON serializable"
    )
    assert_nothing_left(kube, ti)
