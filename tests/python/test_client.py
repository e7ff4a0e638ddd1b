"""The Python client against kubesim over real HTTP: submit, wait, updates, logs, kill."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from typing import TYPE_CHECKING

import pytest

import sparkube
from sparkube import AppState, Client, Driver, SparkApp

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Kubesim

IMAGE = "apache/spark:4.0.1"


def app(name: str, image: str = IMAGE, **annotations: str) -> SparkApp:
    """A Python app whose simulated driver behaves as the `kubesim.io/*` annotations say."""
    return SparkApp(
        name=name,
        application="local:///opt/spark/examples/src/main/python/pi.py",
        image=image,
        driver=Driver(
            annotations={f"kubesim.io/{k.replace('_', '-')}": v for k, v in annotations.items()}
        ),
    )


@pytest.fixture
def client(kubesim: Kubesim) -> Client:
    return Client(kubeconfig=kubesim.kubeconfig)


def test_submit_and_wait_for_success(client: Client) -> None:
    handle = client.submit(app("ok", run_seconds="1", log="starting\nPi is roughly 3.14"))
    assert handle.app_id.startswith("spark-")
    assert handle.driver_pod.startswith("ok-")
    assert handle.driver_pod.endswith("-driver")
    final = handle.wait(timeout=60)
    assert final.state is AppState.SUCCEEDED
    assert final.exit_code == 0
    assert final.app_id == handle.app_id
    assert list(handle.logs()) == ["starting", "Pi is roughly 3.14"]


def test_logs_async_gives_the_lines_logs_gives(client: Client) -> None:
    lines = [f"line {i}" for i in range(3000)]
    handle = client.submit(app("alogs", run_seconds="1", log="\n".join(lines)))
    handle.wait(timeout=60)

    async def read(**options: int) -> list[str]:
        return [line async for line in handle.logs_async(**options)]

    assert list(handle.logs()) == lines
    assert asyncio.run(read()) == lines
    assert asyncio.run(read(tail=5)) == lines[-5:]


def test_logs_async_follows_a_running_driver_to_its_end(client: Client) -> None:
    lines = [f"step {i}" for i in range(40)]
    handle = client.submit(
        app("afollow", run_seconds="3", log="\n".join(lines), log_interval_ms="50")
    )

    async def follow() -> list[str]:
        return [line async for line in handle.logs_async(follow=True)]

    assert asyncio.run(follow()) == lines


def test_failure_raises_with_exit_code_and_log_tail(client: Client) -> None:
    handle = client.submit(
        app("fails", run_seconds="1", exit_code="3", log="Traceback\nValueError: boom")
    )
    with pytest.raises(sparkube.AppFailed) as failed:
        handle.wait(timeout=60)
    status = failed.value.status
    assert isinstance(status, sparkube.AppStatus)
    assert status.state is AppState.FAILED
    assert status.exit_code == 3
    assert status.reason == "Error"
    assert list(status.last_log_lines)[-1] == "ValueError: boom"


def test_image_pull_failure_fails_the_startup(client: Client) -> None:
    handle = client.submit(app("nopull", image="registry.example/does-not-exist:1"))
    with pytest.raises(sparkube.StartupTimeout) as timeout:
        handle.wait(timeout=120, startup_timeout=60)
    assert timeout.value.status.reason in ("ErrImagePull", "ImagePullBackOff")


def test_wait_timeout_can_kill_the_app(client: Client, kubesim: Kubesim) -> None:
    handle = client.submit(app("slow", run_seconds="600"))
    with pytest.raises(sparkube.WaitTimeout) as timeout:
        handle.wait(timeout=2, kill_on_timeout=True, kill_grace_period=0)
    assert timeout.value.status.state is AppState.RUNNING
    code, _ = kubesim.request("GET", f"/api/v1/namespaces/default/pods/{handle.driver_pod}")
    assert code == 404


def test_updates_end_with_the_final_state(client: Client) -> None:
    handle = client.submit(app("updates", run_seconds="1"))
    states = [status.state for status in handle.updates()]
    assert states[-1] is AppState.SUCCEEDED
    assert AppState.RUNNING in states


def test_kill_deletes_the_driver_and_what_it_owns(client: Client, kubesim: Kubesim) -> None:
    handle = client.submit(app("killed", run_seconds="600"))
    assert handle.kill(grace_period=0, wait=True) is True
    for kind in ("pods", "services", "configmaps"):
        code, listing = kubesim.request(
            "GET",
            f"/api/v1/namespaces/default/{kind}?labelSelector=spark-app-selector%3D{handle.app_id}",
        )
        assert code == 200
        assert listing["items"] == [], kind


def test_repeated_submission_adopts_the_driver(client: Client) -> None:
    submission_id = str(uuid.uuid4())
    spec = app("twice", run_seconds="30")
    spec.submission_id = submission_id
    first = client.submit(spec)
    second = client.submit(spec)
    assert second.adopted
    assert not first.adopted
    assert second.driver_pod == first.driver_pod
    drivers = client.list(selector=f"sparkube.io/submission-id={submission_id}")
    assert [d.driver_pod for d in drivers] == [first.driver_pod]
    first.kill(grace_period=0)


def test_bad_input_is_refused_before_anything_is_sent(client: Client, kubesim: Kubesim) -> None:
    before = kubesim.metric("apiserver_request_total", verb="POST", resource="pods")
    bad = SparkApp(
        name="bad", application="local:///app.py", image=IMAGE, driver=Driver(memory="2 GB")
    )
    with pytest.raises(sparkube.ConfigError) as err:
        client.submit(bad)
    assert "memory" in str(err.value)
    assert kubesim.metric("apiserver_request_total", verb="POST", resource="pods") == before


def test_async_twins_share_one_watch(client: Client) -> None:
    async def run() -> list[AppState]:
        handles = await asyncio.gather(
            *(client.submit_async(app(f"many-{i}", run_seconds="1")) for i in range(20))
        )
        finals = await asyncio.gather(*(h.wait_async(timeout=60) for h in handles))
        return [f.state for f in finals]

    assert asyncio.run(run()) == [AppState.SUCCEEDED] * 20


def test_attach_to_an_existing_driver(client: Client) -> None:
    handle = client.submit(app("attached", run_seconds="1"))
    attached = client.attach(handle.driver_pod, handle.namespace)
    assert attached.app_id == handle.app_id
    assert attached.wait(timeout=60).state is AppState.SUCCEEDED


VOLCANO_STEP = "org.apache.spark.deploy.k8s.features.VolcanoFeatureStep"


def test_volcano_pod_group_comes_before_the_driver_and_goes_with_it(
    kubesim_factory: Callable[..., Kubesim], tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    sim = kubesim_factory("--audit-log-path", str(audit))
    gang = app("gang", run_seconds="30")
    gang = dataclasses.replace(
        gang,
        conf={
            "spark.kubernetes.driver.pod.featureSteps": VOLCANO_STEP,
            "spark.kubernetes.scheduler.name": "volcano",
        },
    )
    handle = Client(kubeconfig=sim.kubeconfig).submit(gang)
    groups = "/apis/scheduling.volcano.sh/v1beta1/namespaces/default/podgroups"
    status, group = sim.request("GET", f"{groups}/{handle.app_id}-podgroup")
    assert status == 200, group
    status, pod = sim.request("GET", f"/api/v1/namespaces/default/pods/{handle.driver_pod}")
    assert status == 200, pod
    owners = [(o["kind"], o["name"], o["uid"]) for o in group["metadata"]["ownerReferences"]]
    assert owners == [("Pod", handle.driver_pod, pod["metadata"]["uid"])]
    assert (
        pod["metadata"]["annotations"]["scheduling.k8s.io/group-name"] == group["metadata"]["name"]
    )
    assert pod["spec"]["schedulerName"] == "volcano"
    # Applied before the pod is created, and again with its owner once the pod exists.
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    writes = [
        (e["verb"], e["objectRef"]["resource"])
        for e in events
        if e["verb"] in ("create", "patch")
        and e.get("objectRef", {}).get("resource") in ("pods", "podgroups")
    ]
    assert writes[:3] == [("patch", "podgroups"), ("create", "pods"), ("patch", "podgroups")]
    # Owned by the driver: deleting it removes the group.
    assert handle.kill(grace_period=0, wait=True)
    deadline = time.monotonic() + 20
    while sim.request("GET", f"{groups}/{handle.app_id}-podgroup")[0] != 404:
        assert time.monotonic() < deadline, "the PodGroup outlived its driver"
        time.sleep(0.2)
