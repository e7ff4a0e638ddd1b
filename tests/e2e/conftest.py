"""Real Spark on kubesim's process runtime: a kubesim whose pods are local processes, a shared
event-log directory mounted into drivers, and a Spark History Server reading it.

Every application here is a real driver JVM that creates its executor pods through kubesim's API
with Spark's own Kubernetes client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import (
    Kubesim,
    assert_nothing_left_running,
    descendants,
    free_port,
    start_kubesim,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
IMAGE = "apache/spark:4.0.1"
APPS = Path(__file__).resolve().parent / "apps"


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@dataclass
class SparkCluster:
    """A kubesim running real Spark, and where its applications write event logs."""

    kubesim: Kubesim
    event_dir: Path

    def submit_args(self, name: str, *conf: str, executors: int = 2) -> list[str]:
        """spark-submit style arguments for a small app with event logging on."""
        args = [
            "--master",
            "k8s://" + self.kubesim.https_url,
            "--deploy-mode",
            "cluster",
            "--name",
            name,
            "--conf",
            f"spark.kubernetes.container.image={IMAGE}",
            "--conf",
            f"spark.executor.instances={executors}",
            "--conf",
            "spark.driver.memory=512m",
            "--conf",
            "spark.executor.memory=512m",
            "--conf",
            "spark.kubernetes.driver.request.cores=0.5",
            "--conf",
            "spark.kubernetes.executor.request.cores=0.5",
            "--conf",
            "spark.eventLog.enabled=true",
            "--conf",
            f"spark.eventLog.dir=file://{self.event_dir}",
            "--conf",
            f"spark.kubernetes.driver.volumes.hostPath.events.mount.path={self.event_dir}",
            "--conf",
            f"spark.kubernetes.driver.volumes.hostPath.events.options.path={self.event_dir}",
            # Pods see the host's root but a /tmp of their own: the test apps come in as a volume.
            "--conf",
            f"spark.kubernetes.driver.volumes.hostPath.apps.mount.path={APPS}",
            "--conf",
            f"spark.kubernetes.driver.volumes.hostPath.apps.options.path={APPS}",
            "--conf",
            "spark.kubernetes.driver.volumes.hostPath.apps.mount.readOnly=true",
        ]
        for item in conf:
            args += ["--conf", item]
        return args

    def sparkube(
        self, *args: str, timeout: float = 400, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Runs the sparkube command line against this cluster (in `cwd`, if given)."""
        env = {**os.environ, "KUBECONFIG": str(self.kubesim.kubeconfig)}
        return subprocess.run(
            [SPARKUBE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )

    def pods(self, selector: str, namespace: str = "default") -> list[dict[str, Any]]:
        status, body = self.kubesim.request(
            "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
        )
        assert status == 200, body
        return list(body["items"])


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """kubesim with the process runtime; on teardown, checks that no process outlives it."""
    directory = tmp_path_factory.mktemp("spark-kubesim")
    event_dir = directory / "events"
    event_dir.mkdir()
    env = {**os.environ, "SPARK_HOME": str(spark_home())}
    server = start_kubesim(directory, "--runtime", "process", env=env)
    try:
        yield SparkCluster(kubesim=server, event_dir=event_dir)
    finally:
        below = descendants(server.process.pid)
        server.stop()
        assert_nothing_left_running(below)


@dataclass
class HistoryServer:
    """A Spark History Server started from pyspark's sbin scripts."""

    url: str
    env: dict[str, str]

    def applications(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/api/v1/applications", timeout=10) as resp:
            return list(__import__("json").loads(resp.read()))


@pytest.fixture(scope="module")
def history_server(
    spark_cluster: SparkCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HistoryServer]:
    home = spark_home()
    work = tmp_path_factory.mktemp("history")
    port = free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(work / "logs"),
        "SPARK_PID_DIR": str(work),
        "SPARK_IDENT_STRING": f"e2e-{port}",
        "SPARK_HISTORY_OPTS": " ".join(
            [
                f"-Dspark.history.fs.logDirectory=file:{spark_cluster.event_dir}",
                f"-Dspark.history.ui.port={port}",
                "-Dspark.history.fs.update.interval=1s",
            ]
        ),
    }
    subprocess.run(
        ["bash", str(home / "sbin" / "start-history-server.sh")], env=env, check=True, timeout=60
    )
    server = HistoryServer(url=f"http://127.0.0.1:{port}", env=env)
    try:
        yield server
    finally:
        subprocess.run(
            ["bash", str(home / "sbin" / "stop-history-server.sh")],
            env=env,
            check=False,
            timeout=60,
        )
