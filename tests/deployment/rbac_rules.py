"""The Roles of deployment/base, rule by rule, with the flow that needs each rule.

The tests compare the rendered Roles with these tables exactly, so a rule cannot be added or
widened without saying here why. On an API server that enforces RBAC (kubesim `--rbac`),
test_rbac_kubesim.py removes one rule at a time and expects its flow's calls to get a 403, and
test_rbac_real_flows.py runs the real flows (sparkube, a Spark driver, the UI proxy) and checks
with kubesim's audit log that every call falls under a rule and every rule is used.
"""

from __future__ import annotations

from typing import NamedTuple


class Rule(NamedTuple):
    """One RBAC rule and why it exists."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    flow: str


SPARK_DRIVER = (
    Rule(
        "",
        "pods",
        ("get",),
        "driver GETs its own pod at start; GETs an executor before removing it",
    ),
    Rule("", "pods", ("create",), "driver POSTs executor pods"),
    Rule(
        "",
        "pods",
        ("list", "watch"),
        "driver watches and polls its executors; waits for its own pod",
    ),
    Rule("", "pods", ("delete",), "driver deletes a lost executor pod"),
    Rule("", "pods", ("deletecollection",), "driver deletes its executors by label at stop"),
    Rule("", "configmaps", ("create",), "driver POSTs the executors' conf ConfigMap"),
    Rule("", "configmaps", ("deletecollection",), "driver deletes that ConfigMap by label at stop"),
    Rule("", "services", ("deletecollection",), "driver deletes the app's services at stop"),
    Rule("", "persistentvolumeclaims", ("create",), "driver POSTs on-demand executor PVCs"),
    Rule("", "persistentvolumeclaims", ("list",), "driver lists the app's PVCs to reuse them"),
    Rule(
        "", "persistentvolumeclaims", ("deletecollection",), "driver deletes the app's PVCs at stop"
    ),
)

SPARKUBE_SUBMITTER = (
    Rule("", "pods", ("create",), "submit POSTs the driver pod"),
    Rule("", "pods", ("get",), "status, attach, kill and the 409 lookup of a resubmission"),
    Rule(
        "", "pods", ("list", "watch"), "the shared watch of driver pods; list; submission-id lookup"
    ),
    Rule("", "pods", ("delete",), "kill; clean-up after a submission that failed half-way"),
    Rule("", "pods", ("patch",), "the trigger's place in the driver log, as an annotation"),
    Rule("", "pods/log", ("get",), "driver and executor logs"),
    Rule("", "services", ("create", "patch"), "server-side apply of the driver service"),
    Rule(
        "",
        "configmaps",
        ("create", "patch"),
        "server-side apply of the driver and template ConfigMaps",
    ),
    Rule(
        "networking.k8s.io",
        "networkpolicies",
        ("create", "patch"),
        "server-side apply of the NetworkPolicy",
    ),
    Rule("", "services/proxy", ("get",), "progress from the driver's Spark UI REST API"),
    Rule("", "pods/portforward", ("get", "create"), "a Spark Connect session's forward"),
)

SPARK_UI_PROXY = (
    Rule("", "services", ("list",), "find a driver service by its spark-app-selector label"),
)

ROLES = {
    "spark-driver": SPARK_DRIVER,
    "sparkube-submitter": SPARKUBE_SUBMITTER,
    "spark-ui-proxy": SPARK_UI_PROXY,
}
