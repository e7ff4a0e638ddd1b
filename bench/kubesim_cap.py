"""Scenario 7, kubesim's own capacity, on a kubesim of its own.

- Pod creates per second from one keep-alive client: curl sending the POSTs one after the
  other over one connection (a C client, so the client is not what is measured); pods use
  `generateName` and never exit (`kubesim.io/run-seconds: inf`).
- RSS with that many pods, then with W watches open as well.
- Watch fan-out: W watches on one namespace (asyncio streams in one Python process, reading
  bytes only), then probe pods created one at a time; the latency is from sending the create
  request to each watch receiving the probe's ADDED event (the create itself and the Python
  reader's own delay are included, so this is an upper bound).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from bench.common import (
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
    kubesim = start_bench_kubesim("capacity")
    try:
        create_namespace(kubesim, "cap")
        create_namespace(kubesim, "fanout")
        rss0 = proc_rss_mb(kubesim.process.pid)
        cpu0 = proc_cpu_seconds(kubesim.process.pid)
        warm = _python_creates(kubesim, "cap", 200)
        if shutil.which("curl"):
            creates = _curl_creates(kubesim, "cap", pods - 200)
        else:
            creates = _python_creates(kubesim, "cap", pods - 200)
        log(f"  kubesim: {creates['creates_per_s']:,.0f} pod creates/s ({creates['client']})")
        time.sleep(3)  # let the kubelet start every container
        rss_pods = proc_rss_mb(kubesim.process.pid)
        fan = asyncio.run(_fanout(kubesim, "fanout", watches, probes))
        log(f"  kubesim: fan-out to {watches} watches p99 {fan['latency_p99_ms']:.1f} ms")
        return {
            "pods": pods,
            "creates": creates,
            "creates_python_client": warm,
            "kubesim_rss_mb_empty": rss0,
            "kubesim_rss_mb_with_pods": rss_pods,
            "fanout": fan,
            "kubesim_cpu_s": proc_cpu_seconds(kubesim.process.pid) - cpu0,
        }
    finally:
        kubesim.stop()
