"""kubesim driven by the official Python `kubernetes` client."""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Kubesim


@pytest.fixture
def core(kubesim: Kubesim) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(kubesim.kubeconfig))
    with api_client:
        yield client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    name = f"py-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def pod(name: str, labels: dict[str, str], run_seconds: str = "inf") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kubesim.io/run-seconds": run_seconds},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox:1.36"}],
        },
    }


def test_list_with_selectors_and_pages(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_pod(
            namespace, pod(f"p{i}", {"app": "spark", "role": "driver" if i == 0 else "executor"})
        )
    drivers = core.list_namespaced_pod(namespace, label_selector="app=spark,role in (driver)")
    assert [p.metadata.name for p in drivers.items] == ["p0"]
    executors = core.list_namespaced_pod(namespace, label_selector="role!=driver")
    assert len(executors.items) == 4
    by_name = core.list_namespaced_pod(namespace, field_selector="metadata.name=p3")
    assert [p.metadata.name for p in by_name.items] == ["p3"]
    first = core.list_namespaced_pod(namespace, limit=2)
    assert len(first.items) == 2
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_pod(namespace, limit=10, _continue=first.metadata._continue)
    names = [p.metadata.name for p in first.items + rest.items]
    assert names == [f"p{i}" for i in range(5)]


def test_errors_are_kubernetes_status_objects(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    assert conflict.value.status == 409
    assert '"reason":"AlreadyExists"' in conflict.value.body
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Bad_Name"}})
    assert invalid.value.status == 422
    assert '"field":"metadata.name"' in invalid.value.body
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", namespace)
    assert missing.value.status == 404
    stale = core.read_namespaced_config_map("c", namespace)
    core.patch_namespaced_config_map("c", namespace, {"data": {"k": "v"}})
    with pytest.raises(ApiException) as stale_update:
        core.replace_namespaced_config_map("c", namespace, stale)
    assert stale_update.value.status == 409


def test_watch_resumes_from_a_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("before", {"app": "w"}))
    rv = core.list_namespaced_pod(namespace).metadata.resource_version
    core.create_namespaced_pod(namespace, pod("after", {"app": "w"}))
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_pod, namespace, resource_version=rv, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if event["object"].metadata.name == "after" and event["type"] == "ADDED":
            w.stop()
    assert ("ADDED", "after") in seen
    assert ("ADDED", "before") not in seen


def test_watch_from_a_compacted_version_gets_410(
    kubesim: Kubesim, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "old"}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "new"}})
    kubesim.compact()
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5
        ):
            pass
    assert gone.value.status == 410
    # Relisting gives a fresh version to watch from.
    fresh = core.list_namespaced_config_map(namespace).metadata.resource_version
    assert int(fresh) > int(rv)


def test_a_watch_sees_changes_made_while_it_runs(core: client.CoreV1Api, namespace: str) -> None:
    events: list[str] = []
    w = watch.Watch()

    def run() -> None:
        for event in w.stream(
            core.list_namespaced_pod, namespace, label_selector="app=bg", timeout_seconds=10
        ):
            events.append(f"{event['type']}:{event['object'].status.phase}")
            if event["object"].status.phase == "Succeeded":
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    core.create_namespaced_pod(namespace, pod("bg", {"app": "bg"}, run_seconds="0.5"))
    core.create_namespaced_pod(namespace, pod("other", {"app": "other"}, run_seconds="0.5"))
    t.join(timeout=15)
    assert events[0] == "ADDED:Pending"
    assert "MODIFIED:Running" in events
    assert events[-1] == "MODIFIED:Succeeded"
