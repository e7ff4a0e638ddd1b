"""Preflight from Python and the CLI, against kubesim's quota and RBAC.

Nothing a preflight does may create anything: kubectl (a foreign client) checks the quota's
usage and the pods after each one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from sparkube import Client, Executor, SparkApp

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Kubesim

SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
PI = "local:///opt/spark/examples/src/main/python/pi.py"
IMAGE = "apache/spark:4.0.1"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


def namespace_with_quota(ks: Kubesim, hard: dict[str, str] | None) -> str:
    ns = f"pf-{uuid.uuid4().hex[:8]}"
    status, body = ks.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    if hard is not None:
        quota = {"metadata": {"name": "compute"}, "spec": {"hard": hard}}
        status, body = ks.request("POST", f"/api/v1/namespaces/{ns}/resourcequotas", quota)
        assert status == 201, body
    return ns


def app(ns: str, executors: int, cores: int = 4) -> SparkApp:
    return SparkApp(
        name="wide",
        application=PI,
        image=IMAGE,
        namespace=ns,
        executor=Executor(instances=executors, cores=cores),
    )


def cli(ks: Kubesim, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": str(ks.kubeconfig)}
    return subprocess.run(
        [SPARKUBE, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@needs_kubectl
def test_the_whole_app_against_the_quota_and_nothing_created(kubesim: Kubesim) -> None:
    ns = namespace_with_quota(kubesim, {"requests.cpu": "13", "pods": "10"})
    client = Client(kubeconfig=kubesim.kubeconfig, namespace=ns)

    report = client.preflight(app(ns, 8))
    assert not report
    assert not report.passed
    (failure,) = report.failures
    assert failure.subject == "ResourceQuota compute"
    assert failure.message == (
        "driver fits; 8 executors need 32 CPU (requests.cpu), "
        "the quota has 12 CPU left after the driver (room for 3)"
    )
    dry_runs = [c for c in report.checks if c.message == "accepted (dry run)"]
    assert [c.subject.split()[0] for c in dry_runs] == [
        "Pod",
        "Service",
        "NetworkPolicy",
        "ConfigMap",
    ]
    assert report.round_trips == len(dry_runs) + 2
    assert report.to_dict()["checks"][-1]["subject"] == "ResourceQuota compute"

    assert client.preflight(app(ns, 3))
    # kubectl sees nothing created and nothing charged.
    pods = kubesim.kubectl("get", "pods", "-n", ns, "-o", "json").stdout
    assert json.loads(pods)["items"] == []
    described = kubesim.kubectl("describe", "quota", "compute", "-n", ns).stdout
    assert [line.split() for line in described.splitlines()[-2:]] == [
        ["pods", "0", "10"],
        ["requests.cpu", "0", "13"],
    ]


def test_a_namespace_without_quota_passes_and_says_so(kubesim: Kubesim) -> None:
    ns = namespace_with_quota(kubesim, None)
    report = Client(kubeconfig=kubesim.kubeconfig, namespace=ns).preflight(app(ns, 40))
    assert report.passed, str(report)
    assert any(
        c.message == f"namespace {ns} has no ResourceQuota: nothing limits the app's total size"
        for c in report.checks
    )


def test_cli_dry_run_server_exit_codes_and_json(kubesim: Kubesim) -> None:
    ns = namespace_with_quota(kubesim, {"requests.cpu": "3"})
    args = ["--name", "wide", "--conf", f"spark.kubernetes.container.image={IMAGE}"]
    args += ["--conf", f"spark.kubernetes.namespace={ns}"]
    too_big = cli(
        kubesim, "submit", "--dry-run=server", *args, "--conf", "spark.executor.instances=4", PI
    )
    assert too_big.returncode == 1, too_big.stderr
    assert f"preflight of namespace {ns}: FAILED" in too_big.stdout
    assert "FAIL  ResourceQuota compute: driver fits; 4 executors need 4 CPU" in too_big.stdout
    fits = cli(kubesim, "submit", "--dry-run", "server", "-o", "json", *args, PI)
    assert fits.returncode == 0, fits.stdout + fits.stderr
    assert json.loads(fits.stdout)["passed"] is True
    status, pods = kubesim.request("GET", f"/api/v1/namespaces/{ns}/pods")
    assert status == 200
    assert pods["items"] == []
    bad = cli(kubesim, "submit", "--dry-run=all", *args, PI)
    assert bad.returncode == 2
    assert "--dry-run takes server, not 'all'" in bad.stderr


@needs_kubectl
def test_rbac_refusing_the_dry_run_names_the_verb(kubesim_factory: Callable[..., Kubesim]) -> None:
    ks = kubesim_factory("--rbac")
    ks.kubectl("create", "namespace", "team")
    ks.kubectl("create", "serviceaccount", "robot", "-n", "team")
    ks.kubectl(
        "create",
        "role",
        "reader",
        "-n",
        "team",
        "--verb=get,list,watch",
        "--resource=pods,resourcequotas,limitranges",
    )
    ks.kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        "team",
        "--role=reader",
        "--serviceaccount=team:robot",
    )
    config = yaml.safe_load(ks.kubeconfig.read_text())
    config["users"] = [
        {"name": "robot", "user": {"token": ks.service_account_token("team", "robot")}}
    ]
    config["contexts"][0]["context"].update(user="robot", namespace="team")
    report = Client(kubeconfig=config).preflight(app("team", 1))
    assert not report.passed
    pod = report.checks[0]
    assert pod.subject.startswith("Pod team/wide-")
    assert pod.message.startswith(
        "RBAC refuses the verb `create` on pods in namespace team (a dry run is authorized as "
        'the write itself): pods is forbidden: User "system:serviceaccount:team:robot" cannot '
        "create resource"
    )
    service = report.checks[1]
    assert service.message.startswith("RBAC refuses the verb `patch` on services")
