"""`SparkAppOperator` parameters compiled to a `SparkApp` or a spark-submit argument list.

These need no cluster: `sparkube.render` shows the objects the compiled app becomes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import sparkube
from sparkube import Deps, DynamicAllocation, Volume
from sparkube.airflow.operators import (
    SparkAppOperator,
    app_result,
    args_namespace,
    duration_seconds,
    str_map,
)
from sparkube.errors import ConfigError

PI = "local:///opt/spark/examples/src/main/python/pi.py"


def op(**kwargs: Any) -> SparkAppOperator:
    kwargs.setdefault("task_id", "spark_pi")
    if "spark_submit_args" not in kwargs:
        kwargs.setdefault("application", PI)
    return SparkAppOperator(**kwargs)


def test_typed_parameters_become_the_spark_app() -> None:
    app = op(
        name="pi",
        arguments=["100"],
        image="apache/spark:4.0.1",
        service_account="spark",
        driver_cores=1,
        driver_memory="1g",
        executor_cores=2,
        executor_memory="2g",
        executor_instances=3,
        env={"MODE": "test"},
        secret_env={"TOKEN": "api:token"},
        secret_mounts={"certs": "/etc/certs"},
        volumes=[Volume.empty_dir("scratch", "/scratch")],
        labels={"team": "data"},
        annotations={"note": "x"},
        conf={"spark.sql.shuffle.partitions": 8, "spark.eventLog.enabled": True},
        dependencies=Deps(packages=["org.apache.hadoop:hadoop-aws:3.4.1"]),
        node_selector={"pool": "spark"},
        image_pull_secrets=["regcred"],
    ).build_app("jobs")
    assert (app.name, app.application, app.namespace, app.image) == (
        "pi",
        PI,
        "jobs",
        "apache/spark:4.0.1",
    )
    assert list(app.arguments) == ["100"]
    assert app.conf == {"spark.sql.shuffle.partitions": "8", "spark.eventLog.enabled": "true"}
    assert (app.driver.cores, app.driver.memory) == (1, "1g")
    assert (app.executor.cores, app.executor.memory, app.executor.instances) == (2, "2g", 3)
    for role in (app.driver, app.executor):
        assert role.env == {"MODE": "test"}
        assert role.secret_env == {"TOKEN": "api:token"}
        assert role.secret_mounts == {"certs": "/etc/certs"}
        assert [v.name for v in role.volumes] == ["scratch"]
    assert app.labels == {"team": "data"}
    assert app.deps.packages == ["org.apache.hadoop:hadoop-aws:3.4.1"]
    assert app.dynamic_allocation is None


def test_name_defaults_to_the_task_id() -> None:
    assert op(task_id="daily_report").build_app("ns").name == "daily_report"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, DynamicAllocation()),
        (False, None),
        (None, None),
        (DynamicAllocation(max_executors=4), DynamicAllocation(max_executors=4)),
    ],
)
def test_dynamic_allocation(value: Any, expected: DynamicAllocation | None) -> None:
    assert op(dynamic_allocation=value).build_app("ns").dynamic_allocation == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {}),
        ("", {}),
        ("{}", {}),
        (
            '{"kubesim.io/run-seconds": "3", "n": 4, "b": false}',
            {"kubesim.io/run-seconds": "3", "n": "4", "b": "false"},
        ),
        ({"a": 1}, {"a": "1"}),
    ],
)
def test_mapping_parameters_accept_rendered_json(value: Any, expected: dict[str, str]) -> None:
    assert str_map(value, "annotations") == expected


@pytest.mark.parametrize("value", ["not json", "[1, 2]", 3, ["a"]])
def test_mapping_parameters_reject_other_values(value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        str_map(value, "annotations")
    assert err.value.option == "annotations"


def test_arguments_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match="arguments"):
        op(arguments="100").build_app("ns")
    assert list(op(arguments=[1, "b"]).build_app("ns").arguments) == ["1", "b"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], None),
        (["--conf", "spark.kubernetes.namespace=a", PI], "a"),
        (["--conf=spark.kubernetes.namespace=b", PI], "b"),
        (["-c", "spark.kubernetes.namespace=a", "--conf", "spark.kubernetes.namespace=c"], "c"),
        (["--conf", "spark.kubernetes.namespaces=x", PI], None),
        ([PI, "--conf"], None),
        # The application's own arguments are not read, even when they look like a --conf.
        ([PI, "--conf", "spark.kubernetes.namespace=x"], None),
        (["--conf", "spark.kubernetes.namespace=a", PI, "-c", "spark.kubernetes.namespace=x"], "a"),
        # A switch takes no value: the --conf after it is read.
        (["--load-spark-defaults", "--conf", "spark.kubernetes.namespace=d", PI], "d"),
    ],
)
def test_namespace_of_spark_submit_args(args: list[str], expected: str | None) -> None:
    assert args_namespace(args) == expected


def test_namespace_of_invalid_spark_submit_args_names_the_option() -> None:
    with pytest.raises(ConfigError, match="--bogus") as err:
        args_namespace(["--bogus", PI])
    assert err.value.option == "--bogus"


def test_spark_submit_args_get_the_namespace_when_they_lack_one() -> None:
    args = ["--name", "pi", PI, "10"]
    assert op(spark_submit_args=args).build_args("jobs") == [
        "--conf",
        "spark.kubernetes.namespace=jobs",
        *args,
    ]
    own = ["--conf", "spark.kubernetes.namespace=mine", PI]
    task = op(spark_submit_args=own, namespace="ignored")
    assert task.build_args("jobs") == own
    assert task.target_namespace() == "mine"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"application": None},
        {"application": PI, "spark_submit_args": [PI]},
        {"on_finish_action": "delete_pod"},
        {"application": PI, "stall_action": "kill"},
        {"application": PI, "stall_timeout": 0},
    ],
)
def test_invalid_operator_arguments_fail_at_parse_time(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="spark_pi"):
        SparkAppOperator(task_id="spark_pi", **kwargs)


def test_timeouts_accept_seconds_or_timedeltas() -> None:
    task = op(startup_timeout=timedelta(minutes=2), timeout=90, stall_timeout=timedelta(minutes=5))
    assert (task.startup_timeout, task.timeout, task.stall_timeout) == (120.0, 90.0, 300.0)


def test_the_history_server_comes_from_the_parameter_or_the_conf() -> None:
    url = "http://spark-history.spark.svc:18080"
    assert op().history_server() is None
    assert op(conf={"spark.sparkube.historyServer.url": url}).history_server() == url
    assert (
        op(history_server_url=url, conf={"spark.sparkube.historyServer.url": "x"}).history_server()
        == url
    )


def test_compiled_app_renders_to_the_objects_spark_submit_creates() -> None:
    app = op(
        image="apache/spark:4.0.1",
        annotations='{"kubesim.io/run-seconds": "3"}',
        secret_env={"AWS_ACCESS_KEY_ID": "s3-credentials:access-key"},
        env={"MODE": "test"},
    ).build_app("jobs")
    objects = sparkube.render(app)
    pod = objects[0]
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["namespace"] == "jobs"
    assert pod["metadata"]["annotations"]["kubesim.io/run-seconds"] == "3"
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "s3-credentials",
        "key": "access-key",
    }
    assert env["MODE"]["value"] == "test"


def test_result_shape() -> None:
    app = {
        "state": "Succeeded",
        "namespace": "jobs",
        "driver_pod": "pi-driver",
        "app_id": "spark-1",
        "submission_id": "s",
        "exit_code": 0,
        "started_at": "2024-01-01T00:00:00+00:00",
        "finished_at": "2024-01-01T00:01:30.5+00:00",
    }
    assert app_result(app) == {
        "app_id": "spark-1",
        "namespace": "jobs",
        "driver_pod": "pi-driver",
        "submission_id": "s",
        "state": "Succeeded",
        "exit_code": 0,
        "spark_ui_url": None,
        "duration_s": 90.5,
        "result": None,
    }
    # The driver's JSON termination message, as AppStatus.to_dict() carries it.
    assert app_result({**app, "result": {"rows": 3}})["result"] == {"rows": 3}
    assert duration_seconds({"started_at": None}) is None
