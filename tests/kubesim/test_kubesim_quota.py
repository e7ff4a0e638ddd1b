"""kubesim's dry runs, ResourceQuota and LimitRange, driven by kubectl as against a cluster:
`--dry-run=server` stores nothing for create, apply, patch and delete (admission still answers),
LimitRange defaults fill a pod's resources and its maximum refuses one, a quota counts what pods
use (`kubectl describe quota`), refuses the pod that does not fit with kube-apiserver's 403
message and stops charging a pod once it has ended."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Kubesim

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def pod(ns: str, name: str, resources: dict[str, Any] | None = None, seconds: str = "600") -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "annotations": {"kubesim.io/run-seconds": seconds},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox:1.36", "resources": resources or {}}],
        },
    }
    return json.dumps(body)


def quota_used(ks: Kubesim, ns: str) -> dict[str, list[str]]:
    """`kubectl describe quota` as {resource: [used, hard]}."""
    out = ks.kubectl("describe", "quota", "compute", "-n", ns).stdout
    rows = out.split("--------")[-1].split("\n")
    return {r.split()[0]: r.split()[1:] for r in rows if r.strip() and not r.startswith("-")}


def wait_for(what: str, probe: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_dry_runs_store_nothing(kubesim: Kubesim) -> None:
    ns = f"dry-{uuid.uuid4().hex[:6]}"
    kubesim.kubectl("create", "namespace", ns)

    def dry_runs() -> dict[str, float]:
        return {
            verb: kubesim.metric("apiserver_request_total", dry_run="All", verb=verb)
            for verb in ("POST", "APPLY", "PATCH")
        }

    before = dry_runs()
    created = kubesim.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", stdin=pod(ns, "p")
    )
    assert json.loads(created.stdout)["metadata"]["uid"]
    kubesim.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=pod(ns, "p"))
    assert kubesim.kubectl("get", "pods", "-n", ns, "-o", "name").stdout == ""
    kubesim.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=a=1")
    kubesim.kubectl(
        "patch", "configmap", "c", "-n", ns, "--dry-run=server", "-p", '{"data":{"a":"2"}}'
    )
    kubesim.kubectl("delete", "configmap", "c", "-n", ns, "--dry-run=server")
    data = kubesim.kubectl("get", "configmap", "c", "-n", ns, "-o", "jsonpath={.data.a}").stdout
    assert data == "1"
    # Counted as kube-apiserver labels them, from the query (kubectl sends a deletion's dryRun
    # in its DeleteOptions body).
    assert {verb: n - before[verb] for verb, n in dry_runs().items()} == {
        "POST": 1,
        "APPLY": 1,
        "PATCH": 1,
    }


def test_limit_range_defaults_and_maximum(kubesim: Kubesim) -> None:
    ns = f"lr-{uuid.uuid4().hex[:6]}"
    kubesim.kubectl("create", "namespace", ns)
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "limits", "namespace": ns},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "1", "memory": "512Mi"},
                    "defaultRequest": {"cpu": "250m"},
                    "max": {"memory": "1Gi"},
                }
            ]
        },
    }
    kubesim.kubectl("apply", "-f", "-", stdin=json.dumps(limits))
    dry = kubesim.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", stdin=pod(ns, "p"))
    assert json.loads(dry.stdout)["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "250m", "memory": "512Mi"},
    }
    big = pod(ns, "big", {"limits": {"memory": "2Gi"}})
    refused = kubesim.kubectl("create", "-f", "-", stdin=big, check=False)
    assert refused.returncode != 0
    assert (
        'pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi'
        in refused.stderr
    )


def test_quota_counts_refuses_and_releases(kubesim: Kubesim) -> None:
    ns = f"rq-{uuid.uuid4().hex[:6]}"
    kubesim.kubectl("create", "namespace", ns)
    kubesim.kubectl("create", "quota", "compute", "-n", ns, "--hard=requests.cpu=1,pods=5")
    wait_for("the quota's status", lambda: quota_used(kubesim, ns).get("pods") == ["0", "5"])
    half = {"requests": {"cpu": "500m"}}
    kubesim.kubectl("create", "-f", "-", stdin=pod(ns, "a", half))
    kubesim.kubectl("create", "-f", "-", stdin=pod(ns, "b", half, seconds="8"))
    wait_for("usage", lambda: quota_used(kubesim, ns).get("requests.cpu") == ["1", "1"])
    # A dry run asks the quota too.
    refused = kubesim.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=pod(ns, "c", half), check=False
    )
    assert refused.returncode != 0
    assert (
        'Error from server (Forbidden): error when creating "STDIN": pods "c" is forbidden: '
        "exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=1, "
        "limited: requests.cpu=1"
    ) in refused.stderr
    unset = kubesim.kubectl("create", "-f", "-", stdin=pod(ns, "d"), check=False)
    assert "failed quota: compute: must specify requests.cpu for: main" in unset.stderr
    # b ends after 8 s: an ended pod is not charged, and c fits.
    wait_for("b's release", lambda: quota_used(kubesim, ns).get("requests.cpu") == ["500m", "1"])
    kubesim.kubectl("create", "-f", "-", stdin=pod(ns, "c", half))
    kubesim.kubectl("delete", "pod", "a", "c", "-n", ns, "--grace-period=0", "--wait")
    wait_for("usage after deletion", lambda: quota_used(kubesim, ns).get("pods") == ["0", "5"])
