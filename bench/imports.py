"""Scenario 6, import and install cost.

Import: a fresh interpreter per run imports one module; the time of the import statement
itself and the process's peak RSS after it (the bare interpreter's RSS is given as a baseline).
Install: sparkube's wheel size (a wheel from `target/wheels` when one was built, otherwise the
package zipped as a wheel would be, with the release build of the native library stripped),
against the installed size of what each peer needs.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.common import (
    PEERS_PY,
    PEERS_VENV,
    PROJECT_PY,
    ROOT,
    SNAPSHOT,
    dir_size_mb,
    log,
    python_env,
    run_measured,
)

# Peak RSS from VmHWM: `ru_maxrss` would include the RSS of the process that started this one.
PROBE = """
import time, json
t = time.perf_counter()
{statement}
dt = time.perf_counter() - t
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"import_s": dt, "rss_mb": int(hwm.split()[1]) / 1024}}))
"""

IMPORTS = [
    ("python (bare interpreter)", PROJECT_PY, "pass"),
    ("sparkube", PROJECT_PY, "import sparkube"),
    ("sparkube.airflow (provider entry point)", PROJECT_PY, "import sparkube.airflow"),
    (
        "sparkube.airflow.triggers.SparkAppTrigger (loads Airflow)",
        PROJECT_PY,
        "from sparkube.airflow.triggers import SparkAppTrigger",
    ),
    ("spark_on_k8s.client.SparkOnK8S", PEERS_PY, "from spark_on_k8s.client import SparkOnK8S"),
    ("kubernetes (client, config)", PEERS_PY, "from kubernetes import client, config"),
    (
        "kubernetes_asyncio (what KubernetesPodTrigger uses)",
        PEERS_PY,
        "from kubernetes_asyncio import client, config",
    ),
    ("pyspark", PROJECT_PY, "import pyspark"),
]


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _wheel_estimate() -> dict[str, Any]:
    wheels = sorted(
        (ROOT / "target" / "wheels").glob("sparkube-*.whl"), key=lambda p: p.stat().st_mtime
    )
    pkg = (
        SNAPSHOT / "sparkube" if (SNAPSHOT / "sparkube").exists() else ROOT / "python" / "sparkube"
    )
    so = next(pkg.glob("_core*.so"), None)
    out: dict[str, Any] = {}
    if wheels:
        out["built_wheel"] = wheels[-1].name
        out["built_wheel_mb"] = wheels[-1].stat().st_size / 2**20
    if so is None:
        return out
    out["native_library_installed_mb"] = so.stat().st_size / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / so.name
        shutil.copy2(so, stripped)
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-unneeded", str(stripped)], check=False)
            out["native_library_stripped_mb"] = stripped.stat().st_size / 2**20
        zipped = Path(tmp) / "sparkube.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
            for f in pkg.rglob("*"):
                if f.is_file() and "__pycache__" not in f.parts and f != so:
                    z.write(f, f.relative_to(pkg.parent))
            z.write(stripped, f"sparkube/{so.name}")
        out["wheel_estimate_mb"] = zipped.stat().st_size / 2**20
    return out


def _installed() -> dict[str, Any]:
    project_site = _site_packages(PROJECT_PY)
    peers_site = _site_packages(PEERS_PY)
    java = shutil.which("java")
    java_home = Path(java).resolve().parent.parent if java else None
    sizes: dict[str, Any] = {
        "pyspark (spark-submit's distribution)": dir_size_mb(project_site / "pyspark"),
        "Java runtime spark-submit needs": dir_size_mb(java_home) if java_home else None,
        "spark_on_k8s": dir_size_mb(peers_site / "spark_on_k8s"),
        "spark_on_k8s + its dependencies (whole peers venv minus matplotlib's stack)": None,
    }
    heavy = {
        "matplotlib",
        "numpy",
        "numpy.libs",
        "PIL",
        "pillow.libs",
        "fontTools",
        "kiwisolver",
        "contourpy",
        "pip",
        "setuptools",
        "kubernetes_asyncio",
    }
    total = 0.0
    for entry in peers_site.iterdir():
        name = entry.name.split("-")[0]
        if entry.is_dir() and name not in heavy and not entry.name.endswith(".dist-info"):
            total += dir_size_mb(entry)
    sizes["spark_on_k8s + its dependencies (whole peers venv minus matplotlib's stack)"] = total
    sizes["peers_venv"] = str(PEERS_VENV)
    return sizes


def run(*, runs: int) -> dict[str, Any]:
    """Each import `runs` times in fresh processes; sizes."""
    imports: dict[str, Any] = {}
    for label, python, statement in IMPORTS:
        samples = []
        for _ in range(runs):
            r = run_measured(
                [str(python), "-c", PROBE.format(statement=statement)], env=python_env()
            )
            if r.returncode != 0:
                imports[label] = {"failed": r.stderr[-1500:]}
                break
            samples.append(r.json() | {"process_wall_s": r.wall_s})
        if samples:
            imports[label] = {
                "statement": statement,
                "runs": len(samples),
                "import_ms_median": statistics.median(s["import_s"] for s in samples) * 1e3,
                "rss_mb_median": statistics.median(s["rss_mb"] for s in samples),
                "process_wall_ms_median": statistics.median(s["process_wall_s"] for s in samples)
                * 1e3,
            }
            log(
                f"  import {label}: {imports[label]['import_ms_median']:.0f} ms, {imports[label]['rss_mb_median']:.0f} MB"
            )
    return {"imports": imports, "wheel": _wheel_estimate(), "installed_mb": _installed()}
