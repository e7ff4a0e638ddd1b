"""sparkube's awaitables under asyncio: many at once, cancelled, across loops and threads, and a
process that leaves `asyncio.run` with thousands of them cancelled exits cleanly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from typing import TYPE_CHECKING

from sparkube import AppState, Client, Driver, SparkApp

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Kubesim

IMAGE = "apache/spark:4.0.1"


def drivers(kubesim: Kubesim, namespace: str, count: int, run_seconds: str) -> list[str]:
    """`count` driver pods as spark-submit labels them, created straight through the API."""
    assert (
        kubesim.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})[0] == 201
    )
    names = []
    for i in range(count):
        name = f"drv-{i}"
        pod = {
            "metadata": {
                "name": name,
                "labels": {"spark-role": "driver", "spark-app-selector": f"spark-{i:032d}"},
                "annotations": {"kubesim.io/run-seconds": run_seconds},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "spark-kubernetes-driver", "image": IMAGE}],
            },
        }
        status, body = kubesim.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
        assert status == 201, body
        names.append(name)
    return names


CANCEL_AND_LEAVE = """
import asyncio, sys
import sparkube

async def main(kubeconfig, namespace, names):
    client = sparkube.Client(kubeconfig=kubeconfig, namespace=namespace)
    handles = await asyncio.gather(*(client.attach_async(n) for n in names))
    waits = [asyncio.ensure_future(h.wait_async()) for h in handles]
    await asyncio.sleep(1)
    assert not any(w.done() for w in waits)
    for w in waits:
        w.cancel()
    print("cancelled", len(waits), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
"""


def test_leaving_asyncio_run_with_thousands_of_cancelled_waits_exits_cleanly(
    kubesim_factory: Callable[..., Kubesim],
) -> None:
    # A server of its own, with room for 2,000 running drivers on its one node.
    kubesim = kubesim_factory(
        "--node-pods", "5000", "--node-cpu", "5000", "--node-memory", "5000Gi"
    )
    namespace = f"aio-{uuid.uuid4().hex[:8]}"
    names = drivers(kubesim, namespace, 2000, "3600")
    # The crash this guards against (a Rust thread taking the GIL after the interpreter had
    # finalized) came in about one exit out of ten: several rounds.
    for _ in range(6):
        proc = subprocess.run(
            [sys.executable, "-c", CANCEL_AND_LEAVE, str(kubesim.kubeconfig), namespace, *names],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (proc.returncode, proc.stdout.strip()) == (0, "cancelled 2000"), proc.stderr[-3000:]


def test_many_waits_end_together_in_one_loop(kubesim: Kubesim) -> None:
    namespace = f"aio-{uuid.uuid4().hex[:8]}"
    names = drivers(kubesim, namespace, 300, "2")
    client = Client(kubeconfig=kubesim.kubeconfig, namespace=namespace)

    async def run() -> list[AppState]:
        handles = await asyncio.gather(*(client.attach_async(n) for n in names))
        finals = await asyncio.gather(*(h.wait_async(timeout=60) for h in handles))
        return [f.state for f in finals]

    assert asyncio.run(run()) == [AppState.SUCCEEDED] * len(names)


def test_awaitables_in_successive_loops_and_in_threads_with_loops_of_their_own(
    kubesim: Kubesim,
) -> None:
    client = Client(kubeconfig=kubesim.kubeconfig)
    app = SparkApp(
        name="aio",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        image=IMAGE,
        driver=Driver(annotations={"kubesim.io/run-seconds": "1"}),
    )

    async def submit_and_wait() -> AppState:
        handle = await client.submit_async(app)
        return (await handle.wait_async(timeout=60)).state

    # A new loop each time: each gets its own inbox; a closed loop's is not reused.
    for _ in range(3):
        assert asyncio.run(submit_and_wait()) is AppState.SUCCEEDED

    results: list[AppState | BaseException] = []

    def in_thread() -> None:
        try:
            results.append(asyncio.run(submit_and_wait()))
        except BaseException as e:  # reported below, with the others
            results.append(e)

    threads = [threading.Thread(target=in_thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [AppState.SUCCEEDED] * 4


def test_a_cancelled_wait_ends_and_the_others_go_on(kubesim: Kubesim) -> None:
    namespace = f"aio-{uuid.uuid4().hex[:8]}"
    [long] = drivers(kubesim, namespace, 1, "3600")
    [short] = drivers(kubesim, f"{namespace}-short", 1, "1")
    client = Client(kubeconfig=kubesim.kubeconfig)

    async def run() -> tuple[bool, AppState]:
        never = asyncio.ensure_future((await client.attach_async(long, namespace)).wait_async())
        ends = await client.attach_async(short, f"{namespace}-short")
        await asyncio.sleep(0.5)
        never.cancel()
        final = await ends.wait_async(timeout=60)
        return never.cancelled(), final.state

    assert asyncio.run(run()) == (True, AppState.SUCCEEDED)
