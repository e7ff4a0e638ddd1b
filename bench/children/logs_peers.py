"""Reads finished drivers' whole logs (one pod after the other) into Python the ways the peers do, with the official
`kubernetes` client: `watch.Watch().stream(read_namespaced_pod_log)` (spark-on-k8s's
`stream_logs`), and `read_namespaced_pod_log(_preload_content=False)` split into lines
(KubernetesPodOperator's way). Prints one JSON line: lines, bytes and seconds per way.

argv: KUBECONFIG NAMESPACE POD...
"""

from __future__ import annotations

import json
import sys
import time

from kubernetes import client, config, watch


def main() -> None:
    kubeconfig, namespace, pods = sys.argv[1], sys.argv[2], sys.argv[3:]
    api_client = config.new_client_from_config(config_file=kubeconfig)
    v1 = client.CoreV1Api(api_client)
    out = {}

    t = time.perf_counter()
    lines = size = 0
    for pod in pods:
        for line in watch.Watch().stream(v1.read_namespaced_pod_log, name=pod, namespace=namespace):
            lines += 1
            size += len(line)
    out["kubernetes Watch().stream (spark-on-k8s)"] = {
        "lines": lines,
        "chars": size,
        "seconds": time.perf_counter() - t,
    }

    t = time.perf_counter()
    lines = size = 0
    for pod in pods:
        resp = v1.read_namespaced_pod_log(name=pod, namespace=namespace, _preload_content=False)
        rest = b""
        for chunk in resp.stream(65536):
            rest += chunk
            *complete, rest = rest.split(b"\n")
            for raw in complete:
                text = raw.decode("utf-8", errors="backslashreplace")
                lines += 1
                size += len(text)
        if rest:
            lines += 1
            size += len(rest)
        resp.release_conn()
    out["kubernetes raw stream split (KubernetesPodOperator)"] = {
        "lines": lines,
        "chars": size,
        "seconds": time.perf_counter() - t,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
