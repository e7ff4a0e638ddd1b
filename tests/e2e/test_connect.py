"""Spark Connect sessions: a real Spark Connect server submitted as the driver on kubesim's
process runtime, reached through the API server's port-forward (kubesim's WebSocket
`pods/portforward`, kube-rs on the client side), queried with pyspark's Connect client.

One session serves the whole module: starting a server (pod, JVM, Spark, two executors) is
most of the time spent here.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import sparkube
from sparkube.connect import QueryProgress
from tests.e2e.conftest import IMAGE, SPARKUBE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sparkube.connect import Connection
    from tests.e2e.conftest import SparkCluster

pytestmark = pytest.mark.slow

NAME = "nb"

# A Spark Connect client that queries the server at argv[1] (the driver alone answers), then,
# for each line read, runs a job on executors; it idles until it is killed.
KERNEL = """
import sys, time
from pyspark.sql.connect.session import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).create()
print(spark.sql("SELECT 1 AS one").collect()[0].one, flush=True)
for _ in sys.stdin:
    print(sum(r.x for r in spark.range(0, 100, 1, 2).selectExpr("id * 2 AS x").collect()), flush=True)
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
    connection: Connection, client: sparkube.Client, spark_cluster: SparkCluster
) -> None:
    sessions = client.sessions()
    assert [s.driver_pod for s in sessions] == [connection.handle.driver_pod]
    assert connection.url == f"sc://127.0.0.1:{connection.local_port}"
    # The executors come from the Spark UI, whose REST layer may take a while to first answer.
    deadline = time.monotonic() + 60
    while connection.handle.progress() is None:
        assert time.monotonic() < deadline, "the Spark UI never answered"
        time.sleep(1)
    html = connection._repr_html_()
    assert "Running" in html
    assert connection.url in html
    assert connection.handle.driver_pod in html
    assert "<th style='text-align:left'>Executors</th><td>2 active</td>" in html
    # The Spark UI through the API server's service proxy, which answers with the UI.
    ui = connection.handle.spark_ui_url
    assert ui is not None
    assert f"<a href='{ui}'" in html
    path = ui.removeprefix(spark_cluster.kubesim.https_url)
    assert path.startswith("/api/v1/namespaces/default/services/"), ui
    status, body = spark_cluster.kubesim.request("GET", path + "api/v1/applications")
    assert status == 200, body
    assert [a["id"] for a in body] == [connection.handle.app_id]


def test_a_querys_progress_reaches_the_bar(connection: Connection) -> None:
    spark = connection.session(progress=False)
    # The server reports every interval and at the end; a short interval shows it mid-query.
    spark.conf.set("spark.connect.progress.reportInterval", "100ms")
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    out = io.StringIO()
    bar = QueryProgress(file=out)
    spark.registerProgressHandler(bar)
    rows = spark.range(0, 20000, numPartitions=3).selectExpr("id % 5 AS k").groupBy("k").count()
    assert sorted(r["count"] for r in rows.collect()) == [4000] * 5
    assert bar.last is not None
    completed, total, _ = bar.last
    # The 3 map tasks and the 2 reduce tasks of the shuffle (adaptive execution may skip some
    # of the latter); the last report is the end of the query, which closes its bar.
    assert total >= 4
    assert 3 <= completed <= total
    assert f"{completed}/{total}" in out.getvalue()
    assert bar.open == 0


def test_the_logs_of_the_driver_and_an_executor_are_on_hand(connection: Connection) -> None:
    driver = list(connection.logs(tail=2000))
    assert any("started service 'org.apache.spark.sql.connect" in line for line in driver)
    executor = list(connection.logs(executor="1", tail=2000))
    assert any("KubernetesExecutorBackend: Started daemon" in line for line in executor)


class DroppingProxy:
    """A TCP relay in front of the API server whose connections can all be cut at once, as a
    network change or a restarting load balancer cuts a port-forward's WebSocket."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def drop_all(self) -> int:
        """Resets every relayed connection; returns how many there were."""
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()
        return len(sockets) // 2

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


def test_a_dropped_forward_reconnects_on_the_same_session(
    connection: Connection, spark_cluster: SparkCluster, tmp_path: Path
) -> None:
    api = spark_cluster.kubesim.https_url.removeprefix("https://")
    host, port = api.rsplit(":", 1)
    proxy = DroppingProxy((host, int(port)))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        spark_cluster.kubesim.kubeconfig.read_text().replace(
            f"https://{api}", f"https://127.0.0.1:{proxy.port}"
        )
    )
    conn = sparkube.Client(kubeconfig=str(kubeconfig)).connect(NAME, image=IMAGE, timeout=60)
    try:
        spark = conn.session(progress=False)
        spark.range(10).createOrReplaceTempView("ten")
        assert spark.sql("SELECT count(*) AS n FROM ten").collect()[0].n == 10
        session_id = spark.session_id
        accepted = conn._core.forward_stats()[0]
        assert proxy.drop_all() >= 1  # the forward's WebSocket among them
        # The session's state (its temporary view) is still there: same session on the server.
        assert spark.sql("SELECT sum(id) AS s FROM ten").collect()[0].s == 45
        assert spark.session_id == session_id
        assert conn._core.forward_stats()[0] > accepted
    finally:
        conn.detach()
        proxy.close()


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
    streams = [o for o in code[1].outputs if o.output_type == "stream"]
    shown = "".join(o["text"] for o in streams if o["name"] == "stdout")
    # In a Jupyter kernel the query's progress bar is on by default (text on stderr here,
    # where no ipywidgets is installed).
    bar = "".join(o["text"] for o in streams if o["name"] == "stderr")
    assert "Spark:" in bar, bar
    assert "task" in bar, bar
    rows = [line for line in shown.splitlines() if line.startswith("|") and "k" not in line]
    assert [[int(x) for x in r.strip("|").split("|")] for r in rows] == [
        [k, 1000] for k in range(7)
    ]
    assert all(o.output_type != "error" for c in code for o in c.outputs)


def test_a_server_whose_client_was_killed_ends_itself(
    client: sparkube.Client, spark_cluster: SparkCluster
) -> None:
    idle = 10
    env = {**os.environ, "KUBECONFIG": str(spark_cluster.kubesim.kubeconfig)}
    proc = subprocess.Popen(
        [
            *(SPARKUBE, "connect", "idle", "--image", IMAGE, "--idle-timeout", str(idle)),
            *("--conf", "spark.driver.memory=512m"),
            *("--conf", "spark.kubernetes.driver.request.cores=0.5"),
            # kubesim's pods share the host's network and the module's server holds 15002.
            *("--conf", "spark.connect.grpc.binding.port=15003"),
            # Executors for jobs, none once idle for 2 s.
            *("--conf", "spark.dynamicAllocation.enabled=true"),
            *("--conf", "spark.dynamicAllocation.shuffleTracking.enabled=true"),
            *("--conf", "spark.dynamicAllocation.initialExecutors=0"),
            *("--conf", "spark.dynamicAllocation.maxExecutors=1"),
            *("--conf", "spark.dynamicAllocation.executorIdleTimeout=2s"),
            *("--conf", "spark.executor.memory=512m"),
            *("--conf", "spark.kubernetes.executor.request.cores=0.5"),
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
        # server has no executors), then jobs on executors, then it stays connected until
        # killed.
        query = subprocess.Popen(
            [sys.executable, "-c", KERNEL, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert query.stdout is not None
        assert query.stdin is not None
        assert query.stdout.readline().strip() == "1"
        (session,) = [s for s in client.sessions() if s.driver_pod.startswith("idle-")]
        executors = f"spark-app-selector={session.app_id},spark-role=executor"

        def running() -> int:
            pods = spark_cluster.pods(executors)
            return sum(p["status"].get("phase") == "Running" for p in pods)

        def none_once_idle() -> None:
            deadline = time.monotonic() + 30
            while running():
                assert time.monotonic() < deadline, "the idle executor was not removed"
                time.sleep(0.2)

        # Dynamic allocation: no executor while the session idles, one back for a job, none
        # again once it is done.
        none_once_idle()
        query.stdin.write("job\n")
        query.stdin.flush()
        assert query.stdout.readline().strip() == str(sum(range(0, 200, 2)))
        assert running() == 1
        none_once_idle()
    finally:
        # As a dead kernel: no release, no detach, no close; the forward just vanishes.
        for process in (query, proc):
            if process is not None:
                process.kill()
                process.communicate()
    killed = time.monotonic()
    status = client.attach(session.driver_pod).wait(timeout=idle + 60)
    assert status.state == "Succeeded", status
    assert time.monotonic() - killed < idle + 60
    log = spark_cluster.sparkube("logs", session.driver_pod)
    assert f"no Spark Connect request for {idle} s" in log.stdout
    after = [s.state for s in client.sessions() if s.driver_pod == session.driver_pod]
    assert after == ["Succeeded"]


@pytest.mark.parametrize(
    ("image", "conf", "reason"),
    [
        ("registry.invalid/nothing:1", {}, "ImagePull"),
        (IMAGE, {"spark.kubernetes.driver.request.cores": "64"}, "Unschedulable"),
    ],
    ids=["image-pull", "unschedulable"],
)
def test_a_server_that_cannot_start_fails_with_the_pods_reason(
    client: sparkube.Client,
    spark_cluster: SparkCluster,
    image: str,
    conf: dict[str, str],
    reason: str,
) -> None:
    name = f"broken-{reason.lower()}"
    app = sparkube.SparkApp.session(name, image=image, conf=conf)
    with pytest.raises(sparkube.StartupTimeout) as err:
        client.connect(app, timeout=3)
    assert err.value.status is not None
    assert reason in (err.value.status.reason or "")  # ErrImagePull or ImagePullBackOff
    assert reason in str(err.value)
    assert "Traceback" not in str(err.value)
    assert "grpc" not in str(err.value).lower()
    # The server it started is deleted again.
    deadline = time.monotonic() + 30
    while spark_cluster.pods(f"{sparkube._core.SESSION_LABEL}={name}"):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_server_killed_for_memory_while_starting_fails_with_the_cause(
    client: sparkube.Client, spark_cluster: SparkCluster
) -> None:
    # The JVM commits its whole heap at start (-Xms512m -XX:+AlwaysPreTouch), more than the
    # container's limit of heap plus a 1 MiB overhead: the kubelet kills it before the server
    # answers.
    name = "broken-oom"
    conf = {
        "spark.driver.memoryOverhead": "1m",
        "spark.driver.extraJavaOptions": "-Xms512m -XX:+AlwaysPreTouch",
        # Pods of the process runtime share the host's network, and the module's live session
        # holds the default port on every address: a probe there would find that server.
        "spark.connect.grpc.binding.port": "15099",
    }
    app = sparkube.SparkApp.session(
        name, image=IMAGE, driver=sparkube.Driver(memory="512m"), conf=conf
    )
    with pytest.raises(sparkube.AppFailed) as err:
        client.connect(app, timeout=240)
    assert err.value.status is not None
    assert err.value.status.reason == "OOMKilled", err.value.status
    message = str(err.value)
    assert "driver OOMKilled" in message, message
    assert "spark.driver.memoryOverhead" in message, message
    assert "grpc" not in message.lower()


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
