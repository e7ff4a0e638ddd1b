"""deployment/ running, not only validated: `kubectl apply -k` of the dev overlay (as
deployment/overlays/kubesim adapts it) on kubesim's process runtime brings up MinIO (moto), its
bucket Job, the Spark History Server (Spark's own, from pyspark) and the Spark UI proxy, checked
with kubectl (`rollout status`) and with the Python Kubernetes client.
"""

from __future__ import annotations

import urllib.request
import xml.etree.ElementTree as ET

import kubernetes
from overlay_support import NS, RUNNING, Overlay, overlay, requires_process_runtime

from tests.conftest import wait_until

__all__ = ["overlay"]

pytestmark = requires_process_runtime


def test_every_deployment_rolls_out(overlay: Overlay) -> None:
    for namespace, names in RUNNING.items():
        for name in names:
            out = overlay.kubectl(
                "-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=120s"
            )
            assert f'deployment "{name}" successfully rolled out' in out
    out = overlay.kubectl(
        "-n", "minio", "wait", "--for=condition=complete", "job/minio-buckets", "--timeout=120s"
    )
    assert "condition met" in out
    logs = overlay.kubectl("-n", "minio", "logs", "job/minio-buckets")
    assert "buckets spark-events and spark-data ready for sparkube-spark" in logs


def test_python_client_sees_deployments_own_replicasets_own_pods(overlay: Overlay) -> None:
    client = kubernetes.config.new_client_from_config(config_file=str(overlay.kubesim.kubeconfig))
    apps, core = kubernetes.client.AppsV1Api(client), kubernetes.client.CoreV1Api(client)
    for namespace, names in RUNNING.items():
        for name in names:

            def ready(namespace: str = namespace, name: str = name) -> bool:
                d = apps.read_namespaced_deployment(name, namespace)
                return bool(
                    d.status.observed_generation == d.metadata.generation
                    and d.status.available_replicas == d.spec.replicas == 1
                )

            wait_until(f"{namespace}/{name} available", ready, timeout=120, interval=1)
            deployment = apps.read_namespaced_deployment(name, namespace)
            conditions = {c.type: c.reason for c in deployment.status.conditions}
            assert conditions == {
                "Available": "MinimumReplicasAvailable",
                "Progressing": "NewReplicaSetAvailable",
            }
            (rs,) = [
                r
                for r in apps.list_namespaced_replica_set(namespace).items
                if r.metadata.owner_references[0].uid == deployment.metadata.uid
            ]
            owner = rs.metadata.owner_references[0]
            assert (owner.kind, owner.controller) == ("Deployment", True)
            assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
            hash_label = rs.metadata.labels["pod-template-hash"]
            assert rs.metadata.name == f"{name}-{hash_label}"
            pods = core.list_namespaced_pod(
                namespace, label_selector=f"pod-template-hash={hash_label}"
            ).items
            assert [p.metadata.owner_references[0].uid for p in pods] == [rs.metadata.uid]
            assert pods[0].status.phase == "Running"
    # Airflow has no image stand-in here: its Deployments are scaled to zero, not failing.
    airflow = apps.list_namespaced_deployment("airflow").items
    assert airflow
    assert all(d.spec.replicas == 0 for d in airflow)
    assert not core.list_namespaced_pod("airflow").items


def test_components_answer(overlay: Overlay) -> None:
    overlay.kubectl(
        "-n", "minio", "wait", "--for=condition=complete", "job/minio-buckets", "--timeout=120s"
    )
    # ListBuckets (moto does not check signatures, as MinIO would).
    with urllib.request.urlopen(f"http://{overlay.pod_ip('minio', 'minio')}:9000/") as resp:
        listing = ET.fromstring(resp.read())
    buckets = {e.text for e in listing.iter() if e.tag.endswith("}Name") or e.tag == "Name"}
    assert buckets == {"spark-events", "spark-data"}
    history = f"http://{overlay.pod_ip(NS, 'spark-history-server')}:18080"
    url = f"{history}/api/v1/applications"
    wait_until("the history server", lambda: overlay.get_json(url) is not None, 60, 1)
    assert isinstance(overlay.get_json(url), list)
    proxy = f"http://{overlay.pod_ip(NS, 'spark-ui-proxy')}:8080"
    with urllib.request.urlopen(f"{proxy}/healthz", timeout=10) as resp:
        assert (resp.status, resp.read()) == (200, b"ok\n")
