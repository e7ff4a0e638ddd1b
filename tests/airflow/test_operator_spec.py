"""`SparkAppOperator(app=SparkApp(...))`, the primary form, and the flat parameters as a
shorthand for the same spec: every `SparkApp` field is expressible, templates render inside the
spec, pod templates come from files beside the DAG. No cluster: `sparkube.render` shows the
objects a spec becomes."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

import sparkube
from sparkube import Deps, DynamicAllocation, SparkApp, Volume
from sparkube.airflow.operators import SHORTHAND, SPEC_ONLY, SparkAppOperator
from sparkube.app import Driver, Executor
from sparkube.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_harness import Kube

PI = "local:///opt/spark/examples/src/main/python/pi.py"

# A value unlike the default for each field annotation of the spec. A field whose annotation is
# missing here fails `test_every_field_round_trips_through_app`: add a value, then make sure
# the operator expresses the field (SHORTHAND or SPEC_ONLY).
SAMPLES: dict[str, Any] = {
    "str": "sample",
    "str | None": "sample",
    "int | None": 3,
    "float | None": 1.5,
    "bool": False,
    "VolumeType": "emptyDir",
    "Mapping[str, str]": {"sample.key": "sample-value"},
    "Sequence[str]": ["sample-item"],
    "Mapping[str, Any] | None": {"sample": {"nested": "value"}},
    "Mapping[str, Any] | str | None": {"kind": "Pod", "metadata": {"labels": {"a": "b"}}},
    "Sequence[Mapping[str, Any]]": [{"key": "sample", "operator": "Exists"}],
    "Sequence[Volume]": [Volume.empty_dir("scratch", "/scratch", size_limit="1Gi")],
}
NESTED = {"Driver": Driver, "Executor": Executor, "DynamicAllocation | None": DynamicAllocation}
NESTED["Deps"] = Deps


def sample(cls: type) -> Any:
    """An instance of a spec dataclass with every field set to a non-default value."""
    values = {}
    for f in dataclasses.fields(cls):
        annotation = str(f.type)
        if annotation in NESTED:
            values[f.name] = sample(NESTED[annotation])
        elif annotation in SAMPLES:
            values[f.name] = SAMPLES[annotation]
        else:
            pytest.fail(f"{cls.__name__}.{f.name}: no sample value for {annotation!r}")
    return cls(**values)


def leaf_paths(cls: type, prefix: str = "") -> list[str]:
    """The spec's fields, with the driver's and executors' settings one level down."""
    paths = []
    for f in dataclasses.fields(cls):
        if f.type in ("Driver", "Executor"):
            paths += leaf_paths(NESTED[str(f.type)], f"{prefix}{f.name}.")
        else:
            paths.append(prefix + f.name)
    return paths


def get_path(data: Any, path: str) -> Any:
    for name in path.split("."):
        data = data[name]
    return data


def test_every_field_round_trips_through_app() -> None:
    app = sample(SparkApp)
    task = SparkAppOperator(task_id="t", app=app)
    task.render_template_fields({})
    assert task.build_app("sample").to_dict() == app.to_dict()


def test_every_field_has_a_flat_parameter_or_is_set_through_app_only() -> None:
    flat = {path for paths in SHORTHAND.values() for path in paths}
    missing = set(leaf_paths(SparkApp)) - flat - set(SPEC_ONLY)
    assert not missing, f"SparkApp fields the operator's flat parameters do not map: {missing}"
    assert not flat & set(SPEC_ONLY)
    assert not (flat | set(SPEC_ONLY)) - set(leaf_paths(SparkApp))


def test_each_flat_parameter_sets_its_fields() -> None:
    spec = sample(SparkApp).to_dict()
    for kwarg, paths in SHORTHAND.items():
        value = get_path(spec, paths[0])
        if kwarg == "dependencies":
            value = Deps(**value)
        elif kwarg == "dynamic_allocation":
            value = DynamicAllocation(**value)
        kwargs = {"application": PI, kwarg: value}
        built = SparkAppOperator(task_id="t", **kwargs).build_app("ns").to_dict()
        for path in paths:
            assert get_path(built, path) == get_path(spec, paths[0]), kwarg


def test_gaps_of_the_flat_parameters_reach_the_pods() -> None:
    task = SparkAppOperator(
        task_id="t",
        application=PI,
        image="apache/spark:4.0.1",
        proxy_user="analyst",
        image_pull_policy="Always",
        driver_memory="1g",
        driver_memory_overhead="1g",
    )
    pod, *_ = sparkube.render(task.build_app("ns"))
    container = pod["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"]["limits"]["memory"] == "2048Mi"
    assert "--proxy-user" in container["args"]
    assert container["args"][container["args"].index("--proxy-user") + 1] == "analyst"


def test_templates_render_inside_the_spec() -> None:
    app = SparkApp(
        name="report-{{ ds_nodash }}",
        application=PI,
        arguments=["{{ ds }}", "{{ params.n }}"],
        image="{{ params.image }}",
        conf={"spark.app.day": "{{ ds }}", "spark.executor.instances": "2"},
        driver=Driver(env={"DAY": "{{ ds }}"}, memory="512m"),
    )
    task = SparkAppOperator(task_id="t", app=app)
    task.render_template_fields(
        {"ds": "2024-03-01", "ds_nodash": "20240301", "params": {"n": 7, "image": "spark:4"}}
    )
    built = task.build_app("jobs")
    assert (built.name, built.image, built.namespace) == ("report-20240301", "spark:4", "jobs")
    assert list(built.arguments) == ["2024-03-01", "7"]
    assert built.conf == {"spark.app.day": "2024-03-01", "spark.executor.instances": "2"}
    assert built.driver.env == {"DAY": "2024-03-01"}
    # The operator renders its copy: the SparkApp it was given is unchanged.
    assert app.name == "report-{{ ds_nodash }}"


def test_app_from_templated_json() -> None:
    task = SparkAppOperator(task_id="daily", app="{{ params.app | tojson }}")
    params = {"app": {"application": PI, "executor": {"instances": 2}, "namespace": "etl"}}
    task.render_template_fields({"params": params})
    built = task.build_app(task.target_namespace())
    assert (built.name, built.namespace, built.executor.instances) == ("daily", "etl", 2)


@pytest.mark.parametrize(
    ("app", "option", "message"),
    [
        ({"application": PI, "drivr": {}}, "app.drivr", "app: unknown field 'drivr'"),
        (
            {"application": PI, "driver": {"memroy": "1g"}},
            "app.driver.memroy",
            "app: unknown field 'driver.memroy'",
        ),
        ({"name": "x"}, "app.application", "app: missing field 'application'"),
        (
            {"application": PI, "executor": {"instances": "2"}},
            "app.executor.instances",
            "app: executor.instances must be an integer",
        ),
        ("[1, 2]", "app", "app must be a mapping, not list"),
        ("{not json", "app", "app is not a JSON object"),
    ],
    ids=["field", "nested-field", "missing", "type", "list", "json"],
)
def test_bad_app_fails_naming_the_field(app: Any, option: str, message: str) -> None:
    task = SparkAppOperator(task_id="t", app=app)
    with pytest.raises(ConfigError) as err:
        task.build_app("ns")
    assert err.value.option == option
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_an_unknown_field_in_templated_json_fails_the_task_before_anything_is_sent(
    kube_conn: Kube,
) -> None:
    import time

    from test_operator_kubesim import TaskInstance

    from sparkube.airflow._compat import AirflowFailException

    task = SparkAppOperator(task_id="t", app="{{ params.app | tojson }}")
    params = {"app": {"application": PI, "image": "spark:4", "drivr": {"memory": "1g"}}}
    task.render_template_fields({"params": params})
    ti = TaskInstance("spec", "t", f"manual__{time.time()}")
    before = kube_conn.request_count("POST", "pods") + kube_conn.request_count("POST", "configmaps")
    with pytest.raises(AirflowFailException) as err:
        task.execute({"ti": ti})
    assert str(err.value).startswith("Invalid Spark application: app: unknown field 'drivr' (a")
    assert "\n" not in str(err.value)
    after = kube_conn.request_count("POST", "pods") + kube_conn.request_count("POST", "configmaps")
    assert after == before
    assert kube_conn.drivers(dag_id="spec", run_id=ti.run_id) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give one of app, application or spark_submit_args, not none"),
        ({"app": {"application": PI}, "application": PI}, "not app and application"),
        ({"app": {"application": PI}, "image": "spark:4"}, "image cannot be given with app"),
        ({"app": SparkApp(name="x", application=PI, executor=Executor(instances="2"))}, "int"),
    ],
    ids=["none", "two", "flat-with-app", "bad-type"],
)
def test_conflicting_forms_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SparkAppOperator(task_id="t", **kwargs)


POD_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  labels:
    team: "{{ params.team }}"
spec:
  priorityClassName: batch
"""


@pytest.mark.parametrize("form", ["flat", "app"])
def test_pod_template_file_beside_the_dag_renders_with_jinja(tmp_path: Path, form: str) -> None:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow.models.dag import DAG

    (tmp_path / "driver.yaml").write_text(POD_TEMPLATE)
    with DAG(
        "pods", schedule=None, start_date=datetime(2024, 1, 1), template_searchpath=[str(tmp_path)]
    ):
        if form == "flat":
            task = SparkAppOperator(
                task_id="t", application=PI, image="spark:4", driver_pod_template="driver.yaml"
            )
        else:
            app = SparkApp(
                name="t",
                application=PI,
                image="spark:4",
                driver=Driver(pod_template="driver.yaml"),
            )
            task = SparkAppOperator(task_id="t", app=app)
    task.render_template_fields({"params": {"team": "data"}})
    pod, *_ = sparkube.render(task.build_app("ns"))
    assert pod["metadata"]["labels"]["team"] == "data"
    assert pod["spec"]["priorityClassName"] == "batch"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("missing.yaml", "driver_pod_template: no file 'missing.yaml' beside the DAG"),
        ("pod.txt", r"driver_pod_template must be a Pod \(a mapping\) or the path of a"),
        ("list.yaml", "driver_pod_template: list.yaml does not hold a Pod"),
    ],
)
def test_bad_pod_template_file(tmp_path: Path, value: str, message: str) -> None:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow.models.dag import DAG

    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with DAG(
        "pods", schedule=None, start_date=datetime(2024, 1, 1), template_searchpath=[str(tmp_path)]
    ):
        task = SparkAppOperator(task_id="t", application=PI, driver_pod_template=value)
    with pytest.raises(ConfigError, match=message):
        task.render_template_fields({})
