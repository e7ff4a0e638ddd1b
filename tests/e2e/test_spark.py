"""Real Spark applications submitted by sparkube and run by kubesim's process runtime."""

from __future__ import annotations

import itertools
import re
import threading
import time
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import sparkube
from tests.e2e.conftest import APPS, IMAGE

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import S3Server
    from tests.e2e.conftest import HistoryServer, SparkCluster

pytestmark = pytest.mark.slow

PI = "local:///opt/spark/examples/src/main/python/pi.py"


class PodRecorder:
    """Polls pods matching a selector and remembers every one it saw, with its live count."""

    def __init__(self, cluster: SparkCluster, selector: str) -> None:
        self.cluster = cluster
        self.selector = selector
        self.seen: dict[str, dict[str, Any]] = {}
        self.live_counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pods = self.cluster.pods(self.selector)
            for pod in pods:
                self.seen.setdefault(pod["metadata"]["name"], pod)
            live = [
                p
                for p in pods
                if "deletionTimestamp" not in p["metadata"]
                and p.get("status", {}).get("phase") in ("Pending", "Running")
            ]
            self.live_counts.append(len(live))
            self._stop.wait(0.3)

    def __enter__(self) -> PodRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# Executor memory figures for the right-sizing report: polled every 200 ms rather than at
# heartbeats (10 s, longer than these apps' executors live), and written to the event log.
REPORT_CONF = (
    "spark.executor.metrics.pollingInterval=200ms",
    "spark.eventLog.logStageExecutorMetrics=true",
)


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def driver_pod(cluster: SparkCluster, name_prefix: str) -> dict[str, Any]:
    drivers = [
        p
        for p in cluster.pods("spark-role=driver")
        if p["metadata"]["name"].startswith(name_prefix)
    ]
    assert len(drivers) == 1, [p["metadata"]["name"] for p in drivers]
    return drivers[0]


def owned_by(cluster: SparkCluster, kind: str, uid: str) -> list[str]:
    status, body = cluster.kubesim.request("GET", f"/api/v1/namespaces/default/{kind}")
    assert status == 200, body
    return [
        o["metadata"]["name"]
        for o in body["items"]
        if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences", []))
    ]


def test_spark_pi_on_executors_created_by_the_driver(
    spark_cluster: SparkCluster, history_server: HistoryServer
) -> None:
    args = spark_cluster.submit_args("spark-pi", *REPORT_CONF)
    with PodRecorder(spark_cluster, "spark-role=executor") as executors:
        result = spark_cluster.sparkube(
            "submit", "--logs", "--history-server", history_server.url, *args, PI, "10"
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Pi is roughly 3.1" in result.stdout, result.stdout[-3000:]
    assert "finished: Succeeded" in result.stderr
    # The right-sizing line, from the History Server's REST API (not marked partial).
    line = r"Right-sizing: executors peaked at .* of 512 MiB heap \((\d+) %\).*"
    report = re.search(line, result.stderr)
    assert report, result.stderr[-3000:]
    assert 0 <= int(report[1]) <= 100, report[0]
    assert "partial" not in report[0], result.stderr[-1500:]

    driver = driver_pod(spark_cluster, "spark-pi")
    uid = driver["metadata"]["uid"]
    app_id = driver["metadata"]["labels"]["spark-app-selector"]
    # The driver JVM created its executors through the API, owned by its own pod.
    assert len(executors.seen) >= 2, sorted(executors.seen)
    for pod in executors.seen.values():
        owners = pod["metadata"].get("ownerReferences", [])
        assert [(o["kind"], o["uid"]) for o in owners] == [("Pod", uid)], owners
        assert pod["metadata"]["labels"]["spark-app-selector"] == app_id
    # ... and deleted them when the application ended.
    eventually(lambda: not spark_cluster.pods("spark-role=executor"), 60, "executors deleted")

    # The finished application is in the history server, read from the shared event logs.
    eventually(
        lambda: any(a["id"] == app_id for a in history_server.applications()),
        60,
        f"{app_id} in the Spark History Server",
    )

    # The driver deleted its own service as it stopped
    # (spark.kubernetes.driver.service.deleteOnTermination); deleting the driver pod collects
    # everything else it owns.
    assert not owned_by(spark_cluster, "services", uid)
    assert owned_by(spark_cluster, "configmaps", uid)
    status, body = spark_cluster.kubesim.request(
        "DELETE", f"/api/v1/namespaces/default/pods/{driver['metadata']['name']}"
    )
    assert status == 200, body
    eventually(
        lambda: (
            not owned_by(spark_cluster, "configmaps", uid)
            and not owned_by(spark_cluster, "services", uid)
            and not spark_cluster.pods("spark-role=driver")
        ),
        60,
        "the driver's objects garbage-collected",
    )


def test_dynamic_allocation_scales_up_and_back_down(spark_cluster: SparkCluster) -> None:
    args = spark_cluster.submit_args(
        "dyn-alloc",
        "spark.dynamicAllocation.enabled=true",
        "spark.dynamicAllocation.shuffleTracking.enabled=true",
        "spark.dynamicAllocation.shuffleTracking.timeout=2s",
        "spark.dynamicAllocation.minExecutors=0",
        "spark.dynamicAllocation.maxExecutors=2",
        "spark.dynamicAllocation.executorIdleTimeout=2s",
        "spark.dynamicAllocation.schedulerBacklogTimeout=1s",
        executors=0,
    )
    client = sparkube.Client(kubeconfig=spark_cluster.kubesim.kubeconfig)
    with PodRecorder(spark_cluster, "spark-role=executor") as executors:
        handle = client.submit([*args, f"local://{APPS / 'dynamic_allocation.py'}", "40"])
        # Up: the backlog of the wide stage asks for executors.
        eventually(lambda: max(executors.live_counts, default=0) >= 1, 180, "executors to start")
        # Down: once idle, the driver releases them while it keeps running.
        eventually(
            lambda: executors.live_counts[-1] == 0 and handle.status().state.value == "Running",
            120,
            "idle executors released while the driver runs",
        )
        final = handle.wait(timeout=180)
    assert final.state.value == "Succeeded"
    assert any("buckets: 10, total: 20000" in line for line in handle.logs())


def test_failing_app_reports_exit_code_and_traceback(spark_cluster: SparkCluster) -> None:
    client = sparkube.Client(kubeconfig=spark_cluster.kubesim.kubeconfig)
    handle = client.submit(
        [*spark_cluster.submit_args("fails", executors=1), f"local://{APPS / 'fails.py'}"]
    )
    with pytest.raises(sparkube.AppFailed) as failed:
        handle.wait(timeout=300)
    status = failed.value.status
    assert status.state.value == "Failed"
    assert status.exit_code == 1, status
    assert any(
        "InventoryMismatch: expected 101 rows, counted 100" in line
        for line in status.last_log_lines
    ), status.last_log_lines
    # The real traceback's last line is the cause, read from the real driver log.
    assert status.cause == "Python: InventoryMismatch: expected 101 rows, counted 100", status


def test_progress_reads_the_running_driver_through_the_service_proxy(
    spark_cluster: SparkCluster, history_server: HistoryServer
) -> None:
    client = sparkube.Client(kubeconfig=spark_cluster.kubesim.kubeconfig)
    args = spark_cluster.submit_args("pi-progress", *REPORT_CONF)
    handle = client.submit([*args, PI, "40"])
    readings: list[sparkube.Progress] = []
    while not handle.status().state.is_final:
        progress = handle.progress()
        if progress is not None:
            readings.append(progress)
        time.sleep(0.3)
    assert handle.wait(timeout=60).state.value == "Succeeded"
    # pi.py with 40 slices runs one job of 40 tasks; the UI answered while it ran.
    counted = [p for p in readings if p.tasks_total]
    assert counted, readings
    assert {p.tasks_total for p in counted} == {40}, counted
    assert all(p.jobs_total == 1 and p.app_id == handle.app_id for p in counted), counted
    done = [p.tasks_completed for p in counted]
    assert done == sorted(done), done
    assert max(done) <= 40

    # The right-sizing report of the real run: from the last progress read (partial), then
    # from the History Server reading the event log.
    live = handle.report()
    assert live is not None
    assert (live.source, live.partial) == ("live_snapshot", True), live
    assert_real_figures(live)
    history = handle.report(history_server.url, wait=60)
    assert history is not None
    assert history.source == "history_server", history.note
    assert not history.partial, history.note
    assert_real_figures(history)
    figures = history.to_dict()
    assert len(figures["executors"]) == 2, figures
    assert figures["task_seconds"] > 0, figures
    assert figures["gc_share"] is not None, figures


def assert_real_figures(report: sparkube.Report) -> None:
    """Executors that lived, and a peak heap within `spark.executor.memory` (512m here)."""
    memory = 512 << 20
    assert report.executor_seconds > 0, report.to_dict()
    assert report.executor_memory == memory, report.to_dict()
    assert report.peak_heap is not None, report.to_dict()
    assert 0 < report.peak_heap <= memory, report.to_dict()
    assert (report.summary or "").startswith("executors peaked at"), report


def test_a_local_script_and_package_ship_in_a_config_map(
    spark_cluster: SparkCluster, tmp_path: Path
) -> None:
    # A script and the package it imports, in a folder the pods cannot see: only the
    # ConfigMap sparkube ships brings them to the driver, which serves the package to its
    # two executors.
    (tmp_path / "job.py").write_text(
        "from pyspark.sql import SparkSession\n"
        "from shapes import square\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "total = spark.sparkContext.parallelize(range(100), 4).map(square).sum()\n"
        "print(f'sum of squares: {total}')\n"
        "spark.stop()\n"
        "import json\n"
        "with open('/dev/termination-log', 'w') as out:\n"
        "    json.dump({'sum_of_squares': total}, out)\n"
    )
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "__init__.py").write_text("def square(x):\n    return x * x\n")
    args = spark_cluster.submit_args("ship", executors=2)
    with PodRecorder(spark_cluster, "spark-role=executor") as executors:
        # The package directory is zipped on the way.
        result = spark_cluster.sparkube(
            "submit", *args, "--py-files", "shapes/", "job.py", cwd=tmp_path
        )
    assert result.returncode == 0, result.stderr[-3000:]
    driver = driver_pod(spark_cluster, "ship-")
    uid = driver["metadata"]["uid"]
    logs = spark_cluster.sparkube("logs", driver["metadata"]["name"])
    assert "sum of squares: 328350" in logs.stdout, logs.stdout[-2000:]
    # What the driver wrote to its termination message comes back as the result.
    client = sparkube.Client(kubeconfig=spark_cluster.kubesim.kubeconfig)
    status = client.attach(driver["metadata"]["name"]).status()
    assert status.result == {"sum_of_squares": 328350}, status
    shipped = [
        name for name in owned_by(spark_cluster, "configmaps", uid) if name.endswith("-local-files")
    ]
    assert len(shipped) == 1, owned_by(spark_cluster, "configmaps", uid)
    app_id = driver["metadata"]["labels"]["spark-app-selector"]
    ran = [
        name
        for name, pod in executors.seen.items()
        if pod["metadata"]["labels"]["spark-app-selector"] == app_id
    ]
    assert len(ran) == 2, sorted(executors.seen)


def test_a_package_and_archive_come_through_the_s3_server_as_presigned_urls(
    spark_cluster: SparkCluster, s3_server: S3Server, tmp_path: Path
) -> None:
    # Real Spark here has no s3a file system (the pyspark wheel lacks hadoop-aws): with
    # presign, the driver and its executors fetch the uploads over plain HTTP from the S3
    # server, a separate process. The archive is unpacked under its alias on the executors.
    import tarfile

    (tmp_path / "job.py").write_text(
        "import os\n"
        "from pyspark.sql import SparkSession\n"
        "from shapes import square\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "def read(x):\n"
        "    with open(os.path.join('data', 'factor.txt')) as f:\n"
        "        return square(x) * int(f.read())\n"
        "total = spark.sparkContext.parallelize(range(10), 2).map(read).sum()\n"
        "print(f'presigned total: {total}')\n"
        "spark.stop()\n"
    )
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "__init__.py").write_text("def square(x):\n    return x * x\n")
    (tmp_path / "factor.txt").write_text("3")
    with tarfile.open(tmp_path / "data.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "factor.txt", arcname="factor.txt")
    bucket = f"presign-{int(time.time())}"
    s3_server.create_bucket(bucket)
    store = [f"{k}={v}" for k, v in s3_server.conf(f"s3a://{bucket}/apps").items()] + [
        "spark.sparkube.upload.presign=true"
    ]
    args = spark_cluster.submit_args("presign", *store, executors=2)
    result = spark_cluster.sparkube(
        "submit",
        "--delete-uploads",
        *args,
        "--py-files",
        "shapes/",
        "--archives",
        "data.tar.gz#data",
        "job.py",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    driver = driver_pod(spark_cluster, "presign-")
    logs = spark_cluster.sparkube("logs", driver["metadata"]["name"])
    assert "presigned total: 855" in logs.stdout, logs.stdout[-3000:]
    # The conf named the uploads by http URLs; --delete-uploads removed them at the end.
    assert s3_server.keys(bucket) == []


def test_a_venv_pack_archive_is_the_python_of_the_driver_and_executors(
    spark_cluster: SparkCluster, tmp_path: Path
) -> None:
    # Spark's documented way to bring Python packages: a virtualenv packed by venv-pack,
    # shipped with --archives under an alias, and spark.pyspark.python pointing into it. The
    # module the job imports exists only in that virtualenv; the archive is small enough for
    # the ConfigMap, so no store is involved.
    import subprocess
    import sys

    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = subprocess.run(
        [
            str(env / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "packed_only.py").write_text("WHERE = 'the packed virtualenv'\n")
    venv_pack = Path(sys.executable).parent / "venv-pack"
    subprocess.run(
        [str(venv_pack), "-p", str(env), "-o", str(tmp_path / "pyenv.tar.gz"), "-q"], check=True
    )
    (tmp_path / "job.py").write_text(
        "import sys\n"
        "import packed_only\n"
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "def where(_):\n"
        "    import packed_only\n"
        "    return (packed_only.WHERE, sys.prefix.endswith('environment'))\n"
        "seen = set(spark.sparkContext.parallelize(range(4), 2).map(where).collect())\n"
        "print(f'driver: {packed_only.WHERE}, {sys.prefix.endswith(\"environment\")}')\n"
        "print(f'executors: {sorted(seen)}')\n"
        "spark.stop()\n"
    )
    args = spark_cluster.submit_args(
        "venvpack", "spark.pyspark.python=./environment/bin/python", executors=2
    )
    result = spark_cluster.sparkube(
        "submit", *args, "--archives", "pyenv.tar.gz#environment", "job.py", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    driver = driver_pod(spark_cluster, "venvpack-")
    logs = spark_cluster.sparkube("logs", driver["metadata"]["name"]).stdout
    assert "driver: the packed virtualenv, True" in logs, logs[-3000:]
    assert "executors: [('the packed virtualenv', True)]" in logs, logs[-3000:]


def word_lengths(spark: Any, words: list[str]) -> dict[str, Any]:
    counts = (
        spark.sparkContext.parallelize(words, 2)
        .map(lambda w: (len(w), 1))
        .reduceByKey(add)
        .collectAsMap()
    )
    return {"by_length": {str(k): v for k, v in sorted(counts.items())}, "total": len(words)}


def test_a_python_function_runs_as_the_driver_and_returns_its_result(
    spark_cluster: SparkCluster,
) -> None:
    client = sparkube.Client(kubeconfig=spark_cluster.kubesim.kubeconfig)
    args = spark_cluster.submit_args("function", executors=2)
    conf = dict(v.split("=", 1) for f, v in itertools.pairwise(args) if f == "--conf")
    words = ["spark", "on", "kubernetes", "from", "a", "function"]
    # The function's source, with `add` imported again, is the driver's whole program.
    result = client.run(
        word_lengths,
        [words],
        timeout=300,
        image=IMAGE,
        master=args[args.index("--master") + 1],
        conf=conf,
    )
    assert result == {"by_length": {"1": 1, "2": 1, "4": 1, "5": 1, "8": 1, "10": 1}, "total": 6}


def threshold_counter(minimum: int) -> Any:
    """A closure: its source cannot stand alone, so it travels pickled."""

    def longer_than(spark: Any, words: list[str]) -> int:
        return int(
            spark.sparkContext.parallelize(words, 2).filter(lambda w: len(w) > minimum).count()
        )

    return longer_than


def test_a_closure_runs_as_the_driver_pickled(spark_cluster: SparkCluster) -> None:
    client = sparkube.Client(kubeconfig=spark_cluster.kubesim.kubeconfig)
    args = spark_cluster.submit_args("closure", executors=1)
    conf = dict(v.split("=", 1) for f, v in itertools.pairwise(args) if f == "--conf")
    result = client.run(
        threshold_counter(4),
        [["spark", "on", "kubernetes", "from", "a", "closure"]],
        timeout=300,
        image=IMAGE,
        master=args[args.index("--master") + 1],
        conf=conf,
    )
    assert result == 3
