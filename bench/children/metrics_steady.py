"""Tracking N running drivers with one `sparkube.Client` while nothing changes: the metrics
read before and after a quiet hold, and the CPU spent meanwhile. Prints one JSON line.

argv: KUBECONFIG NAMESPACE PODS_FILE HOLD_S
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from _probe import cpu_seconds

import sparkube


def values(client: sparkube.Client) -> dict[str, float]:
    return {
        f"{s['name']}{sorted(s['labels'].items())}": s["value"]
        for family in client.metrics()
        for s in family["samples"]
    }


async def main() -> None:
    kubeconfig, namespace, pods_file, hold = sys.argv[1:5]
    with open(pods_file) as f:
        pods = json.load(f)
    client = sparkube.Client(kubeconfig=kubeconfig, namespace=namespace)
    handles = await asyncio.gather(*(client.attach_async(p, namespace) for p in pods))
    running = 0

    async def until_running(handle: sparkube.SparkAppHandle) -> None:
        nonlocal running
        async for status in handle.updates_async():
            if status.state is sparkube.AppState.RUNNING:
                running += 1
                return

    await asyncio.gather(*(until_running(h) for h in handles))
    # Keep every app tracked (a wait each) through the hold.
    waits = [asyncio.ensure_future(h.wait_async()) for h in handles]
    await asyncio.sleep(1)
    before, cpu0, t0 = values(client), cpu_seconds(), time.monotonic()
    await asyncio.sleep(float(hold))
    after, cpu1, t1 = values(client), cpu_seconds(), time.monotonic()
    for w in waits:
        w.cancel()
    changed = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    print(
        json.dumps(
            {
                "tracked": len(handles),
                "running": running,
                "hold_s": t1 - t0,
                "cpu_s_hold": cpu1 - cpu0,
                "metrics_changed": changed,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
