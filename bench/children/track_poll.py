"""Tracking N drivers by polling each one, as Airflow's `KubernetesPodTrigger` does: per pod,
one GET every POLL_S seconds until its container has terminated, all in one asyncio loop with
kubernetes_asyncio (the client the trigger uses).

Kinder to the API than the trigger itself: one shared ApiClient (keep-alive connections, at
most 100 as kubernetes_asyncio's default), where the trigger's hook opens a client per poll.
Each poller starts at a random point of its first interval, as tasks defer at different times.

`--spark-on-k8s`: instead, spark-on-k8s's own async waiter
(`AsyncSparkAppManager.wait_for_app`, what its Airflow trigger runs), with its default poll
interval of 10 s; it opens one client per application.

Prints READY once every poller is scheduled, then one JSON line.
argv: KUBECONFIG NAMESPACE PODS_FILE TIMEOUT_S POLL_S [--spark-on-k8s]
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import time

from _probe import cpu_seconds, peak_rss_mb
from kubernetes_asyncio import client, config


def finished(pod: client.V1Pod) -> bool:
    for cs in pod.status.container_statuses or []:
        if cs.name == "spark-kubernetes-driver" and cs.state and cs.state.terminated:
            return True
    return pod.status.phase in ("Succeeded", "Failed")


async def main() -> None:
    kubeconfig, namespace, pods_file = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout, poll = float(sys.argv[4]), float(sys.argv[5])
    use_peer = "--spark-on-k8s" in sys.argv
    with open(pods_file) as f:
        pods = json.load(f)
    known: dict[str, float] = {}
    errors: list[str] = []
    logging.disable(logging.INFO)

    if use_peer:
        from spark_on_k8s.k8s.async_client import KubernetesAsyncClientManager
        from spark_on_k8s.utils.async_app_manager import AsyncSparkAppManager

        manager = AsyncSparkAppManager(
            k8s_client_manager=KubernetesAsyncClientManager(config_file=kubeconfig)
        )

        async def one(name: str) -> None:
            await asyncio.sleep(random.uniform(0, poll))
            try:
                await manager.wait_for_app(namespace=namespace, pod_name=name, poll_interval=poll)
            except Exception as e:
                errors.append(repr(e))
            known[name] = time.time()

        api_client = None
    else:
        conf = client.Configuration()
        await config.load_kube_config(config_file=kubeconfig, client_configuration=conf)
        api_client = client.ApiClient(conf)
        v1 = client.CoreV1Api(api_client)

        async def one(name: str) -> None:
            await asyncio.sleep(random.uniform(0, poll))
            while True:
                try:
                    pod = await v1.read_namespaced_pod(name=name, namespace=namespace)
                    if finished(pod):
                        break
                except Exception as e:
                    errors.append(repr(e))
                await asyncio.sleep(poll)
            known[name] = time.time()

    tasks = [asyncio.ensure_future(one(p)) for p in pods]
    await asyncio.sleep(0)
    ready, cpu0 = time.time(), cpu_seconds()
    print(f"READY {ready}", flush=True)
    await asyncio.wait(tasks, timeout=timeout)
    end, cpu1 = time.time(), cpu_seconds()
    for t in tasks:
        t.cancel()
    if api_client is not None:
        await api_client.close()
    print(
        json.dumps(
            {
                "ready": ready,
                "end": end,
                "cpu_s_waiting": cpu1 - cpu0,
                "cpu_s_total": cpu1,
                "max_rss_mb": peak_rss_mb(),
                "known": known,
                "errors": errors[:5],
                "error_count": len(errors),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
