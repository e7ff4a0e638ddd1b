"""sparkube's benchmarks, side by side with spark-submit, spark-on-k8s and per-task polling,
in one run against one kubesim (scenario 7 gets a kubesim of its own).

    .venv/bin/python bench/run.py [--quick]
        [--only cold,warm,tracking,triggerer,logs,imports,kubesim,metrics,upload,preflight,connect]

(`make bench` runs it; arguments may also come from $BENCH_ARGS.) Scenarios 7 and 11 get a
kubesim of their own (11: the process runtime, with real Spark). Writes bench/results.json,
bench/results.md and PNG plots beside them (or under --out), and prints the headline ratios.
The peers are installed, pinned, into bench/.work/peers-venv on first use.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    cold,
    connect,
    imports,
    kubesim_cap,
    logs,
    metrics_cost,
    preflight,
    report,
    tracking,
    upload,
)
from bench.common import (
    BENCH,
    PEERS_PY,
    PROJECT_PY,
    WORK,
    check_alive,
    ensure_peers_venv,
    log,
    snapshot_sparkube,
    start_bench_kubesim,
    summary,
)

SCENARIOS = [
    "cold",
    "warm",
    "tracking",
    "triggerer",
    "logs",
    "imports",
    "kubesim",
    "metrics",
    "upload",
    "preflight",
    "connect",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 5 minutes")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a smoke test of the harness itself (figures meaningless)",
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--out", type=Path, default=BENCH, help="where results and plots go")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    return args


def command(args: argparse.Namespace) -> str:
    """The `make bench` line that reproduces this run."""
    flags = ["--quick"] if args.quick else []
    flags += ["--tiny"] if args.tiny else []
    if args.only != SCENARIOS:
        flags.append("--only " + ",".join(args.only))
    return "make bench" + (f" BENCH_ARGS='{' '.join(flags)}'" if flags else "")


def params(quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Sizes per mode."""
    if tiny:
        return {
            "cold_runs": 1,
            "cold_fast_jvm": False,
            "warm_n": 16,
            "warm_concurrency": 8,
            "tracking_sizes": [20],
            "hold_s": 3.0,
            "spread_s": 3.0,
            "triggerer_n": 20,
            "log_lines": 40_000,
            "log_async_max_lines": 5_000,
            "import_runs": 1,
            "kubesim_pods": 1000,
            "kubesim_watches": 20,
            "kubesim_probes": 3,
            "metrics_rounds": 2,
            "metrics_steady_apps": 20,
            "metrics_hold_s": 2.0,
            "upload_runs": 1,
            "preflight_runs": 3,
            "upload_big_gib": 0.05,
            "connect_runs": 1,
            "connect_mb": 10,
        }
    if quick:
        return {
            "cold_runs": 5,
            "cold_fast_jvm": False,
            "warm_n": 200,
            "warm_concurrency": 8,
            "tracking_sizes": [100, 1000],
            "hold_s": 4.0,
            "spread_s": 6.0,
            "triggerer_n": 1000,
            "log_lines": 1_000_000,
            "log_async_max_lines": 50_000,
            "import_runs": 3,
            "kubesim_pods": 10_000,
            "kubesim_watches": 1000,
            "kubesim_probes": 10,
            "metrics_rounds": 4,
            "metrics_steady_apps": 1000,
            "metrics_hold_s": 5.0,
            "upload_runs": 3,
            "preflight_runs": 10,
            "upload_big_gib": 1,
            "connect_runs": 2,
            "connect_mb": 100,
        }
    return {
        "cold_runs": 10,
        "cold_fast_jvm": True,
        "warm_n": 200,
        "warm_concurrency": 8,
        "tracking_sizes": [100, 1000, 10_000],
        "hold_s": 10.0,
        "spread_s": 30.0,
        "triggerer_n": 1000,
        "log_lines": 1_000_000,
        "log_async_max_lines": 0,
        "import_runs": 10,
        "kubesim_pods": 10_000,
        "kubesim_watches": 1000,
        "kubesim_probes": 30,
        "metrics_rounds": 6,
        "metrics_steady_apps": 1000,
        "metrics_hold_s": 10.0,
        "upload_runs": 5,
        "preflight_runs": 30,
        "upload_big_gib": 1,
        "connect_runs": 3,
        "connect_mb": 100,
    }


def warm(kubesim: Any, p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 2: the two in-process clients, each in a fresh process of its own."""
    from bench.common import create_namespace, delete_namespace, python_env, run_measured

    out: dict[str, Any] = {"n": p["warm_n"], "concurrency": p["warm_concurrency"], "clients": {}}
    children = BENCH / "children"
    for key, py, script in (
        ("sparkube Client.submit", PROJECT_PY, "warm_sparkube.py"),
        ("spark-on-k8s SparkOnK8S.submit_app", PEERS_PY, "warm_spark_on_k8s.py"),
    ):
        namespace = "bench-warm-" + ("sparkube" if "sparkube" in key else "sok8s")
        create_namespace(kubesim, namespace)
        argv = [str(py), str(children / script), str(kubesim.kubeconfig), namespace]
        argv += [str(p["warm_n"]), str(p["warm_concurrency"])]
        log(f"warm submit: {key}")
        r = run_measured(argv, env=python_env(), timeout=900)
        if r.returncode != 0:
            out["clients"][key] = {"failed": r.stderr[-2000:]}
        else:
            data = r.json()
            row: dict[str, Any] = {
                "latency_s": summary(data["latencies_s"]),
                "errors": data["errors"],
                "error_count": data["error_count"],
                "process_cpu_s": r.cpu_s,
                "process_max_rss_mb": r.max_rss_mb,
            }
            for mode, c in data["concurrent"].items():
                row[f"per_s_{mode}"] = c["submissions"] / c["seconds"]
            if "render_us" in data:
                row["render_in_process_us"] = summary(data["render_us"])
            out["clients"][key] = row
            log(
                f"  median {row['latency_s']['median'] * 1e3:.1f} ms, "
                + ", ".join(f"{k} {v:,.0f}/s" for k, v in row.items() if k.startswith("per_s_"))
            )
        delete_namespace(kubesim, namespace, timeout=300)
    return out


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:] or shlex.split(os.environ.get("BENCH_ARGS", ""))
    args = parse_args(argv)
    p = params(args.quick, args.tiny)
    WORK.mkdir(parents=True, exist_ok=True)
    ensure_peers_venv()
    build = snapshot_sparkube()
    if build["older_than_sources"]:
        log(
            "warning: target/release/lib_core.so is older than the Rust sources (make build-release)"
        )
    started = time.time()
    results: dict[str, Any] = {
        "mode": "tiny" if args.tiny else "quick" if args.quick else "full",
        "command": command(args),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "sparkube_build": build,
        "params": p,
        "scenarios": {},
    }
    out = results["scenarios"]
    needs_kubesim = set(args.only) & {
        "cold",
        "warm",
        "tracking",
        "triggerer",
        "logs",
        "metrics",
        "upload",
    }
    kubesim = start_bench_kubesim("main") if needs_kubesim else None
    try:
        if "cold" in args.only:
            log("scenario 1: cold submit")
            out["cold_submit"] = cold.run(kubesim, runs=p["cold_runs"], fast_jvm=p["cold_fast_jvm"])
        if kubesim is not None:
            check_alive(kubesim)
        if "warm" in args.only:
            log("scenario 2: warm submit")
            out["warm_submit"] = warm(kubesim, p)
        if kubesim is not None:
            check_alive(kubesim)
        if "tracking" in args.only:
            log("scenario 3: tracking N apps")
            waiters = [tracking.SPARKUBE, tracking.POLL, tracking.SPARK_ON_K8S]
            out["tracking"] = tracking.run(
                kubesim, waiters, p["tracking_sizes"], hold=p["hold_s"], spread=p["spread_s"]
            )
        if kubesim is not None:
            check_alive(kubesim)
        if "triggerer" in args.only:
            log("scenario 4: Airflow triggerer")
            n = p["triggerer_n"]
            rows = tracking.run(
                kubesim, [tracking.TRIGGERER], [n], hold=p["hold_s"], spread=p["spread_s"]
            )
            same_run_poll = [
                r
                for r in out.get("tracking", [])
                if r.get("waiter") == "poll" and r.get("n") == n and "failed" not in r
            ]
            if same_run_poll:
                rows += [{**same_run_poll[0], "from_scenario": "tracking"}]
            else:
                rows += tracking.run(
                    kubesim, [tracking.POLL], [n], hold=p["hold_s"], spread=p["spread_s"]
                )
            out["triggerer"] = rows
            log("scenario 4: where the triggerer's memory goes")
            step = max(1, n // 10)
            out["triggerer_memory"] = [
                tracking.memory_steps(kubesim, mode, n, step) for mode in ("trigger", "client")
            ]
        if kubesim is not None:
            check_alive(kubesim)
        if "logs" in args.only:
            log("scenario 5: log streaming")
            out["logs"] = logs.run(
                kubesim, lines=p["log_lines"], async_max_lines=p["log_async_max_lines"]
            )
        if "metrics" in args.only:
            log("scenario 8: what the metrics cost")
            out["metrics"] = metrics_cost.run(kubesim, p)
        if "upload" in args.only:
            log("scenario 9: uploading local files")
            out["upload"] = upload.run(kubesim, runs=p["upload_runs"], big_gib=p["upload_big_gib"])
        if "preflight" in args.only:
            log("scenario 10: what a preflight costs")
            out["preflight"] = preflight.run(kubesim, runs=p["preflight_runs"])
    finally:
        if kubesim is not None:
            kubesim.stop()
    if "imports" in args.only:
        log("scenario 6: import and install cost")
        out["imports"] = imports.run(runs=p["import_runs"])
    if "connect" in args.only:
        log("scenario 11: Spark Connect sessions")
        out["connect"] = connect.run(runs=p["connect_runs"], mb=p["connect_mb"])
    if "kubesim" in args.only:
        log("scenario 7: kubesim capacity")
        out["kubesim"] = kubesim_cap.run(
            pods=p["kubesim_pods"], watches=p["kubesim_watches"], probes=p["kubesim_probes"]
        )
    results["duration_s"] = time.time() - started
    results = clean(results)
    results["headlines"] = report.headlines(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    plots = subprocess.run(
        [str(PEERS_PY), str(BENCH / "plots.py"), str(args.out / "results.json"), str(args.out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if plots.returncode != 0:
        log(f"plots failed: {plots.stderr[-2000:]}")
    images = [line for line in plots.stdout.splitlines() if line.endswith(".png")]
    (args.out / "results.md").write_text(report.markdown(results, images))
    print()
    for line in results["headlines"]:
        print(line)
    log(f"done in {results['duration_s']:.0f} s: {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
