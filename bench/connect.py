"""Scenario 11, Spark Connect sessions on kubesim's process runtime (a real Spark Connect server
from pyspark's Spark):

- `connect()` to the first query result, split by what an observer sees from outside: submit
  (until the driver pod exists), pod start (until it runs), JVM and server start (until the
  server's port accepts a TCP connection on the pod's IP), port-forward (until `connect()`
  returns: the readiness probe through a forward, and its polling), first RPC (a session and
  `SELECT 1` through the forward: mostly Spark's first query). sparkube's own share is
  everything but the JVM's and Spark's start-up: submit, pod start, port-forward, and what a
  new client connection with `SELECT 1` costs through the forward beyond a direct one
  (medians of 7 after the first query, the two taking turns); the goal is at most 300 ms.
- throughput of a ~100 MB `toPandas()` through the port-forward beside a direct connection to
  the pod's Connect port (same server, same cached data); the goal is at least 50 %.

    KUBESIM_BIN=target/release/kubesim .venv/bin/python bench/connect.py [--runs N]

prints one JSON object (`make bench` runs it as the scenario `connect`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import WORK, log, summary
from tests.conftest import start_kubesim
from tests.e2e.conftest import spark_home

IMAGE = "apache/spark:4.0.1"
ROWS_PER_MB = 10_000  # rows of `id` and a 92-character string: 100 bytes of data each
# Off the default port, which a test suite's server may hold (pods share the host's network).
PORT = 15032
PHASES = ["submit", "pod_start", "jvm_and_server_start", "port_forward", "first_rpc"]


def session_app(name: str) -> Any:
    import sparkube

    return sparkube.SparkApp.session(
        name,
        image=IMAGE,
        driver=sparkube.Driver(memory="1g"),
        executor=sparkube.Executor(instances=1, memory="1g"),
        conf={
            "spark.kubernetes.driver.request.cores": "0.5",
            "spark.kubernetes.executor.request.cores": "0.5",
            "spark.connect.grpc.binding.port": str(PORT),
            "spark.connect.grpc.arrow.maxBatchSize": "16m",
        },
    )


class Observer(threading.Thread):
    """Polls the driver pod (every 10 ms, through kubesim's API) and its Connect port, and
    notes when each became visible."""

    def __init__(self, kubesim: Any, name: str) -> None:
        super().__init__(daemon=True)
        self.kubesim = kubesim
        self.selector = f"sparkube.io/session={name}"
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        path = f"/api/v1/namespaces/default/pods?labelSelector={self.selector}"
        while not self.stop.is_set() and "listening" not in self.seen:
            _, body = self.kubesim.request("GET", path)
            items = [p for p in body.get("items", []) if p["metadata"]["name"].endswith("-driver")]
            if items:
                pod = items[0]
                self.seen.setdefault("created", time.perf_counter())
                status = pod.get("status", {})
                if status.get("phase") == "Running":
                    self.seen.setdefault("running", time.perf_counter())
                    ip = status.get("podIP")
                    if ip and _accepts(ip, PORT):
                        self.seen["listening"] = time.perf_counter()
                        self.seen["pod_ip"] = ip  # type: ignore[assignment]
            time.sleep(0.01)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def open_and_query(client: Any, kubesim: Any, name: str) -> tuple[dict[str, float], Any, str]:
    """One `connect()` to the first result; the phases in ms, the connection, the pod IP."""
    observer = Observer(kubesim, name)
    observer.start()
    started = time.perf_counter()
    conn = client.connect(session_app(name), timeout=600)
    connected = time.perf_counter()
    spark = conn.session(progress=False)
    assert spark.sql("SELECT 1 AS one").collect()[0].one == 1
    answered = time.perf_counter()
    observer.stop.set()
    observer.join(5)
    seen = observer.seen
    marks = [
        started,
        seen["created"],
        seen["running"],
        seen["listening"],
        connected,
        answered,
    ]
    phases = {p: (b - a) * 1000 for p, a, b in zip(PHASES, marks[:-1], marks[1:], strict=True)}
    phases["total"] = (answered - started) * 1000
    pod_ip = str(seen["pod_ip"])
    # The first RPC is mostly Spark's first query (a session, class loading, codegen); the
    # forward's part of it is what a new connection through it costs beyond a direct one.
    fresh = new_connection_ms(forward_and_direct(conn, pod_ip))
    phases["rpc_new_connection_forward"] = fresh["forward"]
    phases["rpc_new_connection_direct"] = fresh["direct"]
    phases["sparkube_share"] = (
        phases["submit"]
        + phases["pod_start"]
        + phases["port_forward"]
        + max(0.0, fresh["forward"] - fresh["direct"])
    )
    return phases, conn, pod_ip


def forward_and_direct(conn: Any, pod_ip: str) -> list[tuple[str, str]]:
    """The Connect URLs through the forward and straight to the pod's port."""
    return [("forward", conn.url), ("direct", f"sc://{pod_ip}:{PORT}")]


def new_connection_ms(urls: list[tuple[str, str]], reps: int = 7) -> dict[str, float]:
    """Median ms of a new client (its own gRPC channel, so a new connection) and `SELECT 1`,
    per URL; the URLs take turns, so the server's warming up favours none of them."""
    from pyspark.sql.connect.session import SparkSession

    times: dict[str, list[float]] = {how: [] for how, _ in urls}
    for _ in range(reps):
        for how, url in urls:
            began = time.perf_counter()
            spark = SparkSession.builder.remote(url).create()
            spark.sql("SELECT 1 AS one").collect()
            times[how].append((time.perf_counter() - began) * 1000)
            spark.stop()
    return {how: float(summary(t)["median"]) for how, t in times.items()}


def throughput(conn: Any, pod_ip: str, mb: int, runs: int) -> dict[str, Any]:
    """MB/s of `toPandas()` of `mb` MB, through the forward and directly to the pod."""
    from pyspark.sql.connect.session import SparkSession

    rows = mb * ROWS_PER_MB
    out: dict[str, Any] = {"mb": mb, "rows": rows}
    for how, url in forward_and_direct(conn, pod_ip):
        spark = SparkSession.builder.remote(url).create()
        df = spark.range(rows, numPartitions=4).selectExpr("id", "repeat('x', 92) AS s")
        df = df.cache()
        df.count()
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            frame = df.toPandas()
            times.append(time.perf_counter() - began)
            assert len(frame) == rows
        out[how] = {"seconds": summary(times), "mb_per_s": mb / min(times)}
        df.unpersist()
        spark.stop()
    out["forward_vs_direct"] = out["forward"]["mb_per_s"] / out["direct"]["mb_per_s"]
    return out


def run(runs: int = 3, mb: int = 100) -> dict[str, Any]:
    """Starts a process-runtime kubesim of its own; `runs` sessions opened one after another
    (the first also pays the page cache's warm-up), then the throughput on the last one."""
    import sparkube

    env = {**os.environ, "SPARK_HOME": str(spark_home())}
    directory = WORK / "apisim-connect"
    kubesim = start_kubesim(directory, "--runtime", "process", env=env)
    conn = None
    try:
        client = sparkube.Client(kubeconfig=str(kubesim.kubeconfig))
        opened = []
        for i in range(runs):
            if conn is not None:
                conn.close(wait=True)
            phases, conn, pod_ip = open_and_query(client, kubesim, f"bench-{i}")
            log(f"connect: run {i}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in phases.items()))
            opened.append(phases)
        assert conn is not None
        log(f"connect: toPandas of {mb} MB through the forward and directly")
        return {
            "runs": runs,
            "phases_ms": {k: summary([p[k] for p in opened]) for k in opened[0]},
            "each_ms": opened,
            "throughput": throughput(conn, pod_ip, mb, runs=2),
        }
    finally:
        # Closed before kubesim stops: a client left retrying its forward keeps Python alive.
        if conn is not None:
            conn.close(wait=True)
        kubesim.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(run(args.runs, args.mb), indent=1))
