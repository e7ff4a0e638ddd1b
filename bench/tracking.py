"""Scenarios 3 and 4, tracking N applications to their end.

For each waiter and N, the benchmark POSTs N driver pods straight to kubesim (labels
`spark-role=driver` and `spark-app-selector`, as spark-submit sets them) whose
`kubesim.io/run-seconds` make them end at spread times: none during a hold window after the
waiter is ready, then one after another over the spread window, in random order. The waiter runs
in its own fresh process (so its CPU and peak RSS are its own) and reports when it learnt of
each end. The end itself is taken from an independent watch in this process (see
`ReferenceWatch`).

Figures: API requests per second on pods while waiting (kubesim's `apiserver_request_total`,
pod creation by the benchmark excluded), over the steady part of the hold window (its second
half, once start-up requests are done) and over the whole wait; watches held open; the waiter's
CPU seconds while waiting and peak RSS; kubesim's CPU; p50/p99 of the delay between a driver
ending and the waiter knowing.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.common import (
    PEERS_PY,
    PROJECT_PY,
    ROOT,
    WORK,
    ReferenceWatch,
    check_alive,
    create_namespace,
    create_pods,
    delete_namespace,
    driver_pod,
    log,
    open_watches,
    percentile,
    pod_request_count,
    proc_cpu_seconds,
    python_env,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.common import Kubesim

CHILDREN = ROOT / "bench" / "children"


@dataclass(frozen=True)
class Waiter:
    """A way of waiting for N applications."""

    key: str
    label: str
    poll_s: float | None
    """Poll interval, for pollers."""

    def argv(self, kubesim: Kubesim, namespace: str, pods_file: str, timeout: float) -> list[str]:
        kc = str(kubesim.kubeconfig)
        if self.key == "sparkube":
            return [
                str(PROJECT_PY),
                str(CHILDREN / "track_sparkube.py"),
                kc,
                namespace,
                pods_file,
                str(timeout),
            ]
        if self.key == "triggerer":
            return [
                str(PROJECT_PY),
                str(CHILDREN / "triggerer.py"),
                namespace,
                pods_file,
                str(timeout),
            ]
        argv = [
            str(PEERS_PY),
            str(CHILDREN / "track_poll.py"),
            kc,
            namespace,
            pods_file,
            str(timeout),
        ]
        argv.append(str(self.poll_s))
        if self.key == "spark-on-k8s":
            argv.append("--spark-on-k8s")
        return argv

    def env(self, kubesim: Kubesim, namespace: str) -> dict[str, str]:
        if self.key != "triggerer":
            return python_env()
        home = WORK / "airflow-home"
        home.mkdir(parents=True, exist_ok=True)
        conn = {
            "conn_type": "kubernetes",
            "extra": {"kube_config_path": str(kubesim.kubeconfig), "namespace": namespace},
        }
        return python_env(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(conn),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            }
        )


SPARKUBE = Waiter("sparkube", "sparkube shared watch (N wait_async, one Client)", None)
POLL = Waiter("poll", "per-app polling every 2 s (KubernetesPodTrigger's way)", 2.0)
SPARK_ON_K8S = Waiter("spark-on-k8s", "spark-on-k8s async waiter (its default 10 s poll)", 10.0)
TRIGGERER = Waiter("triggerer", "sparkube N SparkAppTriggers in one triggerer loop", None)


def _schedule(n: int, start: float, spread: float) -> list[float]:
    ends = [start + spread * i / max(1, n - 1) for i in range(n)]
    random.Random(n).shuffle(ends)
    return ends


def _pods(namespace: str, names: list[str], ends: list[float]) -> Iterator[dict[str, Any]]:
    for name, end in zip(names, ends, strict=True):
        run_s = max(0.0, end - time.time())
        yield driver_pod(name, namespace, {"kubesim.io/run-seconds": f"{run_s:.3f}"})


class _Sampler:
    """Samples kubesim's pod request counter every `every` seconds in a thread."""

    def __init__(self, kubesim: Kubesim, every: float = 0.5) -> None:
        self.kubesim = kubesim
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self.watches: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            metrics = self.kubesim.metrics()
            now = time.time()
            self.samples.append((now, pod_request_count(self.kubesim, metrics)))
            self.watches.append((now, open_watches(self.kubesim, metrics)))
            self._stop.wait(self.every)

    def start(self) -> _Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append((time.time(), pod_request_count(self.kubesim)))

    def max_watches(self, t0: float, t1: float) -> float:
        """Most watches open at once between t0 and t1."""
        return max((w for t, w in self.watches if t0 <= t <= t1), default=0.0)

    def rate(self, t0: float, t1: float) -> float | None:
        """Requests per second between the samples nearest to t0 and t1."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.5:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def track(
    kubesim: Kubesim, waiter: Waiter, n: int, *, hold: float, spread: float
) -> dict[str, Any]:
    """One waiter tracking `n` applications; the figures described in the module doc."""
    check_alive(kubesim)
    namespace = f"track-{waiter.key}-{n}"
    create_namespace(kubesim, namespace)
    names = [f"drv-{i:05d}" for i in range(n)]
    pods_file = WORK / f"{namespace}.json"
    pods_file.write_text(json.dumps(names))
    ref = ReferenceWatch(kubesim, namespace).start()
    setup = 3.0 + n / 400
    if waiter.key == "spark-on-k8s":
        setup += n / 200
    first_end = time.time() + setup + hold
    ends = _schedule(n, first_end, spread)
    t = time.time()
    create_pods(kubesim, namespace, _pods(namespace, names, ends))
    log(f"  {n} pods created in {time.time() - t:.1f} s")
    timeout = setup + hold + spread + 3 * (waiter.poll_s or 1) + 120
    sampler = _Sampler(kubesim).start()
    ks_cpu0 = proc_cpu_seconds(kubesim.process.pid)
    proc = subprocess.Popen(
        waiter.argv(kubesim, namespace, str(pods_file), timeout),
        env=waiter.env(kubesim, namespace),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready_line = proc.stdout.readline()
    ready = time.time()
    if not ready_line.startswith("READY"):
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"{waiter.key} waiter did not start: {ready_line!r}\n{err[-3000:]}")
    late = ready > first_end
    out, err = proc.communicate(timeout=timeout + 60)
    sampler.stop()
    ks_cpu = proc_cpu_seconds(kubesim.process.pid) - ks_cpu0
    ref.stop()
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise RuntimeError(f"{waiter.key} waiter printed no result: {err[-3000:]}") from e
    known: dict[str, float] = result["known"]
    delays = [known[p] - ref.finished[p] for p in names if p in known and p in ref.finished]
    last = max(known.values()) if known else ready
    steady_from = max(ready, first_end - hold / 2)
    row = {
        "waiter": waiter.key,
        "label": waiter.label,
        "n": n,
        "hold_s": hold,
        "spread_s": spread,
        "ready_after_first_end": late,
        "known": len(known),
        "seen_finished_by_reference": len(ref.finished),
        "requests_per_s_steady": sampler.rate(steady_from, first_end),
        "requests_per_s_waiting": sampler.rate(ready, last),
        # The most watches open at once while waiting, minus the reference watch.
        "open_watches": max(0.0, sampler.max_watches(ready, last) - 1),
        "cpu_s_waiting": result["cpu_s_waiting"],
        "cpu_s_total": result["cpu_s_total"],
        "max_rss_mb": result["max_rss_mb"],
        "kubesim_cpu_s": ks_cpu,
        "delay_p50_s": percentile(delays, 50),
        "delay_p99_s": percentile(delays, 99),
        "delay_max_s": max(delays) if delays else None,
        "wait_window_s": last - ready,
        "errors": result.get("errors"),
        "error_count": result.get("error_count", 0),
    }
    for extra in ("rss_after_import_mb",):
        if extra in result:
            row[extra] = result[extra]
    states = result.get("states") or {}
    if states:
        counts: dict[str, int] = {}
        for s in states.values():
            counts[str(s)] = counts.get(str(s), 0) + 1
        row["final_states"] = counts
    pods_file.unlink(missing_ok=True)
    delete_namespace(kubesim, namespace, timeout=300)
    return row


def memory_steps(kubesim: Kubesim, mode: str, n: int, step: int) -> dict[str, Any]:
    """Where the memory of `n` waiters goes: `bench/children/memory_steps.py` adds `step`
    waiters at a time (mode `trigger`: SparkAppTriggers in a triggerer loop; `client`: one
    Client's wait_async) on driver pods that do not end, and reports RSS and heaps after each
    step."""
    check_alive(kubesim)
    namespace = f"memory-{mode}-{n}"
    create_namespace(kubesim, namespace)
    names = [f"mem-{i:05d}" for i in range(n)]
    pods_file = WORK / f"{namespace}.json"
    pods_file.write_text(json.dumps(names))
    inf = {"kubesim.io/run-seconds": "inf"}
    create_pods(kubesim, namespace, (driver_pod(name, namespace, inf) for name in names))
    waiter = TRIGGERER if mode == "trigger" else SPARKUBE
    argv = [str(PROJECT_PY), str(CHILDREN / "memory_steps.py"), mode, namespace]
    argv += [str(pods_file), str(step), str(kubesim.kubeconfig)]
    try:
        done = subprocess.run(
            argv,
            env=waiter.env(kubesim, namespace),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            return {"mode": mode, "n": n, "step": step, "failed": done.stderr[-2000:]}
        rows = json.loads(lines[-1])["rows"]
    finally:
        pods_file.unlink(missing_ok=True)
        delete_namespace(kubesim, namespace, timeout=300)
    return {"mode": mode, "n": n, "step": step, "rows": rows}


def run(
    kubesim: Kubesim, waiters: list[Waiter], sizes: list[int], *, hold: float, spread: float
) -> list[dict[str, Any]]:
    """Every waiter at every size, smallest size first."""
    rows = []
    for n in sizes:
        for waiter in waiters:
            log(f"tracking: {waiter.key}, N={n}")
            try:
                row = track(kubesim, waiter, n, hold=hold, spread=spread)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log(f"  failed: {e}")
                row = {
                    "waiter": waiter.key,
                    "label": waiter.label,
                    "n": n,
                    "failed": str(e)[-2000:],
                }
            rows.append(row)
            log(
                "  "
                + ", ".join(
                    f"{k}={row.get(k)}"
                    for k in ("requests_per_s_steady", "delay_p50_s", "delay_p99_s", "max_rss_mb")
                )
            )
    return rows
