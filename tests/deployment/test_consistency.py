"""The pieces of deployment/ agree with each other: names that refer to other objects exist, the
drivers write event logs where the history server reads, versions match the workspace's."""

from __future__ import annotations

import re

import pytest
import tomllib
import yaml
from deployment_support import DEPLOYMENT, REPO, Doc, find, parse_properties, pod_specs, render

WORKSPACE_VERSION = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"][
    "version"
]
# Created out of band in prod (deployment/README.md), and by the overlay in dev.
EXTERNAL_SECRETS = {"s3-credentials"}


def client_defaults(overlay: str, namespace: str) -> dict[str, str]:
    cm = find(render(overlay), "ConfigMap", "sparkube-client", namespace)
    return parse_properties(cm["data"]["spark-defaults.conf"])


def history_env(docs: list[Doc]) -> dict[str, str]:
    return find(docs, "ConfigMap", "spark-event-log", "spark-apps")["data"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_drivers_log_events_where_the_history_server_reads(overlay: str) -> None:
    docs = render(overlay)
    for namespace in ("airflow", "spark-apps"):
        conf = client_defaults(overlay, namespace)
        assert conf["spark.eventLog.enabled"] == "true"
        assert conf["spark.eventLog.dir"] == history_env(docs)["SPARK_EVENT_LOG_DIR"]
        assert conf.get("spark.hadoop.fs.s3a.endpoint", "") == history_env(docs)["S3_ENDPOINT"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_client_defaults_name_what_the_overlay_creates(overlay: str) -> None:
    docs = render(overlay)
    conf = client_defaults(overlay, "spark-apps")
    assert conf == client_defaults(overlay, "airflow")
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    assert conf["spark.kubernetes.namespace"] == "spark-apps"
    assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] in accounts
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] in accounts
    # Credentials only through secretKeyRef, never as values.
    assert not [k for k in conf if re.search(r"secret\.key|access\.key|password|token", k)]
    refs = [k for k in conf if ".secretKeyRef." in k]
    assert len(refs) == 4
    assert {conf[k].split(":")[0] for k in refs} == {"s3-credentials"}
    image = conf["spark.kubernetes.container.image"]
    assert image == f"sparkube/spark-app-example:{WORKSPACE_VERSION}"
    assert (
        conf["spark.kubernetes.driver.podTemplateFile"] == "/etc/sparkube/pod-templates/driver.yaml"
    )
    assert (
        conf["spark.kubernetes.executor.podTemplateFile"]
        == "/etc/sparkube/pod-templates/executor.yaml"
    )


def test_dev_and_prod_pod_templates_are_the_same() -> None:
    for name in ("driver-template.yaml", "executor-template.yaml"):
        dev = (DEPLOYMENT / "overlays/dev/client" / name).read_text()
        assert dev == (DEPLOYMENT / "overlays/prod/client" / name).read_text()


def _mounted_client_paths(spec: Doc) -> set[str]:
    """Files a pod sees under /etc/sparkube from the ConfigMap sparkube-client."""
    volumes = {
        v["name"]: v["configMap"]
        for v in spec.get("volumes") or []
        if (v.get("configMap") or {}).get("name") == "sparkube-client"
    }
    paths = set()
    for c in spec["containers"]:
        for m in c.get("volumeMounts") or []:
            if m["name"] in volumes:
                paths |= {f"{m['mountPath']}/{i['path']}" for i in volumes[m["name"]]["items"]}
    return paths


@pytest.mark.parametrize(
    ("overlay", "workloads"),
    [("dev", ["airflow-scheduler", "airflow-triggerer"]), ("job", ["spark-pi-submit"])],
)
def test_submitters_see_the_client_files(overlay: str, workloads: list[str]) -> None:
    wanted = {
        "/etc/sparkube/spark-defaults.conf",
        "/etc/sparkube/pod-templates/driver.yaml",
        "/etc/sparkube/pod-templates/executor.yaml",
    }
    for name in workloads:
        kind = "Job" if overlay == "job" else "Deployment"
        doc = find(render(overlay), kind, name)
        spec = pod_specs(doc)[0]
        assert _mounted_client_paths(spec) == wanted
        assert spec["serviceAccountName"] == "sparkube-submitter"


def test_submit_job_arguments() -> None:
    job = find(render("job"), "Job", "spark-pi-submit", "spark-apps")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "submit"
    assert args[args.index("--properties-file") + 1] == "/etc/sparkube/spark-defaults.conf"
    assert "sparkube.submission.id=$(JOB_UID)" in args
    assert args[-2:] == ["local:///opt/sparkube/apps/pi.py", "100"]
    assert (DEPLOYMENT / "images/spark-app-example/apps/pi.py").is_file()


def _referenced(docs: list[Doc]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of ConfigMaps, Secrets, PVCs and accounts the workloads use."""
    refs = set()
    for d in docs:
        ns = d["metadata"].get("namespace")
        for spec in pod_specs(d):
            refs.add(("ServiceAccount", ns, spec.get("serviceAccountName", "default")))
            for v in spec.get("volumes") or []:
                if "configMap" in v:
                    refs.add(("ConfigMap", ns, v["configMap"]["name"]))
                if "secret" in v:
                    refs.add(("Secret", ns, v["secret"]["secretName"]))
                if "persistentVolumeClaim" in v:
                    refs.add(("PersistentVolumeClaim", ns, v["persistentVolumeClaim"]["claimName"]))
            for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
                for e in c.get("env") or []:
                    src = e.get("valueFrom") or {}
                    if "configMapKeyRef" in src:
                        refs.add(("ConfigMap", ns, src["configMapKeyRef"]["name"]))
                    if "secretKeyRef" in src:
                        refs.add(("Secret", ns, src["secretKeyRef"]["name"]))
                for e in c.get("envFrom") or []:
                    if "configMapRef" in e:
                        refs.add(("ConfigMap", ns, e["configMapRef"]["name"]))
                    if "secretRef" in e:
                        refs.add(("Secret", ns, e["secretRef"]["name"]))
    return refs


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_reference_resolves(overlay: str) -> None:
    docs = render(overlay)
    present = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs}
    missing = {
        r
        for r in _referenced(docs)
        if r not in present
        and not (r[0] == "Secret" and r[2] in EXTERNAL_SECRETS and overlay == "prod")
    }
    assert missing == set()


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_ingress_backends_exist(overlay: str) -> None:
    docs = render(overlay)
    for ing in (d for d in docs if d["kind"] == "Ingress"):
        ns = ing["metadata"]["namespace"]
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = find(docs, "Service", backend["name"], ns)
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_dags_volume_matches_the_kind_mount() -> None:
    pv = find(render("dev"), "PersistentVolume", "sparkube-dev-dags")
    kind = yaml.safe_load((DEPLOYMENT / "overlays/dev/kind-config.yaml").read_text())
    mounts = kind["nodes"][0]["extraMounts"]
    assert [m["containerPath"] for m in mounts] == [pv["spec"]["hostPath"]["path"]]
    assert mounts[0]["hostPath"] == "${REPO}/dags"


def test_our_images_carry_the_workspace_version() -> None:
    ours = {
        c["image"]
        for name in ("base", "dev", "prod", "job")
        for d in render(name)
        for spec in pod_specs(d)
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]
        if c["image"].startswith("sparkube/")
    }
    assert ours
    assert {i.rsplit(":", 1)[1] for i in ours} == {WORKSPACE_VERSION}


def test_skaffold_builds_every_image_the_manifests_use() -> None:
    skaffold = yaml.safe_load((DEPLOYMENT / "skaffold.yaml").read_text())
    artifacts = {a["image"]: a for a in skaffold["build"]["artifacts"]}
    assert skaffold["build"]["tagPolicy"]["envTemplate"]["template"] == WORKSPACE_VERSION
    used = {
        c["image"].rsplit(":", 1)[0]
        for name in ("dev", "job")
        for d in render(name)
        for spec in pod_specs(d)
        for c in spec["containers"]
        if c["image"].startswith("sparkube/")
    }
    used.add("sparkube/spark-app-example")  # named in spark-defaults.conf
    assert used <= set(artifacts)
    for image, artifact in artifacts.items():
        context = DEPLOYMENT / artifact.get("context", ".")
        dockerfile = context / (artifact.get("docker") or {}).get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), image
        text = dockerfile.read_text()
        for req in artifact.get("requires") or []:
            assert req["image"] in artifacts
            assert re.search(rf"^ARG {req['alias']}=", text, re.MULTILINE), (image, req)
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    assert skaffold["manifests"]["kustomize"]["paths"] == ["overlays/dev"]
    assert profiles["prod"]["manifests"]["kustomize"]["paths"] == ["overlays/prod"]


def test_helm_values_use_what_the_prod_overlay_creates() -> None:
    values = yaml.safe_load((DEPLOYMENT / "overlays/prod/airflow/values.yaml").read_text())
    docs = render("prod")
    submitter = find(docs, "ServiceAccount", "sparkube-submitter", "airflow")
    for component in ("workers", "triggerer"):
        assert values[component]["serviceAccount"] == {
            "create": False,
            "name": submitter["metadata"]["name"],
        }
        volume = values[component]["extraVolumes"][0]
        find(docs, "ConfigMap", volume["configMap"]["name"], "airflow")
        assert values[component]["extraVolumeMounts"][0]["mountPath"] == "/etc/sparkube"
    assert {"name": "SPARK_CONF_DIR", "value": "/etc/sparkube"} in values["env"]
    assert values["images"]["airflow"]["tag"] == WORKSPACE_VERSION
    assert values["airflowVersion"] == "3.3.2"
    assert "{app_id}" in values["config"]["sparkube"]["spark_ui_url_template"]


def test_dev_airflow_settings() -> None:
    docs = render("dev")
    config = find(docs, "ConfigMap", "airflow-config", "airflow")["data"]
    assert config["SPARK_CONF_DIR"] == "/etc/sparkube"
    ui = config["AIRFLOW__SPARKUBE__SPARK_UI_URL_TEMPLATE"]
    hosts = {r["host"] for d in docs if d["kind"] == "Ingress" for r in d["spec"]["rules"]}
    assert ui.split("/")[2] in hosts
    assert config["AIRFLOW__SPARKUBE__SPARK_HISTORY_URL_TEMPLATE"].split("/")[2] in hosts
    conn = config["AIRFLOW_CONN_KUBERNETES_DEFAULT"]
    assert yaml.safe_load(conn)["extra"] == {"in_cluster": True, "namespace": "spark-apps"}
    components = {
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["namespace"] == "airflow"
    }
    assert components == {
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-postgres",
    }


def test_history_server_reads_from_the_pvc_with_the_component() -> None:
    docs = render("components")
    env = history_env(docs)
    assert env["SPARK_EVENT_LOG_DIR"] == "file:///spark-events"
    deployment = find(docs, "Deployment", "spark-history-server", "spark-apps")
    spec = deployment["spec"]["template"]["spec"]
    assert {"name": "spark-events", "mountPath": "/spark-events", "readOnly": True} in spec[
        "containers"
    ][0]["volumeMounts"]
    assert "s3-credentials" not in yaml.safe_dump(deployment)
    find(docs, "PersistentVolumeClaim", "spark-events", "spark-apps")


def test_prod_enforces_restricted_pod_security() -> None:
    labels = find(render("prod"), "Namespace", "spark-apps")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    base = find(render("base"), "Namespace", "spark-apps")["metadata"]["labels"]
    assert base["pod-security.kubernetes.io/enforce"] == "baseline"
    assert base["pod-security.kubernetes.io/warn"] == "restricted"
