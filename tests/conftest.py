"""Shared fixtures: a kubesim API server for the tests that need a Kubernetes API.

``kubesim`` is one server shared by the whole session; ``kubesim_factory`` starts servers with
extra flags (``--rbac``, ``--state-dir``, ``--nodes``) for one test and stops them after it.
The binary is ``$KUBESIM_BIN``, else ``target/release/kubesim``, else ``target/debug/kubesim``.
"""

from __future__ import annotations

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
