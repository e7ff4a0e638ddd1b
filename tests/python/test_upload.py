"""Local files uploaded to `spark.kubernetes.file.upload.path`: a real S3 server process (moto,
the `s3_server` fixture) and a shared folder (`file://`), with kubesim over real HTTP.

What spark-submit does (the rewritten URIs) is checked against spark-submit itself in
tests/parity; here: the objects land in the store with the right bytes, an unchanged file is
not sent again, a large file goes in parts, and failures leave neither a driver nor uploads.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import sparkube
from sparkube import Client, Deps, Driver, SparkApp

if TYPE_CHECKING:
    from tests.conftest import Kubesim, S3Server

IMAGE = "apache/spark:4.0.1"
SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
PART = 8 * 1024 * 1024


@pytest.fixture
def client(kubesim: Kubesim) -> Client:
    return Client(kubeconfig=kubesim.kubeconfig)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A script, a package and an archive, as a notebook user has them."""
    (tmp_path / "shapes").mkdir()
    (tmp_path / "job.py").write_text("import shapes\nprint(shapes.square(3))\n")
    (tmp_path / "shapes" / "__init__.py").write_text("def square(x):\n    return x * x\n")
    (tmp_path / "env.tar.gz").write_bytes(b"stand-in archive " * 100)
    return tmp_path


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"uploads-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name


def app(conf: dict[str, str], deps: Deps | None = None) -> SparkApp:
    return SparkApp(
        name="upload",
        application="job.py",
        image=IMAGE,
        deps=deps or Deps(py_files=["shapes/"], archives=["env.tar.gz#environment"]),
        driver=Driver(annotations={"kubesim.io/run-seconds": "1"}),
        conf=conf,
    )


def spark_properties(kubesim: Kubesim, namespace: str, driver_pod: str) -> str:
    """The driver's spark.properties, from its ConfigMap in kubesim."""
    status, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert status == 200, body
    for item in body["items"]:
        owners = item["metadata"].get("ownerReferences", [])
        if any(o["name"] == driver_pod for o in owners) and "spark.properties" in item.get(
            "data", {}
        ):
            return str(item["data"]["spark.properties"])
    raise AssertionError(f"no driver ConfigMap of {driver_pod}")


def test_s3_upload_is_sent_once_and_named_in_the_conf(
    client: Client, kubesim: Kubesim, s3_server: S3Server, bucket: str, project: Path
) -> None:
    conf = s3_server.conf(f"s3a://{bucket}/apps")
    handle = client.submit(app(conf), base_dir=project)
    keys = s3_server.keys(bucket)
    names = sorted(k.rsplit("/", 1)[1] for k in keys)
    assert names == ["env.tar.gz", "job.py", "shapes.zip"]
    assert all(k.startswith("apps/spark-upload-") for k in keys)
    assert sorted(handle.uploads) == sorted(f"s3a://{bucket}/{k}" for k in keys)
    (job_key,) = [k for k in keys if k.endswith("/job.py")]
    status, body = s3_server.request("GET", f"/{bucket}/{job_key}")
    assert (status, body) == (200, (project / "job.py").read_bytes())
    props = spark_properties(kubesim, handle.namespace, handle.driver_pod)
    (archive_key,) = [k for k in keys if k.endswith("env.tar.gz")]
    assert f"spark.archives=s3a\\://{bucket}/{archive_key}\\#environment" in props

    # The same files again: found by their names (HEAD), nothing sent, same URIs.
    again = client.submit(app(conf), base_dir=project)
    assert again.uploads == []
    assert s3_server.keys(bucket) == keys
    assert f"{archive_key}\\#environment" in spark_properties(
        kubesim, again.namespace, again.driver_pod
    )
    # A changed file is a new object; the others stay as they are.
    (project / "job.py").write_text("print('changed')\n")
    changed = client.submit(app(conf), base_dir=project)
    assert [u.rsplit("/", 1)[1] for u in changed.uploads] == ["job.py"]
    assert len(s3_server.keys(bucket)) == 4


def test_a_large_file_goes_in_parts_with_the_same_bytes(
    client: Client, s3_server: S3Server, bucket: str, project: Path
) -> None:
    # Not a multiple of the part size, so that the last part is short.
    data = hashlib.sha256(b"seed").digest() * ((2 * PART + 12345) // 32)
    (project / "big.jar").write_bytes(data)
    spec = app(s3_server.conf(f"s3a://{bucket}/parts"), Deps(jars=["big.jar"]))
    handle = client.submit(spec, base_dir=project)
    (key,) = [k for k in s3_server.keys(bucket) if k.endswith("big.jar")]
    assert f"s3a://{bucket}/{key}" in handle.uploads
    status, body = s3_server.request("GET", f"/{bucket}/{key}")
    assert status == 200
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()


def test_file_upload_path_is_a_shared_folder(
    client: Client, kubesim: Kubesim, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = tmp_path_factory.mktemp("store")
    conf = {"spark.kubernetes.file.upload.path": f"file://{store}"}
    handle = client.submit(app(conf), base_dir=project)
    uploaded = sorted(p.relative_to(store) for p in store.rglob("*") if p.is_file())
    assert sorted(p.name for p in uploaded) == ["env.tar.gz", "job.py", "shapes.zip"]
    (job,) = [store / p for p in uploaded if p.name == "job.py"]
    assert job.read_bytes() == (project / "job.py").read_bytes()
    props = spark_properties(kubesim, handle.namespace, handle.driver_pod)
    # spark-submit writes an archive's file: URI with one slash (java's UriBuilder).
    assert "spark.archives=file\\:/" in props
    assert f"spark.submit.pyFiles=file\\://{store}/spark-upload-" in props


def test_delete_uploads_removes_them_once_the_app_has_ended(
    client: Client, s3_server: S3Server, bucket: str, project: Path
) -> None:
    handle = client.submit(
        app(s3_server.conf(f"s3a://{bucket}/gone")), base_dir=project, delete_uploads=True
    )
    assert len(s3_server.keys(bucket)) == 3
    handle.wait(timeout=60)
    assert s3_server.keys(bucket) == []


def test_a_failed_submission_removes_the_uploads_it_made(
    client: Client, kubesim: Kubesim, s3_server: S3Server, bucket: str, project: Path
) -> None:
    # Already uploaded by a former submission: stays (another app may be using it).
    (project / "kept.py").write_text("K = 1\n")
    conf = s3_server.conf(f"s3a://{bucket}/failed")
    client.submit(
        SparkApp(name="kept", application="kept.py", image=IMAGE, conf=conf), base_dir=project
    )
    kept = s3_server.keys(bucket)
    failing = SparkApp(
        name="failing",
        application="job.py",
        image=IMAGE,
        namespace="no-such-namespace",
        deps=Deps(py_files=["kept.py"]),
        conf=conf,
    )
    with pytest.raises(sparkube.KubernetesApiError):
        client.submit(failing, base_dir=project)
    assert s3_server.keys(bucket) == kept
    status, body = kubesim.request("GET", "/api/v1/namespaces/no-such-namespace/pods")
    assert status == 404 or body.get("items") == [], body


def run_cli(*args: str, kubesim: Kubesim, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": str(kubesim.kubeconfig)}
    return subprocess.run(
        [SPARKUBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


def cli_conf(conf: dict[str, str]) -> list[str]:
    return [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")]


def test_cli_uploads_and_delete_uploads(
    kubesim: Kubesim, s3_server: S3Server, bucket: str, project: Path
) -> None:
    conf = s3_server.conf(f"s3a://{bucket}/cli")
    args = [
        *cli_conf(conf),
        "--conf",
        f"spark.kubernetes.container.image={IMAGE}",
        "--conf",
        "spark.kubernetes.driver.annotation.kubesim.io/run-seconds=1",
        "--py-files",
        "shapes",
        "job.py",
    ]
    result = run_cli("submit", "--delete-uploads", *args, kubesim=kubesim, cwd=project)
    assert result.returncode == 0, result.stderr
    assert s3_server.keys(bucket) == []
    refused = run_cli(
        "submit", "--no-wait", "--delete-uploads", *args, kubesim=kubesim, cwd=project
    )
    assert refused.returncode == 2, refused.stderr
    assert "--delete-uploads" in refused.stderr


def test_a_failed_upload_leaves_no_driver(client: Client, kubesim: Kubesim, project: Path) -> None:
    # /proc takes no new directories: the first write fails.
    conf = {"spark.kubernetes.file.upload.path": "file:///proc/sparkube-uploads"}
    pods_before = kubesim.metric("apiserver_request_total", verb="POST", resource="pods")
    with pytest.raises(sparkube.SubmissionError) as raised:
        client.submit(app(conf), base_dir=project)
    assert "failed to upload to file:///proc/sparkube-uploads/spark-upload-" in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1
    assert kubesim.metric("apiserver_request_total", verb="POST", resource="pods") == pods_before
