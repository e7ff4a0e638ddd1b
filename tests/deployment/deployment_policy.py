"""Policy checks on Kubernetes objects: each function returns the problems it finds (empty: ok).

Used on every rendered kustomization of deployment/ and, to show that each check can fail, on
small manifests that break one rule each.
"""

from __future__ import annotations

import re
from typing import Any

Doc = dict[str, Any]

SPARK_ACCOUNT = re.compile(r"spark|sparkube", re.IGNORECASE)
# API versions that Kubernetes 1.30 no longer serves or has deprecated.
DEPRECATED_API_VERSIONS = frozenset(
    {
        "extensions/v1beta1",
        "apps/v1beta1",
        "apps/v1beta2",
        "policy/v1beta1",
        "batch/v1beta1",
        "networking.k8s.io/v1beta1",
        "rbac.authorization.k8s.io/v1beta1",
        "rbac.authorization.k8s.io/v1alpha1",
        "autoscaling/v2beta1",
        "autoscaling/v2beta2",
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "storage.k8s.io/v1beta1",
        "discovery.k8s.io/v1beta1",
        "events.k8s.io/v1beta1",
        "scheduling.k8s.io/v1beta1",
        "admissionregistration.k8s.io/v1beta1",
    }
)


def _name(doc: Doc) -> str:
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{doc.get('kind')}/{(ns + '/') if ns else ''}{meta.get('name')}"


def pod_spec_of(doc: Doc) -> Doc | None:
    """The pod spec of a workload (a bare Pod, a pod template file, controllers), else None."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return None


def image_problems(image: str | None) -> list[str]:
    """An image reference must carry a version tag or a digest, and never `latest`."""
    if not image:
        return ["no image"]
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return [f"image {image} has no tag"]
    tag = last.rsplit(":", 1)[1]
    if tag == "latest" or not tag:
        return [f"image {image} uses the tag {tag or '(empty)'}"]
    return []


def container_problems(doc: Doc, partial: bool = False) -> list[str]:
    """Resources, non-root, dropped capabilities, no privilege escalation, pinned images.

    ``partial`` is for pod templates that Spark completes: images and resources come from Spark.
    """
    spec = pod_spec_of(doc)
    if spec is None:
        return []
    where = _name(doc)
    problems = []
    pod_sc = spec.get("securityContext") or {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        cname = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if not partial:
            problems += [f"{cname}: {p}" for p in image_problems(c.get("image"))]
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for key in ("cpu", "memory"):
                    if key not in (res.get(part) or {}):
                        problems.append(f"{cname}: no {part}.{key}")
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{cname}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{cname}: runs as user 0")
        if sc.get("privileged") is True:
            problems.append(f"{cname}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cname}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{cname}: capabilities not dropped (drop: [ALL])")
        if caps.get("add"):
            problems.append(f"{cname}: adds capabilities {caps['add']}")
    seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{where}: no RuntimeDefault seccomp profile")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{where}: {flag}")
    for v in spec.get("volumes") or []:
        if "hostPath" in v:
            problems.append(f"{where}: hostPath volume {v.get('name')}")
    return problems


def rbac_problems(docs: list[Doc]) -> list[str]:
    """No wildcard verbs, resources or groups; no cluster-wide grant to Spark or sparkube."""
    problems = []
    for doc in docs:
        kind = doc.get("kind")
        if kind in ("Role", "ClusterRole"):
            for i, rule in enumerate(doc.get("rules") or []):
                for field in ("verbs", "resources", "apiGroups", "nonResourceURLs"):
                    values = rule.get(field) or []
                    if any("*" in str(v) for v in values):
                        problems.append(f"{_name(doc)} rule {i}: wildcard in {field}: {values}")
                if "escalate" in (rule.get("verbs") or []) or "bind" in (rule.get("verbs") or []):
                    problems.append(f"{_name(doc)} rule {i}: escalate/bind")
                if "impersonate" in (rule.get("verbs") or []):
                    problems.append(f"{_name(doc)} rule {i}: impersonate")
        if kind == "ClusterRoleBinding":
            for s in doc.get("subjects") or []:
                if SPARK_ACCOUNT.search(str(s.get("name", ""))):
                    problems.append(f"{_name(doc)}: cluster-wide binding for {s.get('name')}")
        if kind == "RoleBinding" and (doc.get("roleRef") or {}).get("kind") == "ClusterRole":
            ref = doc["roleRef"].get("name")
            if ref in ("cluster-admin", "admin", "edit"):
                problems.append(f"{_name(doc)}: binds the built-in ClusterRole {ref}")
    return problems


def api_version_problems(docs: list[Doc]) -> list[str]:
    """No deprecated or removed API versions."""
    return [
        f"{_name(d)}: deprecated apiVersion {d.get('apiVersion')}"
        for d in docs
        if d.get("apiVersion") in DEPRECATED_API_VERSIONS
    ]
