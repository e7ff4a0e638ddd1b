"""Scenario 7, kubesim's own capacity, on a kubesim of its own.

- Pod creates per second. The figure that counts comes from a client that is not the
  bottleneck: kubesim's Rust load generator (`rust/kubesim/examples/load.rs`, built by
  `make build-release`) sending POSTs over 1 and over 8 keep-alive connections at once, each
  connection sending its next request when the previous answer is in. For comparison, the same
  pods from Python's http.client and from curl (one connection each, one request after the
  other), which is what the client-side cost looks like. Pods use `generateName` (five random
  characters: a few collide with 409 over 10,000 pods, as in Kubernetes) and never exit
  (`kubesim.io/run-seconds: inf`).
- RSS with that many pods, then with W watches open as well.
- Watch fan-out: W watches on one namespace, then probe pods created one at a time; the
  latency is from sending the create request to each watch receiving the probe's ADDED event
  (the create itself and the reader's own delay are included, so this is an upper bound). Each
  probe also brings four MODIFIED events (scheduled, initialized, containers starting, running),
  delivered to every watch too. Measured by the load generator (one connection and reader task
  per watch, in Rust) and, as before, by one Python asyncio process reading bytes only.
  kubesim and the readers share the machine's cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    ROOT,
    WORK,
    Api,
    create_namespace,
    driver_pod,
    log,
    percentile,
    proc_cpu_seconds,
    proc_rss_mb,
    start_bench_kubesim,
)

if TYPE_CHECKING:
    from bench.common import Kubesim


def load_generator() -> Path | None:
    """A private copy of the release build of kubesim's load generator (`$KUBESIM_LOAD_BIN`
    when set), or None when it was not built. Copied for the reason `start_bench_kubesim`
    copies kubesim: other jobs on the machine rebuild the original."""
    env = os.environ.get("KUBESIM_LOAD_BIN")
    source = Path(env) if env else ROOT / "target" / "release" / "examples" / "load"
    if not source.exists():
        return None
    copy = WORK / "bin" / "kubesim-load"
    if not copy.exists() or copy.stat().st_mtime != source.stat().st_mtime:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    return copy


def _load_argv(binary: Path, kubesim: Kubesim, phase: str, **opts: Any) -> list[str]:
    argv = [str(binary), "--url", kubesim.url, "--token", kubesim.token, phase]
    for k, v in opts.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


def _load_creates(
    binary: Path, kubesim: Kubesim, namespace: str, count: int, connections: int
) -> dict[str, Any]:
    out = subprocess.run(
        _load_argv(
            binary, kubesim, "creates", namespace=namespace, pods=count, connections=connections
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _load_fanout(
    binary: Path, kubesim: Kubesim, namespace: str, watches: int, probes: int
) -> dict[str, Any]:
    """The load generator's fan-out, with kubesim's RSS once the watches are open and its CPU
    while the probes are delivered."""
    argv = _load_argv(
        binary,
        kubesim,
        "fanout",
        namespace=namespace,
        watches=watches,
        probes=probes,
        settle_ms=1000,
    )
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )
    assert proc.stdout is not None
    rss_with_watches = cpu0 = float("nan")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if '"watches_open"' in line:
            rss_with_watches = proc_rss_mb(kubesim.process.pid)
            cpu0 = proc_cpu_seconds(kubesim.process.pid)
    proc.wait(timeout=120)
    cpu = proc_cpu_seconds(kubesim.process.pid) - cpu0
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"load generator failed: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
        )
    r = json.loads(lines[-1])
    lat = r["latency_ms"]
    return {
        "client": r["client"],
        "watches": r["watches"],
        "watch_open_errors": r["watch_open_errors"],
        "watches_open_s": r["watches_open_s"],
        "probes": r["probes"],
        "deliveries": r["deliveries"],
        "expected_deliveries": r["expected_deliveries"],
        "latency_p50_ms": lat["p50"],
        "latency_p90_ms": lat["p90"],
        "latency_p99_ms": lat["p99"],
        "latency_max_ms": lat["max"],
        "first_delivery_p50_ms": r["first_delivery_ms"]["p50"],
        "last_delivery_p50_ms": r["last_delivery_ms"]["p50"],
        "probe_create_p50_ms": r["probe_create_ms"]["p50"],
        "kubesim_rss_mb_with_watches": rss_with_watches,
        "kubesim_cpu_s_delivering": cpu,
    }


def _curl_creates(kubesim: Kubesim, namespace: str, count: int) -> dict[str, Any]:
    pod = driver_pod("x", namespace, {"kubesim.io/run-seconds": "inf"})
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "cap-"
    body = WORK / "cap-pod.json"
    body.write_text(json.dumps(pod))
    url = f"{kubesim.url}/api/v1/namespaces/{namespace}/pods"
    entry = (
        f'url = "{url}"\nrequest = "POST"\n'
        f'header = "Authorization: Bearer {kubesim.token}"\n'
        'header = "Content-Type: application/json"\n'
        f'data-binary = "@{body}"\noutput = "/dev/null"\nwrite-out = "%{{http_code}} %{{num_connects}}\\n"\n'
    )
    config = WORK / "cap-curl.conf"
    config.write_text("next\n".join([entry] * count))
    t = time.perf_counter()
    out = subprocess.run(
        ["curl", "--silent", "--http1.1", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    seconds = time.perf_counter() - t
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    ok = sum(1 for r in rows if r[0] == "201")
    connects = sum(int(r[1]) for r in rows if len(r) > 1)
    return {
        "client": "curl, one keep-alive connection",
        "connections": 1,
        "requests": count,
        "created": ok,
        "connections_opened": connects,
        "seconds": seconds,
        "creates_per_s": ok / seconds,
    }


def _python_creates(kubesim: Kubesim, namespace: str, count: int) -> dict[str, Any]:
    api = Api(kubesim)
    pod = driver_pod("x", namespace, {"kubesim.io/run-seconds": "inf"})
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "cap-"
    ok = 0
    t = time.perf_counter()
    for _ in range(count):
        status, _ = api.call("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
        ok += status == 201
    seconds = time.perf_counter() - t
    api.close()
    return {
        "client": "Python http.client, one keep-alive connection",
        "connections": 1,
        "requests": count,
        "created": ok,
        "seconds": seconds,
        "creates_per_s": ok / seconds,
    }


async def _fanout(kubesim: Kubesim, namespace: str, watches: int, probes: int) -> dict[str, Any]:
    url = urllib.parse.urlsplit(kubesim.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    arrivals: dict[str, list[float]] = {}
    ready = 0
    streams = []

    async def open_watch() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port, limit=2**22)
        writer.write(
            (
                f"GET /api/v1/namespaces/{namespace}/pods?watch=1&timeoutSeconds=3600 HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {kubesim.token}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return reader, writer

    async def read(reader: asyncio.StreamReader) -> None:
        seen: set[str] = set()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.perf_counter()
            for i in range(probes):
                name = f"probe-{i:03d}"
                if name not in seen and f'"name":"{name}"'.encode() in chunk:
                    seen.add(name)
                    arrivals.setdefault(name, []).append(now)

    opened = await asyncio.gather(*(open_watch() for _ in range(watches)))
    ready = len(opened)
    tasks = [asyncio.ensure_future(read(r)) for r, _ in opened]
    streams = [w for _, w in opened]
    await asyncio.sleep(1.0)
    rss_with_watches = proc_rss_mb(kubesim.process.pid)
    api = Api(kubesim)
    sent: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    for i in range(probes):
        name = f"probe-{i:03d}"
        pod = driver_pod(name, namespace, {"kubesim.io/run-seconds": "inf"})
        sent[name] = time.perf_counter()
        await loop.run_in_executor(
            None, api.call, "POST", f"/api/v1/namespaces/{namespace}/pods", pod
        )
        await asyncio.sleep(0.25)
    await asyncio.sleep(2.0)
    api.close()
    for w in streams:
        w.close()
    for t in tasks:
        t.cancel()
    latencies = [a - sent[name] for name, times in arrivals.items() for a in times]
    delivered = sum(len(v) for v in arrivals.values())
    return {
        "watches": ready,
        "probes": probes,
        "deliveries": delivered,
        "expected_deliveries": ready * probes,
        "latency_p50_ms": percentile(latencies, 50) * 1e3,
        "latency_p99_ms": percentile(latencies, 99) * 1e3,
        "latency_max_ms": max(latencies) * 1e3 if latencies else None,
        "kubesim_rss_mb_with_watches": rss_with_watches,
    }


def run(*, pods: int, watches: int, probes: int) -> dict[str, Any]:
    """Creates, RSS and fan-out on a fresh kubesim."""
    binary = load_generator()
    if binary is None:
        log(
            "  kubesim: no load generator (make build-release); measuring with Python and curl only"
        )
    kubesim = start_bench_kubesim("capacity")
    try:
        create_namespace(kubesim, "cap")
        create_namespace(kubesim, "fanout")
        create_namespace(kubesim, "fanout-py")
        rss0 = proc_rss_mb(kubesim.process.pid)
        cpu0 = proc_cpu_seconds(kubesim.process.pid)
        # A tenth of the pods from each one-connection client, the rest from the load generator.
        tenth = max(1, pods // 10)
        by_client = [_python_creates(kubesim, "cap", tenth)]
        if shutil.which("curl"):
            by_client.append(_curl_creates(kubesim, "cap", tenth))
        if binary is not None:
            rest = pods - sum(r["requests"] for r in by_client)
            by_client.append(_load_creates(binary, kubesim, "cap", rest // 4, 1))
            by_client.append(_load_creates(binary, kubesim, "cap", rest - rest // 4, 8))
        else:
            by_client.append(_python_creates(kubesim, "cap", pods - 2 * tenth))
        for r in by_client:
            log(f"  kubesim: {r['creates_per_s']:,.0f} pod creates/s ({r['client']})")
        creates = max(by_client, key=lambda r: r["creates_per_s"])
        time.sleep(3)  # let the kubelet start every container
        rss_pods = proc_rss_mb(kubesim.process.pid)
        fan = None
        if binary is not None:
            fan = _load_fanout(binary, kubesim, "fanout", watches, probes)
            log(
                f"  kubesim: fan-out to {watches} watches p99 {fan['latency_p99_ms']:.1f} ms (Rust reader)"
            )
            time.sleep(2)  # until kubesim has seen the load generator's watches closed
        fan_py = asyncio.run(_fanout(kubesim, "fanout-py", watches, probes))
        fan_py["client"] = "one Python asyncio process"
        log(
            f"  kubesim: fan-out to {watches} watches p99 {fan_py['latency_p99_ms']:.1f} ms (Python reader)"
        )
        return {
            "pods": pods,
            "created": sum(r["created"] for r in by_client),
            "creates": creates,
            "creates_by_client": by_client,
            "creates_python_client": by_client[0],
            "kubesim_rss_mb_empty": rss0,
            "kubesim_rss_mb_with_pods": rss_pods,
            "fanout": fan or fan_py,
            "fanout_python_client": fan_py,
            "kubesim_cpu_s": proc_cpu_seconds(kubesim.process.pid) - cpu0,
        }
    finally:
        kubesim.stop()
