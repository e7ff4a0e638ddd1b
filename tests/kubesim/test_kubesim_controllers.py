"""kubesim's controllers seen through the API: namespace deletion, eviction, jobs, deployments,
garbage collection and multi-container pods with a sidecar that never exits."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Kubesim


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def new_ns(ks: Kubesim) -> str:
    name = f"ctl-{uuid.uuid4().hex[:8]}"
    assert ks.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    return name


def pod(
    name: str, labels: dict[str, str] | None = None, containers: int = 1, **annotations: str
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": labels or {},
            "annotations": {f"kubesim.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": f"c{i}",
                    "image": "busybox:1.36",
                    "ports": [{"name": "web", "containerPort": 8080}],
                }
                for i in range(containers)
            ],
        },
    }


def get(ks: Kubesim, path: str) -> Any:
    status, body = ks.request("GET", path)
    return body if status == 200 else None


def test_namespace_deletion_removes_its_content(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    kubesim.request(
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        pod("p", run_seconds="inf", termination_seconds="0.5"),
    )
    kubesim.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}})
    wait_for(
        lambda: get(kubesim, f"/api/v1/namespaces/{ns}/pods/p")["status"]["phase"] == "Running"
    )
    status, body = kubesim.request("DELETE", f"/api/v1/namespaces/{ns}")
    assert status == 200
    assert body["status"]["phase"] == "Terminating"
    status, body = kubesim.request(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "late"}}
    )
    assert status == 403
    assert "because it is being terminated" in body["message"]
    wait_for(lambda: get(kubesim, f"/api/v1/namespaces/{ns}") is None)
    assert get(kubesim, f"/api/v1/namespaces/{ns}/configmaps/c") is None


def test_eviction_marks_and_deletes_the_pod(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    kubesim.request(
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        pod("victim", run_seconds="inf", termination_seconds="1"),
    )
    wait_for(
        lambda: get(kubesim, f"/api/v1/namespaces/{ns}/pods/victim")["status"]["phase"] == "Running"
    )
    status, body = kubesim.request(
        "POST",
        f"/api/v1/namespaces/{ns}/pods/victim/eviction",
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "victim", "namespace": ns},
        },
    )
    assert (status, body["status"]) == (201, "Success")
    during = get(kubesim, f"/api/v1/namespaces/{ns}/pods/victim")
    assert during["metadata"]["deletionTimestamp"]
    assert any(
        c["type"] == "DisruptionTarget" and c["reason"] == "EvictionByEvictionAPI"
        for c in during["status"]["conditions"]
    )
    wait_for(lambda: get(kubesim, f"/api/v1/namespaces/{ns}/pods/victim") is None)


def test_job_runs_pods_to_completion_and_gc_follows(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "work"},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "template": {
                "metadata": {"annotations": {"kubesim.io/run-seconds": "0.3"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "w", "image": "busybox:1.36"}],
                },
            },
        },
    }
    assert kubesim.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)[0] == 201

    def complete() -> bool:
        conds = get(kubesim, f"/apis/batch/v1/namespaces/{ns}/jobs/work")["status"].get(
            "conditions", []
        )
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conds)

    wait_for(complete)
    status = get(kubesim, f"/apis/batch/v1/namespaces/{ns}/jobs/work")["status"]
    assert status["succeeded"] == 2
    pods = get(kubesim, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dwork")["items"]
    assert len(pods) == 2
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "Job" for p in pods)
    status, _ = kubesim.request(
        "DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/work?propagationPolicy=Background"
    )
    assert status == 200
    wait_for(
        lambda: (
            not get(kubesim, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dwork")["items"]
        )
    )


def test_orphan_deletion_keeps_dependents(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    _, owner = kubesim.request(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "owner"}}
    )
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    kubesim.request(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        {"metadata": {"name": "kept", "ownerReferences": [ref]}},
    )
    kubesim.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/owner?propagationPolicy=Orphan")
    wait_for(lambda: get(kubesim, f"/api/v1/namespaces/{ns}/configmaps/owner") is None)
    kept = get(kubesim, f"/api/v1/namespaces/{ns}/configmaps/kept")
    assert kept is not None
    assert not kept["metadata"].get("ownerReferences")


def test_endpoints_follow_ready_pods(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    svc = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "web"}],
        },
    }
    assert kubesim.request("POST", f"/api/v1/namespaces/{ns}/services", svc)[0] == 201
    kubesim.request(
        "POST", f"/api/v1/namespaces/{ns}/pods", pod("web-1", {"app": "web"}, run_seconds="inf")
    )

    def addresses() -> list[str]:
        ep = get(kubesim, f"/api/v1/namespaces/{ns}/endpoints/web") or {}
        return [a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", [])]

    wait_for(lambda: len(addresses()) == 1)
    ip = get(kubesim, f"/api/v1/namespaces/{ns}/pods/web-1")["status"]["podIP"]
    assert addresses() == [ip]
    ep = get(kubesim, f"/api/v1/namespaces/{ns}/endpoints/web")
    assert ep["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
    kubesim.request("DELETE", f"/api/v1/namespaces/{ns}/pods/web-1?gracePeriodSeconds=0")
    wait_for(lambda: addresses() == [])


def test_a_sidecar_that_never_exits_keeps_the_pod_running(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    body = pod("app", containers=2, run_seconds="0.3", sidecar_run_seconds="inf", exit_code="3")
    kubesim.request("POST", f"/api/v1/namespaces/{ns}/pods", body)

    def states() -> dict[str, Any]:
        st = get(kubesim, f"/api/v1/namespaces/{ns}/pods/app")["status"]
        return {c["name"]: c["state"] for c in st.get("containerStatuses", [])}

    wait_for(lambda: "terminated" in states().get("c0", {}))
    st = get(kubesim, f"/api/v1/namespaces/{ns}/pods/app")["status"]
    assert st["phase"] == "Running"
    assert states()["c0"]["terminated"]["exitCode"] == 3
    assert "running" in states()["c1"]
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["message"]) == ("False", "containers with unready status: [c0]")
    status, log = kubesim.request("GET", f"/api/v1/namespaces/{ns}/pods/app/log")
    assert status == 400
    assert (
        "a container name must be specified for pod app, choose one of: [c0 c1]" in log["message"]
    )


def test_restart_policy_and_previous_logs(kubesim: Kubesim) -> None:
    ns = new_ns(kubesim)
    body = pod("crash", run_seconds="0.2", exit_code="1", log="boom", restart_backoff_seconds="0.2")
    body["spec"]["restartPolicy"] = "OnFailure"
    kubesim.request("POST", f"/api/v1/namespaces/{ns}/pods", body)

    def restarts() -> int:
        cs = get(kubesim, f"/api/v1/namespaces/{ns}/pods/crash")["status"].get(
            "containerStatuses", [{}]
        )
        return int(cs[0].get("restartCount", 0))

    wait_for(lambda: restarts() >= 1)
    status, text = kubesim.request("GET", f"/api/v1/namespaces/{ns}/pods/crash/log?previous=true")
    assert (status, text) == (200, "boom\n")
    last = get(kubesim, f"/api/v1/namespaces/{ns}/pods/crash")["status"]["containerStatuses"][0][
        "lastState"
    ]
    assert last["terminated"]["exitCode"] == 1


def _deployment(strategy: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "strategy": {"type": strategy},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


@pytest.mark.parametrize("strategy", ["RollingUpdate", "Recreate"])
def test_deployments_roll_out_new_replicasets(kubesim: Kubesim, strategy: str) -> None:
    ns = new_ns(kubesim)
    api = f"/apis/apps/v1/namespaces/{ns}/deployments"
    assert kubesim.request("POST", api, _deployment(strategy, "busybox:1.36"))[0] == 201
    rollout = ("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in kubesim.kubectl(*rollout).stdout
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}
    }
    status, _ = kubesim.request(
        "PATCH", f"{api}/web", patch, content_type="application/strategic-merge-patch+json"
    )
    assert status == 200
    assert "successfully rolled out" in kubesim.kubectl(*rollout).stdout
    sets = get(kubesim, f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"]
    by_revision = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets
    }
    assert sorted(by_revision) == ["1", "2"], strategy
    assert by_revision["1"]["spec"]["replicas"] == 0
    assert by_revision["2"]["spec"]["replicas"] == 2
    new_hash = by_revision["2"]["metadata"]["labels"]["pod-template-hash"]

    def only_new_pods(want: int) -> bool:
        pods = get(kubesim, f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dweb")["items"]
        return len(pods) == want and all(
            p["metadata"]["labels"]["pod-template-hash"] == new_hash
            and p["spec"]["containers"][0]["image"] == "busybox:1.37"
            for p in pods
        )

    wait_for(lambda: only_new_pods(2))
    status, _ = kubesim.request(
        "PATCH",
        f"{api}/web",
        {"spec": {"replicas": 1}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    wait_for(lambda: only_new_pods(1))
    d = get(kubesim, f"{api}/web")
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"] == 3
    assert (d["status"]["replicas"], d["status"]["availableReplicas"]) == (1, 1)
    kubesim.request("DELETE", f"{api}/web")
    wait_for(lambda: not get(kubesim, f"/api/v1/namespaces/{ns}/pods")["items"])
