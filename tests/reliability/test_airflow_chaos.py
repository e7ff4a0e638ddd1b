"""Airflow chaos: SparkAppOperator tasks run by real Airflow processes (an `airflow api-server`,
an `airflow scheduler` with the LocalExecutor, an `airflow triggerer`) on a SQLite database,
against kubesim's simulated runtime, while those processes are killed or users act on tasks.

Every case checks, in kubesim, the driver pods of the task instance (found by the sparkube
task-identity labels, `sparkube.airflow._identity`) and what they own, in Airflow (its REST
API, its CLI and its task logs), the states of the task instance's tries, and that the case
ends within `CASE_LIMIT` seconds.

tests/reliability/README.md ("Airflow chaos") has the table of cases and what each observes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sparkube.airflow._identity import TRY_NUMBER, TaskIdentity
from tests.conftest import free_port, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.conftest import Kubesim

DAGS = Path(__file__).resolve().parent / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")
NAMESPACE = "airflow-chaos"
WORKER_DAG = "sparkube_chaos_worker"
DEFERRED_DAG = "sparkube_chaos_deferred"
TASK = "pi"

START_LIMIT = 120.0
"""Seconds the Airflow processes may take to come up (migrating the database included)."""
CASE_LIMIT = 120.0
"""Seconds one case may take, from triggering its run to the last check."""
FINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(START_LIMIT + CASE_LIMIT + 60)]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def poll(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    """`wait_until` at two probes a second: the probes read Airflow's API, whose SQLite database
    the scheduler and the triggerer write to, and faster polling makes its writes fail with
    "database is locked"."""
    return wait_until(what, probe, timeout, interval=0.5)


# -- Airflow ------------------------------------------------------------------------------------


@dataclass
class Airflow:
    """An AIRFLOW_HOME with its SQLite database, the Airflow processes running on it, their REST
    API and command line."""

    home: Path
    env: dict[str, str]
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # processes

    def start(self, component: str) -> None:
        """Starts `airflow <component>` in its own process group, logging to a file."""
        args = {
            "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"],
            "scheduler": ["scheduler"],
            "triggerer": ["triggerer"],
        }[component]
        self.starts[component] += 1
        log = self.home / f"{component}.{self.starts[component]}.log"
        with log.open("wb") as out:
            self.procs[component] = subprocess.Popen(
                [str(AIRFLOW), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, component: str, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Sends `sig` to the process group of a component (its subprocesses too) and waits."""
        proc = self.procs.pop(component)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Subprocesses that outlive the group's leader.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def subprocesses(self, component: str, title: str) -> list[int]:
        """The pids of a component's direct subprocesses whose command line starts with
        `title` (LocalExecutor workers, the triggerer's trigger runner)."""
        return [c for c in children(self.procs[component].pid) if cmdline(c).startswith(title)]

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
        for component in list(self.procs):
            self.kill(component, signal.SIGTERM, timeout=20)

    def cli(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run(
            [str(AIRFLOW), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, (
            f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}"
        )
        return proc.stdout

    # REST API (simple auth manager, everyone an admin)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/api/v2" + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            err.close()
            raise AssertionError(f"{method} {path}: {err.code} {text}") from None

    def healthy(self) -> bool:
        try:
            health = self.api("GET", "/monitor/health")
        except (AssertionError, OSError):
            return False
        return all(health[c]["status"] == "healthy" for c in ("scheduler", "triggerer"))

    def trigger(self, dag_id: str, **params: int) -> str:
        """Starts a run of `dag_id` with these params; returns its run id."""
        run_id = f"chaos-{uuid.uuid4().hex[:8]}"
        self.api(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": params},
        )
        return run_id

    def ti(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK}"))

    def tries(self, dag_id: str, run_id: str) -> list[tuple[int, str]]:
        """(try number, state) of every try of the task instance."""
        body = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK}/tries")
        return sorted((t["try_number"], t["state"]) for t in body["task_instances"])

    def result(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The task's XCom return value."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK}/xcomEntries/return_value"
        value = self.api("GET", path + "?deserialize=true")["value"]
        return dict(json.loads(value) if isinstance(value, str) else value)

    def wait_ti(
        self,
        dag_id: str,
        run_id: str,
        what: str,
        ok: Callable[[dict[str, Any]], bool],
        timeout: float,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            ti = self.ti(dag_id, run_id)
            return ti if ok(ti) else None

        return dict(poll(f"{dag_id}/{run_id}: {what}", probe, timeout))

    def wait_final(self, dag_id: str, run_id: str, timeout: float = 90) -> dict[str, Any]:
        return self.wait_ti(dag_id, run_id, "a final state", lambda t: t["state"] in FINAL, timeout)

    # task logs

    def log_dir(self, dag_id: str, run_id: str) -> Path:
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={TASK}"

    def records(self, dag_id: str, run_id: str, attempt: int) -> list[dict[str, Any]]:
        """The records of a try's task log (the worker's part)."""
        return read_records(self.log_dir(dag_id, run_id) / f"attempt={attempt}.log")

    def events(self, dag_id: str, run_id: str, attempt: int) -> list[str]:
        """The messages of a try's task log (the worker's part)."""
        return [str(r.get("event", "")) for r in self.records(dag_id, run_id, attempt)]

    def trigger_events(self, dag_id: str, run_id: str, attempt: int) -> dict[int, list[str]]:
        """The messages of a try's trigger logs, by the id of the triggerer job that wrote them."""
        found = self.log_dir(dag_id, run_id).glob(f"attempt={attempt}.log.trigger.*.log")
        return {
            int(p.name.split(".")[-2]): [str(r.get("event", "")) for r in read_records(p)]
            for p in found
        }


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a task or trigger log file (other lines as `{"event": line}`)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        records.append(record if isinstance(record, dict) else {"event": line})
    return records


def started_trigger(airflow: Airflow, dag_id: str, run_id: str) -> int | None:
    """The id of the triggerer job running the deferred task's trigger, once it logged its
    start."""
    ti = airflow.ti(dag_id, run_id)
    job = ti.get("triggerer_job") or {}
    if ti["state"] != "deferred" or not job.get("id"):
        return None
    logs = airflow.trigger_events(dag_id, run_id, ti["try_number"])
    starting = any("starting" in e for e in logs.get(int(job["id"]), []))
    return int(job["id"]) if starting else None


# -- Kubernetes ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    """kubesim's namespace of the chaos cases."""

    sim: Kubesim

    def get(self, path: str) -> list[dict[str, Any]]:
        status, body = self.sim.request("GET", path)
        assert status == 200, body
        return list(body["items"])

    def drivers(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The driver pods of the task instance `dag_id`/`pi`/`run_id`, of every try."""
        selector = "spark-role=driver," + TaskIdentity(dag_id, TASK, run_id).selector()
        query = urllib.parse.urlencode({"labelSelector": selector})
        return self.get(f"/api/v1/namespaces/{NAMESPACE}/pods?{query}")

    def owned(self, pod: dict[str, Any]) -> list[str]:
        """`kind/name` of the objects a driver pod owns (service, config maps, executors)."""
        uid = pod["metadata"]["uid"]
        found = []
        for kind in ("pods", "services", "configmaps"):
            for obj in self.get(f"/api/v1/namespaces/{NAMESPACE}/{kind}"):
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", [])):
                    found.append(f"{kind}/{obj['metadata']['name']}")
        return found

    def pod(self, name: str) -> dict[str, Any] | None:
        status, body = self.sim.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
        return dict(body) if status == 200 else None

    def pod_exists(self, name: str) -> bool:
        return self.pod(name) is not None

    def deleting(self, name: str) -> bool:
        """Whether a pod is being deleted (or is gone)."""
        pod = self.pod(name)
        return pod is None or bool(pod["metadata"].get("deletionTimestamp"))

    def running_driver(self, dag_id: str, run_id: str, timeout: float = 60) -> dict[str, Any]:
        """The one driver of the task instance, once it runs."""

        def probe() -> dict[str, Any] | None:
            pods = self.drivers(dag_id, run_id)
            assert len(pods) <= 1, [p["metadata"]["name"] for p in pods]
            return pods[0] if pods and phase(pods[0]) == "Running" else None

        return dict(poll(f"the driver of {dag_id}/{run_id} to run", probe, timeout))

    def delete_drivers(self) -> None:
        for pod in self.get(
            f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=spark-role%3Ddriver"
        ):
            name = pod["metadata"]["name"]
            self.sim.request(
                "DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}?gracePeriodSeconds=0"
            )


def phase(pod: dict[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase", ""))


def name(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["name"])


def try_of(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["labels"][TRY_NUMBER])


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(kubesim: Kubesim) -> Iterator[Cluster]:
    status, body = kubesim.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    assert status in (201, 409), body
    cluster = Cluster(kubesim)
    yield cluster
    cluster.delete_drivers()


@pytest.fixture(scope="module")
def airflow(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """A scheduler (LocalExecutor), a triggerer and an API server on a fresh SQLite database,
    with `kubernetes_default` pointing at kubesim's chaos namespace."""
    started = time.monotonic()
    home = tmp_path_factory.mktemp("airflow-chaos")
    port = free_port()
    connection = {
        "conn_type": "kubernetes",
        "extra": {"kube_config_path": str(cluster.sim.kubeconfig), "namespace": NAMESPACE},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # A triggerer that died hands its triggers over after 5 s without a heartbeat.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(connection),
        }
    )
    af = Airflow(home=home, env=env, port=port)
    af.cli("db", "migrate", timeout=START_LIMIT)
    try:
        for component in ("api-server", "scheduler", "triggerer"):
            af.start(component)
        af.cli("dags", "reserialize", timeout=START_LIMIT)
        poll("the scheduler and the triggerer to be healthy", af.healthy, START_LIMIT)
        for dag_id in (WORKER_DAG, DEFERRED_DAG):
            assert af.api("GET", f"/dags/{dag_id}")["is_paused"] is False
        assert time.monotonic() - started < START_LIMIT
        yield af
    finally:
        af.stop()


@pytest.fixture
def limit() -> Iterator[None]:
    """Each case ends within CASE_LIMIT seconds."""
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < CASE_LIMIT, f"the case took {elapsed:.0f} s"


# -- cases --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("limit")
def test_task_runner_killed_mid_wait_then_the_retry_adopts_the_driver(
    airflow: Airflow, cluster: Cluster
) -> None:
    """SIGKILL to the task-runner process while the operator waits in the worker: the
    supervisor records the try as up for retry; the retry adopts the running driver."""
    run_id = airflow.trigger(WORKER_DAG, run_seconds=20)
    driver = cluster.running_driver(WORKER_DAG, run_id)
    ti = airflow.wait_ti(WORKER_DAG, run_id, "running", lambda t: t["state"] == "running", 30)
    runner = int(ti["pid"])
    assert cmdline(runner) == f"airflow worker -- {ti['id']}", cmdline(runner)
    os.kill(runner, signal.SIGKILL)

    final = airflow.wait_final(WORKER_DAG, run_id)
    assert (final["state"], final["try_number"]) == ("success", 2), final
    # (The history keeps the killed try as failed; it was retried as it had retries left.)
    assert airflow.tries(WORKER_DAG, run_id) == [(1, "failed"), (2, "success")]
    # One driver in all: the first try's, adopted, and it ran to its end.
    (pod,) = cluster.drivers(WORKER_DAG, run_id)
    assert (name(pod), try_of(pod), phase(pod)) == (name(driver), "1", "Succeeded")
    killed = airflow.records(WORKER_DAG, run_id, 1)
    assert any(r.get("signal_name") == "SIGKILL" for r in killed), killed[-3:]
    retry = airflow.events(WORKER_DAG, run_id, 2)
    assert (
        f"Adopting running driver {NAMESPACE}/{name(driver)} of an earlier try of this task"
        in retry
    )
    assert not any(e.startswith("Submitted Spark application") for e in retry)
    result = airflow.result(WORKER_DAG, run_id)
    assert (result["driver_pod"], result["state"]) == (name(driver), "Succeeded")


@pytest.mark.usefixtures("limit")
def test_triggerer_killed_mid_wait_then_restarted_resumes_the_trigger(
    airflow: Airflow, cluster: Cluster
) -> None:
    """SIGKILL to the triggerer (its trigger-runner subprocess too) while the task is deferred;
    a new triggerer takes the trigger over, which sees the same driver to its end."""
    run_id = airflow.trigger(DEFERRED_DAG, run_seconds=25)
    driver = cluster.running_driver(DEFERRED_DAG, run_id)
    first_job = poll(
        "the trigger to start", lambda: started_trigger(airflow, DEFERRED_DAG, run_id), 60
    )
    airflow.kill("triggerer")
    time.sleep(1)
    assert airflow.ti(DEFERRED_DAG, run_id)["state"] == "deferred"
    assert phase(cluster.running_driver(DEFERRED_DAG, run_id)) == "Running"
    airflow.start("triggerer")

    final = airflow.wait_final(DEFERRED_DAG, run_id)
    assert (final["state"], final["try_number"]) == ("success", 1), final
    # The trigger ran in the first triggerer, then in another one, which fired the event.
    logs = airflow.trigger_events(DEFERRED_DAG, run_id, 1)
    assert first_job in logs, logs
    (second_job,) = set(logs) - {first_job}
    assert "Trigger fired event" in logs[second_job]
    assert "Trigger fired event" not in logs[first_job]
    (pod,) = cluster.drivers(DEFERRED_DAG, run_id)
    assert (name(pod), try_of(pod), phase(pod)) == (name(driver), "1", "Succeeded")
    result = airflow.result(DEFERRED_DAG, run_id)
    assert (result["driver_pod"], result["state"], result["exit_code"]) == (
        name(driver),
        "Succeeded",
        0,
    )


@pytest.mark.usefixtures("limit")
def test_task_marked_failed_while_deferred_deletes_the_driver_and_what_it_owns(
    airflow: Airflow, cluster: Cluster
) -> None:
    """A user marks the deferred task failed (REST API, as the UI does): the triggerer cancels
    the trigger as a user action, whose `on_kill` deletes the driver; its service and config
    map go with it."""
    run_id = airflow.trigger(DEFERRED_DAG, run_seconds=3600)
    driver = cluster.running_driver(DEFERRED_DAG, run_id)
    job = poll("the trigger to start", lambda: started_trigger(airflow, DEFERRED_DAG, run_id), 60)
    owned = cluster.owned(driver)
    assert {o.split("/")[0] for o in owned} == {"services", "configmaps"}, owned

    airflow.api(
        "PATCH",
        f"/dags/{DEFERRED_DAG}/dagRuns/{run_id}/taskInstances/{TASK}",
        {"new_state": "failed"},
    )
    poll(
        "the driver and what it owns to be deleted",
        lambda: not cluster.drivers(DEFERRED_DAG, run_id) and not cluster.owned(driver),
        30,
    )
    assert airflow.tries(DEFERRED_DAG, run_id) == [(1, "failed")]
    events = airflow.trigger_events(DEFERRED_DAG, run_id, 1)[job]
    assert "Trigger cancelled by user action, invoking on_kill" in events
    assert f"Task killed: deleting driver pod {NAMESPACE}/{name(driver)}" in events


@pytest.mark.usefixtures("limit")
def test_task_cleared_while_deferred_and_the_trigger_deletes_the_driver_first(
    airflow: Airflow, cluster: Cluster
) -> None:
    """A user clears the deferred task while the executor's workers stall (SIGSTOP), so the
    next try stays queued: the trigger's `on_kill` deletes the driver, which takes 15 s to
    stop; once the workers resume, the next try submits a driver of its own instead of
    adopting the one being deleted."""
    run_id = airflow.trigger(
        DEFERRED_DAG, run_seconds=3600, retry_run_seconds=5, termination_seconds=15
    )
    driver = cluster.running_driver(DEFERRED_DAG, run_id)
    job = poll("the trigger to start", lambda: started_trigger(airflow, DEFERRED_DAG, run_id), 60)
    owned = cluster.owned(driver)
    workers = airflow.subprocesses("scheduler", "airflow worker -- LocalExecutor")
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        airflow.cli("dags", "clear", DEFERRED_DAG, "--run-id", run_id, "--yes")
        poll(
            "the trigger's on_kill to delete the driver", lambda: cluster.deleting(name(driver)), 30
        )
        assert airflow.ti(DEFERRED_DAG, run_id)["state"] in {None, "scheduled", "queued"}
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    events = airflow.trigger_events(DEFERRED_DAG, run_id, 1)[job]
    assert f"Task killed: deleting driver pod {NAMESPACE}/{name(driver)}" in events

    final = airflow.wait_final(DEFERRED_DAG, run_id)
    assert (final["state"], final["try_number"]) == ("success", 2), final
    retry = airflow.events(DEFERRED_DAG, run_id, 2)
    assert not any(e.startswith("Adopting running driver") for e in retry), retry
    poll(
        "the first driver and what it owns to be gone",
        lambda: (
            not cluster.pod_exists(name(driver)) and not set(owned) & set(cluster.owned(driver))
        ),
        30,
    )
    (pod,) = cluster.drivers(DEFERRED_DAG, run_id)
    assert (try_of(pod), phase(pod)) == ("2", "Succeeded")
    assert airflow.result(DEFERRED_DAG, run_id)["driver_pod"] == name(pod)


@pytest.mark.usefixtures("limit")
def test_task_cleared_while_deferred_and_the_next_try_adopts_the_driver_first(
    airflow: Airflow, cluster: Cluster
) -> None:
    """A user clears the deferred task while the triggerer's trigger runner stalls (SIGSTOP):
    the next try starts, adopts the running driver and defers; once the runner resumes and
    cancels the old trigger, its `on_kill` leaves the driver to that try, which sees it to its
    end."""
    # Long enough for the clear and the next try's start, with the worker's 5 s heartbeat.
    run_id = airflow.trigger(DEFERRED_DAG, run_seconds=30, retry_run_seconds=5)
    driver = cluster.running_driver(DEFERRED_DAG, run_id)
    job = poll("the trigger to start", lambda: started_trigger(airflow, DEFERRED_DAG, run_id), 60)
    (runner,) = airflow.subprocesses("triggerer", f"{sys.executable} {AIRFLOW} triggerer")
    os.kill(runner, signal.SIGSTOP)
    try:
        airflow.cli("dags", "clear", DEFERRED_DAG, "--run-id", run_id, "--yes")
        airflow.wait_ti(
            DEFERRED_DAG,
            run_id,
            "the next try to defer",
            lambda t: (t["try_number"], t["state"]) == (2, "deferred"),
            60,
        )
    finally:
        os.kill(runner, signal.SIGCONT)
    retry = airflow.events(DEFERRED_DAG, run_id, 2)
    assert (
        f"Adopting running driver {NAMESPACE}/{name(driver)} of an earlier try of this task"
        in retry
    )

    final = airflow.wait_final(DEFERRED_DAG, run_id)
    assert (final["state"], final["try_number"]) == ("success", 2), final
    events = airflow.trigger_events(DEFERRED_DAG, run_id, 1)[job]
    assert "Trigger cancelled by user action, invoking on_kill" in events
    assert not any(e.startswith("Task killed: deleting driver pod") for e in events), events
    (pod,) = cluster.drivers(DEFERRED_DAG, run_id)
    assert (name(pod), try_of(pod), phase(pod)) == (name(driver), "1", "Succeeded")
    assert airflow.result(DEFERRED_DAG, run_id)["driver_pod"] == name(driver)


@pytest.mark.usefixtures("limit")
def test_deferred_task_whose_driver_ends_at_once_succeeds(
    airflow: Airflow, cluster: Cluster
) -> None:
    """A driver that ends within a second of the deferral, with Airflow's default `[workers]
    min_heartbeat_interval` (5 s): the trigger holds its event until the deferring workload's
    end is registered, so the scheduler does not fail the resumed task."""
    run_id = airflow.trigger(DEFERRED_DAG, run_seconds=1)
    final = airflow.wait_final(DEFERRED_DAG, run_id)
    assert (final["state"], final["try_number"]) == ("success", 1), final
    (pod,) = cluster.drivers(DEFERRED_DAG, run_id)
    assert (try_of(pod), phase(pod)) == ("1", "Succeeded")
    logs = [
        e for events in airflow.trigger_events(DEFERRED_DAG, run_id, 1).values() for e in events
    ]
    assert any("holding the event" in e for e in logs), logs


@pytest.mark.usefixtures("limit")
@pytest.mark.parametrize("dag_id", [WORKER_DAG, DEFERRED_DAG])
def test_run_cleared_after_the_driver_finished_submits_a_new_driver(
    airflow: Airflow, cluster: Cluster, dag_id: str
) -> None:
    """The run succeeded, its driver is kept; `airflow dags clear` runs the task again: the
    new try submits a new driver instead of adopting the finished one."""
    run_id = airflow.trigger(dag_id, run_seconds=5, retry_run_seconds=5)
    first = airflow.wait_final(dag_id, run_id)
    assert (first["state"], first["try_number"]) == ("success", 1), first
    (old,) = cluster.drivers(dag_id, run_id)
    assert phase(old) == "Succeeded"

    airflow.cli("dags", "clear", dag_id, "--run-id", run_id, "--yes")
    final = airflow.wait_ti(
        dag_id,
        run_id,
        "the second try's end",
        lambda t: t["try_number"] == 2 and t["state"] in FINAL,
        90,
    )
    assert final["state"] == "success", final
    pods = {try_of(p): p for p in cluster.drivers(dag_id, run_id)}
    assert sorted(pods) == ["1", "2"], pods
    assert name(pods["1"]) == name(old)
    assert [phase(p) for p in pods.values()] == ["Succeeded", "Succeeded"]
    retry = airflow.events(dag_id, run_id, 2)
    assert any(e.startswith("Submitted Spark application") for e in retry), retry
    assert not any(e.startswith("Adopting running driver") for e in retry), retry
    assert airflow.result(dag_id, run_id)["driver_pod"] == name(pods["2"])
