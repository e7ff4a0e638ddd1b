"""kubesim's test-facing features: faults, metrics, dropped watches, restarts with state, node
failures, and the HTTP-level errors of kube-apiserver."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from conftest import Kubesim


def ns_of(ks: Kubesim) -> str:
    name = f"op-{uuid.uuid4().hex[:8]}"
    status, body = ks.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201, body
    return name


def pod_body(name: str, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {f"kubesim.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox:1.36"}],
        },
    }


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_status_faults_count_and_expire(kubesim: Kubesim) -> None:
    ns = ns_of(kubesim)
    before = kubesim.metric("apiserver_request_total", verb="POST", resource="pods", code="500")
    kubesim.fault(verb="create", resource="pods", status=500, count=2)
    codes = [
        kubesim.request("POST", f"/api/v1/namespaces/{ns}/pods", pod_body(f"p{i}"))[0]
        for i in range(3)
    ]
    assert codes == [500, 500, 201]
    assert (
        kubesim.metric("apiserver_request_total", verb="POST", resource="pods", code="500")
        == before + 2
    )
    status, body = kubesim.request("GET", "/kubesim/faults")
    assert (status, body) == (200, [])


def test_429_carries_retry_after(kubesim: Kubesim) -> None:
    ns = ns_of(kubesim)
    fid = kubesim.fault(verb="list", resource="configmaps", namespace=ns, status=429, retry_after=3)
    req = urllib.request.Request(
        f"{kubesim.url}/api/v1/namespaces/{ns}/configmaps",
        headers={"Authorization": f"Bearer {kubesim.token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 429
    assert err.value.headers["Retry-After"] == "3"
    body = json.loads(err.value.read())
    err.value.close()
    assert body["reason"] == "TooManyRequests"
    assert body["details"]["retryAfterSeconds"] == 3
    assert kubesim.request("DELETE", f"/kubesim/faults/{fid}")[0] == 200
    assert kubesim.request("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 200


def test_delay_and_reset_faults(kubesim: Kubesim) -> None:
    ns = ns_of(kubesim)
    kubesim.fault(verb="get", resource="configmaps", namespace=ns, delay_ms=300, count=1)
    started = time.monotonic()
    assert kubesim.request("GET", f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt")[0] == 200
    assert time.monotonic() - started >= 0.3
    kubesim.fault(verb="list", resource="secrets", namespace=ns, reset=True, count=1)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, urllib.error.URLError)):
        kubesim.request("GET", f"/api/v1/namespaces/{ns}/secrets")
    assert kubesim.request("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 200


@contextlib.contextmanager
def open_watch(ks: Kubesim, path: str) -> Iterator[http.client.HTTPResponse]:
    host, port = ks.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {ks.token}"})
        with conn.getresponse() as resp:
            yield resp
    finally:
        conn.close()


def test_drop_watches_ends_open_watches_and_gauges_follow(kubesim: Kubesim) -> None:
    ns = ns_of(kubesim)
    with open_watch(kubesim, f"/api/v1/namespaces/{ns}/configmaps?watch=1") as resp:
        assert resp.status == 200
        assert json.loads(resp.readline())["object"]["metadata"]["name"] == "kube-root-ca.crt"
        assert (
            kubesim.metric("apiserver_longrunning_requests", verb="WATCH", resource="configmaps")
            >= 1
        )
        kubesim.drop_watches()
        assert resp.read() == b""
    wait_for(
        lambda: (
            kubesim.metric("apiserver_longrunning_requests", verb="WATCH", resource="configmaps")
            == 0
        )
    )


def test_compact_ends_watches_with_410(kubesim: Kubesim) -> None:
    ns = ns_of(kubesim)

    def listed_with_root_ca() -> dict[str, Any] | None:
        _, listing = kubesim.request("GET", f"/api/v1/namespaces/{ns}/configmaps")
        return listing if listing["items"] else None

    # A new namespace gets its kube-root-ca.crt from a controller, a moment later: list after
    # it, or the watch's first event is that ADDED rather than the 410 this test is about.
    wait_for(lambda: listed_with_root_ca() is not None)
    listing = listed_with_root_ca()
    assert listing is not None
    rv = listing["metadata"]["resourceVersion"]
    with open_watch(
        kubesim, f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}"
    ) as resp:
        kubesim.compact()
        event = json.loads(resp.readline())
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


def test_http_errors_match_kube_apiserver(kubesim: Kubesim) -> None:
    ns = ns_of(kubesim)
    status, body = kubesim.request("GET", "/api/v1/namespaces", token="")
    assert (status, body["reason"]) == (401, "Unauthorized")
    status, body = kubesim.request(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", b"x" * (3 * 1024 * 1024 + 1)
    )
    assert (status, body["reason"]) == (413, "RequestEntityTooLarge")
    kubesim.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}})
    status, body = kubesim.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/c",
        {"data": {}},
        content_type="application/json",
    )
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")
    status, body = kubesim.request("POST", f"/api/v1/namespaces/{ns}/configmaps", b"{not json")
    assert (status, body["reason"]) == (400, "BadRequest")
    status, body = kubesim.request("PUT", f"/api/v1/namespaces/{ns}/configmaps", {})
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    status, body = kubesim.request(
        "POST", "/api/v1/namespaces/nope-missing/configmaps", {"metadata": {"name": "c"}}
    )
    assert (status, body["message"]) == (404, 'namespaces "nope-missing" not found')
    status, body = kubesim.request(
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}},
    )
    assert status == 422
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.containers[0].image",
        }
    ]


def test_node_failure_leaves_pods_unknown(kubesim_factory: Callable[..., Kubesim]) -> None:
    ks = kubesim_factory()
    assert (
        ks.request("POST", "/api/v1/namespaces/default/pods", pod_body("p", run_seconds="inf"))[0]
        == 201
    )

    def phase() -> str:
        return str(ks.request("GET", "/api/v1/namespaces/default/pods/p")[1]["status"].get("phase"))

    wait_for(lambda: phase() == "Running")
    ks.fail_node()
    wait_for(lambda: phase() == "Unknown")
    _, node = ks.request("GET", "/api/v1/nodes/kubesim-node-1")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    ks.recover_node()
    wait_for(lambda: phase() == "Running")


def test_state_survives_a_crash_and_versions_keep_increasing(
    kubesim_factory: Callable[..., Kubesim], tmp_path: Any
) -> None:
    state = tmp_path / "state"
    first = kubesim_factory("--state-dir", str(state), directory=tmp_path / "a")
    status, cm = first.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "keep"}, "data": {"k": "v"}},
    )
    assert status == 201
    time.sleep(0.2)
    first.stop(signal.SIGKILL)
    second = kubesim_factory("--state-dir", str(state), directory=tmp_path / "b")
    assert second.token == first.token
    status, again = second.request("GET", "/api/v1/namespaces/default/configmaps/keep")
    assert (status, again["data"], again["metadata"]["uid"]) == (
        200,
        {"k": "v"},
        cm["metadata"]["uid"],
    )
    _, created = second.request(
        "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "next"}}
    )
    assert int(created["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
    assert second.stop() == 0


def test_sigterm_exits_cleanly(kubesim_factory: Callable[..., Kubesim]) -> None:
    ks = kubesim_factory()
    host, port = ks.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5):
        pass
    assert ks.stop(signal.SIGTERM) == 0


def test_running_pods_resume_after_a_restart(
    kubesim_factory: Callable[..., Kubesim], tmp_path: Any
) -> None:
    state = tmp_path / "state"
    first = kubesim_factory("--state-dir", str(state), directory=tmp_path / "a")
    first.request("POST", "/api/v1/namespaces/default/pods", pod_body("long", run_seconds="3"))

    def phase(ks: Kubesim) -> str:
        return str(
            ks.request("GET", "/api/v1/namespaces/default/pods/long")[1]["status"].get("phase")
        )

    wait_for(lambda: phase(first) == "Running")
    ip = first.request("GET", "/api/v1/namespaces/default/pods/long")[1]["status"]["podIP"]
    time.sleep(0.2)
    first.stop(signal.SIGKILL)
    second = kubesim_factory("--state-dir", str(state), directory=tmp_path / "b")
    assert phase(second) == "Running"
    wait_for(lambda: phase(second) == "Succeeded")
    _, pod = second.request("GET", "/api/v1/namespaces/default/pods/long")
    assert pod["status"]["podIP"] == ip
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
