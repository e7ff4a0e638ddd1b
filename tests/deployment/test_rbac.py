"""The Roles are exactly the documented rules, bound to the right accounts, and nothing more."""

from __future__ import annotations

import pytest
from deployment_support import Doc, find, render
from rbac_rules import ROLES, Rule


def rules_of(role: Doc) -> list[Rule]:
    """A Role's rules as `Rule`s (one resource per rule), in order, without their reasons."""
    out = []
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, f"unexpected fields in {rule}"
        assert len(rule["apiGroups"]) == 1, rule
        assert len(rule["resources"]) == 1, rule
        out.append(Rule(rule["apiGroups"][0], rule["resources"][0], tuple(rule["verbs"]), ""))
    return out


@pytest.mark.parametrize("overlay", ["base", "dev", "prod"])
@pytest.mark.parametrize("role", ROLES)
def test_role_is_exactly_the_documented_rules(overlay: str, role: str) -> None:
    rendered = rules_of(find(render(overlay), "Role", role, "spark-apps"))
    assert rendered == [r._replace(flow="") for r in ROLES[role]]


@pytest.mark.parametrize("overlay", ["base", "dev", "prod"])
def test_no_other_roles(overlay: str) -> None:
    roles = {d["metadata"]["name"] for d in render(overlay) if d["kind"] in ("Role", "ClusterRole")}
    assert roles == set(ROLES)


def _subjects(docs: list[Doc], name: str) -> set[tuple[str, str, str]]:
    binding = find(docs, "RoleBinding", name, "spark-apps")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    return {(s["kind"], s["namespace"], s["name"]) for s in binding["subjects"]}


@pytest.mark.parametrize(
    ("overlay", "submitters"),
    [
        ("base", {("ServiceAccount", "spark-apps", "sparkube-submitter")}),
        (
            "dev",
            {
                ("ServiceAccount", "spark-apps", "sparkube-submitter"),
                ("ServiceAccount", "airflow", "sparkube-submitter"),
            },
        ),
        (
            "prod",
            {
                ("ServiceAccount", "spark-apps", "sparkube-submitter"),
                ("ServiceAccount", "airflow", "sparkube-submitter"),
            },
        ),
    ],
)
def test_bindings(overlay: str, submitters: set[tuple[str, str, str]]) -> None:
    docs = render(overlay)
    assert _subjects(docs, "sparkube-submitter") == submitters
    assert _subjects(docs, "spark-driver") == {("ServiceAccount", "spark-apps", "spark-driver")}
    assert _subjects(docs, "spark-ui-proxy") == {("ServiceAccount", "spark-apps", "spark-ui-proxy")}
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if d["kind"] == "ServiceAccount"
    }
    for _, ns, name in submitters:
        assert (ns, name) in accounts


def test_the_driver_cannot_patch_or_update_pods() -> None:
    # Patch on pods is opt-in (components/spark-driver-pod-patch) for non-default Spark features.
    verbs = {v for r in ROLES["spark-driver"] if r.resource == "pods" for v in r.verbs}
    assert not verbs & {"patch", "update"}
    role = find(render("components"), "Role", "spark-driver-pod-patch", "spark-apps")
    assert rules_of(role) == [Rule("", "pods", ("patch",), "")]


def test_server_side_apply_has_create_and_patch() -> None:
    # An apply that creates an object is authorized as `create` as well as `patch`. Pods are
    # only merge-patched (the trigger's log position, an annotation), never applied.
    applied = [
        r for r in ROLES["sparkube-submitter"] if "patch" in r.verbs and r.resource != "pods"
    ]
    assert {r.resource for r in applied} == {"services", "configmaps", "networkpolicies"}
    assert all(set(r.verbs) == {"create", "patch"} for r in applied)


def test_accounts_without_api_access_get_no_token() -> None:
    docs = render("dev")
    bound = {
        (s["namespace"], s["name"])
        for d in docs
        if d["kind"] == "RoleBinding"
        for s in d["subjects"]
    }
    for sa in (d for d in docs if d["kind"] == "ServiceAccount"):
        key = (sa["metadata"]["namespace"], sa["metadata"]["name"])
        assert sa.get("automountServiceAccountToken") is (key in bound), key


def test_every_rule_has_a_reason() -> None:
    for rules in ROLES.values():
        assert all(r.flow for r in rules)
        assert len(set(rules)) == len(rules)
