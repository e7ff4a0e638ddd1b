"""kubesim driven by Spark's own fabric8 client: spark-submit in cluster mode creates the driver
pod and its resources, watches it to the end and reports the final state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Kubesim

try:
    import pyspark

    SPARK_HOME = Path(pyspark.__file__).parent
except ImportError:  # pragma: no cover - pyspark is in requirements-dev.txt
    SPARK_HOME = Path("/nonexistent")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime"),
    pytest.mark.skipif(
        not (SPARK_HOME / "bin" / "spark-submit").exists(), reason="pyspark has no spark-submit"
    ),
]


def test_spark_submit_runs_a_driver_to_completion(kubesim: Kubesim, tmp_path: Path) -> None:
    cmd = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master",
        f"k8s://{kubesim.https_url}",
        "--deploy-mode",
        "cluster",
        "--name",
        "pi",
        "--conf",
        "spark.kubernetes.container.image=apache/spark:4.0.0",
        "--conf",
        "spark.kubernetes.driver.annotation.kubesim.io/run-seconds=2",
        "--conf",
        "spark.kubernetes.driver.annotation.kubesim.io/log=Pi is roughly 3.14",
        "--conf",
        "spark.kubernetes.submission.waitAppCompletion=true",
        "local:///opt/spark/examples/src/main/python/pi.py",
    ]
    env = {**kubesim.env, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("PYSPARK_PYTHON", None)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "phase: Succeeded" in output
    assert "termination reason: Completed" in output
    status, pods = kubesim.request(
        "GET",
        "/api/v1/namespaces/default/pods?labelSelector=spark-role%3Ddriver,spark-app-name%3Dpi",
    )
    assert status == 200
    driver = pods["items"][-1]
    assert driver["status"]["phase"] == "Succeeded"
    name = driver["metadata"]["name"]
    status, log = kubesim.request("GET", f"/api/v1/namespaces/default/pods/{name}/log")
    assert (status, log) == (200, "Pi is roughly 3.14\n")
    # The resources spark-submit applied are owned by the driver pod.
    status, cms = kubesim.request("GET", "/api/v1/namespaces/default/configmaps")
    owned = [
        c
        for c in cms["items"]
        if any(
            o["uid"] == driver["metadata"]["uid"] for o in c["metadata"].get("ownerReferences", [])
        )
    ]
    assert owned, "the driver's ConfigMap has an ownerReference to the driver pod"
