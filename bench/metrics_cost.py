"""Scenario 8: what sparkube's metrics cost.

Throughput: the warm-submit child (`children/warm_sparkube.py`) run alternately with metrics
recorded and with recording off (`SPARKUBE_METRICS=off`, read once by the core), `rounds`
times each, so that drift of a shared machine falls on both sides; the cost is the relative
loss of the median submissions per second (threads and asyncio) and of the median sequential
latency. Steady state: one client tracks N running drivers through a quiet hold; no metric may
move and the process's CPU time is reported, since counting happens only when a pod changes.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.common import (
    BENCH,
    PROJECT_PY,
    WORK,
    create_namespace,
    create_pods,
    delete_namespace,
    driver_pod,
    log,
    python_env,
    run_measured,
)

CHILDREN = BENCH / "children"


def _warm_once(kubesim: Any, n: int, concurrency: int, enabled: bool, i: int) -> dict[str, float]:
    namespace = f"bench-metrics-{'on' if enabled else 'off'}-{i}"
    create_namespace(kubesim, namespace)
    argv = [str(PROJECT_PY), str(CHILDREN / "warm_sparkube.py"), str(kubesim.kubeconfig)]
    argv += [namespace, str(n), str(concurrency)]
    env = python_env({} if enabled else {"SPARKUBE_METRICS": "off"})
    r = run_measured(argv, env=env, timeout=900)
    delete_namespace(kubesim, namespace, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"warm submit child failed: {r.stderr[-2000:]}")
    data = r.json()
    row = {
        f"per_s_{mode}": c["submissions"] / c["seconds"] for mode, c in data["concurrent"].items()
    }
    row["latency_median_s"] = statistics.median(data["latencies_s"])
    return row


def throughput(kubesim: Any, n: int, concurrency: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for i in range(rounds):
        for enabled in (i % 2 == 0, i % 2 != 0):
            key = "on" if enabled else "off"
            runs[key].append(_warm_once(kubesim, n, concurrency, enabled, i))
            log(f"  metrics {key}: {runs[key][-1]}")
    med = {
        key: {m: statistics.median(r[m] for r in rows) for m in rows[0]}
        for key, rows in runs.items()
    }
    cost = {m: 1 - med["on"][m] / med["off"][m] for m in med["on"] if m.startswith("per_s_")}
    cost["latency_median_s"] = med["on"]["latency_median_s"] / med["off"]["latency_median_s"] - 1
    return {"n": n, "concurrency": concurrency, "rounds": rounds, "median": med, "cost": cost}


def steady(kubesim: Any, apps: int, hold: float) -> dict[str, Any]:
    namespace = "bench-metrics-steady"
    create_namespace(kubesim, namespace)
    names = [f"steady-{i}" for i in range(apps)]
    annotations = {"kubesim.io/run-seconds": "3600"}
    create_pods(kubesim, namespace, (driver_pod(n, namespace, annotations) for n in names))
    pods_file = WORK / "metrics-steady-pods.json"
    pods_file.write_text(json.dumps(names))
    argv = [str(PROJECT_PY), str(CHILDREN / "metrics_steady.py"), str(kubesim.kubeconfig)]
    argv += [namespace, str(pods_file), str(hold)]
    r = run_measured(argv, env=python_env(), timeout=600)
    delete_namespace(kubesim, namespace, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"steady child failed: {r.stderr[-2000:]}")
    data: dict[str, Any] = r.json()
    return data


def run(kubesim: Any, p: dict[str, Any]) -> dict[str, Any]:
    out = {
        "throughput": throughput(kubesim, p["warm_n"], p["warm_concurrency"], p["metrics_rounds"]),
        "steady": steady(kubesim, p["metrics_steady_apps"], p["metrics_hold_s"]),
    }
    cost = out["throughput"]["cost"]
    log(
        "  metrics cost: "
        + ", ".join(f"{k} {v * 100:+.2f} %" for k, v in cost.items())
        + f"; steady: {out['steady']['metrics_changed'] or 'no metric moved'}, "
        + f"{out['steady']['cpu_s_hold']:.3f} CPU s over {out['steady']['hold_s']:.1f} s"
    )
    return out
