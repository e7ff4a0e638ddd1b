"""Rendering of deployment/ with `kubectl kustomize`, shared by the deployment tests.

A plain module (not conftest.py): other test directories have their own conftest modules.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deployment"

# Every kustomization a user applies, by the name the tests use.
KUSTOMIZATIONS = {
    "base": DEPLOYMENT / "base",
    "dev": DEPLOYMENT / "overlays" / "dev",
    "prod": DEPLOYMENT / "overlays" / "prod",
    "job": DEPLOYMENT / "jobs" / "spark-pi",
}
COMPONENTS = ("event-log-pvc", "spark-driver-pod-patch")

Doc = dict[str, Any]
PROPERTY_LINE = re.compile(r"^([^\s=:]+)\s*[=:\s]\s*(.*)$")


def kubectl() -> str:
    """The kubectl binary (kubectl is part of every machine of this project)."""
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not installed: the deployment tests render with `kubectl kustomize`"
        )
    return path


@functools.cache
def render_dir(path: str) -> tuple[Doc, ...]:
    """The objects `kubectl kustomize path` prints."""
    result = subprocess.run(
        [kubectl(), "kustomize", path], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def render(name: str) -> list[Doc]:
    """The rendered objects of one of KUSTOMIZATIONS (or `components`)."""
    if name == "components":
        return list(render_dir(str(components_kustomization())))
    return list(render_dir(str(KUSTOMIZATIONS[name])))


@functools.cache
def components_kustomization() -> Path:
    """A kustomization (under the pytest cache dir) of base + every component."""
    root = REPO / ".pytest_cache" / "deployment-components"
    root.mkdir(parents=True, exist_ok=True)
    rel = Path(os.path.relpath(DEPLOYMENT, root))
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(rel / "base")],
                "components": [str(rel / "components" / c) for c in COMPONENTS],
            }
        )
    )
    return root


ALL_RENDERS = (*KUSTOMIZATIONS, "components")


def find(docs: list[Doc], kind: str, name: str, namespace: str | None = None) -> Doc:
    """The object of `kind` named `name` (a generated name may carry a hash suffix)."""
    hits = [
        d
        for d in docs
        if d["kind"] == kind
        and (d["metadata"]["name"] == name or d["metadata"]["name"].startswith(name + "-"))
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"expected one {kind} {name} in {namespace}, found {len(hits)}"
    return hits[0]


def pod_specs(doc: Doc) -> list[Doc]:
    """The pod specs inside a workload object (none for other kinds)."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def parse_properties(text: str) -> dict[str, str]:
    """A Spark properties file (`key value` or `key=value` lines, `#` comments)."""
    props = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        match = PROPERTY_LINE.match(line)
        assert match, f"not a property line: {line!r}"
        props[match.group(1)] = match.group(2).strip()
    return props
