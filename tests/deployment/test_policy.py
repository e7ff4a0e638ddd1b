"""Policy checks on everything deployment/ renders, and on manifests that break each rule."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest
import yaml
from deployment_policy import container_problems, image_problems, rbac_problems
from deployment_support import ALL_RENDERS, DEPLOYMENT, Doc, render

if TYPE_CHECKING:
    from pathlib import Path

POD_TEMPLATES = sorted(DEPLOYMENT.glob("overlays/*/client/*-template.yaml"))


@pytest.mark.parametrize("name", ALL_RENDERS)
def test_every_container_meets_the_policy(name: str) -> None:
    problems = [p for d in render(name) for p in container_problems(d)]
    assert problems == []


@pytest.mark.parametrize("name", ALL_RENDERS)
def test_rbac_meets_the_policy(name: str) -> None:
    docs = render(name)
    assert rbac_problems(docs) == []
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]


@pytest.mark.parametrize("path", POD_TEMPLATES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_spark_pod_templates_meet_the_policy(path: Path) -> None:
    # Spark fills in image and resources; the templates bring what makes the pods `restricted`.
    assert container_problems(yaml.safe_load(path.read_text()), partial=True) == []


def test_there_are_workloads_to_check() -> None:
    containers = [
        c
        for name in ALL_RENDERS
        for d in render(name)
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert len(containers) >= 10
    assert len(POD_TEMPLATES) == 4


# Each check must catch a manifest that breaks its rule.
GOOD: Doc = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "good", "namespace": "ns"},
    "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "c",
                        "image": "registry.example.com/app:1.2.3",
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "16Mi"},
                            "limits": {"cpu": "1", "memory": "64Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    },
}


def _container(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]["containers"][0]


def _pod(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


BREAKS = {
    "no requests": lambda d: _container(d)["resources"].pop("requests"),
    "no memory limit": lambda d: _container(d)["resources"]["limits"].pop("memory"),
    "may run as root": lambda d: _pod(d)["securityContext"].pop("runAsNonRoot"),
    "runs as uid 0": lambda d: _container(d)["securityContext"].update(runAsUser=0),
    "privilege escalation": lambda d: _container(d)["securityContext"].pop(
        "allowPrivilegeEscalation"
    ),
    "capabilities kept": lambda d: _container(d)["securityContext"].pop("capabilities"),
    "capability added": lambda d: _container(d)["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "privileged": lambda d: _container(d)["securityContext"].update(privileged=True),
    "latest tag": lambda d: _container(d).update(image="registry.example.com/app:latest"),
    "untagged image": lambda d: _container(d).update(image="busybox"),
    "no seccomp": lambda d: _pod(d)["securityContext"].pop("seccompProfile"),
    "host network": lambda d: _pod(d).update(hostNetwork=True),
    "hostPath volume": lambda d: _pod(d).update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
    "bad init container": lambda d: _pod(d).update(initContainers=[{"name": "i", "image": "x:1"}]),
}


def test_good_manifest_passes() -> None:
    assert container_problems(GOOD) == []


@pytest.mark.parametrize("rule", BREAKS)
def test_container_policy_catches(rule: str) -> None:
    bad = copy.deepcopy(GOOD)
    BREAKS[rule](bad)
    assert container_problems(bad) != []


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("apache/spark:4.3.0", True),
        ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", True),
        ("localhost:5000/app@sha256:" + "a" * 64, True),
        ("localhost:5000/app", False),
        ("app:latest", False),
        ("app", False),
        ("", False),
    ],
)
def test_image_pinning(image: str, ok: bool) -> None:
    assert (image_problems(image) == []) is ok


def _role(rules: list[Doc], kind: str = "Role") -> Doc:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "r"},
        "rules": rules,
    }


@pytest.mark.parametrize(
    "docs",
    [
        [_role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])],
        [_role([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])],
        [_role([{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}])],
        [
            _role(
                [{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}], kind="ClusterRole"
            )
        ],
        [
            _role(
                [
                    {
                        "apiGroups": ["rbac.authorization.k8s.io"],
                        "resources": ["roles"],
                        "verbs": ["escalate"],
                    }
                ]
            )
        ],
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "view",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "spark-driver", "namespace": "spark-apps"}
                ],
            }
        ],
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "b", "namespace": "spark-apps"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "spark-apps"}],
            }
        ],
    ],
    ids=[
        "wildcard verb",
        "wildcard resource",
        "wildcard group",
        "wildcard subresource",
        "escalate",
        "cluster binding",
        "edit binding",
    ],
)
def test_rbac_policy_catches(docs: list[Doc]) -> None:
    assert rbac_problems(docs) != []
