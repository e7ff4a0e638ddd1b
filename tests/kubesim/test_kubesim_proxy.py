"""kubesim's services/proxy reached with kubectl, a client nobody here wrote: the proxied body,
path and query arrive; errors and RBAC answers are the ones kubectl knows."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterator

    from conftest import Kubesim

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET with what it received, as JSON."""

    def do_GET(self) -> None:
        body = json.dumps(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def target_port() -> Iterator[int]:
    """A local HTTP server standing in for a Spark UI behind a Service."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def kubectl(
    ks: Kubesim, *args: str, stdin: str | None = None, check: bool = True, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    return ks.kubectl(*args, stdin=stdin, check=check, token=token)


def service_to(ks: Kubesim, ns: str, name: str, port: int) -> None:
    """A selector-less Service (port 4040, named ``ui``) and Endpoints to 127.0.0.1:``port``."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ports": [{"name": "ui", "port": 4040, "targetPort": 4040}]},
    }
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "ui", "port": port}]}],
    }
    for obj in (service, endpoints):
        kubectl(ks, "apply", "-f", "-", stdin=json.dumps(obj))


def new_namespace(ks: Kubesim) -> str:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(ks, "create", "namespace", ns)
    return ns


def test_get_raw_through_a_service_proxy(kubesim: Kubesim, target_port: int) -> None:
    ns = new_namespace(kubesim)
    service_to(kubesim, ns, "spark-ui", target_port)
    for ident in ("spark-ui:4040", "spark-ui:ui", "http:spark-ui:4040"):
        path = f"/api/v1/namespaces/{ns}/services/{ident}/proxy/api/v1/applications?status=running&limit=5"
        seen = json.loads(kubectl(kubesim, "get", "--raw", path).stdout)
        # kubectl re-encodes the query (sorted); the proxy passes on what it got.
        target = urlsplit(seen["path"])
        assert target.path == "/api/v1/applications", ident
        assert parse_qs(target.query) == {"status": ["running"], "limit": ["5"]}
        assert "authorization" not in seen["headers"], "kubectl's token stays with kubesim"
        assert seen["headers"]["x-forwarded-uri"] == (
            f"/api/v1/namespaces/{ns}/services/{ident}/proxy/api/v1/applications"
        )


def test_kubectl_shows_proxy_errors(kubesim: Kubesim) -> None:
    ns = new_namespace(kubesim)
    missing = kubectl(
        kubesim, "get", "--raw", f"/api/v1/namespaces/{ns}/services/nope:80/proxy/", check=False
    )
    assert missing.returncode != 0
    assert 'Error from server (NotFound): services "nope" not found' in missing.stderr
    kubectl(kubesim, "create", "service", "clusterip", "idle", "--tcp=80:8080", "-n", ns)
    idle = kubectl(
        kubesim, "get", "--raw", f"/api/v1/namespaces/{ns}/services/idle:80/proxy/", check=False
    )
    assert idle.returncode != 0
    assert (
        'Error from server (ServiceUnavailable): no endpoints available for service "idle"'
        in idle.stderr
    )


def test_services_proxy_under_rbac(
    kubesim_factory: Callable[..., Kubesim], target_port: int
) -> None:
    ks = kubesim_factory("--rbac")
    kubectl(ks, "create", "namespace", "team")
    service_to(ks, "team", "spark-ui", target_port)
    kubectl(ks, "create", "serviceaccount", "robot", "-n", "team")
    kubectl(ks, "create", "role", "ui", "-n", "team", "--verb=get", "--resource=services/proxy")
    kubectl(
        ks, "create", "rolebinding", "ui", "-n", "team", "--role=ui", "--serviceaccount=team:robot"
    )
    token = ks.service_account_token("team", "robot")

    def can_i(*args: str) -> str:
        return kubectl(ks, "auth", "can-i", *args, "-n", "team", token=token, check=False).stdout

    # (`can-i get services/proxy` would ask about a Service named "proxy": kubectl's TYPE/NAME.)
    assert can_i("get", "services", "--subresource=proxy").strip() == "yes"
    assert can_i("get", "services/spark-ui", "--subresource=proxy").strip() == "yes"
    assert can_i("create", "services", "--subresource=proxy").strip() == "no"
    assert can_i("get", "pods", "--subresource=proxy").strip() == "no"
    assert can_i("get", "services").strip() == "no"

    path = "/api/v1/namespaces/team/services/spark-ui:ui/proxy/jobs/"
    seen = json.loads(kubectl(ks, "get", "--raw", path, token=token).stdout)
    assert seen["path"] == "/jobs/"
    denied = kubectl(
        ks, "get", "--raw", "/api/v1/namespaces/team/pods/x/proxy/", token=token, check=False
    )
    assert denied.returncode != 0
    assert (
        'pods "x" is forbidden: User "system:serviceaccount:team:robot" cannot get resource '
        '"pods/proxy" in API group "" in the namespace "team"'
    ) in denied.stderr
