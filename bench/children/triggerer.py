"""An Airflow triggerer's work for N deferred tasks: N `SparkAppTrigger`s, each `run()` in one
asyncio loop of one process as the triggerer runs them, on the `kubernetes_default` connection
(from AIRFLOW_CONN_KUBERNETES_DEFAULT). Prints READY once every trigger is running, then one
JSON line with when each trigger fired its event.

argv: NAMESPACE PODS_FILE TIMEOUT_S
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from _probe import cpu_seconds, peak_rss_mb

from sparkube.airflow.triggers import SparkAppTrigger


async def main() -> None:
    namespace, pods_file, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(pods_file) as f:
        pods = json.load(f)
    rss_after_import = peak_rss_mb()
    known: dict[str, float] = {}
    outcomes: dict[str, Any] = {}
    triggers = [SparkAppTrigger(namespace=namespace, driver_pod=p) for p in pods]

    async def one(trigger: SparkAppTrigger) -> None:
        async for event in trigger.run():
            known[trigger.driver_pod] = time.time()
            outcomes[trigger.driver_pod] = event.payload.get("status")
            break

    tasks = [asyncio.ensure_future(one(t)) for t in triggers]
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
                "rss_after_import_mb": rss_after_import,
                "known": known,
                "states": outcomes,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
