"""kubesim's process runtime (`--runtime process`) checked as a kubelet and container runtime,
through clients nobody here wrote: kubectl and the official Python `kubernetes` client, on the
host and inside pods.

Every assertion is on something observed: container logs, pod and container statuses, events,
files a pod wrote on the host, processes in /proc. One kubesim serves the module and each test
works in its own namespace; the cleanup tests start their own. `busybox:1.36` and `python:3.11`
map to the host's root with no entrypoint, `apache/spark:*` to pyspark's Spark distribution with
kubesim's entrypoint.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes import client, config

from tests.conftest import Kubesim, alive, descendants, start_kubesim, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="the process runtime needs bubblewrap (bwrap)"
    ),
    pytest.mark.timeout(60),
]

BUSYBOX = "busybox:1.36"
PYTHON = "python:3.11"
SPARK = "apache/spark:4.0.1"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# This interpreter has the official client installed. Pods see the host's root read-only but
# a /tmp of their own, so the virtualenv (which may live under /tmp) comes in as a volume.
VENV_PYTHON = sys.executable
VENV_VOLUME = {"name": "venv", "hostPath": {"path": sys.prefix, "type": "Directory"}}
VENV_MOUNT = {"name": "venv", "mountPath": sys.prefix, "readOnly": True}


# --- talking to the cluster --------------------------------------------------------------------


def kubectl(
    ks: Kubesim, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, env=ks.env, timeout=60
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def apply(ks: Kubesim, *objects: dict[str, Any]) -> None:
    """`kubectl apply` of the objects as a YAML stream (kubectl validates a `List` against
    OpenAPI v2, which kubesim does not serve)."""
    kubectl(ks, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def logs(ks: Kubesim, ns: str, name: str, *args: str) -> str:
    return kubectl(ks, "logs", "-n", ns, name, *args).stdout


def pod(
    name: str,
    ns: str,
    containers: list[dict[str, Any]],
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {"app": name}}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"restartPolicy": "Never", "containers": containers, **spec},
    }


def sh(script: str, *, name: str = "main", image: str = BUSYBOX, **fields: Any) -> dict[str, Any]:
    """A container running `script` with the shell. The kubelet expands `$(VAR)` in it first,
    and `$$` is its escape for `$`."""
    return {"name": name, "image": image, "command": ["sh", "-c", script], **fields}


def config_map(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def secret(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded}


def terminated(state: client.V1ContainerState | None) -> client.V1ContainerStateTerminated:
    assert state is not None
    assert state.terminated is not None, state
    return state.terminated


@dataclass(frozen=True)
class Seen:
    """A pod as the API reports it, read with the Python client (optional fields narrowed)."""

    name: str
    uid: str
    phase: str
    pod_ip: str
    host_ip: str
    node_name: str
    containers: list[client.V1ContainerStatus]
    volumes: list[client.V1Volume]

    @classmethod
    def of(cls, p: client.V1Pod) -> Seen:
        assert p.metadata is not None
        assert p.spec is not None
        assert p.status is not None
        return cls(
            name=str(p.metadata.name),
            uid=str(p.metadata.uid),
            phase=str(p.status.phase),
            pod_ip=p.status.pod_ip or "",
            host_ip=p.status.host_ip or "",
            node_name=p.spec.node_name or "",
            containers=list(p.status.container_statuses or []),
            volumes=list(p.spec.volumes or []),
        )

    def state(self, index: int = 0) -> client.V1ContainerState:
        assert len(self.containers) > index, self
        state = self.containers[index].state
        assert state is not None
        return state

    def terminated(self, index: int = 0) -> client.V1ContainerStateTerminated:
        return terminated(self.state(index))


def read_pod(core: client.CoreV1Api, ns: str, name: str) -> Seen:
    return Seen.of(core.read_namespaced_pod(name, ns))


def in_phase(core: client.CoreV1Api, ns: str, name: str, phases: tuple[str, ...]) -> Seen | None:
    p = read_pod(core, ns, name)
    return p if p.phase in phases else None


def finished(core: client.CoreV1Api, ns: str, name: str, timeout: float = 20.0) -> Seen:
    """Waits for the pod to reach Succeeded or Failed."""
    done = ("Succeeded", "Failed")
    return wait_until(f"pod {ns}/{name} to finish", lambda: in_phase(core, ns, name, done), timeout)


def running(core: client.CoreV1Api, ns: str, name: str) -> Seen:
    return wait_until(f"pod {ns}/{name} to run", lambda: in_phase(core, ns, name, ("Running",)))


def run(ks: Kubesim, core: client.CoreV1Api, manifest: dict[str, Any]) -> tuple[Seen, str]:
    """Creates the pod, waits for it to finish and returns it with its log."""
    apply(ks, manifest)
    ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    done = finished(core, ns, name)
    return done, logs(ks, ns, name)


def events(core: client.CoreV1Api, ns: str, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the object's events."""
    found = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
    return [(str(e.type), str(e.reason), str(e.message)) for e in found.items]


def environment(log: str) -> dict[str, str]:
    """`env` output as a dict (lines without `=` are skipped)."""
    return dict(line.split("=", 1) for line in log.splitlines() if "=" in line)


# --- processes and cgroups on the host ---------------------------------------------------------


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def processes_with(marker: str) -> set[int]:
    """Live processes whose command line contains `marker`."""
    pids = {int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()}
    return alive({p for p in pids if marker.encode() in cmdline(p)})


def memory_cgroup(pid: int) -> Path | None:
    """The memory cgroup kubesim `pid` made for its containers (`kubesim-PID` below its own, v2
    or v1), or None: then it could make none and enforces no memory limits (it says so on
    stderr: "memory limits are not enforced")."""
    candidates = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            candidates.append(Path("/sys/fs/cgroup") / rel / f"kubesim-{pid}")
        elif "memory" in controllers.split(","):
            candidates.append(Path("/sys/fs/cgroup/memory") / rel / f"kubesim-{pid}")
    return next((c for c in candidates if c.is_dir()), None)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubesim]:
    server = start_kubesim(tmp_path_factory.mktemp("kubesim-process"), "--runtime", "process")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def core(ks: Kubesim) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(ks.kubeconfig))  # type: ignore[no-untyped-call]
    with api_client:
        yield client.CoreV1Api(api_client)


def create_namespace(ks: Kubesim, name: str) -> str:
    """Creates a namespace and waits for its default ServiceAccount (pods need it)."""
    kubectl(ks, "create", "namespace", name)
    wait_until(
        f"the default ServiceAccount of {name}",
        lambda: kubectl(ks, "get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    return name


@pytest.fixture
def ns(ks: Kubesim) -> str:
    return create_namespace(ks, f"proc-{uuid.uuid4().hex[:8]}")


# --- environment and command -------------------------------------------------------------------


def test_environment_from_every_source(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    meta = {"name": "runner", "namespace": ns}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    apply(
        ks,
        config_map("settings", ns, {"mode": "fast", "level": "3"}),
        secret("creds", ns, {"password": "hunter2", "user": "admin"}),
        account,
    )

    def field(path: str) -> dict[str, Any]:
        return {"fieldRef": {"fieldPath": path}}

    def key(kind: str, name: str, key: str) -> dict[str, Any]:
        return {kind: {"name": name, "key": key}}

    container = sh(
        "env; echo \"ARG=$(POD_NAME)@$(POD_NS)\"; echo 'LITERAL=$$(POD_NAME)'; pwd",
        workingDir="/usr/share",
        resources={"limits": {"memory": "96Mi"}},
        envFrom=[
            {"prefix": "CFG_", "configMapRef": {"name": "settings"}},
            {"prefix": "SEC_", "secretRef": {"name": "creds"}},
        ],
        env=[
            {"name": "PLAIN", "value": "plain value"},
            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
            {"name": "POD_NS", "valueFrom": field("metadata.namespace")},
            {"name": "POD_UID", "valueFrom": field("metadata.uid")},
            {"name": "LABEL_X", "valueFrom": field("metadata.labels['x']")},
            {"name": "POD_IP", "valueFrom": field("status.podIP")},
            {"name": "HOST_IP", "valueFrom": field("status.hostIP")},
            {"name": "NODE", "valueFrom": field("spec.nodeName")},
            {"name": "SA", "valueFrom": field("spec.serviceAccountName")},
            {
                "name": "MEMORY_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "PASSWORD", "valueFrom": key("secretKeyRef", "creds", "password")},
            {"name": "MODE", "valueFrom": key("configMapKeyRef", "settings", "mode")},
            {"name": "GREETING", "value": "$(POD_NAME) in $(POD_NS) at $(POD_IP), $(UNDEFINED)"},
            # A later definition replaces what envFrom set.
            {"name": "CFG_level", "value": "overridden"},
        ],
    )
    manifest = pod(
        "env-pod", ns, [container], labels={"x": "label-value"}, serviceAccountName="runner"
    )
    p, log = run(ks, core, manifest)
    assert p.phase == "Succeeded", log
    assert p.node_name
    env = environment(log)
    expected = {
        "PLAIN": "plain value",
        "POD_NAME": "env-pod",
        "POD_NS": ns,
        "POD_UID": p.uid,
        "LABEL_X": "label-value",
        "POD_IP": p.pod_ip,
        "HOST_IP": p.host_ip,
        "NODE": p.node_name,
        "SA": "runner",
        "MEMORY_MI": "96",
        "PASSWORD": "hunter2",
        "MODE": "fast",
        "GREETING": f"env-pod in {ns} at {p.pod_ip}, $(UNDEFINED)",
        "CFG_mode": "fast",
        "CFG_level": "overridden",
        "SEC_password": "hunter2",
        "SEC_user": "admin",
        "HOSTNAME": "env-pod",
        "ARG": f"env-pod@{ns}",
        "LITERAL": "$(POD_NAME)",
    }
    assert {k: env.get(k) for k in expected} == expected
    assert log.splitlines()[-1] == "/usr/share"
    # The in-cluster API address is on the pods' loopback network.
    host, port = env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]
    assert host.split(".")[:2] == p.pod_ip.split(".")[:2]
    assert host.endswith(".0.1")
    assert port in ("443", "6443")
    assert env["KUBERNETES_PORT"] == f"tcp://{host}:{port}"
    assert env[f"KUBERNETES_PORT_{port}_TCP_ADDR"] == host


def test_command_and_args_replace_the_image_entrypoint(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    pytest.importorskip("pyspark", reason="apache/spark images map to pyspark's Spark")
    report = 'echo "home=$SPARK_HOME cwd=$PWD local_ip=${SPARK_LOCAL_IP:-unset} args=$0,$1"'
    who = [{"name": "WHO", "value": "kubelet"}]
    # args only: the image's entrypoint runs them, in the image's WORKDIR.
    through_entrypoint = {
        "name": "main",
        "image": SPARK,
        "env": who,
        "args": ["sh", "-c", report, "$(WHO)"],
    }
    # command: the entrypoint is bypassed; workingDir replaces the image's.
    replaced = {
        "name": "main",
        "image": SPARK,
        "env": who,
        "workingDir": "/etc",
        "command": ["/bin/sh", "-c"],
        "args": [report, "$(WHO)", "second"],
    }
    p1, log1 = run(ks, core, pod("entry", ns, [through_entrypoint]))
    p2, log2 = run(ks, core, pod("command", ns, [replaced]))
    # kubesim's /opt/entrypoint.sh sets SPARK_LOCAL_IP to the pod's IP.
    assert log1 == f"home=/opt/spark cwd=/opt/spark/work-dir local_ip={p1.pod_ip} args=kubelet,\n"
    assert log2 == "home=/opt/spark cwd=/etc local_ip=unset args=kubelet,second\n"
    assert (p1.phase, p2.phase) == ("Succeeded", "Succeeded")


# --- volumes -----------------------------------------------------------------------------------


def test_config_map_and_secret_volumes(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    apply(
        ks,
        config_map("app", ns, {"app.conf": "threads=4\n", "other.txt": "other\n"}),
        secret("tls", ns, {"key.pem": "-----PRIVATE-----\n"}),
    )
    script = """
cat /etc/all/app.conf /etc/all/other.txt
echo "all: $(ls /etc/all | tr '\\n' ' ')"
echo "all mode: $(stat -c %a /etc/all/app.conf)"
echo "items: $(find /etc/items -type f | tr '\\n' ' ')"
echo "items mode: $(stat -c %a /etc/items/conf/app.conf)"
echo "secret: $(cat /etc/secret/key.pem) mode $(stat -c %a /etc/secret/key.pem)"
echo "subpath: $(cat /opt/app.conf) file=$(test -f /opt/app.conf && echo yes)"
touch /etc/all/new 2>&1 || true
"""
    container = sh(
        script,
        volumeMounts=[
            {"name": "all", "mountPath": "/etc/all"},
            {"name": "items", "mountPath": "/etc/items"},
            {"name": "secret", "mountPath": "/etc/secret"},
            {"name": "all", "mountPath": "/opt/app.conf", "subPath": "app.conf"},
        ],
    )
    items = [{"key": "app.conf", "path": "conf/app.conf", "mode": 0o600}]
    volumes = [
        {"name": "all", "configMap": {"name": "app", "defaultMode": 0o640}},
        {"name": "items", "configMap": {"name": "app", "items": items}},
        {"name": "secret", "secret": {"secretName": "tls", "defaultMode": 0o400}},
    ]
    p, log = run(ks, core, pod("volumes", ns, [container], volumes=volumes))
    assert p.phase == "Succeeded", log
    lines = log.splitlines()
    assert lines[:-1] == [
        "threads=4",
        "other",
        "all: app.conf other.txt ",
        "all mode: 640",
        "items: /etc/items/conf/app.conf ",
        "items mode: 600",
        "secret: -----PRIVATE----- mode 400",
        "subpath: threads=4 file=yes",
    ]
    # ConfigMap volumes are read-only, as the kubelet mounts them.
    assert "Read-only file system" in lines[-1]


def test_empty_dir_is_shared_by_the_containers_of_a_pod(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    mounts = [{"name": "shared", "mountPath": "/shared"}]
    write = "echo written-by-$HOSTNAME > /shared/msg.tmp && mv /shared/msg.tmp /shared/msg"
    read = "until [ -f /shared/msg ]; do sleep 0.1; done; cat /shared/msg"
    containers = [
        sh(write, name="writer", volumeMounts=mounts),
        sh(read, name="reader", volumeMounts=mounts),
    ]
    manifest = pod("shared", ns, containers, volumes=[{"name": "shared", "emptyDir": {}}])
    p, _ = run(ks, core, manifest)
    assert p.phase == "Succeeded"
    assert logs(ks, ns, "shared", "-c", "reader") == "written-by-shared\n"


def test_host_path_sub_path_and_read_only_mounts(
    ks: Kubesim, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    script = """
echo written-by-pod > /data/out.txt
echo nested > /nested/file
touch /ro/refused 2>&1 || true
cat /ro/out.txt
"""
    container = sh(
        script,
        volumeMounts=[
            {"name": "host", "mountPath": "/data"},
            {"name": "host", "mountPath": "/nested", "subPath": "sub/dir"},
            {"name": "host", "mountPath": "/ro", "readOnly": True},
        ],
    )
    volumes = [{"name": "host", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}}]
    p, log = run(ks, core, pod("hostpath", ns, [container], volumes=volumes))
    assert p.phase == "Succeeded", log
    assert (host / "out.txt").read_text() == "written-by-pod\n"
    assert (host / "sub" / "dir" / "file").read_text() == "nested\n"
    assert not (host / "refused").exists()
    refused, read_back = log.splitlines()
    assert "Read-only file system" in refused
    assert read_back == "written-by-pod"


def test_service_account_token_ca_and_namespace_are_mounted(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    script = f"cat {SA_DIR}/namespace; echo; cat {SA_DIR}/token; echo; cat {SA_DIR}/ca.crt"
    p, log = run(ks, core, pod("sa", ns, [sh(script)]))
    assert p.phase == "Succeeded", log
    # Admission added the projected volume, as kube-apiserver's ServiceAccount plugin does.
    projected = [v.projected for v in p.volumes if v.name.startswith("kube-api-access-")]
    assert projected
    assert projected[0] is not None
    namespace, token, ca = log.split("\n", 2)
    assert namespace == ns
    kubeconfig_ca = kubectl(
        ks,
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ).stdout
    assert ca.strip() == base64.b64decode(kubeconfig_ca).decode().strip()
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == f"system:serviceaccount:{ns}:default"
    assert claims["kubernetes.io"]["namespace"] == ns
    assert claims["kubernetes.io"]["pod"] == {"name": "sa", "uid": p.uid}
    # The token authenticates as the ServiceAccount.
    whoami = kubectl(ks, "auth", "whoami", "-o", "json", "--token", token).stdout
    user = json.loads(whoami)["status"]["userInfo"]["username"]
    assert user == f"system:serviceaccount:{ns}:default"


def test_pod_waits_for_a_config_map_created_after_it(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    container = sh("cat /cfg/key", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
    volumes = [{"name": "cfg", "configMap": {"name": "late"}}]
    apply(ks, pod("late", ns, [container], volumes=volumes))
    failed = wait_until(
        "a FailedMount event",
        lambda: [e for e in events(core, ns, "late") if e[1] == "FailedMount"],
        timeout=15,
    )
    message = 'MountVolume.SetUp failed for volume "cfg" : configmap "late" not found'
    assert failed[0] == ("Warning", "FailedMount", message)
    pending = read_pod(core, ns, "late")
    assert pending.phase == "Pending"
    waiting = pending.state().waiting
    assert waiting is not None
    assert waiting.reason == "ContainerCreating"
    apply(ks, config_map("late", ns, {"key": "arrived"}))
    assert finished(core, ns, "late").phase == "Succeeded"
    assert logs(ks, ns, "late").rstrip("\n") == "arrived"


# --- networking and DNS ------------------------------------------------------------------------


def test_pods_reach_each_other_through_a_headless_service_and_the_proxies(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    server = {
        "name": "main",
        "image": PYTHON,
        "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)"],
        "args": ["--directory", "/srv"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "volumeMounts": [{"name": "site", "mountPath": "/srv"}],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080}]},
    }
    apply(
        ks,
        config_map("site", ns, {"index.html": f"hello from {ns}\n"}),
        pod("web", ns, [server], volumes=[{"name": "site", "configMap": {"name": "site"}}]),
        service,
    )
    web = running(core, ns, "web")
    fetch = f"""
import socket, time, urllib.request
name = "web.{ns}.svc"
deadline = time.monotonic() + 15
while True:
    try:
        body = urllib.request.urlopen(f"http://{{name}}:8080/", timeout=2).read().decode()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
print(socket.gethostbyname(name))
print(body, end="")
"""
    fetcher = {"name": "main", "image": PYTHON, "command": ["python3", "-c", fetch]}
    p, log = run(ks, core, pod("client", ns, [fetcher]))
    assert p.phase == "Succeeded", log
    assert log.splitlines() == [web.pod_ip, f"hello from {ns}"]
    # Each pod has its own address on kubesim's loopback network.
    assert web.pod_ip != p.pod_ip
    assert web.pod_ip.startswith("127.")
    assert web.pod_ip.split(".")[:2] == p.pod_ip.split(".")[:2]
    # kubectl through the API server's proxy subresources to the pod's server.
    base = f"/api/v1/namespaces/{ns}"
    for path in (
        f"{base}/pods/web:8080/proxy/",
        f"{base}/pods/web:http/proxy/index.html",
        f"{base}/services/web:8080/proxy/",
    ):
        assert kubectl(ks, "get", "--raw", path).stdout == f"hello from {ns}\n", path


def test_in_cluster_clients_reach_the_api_over_verified_https(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    script = f"""
import json, os, ssl, urllib.error, urllib.request
sa = "{SA_DIR}"
port = os.environ["KUBERNETES_SERVICE_PORT"]
url = "https://kubernetes.default.svc" + ("" if port == "443" else ":" + port)
url += "/api/v1/namespaces/{ns}/pods"
token = open(sa + "/token").read()
req = urllib.request.Request(url, headers={{"Authorization": "Bearer " + token}})
try:
    urllib.request.urlopen(req, context=ssl.create_default_context(), timeout=10)
    print("system CAs: accepted")
except urllib.error.URLError as e:
    print("system CAs:", type(e.reason).__name__)
cluster_ca = ssl.create_default_context(cafile=sa + "/ca.crt")
with urllib.request.urlopen(req, context=cluster_ca, timeout=10) as resp:
    print("raw:", resp.status, [p["metadata"]["name"] for p in json.load(resp)["items"]])
# The official client's in-cluster configuration dials KUBERNETES_SERVICE_HOST, an address.
from kubernetes import client, config
config.load_incluster_config()
api = client.CoreV1Api()
print("client:", api.api_client.configuration.host)
print("client:", [p.metadata.name for p in api.list_namespaced_pod("{ns}").items])
"""
    container = {
        "name": "main",
        "image": PYTHON,
        "command": [VENV_PYTHON, "-c", script],
        "volumeMounts": [VENV_MOUNT],
    }
    p, log = run(ks, core, pod("incluster", ns, [container], volumes=[VENV_VOLUME]))
    assert p.phase == "Succeeded", log
    api_ip = p.pod_ip.rsplit(".", 2)[0] + ".0.1"
    lines = log.splitlines()
    assert lines[:2] == ["system CAs: SSLCertVerificationError", "raw: 200 ['incluster']"]
    assert lines[2] in (f"client: https://{api_ip}:443", f"client: https://{api_ip}:6443")
    assert lines[3:] == ["client: ['incluster']"]


# --- lifecycle ---------------------------------------------------------------------------------


def test_exit_codes_and_reasons(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    cases = {
        "ok": ("exit 0", 0, "Completed", "Succeeded"),
        "fail": ("exit 3", 3, "Error", "Failed"),
        # A signal: 128 + 9. The shell sees `kill -9 $$`.
        "killed": ("kill -9 $$$$", 137, "Error", "Failed"),
    }
    apply(ks, *(pod(name, ns, [sh(case[0])]) for name, case in cases.items()))
    for name, (_, code, reason, phase) in cases.items():
        p = finished(core, ns, name)
        state = p.terminated()
        assert (state.exit_code, state.reason, p.phase) == (code, reason, phase), name
        assert state.started_at is not None
        assert state.finished_at is not None


def test_termination_messages_as_a_kubelet_reports_them(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    written = sh("printf '{\"rows\": 3}' > /dev/termination-log")
    custom = {**sh("echo done > /tmp/result.json"), "terminationMessagePath": "/tmp/result.json"}
    fallback = {
        **sh("echo first; echo 'Error: no input'; exit 2"),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    silent = sh("echo only a log line; exit 2")
    cases = {
        "written": (written, '{"rows": 3}'),
        "custom-path": (custom, "done\n"),
        "fallback": (fallback, "first\nError: no input"),
        "silent": (silent, None),
    }
    apply(ks, *(pod(name, ns, [container]) for name, (container, _) in cases.items()))
    for name, (_, message) in cases.items():
        assert finished(core, ns, name).terminated().message == message, name


def test_on_failure_restarts_a_failing_container(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    script = "if [ -f /s/seen ]; then echo second; exit 0; fi; touch /s/seen; echo first; exit 1"
    manifest = pod(
        "retry",
        ns,
        [sh(script, volumeMounts=[{"name": "scratch", "mountPath": "/s"}])],
        volumes=[{"name": "scratch", "emptyDir": {}}],
        # The first restart comes at once, as a kubelet's, without a back-off.
        restartPolicy="OnFailure",
    )
    p, log = run(ks, core, manifest)
    status = p.containers[0]
    assert status.restart_count == 1
    last = terminated(status.last_state)
    assert (last.exit_code, last.reason) == (1, "Error")
    assert (p.terminated().exit_code, p.terminated().reason) == (0, "Completed")
    assert p.phase == "Succeeded"
    assert log == "second\n"
    assert logs(ks, ns, "retry", "--previous") == "first\n"


def test_delete_sends_sigterm_then_sigkill_after_the_grace_period(
    ks: Kubesim, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    mounts = [{"name": "host", "mountPath": "/host"}]
    volumes = [{"name": "host", "hostPath": {"path": str(tmp_path), "type": "Directory"}}]
    loop = "echo ready; while true; do sleep 0.1; done"
    graceful = sh(f"trap 'echo SIGTERM received > /host/graceful; exit 0' TERM; {loop}")
    # Survives SIGTERM (the trap only notes it): only SIGKILL ends it.
    stubborn = sh(f"trap 'echo SIGTERM ignored >> /host/stubborn' TERM; {loop} # {marker}")
    apply(
        ks,
        pod("graceful", ns, [graceful | {"volumeMounts": mounts}], volumes=volumes),
        pod(
            "stubborn",
            ns,
            [stubborn | {"volumeMounts": mounts}],
            volumes=volumes,
            terminationGracePeriodSeconds=1,
        ),
    )

    def ready(name: str) -> bool:
        return logs(ks, ns, name) == "ready\n"

    for name in ("graceful", "stubborn"):
        running(core, ns, name)
        wait_until(f"{name} to set its trap", functools.partial(ready, name))

    started = time.monotonic()
    kubectl(ks, "delete", "pod", "-n", ns, "graceful")
    assert time.monotonic() - started < 10, "a container that exits on SIGTERM waited for SIGKILL"
    assert (tmp_path / "graceful").read_text() == "SIGTERM received\n"

    pids = processes_with(marker)
    assert pids, "the stubborn container's processes are not visible in /proc"
    started = time.monotonic()
    kubectl(ks, "delete", "pod", "-n", ns, "stubborn")
    elapsed = time.monotonic() - started
    assert (tmp_path / "stubborn").read_text() == "SIGTERM ignored\n"
    assert 1.0 <= elapsed < 10, f"deletion took {elapsed:.1f}s with a 1 s grace period"
    assert not alive(pids), "processes of the deleted pod still run"


def test_memory_limit_exceeded_is_oom_killed(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    if memory_cgroup(ks.process.pid) is None:
        pytest.skip(
            "kubesim could not create a memory cgroup on this machine (no kubesim-PID group "
            "below its own, v2 or v1): memory limits are not enforced"
        )
    hog = """
chunks = []
while True:
    chunks.append(b"x" * (1 << 20))
    if len(chunks) % 8 == 0:
        print(len(chunks), flush=True)
"""
    container = {
        "name": "main",
        "image": PYTHON,
        "command": ["python3", "-c", hog],
        "resources": {"limits": {"memory": "64Mi"}},
    }
    p, log = run(ks, core, pod("hog", ns, [container]))
    state = p.terminated()
    assert (state.exit_code, state.reason, p.phase) == (137, "OOMKilled", "Failed")
    allocated = [int(n) for n in log.split()]
    assert allocated, "the container was killed before allocating anything"
    assert max(allocated) < 64, f"allocated {max(allocated)} MiB under a 64 MiB limit"


def test_unmapped_image_fails_to_pull(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    apply(ks, pod("nginx", ns, [{"name": "main", "image": "nginx:1.27"}]))

    def backing_off() -> client.V1ContainerStateWaiting | None:
        p = read_pod(core, ns, "nginx")
        waiting = p.state().waiting if p.containers else None
        return waiting if waiting is not None and waiting.reason == "ImagePullBackOff" else None

    waiting = wait_until("ImagePullBackOff", backing_off)
    missing = (
        'failed to pull and unpack image "docker.io/library/nginx:1.27": failed to resolve '
        'reference "docker.io/library/nginx:1.27": docker.io/library/nginx:1.27: not found '
        "(kubesim's process runtime has no image table entry matching it)"
    )
    pull_error = f"rpc error: code = NotFound desc = {missing}"
    assert waiting.message == f'Back-off pulling image "nginx:1.27": ErrImagePull: {pull_error}'
    seen = events(core, ns, "nginx")
    for expected in (
        ("Warning", "Failed", f'Failed to pull image "nginx:1.27": {pull_error}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
        ("Normal", "BackOff", 'Back-off pulling image "nginx:1.27"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
    ):
        assert expected in seen
    assert read_pod(core, ns, "nginx").phase == "Pending"


def test_logs_follow_streams_lines_as_written(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    apply(ks, pod("ticker", ns, [sh("for i in 1 2 3; do echo line-$i; sleep 0.6; done")]))
    running(core, ns, "ticker")
    follow = subprocess.Popen(
        ["kubectl", "logs", "-f", "-n", ns, "ticker"], stdout=subprocess.PIPE, text=True, env=ks.env
    )
    assert follow.stdout is not None
    arrivals: list[tuple[str, float, str]] = []
    try:
        for line in follow.stdout:
            arrivals.append((line.strip(), time.monotonic(), read_pod(core, ns, "ticker").phase))
        assert follow.wait(timeout=10) == 0
    finally:
        follow.kill()
        follow.wait()
        follow.stdout.close()
    assert [a[0] for a in arrivals] == ["line-1", "line-2", "line-3"]
    # The first line came while the container ran, over a second before the last.
    assert arrivals[0][2] == "Running"
    assert arrivals[2][1] - arrivals[0][1] >= 0.9


# --- exec and port-forward ---------------------------------------------------------------------


def web_server(name: str, ns: str, **fields: Any) -> dict[str, Any]:
    """A pod whose Python serves its /tmp (a tmpfs of its own) on its own address, port 8080,
    after writing `hello` and a 1 MiB file of random bytes there."""
    script = (
        "cd /tmp && echo hello > index.html && head -c 1048576 /dev/urandom > big"
        " && exec python3 -m http.server 8080 --bind $(POD_IP)"
    )
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "hi there"},
    ]
    return pod(name, ns, [sh(script, image=PYTHON, env=env, workingDir="/usr/share", **fields)])


def serving(ks: Kubesim, core: client.CoreV1Api, ns: str, name: str) -> None:
    """Waits until the pod's server answers (through the API server's pod proxy)."""
    running(core, ns, name)
    path = f"/api/v1/namespaces/{ns}/pods/{name}:8080/proxy/index.html"
    wait_until(
        f"the server of pod {ns}/{name}",
        lambda: kubectl(ks, "get", "--raw", path, check=False).stdout == "hello\n",
    )


def test_kubectl_exec_runs_in_the_containers_environment(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    apply(ks, web_server("web", ns))
    serving(ks, core, ns, "web")
    script = "echo $GREETING; pwd; hostname; cat /tmp/index.html; echo to-stderr >&2"
    done = kubectl(ks, "exec", "-n", ns, "web", "--", "sh", "-c", script)
    # The container's variables, working directory, hostname and its own /tmp.
    assert done.stdout.splitlines() == ["hi there", "/usr/share", "web", "hello"]
    assert "to-stderr" in done.stderr
    # stdin to the end and its close (v5.channel.k8s.io), then the exit code through kubectl.
    text = "".join(f"line {i}\n" for i in range(2000))
    assert kubectl(ks, "exec", "-i", "-n", ns, "web", "--", "cat", stdin=text).stdout == text
    failed = kubectl(ks, "exec", "-n", ns, "web", "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    assert "command terminated with exit code 3" in failed.stderr
    missing = kubectl(ks, "exec", "-n", ns, "web", "-c", "nope", "--", "true", check=False)
    assert missing.returncode != 0
    assert "container nope is not valid for pod web" in missing.stderr


def close_websocket(session: Any) -> None:
    """Closes an exec session of the Python client. Its `close()` does nothing once the server
    has closed the WebSocket (as kube-apiserver does after the exit status), leaving the socket
    to the garbage collector; `shutdown()` closes it."""
    session.close()
    session.sock.shutdown()


def test_python_client_exec_stream(ks: Kubesim, core: client.CoreV1Api, ns: str) -> None:
    from kubernetes.stream import stream

    apply(ks, web_server("web", ns))
    serving(ks, core, ns, "web")
    # `_preload_content=False` hands the WebSocket over, so that it is closed here (a preloaded
    # call leaves it to the garbage collector).
    listing = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        ns,
        command=["sh", "-c", "echo $GREETING; ls /tmp"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    try:
        listing.run_forever(timeout=20)
        assert listing.read_stdout().splitlines() == ["hi there", "big", "index.html"]
        assert listing.returncode == 0
    finally:
        close_websocket(listing)
    session = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        ns,
        command=["sh", "-c", "read x; echo got $x; echo oops >&2; exit 4"],
        stdout=True,
        stderr=True,
        stdin=True,
        tty=False,
        _preload_content=False,
    )
    try:
        session.write_stdin("ping\n")
        session.run_forever(timeout=20)
        assert session.read_stdout() == "got ping\n"
        assert session.read_stderr() == "oops\n"
        assert session.returncode == 4
    finally:
        close_websocket(session)


@pytest.mark.parametrize("websockets", ["true", "false"], ids=["spdy-in-websocket", "spdy"])
def test_kubectl_port_forward_relays_http(
    ks: Kubesim, core: client.CoreV1Api, ns: str, websockets: str
) -> None:
    """kubectl 1.32 tunnels SPDY/3.1 in a WebSocket and falls back to a plain SPDY upgrade
    (forced here with KUBECTL_PORT_FORWARD_WEBSOCKETS=false)."""
    import urllib.request

    apply(ks, web_server("web", ns))
    serving(ks, core, ns, "web")
    in_pod = kubectl(ks, "exec", "-n", ns, "web", "--", "sha256sum", "/tmp/big").stdout.split()[0]
    env = {**ks.env, "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets}
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "-n", ns, "pod/web", ":8080", "--address", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert forward.stdout is not None
    try:
        first = forward.stdout.readline()
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", first)
        assert m, first
        base = f"http://127.0.0.1:{m.group(1)}"
        with urllib.request.urlopen(f"{base}/index.html", timeout=10) as r:
            assert r.read() == b"hello\n"
        # A body far beyond SPDY's initial 64 KiB window, on a second connection.
        with urllib.request.urlopen(f"{base}/big", timeout=20) as r:
            assert hashlib.sha256(r.read()).hexdigest() == in_pod
    finally:
        forward.terminate()
        forward.wait(timeout=10)
        forward.stdout.close()
        assert forward.stderr is not None
        forward.stderr.close()


def test_kubectl_port_forward_reports_a_closed_port(
    ks: Kubesim, core: client.CoreV1Api, ns: str
) -> None:
    import socket

    apply(ks, web_server("web", ns))
    serving(ks, core, ns, "web")
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "-n", ns, "pod/web", ":9", "--address", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ks.env,
    )
    assert forward.stdout is not None
    assert forward.stderr is not None
    try:
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 9", forward.stdout.readline())
        assert m
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as conn:
            conn.settimeout(10)
            assert conn.recv(1) == b""
        # kubectl shows the error stream's message and gives up, as with a real cluster.
        assert forward.wait(timeout=20) != 0
        assert "failed to connect to localhost:9 inside namespace" in forward.stderr.read()
    finally:
        forward.kill()
        forward.wait()
        forward.stdout.close()
        forward.stderr.close()


# --- cleanup -----------------------------------------------------------------------------------


def start_busy_pod(server: Kubesim) -> set[int]:
    """Starts a pod with a small process tree (children, one in its own session, one ignoring
    SIGTERM) and returns every process below kubesim once they all run."""
    create_namespace(server, "busy")
    script = "sleep 300 & setsid sleep 301 & (trap '' TERM; exec sleep 302) & echo started; wait"
    apply(server, pod("busy", "busy", [sh(script)]))

    def tree() -> set[int] | None:
        below = alive(descendants(server.process.pid))
        sleeps = [p for p in below if cmdline(p).startswith(b"sleep\x0030")]
        return below if len(sleeps) == 3 else None

    return wait_until("three sleeps below kubesim", tree)


def assert_all_gone(pids: set[int], what: str) -> None:
    deadline = time.monotonic() + 10
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {p: cmdline(p) for p in alive(pids)}
    assert not left, f"processes left running after {what}: {left}"


def test_stopping_kubesim_stops_every_container(kubesim_factory: Callable[..., Kubesim]) -> None:
    server = kubesim_factory("--runtime", "process")
    pids = start_busy_pod(server)
    assert server.stop(signal.SIGTERM) == 0
    assert_all_gone(pids, "kubesim stopped")


def test_killed_kubesim_takes_its_containers_along(
    kubesim_factory: Callable[..., Kubesim],
) -> None:
    server = kubesim_factory("--runtime", "process")
    pid = server.process.pid
    cgroup = memory_cgroup(pid)
    pids = start_busy_pod(server)
    server.stop(signal.SIGKILL)
    assert_all_gone(pids, "kubesim was killed")
    # What a killed kubesim cannot remove itself: its runtime directory and empty cgroups.
    for leftover in Path(tempfile.gettempdir()).glob(f"kubesim-{pid}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if cgroup is not None:
        for group in [g for g in cgroup.iterdir() if g.is_dir()]:
            group.rmdir()
        cgroup.rmdir()
