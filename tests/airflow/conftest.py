"""Fixtures of the Airflow tests (the harness itself is in `airflow_harness`)."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

# Sets AIRFLOW_HOME before any test module imports Airflow.
from airflow_harness import AIRFLOW_ENV, HISTORY_URL, HOME, UI_URL, AirflowCli, Kube

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import Kubesim


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
def kube(kubesim: Kubesim) -> Kube:
    """The session's kubesim (tests/conftest.py), simulated runtime."""
    return Kube(kubesim)


@pytest.fixture(scope="session")
def airflow_k8s(airflow_cli: AirflowCli, kube: Kube) -> AirflowCli:
    """The `airflow` command line with `kubernetes_default` pointing at kubesim."""
    env = {
        **airflow_cli.env,
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": kube.connection(),
        "AIRFLOW__SPARKUBE__SPARK_UI_URL_TEMPLATE": UI_URL,
        "AIRFLOW__SPARKUBE__SPARK_HISTORY_URL_TEMPLATE": HISTORY_URL,
    }
    return AirflowCli(env=env, home=airflow_cli.home)


@pytest.fixture
def kube_conn(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> Kube:
    """`kubernetes_default` pointing at kubesim, in this process."""
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", kube.connection())
    return kube
