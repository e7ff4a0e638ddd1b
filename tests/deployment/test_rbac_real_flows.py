"""The base Roles proven with the real flows: `sparkube submit` as `sparkube-submitter`, a real
Spark driver JVM as `spark-driver` creating its executors through the API with its mounted token,
and the real UI proxy as `spark-ui-proxy`, on kubesim with RBAC enforced (`--rbac`) and pods run
as local processes (`--runtime process`).

kubesim's audit log (`--audit-log-path`) records every request with its service account, verb,
resource and status code, so each test asserts on what the real clients did, not on what they
are believed to do:

- sufficient: SparkPi with the base Roles succeeds end to end (the driver creates two executors,
  Pi is printed; `sparkube status`, `logs`, `kill` and progress work as the submitter; the proxy
  serves the running UI) with no 401 or 403, and the rules it used are every rule of the three
  Roles but two;
- those two are used by the driver when an executor is lost (GET and DELETE of that executor pod)
  and for on-demand executor claims (POST of PVCs): a second run shows both;
- minimal, on the real flows: without a rule the driver needs to start, the application fails
  and the audit log shows the 403 of that rule's call; without the stop-time rules the driver's
  clean-up calls get 403 and executors and their ConfigMap are left behind; without any one
  submitter rule, the `sparkube` command that needs it fails with 403 (submissions leave nothing
  behind); without its rule the proxy's lookup gets 403.

test_rbac_kubesim.py keeps the exhaustive per-rule check with raw HTTP calls (fast, no JVM).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
import yaml
from deployment_support import DEPLOYMENT, Doc, render
from rbac_rules import ROLES, Rule

import sparkube
from sparkube.errors import KubernetesApiError
from tests.conftest import Kubesim, assert_nothing_left_running, descendants, start_kubesim

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="the process runtime needs bwrap"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark drivers need java"),
    pytest.mark.timeout(240),
]

NS = "spark-apps"
API = f"/api/v1/namespaces/{NS}"
RBAC_API = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}"
SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
IMAGE = "apache/spark:4.0.1"
# An image kubesim's process runtime has no entry for: the driver stays Pending (ErrImagePull),
# a real driver pod for the submitter's commands without a JVM.
NO_IMAGE = "sparkube.invalid/no-such-image:1"
PI = "local:///opt/spark/examples/src/main/python/pi.py"
CLIENT = DEPLOYMENT / "overlays" / "dev" / "client"
SUBMITTED = re.compile(r"as driver pod spark-apps/(\S+)")
# The per-object kinds a submission or an application creates in the namespace.
KINDS = {
    "pods": f"{API}/pods",
    "services": f"{API}/services",
    "configmaps": f"{API}/configmaps",
    "persistentvolumeclaims": f"{API}/persistentvolumeclaims",
    "networkpolicies": f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies",
}


class Call(NamedTuple):
    """One request of a service account of the namespace, from kubesim's audit log."""

    account: str
    verb: str
    resource: str
    """The resource plural, with `/subresource` when there is one."""
    name: str
    code: int


def base_rules(role: str) -> list[Doc]:
    """The rules of `role` as deployment/base renders them."""
    doc = next(d for d in render("base") if d["kind"] == "Role" and d["metadata"]["name"] == role)
    return list(doc["rules"])


def rule_of(call: Call) -> Rule | None:
    """The rule of the base Role of `call.account` that authorizes `call`, if any."""
    for rule in ROLES.get(call.account, ()):
        if rule.resource == call.resource and call.verb in rule.verbs:
            return rule
    return None


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `check` until it returns something truthy, and returns it."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)
    return result


@dataclass
class Flows:
    """kubesim with RBAC, the process runtime, an audit log and base's RBAC objects applied."""

    kubesim: Kubesim
    audit_log: Path
    kubeconfig: Path
    """A kubeconfig whose user is the `sparkube-submitter` token."""
    proxy_url: str
    """The real UI proxy, in a pod running as `spark-ui-proxy`."""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def submit_args(self, name: str, *conf: str, image: str = IMAGE) -> list[str]:
        """`sparkube submit` arguments: the dev client defaults' accounts and pod templates."""
        settings = [
            f"spark.kubernetes.namespace={NS}",
            f"spark.kubernetes.container.image={image}",
            "spark.kubernetes.authenticate.driver.serviceAccountName=spark-driver",
            "spark.kubernetes.authenticate.executor.serviceAccountName=spark-executor",
            f"spark.kubernetes.driver.podTemplateFile={CLIENT / 'driver-template.yaml'}",
            f"spark.kubernetes.executor.podTemplateFile={CLIENT / 'executor-template.yaml'}",
            "spark.executor.instances=2",
            "spark.driver.memory=512m",
            "spark.executor.memory=512m",
            "spark.kubernetes.driver.request.cores=0.5",
            "spark.kubernetes.executor.request.cores=0.5",
            *conf,
        ]
        args = ["--master", "k8s://" + self.kubesim.https_url, "--deploy-mode", "cluster"]
        args += ["--name", name]
        for setting in settings:
            args += ["--conf", setting]
        return args

    def sparkube(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """The sparkube command line, as the submitter."""
        return subprocess.run(
            [SPARKUBE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )

    def mark(self) -> int:
        """How many audit events are written so far (for `calls(since=...)`)."""
        return len(self._lines())

    def _lines(self) -> list[str]:
        # Events are written a line at a time: only text up to the last newline is complete.
        text = self.audit_log.read_text()
        return text[: text.rfind("\n") + 1].splitlines()

    def calls(self, since: int = 0) -> list[Call]:
        """The service accounts' requests since audit event number `since`."""
        prefix = f"system:serviceaccount:{NS}:"
        out = []
        for line in self._lines()[since:]:
            event = json.loads(line)
            user = event["user"].get("username", "")
            if not user.startswith(prefix):
                continue
            ref = event.get("objectRef", {})
            resource = ref.get("resource", "")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            code = int(event["responseStatus"]["code"])
            out.append(
                Call(user[len(prefix) :], event["verb"], resource, ref.get("name", ""), code)
            )
        return out

    def set_rules(self, role: str, rules: list[Doc]) -> None:
        status, current = self.kubesim.request("GET", f"{RBAC_API}/roles/{role}")
        assert status == 200, current
        current["rules"] = rules
        status, body = self.kubesim.request("PUT", f"{RBAC_API}/roles/{role}", current)
        assert status == 200, body

    def remove_rules(self, role: str, *removed: tuple[str, tuple[str, ...]]) -> None:
        """Applies the base rules of `role` without the rules (resource, verbs) `removed`."""
        kept = [
            r
            for r in base_rules(role)
            if (r["resources"][0], tuple(r["verbs"])) not in {(res, v) for res, v in removed}
        ]
        assert len(kept) == len(base_rules(role)) - len(removed), removed
        self.set_rules(role, kept)

    def items(self, kind: str, selector: str = "") -> list[dict[str, Any]]:
        query = f"?labelSelector={urllib.parse.quote(selector)}" if selector else ""
        status, body = self.kubesim.request("GET", KINDS[kind] + query)
        assert status == 200, body
        return list(body["items"])

    def objects(self) -> set[tuple[str, str]]:
        """(kind, name) of everything submissions and applications create in the namespace."""
        return {
            (kind, o["metadata"]["name"])
            for kind in KINDS
            for o in self.items(kind)
            if o["metadata"]["name"] != "kube-root-ca.crt"
        }

    def app_objects(self, app_id: str) -> set[tuple[str, str]]:
        """(kind, name) of the objects that carry the application's label."""
        selector = f"spark-app-selector={app_id}"
        return {(kind, o["metadata"]["name"]) for kind in KINDS for o in self.items(kind, selector)}

    def driver_log(self, pod: str) -> str:
        status, body = self.kubesim.request("GET", f"{API}/pods/{pod}/log")
        assert status == 200, body
        return str(body)

    def app_id(self, pod: str) -> str:
        status, body = self.kubesim.request("GET", f"{API}/pods/{pod}")
        assert status == 200, body
        return str(body["metadata"]["labels"]["spark-app-selector"])

    def through_proxy(self, app_id: str) -> tuple[int, str]:
        """GET of the application's UI through the UI proxy: status and body."""
        try:
            with urllib.request.urlopen(f"{self.proxy_url}/{NS}/{app_id}/", timeout=10) as r:
                return int(r.status), r.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            err.close()
            return int(err.code), body

    def kill(self, pod: str) -> None:
        """`sparkube kill` as the submitter; waits until the pod and what it owns are gone."""
        app_id = self.app_id(pod)
        result = self.sparkube("kill", f"{NS}:{pod}")
        assert result.returncode == 0, result.stderr
        eventually(lambda: not self.app_objects(app_id), 60, f"the objects of {app_id} deleted")


def _proxy_pod() -> Doc:
    """The UI proxy Deployment's pod, running the proxy's source on the host's Python (the image
    is one stdlib-only file on python:3.12) and bound to its pod IP (pods share the host's
    network in kubesim's process runtime)."""
    deployment = next(
        d
        for d in render("base")
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "spark-ui-proxy"
    )
    template = deployment["spec"]["template"]
    container = template["spec"]["containers"][0]
    container["image"] = "python:3.12.11-slim-bookworm"
    source = DEPLOYMENT / "images" / "spark-ui-proxy"
    container["command"] = [sys.executable, str(source / "spark_ui_proxy.py")]
    # Pods see the host's root but a /tmp of their own: the interpreter's environment and the
    # proxy's source (either may live under /tmp) come in as volumes at their own paths.
    host_dirs = {"python-env": sys.prefix, "proxy-source": str(source)}
    container["volumeMounts"] = [
        *container.get("volumeMounts", []),
        *({"name": n, "mountPath": p, "readOnly": True} for n, p in host_dirs.items()),
    ]
    template["spec"]["volumes"] = [
        *template["spec"].get("volumes", []),
        *({"name": n, "hostPath": {"path": p, "type": "Directory"}} for n, p in host_dirs.items()),
    ]
    env = [e for e in container["env"] if e["name"] != "SPARK_UI_PROXY_LISTEN"]
    env.append({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    env.append({"name": "SPARK_UI_PROXY_LISTEN", "value": "$(POD_IP):8080"})
    # Every request looks its driver service up (the audit log then shows each lookup).
    env.append({"name": "SPARK_UI_PROXY_CACHE_SECONDS", "value": "0"})
    container["env"] = env
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "spark-ui-proxy", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flows]:
    directory = tmp_path_factory.mktemp("rbac-flows")
    audit_log = directory / "audit.log"
    server = start_kubesim(
        directory,
        "--rbac",
        "--runtime",
        "process",
        "--audit-log-path",
        str(audit_log),
        env={**os.environ, "SPARK_HOME": str(_spark_home())},
    )
    try:
        kinds = {
            "Namespace": "/api/v1/namespaces",
            "ServiceAccount": f"{API}/serviceaccounts",
            "Role": f"{RBAC_API}/roles",
            "RoleBinding": f"{RBAC_API}/rolebindings",
        }
        for doc in render("base"):
            if doc["kind"] in kinds:
                status, body = server.request("POST", kinds[doc["kind"]], doc)
                assert status == 201, body
        # A kubeconfig as a submitter outside the cluster has one: the server and CA of the
        # cluster, and a token of the service account (`kubectl create token`).
        config = yaml.safe_load(server.kubeconfig.read_text())
        token = server.service_account_token(NS, "sparkube-submitter")
        config["users"] = [{"name": "sparkube-submitter", "user": {"token": token}}]
        config["contexts"][0]["context"].update(user="sparkube-submitter", namespace=NS)
        kubeconfig = directory / "submitter.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))

        status, body = server.request("POST", f"{API}/pods", _proxy_pod())
        assert status == 201, body

        def proxy_ip() -> str | None:
            _, pod = server.request("GET", f"{API}/pods/spark-ui-proxy")
            running = pod.get("status", {}).get("phase") == "Running"
            return pod["status"].get("podIP") if running else None

        ip = eventually(proxy_ip, 30, "the UI proxy running")
        url = f"http://{ip}:8080"
        eventually(lambda: _healthy(url), 30, "the UI proxy answering /healthz")
        yield Flows(kubesim=server, audit_log=audit_log, kubeconfig=kubeconfig, proxy_url=url)
    finally:
        below = descendants(server.process.pid)
        server.stop()
        assert_nothing_left_running(below)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            return int(r.status) == 200
    except OSError:
        return False


@pytest.fixture(autouse=True)
def base_roles(flows: Flows) -> Iterator[None]:
    """Each test starts and ends with the base Roles."""
    yield
    for role in ROLES:
        flows.set_rules(role, base_rules(role))


def _driver_pod(stderr: str) -> str:
    """The driver pod `sparkube submit` reports on its standard error."""
    m = SUBMITTED.search(stderr)
    assert m, stderr[-3000:]
    return m.group(1)


# --- sufficient --------------------------------------------------------------------------------

# Rules SparkPi does not use; test_lost_executor_and_on_demand_claims uses them.
NOT_IN_SPARK_PI = {
    ("spark-driver", "pods", ("delete",)),
    ("spark-driver", "persistentvolumeclaims", ("create",)),
}
# Spark Connect sessions' forward and the Airflow trigger's log cursor: their rules are shown
# needed and sufficient by test_rbac_kubesim.py; the flows run in tests/e2e/test_connect.py
# and tests/airflow/test_trigger.py.
NOT_IN_BATCH_FLOWS = {
    ("sparkube-submitter", "pods/portforward", ("get", "create")),
    ("sparkube-submitter", "pods", ("patch",)),
}


def test_spark_pi_with_the_base_roles(flows: Flows, tmp_path: Path) -> None:
    since = flows.mark()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        submit = subprocess.Popen(
            [SPARKUBE, "submit", "--logs", *flows.submit_args("spark-pi"), PI, "10"],
            stdout=stdout,
            stderr=stderr,
            text=True,
            env=flows.env,
        )
    try:
        pod = eventually(lambda: SUBMITTED.search(err.read_text()), 30, "the submission")[1]
        # While it runs: progress through the service proxy, the UI through the UI proxy.
        handle = sparkube.Client(kubeconfig=flows.kubeconfig).attach(pod, NS)
        progress, page = None, (0, "")
        while submit.poll() is None and (progress is None or page[0] != 200):
            progress = progress or handle.progress()
            if page[0] != 200:
                page = flows.through_proxy(handle.app_id)
            time.sleep(0.3)
        submit.wait(timeout=200)
    finally:
        if submit.poll() is None:
            submit.send_signal(signal.SIGKILL)
            submit.wait()
    stdout_text, stderr_text = out.read_text(), err.read_text()
    assert submit.returncode == 0, stderr_text[-3000:]
    assert "Pi is roughly 3.1" in stdout_text, stdout_text[-3000:]
    assert "finished: Succeeded" in stderr_text
    assert progress is not None
    assert progress.app_id == handle.app_id
    assert page[0] == 200
    assert "Spark" in page[1], page[1][:500]

    status = flows.sparkube("status", f"{NS}:{pod}")
    assert status.returncode == 0, status.stderr
    assert "Succeeded" in status.stdout
    logs = flows.sparkube("logs", f"{NS}:{pod}")
    assert logs.returncode == 0, logs.stderr
    assert "Pi is roughly 3.1" in logs.stdout
    # Two executors, created by the driver through the API, ran and registered with it.
    registered = re.findall(r"Registered executor .* with ID (\d+)", logs.stdout)
    assert sorted(registered) == ["1", "2"], registered
    flows.kill(pod)

    calls = flows.calls(since)
    assert [c for c in calls if c.code in (401, 403)] == []
    executors = [
        c for c in calls if (c.account, c.verb, c.resource) == ("spark-driver", "create", "pods")
    ]
    assert [c.code for c in executors] == [201, 201]
    # Every call has its rule, and every rule but those had its call.
    assert [c for c in calls if rule_of(c) is None] == []
    used = {(c.account, r.resource, r.verbs) for c in calls if (r := rule_of(c))}
    every = {(role, r.resource, r.verbs) for role, rules in ROLES.items() for r in rules}
    assert every - used == NOT_IN_SPARK_PI | NOT_IN_BATCH_FLOWS


def test_lost_executor_and_on_demand_claims(flows: Flows) -> None:
    # The driver GETs and DELETEs a lost executor's pod and POSTs on-demand claims.
    claim = "spark.kubernetes.executor.volumes.persistentVolumeClaim.data"
    args = flows.submit_args(
        "pi-lost",
        "spark.executor.instances=1",
        f"{claim}.options.claimName=OnDemand",
        f"{claim}.options.storageClass=standard",
        f"{claim}.options.sizeLimit=1Gi",
        f"{claim}.mount.path=/data",
    )
    since = flows.mark()
    submit = subprocess.Popen(
        [SPARKUBE, "submit", *args, PI, "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=flows.env,
    )
    try:
        lost = eventually(lambda: _kill_an_executor(flows), 90, "an executor to kill")
        _, stderr = submit.communicate(timeout=200)
    finally:
        if submit.poll() is None:
            submit.kill()
            submit.communicate()
    assert submit.returncode == 0, stderr[-3000:]
    calls = flows.calls(since)
    assert [c for c in calls if c.code in (401, 403)] == []
    driver = [(c.verb, c.resource, c.name) for c in calls if c.account == "spark-driver"]
    assert ("get", "pods", lost) in driver
    assert ("delete", "pods", lost) in driver
    assert ("create", "persistentvolumeclaims", "") in driver
    # With test_spark_pi_with_the_base_roles: the real flows use every rule of the Roles.
    used = {(c.account, r.resource, r.verbs) for c in calls if (r := rule_of(c))}
    assert used >= NOT_IN_SPARK_PI
    flows.kill(_driver_pod(stderr))


def _kill_an_executor(flows: Flows) -> str | None:
    """SIGKILLs the processes of the first running executor (as a node's OOM killer would);
    returns its pod name."""
    running = [
        p["metadata"]["name"]
        for p in flows.items("pods", "spark-role=executor")
        if p.get("status", {}).get("phase") == "Running"
    ]
    if not running:
        return None
    marker = f"SPARK_EXECUTOR_POD_NAME={running[0]}".encode()
    killed = False
    for pid in descendants(flows.kubesim.process.pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            os.kill(pid, signal.SIGKILL)
            killed = True
    return running[0] if killed else None


# --- minimal: the driver -----------------------------------------------------------------------

# Rules without which the driver cannot start its executors, with the verb the driver is refused.
DRIVER_START = [
    pytest.param("pods", ("get",), "get", id="pods:get"),
    pytest.param("pods", ("list", "watch"), "list", id="pods:list+watch"),
    pytest.param("configmaps", ("create",), "create", id="configmaps:create"),
    pytest.param("pods", ("create",), "create", id="pods:create"),
]


@pytest.mark.parametrize(("resource", "verbs", "refused"), DRIVER_START)
def test_driver_fails_without(
    flows: Flows, resource: str, verbs: tuple[str, ...], refused: str
) -> None:
    flows.remove_rules("spark-driver", (resource, verbs))
    since = flows.mark()
    result = flows.sparkube("submit", *flows.submit_args("pi-refused"), PI, "10")
    pod = _driver_pod(result.stderr)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "finished: Failed" in result.stderr
    # The driver's refusals only: the submitter, without `list events` (deployment/base), is
    # refused the Warning events it reads for the failure's cause, and falls back to pods.
    denied = {
        (c.verb, c.resource)
        for c in flows.calls(since)
        if c.code == 403 and c.account == "spark-driver"
    }
    assert (refused, resource) in denied
    assert {res for _, res in denied} == {resource}, denied
    assert f'cannot {refused} resource "{resource}"' in flows.driver_log(pod)
    if (resource, verbs) == ("pods", ("create",)):
        assert not flows.items("pods", "spark-role=executor")
    flows.kill(pod)


# The driver's clean-up at stop, and the PVC list of each allocation round (refused: logged).
DRIVER_STOP = (
    ("pods", ("deletecollection",)),
    ("configmaps", ("deletecollection",)),
    ("services", ("deletecollection",)),
    ("persistentvolumeclaims", ("deletecollection",)),
    ("persistentvolumeclaims", ("list",)),
)


def test_driver_leaves_its_executors_without_the_stop_rules(flows: Flows) -> None:
    flows.remove_rules("spark-driver", *DRIVER_STOP)
    since = flows.mark()
    result = flows.sparkube("submit", *flows.submit_args("pi-no-cleanup"), PI, "10")
    assert result.returncode == 0, result.stderr[-3000:]
    pod = _driver_pod(result.stderr)
    denied = {(c.resource, c.verb) for c in flows.calls(since) if c.code == 403}
    assert denied == {(res, verbs[0]) for res, verbs in DRIVER_STOP}
    app = f"spark-app-selector={flows.app_id(pod)}"
    # Executor pods and their conf ConfigMap stay until the driver pod is deleted.
    assert flows.items("pods", f"{app},spark-role=executor")
    assert len(flows.items("configmaps", f"{app},spark-role=executor")) == 1
    flows.kill(pod)


# --- minimal: the submitter and the proxy ------------------------------------------------------


@pytest.fixture(scope="module")
def pending(flows: Flows) -> Iterator[str]:
    """A driver pod submitted by the submitter that never starts (its image cannot be pulled)."""
    result = flows.sparkube(
        "submit", "--no-wait", *flows.submit_args("pending", image=NO_IMAGE), PI
    )
    assert result.returncode == 0, result.stderr
    pod = _driver_pod(result.stderr)
    yield pod
    flows.kill(pod)


def test_pending_reasons_need_no_events(flows: Flows, pending: str) -> None:
    # Why a driver is pending comes from its pod's status: the submitter reads no events.
    status = eventually(
        lambda: (
            (r := flows.sparkube("status", f"{NS}:{pending}")).returncode == 0
            and "ImagePull" in r.stdout
            and r
        ),
        30,
        "the pull failure in the status",
    )
    assert "Pending" in status.stdout


SUBMITTER_COMMANDS = [
    pytest.param("pods", ("get",), ("status", "{ns}:{pod}"), id="pods:get"),
    pytest.param("pods", ("list", "watch"), ("list", "-n", "{ns}"), id="pods:list+watch"),
    pytest.param("pods", ("delete",), ("kill", "{ns}:{pod}"), id="pods:delete"),
    pytest.param("pods/log", ("get",), ("logs", "{ns}:{pod}"), id="pods/log:get"),
]


@pytest.mark.parametrize(("resource", "verbs", "command"), SUBMITTER_COMMANDS)
def test_submitter_command_fails_without(
    flows: Flows, pending: str, resource: str, verbs: tuple[str, ...], command: tuple[str, ...]
) -> None:
    flows.remove_rules("sparkube-submitter", (resource, verbs))
    since = flows.mark()
    result = flows.sparkube(*(part.format(ns=NS, pod=pending) for part in command))
    assert result.returncode == 1, result
    assert "forbidden" in result.stderr.lower(), result.stderr
    denied = [c for c in flows.calls(since) if c.code == 403]
    assert denied
    assert {(c.resource, c.verb in verbs) for c in denied} == {(resource, True)}
    assert flows.items("pods", f"spark-app-selector={flows.app_id(pending)}")


# Rules of the submission itself: without one, `sparkube submit` fails and leaves nothing.
SUBMISSION = [
    pytest.param("pods", ("create",), id="pods:create"),
    pytest.param("services", ("create", "patch"), id="services:create+patch"),
    pytest.param("configmaps", ("create", "patch"), id="configmaps:create+patch"),
    pytest.param("networkpolicies", ("create", "patch"), id="networkpolicies:create+patch"),
]


@pytest.mark.parametrize(("resource", "verbs"), SUBMISSION)
def test_submit_fails_and_leaves_nothing_without(
    flows: Flows, pending: str, resource: str, verbs: tuple[str, ...]
) -> None:
    flows.remove_rules("sparkube-submitter", (resource, verbs))
    before = flows.objects()
    since = flows.mark()
    result = flows.sparkube("submit", *flows.submit_args("refused", image=NO_IMAGE), PI)
    assert result.returncode == 1, result
    assert "forbidden" in result.stderr.lower(), result.stderr
    denied = {c.resource for c in flows.calls(since) if c.code == 403}
    assert denied == {resource}
    eventually(lambda: flows.objects() == before, 30, "the half-made submission removed")


def test_apply_that_creates_needs_create(flows: Flows, pending: str) -> None:
    # Server-side apply of a new ConfigMap is authorized as create too: patch alone is refused.
    rules = [
        {**r, "verbs": ["patch"]} if r["resources"] == ["configmaps"] else r
        for r in base_rules("sparkube-submitter")
    ]
    flows.set_rules("sparkube-submitter", rules)
    before = flows.objects()
    since = flows.mark()
    result = flows.sparkube("submit", *flows.submit_args("patch-only", image=NO_IMAGE), PI)
    assert result.returncode == 1, result
    denied = [(c.verb, c.resource) for c in flows.calls(since) if c.code == 403]
    assert denied == [("patch", "configmaps")]
    eventually(lambda: flows.objects() == before, 30, "the half-made submission removed")


def test_progress_needs_services_proxy(flows: Flows, pending: str) -> None:
    handle = sparkube.Client(kubeconfig=flows.kubeconfig).attach(pending, NS)
    # Authorized, the proxy answers that the pending driver's service has no endpoints: no
    # progress yet. Without the rule: 403.
    assert handle.progress() is None
    flows.remove_rules("sparkube-submitter", ("services/proxy", ("get",)))
    with pytest.raises(KubernetesApiError) as refused:
        handle.progress()
    assert refused.value.status == 403


def test_ui_proxy_needs_services_list(flows: Flows, pending: str) -> None:
    app_id = flows.app_id(pending)
    since = flows.mark()
    flows.through_proxy(app_id)
    assert [(c.verb, c.resource, c.code) for c in flows.calls(since)] == [("list", "services", 200)]
    flows.remove_rules("spark-ui-proxy", ("services", ("list",)))
    since = flows.mark()
    status, _ = flows.through_proxy(app_id)
    assert status != 200
    assert [(c.verb, c.resource, c.code) for c in flows.calls(since)] == [("list", "services", 403)]
