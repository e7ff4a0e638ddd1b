"""Where the memory of N waiting applications goes: waiters are added STEP at a time (each
one waiting on a driver pod that does not end), and after each step the process reports its
RSS, what Python allocated (tracemalloc, when TRACE=1) and what the C heap holds (glibc's
mallinfo2: bytes in use, and bytes held but free).

MODE `trigger`: `SparkAppTrigger.run()` per pod, as the triggerer runs them (on the
`kubernetes_default` connection); MODE `client`: one `sparkube.Client`, `attach_async` then
`wait_async` per pod.

argv: MODE NAMESPACE PODS_FILE STEP [KUBECONFIG]
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import sys
import tracemalloc
from typing import Any

TRACE = os.environ.get("TRACE") == "1"
if TRACE:
    tracemalloc.start(1)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _c_heap() -> dict[str, float]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    mb = 2**20
    return {
        "c_heap_in_use_mb": (m.uordblks + m.hblkhd) / mb,
        "c_heap_free_mb": m.fordblks / mb,
    }


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(n: int, label: str) -> dict[str, Any]:
    gc.collect()
    row: dict[str, Any] = {
        "n": n,
        "at": label,
        "rss_mb": _status_mb("VmRSS"),
        "peak_rss_mb": _status_mb("VmHWM"),
        **_c_heap(),
    }
    if TRACE:
        row["python_traced_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
    row["threads"] = len(os.listdir("/proc/self/task"))
    row["open_fds"] = len(os.listdir("/proc/self/fd"))
    return row


async def main() -> None:
    mode, namespace, pods_file, step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(pods_file) as f:
        pods: list[str] = json.load(f)
    rows = [measure(0, "start")]
    if mode == "trigger":
        from sparkube.airflow.triggers import SparkAppTrigger
    import sparkube

    rows.append(measure(0, "imported"))
    client = (
        sparkube.Client(kubeconfig=sys.argv[5], namespace=namespace) if mode == "client" else None
    )
    tasks: list[asyncio.Future[Any]] = []
    attached: list[Any] = []

    async def one_trigger(pod: str) -> None:
        trigger = SparkAppTrigger(namespace=namespace, driver_pod=pod)
        attached.append(trigger)
        async for _ in trigger.run():
            break

    async def one_client(pod: str) -> None:
        assert client is not None
        handle = await client.attach_async(pod, namespace)
        attached.append(handle)
        await handle.wait_async()

    one = one_trigger if mode == "trigger" else one_client
    for k in range(0, len(pods), step):
        tasks += [asyncio.ensure_future(one(p)) for p in pods[k : k + step]]
        for _ in range(400):
            await asyncio.sleep(0.05)
            ready = (
                sum(t._handle is not None for t in attached) if mode == "trigger" else len(attached)
            )
            if ready >= len(tasks):
                break
        await asyncio.sleep(0.5)
        rows.append(measure(len(tasks), "waiting"))
    top: list[str] = []
    if TRACE:
        snapshot = tracemalloc.take_snapshot()
        top = [str(s) for s in snapshot.statistics("lineno")[:25]]
    print(json.dumps({"rows": rows, "top": top}), flush=True)
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
