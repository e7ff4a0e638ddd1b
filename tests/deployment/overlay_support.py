"""The dev overlay running on kubesim's process runtime (deployment/overlays/kubesim), shared by
test_overlay_kubesim.py and the browser tests. A plain module, imported by both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deployment_support import DEPLOYMENT

from tests.conftest import Kubesim, assert_nothing_left_running, descendants, start_kubesim

if TYPE_CHECKING:
    from collections.abc import Iterator

OVERLAY = DEPLOYMENT / "overlays" / "kubesim"
NS = "spark-apps"
# Deployments of the overlay that run on kubesim, by namespace (Airflow is scaled to zero).
RUNNING = {"minio": ["minio"], NS: ["spark-history-server", "spark-ui-proxy"]}

requires_process_runtime = pytest.mark.skipif(
    shutil.which("bwrap") is None or shutil.which("java") is None,
    reason="the process runtime needs bwrap, Spark needs java",
)


def _load_images_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("kubesim_images", OVERLAY / "images.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Overlay:
    """kubesim with deployment/overlays/kubesim applied by kubectl and rolled out."""

    kubesim: Kubesim

    def kubectl(self, *args: str, timeout: float = 120, input_text: str | None = None) -> str:
        """kubectl's output; fails the test on a non-zero exit."""
        result = subprocess.run(
            ["kubectl", *args],
            input=input_text,
            env=self.kubesim.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def pod_ip(self, namespace: str, name: str) -> str:
        """The IP of the running pod of a Deployment (pods are reachable on it from the host)."""
        out = self.kubectl(
            "-n",
            namespace,
            "get",
            "pods",
            "-l",
            f"app.kubernetes.io/name={name}",
            "--field-selector=status.phase=Running",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        )
        assert out, f"no running pod of {namespace}/{name}"
        return out

    def get_json(self, url: str, timeout: float = 10) -> Any:
        """The decoded body of a GET, or None when the server does not answer JSON (yet)."""
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None


@pytest.fixture(scope="session")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Overlay]:
    import pyspark

    directory = tmp_path_factory.mktemp("overlay-kubesim")
    images = directory / "images.yaml"
    _load_images_module().dump(images)
    # kubesim finds moto (MinIO's stand-in) through the python3 on its PATH: the environment
    # `make setup` makes for it (requirements-s3.txt).
    moto = Path(sys.prefix) / "s3" / "bin"
    assert (moto / "python3").exists(), f"no {moto}/python3: run `make setup`"
    env = {
        **os.environ,
        "PATH": f"{moto}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "SPARK_HOME": str(Path(pyspark.__file__).resolve().parent),
    }
    server = start_kubesim(
        directory / "kubesim", "--runtime", "process", "--images", str(images), env=env
    )
    try:
        overlay = Overlay(kubesim=server)
        overlay.kubectl("apply", "-k", str(OVERLAY))
        yield overlay
    finally:
        below = descendants(server.process.pid)
        server.stop()
        assert_nothing_left_running(below)
