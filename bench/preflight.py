"""What a preflight costs: API round trips (counted by kubesim) and wall time, beside a submit of
the same app, in a namespace with a ResourceQuota and a LimitRange.

    KUBESIM_BIN=target/release/kubesim .venv/bin/python bench/preflight.py [--runs N]

Prints one JSON object: per app shape (objects sent), the requests a preflight made by verb
(`dry_run="All"` ones apart), the requests of a submit, and the milliseconds of each (median, p99, ...).
The claim checked: a preflight sends one request per object plus two reads (quotas, limit
ranges), and creates nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import create_namespace, start_bench_kubesim, summary

IMAGE = "apache/spark:4.0.1"
PI = "local:///opt/spark/examples/src/main/python/pi.py"


def requests(ks: Any) -> dict[tuple[str, str], float]:
    """`apiserver_request_total` by (verb, dry_run)."""
    out: dict[tuple[str, str], float] = {}
    for (name, labels), value in ks.metrics().items():
        if name == "apiserver_request_total":
            d = dict(labels)
            key = (d.get("verb", ""), d.get("dry_run", ""))
            out[key] = out.get(key, 0) + value
    return out


def delta(
    after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]
) -> dict[str, int]:
    keys = set(after) | set(before)
    out = {}
    for verb, dry in sorted(keys):
        n = int(after.get((verb, dry), 0) - before.get((verb, dry), 0))
        if n:
            out[f"{verb}{' (dry run)' if dry else ''}"] = n
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    ks = start_bench_kubesim("preflight")
    try:
        print(json.dumps(run(ks, args.runs), indent=2))
    finally:
        ks.stop()
    return 0


def run(ks: Any, runs: int) -> dict[str, Any]:
    """Scenario 10 of `bench/run.py` (and this script's figures) on the kubesim `ks`."""
    import sparkube
    from sparkube import Client, Executor, SparkApp

    ns = f"pf-{uuid.uuid4().hex[:6]}"
    create_namespace(ks, ns)
    quota = {"metadata": {"name": "compute"}, "spec": {"hard": {"requests.cpu": "100000"}}}
    status, body = ks.request("POST", f"/api/v1/namespaces/{ns}/resourcequotas", quota)
    assert status == 201, body
    limits = {
        "metadata": {"name": "limits"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "2"}}]},
    }
    status, body = ks.request("POST", f"/api/v1/namespaces/{ns}/limitranges", limits)
    assert status == 201, body
    client = Client(kubeconfig=ks.kubeconfig, namespace=ns)
    app = SparkApp(
        name="bench", application=PI, image=IMAGE, executor=Executor(instances=8, cores=2)
    )
    report = client.preflight(app)
    objects = sum(1 for c in report.checks if c.message == "accepted (dry run)")

    before = requests(ks)
    preflight_ms = []
    for _ in range(runs):
        started = time.perf_counter()
        client.preflight(app)
        preflight_ms.append((time.perf_counter() - started) * 1000)
    preflight_requests = delta(requests(ks), before)

    before = requests(ks)
    submit_ms = []
    for _ in range(runs):
        started = time.perf_counter()
        client.submit(app)
        submit_ms.append((time.perf_counter() - started) * 1000)
    submit_requests = delta(requests(ks), before)

    result = {
        "sparkube": sparkube.__version__,
        "runs": runs,
        "objects": objects,
        "preflight": {
            "round_trips_reported": report.round_trips,
            "requests_per_run": {k: v / runs for k, v in preflight_requests.items()},
            "ms": summary(preflight_ms),
        },
        "submit": {
            "requests_per_run": {k: v / runs for k, v in submit_requests.items()},
            "ms": summary(submit_ms),
        },
    }
    assert report.round_trips == objects + 2, report
    return result


if __name__ == "__main__":
    raise SystemExit(main())
