"""kubesim driven by kubectl, as an operator would use a cluster."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Kubesim

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kubectl(
    ks: Kubesim, *args: str, stdin: str | None = None, check: bool = True, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    return ks.kubectl(*args, stdin=stdin, check=check, token=token)


def get_json(ks: Kubesim, *args: str) -> Any:
    return json.loads(kubectl(ks, "get", *args, "-o", "json").stdout)


def new_namespace(ks: Kubesim) -> str:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(ks, "create", "namespace", ns)
    return ns


def pod_yaml(
    ns: str, name: str, annotations: dict[str, str], image: str = "busybox:1.36", extra: str = ""
) -> str:
    ann = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in annotations.items())
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}
  annotations:
{ann}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
{extra}"""


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_create_namespace_and_get_json(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    obj = get_json(kubesim, "namespace", ns)
    assert obj["status"]["phase"] == "Active"
    assert obj["metadata"]["labels"]["kubernetes.io/metadata.name"] == ns
    # The namespace gets its default ServiceAccount.
    wait_for(
        lambda: kubectl(kubesim, "get", "sa", "default", "-n", ns, check=False).returncode == 0
    )


def test_apply_client_side_then_server_side(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    manifest = f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: {ns}, labels: {{app: demo}}}}
data: {{a: "1"}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc, namespace: {ns}}}
spec:
  selector: {{app: demo}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
    out = kubectl(kubesim, "apply", "-f", "-", stdin=manifest).stdout
    assert "configmap/cfg created" in out
    assert "service/svc created" in out
    assert "configmap/cfg unchanged" in kubectl(kubesim, "apply", "-f", "-", stdin=manifest).stdout
    changed = manifest.replace('a: "1"', 'a: "2"')
    assert "configmap/cfg configured" in kubectl(kubesim, "apply", "-f", "-", stdin=changed).stdout
    cm = get_json(kubesim, "configmap", "cfg", "-n", ns)
    assert cm["data"] == {"a": "2"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in cm["metadata"]["annotations"]
    ssa = changed.replace('a: "2"', 'a: "3"')
    assert (
        "serverside-applied"
        in kubectl(kubesim, "apply", "--server-side", "-f", "-", stdin=ssa).stdout
    )
    cm = get_json(kubesim, "configmap", "cfg", "-n", ns, "--show-managed-fields")
    assert cm["data"] == {"a": "3"}
    managers = {(m["manager"], m["operation"]) for m in cm["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    svc = get_json(kubesim, "service", "svc", "-n", ns)
    assert svc["spec"]["clusterIP"].startswith("10.96.")


def test_wait_logs_and_events_for_a_pod(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    pod = pod_yaml(ns, "worker", {"kubesim.io/run-seconds": "1", "kubesim.io/log": "alpha\nbeta"})
    kubectl(kubesim, "apply", "-f", "-", stdin=pod)
    kubectl(
        kubesim,
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/worker",
        "-n",
        ns,
        "--timeout=20s",
    )
    assert kubectl(kubesim, "logs", "worker", "-n", ns).stdout == "alpha\nbeta\n"
    stamped = kubectl(kubesim, "logs", "worker", "-n", ns, "--timestamps", "--tail=1").stdout
    assert stamped.endswith(" beta\n")
    assert stamped[:4].isdigit()
    status = get_json(kubesim, "pod", "worker", "-n", ns)["status"]
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert status["podIP"].startswith("10.244.")
    events = get_json(kubesim, "events", "-n", ns, "--field-selector", "involvedObject.name=worker")
    reasons = {e["reason"] for e in events["items"]}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= reasons


def test_logs_follow_streams_until_the_container_exits(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    pod = pod_yaml(
        ns,
        "talker",
        {
            "kubesim.io/run-seconds": "2",
            "kubesim.io/log": "one\ntwo\nthree",
            "kubesim.io/log-interval-ms": "400",
        },
    )
    kubectl(kubesim, "apply", "-f", "-", stdin=pod)
    kubectl(
        kubesim,
        "wait",
        "--for=jsonpath={.status.phase}=Running",
        "pod/talker",
        "-n",
        ns,
        "--timeout=20s",
    )
    started = time.monotonic()
    out = kubectl(kubesim, "logs", "-f", "talker", "-n", ns).stdout
    assert out == "one\ntwo\nthree\n"
    assert time.monotonic() - started > 0.5


def test_get_watch_shows_the_pod_lifecycle(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    watcher = subprocess.Popen(
        ["kubectl", "get", "pods", "-n", ns, "-w", "--no-headers"],
        stdout=subprocess.PIPE,
        text=True,
        env=kubesim.env,
    )
    try:
        time.sleep(0.5)
        kubectl(
            kubesim, "apply", "-f", "-", stdin=pod_yaml(ns, "w1", {"kubesim.io/run-seconds": "1"})
        )
        seen: list[str] = []
        assert watcher.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = watcher.stdout.readline()
            seen.append(line)
            if "Completed" in line:
                break
        assert any("Running" in s for s in seen), seen
        assert "Completed" in seen[-1], seen
    finally:
        watcher.terminate()
        watcher.wait()
        if watcher.stdout:
            watcher.stdout.close()


def test_delete_cascade_foreground_removes_dependents_first(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    kubectl(
        kubesim, "apply", "-f", "-", stdin=pod_yaml(ns, "owner", {"kubesim.io/run-seconds": "inf"})
    )
    uid = get_json(kubesim, "pod", "owner", "-n", ns)["metadata"]["uid"]
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dep",
            "namespace": ns,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "owner",
                    "uid": uid,
                    "blockOwnerDeletion": True,
                }
            ],
        },
    }
    kubectl(kubesim, "apply", "-f", "-", stdin=json.dumps(dependent))
    kubectl(kubesim, "delete", "pod", "owner", "-n", ns, "--cascade=foreground", "--timeout=30s")
    assert kubectl(kubesim, "get", "configmap", "dep", "-n", ns, check=False).returncode != 0
    assert kubectl(kubesim, "get", "pod", "owner", "-n", ns, check=False).returncode != 0


def test_failures_show_as_a_kubelet_reports_them(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    kubectl(
        kubesim,
        "apply",
        "-f",
        "-",
        stdin=pod_yaml(ns, "pull", {}, image="registry.example/app:does-not-exist"),
    )
    kubectl(
        kubesim,
        "apply",
        "-f",
        "-",
        stdin=pod_yaml(ns, "oom", {"kubesim.io/oom": "true", "kubesim.io/run-seconds": "0.2"}),
    )
    big = "    resources: {requests: {cpu: '500'}}\n"
    kubectl(kubesim, "apply", "-f", "-", stdin=pod_yaml(ns, "huge", {}, extra=big))
    kubectl(
        kubesim,
        "wait",
        "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImagePullBackOff",
        "pod/pull",
        "-n",
        ns,
        "--timeout=20s",
    )
    kubectl(
        kubesim,
        "wait",
        "--for=jsonpath={.status.phase}=Failed",
        "pod/oom",
        "-n",
        ns,
        "--timeout=20s",
    )
    term = get_json(kubesim, "pod", "oom", "-n", ns)["status"]["containerStatuses"][0]["state"][
        "terminated"
    ]
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)
    kubectl(
        kubesim, "wait", "--for=condition=PodScheduled=False", "pod/huge", "-n", ns, "--timeout=20s"
    )
    cond = next(
        c
        for c in get_json(kubesim, "pod", "huge", "-n", ns)["status"]["conditions"]
        if c["type"] == "PodScheduled"
    )
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
    reasons = {e["reason"] for e in get_json(kubesim, "events", "-n", ns)["items"]}
    assert {"Failed", "BackOff", "FailedScheduling"} <= reasons


def test_auth_can_i_under_rbac(kubesim_factory: Callable[..., Kubesim]) -> None:
    ks = kubesim_factory("--rbac")
    kubectl(ks, "create", "namespace", "team")
    kubectl(ks, "create", "serviceaccount", "robot", "-n", "team")
    kubectl(
        ks,
        "create",
        "role",
        "reader",
        "-n",
        "team",
        "--verb=get,list,watch",
        "--resource=pods,pods/log",
    )
    kubectl(
        ks,
        "create",
        "rolebinding",
        "reader",
        "-n",
        "team",
        "--role=reader",
        "--serviceaccount=team:robot",
    )
    token = ks.service_account_token("team", "robot")
    assert (
        kubectl(ks, "auth", "can-i", "list", "pods", "-n", "team", token=token).stdout.strip()
        == "yes"
    )
    assert (
        kubectl(
            ks, "auth", "can-i", "create", "pods", "-n", "team", token=token, check=False
        ).stdout.strip()
        == "no"
    )
    denied = kubectl(ks, "get", "pods", "-n", "default", token=token, check=False)
    assert denied.returncode != 0
    assert (
        'pods is forbidden: User "system:serviceaccount:team:robot" cannot list resource "pods" in API group "" in the namespace "default"'
        in denied.stderr
    )
    assert (
        kubectl(ks, "auth", "can-i", "create", "pods", "--all-namespaces").stdout.strip() == "yes"
    )


def test_exec_needs_create_on_pods_exec_and_a_process_runtime(
    kubesim_factory: Callable[..., Kubesim],
) -> None:
    ks = kubesim_factory("--rbac")
    kubectl(ks, "create", "namespace", "team")
    kubectl(ks, "create", "serviceaccount", "robot", "-n", "team")
    kubectl(ks, "create", "serviceaccount", "operator", "-n", "team")
    for who, verbs in (("robot", "get"), ("operator", "get,create")):
        kubectl(
            ks, "create", "role", who, "-n", "team", f"--verb={verbs}", "--resource=pods,pods/exec"
        )
        kubectl(
            ks,
            "create",
            "rolebinding",
            who,
            "-n",
            "team",
            f"--role={who}",
            f"--serviceaccount=team:{who}",
        )
    pod = pod_yaml("team", "sleeper", {"kubesim.io/run-seconds": "inf"})
    kubectl(ks, "apply", "-f", "-", stdin=pod)
    wait_for(
        lambda: get_json(ks, "pod", "sleeper", "-n", "team")["status"].get("phase") == "Running"
    )

    def exec_as(who: str) -> subprocess.CompletedProcess[str]:
        # The token goes before `--`: after it, kubectl would pass it to the command.
        token = f"--token={ks.service_account_token('team', who)}"
        return kubectl(ks, "exec", "-n", "team", "sleeper", token, "--", "true", check=False)

    robot = exec_as("robot")
    assert robot.returncode != 0
    assert 'cannot create resource "pods/exec"' in robot.stderr
    # Allowed, the simulated runtime then says it runs no processes.
    refused = exec_as("operator")
    assert refused.returncode != 0
    assert "start kubesim with --runtime process" in refused.stderr


def test_typed_requests_kubectl_sends_as_protobuf(kubesim: Kubesim) -> None:
    # kubectl sends `create job|secret|token` bodies as application/vnd.kubernetes.protobuf.
    ns = new_namespace(kubesim)
    kubectl(kubesim, "create", "job", "once", "-n", ns, "--image=busybox:1.36", "--", "echo", "hi")
    job = get_json(kubesim, "job", "once", "-n", ns)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["command"]) == ("busybox:1.36", ["echo", "hi"])
    kubectl(kubesim, "create", "secret", "generic", "s", "-n", ns, "--from-literal=k=v")
    assert base64.b64decode(get_json(kubesim, "secret", "s", "-n", ns)["data"]["k"]) == b"v"
    # A token bound to a pod keeps the pod's uid (`uid` in JSON, `uID` in the .proto).
    kubectl(kubesim, "apply", "-f", "-", stdin=pod_yaml(ns, "holder", {}))
    uid = get_json(kubesim, "pod", "holder", "-n", ns)["metadata"]["uid"]
    bound = ["--bound-object-kind=Pod", "--bound-object-name=holder", f"--bound-object-uid={uid}"]
    request = json.loads(
        kubectl(kubesim, "create", "token", "default", "-n", ns, *bound, "-o", "json").stdout
    )
    assert request["spec"]["boundObjectRef"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": "holder",
        "uid": uid,
    }
    payload = request["status"]["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["kubernetes.io"]["pod"] == {"name": "holder", "uid": uid}
