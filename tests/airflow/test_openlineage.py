"""OpenLineage with `apache-airflow-providers-openlineage`: the parent-job and transport conf the
operator injects reaches the driver pod (kubesim), and Airflow emits the task's run events, with
the operator's facet, through the provider's transports (an HTTP collector and a file)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_harness import AirflowCli, Kube

pytest.importorskip("airflow.providers.openlineage")

DAG_ID = "sparkube_test_openlineage"
NAMESPACE = "sparkube-test"


class Collector(ThreadingHTTPServer):
    """An OpenLineage HTTP endpoint that keeps the events posted to it."""

    events: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.events.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector(("127.0.0.1", 0), _Handler)
    server.events = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def composite_injection() -> bool:
    """Whether the installed provider injects a composite transport's HTTP members (newer than
    the providers of Airflow 2.10's time, which inject the parent job only, or an HTTP
    transport)."""
    import inspect
    import warnings

    with warnings.catch_warnings():
        # The OpenLineage client of Airflow 2.10's time imports its own deprecated module.
        warnings.simplefilter("ignore", DeprecationWarning)
        from airflow.providers.openlineage.utils import spark

    inject = getattr(spark, "inject_transport_information_into_spark_properties", None)
    return inject is not None and "composite" in inspect.getsource(spark)


def _events(path: Path) -> list[dict[str, Any]]:
    """The events the file transport wrote (one JSON document a line, appended)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_conf_reaches_the_driver_and_airflow_emits_the_run_events(
    airflow_k8s: AirflowCli, kube: Kube, collector: Collector, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{collector.server_port}"
    events_file = tmp_path / "events.jsonl"
    transport = {
        "type": "composite",
        "continue_on_failure": True,
        "transports": {
            "collector": {"type": "http", "url": url, "endpoint": "api/v1/lineage"},
            "file": {"type": "file", "log_file_path": str(events_file), "append": True},
        },
    }
    env = {
        **airflow_k8s.env,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        "AIRFLOW__OPENLINEAGE__SPARK_INJECT_PARENT_JOB_INFO": "True",
        "AIRFLOW__OPENLINEAGE__SPARK_INJECT_TRANSPORT_INFO": "True",
    }
    cli = type(airflow_k8s)(env=env, home=airflow_k8s.home)
    run = cli.dags_test(DAG_ID)
    (tmp_path / "output.log").write_text(run.output)
    assert run.state_of("typed") == "success", run.output
    assert run.state_of("args") == "success", run.output

    # The typed task follows the settings: parent job and transport.
    (typed,) = kube.drivers(dag_id=DAG_ID, run_id=run.run_id, task_id="typed")
    conf = kube.driver_conf(typed)
    assert conf["spark.openlineage.parentJobNamespace"] == NAMESPACE
    assert conf["spark.openlineage.parentJobName"] == f"{DAG_ID}.typed"
    uuid.UUID(conf["spark.openlineage.parentRunId"])
    # Newer providers also name the root parent (the DAG run).
    assert conf.get("spark.openlineage.rootParentJobName", DAG_ID) == DAG_ID
    if composite_injection():
        assert conf["spark.openlineage.transport.type"] == "composite"
        assert conf["spark.openlineage.transport.transports.collector.url"] == url
        assert conf["spark.openlineage.transport.transports.collector.endpoint"] == (
            "api/v1/lineage"
        )
    # The spark-submit arguments get the parent job; the parameter turned the transport off.
    (args,) = kube.drivers(dag_id=DAG_ID, run_id=run.run_id, task_id="args")
    conf = kube.driver_conf(args)
    assert conf["spark.openlineage.parentJobName"] == f"{DAG_ID}.args"
    assert not any(k.startswith("spark.openlineage.transport") for k in conf)

    # Airflow's run events, through both transports; the parent run id the driver got is the
    # task's run id in them.
    for events in (_events(events_file), collector.events):
        typed_events = [e for e in events if e["job"]["name"] == f"{DAG_ID}.typed"]
        # START, again on resuming from the triggerer, then COMPLETE.
        kinds = [e["eventType"] for e in typed_events]
        assert kinds[0] == "START", kinds
        assert kinds[1:] in (["COMPLETE"], ["START", "COMPLETE"]), kinds
        complete = typed_events[-1]
        assert complete["run"]["runId"] == kube.driver_conf(typed)["spark.openlineage.parentRunId"]
        facet = complete["run"]["facets"]["sparkube_application"]
        result = run.xcom("typed")
        assert facet["appId"] == result["app_id"]
        assert facet["driverPod"] == typed.metadata.name
        assert facet["image"] == "apache/spark:4.0.1"
        assert facet["state"] == "Succeeded"
