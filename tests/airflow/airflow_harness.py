"""Airflow test harness: a throw-away AIRFLOW_HOME with a SQLite database, the `airflow` command
line run against it, and the results of `airflow dags test` read back from the database.

AIRFLOW_HOME is set when this module is imported, before anything imports Airflow, so that
in-process tests (hooks, links) and the command line share one configuration that never touches
a real installation.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
TEST_DAGS = Path(__file__).resolve().parent / "dags"
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
AIRFLOW = Path(sys.executable).with_name("airflow")
# Airflow 2 reads one DAG folder (no bundles) and names the logical date `execution_date`.
AIRFLOW_2 = version("apache-airflow").startswith("2.")
LOGICAL_DATE = "execution_date" if AIRFLOW_2 else "logical_date"
# The terminal colours Airflow 3.0's command line puts in printed exceptions (rich).
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

# What the tests' own applications run with: a Spark image, and a driver that asks for little CPU
# so that many fit on kubesim's one node.
IMAGE = "apache/spark:4.0.1"
SMALL_DRIVER = {"spark.kubernetes.driver.request.cores": "100m"}

# The provider's link templates in the end-to-end runs.
UI_URL = "https://spark.example/proxy/{app_id}/"
HISTORY_URL = "https://history.example/history/{app_id}/1/jobs/"

HOME = Path(tempfile.mkdtemp(prefix="sparkube-airflow-"))


def _one_dags_folder() -> Path:
    """For Airflow 2: a folder of links to the example DAGs (with their `apps`) and the test
    DAGs, standing for the two bundles Airflow 3 reads."""
    folder = HOME / "dags"
    folder.mkdir()
    for source in (*DAGS.iterdir(), *TEST_DAGS.glob("*.py")):
        if source.name != "__pycache__":
            (folder / source.name).symlink_to(source)
    return folder


AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(_one_dags_folder() if AIRFLOW_2 else DAGS),
    # The example DAGs, and beside them the DAGs only the tests use.
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
        [
            {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {}},
            {
                "name": "sparkube-tests",
                "classpath": _LOCAL_BUNDLE,
                "kwargs": {"path": str(TEST_DAGS)},
            },
        ]
    ),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
os.environ.update(AIRFLOW_ENV)


@dataclass
class DagRun:
    """One run of a DAG as `airflow dags test` left it in the database."""

    dag_id: str
    run_id: str
    state: str
    tasks: dict[tuple[str, int], str]
    output: str
    db: Path = field(repr=False)

    def state_of(self, task_id: str, map_index: int = -1) -> str | None:
        """The final state of a task instance."""
        return self.tasks.get((task_id, map_index))

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """An XCom of a task instance, decoded (None when absent)."""
        with sqlite3.connect(self.db) as db:
            row = db.execute(
                "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND map_index=?"
                " AND key=?",
                (self.dag_id, self.run_id, task_id, map_index, key),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        value = json.loads(row[0])
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


@dataclass
class AirflowCli:
    """The `airflow` command line on the test AIRFLOW_HOME."""

    env: dict[str, str]
    home: Path

    @property
    def db(self) -> Path:
        """The SQLite database file."""
        return self.home / "airflow.db"

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `airflow <args>`; stdout and stderr are captured together."""
        proc = subprocess.run(
            [str(AIRFLOW), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        proc.stdout = ANSI_COLOUR.sub("", proc.stdout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}"
            )
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `airflow <args>` in the background (its own process group)."""
        return subprocess.Popen(
            [str(AIRFLOW), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def dags_test_args(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None
    ) -> list[str]:
        """The arguments of `airflow dags test`."""
        args = ["dags", "test", dag_id]
        if logical_date is not None:
            args.append(logical_date)
        if conf is not None:
            args += ["-c", json.dumps(conf)]
        return args

    def dags_test(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: str | None = None,
        timeout: float = 300,
    ) -> DagRun:
        """`airflow dags test`, then the run's task states from the database."""
        proc = self.run(
            *self.dags_test_args(dag_id, conf, logical_date), timeout=timeout, check=False
        )
        return self.last_run(dag_id, proc.stdout)

    def run_id_at(self, dag_id: str, logical_date: str) -> str | None:
        """The run id of the run of `dag_id` at a logical date (`YYYY-MM-DD`), if there is one."""
        with sqlite3.connect(self.db) as db:
            row = db.execute(
                f"SELECT run_id FROM dag_run WHERE dag_id=? AND {LOGICAL_DATE} LIKE ?",
                (dag_id, f"{logical_date}%"),
            ).fetchone()
        return None if row is None else str(row[0])

    def last_run(self, dag_id: str, output: str = "") -> DagRun:
        """The latest run of `dag_id` in the database."""
        with sqlite3.connect(self.db) as db:
            row = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id=? ORDER BY id DESC LIMIT 1",
                (dag_id,),
            ).fetchone()
            assert row is not None, f"no run of {dag_id} in the database:\n{output}"
            run_id, state = row
            tasks = {
                (task_id, map_index): task_state
                for task_id, map_index, task_state in db.execute(
                    "SELECT task_id, map_index, state FROM task_instance WHERE dag_id=? AND run_id=?",
                    (dag_id, run_id),
                )
            }
        return DagRun(dag_id, run_id, state, tasks, output, self.db)


# -- kubesim -----------------------------------------------------------------------------------


class Kube:
    """kubesim seen from the Airflow tests: its connection, and pods read with the official
    Python client."""

    namespace = "default"

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.kubeconfig = Path(sim.kubeconfig)

    def connection(self) -> str:
        """An `AIRFLOW_CONN_*` value for the standard Kubernetes connection to this server."""
        return json.dumps(
            {
                "conn_type": "kubernetes",
                "extra": {"kube_config_path": str(self.kubeconfig), "namespace": self.namespace},
            }
        )

    def pods(self, selector: str) -> list[Any]:
        """The pods of the namespace matching a label selector."""
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))
        try:
            return list(api.list_namespaced_pod(self.namespace, label_selector=selector).items)
        finally:
            api.api_client.close()

    def request_count(self, verb: str, resource: str) -> int:
        """kubesim's `apiserver_request_total` for a verb (`GET`, `LIST`, `WATCH`, ...) and a
        resource, over every response code (subresources such as `log` excluded)."""
        total = self.sim.metric(
            "apiserver_request_total", verb=verb, resource=resource, subresource=""
        )
        return int(total)

    def drivers(self, **identity: str) -> list[Any]:
        """The driver pods whose task-identity labels match, e.g. `dag_id="spark_pi"`."""
        from sparkube.airflow._identity import PREFIX, label_value

        terms = ["spark-role=driver"]
        terms += [f"{PREFIX}{k.replace('_', '-')}={label_value(v)}" for k, v in identity.items()]
        return self.pods(",".join(terms))

    def driver_conf(self, pod: Any) -> dict[str, str]:
        """The Spark conf a driver pod starts with: the `spark.properties` of the config map
        spark-submit mounts into it."""
        from kubernetes import client, config

        (name,) = [
            v.config_map.name
            for v in pod.spec.volumes or []
            if v.config_map is not None and v.config_map.name.endswith("-conf-map")
        ]
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))
        try:
            text = api.read_namespaced_config_map(name, self.namespace).data["spark.properties"]
        finally:
            api.api_client.close()
        pairs = (
            line.split("=", 1)
            for line in text.splitlines()
            if "=" in line and not line.startswith("#")
        )
        return {k.replace("\\", ""): v.replace("\\", "") for k, v in pairs}

    def drivers_left(self, timeout: float = 30, **identity: str) -> list[Any]:
        """`drivers(**identity)` once they are gone, or what is left after `timeout` seconds
        (deleting a running pod takes its grace period)."""
        deadline = time.monotonic() + timeout
        while (left := self.drivers(**identity)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def owned_by(self, driver_pod: str) -> list[str]:
        """The objects of the namespace a driver pod owns (its ConfigMaps, Service, executors),
        as `Kind/name`; empty once the driver is deleted and collected."""
        owned = []
        for path in (
            "/api/v1/namespaces/{ns}/configmaps",
            "/api/v1/namespaces/{ns}/services",
            "/api/v1/namespaces/{ns}/pods",
            "/api/v1/namespaces/{ns}/persistentvolumeclaims",
            "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
        ):
            status, body = self.sim.request("GET", path.format(ns=self.namespace))
            assert status == 200, body
            for item in body["items"]:
                meta = item["metadata"]
                owners = {ref["name"] for ref in meta.get("ownerReferences") or []}
                if driver_pod in owners or meta["name"] == driver_pod:
                    owned.append(f"{item.get('kind') or path.rsplit('/', 1)[1]}/{meta['name']}")
        return owned
