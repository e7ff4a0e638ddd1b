"""Every kustomization renders, and every object validates strictly against Kubernetes 1.30 and
1.34 (PyPI kubernetes-validate), with no deprecated API version."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from deployment_policy import api_version_problems
from deployment_support import ALL_RENDERS, Doc, render

KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")


def validation_errors(docs: list[Doc], version: str) -> list[str]:
    """Strict schema errors of `docs` for one Kubernetes version; a kind without schema is one."""
    errors = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{name}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{name}: {e.message}")
    return errors


@pytest.mark.parametrize("name", ALL_RENDERS)
def test_renders_to_objects(name: str) -> None:
    docs = render(name)
    assert docs, f"{name} renders to nothing"
    assert all(d.get("apiVersion") and d.get("kind") and d["metadata"].get("name") for d in docs)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", ALL_RENDERS)
def test_objects_validate_strictly(name: str, version: str) -> None:
    assert validation_errors(render(name), version) == []


@pytest.mark.parametrize("name", ALL_RENDERS)
def test_no_deprecated_api_versions(name: str) -> None:
    assert api_version_problems(render(name)) == []


def test_rendered_kinds_cover_the_issue() -> None:
    kinds = {(d["kind"], d["metadata"].get("namespace")) for d in render("dev") + render("prod")}
    for expected in [
        ("Namespace", None),
        ("Role", "spark-apps"),
        ("RoleBinding", "spark-apps"),
        ("Deployment", "spark-apps"),
        ("Deployment", "airflow"),
        ("Deployment", "minio"),
        ("Job", "minio"),
        ("Ingress", "airflow"),
        ("PodDisruptionBudget", "spark-apps"),
        ("NetworkPolicy", "spark-apps"),
        ("ResourceQuota", "spark-apps"),
        ("LimitRange", "spark-apps"),
    ]:
        assert expected in kinds


# The validator itself must reject what is wrong, or the tests above prove nothing.
GOOD_POD: Doc = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
}


def _broken(change: str) -> Doc:
    doc = copy.deepcopy(GOOD_POD)
    if change == "unknown field":
        doc["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    elif change == "wrong type":
        doc["spec"]["containers"][0]["ports"] = [{"containerPort": "http"}]
    elif change == "missing required":
        del doc["spec"]["containers"][0]["name"]
    elif change == "removed api":
        doc = {
            "apiVersion": "policy/v1beta1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "x"},
        }
    return doc


@pytest.mark.parametrize(
    "change", ["unknown field", "wrong type", "missing required", "removed api"]
)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_validation_rejects_broken_objects(change: str, version: str) -> None:
    assert validation_errors([GOOD_POD], version) == []
    assert validation_errors([_broken(change)], version) != []


def test_deprecated_api_version_is_reported() -> None:
    doc = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}}
    assert api_version_problems([doc]) != []
