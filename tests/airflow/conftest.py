"""Fixtures of the Airflow tests (the harness itself is in `airflow_harness`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Sets AIRFLOW_HOME before any test module imports Airflow.
from airflow_harness import AIRFLOW_ENV, HOME, AirflowCli, Kube, kubesim_binary

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session", autouse=True)
def _airflow_home() -> Iterator[Path]:
    yield HOME
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_cli(_airflow_home: Path) -> AirflowCli:
    """The `airflow` command line on a migrated SQLite database (migrated once per session)."""
    env = {**os.environ, **AIRFLOW_ENV}
    env.pop("AIRFLOW_CONN_KUBERNETES_DEFAULT", None)
    cli = AirflowCli(env=env, home=_airflow_home)
    cli.run("db", "migrate", timeout=600)
    return cli


@pytest.fixture(scope="session")
def kube(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kube]:
    """kubesim with its simulated runtime: the shared one of tests/conftest.py when there is
    one, else one started here."""
    try:
        shared = request.getfixturevalue("kubesim")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        yield Kube(Path(shared.kubeconfig))
        return
    state = tmp_path_factory.mktemp("kubesim")
    kubeconfig = state / "kubeconfig"
    log = state / "kubesim.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(kubesim_binary()), "--listen", "127.0.0.1:0", "--kubeconfig", str(kubeconfig)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(600):
            if "http://" in log.read_text() and kubeconfig.is_file():
                break
            assert proc.poll() is None, f"kubesim exited:\n{log.read_text()}"
            time.sleep(0.05)
        else:
            pytest.fail(f"kubesim did not start:\n{log.read_text()}")
        yield Kube(kubeconfig)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def airflow_k8s(airflow_cli: AirflowCli, kube: Kube) -> AirflowCli:
    """The `airflow` command line with `kubernetes_default` pointing at kubesim."""
    env = {**airflow_cli.env, "AIRFLOW_CONN_KUBERNETES_DEFAULT": kube.connection()}
    return AirflowCli(env=env, home=airflow_cli.home)


@pytest.fixture
def kube_conn(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> Kube:
    """`kubernetes_default` pointing at kubesim, in this process."""
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", kube.connection())
    return kube
