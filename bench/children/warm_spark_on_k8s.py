"""Warm submit in one Python process with spark-on-k8s's `SparkOnK8S.submit_app`: sequential
latency and 8 threads (its client is synchronous). Prints one JSON line.

Its default application id suffix is the current time to the second, so two submissions of
the same name within a second collide (409); each submission here gets a unique suffix through
its own `app_id_suffix` parameter.

argv: KUBECONFIG NAMESPACE N CONCURRENCY
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
import time

from spark_on_k8s.client import SparkOnK8S
from spark_on_k8s.k8s.sync_client import KubernetesClientManager

IMAGE = "apache/spark:4.0.0"
MAIN_CLASS = "org.apache.spark.examples.SparkPi"
JAR = "local:///opt/spark/examples/jars/spark-examples.jar"

_counter = itertools.count()
_lock = threading.Lock()


def suffix() -> str:
    with _lock:
        return f"-{next(_counter):06d}"


def main() -> None:
    kubeconfig, namespace, n, concurrency = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    logging.disable(logging.INFO)
    client = SparkOnK8S(k8s_client_manager=KubernetesClientManager(config_file=kubeconfig))

    def submit(name: str) -> None:
        client.submit_app(
            image=IMAGE,
            app_path=JAR,
            class_name=MAIN_CLASS,
            app_name=name,
            namespace=namespace,
            app_arguments=["100"],
            app_waiter="no_wait",
            app_id_suffix=suffix,
        )

    for k in range(5):
        submit(f"warmup{k}")
    latencies = []
    for _ in range(n):
        t = time.perf_counter()
        submit("seq")
        latencies.append(time.perf_counter() - t)

    per_thread = n // concurrency
    errors: list[str] = []

    def worker(k: int) -> None:
        for _ in range(per_thread):
            try:
                submit(f"thr{k}")
            except Exception as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    threads_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "latencies_s": latencies,
                "concurrent": {
                    "threads": {"submissions": per_thread * concurrency, "seconds": threads_s}
                },
                "errors": errors[:5],
                "error_count": len(errors),
            }
        )
    )


if __name__ == "__main__":
    main()
