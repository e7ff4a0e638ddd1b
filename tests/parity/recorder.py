"""A recording stand-in for the Kubernetes API server, enough for spark-submit's cluster mode.

spark-submit (fabric8 7.6.1) with ``spark.kubernetes.submission.waitAppCompletion=false``
creates the driver pod with a POST and server-side applies every other object with a PATCH.
This server answers those calls the way an API server would (created objects come back with
a uid, a resourceVersion and a creationTimestamp), answers reads and discovery sensibly, and
records every request in arrival order.

Library use::

    with Recorder() as rec:
        run_something_against(rec.url)
    rec.requests  # list[RecordedRequest], in order

Script use (for debugging)::

    python tests/parity/recorder.py --out DIR   # prints the URL, writes DIR/requests.json on exit
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from types import TracebackType

APPLY_PATCH = "application/apply-patch+yaml"

# Resource plural → (apiVersion, kind) for the namespaced kinds spark-submit touches.
KINDS: dict[str, tuple[str, str]] = {
    "pods": ("v1", "Pod"),
    "services": ("v1", "Service"),
    "configmaps": ("v1", "ConfigMap"),
    "secrets": ("v1", "Secret"),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy"),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any
    """The parsed JSON body (``None`` without a body; the raw text when it is not JSON)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "content_type": self.content_type,
            "body": self.body,
        }


@dataclass
class _Store:
    """Objects created so far, keyed by (namespace, plural, name)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    resource_version: int = 1000

    def next_version(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)


def _parse_path(path: str) -> tuple[str, str, str | None] | None:
    """``/api/v1/namespaces/NS/PLURAL[/NAME]`` (or ``/apis/G/V/...``) → (ns, plural, name)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return None
    if len(rest) < 3 or rest[0] != "namespaces":
        return None
    name = rest[3] if len(rest) > 3 else None
    if len(rest) > 4:  # subresources (status, log, ...) are not modelled
        return None
    return rest[1], rest[2], name


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "yaml" in content_type:
        import yaml  # apply patches are YAML in general; fabric8 sends JSON, a YAML subset

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    error_content_type = "application/json"

    # The stdlib logs every request to stderr; the recording is the log.
    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body = _decode_body(raw, content_type)
        store = self.server.store
        with store.lock:
            store.requests.append(
                RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    content_type=content_type,
                    body=body,
                )
            )
            code, payload = self._answer(split.path, body, content_type)
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, path: str, body: Any, content_type: str) -> tuple[int, Any]:
        store = self.server.store
        if path in ("/version", "/version/"):
            return 200, {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [],
            }
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        target = _parse_path(path)
        if target is None:
            return 404, _status(404, "NotFound", f"the server could not find {path}")
        namespace, plural, name = target
        api_version, kind = KINDS.get(plural, ("v1", plural.capitalize()))
        key_name = name
        if self.command == "POST" and name is None and isinstance(body, dict):
            key_name = str(body.get("metadata", {}).get("name", ""))
            key = (namespace, plural, key_name)
            if key in store.objects:
                return 409, _status(409, "AlreadyExists", f'{plural} "{key_name}" already exists')
            obj = self._stamp(body, namespace)
            store.objects[key] = obj
            return 201, obj
        if key_name is None:
            if self.command == "GET":
                items = [
                    o
                    for (ns, pl, _), o in store.objects.items()
                    if ns == namespace and pl == plural
                ]
                return 200, {
                    "kind": f"{kind}List",
                    "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(store.resource_version)},
                    "items": items,
                }
            if self.command == "DELETE":
                return 200, _status(200, "", "")
            return 405, _status(405, "MethodNotAllowed", f"{self.command} {path}")
        key = (namespace, plural, key_name)
        if self.command == "GET":
            if key in store.objects:
                return 200, store.objects[key]
            return 404, _status(404, "NotFound", f'{plural} "{key_name}" not found')
        if self.command == "DELETE":
            gone = store.objects.pop(key, None)
            if gone is None:
                return 404, _status(404, "NotFound", f'{plural} "{key_name}" not found')
            return 200, gone
        if self.command == "PATCH" and content_type == APPLY_PATCH and isinstance(body, dict):
            existed = key in store.objects
            obj = self._stamp(body, namespace, store.objects.get(key))
            store.objects[key] = obj
            return (200 if existed else 201), obj
        if self.command in ("PUT", "PATCH") and isinstance(body, dict):
            if key not in store.objects:
                return 404, _status(404, "NotFound", f'{plural} "{key_name}" not found')
            obj = self._stamp(body, namespace, store.objects[key])
            store.objects[key] = obj
            return 200, obj
        return 405, _status(405, "MethodNotAllowed", f"{self.command} {path}")

    def _stamp(
        self, body: dict[str, Any], namespace: str, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        store = self.server.store
        obj: dict[str, Any] = json.loads(json.dumps(body))
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        if previous is not None:
            meta["uid"] = previous["metadata"]["uid"]
            meta["creationTimestamp"] = previous["metadata"]["creationTimestamp"]
        else:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["resourceVersion"] = store.next_version()
        return obj

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store


class Recorder:
    """A recording API server on 127.0.0.1 (random port), started by ``with`` or ``start()``."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.store = _Store()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._server.store.lock:
            return list(self._server.store.requests)

    def stored(self, path: str) -> dict[str, Any] | None:
        """The object the server holds at ``path`` (``/api/v1/namespaces/NS/pods/NAME``...)."""
        target = _parse_path(path)
        if target is None or target[2] is None:
            return None
        with self._server.store.lock:
            obj = self._server.store.objects.get((target[0], target[1], target[2]))
            return json.loads(json.dumps(obj)) if obj is not None else None

    def start(self) -> Recorder:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    DUMP_NAME: ClassVar[str] = "requests.json"

    def dump(self, out: Path) -> Path:
        """Write the recorded requests to ``out/requests.json``."""
        out.mkdir(parents=True, exist_ok=True)
        target = out / self.DUMP_NAME
        target.write_text(json.dumps([r.to_json() for r in self.requests], indent=2) + "\n")
        return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for requests.json")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Recorder() as rec:
        print(rec.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        path = rec.dump(args.out)
    print(f"wrote {len(rec.requests)} requests to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
