"""The Spark UI proxy against a local Kubernetes API stand-in and local driver UIs (real HTTP)."""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from deployment_support import DEPLOYMENT

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "spark_ui_proxy", DEPLOYMENT / "images/spark-ui-proxy/spark_ui_proxy.py"
)
assert _spec
assert _spec.loader
proxy = importlib.util.module_from_spec(_spec)
sys.modules["spark_ui_proxy"] = proxy
_spec.loader.exec_module(proxy)

APP = "spark-0123456789abcdef0123456789abcdef"
NS = "spark-apps"


def driver_service(
    app_id: str, port: int, name: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A Service as spark-submit / sparkube create it for a driver."""
    svc: dict[str, Any] = {
        "metadata": {
            "name": name or "pi-3f2a1b0c9d8e7f60-driver-svc",
            "namespace": NS,
            "labels": {"spark-app-selector": app_id},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "pi-driver",
                    "uid": "u",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {
                "spark-app-selector": app_id,
                "spark-role": "driver",
                "spark-app-name": "pi",
            },
            "ports": [
                {"name": "driver-rpc-port", "port": 7078, "targetPort": 7078, "protocol": "TCP"},
                {"name": "blockmanager", "port": 7079, "targetPort": 7079, "protocol": "TCP"},
                {"name": "spark-ui", "port": port, "targetPort": port, "protocol": "TCP"},
            ],
        },
    }
    for path, value in changes.items():
        target = svc
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[k]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return svc


@dataclass
class FakeApi:
    """Answers GET /api/v1/namespaces/{ns}/services?labelSelector=... from `services`."""

    token: str = "token-1"
    services: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                selector = query.get("labelSelector", [""])[0]
                api.calls.append((url.path, selector, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    code, body = 401, {"kind": "Status", "code": 401}
                elif api.status != 200:
                    code, body = api.status, {"kind": "Status", "code": api.status}
                else:
                    ns = url.path.split("/")[4]
                    key, _, value = selector.partition("=")
                    items = [
                        s
                        for s in api.services
                        if s["metadata"]["namespace"] == ns
                        and s["metadata"].get("labels", {}).get(key) == value
                    ]
                    code, body = 200, {"kind": "ServiceList", "items": items}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@dataclass
class FakeDriverUi:
    """A driver's UI: records requests; `routes` maps a path to (status, headers, body, chunked)."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    routes: dict[str, tuple[int, dict[str, str], bytes, bool]] = field(default_factory=dict)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        ui = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                ui.requests.append((self.command, self.path, dict(self.headers.items())))
                path = urllib.parse.urlsplit(self.path).path
                status, headers, body, chunked = ui.routes.get(
                    path, (200, {"Content-Type": "text/html"}, f"page {path}".encode(), False)
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if self.command != "HEAD":
                        for i in range(0, len(body), 1000):
                            part = body[i : i + 1000]
                            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)

            do_GET = do_HEAD = do_POST = _serve

        return Handler


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Env:
    api: FakeApi
    ui: FakeDriverUi
    ui_port: int
    port: int
    clock: list[float]
    token_file: Path

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    api = FakeApi()
    ui = FakeDriverUi()
    api_server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    ui_server = ThreadingHTTPServer(("127.0.0.1", 0), ui.handler())
    ui_port = ui_server.server_address[1]
    api.services = [driver_service(APP, ui_port)]
    token_file = tmp_path / "token"
    token_file.write_text(api.token + "\n")
    clock = [1000.0]
    kube = proxy.KubeClient(
        f"http://127.0.0.1:{api_server.server_address[1]}", str(token_file), None, 5.0
    )
    router = proxy.Router(
        kube, frozenset({NS}), upstream_host="127.0.0.1", cache_seconds=5.0, clock=lambda: clock[0]
    )
    proxy_server = proxy.make_server(("127.0.0.1", 0), router, 5.0)
    gens = [_serve(api_server), _serve(ui_server), _serve(proxy_server)]
    for g in gens:
        next(g)
    try:
        yield Env(api, ui, ui_port, proxy_server.server_address[1], clock, token_file)
    finally:
        for g in gens:
            next(g, None)


def test_forwards_to_the_driver_ui_with_its_public_base(env: Env) -> None:
    status, _, body = env.request(
        "GET",
        f"/{NS}/{APP}/jobs/job/?id=3",
        {
            "Cookie": "session=secret",
            "Authorization": "Basic c2VjcmV0",
            "Host": "spark-ui.example.com",
        },
    )
    assert (status, body) == (200, b"page /jobs/job/")
    method, path, headers = env.ui.requests[-1]
    assert (method, path) == ("GET", "/jobs/job/?id=3")
    assert headers["X-Forwarded-Context"] == f"/{NS}/{APP}"
    assert headers["X-Forwarded-Host"] == "spark-ui.example.com"
    assert headers["Host"] == f"127.0.0.1:{env.ui_port}"
    assert "Cookie" not in headers
    assert "Authorization" not in headers
    assert env.api.calls == [
        (f"/api/v1/namespaces/{NS}/services", f"spark-app-selector={APP}", "Bearer token-1")
    ]


def test_app_root_redirects_to_the_slash(env: Env) -> None:
    status, headers, _ = env.request("GET", f"/{NS}/{APP}")
    assert status == 301
    assert headers["location"] == f"/{NS}/{APP}/"


@pytest.mark.parametrize(
    ("location", "public"),
    [
        ("http://127.0.0.1:{port}/jobs/", "/{ns}/{app}/jobs/"),
        ("/jobs/?x=1", "/{ns}/{app}/jobs/?x=1"),
        ("http://127.0.0.1:{port}/{ns}/{app}/jobs/", "/{ns}/{app}/jobs/"),
        ("https://elsewhere.example.com/x", "https://elsewhere.example.com/x"),
        ("stages/", "stages/"),
    ],
)
def test_redirects_stay_under_the_public_base(env: Env, location: str, public: str) -> None:
    fill = {"port": env.ui_port, "ns": NS, "app": APP}
    env.ui.routes["/"] = (302, {"Location": location.format(**fill)}, b"", False)
    status, headers, _ = env.request("GET", f"/{NS}/{APP}/")
    assert status == 302
    assert headers["location"] == public.format(**fill)


def test_streams_chunked_responses_and_answers_head(env: Env) -> None:
    big = bytes(range(256)) * 400
    env.ui.routes["/api/v1/applications"] = (200, {"Content-Type": "application/json"}, big, True)
    status, _, body = env.request("GET", f"/{NS}/{APP}/api/v1/applications")
    assert (status, body) == (200, big)
    status, _headers, body = env.request("HEAD", f"/{NS}/{APP}/jobs/")
    assert (status, body) == (200, b"")
    assert env.ui.requests[-1][0] == "HEAD"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_is_read_only(env: Env, method: str) -> None:
    status, headers, _ = env.request(method, f"/{NS}/{APP}/jobs/job/kill/?id=1")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert env.ui.requests == []
    assert env.api.calls == []


@pytest.mark.parametrize(
    "path",
    [
        f"/kube-system/{APP}/",  # namespace not served
        f"/Spark-Apps/{APP}/",  # not a namespace name
        f"/{NS}/spark-x,spark-role=driver/",  # selector injection
        f"/{NS}/spark-a%3Db/",
        f"/{NS}/{'a' * 64}/",  # longer than a label value
        f"/{NS}/",
    ],
)
def test_refuses_malformed_or_foreign_paths_without_asking_the_api(env: Env, path: str) -> None:
    status, _, _ = env.request("GET", path)
    assert status == 404
    assert env.api.calls == []
    assert env.ui.requests == []


def test_refuses_dot_segments(env: Env) -> None:
    status, _, _ = env.request("GET", f"/{NS}/{APP}/../../etc/passwd")
    assert status == 400
    assert env.ui.requests == []


@pytest.mark.parametrize(
    "changes",
    [
        {"spec__selector": {"app.kubernetes.io/name": "spark-history-server"}},  # not a driver
        {"spec__selector__spark-role": "executor"},
        {"spec__selector__spark-app-selector": "spark-other"},
        {"metadata__ownerReferences": None},
        {
            "metadata__ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "controller": True}
            ]
        },
        {"spec__ports": [{"name": "http", "port": 18080, "targetPort": 18080, "protocol": "TCP"}]},
        {"spec__ports": [{"name": "spark-ui", "port": 4040, "protocol": "UDP"}]},
    ],
    ids=[
        "history server",
        "executor selector",
        "other app",
        "no owner",
        "deployment owner",
        "no ui port",
        "udp",
    ],
)
def test_refuses_services_that_are_not_driver_services(env: Env, changes: dict[str, Any]) -> None:
    env.api.services = [driver_service(APP, env.ui_port, **changes)]
    status, _, body = env.request("GET", f"/{NS}/{APP}/jobs/")
    assert status == 404, body
    assert env.ui.requests == []


def test_unknown_app_and_ambiguous_app(env: Env) -> None:
    status, _, _ = env.request("GET", f"/{NS}/spark-ffffffffffffffffffffffffffffffff/")
    assert status == 404
    env.api.services.append(driver_service(APP, env.ui_port, name="copy-driver-svc"))
    env.clock[0] += 10
    status, _, _ = env.request("GET", f"/{NS}/{APP}/")
    assert status == 409
    assert env.ui.requests == []


def test_api_errors_and_unreachable_drivers_are_bad_gateways(env: Env) -> None:
    env.api.status = 403
    status, _, _ = env.request("GET", f"/{NS}/{APP}/")
    assert status == 502
    env.api.status = 200
    env.api.services = [driver_service(APP, 1)]  # nothing listens on port 1
    status, _, _ = env.request("GET", f"/{NS}/{APP}/")
    assert status == 502


def test_lookups_are_cached_and_tokens_reread(env: Env) -> None:
    for _ in range(3):
        assert env.request("GET", f"/{NS}/{APP}/jobs/")[0] == 200
    assert len(env.api.calls) == 1
    env.api.token = "token-2"
    env.token_file.write_text("token-2")
    env.clock[0] += 6
    assert env.request("GET", f"/{NS}/{APP}/jobs/")[0] == 200
    assert [c[2] for c in env.api.calls] == ["Bearer token-1", "Bearer token-2"]


def test_health_and_index(env: Env) -> None:
    assert env.request("GET", "/healthz")[:1] == (200,)
    status, _, body = env.request("GET", "/")
    assert status == 200
    assert b"/<namespace>/<spark app id>/" in body
    assert env.api.calls == []


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("/ns/app/jobs/", ("ns", "app", "/jobs/")),
        ("/ns/app/", ("ns", "app", "/")),
        ("/ns/app", ("ns", "app", "")),
        ("/ns/", None),
        ("/ns", None),
        ("//app/x", None),
    ],
)
def test_split_path(path: str, parts: tuple[str, str, str] | None) -> None:
    assert proxy.split_path(path) == parts


def test_listen_address_parsing() -> None:
    assert proxy.parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert proxy.parse_listen("[::]:8080") == ("::", 8080)
    with pytest.raises(SystemExit):
        proxy.parse_listen("8080")
