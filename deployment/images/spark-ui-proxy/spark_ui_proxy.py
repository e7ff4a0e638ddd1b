"""Spark UI reverse proxy for Spark drivers on Kubernetes.

``GET /{namespace}/{app-id}/{path}`` is forwarded to ``{path}`` on the ``spark-ui`` port of that
application's driver service. The service is found through the Kubernetes API by the label
``spark-app-selector=<app-id>`` (its name, ``<app name>-<uniqueID>-driver-svc``, cannot be derived
from the app id), so no per-application configuration exists. The proxy refuses:

- namespaces outside ``SPARK_UI_PROXY_NAMESPACES`` and malformed names or app ids (404);
- services that are not a Spark driver service: the ``spark-app-selector`` label, a selector on
  ``spark-role: driver`` and the same app id, a TCP port named ``spark-ui``, and a controlling
  owner reference to a Pod are all required (404);
- any method but GET and HEAD (405): the UI is exposed read-only, Spark's kill links included.

The driver learns its public base path from the ``X-Forwarded-Context`` header, which Spark's UI
uses for every link and redirect when ``spark.ui.proxyBase`` is not set; a driver that sets
``spark.ui.proxyBase`` must set it to ``/{namespace}/{app-id}``. ``Location`` headers that point at
the driver are rewritten to the public path. ``Cookie`` and ``Authorization`` are not forwarded:
driver code is user code and must not see the credentials of people looking at its UI.

Configuration (environment): ``SPARK_UI_PROXY_NAMESPACES`` (comma-separated, required),
``SPARK_UI_PROXY_LISTEN`` (``host:port``, default ``0.0.0.0:8080``),
``SPARK_UI_PROXY_CACHE_SECONDS`` (lookup cache, default 5), ``SPARK_UI_PROXY_TIMEOUT`` (seconds,
default 30), ``SPARK_UI_PROXY_UPSTREAM_HOST`` (default ``{service}.{namespace}.svc``) and
``SPARK_UI_PROXY_API_URL`` (default: the in-cluster API server, with the pod's service account).
Only the standard library is used.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOG = logging.getLogger("spark-ui-proxy")

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
APP_ID_LABEL = "spark-app-selector"
ROLE_LABEL = "spark-role"
UI_PORT_NAME = "spark-ui"

# A DNS-1123 label: what Kubernetes accepts as a namespace name.
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# A Kubernetes label value (the app id is the value of spark-app-selector). This also keeps the
# label selector built from it free of selector syntax.
APP_ID_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Request headers never sent to a driver.
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {"host", "cookie", "authorization", "content-length"}
CHUNK = 64 * 1024


class ApiUnavailable(Exception):
    """The Kubernetes API could not be asked (network error, 401/403, bad answer)."""


@dataclass(frozen=True)
class Upstream:
    """Where an application's Spark UI answers."""

    service: str
    namespace: str
    host: str
    port: int


@dataclass(frozen=True)
class Refusal:
    """Why a request is not forwarded: an HTTP status and a one-line reason."""

    status: int
    reason: str


def ui_port(service: dict[str, Any]) -> int | None:
    """The target port of the service's TCP port named ``spark-ui``, or None."""
    for port in (service.get("spec") or {}).get("ports") or []:
        if port.get("name") != UI_PORT_NAME or port.get("protocol", "TCP") != "TCP":
            continue
        target = port.get("targetPort")
        if isinstance(target, int) and 0 < target < 65536:
            return target
        number = port.get("port")
        if isinstance(number, int) and 0 < number < 65536:
            return number
    return None


def driver_service_problem(service: dict[str, Any], app_id: str) -> str | None:
    """Why ``service`` is not the Spark driver service of ``app_id`` (None when it is)."""
    metadata = service.get("metadata") or {}
    spec = service.get("spec") or {}
    if (metadata.get("labels") or {}).get(APP_ID_LABEL) != app_id:
        return f"label {APP_ID_LABEL} is not {app_id}"
    selector = spec.get("selector") or {}
    if selector.get(ROLE_LABEL) != "driver" or selector.get(APP_ID_LABEL) != app_id:
        return "its selector does not select the application's driver pod"
    if ui_port(service) is None:
        return f"it has no TCP port named {UI_PORT_NAME}"
    owners = metadata.get("ownerReferences") or []
    if not any(
        o.get("kind") == "Pod" and o.get("apiVersion") == "v1" and o.get("controller") is True
        for o in owners
    ):
        return "it is not owned by a driver pod"
    return None


class KubeClient:
    """The few Kubernetes API calls the proxy makes, with the pod's service account."""

    def __init__(
        self,
        base_url: str,
        token_file: str | None,
        ca_file: str | None,
        timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_file = token_file
        self.timeout = timeout
        self.context: ssl.SSLContext | None = None
        if self.base_url.startswith("https://"):
            self.context = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def from_environment(cls, timeout: float) -> KubeClient:
        """In-cluster configuration, or ``SPARK_UI_PROXY_API_URL`` when it is set."""
        url = os.environ.get("SPARK_UI_PROXY_API_URL")
        token = os.path.join(SA_DIR, "token")
        ca = os.path.join(SA_DIR, "ca.crt")
        if not url:
            host = os.environ.get("KUBERNETES_SERVICE_HOST")
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise SystemExit(
                    "spark-ui-proxy: not in a cluster (KUBERNETES_SERVICE_HOST unset) "
                    "and SPARK_UI_PROXY_API_URL not given"
                )
            if ":" in host:
                host = f"[{host}]"
            url = f"https://{host}:{port}"
        return cls(
            url,
            token if os.path.exists(token) else None,
            ca if os.path.exists(ca) else None,
            timeout,
        )

    def list_services(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The services of ``namespace`` matching ``label_selector``."""
        query = urllib.parse.urlencode({"labelSelector": label_selector})
        url = f"{self.base_url}/api/v1/namespaces/{namespace}/services?{query}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token_file:
            # Re-read on every call: projected service-account tokens are rotated.
            with open(self.token_file, encoding="utf-8") as f:
                request.add_header("Authorization", f"Bearer {f.read().strip()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            raise ApiUnavailable(f"listing services in {namespace}: HTTP {e.code}") from e
        except (OSError, ValueError) as e:
            raise ApiUnavailable(f"listing services in {namespace}: {e}") from e
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ApiUnavailable(f"listing services in {namespace}: not a list")
        return [i for i in items if isinstance(i, dict)]


class Router:
    """Maps ``(namespace, app id)`` to a driver's UI, with a short cache."""

    def __init__(
        self,
        kube: KubeClient,
        namespaces: frozenset[str],
        upstream_host: str = "{service}.{namespace}.svc",
        cache_seconds: float = 5.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespaces = namespaces
        self.upstream_host = upstream_host
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Upstream | Refusal]] = {}
        self._lock = threading.Lock()

    def resolve(self, namespace: str, app_id: str) -> Upstream | Refusal:
        """The driver UI of ``app_id`` in ``namespace``, or why there is none."""
        if not NAMESPACE_RE.match(namespace) or namespace not in self.namespaces:
            return Refusal(404, f"namespace {namespace!r} is not served by this proxy")
        if not APP_ID_RE.match(app_id):
            return Refusal(404, f"{app_id!r} is not a Spark application id")
        key = (namespace, app_id)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return hit[1]
        try:
            result = self._lookup(namespace, app_id)
        except ApiUnavailable as e:
            LOG.warning("lookup of %s/%s failed: %s", namespace, app_id, e)
            return Refusal(502, "the Kubernetes API could not be asked for the driver service")
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = (now + self.cache_seconds, result)
        return result

    def _lookup(self, namespace: str, app_id: str) -> Upstream | Refusal:
        services = self.kube.list_services(namespace, f"{APP_ID_LABEL}={app_id}")
        drivers = []
        for service in services:
            problem = driver_service_problem(service, app_id)
            name = (service.get("metadata") or {}).get("name", "?")
            if problem:
                LOG.info("refusing service %s/%s for %s: %s", namespace, name, app_id, problem)
            else:
                drivers.append(service)
        if not drivers:
            return Refusal(404, f"no Spark driver service for {app_id} in {namespace}")
        if len(drivers) > 1:
            return Refusal(409, f"more than one driver service for {app_id} in {namespace}")
        service = drivers[0]
        name = service["metadata"]["name"]
        port = ui_port(service)
        if port is None:  # excluded by driver_service_problem; keeps the type exact
            return Refusal(404, f"no Spark driver service for {app_id} in {namespace}")
        host = self.upstream_host.format(service=name, namespace=namespace)
        return Upstream(service=name, namespace=namespace, host=host, port=port)


def split_path(path: str) -> tuple[str, str, str] | None:
    """``/{ns}/{app}/{rest}`` → (ns, app, "/rest"); None when the path has fewer parts."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[0] != "" or not parts[1] or not parts[2]:
        return None
    rest = "/" + parts[3] if len(parts) == 4 else ""
    return parts[1], parts[2], rest


def rewrite_location(location: str, upstream: Upstream, prefix: str) -> str:
    """A redirect target from the driver, as a path under the public ``prefix``."""
    parsed = urllib.parse.urlsplit(location)
    elsewhere = parsed.hostname not in (upstream.host, None) or parsed.port not in (
        None,
        upstream.port,
    )
    if (parsed.scheme or parsed.netloc) and elsewhere:
        return location  # somewhere else entirely: leave it alone
    path = parsed.path or "/"
    if not path.startswith("/"):
        return location  # relative to the current page: already right
    if path != prefix and not path.startswith(prefix + "/"):
        path = prefix + path
    return urllib.parse.urlunsplit(("", "", path, parsed.query, parsed.fragment))


class ProxyHandler(BaseHTTPRequestHandler):
    """One request: route, refuse or forward."""

    protocol_version = "HTTP/1.1"
    server_version = "spark-ui-proxy"
    sys_version = ""
    router: Router
    timeout_seconds: float

    def log_message(self, format: str, *args: Any) -> None:
        LOG.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _refuse_method(self) -> None:
        self._reply(405, "the Spark UI is read-only through this proxy", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _reply(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self, head: bool) -> None:
        target = urllib.parse.urlsplit(self.path)
        path = target.path
        if path == "/healthz":
            self._reply(200, "ok")
            return
        if path == "/":
            self._reply(200, "Spark UI proxy: open /<namespace>/<spark app id>/")
            return
        if "\\" in path or any(p in ("..", ".") for p in path.split("/")):
            self._reply(400, "malformed path")
            return
        parts = split_path(path)
        if parts is None:
            self._reply(404, "expected /<namespace>/<spark app id>/")
            return
        namespace, app_id, rest = parts
        result = self.router.resolve(namespace, app_id)
        if isinstance(result, Refusal):
            self._reply(result.status, result.reason)
            return
        prefix = f"/{namespace}/{app_id}"
        if not rest:
            query = f"?{target.query}" if target.query else ""
            self._reply(301, "moved", {"Location": f"{prefix}/{query}"})
            return
        self._forward(result, prefix, rest, target.query, head)

    def _forward(self, upstream: Upstream, prefix: str, rest: str, query: str, head: bool) -> None:
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in DROPPED_REQUEST_HEADERS
        }
        headers["Host"] = f"{upstream.host}:{upstream.port}"
        headers["X-Forwarded-Context"] = prefix
        headers["X-Forwarded-Prefix"] = prefix
        headers["X-Forwarded-For"] = self.client_address[0]
        if "Host" in self.headers:
            headers["X-Forwarded-Host"] = self.headers["Host"]
        headers.setdefault("X-Forwarded-Proto", "http")
        url = rest + (f"?{query}" if query else "")
        connection = http.client.HTTPConnection(
            upstream.host, upstream.port, timeout=self.timeout_seconds
        )
        try:
            try:
                connection.request(self.command, url, headers=headers)
                response = connection.getresponse()
            except TimeoutError:
                self._reply(504, f"the driver UI of {upstream.service} did not answer in time")
                return
            except OSError as e:
                LOG.warning("driver UI %s:%s unreachable: %s", upstream.host, upstream.port, e)
                self._reply(502, f"the driver UI of {upstream.service} is not reachable")
                return
            self._relay(response, upstream, prefix, head)
        finally:
            connection.close()

    def _relay(
        self, response: http.client.HTTPResponse, upstream: Upstream, prefix: str, head: bool
    ) -> None:
        self.send_response(response.status, response.reason)
        length = response.getheader("Content-Length")
        for k, v in response.getheaders():
            lower = k.lower()
            if lower in HOP_BY_HOP or lower == "content-length":
                continue
            if lower == "location":
                v = rewrite_location(v, upstream, prefix)
            self.send_header(k, v)
        if head or response.status in (204, 304) or length is not None:
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
        else:
            # Unknown length: stream to the end and close the connection.
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
        if head or response.status in (204, 304):
            return
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            self.wfile.write(chunk)


def make_server(address: tuple[str, int], router: Router, timeout: float) -> ThreadingHTTPServer:
    """An HTTP server that proxies with ``router``; call ``serve_forever`` on it."""
    handler = type("Handler", (ProxyHandler,), {"router": router, "timeout_seconds": timeout})
    server = ThreadingHTTPServer(address, handler)
    server.daemon_threads = True
    return server


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as a socket address."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"spark-ui-proxy: SPARK_UI_PROXY_LISTEN must be host:port, not {value!r}")
    return host.strip("[]"), int(port)


def main() -> int:
    """Run the proxy from the environment until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    namespaces = frozenset(
        n.strip() for n in os.environ.get("SPARK_UI_PROXY_NAMESPACES", "").split(",") if n.strip()
    )
    if not namespaces:
        raise SystemExit("spark-ui-proxy: SPARK_UI_PROXY_NAMESPACES is empty")
    bad = sorted(n for n in namespaces if not NAMESPACE_RE.match(n))
    if bad:
        raise SystemExit(f"spark-ui-proxy: invalid namespace names: {', '.join(bad)}")
    timeout = float(os.environ.get("SPARK_UI_PROXY_TIMEOUT", "30"))
    router = Router(
        KubeClient.from_environment(timeout),
        namespaces,
        upstream_host=os.environ.get("SPARK_UI_PROXY_UPSTREAM_HOST", "{service}.{namespace}.svc"),
        cache_seconds=float(os.environ.get("SPARK_UI_PROXY_CACHE_SECONDS", "5")),
    )
    address = parse_listen(os.environ.get("SPARK_UI_PROXY_LISTEN", "0.0.0.0:8080"))
    server = make_server(address, router, timeout)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info("serving %s on %s:%d", ", ".join(sorted(namespaces)), *address)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
