"""Scenario 5, log streaming into Python: how fast a finished driver's whole log reaches Python
code, with sparkube (`logs()`, `logs_async()`) and with the `kubernetes` client the way
spark-on-k8s and KubernetesPodOperator read logs.

kubesim's simulated runtime writes the lines of the `kubesim.io/log` annotation; it has no
generator for large logs, and like Kubernetes it refuses annotations over 256 KiB in all. So
1,000,000 lines are 8 driver logs of 125,000 one-character lines ("x"), read one after the
other; a second set of 8 logs of 2,500 lines of 100 characters gives the rate for realistic
line lengths.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.common import (
    PEERS_PY,
    PROJECT_PY,
    ROOT,
    create_namespace,
    create_pods,
    delete_namespace,
    driver_pod,
    log,
    python_env,
    run_measured,
)

if TYPE_CHECKING:
    from bench.common import Kubesim

NAMESPACE = "bench-logs"
CHILDREN = ROOT / "bench" / "children"
PODS = 8


def _wait_finished(kubesim: Kubesim, pod: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = kubesim.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}")
        if status == 200 and body.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"log pod {pod} did not finish in {timeout} s")


def run(kubesim: Kubesim, *, lines: int, async_max_lines: int = 0) -> dict[str, Any]:
    """Both logs, read by every reader in a fresh process each; rates per reader."""
    create_namespace(kubesim, NAMESPACE)
    logs = {
        "1-char": (lines, "x"),
        "100-char": (20_000, "0123456789" * 10),
    }
    result: dict[str, Any] = {}
    for key, (count, line) in logs.items():
        per_pod = count // PODS
        pods = [f"log-{key}-{i}" for i in range(PODS)]
        text = "\n".join([line] * per_pod)
        annotations = {"kubesim.io/log": text, "kubesim.io/run-seconds": "0"}
        create_pods(kubesim, NAMESPACE, [driver_pod(p, NAMESPACE, annotations) for p in pods])
        for pod in pods:
            _wait_finished(kubesim, pod)
        readers: dict[str, Any] = {}
        for py, script in ((PROJECT_PY, "logs_sparkube.py"), (PEERS_PY, "logs_peers.py")):
            argv = [str(py), str(CHILDREN / script), str(kubesim.kubeconfig), NAMESPACE]
            if script == "logs_sparkube.py":
                argv.append(str(async_max_lines))
            argv += pods
            r = run_measured(argv, env=python_env(), timeout=600)
            try:
                figures_by_reader = r.json()
            except (RuntimeError, ValueError):
                readers[script] = {"failed": f"exit code {r.returncode}: {r.stderr[-2000:]}"}
                continue
            for name, figures in figures_by_reader.items():
                if r.returncode != 0:
                    # The figures were printed, but the process then died (recorded, not hidden).
                    figures["process_exit_code"] = r.returncode
                figures["lines_per_s"] = figures["lines"] / figures["seconds"]
                figures["complete"] = figures["lines"] in (
                    per_pod * PODS,
                    figures.get("stopped_at"),
                )
                readers[name] = figures
                log(f"  logs {key}: {name}: {figures['lines_per_s']:,.0f} lines/s")
        result[key] = {
            "lines": per_pod * PODS,
            "pods": PODS,
            "line_chars": len(line),
            "readers": readers,
        }
    delete_namespace(kubesim, NAMESPACE)
    return result
