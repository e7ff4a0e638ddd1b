"""Spark Connect sessions: a real Spark Connect server submitted as the driver on kubesim's
process runtime, reached through the API server's port-forward (kubesim's WebSocket
`pods/portforward`, kube-rs on the client side), queried with pyspark's Connect client.

One session serves the whole module: starting a server (pod, JVM, Spark, two executors) is
most of the time spent here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import sparkube
from tests.e2e.conftest import IMAGE, SPARKUBE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sparkube.connect import Connection
    from tests.e2e.conftest import SparkCluster

pytestmark = pytest.mark.slow

NAME = "nb"

# A Spark Connect client that queries the server at argv[1], then idles until it is killed.
KERNEL = """
import sys, time
from pyspark.sql.connect.session import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).create()
print(spark.sql("SELECT 1 AS one").collect()[0].one, flush=True)
time.sleep(600)
"""


def session_app(name: str = NAME, image: str = IMAGE) -> sparkube.SparkApp:
    return sparkube.SparkApp.session(
        name,
        image=image,
        driver=sparkube.Driver(memory="512m"),
        executor=sparkube.Executor(instances=2, memory="512m"),
        conf={
            "spark.kubernetes.driver.request.cores": "0.5",
            "spark.kubernetes.executor.request.cores": "0.5",
        },
    )


@pytest.fixture(scope="module")
def client(spark_cluster: SparkCluster) -> sparkube.Client:
    return sparkube.Client(kubeconfig=str(spark_cluster.kubesim.kubeconfig))


@pytest.fixture(scope="module")
def connection(client: sparkube.Client) -> Iterator[Connection]:
    conn = client.connect(session_app(), timeout=280)
    try:
        yield conn
    finally:
        conn.close(wait=True)


def test_a_query_with_a_shuffle_runs_on_two_executors(
    connection: Connection, spark_cluster: SparkCluster
) -> None:
    spark = connection.session()
    rows = (
        spark.range(0, 7000, numPartitions=4)
        .selectExpr("id % 7 AS k")
        .groupBy("k")
        .count()
        .orderBy("k")
        .collect()
    )
    assert [(r.k, r["count"]) for r in rows] == [(k, 1000) for k in range(7)]
    app_id = connection.handle.app_id
    executors = spark_cluster.pods(f"spark-app-selector={app_id},spark-role=executor")
    running = [p for p in executors if p["status"].get("phase") == "Running"]
    assert len(running) == 2, [p["metadata"]["name"] for p in executors]


def test_sessions_are_listed_apart_from_batch_apps(
    connection: Connection, client: sparkube.Client
) -> None:
    sessions = client.sessions()
    assert [s.driver_pod for s in sessions] == [connection.handle.driver_pod]
    assert connection.url == f"sc://127.0.0.1:{connection.local_port}"
    html = connection._repr_html_()
    assert "Running" in html
    assert connection.url in html
    assert connection.handle.driver_pod in html


def test_the_python_clients_portforward_reaches_the_server(
    connection: Connection, spark_cluster: SparkCluster
) -> None:
    from kubernetes import client as k8s
    from kubernetes import config
    from kubernetes.stream import portforward

    api_client = config.new_client_from_config(str(spark_cluster.kubesim.kubeconfig))
    core = k8s.CoreV1Api(api_client)
    handle = connection.handle
    forward = portforward(
        core.connect_get_namespaced_pod_portforward,
        handle.driver_pod,
        handle.namespace,
        ports=str(sparkube._core.CONNECT_PORT),
    )
    sock = forward.socket(sparkube._core.CONNECT_PORT)
    sock.settimeout(20)
    # The HTTP/2 preface and an empty SETTINGS frame; a gRPC server answers with SETTINGS.
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    header = b""
    while len(header) < 9:
        chunk = sock.recv(9 - len(header))
        assert chunk, "the forward closed before the server answered"
        header += chunk
    assert header[3] == 4, header
    # Hang up as a client should: stop writing, read what is left until the forward ends it
    # (closing with unread data would reset the client's own socket pair).
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    sock.close()
    assert forward.error(sparkube._core.CONNECT_PORT) is None
    forward.close()
    api_client.close()


def test_a_session_is_found_again_by_name(connection: Connection, client: sparkube.Client) -> None:
    again = client.connect(NAME, image=IMAGE, timeout=60)
    try:
        assert again.attached
        assert again.handle.driver_pod == connection.handle.driver_pod
        assert again.local_port != connection.local_port
    finally:
        again.detach()
    with pytest.raises(sparkube.ConfigError) as err:
        client.connect(NAME, image="apache/spark:3.5.0", timeout=60)
    assert err.value.option == "image"
    assert "already exists" in str(err.value)


def test_the_command_line_attaches_and_forwards_until_interrupted(
    connection: Connection, spark_cluster: SparkCluster
) -> None:
    from pyspark.sql.connect.session import SparkSession

    env = {**os.environ, "KUBECONFIG": str(spark_cluster.kubesim.kubeconfig)}
    proc = subprocess.Popen(
        [SPARKUBE, "connect", NAME, "--image", IMAGE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("sc://127.0.0.1:"), url
        spark = SparkSession.builder.remote(url).create()
        try:
            assert spark.range(5).count() == 5
        finally:
            spark.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert f"attached to session {NAME}" in err
    assert proc.returncode == 130
    listed = spark_cluster.sparkube("list", "--sessions")
    assert listed.returncode == 0, listed.stderr
    assert connection.handle.driver_pod in listed.stdout
    assert "Running" in listed.stdout


def test_the_quickstart_notebook_runs_in_a_jupyter_kernel(
    connection: Connection, spark_cluster: SparkCluster
) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = Path(__file__).parents[2] / "examples" / "notebooks" / "quickstart.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    env = {
        **os.environ,
        "KUBECONFIG": str(spark_cluster.kubesim.kubeconfig),
        # The module's running session: the notebook attaches to it instead of starting one.
        "SPARKUBE_SESSION": NAME,
        "SPARK_IMAGE": IMAGE,
    }
    NotebookClient(nb, kernel_name="python3", timeout=120).execute(env=env)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (repr_out,) = [o for o in code[0].outputs if o.output_type == "execute_result"]
    html = repr_out["data"]["text/html"]
    assert f"<b>{NAME}</b>" in html
    assert "Running" in html
    assert connection.handle.driver_pod in html
    shown = "".join(o.get("text", "") for o in code[1].outputs if o.output_type == "stream")
    rows = [line for line in shown.splitlines() if line.startswith("|") and "k" not in line]
    assert [[int(x) for x in r.strip("|").split("|")] for r in rows] == [
        [k, 1000] for k in range(7)
    ]
    assert all(o.output_type != "error" for c in code for o in c.outputs)


def test_a_server_whose_client_was_killed_ends_itself(
    client: sparkube.Client, spark_cluster: SparkCluster
) -> None:
    idle = 5
    env = {**os.environ, "KUBECONFIG": str(spark_cluster.kubesim.kubeconfig)}
    proc = subprocess.Popen(
        [
            *(SPARKUBE, "connect", "idle", "--image", IMAGE, "--idle-timeout", str(idle)),
            *("--conf", "spark.driver.memory=512m"),
            *("--conf", "spark.kubernetes.driver.request.cores=0.5"),
            # kubesim's pods share the host's network and the module's server holds 15002.
            *("--conf", "spark.connect.grpc.binding.port=15003"),
            # No executor until a job needs one; the query below needs none.
            *("--conf", "spark.dynamicAllocation.enabled=true"),
            *("--conf", "spark.dynamicAllocation.shuffleTracking.enabled=true"),
            *("--conf", "spark.dynamicAllocation.initialExecutors=0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    query = None
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("sc://127.0.0.1:"), proc.stderr and proc.stderr.read()
        # The notebook's kernel: a query (planned and answered by the driver alone, this
        # server has no executors), then it stays connected until killed.
        query = subprocess.Popen(
            [sys.executable, "-c", KERNEL, url], stdout=subprocess.PIPE, text=True
        )
        assert query.stdout is not None
        assert query.stdout.readline().strip() == "1"
    finally:
        # As a dead kernel: no release, no detach, no close; the forward just vanishes.
        for process in (query, proc):
            if process is not None:
                process.kill()
                process.communicate()
    killed = time.monotonic()
    (session,) = [s for s in client.sessions() if s.driver_pod.startswith("idle-")]
    status = client.attach(session.driver_pod).wait(timeout=idle + 60)
    assert status.state == "Succeeded", status
    assert time.monotonic() - killed < idle + 60
    log = spark_cluster.sparkube("logs", session.driver_pod)
    assert "no Spark Connect request for 5 s" in log.stdout
    after = [s.state for s in client.sessions() if s.driver_pod == session.driver_pod]
    assert after == ["Succeeded"]


def test_a_local_port_in_use_is_refused_before_anything_is_created(
    client: sparkube.Client, spark_cluster: SparkCluster
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(sparkube.ConfigError) as err:
            client.connect(session_app("other"), local_port=port)
    assert err.value.option == "local_port"
    assert spark_cluster.pods(f"{sparkube._core.SESSION_LABEL}=other") == []


def test_closing_deletes_the_server_and_everything_it_owns(
    connection: Connection, spark_cluster: SparkCluster
) -> None:
    # Runs last (tests run in file order): the module's session is closed here (its clients'
    # sessions released first, while the server still answers) and its fixture's close is
    # then a no-op.
    app_id = connection.handle.app_id
    assert connection.close(wait=True)
    assert spark_cluster.pods(f"spark-app-selector={app_id}") == []
    with pytest.raises(sparkube.SparkubeError, match="closed"):
        connection.session()
