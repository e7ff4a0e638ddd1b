"""Shared fixtures: a kubesim API server for the tests that need a Kubernetes API.

``kubesim`` is one server shared by the whole session; ``kubesim_factory`` starts servers with
extra flags (``--rbac``, ``--state-dir``, ``--nodes``) for one test and stops them after it.
The binary is ``$KUBESIM_BIN``, else ``target/release/kubesim``, else ``target/debug/kubesim``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
_METRIC = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

T = TypeVar("T")


def kubesim_binary() -> Path:
    """The kubesim binary to run: ``$KUBESIM_BIN`` or the newest of release/debug builds."""
    if env := os.environ.get("KUBESIM_BIN"):
        return Path(env)
    builds = [ROOT / "target" / kind / "kubesim" for kind in ("release", "debug")]
    existing = [b for b in builds if b.exists()]
    if not existing:
        pytest.fail("kubesim is not built: run `cargo build -p kubesim` (or `make build-rust`)")
    return max(existing, key=lambda b: b.stat().st_mtime)


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Polls `probe` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(root: int) -> set[int]:
    """Every live process below `root`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields follow the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """The subset of `pids` still running (zombies count as gone)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def assert_nothing_left_running(pids: set[int], timeout: float = 15) -> None:
    """Waits up to `timeout` for `pids` to end; fails naming those still running."""
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = alive(pids)
    assert not left, f"processes left running: {sorted(left)}"


@dataclass
class Kubesim:
    """A running kubesim process and helpers to talk to it."""

    url: str
    """``http://127.0.0.1:PORT``: plain HTTP (the same port also speaks TLS)."""
    kubeconfig: Path
    """Kubeconfig with an HTTPS server, the CA and the admin token (context ``kubesim``)."""
    token: str
    """The admin bearer token."""
    process: subprocess.Popen[str]
    args: list[str] = field(default_factory=list)

    @property
    def https_url(self) -> str:
        return self.url.replace("http://", "https://", 1)

    @property
    def env(self) -> dict[str, str]:
        """Environment for subprocesses (kubectl) pointing at this server."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """Sends one request; returns the status code and the decoded JSON (or text) body."""
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        req = urllib.request.Request(self.url + path, data=data, method=method)
        bearer = self.token if token is None else token
        if bearer:
            req.add_header("Authorization", f"Bearer {bearer}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
            err.close()
        text = raw.decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, token: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Runs kubectl against this server; fails the test on a non-zero exit when `check`."""
        cmd = ["kubectl", *args]
        if token:
            cmd += ["--token", token]
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=self.env, timeout=60
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """``/metrics`` parsed: (name, labels) → value."""
        _, text = self.request("GET", "/metrics")
        out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for line in str(text).splitlines():
            if m := _METRIC.match(line):
                labels = frozenset(_LABEL.findall(m.group(2) or ""))
                out[(m.group(1), labels)] = float(m.group(3))
        return out

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric over the series whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.metrics().items() if n == name and want <= ls)

    def fault(self, **spec: Any) -> int:
        """Adds a fault rule (see ``POST /kubesim/faults``) and returns its id."""
        status, body = self.request("POST", "/kubesim/faults", spec)
        assert status == 201, body
        return int(body["id"])

    def clear_faults(self) -> None:
        self.request("DELETE", "/kubesim/faults")

    def drop_watches(self) -> None:
        self.request("POST", "/kubesim/drop-watches")

    def compact(self) -> int:
        """Forgets the event history; returns the compacted resourceVersion."""
        _, body = self.request("POST", "/kubesim/compact")
        return int(body["compactedResourceVersion"])

    def fail_node(self, node: str = "kubesim-node-1") -> None:
        self.request("POST", f"/kubesim/nodes/{node}/fail")

    def recover_node(self, node: str = "kubesim-node-1") -> None:
        self.request("POST", f"/kubesim/nodes/{node}/recover")

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A token for a ServiceAccount, through the TokenRequest API."""
        status, body = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds},
            },
        )
        assert status == 201, body
        return str(body["status"]["token"])

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stops the process (SIGTERM by default, SIGKILL to simulate a crash); returns its code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        return int(self.process.returncode)


def start_kubesim(directory: Path, *args: str, env: dict[str, str] | None = None) -> Kubesim:
    """Starts kubesim on a free port with a kubeconfig in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    kubeconfig = directory / "kubeconfig"
    cmd = [str(kubesim_binary()), "--listen", "127.0.0.1:0", "--kubeconfig", str(kubeconfig), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    m = re.fullmatch(r"kubesim listening on (http://\S+)", line)
    if not m:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pytest.fail(f"kubesim did not start: first line {line!r}")
    token = re.search(r"token: (\S+)", kubeconfig.read_text())
    assert token, "kubeconfig has no token"
    return Kubesim(
        url=m.group(1), kubeconfig=kubeconfig, token=token.group(1), process=proc, args=list(args)
    )


@pytest.fixture(scope="session")
def kubesim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubesim]:
    """One kubesim shared by the session (simulated runtime, one node)."""
    server = start_kubesim(tmp_path_factory.mktemp("kubesim"))
    yield server
    server.stop()


@pytest.fixture
def kubesim_factory(tmp_path: Path) -> Iterator[Callable[..., Kubesim]]:
    """Starts kubesim servers with extra flags; all are stopped after the test."""
    started: list[Kubesim] = []

    def start(*args: str, directory: Path | None = None) -> Kubesim:
        server = start_kubesim(directory or tmp_path / f"kubesim-{len(started)}", *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- a real S3 server ---------------------------------------------------------------------------
#
# moto in server mode, a separate process: a complete S3 API (HEAD, multipart uploads, presigned
# URLs, SigV4 checks once enforced) from a PyPI wheel, ready in about a second. The Rust servers
# (s3s-fs, rustfs) would cost a multi-minute build on a 2-core machine. moto lives in its own
# virtualenv (`make setup`: .venv/s3, shared with kubesim's MinIO stand-in), since botocore pins python-dateutil<3, which the
# kubernetes client of the dev tools refuses.

S3_VENV = ROOT / ".venv" / "s3"
S3_ACCESS_KEY = "sparkube-test-access"
S3_SECRET_KEY = "sparkube-test-secret"


def s3_server_command(port: int) -> list[str]:
    """The command that serves S3 on ``port`` (``$SPARKUBE_S3_SERVER``, else .venv/s3's moto)."""
    binary = os.environ.get("SPARKUBE_S3_SERVER") or str(S3_VENV / "bin" / "moto_server")
    if not Path(binary).exists():
        pytest.skip(f"no S3 server at {binary}: run `make setup`")
    return [binary, "-H", "127.0.0.1", "-p", str(port)]


@dataclass
class S3Server:
    """An S3 server process and plain (unsigned) requests to inspect it."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        # moto answers an anonymous GET of an object 403; it reads the key of a signed request
        # but checks no signature until `enforce_auth`.
        auth = (
            f"AWS4-HMAC-SHA256 Credential={S3_ACCESS_KEY}/20260101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
        req = urllib.request.Request(
            self.endpoint + path, data=body, method=method, headers={"Authorization": auth}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def create_bucket(self, name: str) -> None:
        status, body = self.request("PUT", f"/{name}")
        assert status == 200, body

    def keys(self, bucket: str) -> list[str]:
        """Every key in ``bucket``, sorted."""
        status, body = self.request("GET", f"/{bucket}?list-type=2&max-keys=1000")
        assert status == 200, body
        return sorted(re.findall(r"<Key>([^<]*)</Key>", body.decode().replace("&amp;", "&")))

    def enforce_auth(self, enforce: bool) -> None:
        """Check every request's credentials from now on (moto knows no key: all refused)."""
        req = urllib.request.Request(
            self.endpoint + "/moto-api/reset-auth",
            data=b"0" if enforce else b"inf",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200

    def conf(self, upload_path: str) -> dict[str, str]:
        """The Spark conf that uploads to ``upload_path`` on this server, as for MinIO."""
        return {
            "spark.kubernetes.file.upload.path": upload_path,
            "spark.hadoop.fs.s3a.endpoint": self.endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.access.key": S3_ACCESS_KEY,
            "spark.hadoop.fs.s3a.secret.key": S3_SECRET_KEY,
        }


@contextlib.contextmanager
def running_s3_server(timeout: float = 60) -> Iterator[S3Server]:
    """An S3 server process (moto in server mode) on the loopback, stopped on exit."""
    port = free_port()
    proc = subprocess.Popen(
        s3_server_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", process=proc)

    def ready() -> bool:
        try:
            return server.request("GET", "/moto-api/data.json")[0] == 200
        except OSError:
            return False

    try:
        wait_until("the S3 server to answer", ready, timeout=timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 server process shared by the session."""
    with running_s3_server() as server:
        yield server
