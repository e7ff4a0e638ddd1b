"""The core's metrics as the Python client, the CLI's `--metrics-file` and a Prometheus parser
see them, against kubesim over real HTTP with faults injected by kubesim itself."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sparkube import AppState, Client, Driver, SparkApp, _core
from tests.python.test_cli import run, submit_args

if TYPE_CHECKING:
    from sparkube._core import MetricFamily
    from tests.conftest import Kubesim


def value(families: list[MetricFamily], name: str, **labels: str) -> float:
    """The sum of a family's samples whose labels include `labels` (a histogram's count)."""
    (family,) = [f for f in families if f["name"] == name]
    return sum(s["value"] for s in family["samples"] if labels.items() <= s["labels"].items())


def namespace(kubesim: Kubesim) -> str:
    name = f"metrics-{uuid.uuid4().hex[:6]}"
    code, body = kubesim.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    assert code == 201, body
    return name


def test_cli_metrics_file_is_valid_openmetrics_with_what_the_run_did(
    kubesim: Kubesim, tmp_path: Path
) -> None:
    ns = namespace(kubesim)
    # The first pod creation in the namespace is throttled once: retried, and counted.
    kubesim.fault(verb="create", resource="pods", namespace=ns, status=429, count=1)
    path = tmp_path / "sparkube.prom"
    args = submit_args("cli-metrics", run_seconds="1", log="Pi is roughly 3.14")
    result = run(
        "submit",
        "--metrics-file",
        str(path),
        "--logs",
        "--conf",
        f"spark.kubernetes.namespace={ns}",
        *args,
        kubesim=kubesim,
    )
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert text.endswith("# EOF\n")
    # The reference parser of the format: raises on anything that is not OpenMetrics.
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert families["sparkube_submissions"].type == "counter"
    assert samples[("sparkube_submissions_total", (("outcome", "created"),))] == 1
    assert samples[("sparkube_submissions_total", (("outcome", "failed"),))] == 0
    assert samples[("sparkube_api_retries_total", (("reason", "throttled"),))] == 1
    assert samples[("sparkube_api_throttled_total", ())] == 1
    assert samples[("sparkube_api_requests_total", ())] >= 3
    assert families["sparkube_submit_duration_seconds"].type == "histogram"
    assert families["sparkube_submit_duration_seconds"].unit == "seconds"
    assert samples[("sparkube_submit_duration_seconds_count", ())] == 1
    running = (("reason", ""), ("state", "Running"))
    succeeded = (("reason", "Completed"), ("state", "Succeeded"))
    assert samples[("sparkube_app_transitions_total", running)] == 1
    assert samples[("sparkube_app_transitions_total", succeeded)] == 1
    # Seen running, then finished: how late the watch noticed is one observation.
    assert samples[("sparkube_notice_delay_seconds_count", ())] == 1
    assert samples[("sparkube_notice_delay_seconds_sum", ())] < 5
    assert samples[("sparkube_log_bytes_total", ())] >= len("Pi is roughly 3.14\n")


def test_cli_metrics_file_is_written_when_the_submission_fails(
    kubesim: Kubesim, tmp_path: Path
) -> None:
    ns = namespace(kubesim)
    kubesim.fault(verb="create", resource="pods", namespace=ns, status=403, count=1)
    path = tmp_path / "failed.prom"
    conf = f"spark.kubernetes.namespace={ns}"
    result = run(
        "submit",
        "--metrics-file",
        str(path),
        "--conf",
        conf,
        *submit_args("cli-m403"),
        kubesim=kubesim,
    )
    assert result.returncode == 1, result.stderr
    families = list(text_string_to_metric_families(path.read_text()))
    (submissions,) = [f for f in families if f.name == "sparkube_submissions"]
    by_outcome = {s.labels["outcome"]: s.value for s in submissions.samples}
    assert by_outcome == {"created": 0, "adopted": 0, "failed": 1}


def test_client_metrics_count_watch_relists_after_a_compaction(kubesim: Kubesim) -> None:
    client = Client(kubeconfig=kubesim.kubeconfig)
    before = client.metrics()
    app = SparkApp(
        name="relist",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        image="apache/spark:4.0.1",
        driver=Driver(annotations={"kubesim.io/run-seconds": "4"}),
    )
    handle = client.submit(app)
    final: list[AppState] = []
    waiter = threading.Thread(target=lambda: final.append(handle.wait(timeout=60).state))
    waiter.start()
    # Wait until the shared watch runs, then expire its resourceVersion and cut it: it must
    # start over with a list (410 Gone), and still see the app end. An event between the
    # compaction and the cut moves the watch past the compaction, and its resume is then
    # valid: compact and cut again.
    for status in handle.updates():
        if status.state is AppState.RUNNING:
            break
    relists = value(before, "sparkube_watch_relists")
    for _ in range(10):
        kubesim.compact()
        kubesim.drop_watches()
        time.sleep(0.3)
        if value(client.metrics(), "sparkube_watch_relists") > relists:
            break
    waiter.join(60)
    assert final == [AppState.SUCCEEDED]
    after = client.metrics()
    assert value(after, "sparkube_watch_relists") > value(before, "sparkube_watch_relists")
    assert value(after, "sparkube_watch_restarts") > value(before, "sparkube_watch_restarts")
    assert value(after, "sparkube_submissions", outcome="created") == (
        value(before, "sparkube_submissions", outcome="created") + 1
    )
    assert client.metrics_text().endswith("# EOF\n")


def test_the_grafana_dashboard_queries_only_metrics_the_core_exposes() -> None:
    dashboard = Path(__file__).resolve().parents[2] / "deployment/grafana/sparkube-dashboard.json"
    panels = json.loads(dashboard.read_text())["panels"]
    exposed = set()
    for family in _core.metrics():
        name = family["name"]
        suffixes = ("_bucket", "_count", "_sum") if family["kind"] == "histogram" else ("_total",)
        exposed |= {name + s for s in suffixes}
    queried = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\bsparkube_\w+", target["expr"])
    }
    assert queried, "no sparkube metric queried"
    assert queried <= exposed, queried - exposed
    # Every family has a panel.
    assert {re.sub(r"_(total|bucket|count|sum)$", "", q) for q in queried} == {
        f["name"] for f in _core.metrics()
    }
