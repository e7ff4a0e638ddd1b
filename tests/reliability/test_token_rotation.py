"""Long waits survive credentials that rotate: an exec plugin whose tokens live seconds, and a
service-account token file replaced while sparkube waits, on a kubesim that enforces RBAC and
token expiry.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING

import pytest
import yaml

import sparkube
from sparkube import Driver, SparkApp
from tests.conftest import start_kubesim

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Kubesim

NAMESPACE = "rotation"
ACCOUNT = "waiter"


@pytest.fixture(scope="module")
def rbac_kubesim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubesim]:
    """kubesim with RBAC; ServiceAccount `rotation/waiter` may manage pods and their objects."""
    server = start_kubesim(tmp_path_factory.mktemp("rotation"), "--rbac")
    try:
        status, body = server.request(
            "POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}
        )
        assert status == 201, body
        status, body = server.request(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
            {"metadata": {"name": ACCOUNT}},
        )
        assert status == 201, body
        binding = {
            "metadata": {"name": "waiter-edit", "namespace": NAMESPACE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
        }
        status, body = server.request(
            "POST",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings",
            binding,
        )
        assert status == 201, body
        yield server
    finally:
        server.stop()


def kubeconfig(server: Kubesim, directory: Path, user: dict[str, object]) -> Path:
    """A kubeconfig for `server` (its CA) with the given user entry."""
    admin = yaml.safe_load(server.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "waiter", "user": user}],
        "contexts": [
            {
                "name": "waiter",
                "context": {"cluster": cluster["name"], "user": "waiter", "namespace": NAMESPACE},
            }
        ],
        "current-context": "waiter",
    }
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def short_token_url(server: Kubesim, seconds: int, *, path_only: bool = False) -> str:
    """kubesim's test endpoint for a token of any lifetime (TokenRequest grants 10 min at least)."""
    path = f"/kubesim/token/{NAMESPACE}/{ACCOUNT}?seconds={seconds}"
    return path if path_only else server.url + path


def app(run_seconds: int) -> SparkApp:
    return SparkApp(
        name="rotation",
        application="local:///opt/spark/examples/src/main/python/pi.py",
        image="apache/spark:4.0.1",
        namespace=NAMESPACE,
        submission_id=str(uuid.uuid4()),
        driver=Driver(annotations={"kubesim.io/run-seconds": str(run_seconds)}),
    )


def test_wait_outlives_many_short_lived_exec_plugin_tokens(
    rbac_kubesim: Kubesim, tmp_path: Path
) -> None:
    # The plugin asks kubesim for a token that expires in 5 s each time it runs, and counts
    # its runs.
    runs = tmp_path / "runs"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"#!{sys.executable}\n"
        "import datetime, json, urllib.request\n"
        f"req = urllib.request.Request({short_token_url(rbac_kubesim, 5)!r}, method='POST')\n"
        "answer = json.load(urllib.request.urlopen(req))\n"
        f"open({str(runs)!r}, 'a').write('run\\n')\n"
        "expires = datetime.datetime.fromtimestamp(answer['expiration'], datetime.timezone.utc)\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',\n"
        "    'kind': 'ExecCredential', 'status': {'token': answer['token'],\n"
        "    'expirationTimestamp': expires.strftime('%Y-%m-%dT%H:%M:%SZ')}}))\n"
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "interactiveMode": "Never",
        }
    }
    client = sparkube.Client(kubeconfig=kubeconfig(rbac_kubesim, tmp_path, user))
    handle = client.submit(app(run_seconds=20))
    started = time.monotonic()
    status = handle.wait(timeout=90)
    assert status.state.value == "Succeeded", status
    assert time.monotonic() - started > 15
    # The driver ran 20 s on tokens that each lived 5 s: the plugin was asked again and again.
    assert len(runs.read_text().splitlines()) >= 3
    assert handle.status().state.value == "Succeeded"


@pytest.mark.slow
def test_wait_outlives_a_rotated_token_file(rbac_kubesim: Kubesim, tmp_path: Path) -> None:
    """As a projected service-account token: each token lives 80 s, a new one is written every
    20 s; the app runs 100 s, past the life of the token sparkube started with."""
    token_file = tmp_path / "token"

    def issue() -> str:
        status, body = rbac_kubesim.request(
            "POST", short_token_url(rbac_kubesim, 80, path_only=True)
        )
        assert status == 200, body
        return str(body["token"])

    token_file.write_text(issue())
    first = token_file.read_text()
    stop = threading.Event()
    written = [first]

    def rotate() -> None:
        while not stop.wait(20):
            fresh = issue()
            tmp = token_file.with_suffix(".tmp")
            tmp.write_text(fresh)
            os.replace(tmp, token_file)
            written.append(fresh)

    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    try:
        client = sparkube.Client(
            kubeconfig=kubeconfig(rbac_kubesim, tmp_path, {"tokenFile": str(token_file)})
        )
        handle = client.submit(app(run_seconds=100))
        status = handle.wait(timeout=200)
        assert status.state.value == "Succeeded", status
        # The first token had expired by the end; reading the status needs a current one.
        assert handle.status().state.value == "Succeeded"
    finally:
        stop.set()
        rotator.join()
    assert len(written) >= 5, len(written)
    claims = json.loads(_payload(first))
    assert claims["exp"] < time.time(), "the first token should have expired during the wait"


def _payload(token: str) -> str:
    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
