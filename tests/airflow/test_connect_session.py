"""The `spark_connect_session` example DAG with `airflow dags test` against real Spark: a plain
`@task` opens a session with `SparkKubernetesHook.session` on kubesim's process runtime (a real
Spark Connect server and executor, tests/e2e's cluster), queries it, and leaves nothing behind.

Airflow's start, the server's JVM and an executor's take one to two minutes on a 2-core
machine, so this runs with `make test-airflow-spark`, not with `make test` (whose
tests/e2e/test_connect.py covers the session itself with real Spark).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from airflow_harness import AirflowCli, Kube

import sparkube
from tests.e2e.conftest import IMAGE, spark_cluster

if TYPE_CHECKING:
    from tests.e2e.conftest import SparkCluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.environ.get("SPARKUBE_AIRFLOW_SPARK") != "1",
        reason="a real Spark Connect server per DAG run: make test-airflow-spark runs this",
    ),
]

__all__ = ["spark_cluster"]  # the module-scoped fixture of tests/e2e, used here

DAG_ID = "spark_connect_session"
# Off the ports other Spark Connect servers of the suite listen on (pods share the host's
# network in the process runtime).
CONF = {
    "spark.connect.grpc.binding.port": "15012",
    "spark.kubernetes.driver.request.cores": "0.5",
    "spark.kubernetes.executor.request.cores": "0.5",
}


def test_a_task_queries_spark_through_a_session_that_ends_with_it(
    airflow_cli: AirflowCli, spark_cluster: SparkCluster
) -> None:
    kube = Kube(spark_cluster.kubesim)
    cli = AirflowCli(
        env={**airflow_cli.env, "AIRFLOW_CONN_KUBERNETES_DEFAULT": kube.connection()},
        home=airflow_cli.home,
    )
    text = "b a c a b a d"
    run = cli.dags_test(DAG_ID, {"image": IMAGE, "text": text, "conf": CONF}, timeout=280)
    assert run.state_of("top_words") == "success", run.output
    assert run.xcom("top_words") == [["a", 3], ["b", 2], ["c", 1]]
    assert "Spark Connect session airflow-" in run.output
    assert "closed" in run.output
    # The server and its executor are gone with the task.
    assert kube.pods(sparkube._core.SESSION_LABEL) == []
