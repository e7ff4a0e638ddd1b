"""The recording API server, spoken to over HTTP as a client would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .recorder import APPLY_PATCH, Recorder

pytestmark = pytest.mark.timeout(60)


def call(
    url: str, method: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p-driver"}, "spec": {}}
SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "p-svc"}, "spec": {}}


def test_created_pod_comes_back_with_server_fields() -> None:
    with Recorder() as rec:
        status, pod = call(f"{rec.url}/api/v1/namespaces/ns1/pods", "POST", POD)
        again, conflict = call(f"{rec.url}/api/v1/namespaces/ns1/pods", "POST", POD)
        got, read = call(f"{rec.url}/api/v1/namespaces/ns1/pods/p-driver", "GET")
        missing, status_obj = call(f"{rec.url}/api/v1/namespaces/ns1/pods/nope", "GET")
    assert status == 201
    assert pod["metadata"]["uid"]
    assert pod["metadata"]["resourceVersion"].isdigit()
    assert pod["metadata"]["creationTimestamp"].endswith("Z")
    assert pod["metadata"]["namespace"] == "ns1"
    assert pod["spec"] == {}
    assert (again, conflict["reason"]) == (409, "AlreadyExists")
    assert (got, read) == (200, pod)
    assert (missing, status_obj["kind"], status_obj["code"]) == (404, "Status", 404)


def test_apply_creates_then_updates_keeping_the_uid() -> None:
    path = "/api/v1/namespaces/ns1/services/p-svc?fieldManager=fabric8&force=true"
    with Recorder() as rec:
        first_status, first = call(rec.url + path, "PATCH", SVC, APPLY_PATCH)
        changed = {**SVC, "spec": {"clusterIP": "None"}}
        second_status, second = call(rec.url + path, "PATCH", changed, APPLY_PATCH)
        stored = rec.stored("/api/v1/namespaces/ns1/services/p-svc")
    assert (first_status, second_status) == (201, 200)
    assert first["metadata"]["uid"] == second["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert second["spec"] == {"clusterIP": "None"}
    assert stored == second


def test_requests_are_recorded_in_order_with_query_and_content_type() -> None:
    with Recorder() as rec:
        call(f"{rec.url}/version", "GET")
        call(f"{rec.url}/api/v1/namespaces/a/pods", "POST", POD)
        call(
            f"{rec.url}/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/x?fieldManager=f&force=true",
            "PATCH",
            {"kind": "NetworkPolicy", "metadata": {"name": "x"}},
            APPLY_PATCH,
        )
        status, _ = call(f"{rec.url}/api/v1/namespaces/a/pods/p-driver", "DELETE")
        listed = call(f"{rec.url}/api/v1/namespaces/a/pods", "GET")
        requests = rec.requests
    assert status == 200
    assert listed[1]["items"] == []
    assert [(r.method, r.path) for r in requests] == [
        ("GET", "/version"),
        ("POST", "/api/v1/namespaces/a/pods"),
        ("PATCH", "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/x"),
        ("DELETE", "/api/v1/namespaces/a/pods/p-driver"),
        ("GET", "/api/v1/namespaces/a/pods"),
    ]
    assert requests[1].body == POD
    assert requests[1].content_type == "application/json"
    assert requests[2].query == {"fieldManager": ["f"], "force": ["true"]}
    assert requests[2].content_type == APPLY_PATCH
    assert requests[0].body is None


def test_yaml_apply_patch_is_understood() -> None:
    body = b"kind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n"
    with Recorder() as rec:
        req = urllib.request.Request(
            f"{rec.url}/api/v1/namespaces/a/configmaps/cm", data=body, method="PATCH"
        )
        req.add_header("Content-Type", APPLY_PATCH)
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
        recorded = rec.requests[0]
    assert recorded.body == {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}}


def test_script_prints_its_url_and_writes_requests_on_sigterm(tmp_path: Path) -> None:
    script = Path(__file__).with_name("recorder.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, _ = call(f"{url}/api/v1/namespaces/d/pods", "POST", POD)
        assert status == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    recorded = json.loads((tmp_path / "requests.json").read_text())
    assert [(r["method"], r["path"], r["body"]) for r in recorded] == [
        ("POST", "/api/v1/namespaces/d/pods", POD)
    ]
