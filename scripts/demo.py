"""`make demo`: the `spark_pi` example DAG, run by Airflow, computing Pi with real Spark on kubesim.

Starts kubesim with its process runtime (pods are local processes: the driver JVM creates its
executor pods through the API), a Spark History Server reading the shared event-log directory,
gives Airflow a throw-away home with a migrated SQLite database, a `kubernetes_default`
connection to kubesim and a `spark-defaults.conf` that turns event logging on, runs
`airflow dags test spark_pi`, then prints the Pi estimate, the application's final state and
where its logs are. Everything it started is stopped before it exits, whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def kubesim_binary() -> Path:
    """The newest kubesim build (`make demo` builds the debug one, `make bench` the release)."""
    builds = [REPO / "target" / kind / "kubesim" for kind in ("release", "debug")]
    existing = [b for b in builds if b.exists()]
    if not existing:
        raise SystemExit("kubesim is not built: run `make build` first")
    return max(existing, key=lambda b: b.stat().st_mtime)


def start_kubesim(workdir: Path) -> tuple[subprocess.Popen[str], Path]:
    """kubesim on a free loopback port; returns the process and its kubeconfig."""
    kubeconfig = workdir / "kubeconfig"
    binary = os.environ.get("KUBESIM_BIN") or str(kubesim_binary())
    process = subprocess.Popen(
        [
            binary,
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig",
            str(kubeconfig),
            "--runtime",
            "process",
        ],
        stdout=subprocess.PIPE,
        stderr=open(workdir / "kubesim.log", "w"),  # noqa: SIM115 - lives as long as kubesim
        text=True,
        # Spark images run the Spark distribution of the installed pyspark.
        env={**os.environ, "SPARK_HOME": str(spark_home())},
        # Its own process group: Airflow's task supervisor signals the group it runs in.
        start_new_session=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    if not first.startswith("kubesim listening on"):
        process.kill()
        raise SystemExit(f"kubesim did not start: {first!r} (see {workdir / 'kubesim.log'})")
    print(f"  {first}")
    stdout = process.stdout

    def drain() -> None:
        with open(workdir / "kubesim.out", "w") as out:
            for line in stdout:
                out.write(line)

    threading.Thread(target=drain, daemon=True).start()
    return process, kubeconfig


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def history_server_env(workdir: Path, event_dir: Path, port: int) -> dict[str, str]:
    """Environment for pyspark's sbin scripts to run a History Server over `event_dir`."""
    return {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOG_DIR": str(workdir / "history-server"),
        "SPARK_PID_DIR": str(workdir),
        "SPARK_IDENT_STRING": "sparkube-demo",
        "SPARK_HISTORY_OPTS": f"-Dspark.history.fs.logDirectory=file:{event_dir} "
        f"-Dspark.history.ui.port={port} -Dspark.history.fs.update.interval=2s",
    }


def history_server(env: dict[str, str], action: str) -> None:
    """Starts or stops the History Server with pyspark's `sbin` scripts."""
    script = spark_home() / "sbin" / f"{action}-history-server.sh"
    subprocess.run(["bash", str(script)], env=env, check=action == "start", capture_output=True)


def listed_in_history(url: str, app_id: str, timeout: float = 30) -> bool:
    """Whether the History Server lists `app_id` (it scans the event logs every 2 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/applications/{app_id}", timeout=5):
                return True
        except OSError:
            time.sleep(1)
    return False


def spark_defaults(conf_dir: Path, event_dir: Path) -> None:
    """Event logs to `event_dir`, mounted into every driver at the same path."""
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(
        "\n".join(
            [
                "spark.eventLog.enabled true",
                f"spark.eventLog.dir file://{event_dir}",
                f"spark.kubernetes.driver.volumes.hostPath.events.mount.path {event_dir}",
                f"spark.kubernetes.driver.volumes.hostPath.events.options.path {event_dir}",
                "",
            ]
        )
    )


def airflow(env: dict[str, str], *args: str, log: Path) -> int:
    """Runs the airflow command line, its output going to `log`."""
    with open(log, "a") as out:
        return subprocess.run(
            [str(BIN / "airflow"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode


def task_result(database: Path, dag_id: str, task_id: str) -> dict[str, Any] | None:
    """The task's XCom return value, read from Airflow's database."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'",
            (dag_id, task_id),
        ).fetchone()
    return json.loads(row[0]) if row else None


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="sparkube-demo-"))
    started = time.monotonic()
    print("sparkube demo: the spark_pi DAG through Airflow, real Spark on kubesim")
    kubesim, kubeconfig = start_kubesim(workdir)
    event_dir = workdir / "spark-events"
    event_dir.mkdir()
    history_port = free_port()
    history_env = history_server_env(workdir, event_dir, history_port)
    history_url = f"http://127.0.0.1:{history_port}"
    try:
        history_server(history_env, "start")
        print(f"  Spark History Server on {history_url}")
        spark_defaults(workdir / "spark-conf", event_dir)
        home = workdir / "airflow"
        env = {
            **os.environ,
            "SPARK_CONF_DIR": str(workdir / "spark-conf"),
            "AIRFLOW__SPARKUBE__SPARK_HISTORY_URL_TEMPLATE": history_url + "/history/{app_id}/",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
                {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}
            ),
        }
        log = workdir / "airflow.log"
        print("  migrating Airflow's database (SQLite)")
        if airflow(env, "db", "migrate", log=log) != 0:
            raise SystemExit(f"airflow db migrate failed: see {log}")
        print("  running: airflow dags test spark_pi")
        code = airflow(env, "dags", "test", "spark_pi", log=log)
        output = log.read_text()
        pi = re.findall(r"Pi is roughly \d+\.\d+", output)
        result = task_result(home / "airflow.db", "spark_pi", "spark_pi")
        print()
        print(pi[-1] if pi else "no Pi estimate in the task log")
        if result:
            print(
                f"{result['app_id']} (driver pod {result['namespace']}/{result['driver_pod']}): "
                f"{result['state']}, exit code {result['exit_code']}, {result['duration_s']} s"
            )
            if listed_in_history(history_url, result["app_id"]):
                print(f"Spark History: {history_url}/history/{result['app_id']}/")
            else:
                print(f"{result['app_id']} is not listed by the History Server at {history_url}")
        print(f"task log, with the driver log streamed into it: {log}")
        print(f"Airflow home: {home}")
        print(f"done in {time.monotonic() - started:.0f} s; kubesim and the History Server stopped")
        ok = code == 0 and bool(pi) and result is not None and result["state"] == "Succeeded"
        return 0 if ok else 1
    finally:
        history_server(history_env, "stop")
        kubesim.send_signal(signal.SIGTERM)
        try:
            kubesim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kubesim.kill()


if __name__ == "__main__":
    sys.exit(main())
