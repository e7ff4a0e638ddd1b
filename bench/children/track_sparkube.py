"""Tracking N drivers with one `sparkube.Client`: N `wait_async` in one asyncio loop (the
core's shared watch). Prints READY when every handle is attached and waiting, then one JSON
line with when each wait returned.

argv: KUBECONFIG NAMESPACE PODS_FILE TIMEOUT_S
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from _probe import cpu_seconds, peak_rss_mb

import sparkube


async def main() -> None:
    kubeconfig, namespace, pods_file, timeout = (
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        float(sys.argv[4]),
    )
    with open(pods_file) as f:
        pods = json.load(f)
    client = sparkube.Client(kubeconfig=kubeconfig, namespace=namespace)
    handles = await asyncio.gather(*(client.attach_async(p, namespace) for p in pods))
    known: dict[str, float] = {}
    states: dict[str, str] = {}

    async def one(handle: sparkube.SparkAppHandle) -> None:
        try:
            status = await handle.wait_async()
            states[handle.driver_pod] = status.state.value
        except sparkube.SparkubeError as e:
            states[handle.driver_pod] = type(e).__name__
        known[handle.driver_pod] = time.time()

    tasks = [asyncio.ensure_future(one(h)) for h in handles]
    await asyncio.sleep(0)
    ready, cpu0 = time.time(), cpu_seconds()
    print(f"READY {ready}", flush=True)
    await asyncio.wait(tasks, timeout=timeout)
    end, cpu1 = time.time(), cpu_seconds()
    print(
        json.dumps(
            {
                "ready": ready,
                "end": end,
                "cpu_s_waiting": cpu1 - cpu0,
                "cpu_s_total": cpu1,
                "max_rss_mb": peak_rss_mb(),
                "known": known,
                "states": states,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
