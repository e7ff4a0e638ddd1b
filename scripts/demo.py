"""`make demo`: the `spark_pi` example DAG, run by Airflow against a local kubesim.

Starts kubesim, gives Airflow a throw-away home with a migrated SQLite database and a
`kubernetes_default` connection to kubesim, runs `airflow dags test spark_pi`, then prints the
Pi estimate, the application's final state and where its logs are. Everything it started is
stopped before it exits, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def start_kubesim(workdir: Path) -> tuple[subprocess.Popen[str], Path]:
    """kubesim on a free loopback port; returns the process and its kubeconfig."""
    kubeconfig = workdir / "kubeconfig"
    binary = os.environ.get("KUBESIM_BIN", str(REPO / "target" / "release" / "kubesim"))
    process = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=open(workdir / "kubesim.log", "w"),  # noqa: SIM115 - lives as long as kubesim
        text=True,
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
    print("sparkube demo: the spark_pi DAG through Airflow on kubesim")
    kubesim, kubeconfig = start_kubesim(workdir)
    try:
        home = workdir / "airflow"
        env = {
            **os.environ,
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
        print("  running: airflow dags test spark_pi -c '{\"simulate\": true}'")
        code = airflow(env, "dags", "test", "spark_pi", "-c", '{"simulate": true}', log=log)
        output = log.read_text()
        pi = [line for line in output.splitlines() if "Pi is roughly" in line]
        result = task_result(home / "airflow.db", "spark_pi", "spark_pi")
        print()
        print(pi[-1].strip() if pi else "no Pi estimate in the task log")
        if result:
            print(
                f"{result['app_id']} (driver pod {result['namespace']}/{result['driver_pod']}): "
                f"{result['state']}, exit code {result['exit_code']}, {result['duration_s']} s"
            )
        print(f"task log, with the driver log streamed into it: {log}")
        print(f"Airflow home: {home}")
        print(f"done in {time.monotonic() - started:.0f} s; kubesim stopped")
        ok = code == 0 and bool(pi) and result is not None and result["state"] == "Succeeded"
        return 0 if ok else 1
    finally:
        kubesim.send_signal(signal.SIGTERM)
        try:
            kubesim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kubesim.kill()


if __name__ == "__main__":
    sys.exit(main())
