"""`@task.sparkube`: found by Airflow through the provider, the function checked when the DAG is
parsed, its rendered arguments in the program shipped, and a failure the driver program
reports turned into one line with nothing left in kubesim. The example DAG runs end to end in
test_dags.py."""

from __future__ import annotations

import base64
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from airflow_harness import IMAGE, SMALL_DRIVER
from test_operator_kubesim import TaskInstance

import sparkube
from sparkube.airflow._compat import AirflowFailException
from sparkube.airflow.decorators import SparkFunctionOperator, sparkube_task
from sparkube.errors import ConfigError
from sparkube.function import function_program

if TYPE_CHECKING:
    from airflow_harness import Kube

LOCK = threading.Lock()


def total(spark: Any, n: int, scale: int = 1) -> int:
    return int(spark.range(n).count()) * scale


def with_a_lock() -> Any:
    lock = threading.Lock()

    def count(spark: Any) -> int:
        with lock:
            return 1

    return count


def uses_the_lock(spark: Any) -> bool:
    return LOCK.locked()


def no_spark(n: int) -> int:
    return n


def wants_context(spark: Any, ds: str) -> str:
    return ds


def dag() -> Any:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow.models.dag import DAG

    return DAG("functions", schedule=None, start_date=datetime(2024, 1, 1))


def test_airflow_finds_the_decorator_through_the_provider() -> None:
    try:
        from airflow.sdk import task
    except ImportError:  # Airflow 2
        from airflow.decorators import task

    assert task.sparkube is sparkube_task


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda spark: 1, "a lambda cannot be a Spark application: define the function with def"),
        # Neither stands alone, and a lock cannot be pickled (or, without pyspark-client,
        # nothing can be): the message goes on with which.
        (with_a_lock(), "count cannot be sent as source (it uses lock from the function around"),
        (
            uses_the_lock,
            "uses_the_lock cannot be sent as source (it uses the global 'LOCK', which the "
            "driver cannot import)",
        ),
        (no_spark, "the first parameter of no_spark must be 'spark'"),
        (wants_context, "wants_context takes the Airflow context key 'ds'"),
    ],
    ids=["lambda", "closure", "unimportable-global", "no-spark", "context-key"],
)
def test_functions_that_cannot_run_in_the_driver_fail_at_parse_time(fn: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        sparkube_task(image=IMAGE)(fn)
    assert err.value.option == "function"
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_the_function_is_the_application() -> None:
    with dag(), pytest.raises(ValueError, match="the function is the application; app cannot"):
        sparkube_task(app={"application": "x"})(total)(3)


def test_spark_is_not_passed_by_the_caller_and_the_other_arguments_are_checked() -> None:
    with dag():
        sparkube_task(image=IMAGE)(total)(3, scale=2)
        sparkube_task(total)(3)  # @task.sparkube without parentheses
        with pytest.raises(TypeError, match="missing a required argument: 'n'"):
            sparkube_task(image=IMAGE)(total)()


def test_rendered_arguments_reach_the_program_shipped() -> None:
    with dag():
        out = sparkube_task(image="{{ params.image }}", conf=SMALL_DRIVER)(total)(
            "{{ params.n }}", scale="{{ ds_nodash }}"
        )
    task = out.operator
    assert isinstance(task, SparkFunctionOperator)
    task.render_template_fields(
        {"params": {"image": IMAGE, "n": 10}, "ds_nodash": "20240301"}, None
    )
    app = task.build_app("jobs")
    assert (app.name, app.image, app.namespace) == ("total", IMAGE, "jobs")
    objects = sparkube.render(app)
    (files,) = [o for o in objects if o["metadata"]["name"].endswith("-local-files")]
    (shipped,) = files["binaryData"].values()
    program = base64.b64decode(shipped).decode()
    assert program == function_program(total, ["10"], {"scale": "20240301"})
    assert "@" not in program.split("def total")[0]  # the decorator stays behind


def test_a_failure_the_driver_program_reports_is_one_line_and_nothing_is_left(
    kube_conn: Kube,
) -> None:
    """The driver program exits with `sparkube: ...` when the result is not JSON or too large
    (tests/python/test_function.py runs that program); here kubesim's driver prints that line
    and exits 1, as the program does."""
    line = "sparkube: the result of total is not JSON: Object of type set is not JSON serializable"
    simulation = {
        "kubesim.io/run-seconds": "1",
        "kubesim.io/exit-code": "1",
        "kubesim.io/log": f"INFO SparkContext: Running Spark version 4.0.1\n{line}\n"
        "INFO ShutdownHookManager: Shutdown hook called",
    }
    run_id = f"manual__{time.time()}"
    with dag():
        out = sparkube_task(
            image=IMAGE, conf=SMALL_DRIVER, annotations=simulation, startup_timeout=60
        )(total)(3)
    task = out.operator

    ti = TaskInstance("functions", "total", run_id)
    with pytest.raises(AirflowFailException) as err:
        task.execute({"ti": ti})
    assert str(err.value) == line
    driver = ti.xcoms["spark_app"]["driver_pod"]
    # on_finish_action=delete: the driver goes, and with it what it owns (its ConfigMaps).
    assert kube_conn.drivers_left(dag_id="functions", run_id=run_id) == []
    deadline = time.monotonic() + 30
    while owned := kube_conn.owned_by(driver):
        assert time.monotonic() < deadline, f"left behind: {owned}"
        time.sleep(0.2)
