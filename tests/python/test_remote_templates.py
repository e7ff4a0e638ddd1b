"""Pod templates given as URIs (`spark.kubernetes.{driver,executor}.podTemplateFile`), read on
the submitting side as spark-submit reads them: from a real S3 server (moto, the `s3_server`
fixture) with the `spark.hadoop.fs.s3a.*` credentials, and from a local HTTP server; rendered,
then submitted to kubesim over real HTTP. Failures are one line naming the option and the URI.
"""

from __future__ import annotations

import http.server
import threading
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import pytest

import sparkube
from sparkube import Client, Driver, SparkApp
from tests.conftest import S3_ACCESS_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Kubesim, S3Server

IMAGE = "apache/spark:4.0.1"
DRIVER_KEY = "spark.kubernetes.driver.podTemplateFile"
EXECUTOR_KEY = "spark.kubernetes.executor.podTemplateFile"

DRIVER_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  labels:
    team: remote-template
spec:
  priorityClassName: high
"""

EXECUTOR_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  labels:
    role: remote-executor
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on a fresh directory: (its URL, the directory)."""
    root = tmp_path_factory.mktemp("web")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"templates-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    for key, text in (("t/driver.yaml", DRIVER_TEMPLATE), ("t/executor.yaml", EXECUTOR_TEMPLATE)):
        put_object(s3_server, f"/{name}/{key}", text.encode())
    return name


def put_object(s3_server: S3Server, path: str, body: bytes) -> None:
    """A plain PUT of an object (moto reads the key of a signed request, checks no signature,
    and keeps the body as it came only with a binary content type)."""
    auth = (
        f"AWS4-HMAC-SHA256 Credential={S3_ACCESS_KEY}/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )
    headers = {
        "Authorization": auth,
        "Content-Type": "application/octet-stream",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    }
    req = urllib.request.Request(
        s3_server.endpoint + path, data=body, method="PUT", headers=headers
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    assert s3_server.request("GET", path) == (200, body)


def s3_conf(s3_server: S3Server) -> dict[str, str]:
    """The store's endpoint and credentials, without an upload path."""
    conf = s3_server.conf("unused")
    del conf["spark.kubernetes.file.upload.path"]
    return conf


def app(conf: dict[str, str]) -> SparkApp:
    return SparkApp(
        name="remote-template",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        image=IMAGE,
        driver=Driver(annotations={"kubesim.io/run-seconds": "1"}),
        conf=conf,
    )


def driver_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Pod")


def executor_template_text(objects: list[dict[str, Any]]) -> str:
    for o in objects:
        if o["kind"] == "ConfigMap" and "podspec-conf-map" in o["metadata"]["name"]:
            return str(next(iter(o["data"].values())))
    raise AssertionError("no executor pod template ConfigMap")


def check_rendered(objects: list[dict[str, Any]]) -> None:
    pod = driver_pod(objects)
    assert pod["metadata"]["labels"]["team"] == "remote-template"
    assert pod["spec"]["priorityClassName"] == "high"
    assert "role: remote-executor" in executor_template_text(objects)


def submit_and_check(kubesim: Kubesim, conf: dict[str, str]) -> None:
    client = Client(kubeconfig=kubesim.kubeconfig)
    handle = client.submit(app(conf))
    status, body = kubesim.request(
        "GET", f"/api/v1/namespaces/{handle.namespace}/pods/{handle.driver_pod}"
    )
    assert status == 200, body
    assert body["metadata"]["labels"]["team"] == "remote-template"
    assert body["spec"]["priorityClassName"] == "high"


def test_templates_in_s3_are_read_with_the_s3a_credentials(
    kubesim: Kubesim, s3_server: S3Server, bucket: str
) -> None:
    conf = {
        **s3_conf(s3_server),
        DRIVER_KEY: f"s3a://{bucket}/t/driver.yaml",
        EXECUTOR_KEY: f"s3://{bucket}/t/executor.yaml",
    }
    check_rendered(sparkube.render(app(conf)))
    submit_and_check(kubesim, conf)


def test_templates_over_http_are_read(kubesim: Kubesim, web: tuple[str, Path]) -> None:
    url, root = web
    (root / "driver.yaml").write_text(DRIVER_TEMPLATE)
    (root / "executor.yaml").write_text(EXECUTOR_TEMPLATE)
    conf = {DRIVER_KEY: f"{url}/driver.yaml", EXECUTOR_KEY: f"{url}/executor.yaml"}
    check_rendered(sparkube.render(app(conf)))
    submit_and_check(kubesim, conf)


def refusal(conf: dict[str, str]) -> sparkube.ConfigError:
    with pytest.raises(sparkube.ConfigError) as raised:
        sparkube.render(app(conf))
    message = str(raised.value)
    assert len(message.splitlines()) == 1, message
    return raised.value


def test_missing_remote_templates_name_the_option_and_the_uri(
    s3_server: S3Server, bucket: str, web: tuple[str, Path]
) -> None:
    uri = f"s3a://{bucket}/t/nope.yaml"
    err = refusal({**s3_conf(s3_server), DRIVER_KEY: uri})
    assert err.option == DRIVER_KEY
    assert uri in str(err)
    assert "HTTP 404" in str(err)
    url = f"{web[0]}/nope.yaml"
    err = refusal({EXECUTOR_KEY: url})
    assert err.option == EXECUTOR_KEY
    assert url in str(err)
    assert "404" in str(err)


def test_refused_credentials_are_named_without_the_key(s3_server: S3Server, bucket: str) -> None:
    conf = {**s3_conf(s3_server), DRIVER_KEY: f"s3a://{bucket}/t/driver.yaml"}
    s3_server.enforce_auth(True)
    try:
        err = refusal(conf)
    finally:
        s3_server.enforce_auth(False)
    assert err.option == DRIVER_KEY
    assert f"s3a://{bucket}/t/driver.yaml" in str(err)
    assert f"credentials for bucket {bucket} were refused" in str(err), str(err)
    assert conf["spark.hadoop.fs.s3a.secret.key"] not in str(err)
    assert conf["spark.hadoop.fs.s3a.access.key"] not in str(err)


def test_unknown_schemes_are_refused_by_name() -> None:
    err = refusal({DRIVER_KEY: "hdfs://namenode/templates/driver.yaml"})
    assert err.option == DRIVER_KEY
    assert "cannot read hdfs:// files" in str(err), str(err)
