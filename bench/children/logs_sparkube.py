"""Reads finished drivers' whole logs into Python with sparkube: `handle.logs()` (a blocking
iterator) and `handle.logs_async()`, one pod after the other. Prints one JSON line: lines,
characters and seconds per way.

`logs_async()` stops after ASYNC_MAX_LINES lines (0: no limit), as it is much slower.

argv: KUBECONFIG NAMESPACE ASYNC_MAX_LINES POD...
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import sparkube


def main() -> None:
    kubeconfig, namespace, cap, pods = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    client = sparkube.Client(kubeconfig=kubeconfig, namespace=namespace)
    handles = [client.attach(pod, namespace) for pod in pods]
    out = {}
    t = time.perf_counter()
    lines = size = 0
    for handle in handles:
        for line in handle.logs():
            lines += 1
            size += len(line)
    out["sparkube logs()"] = {"lines": lines, "chars": size, "seconds": time.perf_counter() - t}

    async def read_async() -> tuple[int, int]:
        lines = size = 0
        for handle in handles:
            async for line in handle.logs_async():
                lines += 1
                size += len(line)
                if lines == cap:
                    return lines, size
        return lines, size

    t = time.perf_counter()
    lines, size = asyncio.run(read_async())
    out["sparkube logs_async()"] = {
        "lines": lines,
        "chars": size,
        "seconds": time.perf_counter() - t,
        "stopped_at": cap or None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
