"""Progress from a real Spark UI through kubesim's service proxy.

A local SparkSession (the PyPI pyspark) plays the driver: its UI listens on 127.0.0.1. In
kubesim, a driver pod carries the session's application id, and its driver service has a
`spark-ui` port and no selector, with an Endpoints object pointing at the UI's address, as an
endpoints controller would write it for a driver pod with that IP. `progress()` then goes the
way it goes on a cluster: the API server's `services/{name}:{port}/proxy/...` to the driver.
The counts asserted are those of the jobs this module runs (partitions, shuffles, skipped
stages), checked against Spark's own status tracker where it has them.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import secrets
import socket
import threading
import time
import urllib.parse
from operator import add
from typing import TYPE_CHECKING, Any

import pytest

from sparkube import AppStalled, AppState, Client, ConfigError, Progress, WaitTimeout
from sparkube.airflow import _watch
from sparkube.stall import StallClock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from sparkube import SparkAppHandle
    from tests.conftest import Kubesim

IMAGE = "apache/spark:4.0.1"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sparkube-progress-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", "0")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def namespace(kubesim: Kubesim) -> Iterator[str]:
    """A namespace of this module's drivers, deleted (with them) afterwards."""
    name = f"progress-{secrets.token_hex(4)}"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    code, body = kubesim.request("POST", "/api/v1/namespaces", namespace)
    assert code == 201, body
    yield name
    kubesim.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def client(kubesim: Kubesim) -> Client:
    return Client(kubeconfig=kubesim.kubeconfig)


def ui_port(spark: SparkSession) -> int:
    port = urllib.parse.urlsplit(spark.sparkContext.uiWebUrl or "").port
    assert port, spark.sparkContext.uiWebUrl
    return port


def create(kubesim: Kubesim, namespace: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    code, body = kubesim.request("POST", f"/api/v1/namespaces/{namespace}/{plural}", obj)
    assert code == 201, body
    return dict(body)


def make_driver(
    kubesim: Kubesim,
    namespace: str,
    app_id: str,
    port: int,
    *,
    pod_name: str | None = None,
    endpoints: bool = True,
    run_seconds: str = "600",
) -> str:
    """A driver pod of `app_id` and its selector-less driver service on 127.0.0.1:`port`.

    The pod is named `{prefix}-driver` and the service `{prefix}-driver-svc` as Spark names
    them, unless `pod_name` is given; without `endpoints` the service has no Endpoints (a
    driver that is not ready). Returns the pod name.
    """
    prefix = f"progress-{secrets.token_hex(8)}"
    pod = pod_name or f"{prefix}-driver"
    created = create(
        kubesim,
        namespace,
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod,
                "labels": {
                    "spark-app-selector": app_id,
                    "spark-app-name": "progress",
                    "spark-role": "driver",
                },
                "annotations": {"kubesim.io/run-seconds": run_seconds},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "spark-kubernetes-driver",
                        "image": IMAGE,
                        "args": ["driver"],
                        "ports": [
                            {"name": "driver-rpc-port", "containerPort": 7078},
                            {"name": "spark-ui", "containerPort": port},
                        ],
                    }
                ],
            },
        },
    )
    owner = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod,
        "uid": created["metadata"]["uid"],
        "controller": True,
    }
    service = f"{prefix}-driver-svc"
    create(
        kubesim,
        namespace,
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": service,
                "labels": {"spark-app-selector": app_id},
                "ownerReferences": [owner],
            },
            "spec": {
                "clusterIP": "None",
                "ports": [
                    {"name": "driver-rpc-port", "port": 7078, "targetPort": 7078},
                    {"name": "spark-ui", "port": port, "targetPort": port},
                ],
            },
        },
    )
    if endpoints:
        create(
            kubesim,
            namespace,
            "endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": service, "labels": {"spark-app-selector": app_id}},
                "subsets": [
                    {
                        "addresses": [{"ip": "127.0.0.1"}],
                        "ports": [{"name": "spark-ui", "port": port, "protocol": "TCP"}],
                    }
                ],
            },
        )
    return pod


def until(
    read: Callable[[], Progress | None], done: Callable[[Progress], bool], timeout: float = 60
) -> Progress:
    """Reads progress until `done` holds for it; the last read if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        progress = read()
        if progress is not None and done(progress):
            return progress
        assert time.monotonic() < deadline, f"progress never got there: last {progress}"
        time.sleep(0.2)


def gated_count(sc: SparkContext, gate: Path, partitions: int) -> threading.Thread:
    """Starts a job whose tasks wait for the file `gate`, so it can be looked at running."""

    def held(x: int) -> int:
        import os
        import time

        deadline = time.monotonic() + 120
        while not os.path.exists(str(gate)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return x

    job = threading.Thread(
        target=lambda: sc.parallelize(range(partitions), partitions).map(held).count(),
        daemon=True,
    )
    job.start()
    return job


def asyncio_progress(handle: SparkAppHandle) -> Callable[[], Progress | None]:
    """`progress_async`, awaited, as a plain function."""
    return lambda: asyncio.run(handle.progress_async())


@pytest.fixture(scope="module")
def driver(kubesim: Kubesim, namespace: str, spark: SparkSession) -> str:
    """The pod of the session's application; its UI has seen no job yet."""
    return make_driver(kubesim, namespace, spark.sparkContext.applicationId, ui_port(spark))


def test_progress_of_real_jobs_through_the_service_proxy(
    client: Client, namespace: str, driver: str, spark: SparkSession, tmp_path: Path
) -> None:
    sc = spark.sparkContext
    assert not sc.statusTracker().getJobIdsForGroup(None), "counts from the session's first job"
    handle = client.attach(driver, namespace)
    assert handle.app_id == sc.applicationId

    # The UI answers before any job: available, and nothing to count yet. Its REST layer starts
    # on the first request, which can outlast one read on a loaded machine: read until it answers.
    fresh = until(handle.progress, lambda p: True)
    assert fresh == Progress(app_id=sc.applicationId)
    assert fresh.fraction is None

    # A job of 8 tasks on 2 cores, held running: 2 tasks active, none done.
    gate = tmp_path / "gate"
    job = gated_count(sc, gate, 8)
    running = until(handle.progress, lambda p: p.tasks_active == 2)
    tracker = sc.statusTracker()
    [job_id] = tracker.getActiveJobsIds()
    info = tracker.getJobInfo(job_id)
    assert info is not None
    [stage] = [tracker.getStageInfo(s) for s in info.stageIds]
    assert stage is not None
    assert (stage.numTasks, stage.numActiveTasks, stage.numCompletedTasks) == (8, 2, 0)
    assert (running.jobs_total, running.jobs_running, running.jobs_succeeded) == (1, 1, 0)
    assert (running.tasks_total, running.tasks_completed, running.tasks_failed) == (8, 0, 0)
    assert (running.stages_total, running.stages_active) == (1, 1)
    assert running.fraction == 0.0
    assert running.summary() == "0/1 jobs, 0/8 tasks (0%)"

    gate.touch()
    job.join(60)
    done = until(handle.progress, lambda p: p.jobs_succeeded == 1)
    assert (done.tasks_total, done.tasks_completed, done.tasks_active) == (8, 8, 0)
    assert (done.stages_total, done.stages_completed) == (1, 1)
    assert done.fraction == 1.0
    assert done.summary() == "1/1 jobs, 8/8 tasks (100%)"

    # A shuffle (4 map tasks, 3 reduce tasks), then a second action on it: its map stage is
    # skipped, as the shuffle output exists, and only the 3 reduce tasks run again.
    pairs = sc.parallelize(range(12), 4).map(lambda x: (x % 3, x)).reduceByKey(add, 3)
    assert sorted(pairs.collect()) == [(0, 18), (1, 22), (2, 26)]
    assert pairs.count() == 3
    after = until(asyncio_progress(handle), lambda p: p.jobs_succeeded == 3)
    assert (after.jobs_total, after.jobs_running, after.jobs_failed) == (3, 0, 0)
    assert (after.tasks_total, after.tasks_completed, after.tasks_skipped) == (18, 18, 4)
    assert (after.stages_total, after.stages_completed, after.stages_skipped) == (5, 4, 1)
    assert after.summary() == "3/3 jobs, 18/18 tasks (100%)"


def test_a_service_named_otherwise_is_found_by_its_labels_and_owner(
    client: Client, kubesim: Kubesim, namespace: str, driver: str, spark: SparkSession
) -> None:
    sc = spark.sparkContext
    # Another driver service of the same app id that cannot answer: the pod's own is used.
    make_driver(kubesim, namespace, sc.applicationId, ui_port(spark), endpoints=False)
    pod = make_driver(
        kubesim, namespace, sc.applicationId, ui_port(spark), pod_name="custom-driver-name"
    )
    progress = client.attach(pod, namespace).progress()
    assert progress is not None
    assert progress.app_id == sc.applicationId
    assert progress.jobs_total == len(sc.statusTracker().getJobIdsForGroup(None))
    assert progress == client.attach(driver, namespace).progress()


def test_not_available_while_the_service_has_no_endpoints(
    client: Client, kubesim: Kubesim, namespace: str, spark: SparkSession
) -> None:
    app_id = spark.sparkContext.applicationId
    pod = make_driver(kubesim, namespace, app_id, ui_port(spark), endpoints=False)
    handle = client.attach(pod, namespace)
    started = time.monotonic()
    assert handle.progress() is None
    assert asyncio.run(handle.progress_async()) is None
    assert time.monotonic() - started < 10


def test_not_available_when_the_driver_does_not_listen(
    client: Client, kubesim: Kubesim, namespace: str, spark: SparkSession
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    pod = make_driver(kubesim, namespace, spark.sparkContext.applicationId, closed)
    assert client.attach(pod, namespace).progress() is None


def run_a_job(handle: SparkAppHandle, sc: SparkContext, partitions: int) -> Progress:
    """Runs a job of `partitions` tasks; the progress once the UI counts it."""
    jobs = len(sc.statusTracker().getJobIdsForGroup(None))
    assert sc.parallelize(range(partitions), partitions).count() == partitions
    return until(handle.progress, lambda p: p.jobs_succeeded == jobs + 1)


@pytest.mark.parametrize("mode", ["blocking", "asyncio"])
def test_wait_shows_a_bar_of_the_real_tasks(
    client: Client,
    kubesim: Kubesim,
    namespace: str,
    driver: str,
    spark: SparkSession,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    sc = spark.sparkContext
    expected = run_a_job(client.attach(driver, namespace), sc, 6)
    # A driver that runs for 4 s from now, with the session's UI.
    pod = make_driver(kubesim, namespace, sc.applicationId, ui_port(spark), run_seconds="4")
    handle = client.attach(pod, namespace)

    if mode == "blocking":
        final = handle.wait(timeout=60, progress=True)
    else:
        final = asyncio.run(handle.wait_async(timeout=60, progress=True))

    assert final.state is AppState.SUCCEEDED
    bar = capsys.readouterr().err
    assert f"{sc.applicationId} Running" in bar
    assert f"{sc.applicationId} Succeeded" in bar
    done = expected.tasks_completed
    assert f"{done}/{done}" in bar
    assert f"{expected.jobs_succeeded}/{expected.jobs_total} jobs" in bar


def test_airflow_wait_logs_progress_lines_when_they_change(
    client: Client, kubesim: Kubesim, namespace: str, driver: str, spark: SparkSession
) -> None:
    sc = spark.sparkContext
    expected = run_a_job(client.attach(driver, namespace), sc, 4)
    pod = make_driver(kubesim, namespace, sc.applicationId, ui_port(spark), run_seconds="3")
    handle = client.attach(pod, namespace)

    class Collect:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def info(self, msg: Any, /, *args: Any) -> None:
            self.lines.append(str(msg) % args)

        def warning(self, msg: Any, /, *args: Any) -> None:
            self.lines.append("WARNING " + str(msg) % args)

    log = Collect()
    outcome = asyncio.run(_watch.follow(handle, log=log, get_logs=False, progress_interval=0.3))
    assert outcome["status"] == _watch.SUCCESS
    progress_lines = [line for line in log.lines if line.startswith(f"{sc.applicationId}: ")]
    # Several reads while the driver ran; one line, as nothing changed in between.
    assert progress_lines == [f"{sc.applicationId}: {expected.summary()}"]


def test_the_summary_of_progress_from_the_core() -> None:
    progress = Progress(
        "spark-1",
        jobs_total=4,
        jobs_succeeded=3,
        jobs_running=1,
        tasks_total=200,
        tasks_completed=120,
        tasks_failed=2,
        fraction=0.6,
    )
    assert progress.percent == 60
    assert str(progress) == "spark-1: 3/4 jobs, 120/200 tasks (60%), 2 failed"
    assert Progress(app_id="a").summary() == "0/0 jobs, 0/0 tasks"
    assert Progress(app_id="a").percent is None


def test_progress_is_a_frozen_value_with_a_dict_form() -> None:
    progress = Progress("spark-1", jobs_total=2, tasks_total=10, tasks_completed=5, fraction=0.5)
    assert Progress.from_dict(progress.to_dict()) == progress
    assert pickle.loads(pickle.dumps(progress)) == progress
    assert progress.to_dict()["tasks_completed"] == 5
    with pytest.raises(AttributeError):
        progress.tasks_total = 3  # type: ignore[misc]


def test_a_job_that_completes_no_task_is_reported_stalled(
    client: Client,
    kubesim: Kubesim,
    namespace: str,
    spark: SparkSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sc = spark.sparkContext
    pod = make_driver(kubesim, namespace, sc.applicationId, ui_port(spark))
    handle = client.attach(pod, namespace)
    gate = tmp_path / "gate"
    job = gated_count(sc, gate, 4)
    held = until(handle.progress, lambda p: p.tasks_active == 2)
    try:
        # warn: one warning, and the wait goes on to its own timeout.
        with (
            caplog.at_level(logging.WARNING, logger="sparkube.stall"),
            pytest.raises(WaitTimeout),
        ):
            handle.wait(timeout=4, stall_timeout=1.5)
        warnings = [r.getMessage() for r in caplog.records if r.name == "sparkube.stall"]
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"{handle.app_id}: stalled: no task completed")
        # fail: AppStalled with the last status and progress, the driver left running.
        started = time.monotonic()
        with pytest.raises(AppStalled) as stalled:
            handle.wait(stall_timeout=1.5, on_stall="fail")
        assert 1.5 <= time.monotonic() - started < 15
        err = stalled.value
        assert err.status is not None
        assert err.status.state is AppState.RUNNING
        assert err.progress is not None
        assert err.progress.tasks_completed == held.tasks_completed
        assert err.stalled_for >= 1.5
        assert handle.status().state is AppState.RUNNING
    finally:
        gate.touch()
        job.join(60)


def test_the_stall_clock_restarts_on_tasks_and_executors() -> None:
    def p(tasks: int, executors: int) -> Progress:
        return Progress(app_id="a", tasks_completed=tasks, executors_total=executors)

    clock = StallClock(10)
    # (time, tasks completed, executors registered, stalled)
    table = [
        (0, 0, 0, False),
        (9, 0, 0, False),
        (10, 0, 0, True),
        (11, 0, 1, False),  # a new executor is progress
        (20, 0, 1, False),
        (21, 0, 1, True),
        (22, 5, 1, False),  # so is a completed task
        (31, 5, 0, False),  # executors not listed in time are not, nor does it reset
        (32, 5, 1, True),  # nor their listing again
        (33, 5, 2, False),
    ]
    for now, tasks, executors, stalled in table:
        assert clock.observe(p(tasks, executors), now) is stalled, (now, tasks, executors)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"stall_timeout": 0}, "stall_timeout"),
        ({"stall_timeout": 5, "on_stall": "kill"}, "on_stall"),
    ],
)
def test_bad_stall_options_name_the_option(
    client: Client, namespace: str, driver: str, options: dict[str, Any], option: str
) -> None:
    handle = client.attach(driver, namespace)
    with pytest.raises(ConfigError) as err:
        handle.wait(**options)
    assert err.value.option == option


def test_the_airflow_wait_fails_a_stall_and_reports_from_the_live_snapshot(
    client: Client,
    kubesim: Kubesim,
    namespace: str,
    spark: SparkSession,
    tmp_path: Path,
) -> None:
    """The operator's and the trigger's wait (`_watch.follow`) with `stall_action="fail"`: the
    stalled driver is deleted and the outcome is `stalled`; the right-sizing report then comes
    from the progress read meanwhile, marked partial as the History Server does not answer."""
    sc = spark.sparkContext
    pod = make_driver(kubesim, namespace, sc.applicationId, ui_port(spark))
    handle = client.attach(pod, namespace)
    gate = tmp_path / "gate"
    job = gated_count(sc, gate, 4)
    until(handle.progress, lambda p: p.tasks_active == 2)
    lines: list[str] = []

    class Collect:
        def info(self, msg: Any, /, *args: Any) -> None:
            lines.append(str(msg) % args)

        def warning(self, msg: Any, /, *args: Any) -> None:
            lines.append("WARNING " + str(msg) % args)

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    try:
        started = time.monotonic()
        outcome = asyncio.run(
            _watch.follow(
                handle,
                log=Collect(),
                get_logs=False,
                kill_on_timeout=True,
                stall_timeout=1.5,
                stall_action="fail",
                history_server_url=dead,
            )
        )
    finally:
        gate.touch()
        job.join(60)
    assert outcome["status"] == _watch.STALLED, outcome
    assert "stalled" in outcome["message"]
    # `fail` deleted the stalled driver (the operator's wait kills on timeouts and stalls).
    status, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    assert status == 404 or body["metadata"].get("deletionTimestamp"), body
    assert time.monotonic() - started < 30
    report = outcome["report"]
    assert report is not None, lines
    assert report["source"] == "live_snapshot"
    assert report["partial"] is True
    assert "did not answer" in (report["note"] or ""), report
    # Local mode lists only the driver: no executor figures, so no advice line.
    assert report["executors"] == []
    assert report["summary"] is None
    assert any(line.startswith("WARNING Right-sizing report") for line in lines), lines
