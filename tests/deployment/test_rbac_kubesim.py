"""The base Roles on an API server that enforces RBAC (kubesim `--rbac`): sufficient and minimal.

Each rule of tests/deployment/rbac_rules.py has a call: the HTTP request its flow makes (the
same method, path and content type as sparkube or Spark's driver). With the Roles applied every
call is authorized; with one rule removed its call gets 403. These raw calls cover every rule in
a few seconds; test_rbac_real_flows.py (slow) runs the real flows themselves: `sparkube` as the
submitter, a Spark driver JVM creating its executors, the UI proxy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from deployment_support import Doc, render
from rbac_rules import ROLES, Rule

if TYPE_CHECKING:
    from collections.abc import Callable

NS = "spark-apps"
APP = "spark-0123456789abcdef0123456789abcdef"
API = f"/api/v1/namespaces/{NS}"
APPLY = "application/apply-patch+yaml"


def _pod(name: str, role: str) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"spark-app-selector": APP, "spark-role": role}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "spark", "image": "apache/spark:4.3.0"}],
        },
    }


def _owned(kind: str, api_version: str, name: str, spec: Doc) -> bytes:
    body = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"spark-app-selector": APP},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "pi-driver",
                    "uid": "0",
                    "controller": True,
                }
            ],
        },
        **spec,
    }
    return json.dumps(body).encode()


SELECTOR = f"labelSelector=spark-app-selector%3D{APP}"
SERVICE = _owned(
    "Service",
    "v1",
    "pi-driver-svc",
    {"spec": {"clusterIP": "None", "ports": [{"name": "spark-ui", "port": 4040}]}},
)
CONFIG_MAP = _owned("ConfigMap", "v1", "spark-drv-0-conf-map", {"data": {"spark.properties": ""}})
POLICY = _owned(
    "NetworkPolicy",
    "networking.k8s.io/v1",
    "pi-policy",
    {"spec": {"podSelector": {"matchLabels": {"spark-app-selector": APP}}}},
)
PVC: Doc = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "pi-exec-1-pvc-0", "labels": {"spark-app-selector": APP}},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}
EXEC_CONF: Doc = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "spark-exec-0-conf-map",
        "labels": {"spark-app-selector": APP, "spark-role": "executor"},
    },
    "data": {},
}

# (role, resource, verbs) → the request of that rule's flow: method, path, body, content type.
Call = tuple[str, str, Any, str]
CALLS: dict[tuple[str, str, tuple[str, ...]], list[Call]] = {
    ("sparkube-submitter", "pods", ("create",)): [
        ("POST", f"{API}/pods", _pod("pi-driver", "driver"), "")
    ],
    ("sparkube-submitter", "pods", ("get",)): [("GET", f"{API}/pods/pi-driver", None, "")],
    ("sparkube-submitter", "pods", ("list", "watch")): [
        ("GET", f"{API}/pods?labelSelector=spark-role%3Ddriver", None, ""),
        ("GET", f"{API}/pods?labelSelector=spark-role%3Ddriver&watch=1&timeoutSeconds=1", None, ""),
    ],
    ("sparkube-submitter", "pods", ("patch",)): [
        (
            "PATCH",
            f"{API}/pods/pi-driver",
            {"metadata": {"annotations": {"sparkube.io/airflow-log-cursor": "{}"}}},
            "application/merge-patch+json",
        )
    ],
    ("sparkube-submitter", "pods/log", ("get",)): [("GET", f"{API}/pods/pi-driver/log", None, "")],
    ("sparkube-submitter", "services", ("create", "patch")): [
        ("PATCH", f"{API}/services/pi-driver-svc?fieldManager=sparkube&force=true", SERVICE, APPLY)
    ],
    ("sparkube-submitter", "configmaps", ("create", "patch")): [
        (
            "PATCH",
            f"{API}/configmaps/spark-drv-0-conf-map?fieldManager=sparkube&force=true",
            CONFIG_MAP,
            APPLY,
        )
    ],
    ("sparkube-submitter", "networkpolicies", ("create", "patch")): [
        (
            "PATCH",
            f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/pi-policy?fieldManager=sparkube&force=true",
            POLICY,
            APPLY,
        )
    ],
    ("sparkube-submitter", "services/proxy", ("get",)): [
        ("GET", f"{API}/services/pi-driver-svc:4040/proxy/api/v1/applications", None, "")
    ],
    ("sparkube-submitter", "pods", ("delete",)): [("DELETE", f"{API}/pods/pi-driver", None, "")],
    # The upgrade itself fails (a plain GET), after authorization, as 400.
    ("sparkube-submitter", "pods/portforward", ("get", "create")): [
        ("GET", f"{API}/pods/pi-driver/portforward?ports=15002", None, "")
    ],
    ("spark-driver", "pods", ("get",)): [("GET", f"{API}/pods/pi-driver", None, "")],
    ("spark-driver", "pods", ("create",)): [
        ("POST", f"{API}/pods", _pod("pi-exec-1", "executor"), "")
    ],
    ("spark-driver", "pods", ("list", "watch")): [
        ("GET", f"{API}/pods?{SELECTOR}%2Cspark-role%3Dexecutor", None, ""),
        ("GET", f"{API}/pods?{SELECTOR}&watch=1&timeoutSeconds=1", None, ""),
    ],
    ("spark-driver", "configmaps", ("create",)): [("POST", f"{API}/configmaps", EXEC_CONF, "")],
    ("spark-driver", "persistentvolumeclaims", ("create",)): [
        ("POST", f"{API}/persistentvolumeclaims", PVC, "")
    ],
    ("spark-driver", "persistentvolumeclaims", ("list",)): [
        ("GET", f"{API}/persistentvolumeclaims?{SELECTOR}", None, "")
    ],
    ("spark-driver", "pods", ("delete",)): [("DELETE", f"{API}/pods/pi-exec-1", None, "")],
    ("spark-driver", "pods", ("deletecollection",)): [
        ("DELETE", f"{API}/pods?{SELECTOR}%2Cspark-role%3Dexecutor", None, "")
    ],
    ("spark-driver", "configmaps", ("deletecollection",)): [
        ("DELETE", f"{API}/configmaps?{SELECTOR}%2Cspark-role%3Dexecutor", None, "")
    ],
    ("spark-driver", "services", ("deletecollection",)): [
        ("DELETE", f"{API}/services?{SELECTOR}", None, "")
    ],
    ("spark-driver", "persistentvolumeclaims", ("deletecollection",)): [
        ("DELETE", f"{API}/persistentvolumeclaims?{SELECTOR}", None, "")
    ],
    ("spark-ui-proxy", "services", ("list",)): [("GET", f"{API}/services?{SELECTOR}", None, "")],
}


def _key(role: str, rule: Rule) -> tuple[str, str, tuple[str, ...]]:
    return (role, rule.resource, rule.verbs)


@pytest.fixture
def cluster(kubesim_factory: Callable[..., Any]) -> Any:
    """kubesim with RBAC enforced and base's namespace, accounts, Roles and bindings applied."""
    server = kubesim_factory("--rbac")
    kinds = {
        "Namespace": "/api/v1/namespaces",
        "ServiceAccount": f"{API}/serviceaccounts",
        "Role": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles",
        "RoleBinding": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings",
    }
    for doc in render("base"):
        if doc["kind"] in kinds:
            status, body = server.request("POST", kinds[doc["kind"]], doc)
            assert status == 201, body
    return server


def _status(server: Any, token: str, call: Call) -> int:
    method, path, body, content_type = call
    status, _ = server.request(
        method, path, body, token=token, content_type=content_type or "application/json"
    )
    return int(status)


def _set_rules(server: Any, role: str, rules: list[Doc]) -> None:
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles/{role}"
    status, current = server.request("GET", path)
    assert status == 200, current
    current["rules"] = rules
    status, body = server.request("PUT", path, current)
    assert status == 200, body


def test_every_rule_has_a_call() -> None:
    assert {_key(role, r) for role, rules in ROLES.items() for r in rules} == set(CALLS)


def _role_doc(role: str) -> Doc:
    return next(d for d in render("base") if d["kind"] == "Role" and d["metadata"]["name"] == role)


def test_roles_are_sufficient(cluster: Any) -> None:
    tokens = {role: cluster.service_account_token(NS, role) for role in ROLES}
    # Every flow's call is authorized, in the order the flows make them.
    for (role, _, _), calls in CALLS.items():
        for call in calls:
            assert _status(cluster, tokens[role], call) not in (401, 403), (role, call)


@pytest.mark.parametrize(
    ("role", "index"),
    [
        pytest.param(role, i, id=f"{role}:{r.resource}:{'+'.join(r.verbs)}")
        for role, rules in ROLES.items()
        for i, r in enumerate(rules)
    ],
)
def test_each_rule_is_needed(cluster: Any, role: str, index: int) -> None:
    token = cluster.service_account_token(NS, role)
    rules = _role_doc(role)["rules"]
    _set_rules(cluster, role, rules[:index] + rules[index + 1 :])
    refused = [_status(cluster, token, c) for c in CALLS[_key(role, ROLES[role][index])]]
    assert 403 in refused, refused


def test_apply_that_creates_needs_create(cluster: Any) -> None:
    # Server-side apply of an object that does not exist yet is also authorized as `create`.
    token = cluster.service_account_token(NS, "sparkube-submitter")
    rules = [
        {**r, "verbs": ["patch"]} if r["resources"] == ["configmaps"] else r
        for r in _role_doc("sparkube-submitter")["rules"]
    ]
    _set_rules(cluster, "sparkube-submitter", rules)
    call = CALLS[("sparkube-submitter", "configmaps", ("create", "patch"))][0]
    assert _status(cluster, token, call) == 403


def test_a_forward_needs_create_as_well_as_get(cluster: Any) -> None:
    # A port-forward is a WebSocket upgrade (a GET) that the API server also authorizes as
    # `create`: a Role granting `get` alone is refused.
    token = cluster.service_account_token(NS, "sparkube-submitter")
    rules = [
        {**r, "verbs": ["get"]} if r["resources"] == ["pods/portforward"] else r
        for r in _role_doc("sparkube-submitter")["rules"]
    ]
    _set_rules(cluster, "sparkube-submitter", rules)
    call = CALLS[("sparkube-submitter", "pods/portforward", ("get", "create"))][0]
    assert _status(cluster, token, call) == 403
