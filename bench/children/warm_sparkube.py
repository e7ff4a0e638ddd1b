"""Warm submit in one Python process with `sparkube.Client`: sequential latency, 8 threads,
and 8 asyncio tasks on `submit_async`. Also `sparkube.render` in process. Prints one JSON line.

argv: KUBECONFIG NAMESPACE N CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import sparkube

IMAGE = "apache/spark:4.0.0"
MAIN_CLASS = "org.apache.spark.examples.SparkPi"
JAR = "local:///opt/spark/examples/jars/spark-examples.jar"


def args(master: str, namespace: str, name: str) -> list[str]:
    return [
        "--master", f"k8s://{master}", "--deploy-mode", "cluster", "--name", name,
        "--class", MAIN_CLASS,
        "--conf", f"spark.kubernetes.container.image={IMAGE}",
        "--conf", f"spark.kubernetes.namespace={namespace}",
        JAR, "100",
    ]  # fmt: skip


def main() -> None:
    kubeconfig, namespace, n, concurrency = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    client = sparkube.Client(kubeconfig=kubeconfig, namespace=namespace)
    master = client.cluster_url
    for i in range(5):
        client.submit(args(master, namespace, f"warmup-{i}"))

    render_args = args(master, namespace, "render")
    render_us = []
    for _ in range(1000):
        t = time.perf_counter()
        sparkube.render(render_args)
        render_us.append((time.perf_counter() - t) * 1e6)

    latencies = []
    for i in range(n):
        a = args(master, namespace, f"seq-{i}")
        t = time.perf_counter()
        client.submit(a)
        latencies.append(time.perf_counter() - t)

    per_thread = n // concurrency
    errors: list[str] = []

    def worker(k: int) -> None:
        for j in range(per_thread):
            try:
                client.submit(args(master, namespace, f"thr-{k}-{j}"))
            except Exception as e:  # recorded, not hidden
                errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    threads_s = time.perf_counter() - t

    async def async_worker(k: int) -> None:
        for j in range(per_thread):
            try:
                await client.submit_async(args(master, namespace, f"aio-{k}-{j}"))
            except Exception as e:
                errors.append(repr(e))

    async def all_async() -> float:
        t = time.perf_counter()
        await asyncio.gather(*(async_worker(k) for k in range(concurrency)))
        return time.perf_counter() - t

    async_s = asyncio.run(all_async())
    total = per_thread * concurrency
    print(
        json.dumps(
            {
                "latencies_s": latencies,
                "render_us": render_us,
                "concurrent": {
                    "threads": {"submissions": total, "seconds": threads_s},
                    "asyncio": {"submissions": total, "seconds": async_s},
                },
                "errors": errors[:5],
                "error_count": len(errors),
            }
        )
    )


if __name__ == "__main__":
    main()
