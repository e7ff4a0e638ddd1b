"""What every scenario shares: the kubesim under test, the peers' virtualenv, statistics,
resource usage of child processes, bulk pod creation and a reference watch.

kubesim is started with `tests/conftest.py`'s `start_kubesim`, so the benchmarks run the server
exactly as the tests do. Child processes print one JSON document as their last stdout line.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
PEERS_VENV = WORK / "peers-venv"
PEERS_PY = PEERS_VENV / "bin" / "python"
PROJECT_PY = ROOT / ".venv" / "bin" / "python"
PEERS_REQUIREMENTS = BENCH / "requirements-peers.txt"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import Kubesim, start_kubesim  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = ["Kubesim", "start_bench_kubesim"]

# The one application every submitter sends: Spark's own SparkPi example.
IMAGE = "apache/spark:4.0.0"
MAIN_CLASS = "org.apache.spark.examples.SparkPi"
JAR = "local:///opt/spark/examples/jars/spark-examples.jar"
APP_ARGS = ["100"]

# Every kubesim of the benchmark: one node big enough that no pod waits for room.
KUBESIM_ARGS = ["--nodes", "1", "--node-cpu", "100000", "--node-memory", "100000Gi"]
KUBESIM_ARGS += ["--node-pods", "1000000"]


def release_kubesim() -> Path:
    """kubesim's release build (`$KUBESIM_BIN` when set): benchmarks never run a debug build."""
    if env := os.environ.get("KUBESIM_BIN"):
        return Path(env)
    binary = ROOT / "target" / "release" / "kubesim"
    if not binary.exists():
        raise SystemExit("kubesim has no release build: run `make build-release` (or `make bench`)")
    return binary


def start_bench_kubesim(name: str) -> Kubesim:
    """Start kubesim as the tests do, from a private copy of its release build in bench/.work.

    The machine is shared: other jobs stop their kubesim processes by name and rebuild the
    binary, and a benchmark run must lose neither its server nor its build to that. The copy is
    the same binary under another name.
    """
    source = release_kubesim()
    copy = WORK / "bin" / "apisim"
    if not copy.exists() or copy.stat().st_mtime != source.stat().st_mtime:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    previous = os.environ.get("KUBESIM_BIN")
    os.environ["KUBESIM_BIN"] = str(copy)
    try:
        return start_kubesim(WORK / f"apisim-{name}", *KUBESIM_ARGS)
    finally:
        if previous is None:
            os.environ.pop("KUBESIM_BIN", None)
        else:
            os.environ["KUBESIM_BIN"] = previous


SNAPSHOT = WORK / "sparkube-release"
"""Where `snapshot_sparkube` puts the package that every sparkube process of a run imports."""


def snapshot_sparkube() -> dict[str, Any]:
    """Copy the Python package with the release build of its native core to bench/.work and make
    every child process import it from there (through PYTHONPATH).

    The project's virtualenv holds whichever build was installed last (tests install debug
    builds); a run must measure the release build, and the same one from start to end.
    """
    lib = ROOT / "target" / "release" / "lib_core.so"
    if not lib.exists():
        raise SystemExit(
            "sparkube's core has no release build: run `make build-release` (or `make bench`)"
        )
    sources = [
        p for d in ("rust/sparkube/src", "rust/sparkube-py/src") for p in (ROOT / d).rglob("*.rs")
    ]
    newest_source = max((p.stat().st_mtime for p in sources), default=0.0)
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    shutil.copytree(
        ROOT / "python" / "sparkube",
        SNAPSHOT / "sparkube",
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    shutil.copy2(lib, SNAPSHOT / "sparkube" / "_core.abi3.so")
    return {
        "core_library": str(lib.relative_to(ROOT)),
        "core_library_mb": lib.stat().st_size / 2**20,
        "core_library_built": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(lib.stat().st_mtime)),
        "older_than_sources": lib.stat().st_mtime < newest_source,
    }


def check_alive(kubesim: Kubesim) -> None:
    """Raise when the kubesim process has ended (the benchmark cannot go on without it)."""
    code = kubesim.process.poll()
    if code is not None:
        raise RuntimeError(f"kubesim exited with code {code} in the middle of the benchmark")


def log(msg: str) -> None:
    """Progress on stderr (stdout carries the results)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, median, p99, min, max and mean of `values`."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0 or a != a or b != b:
        return None
    return a / b


# ---------------------------------------------------------------------------------------------
# Processes


GNU_TIME = Path("/usr/bin/time")


@dataclass
class Run:
    """One child process run to its end: wall time and the resources it and its children used."""

    returncode: int
    wall_s: float
    cpu_s: float
    """User + system CPU of the process and every descendant it waited for."""
    max_rss_mb: float
    """Peak RSS of the process or of its largest waited-for descendant."""
    stdout: str
    stderr: str
    rss_method: str

    def json(self) -> Any:
        """The last stdout line, decoded (children print their results there)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(f"child printed nothing; stderr:\n{self.stderr[-3000:]}")
        return json.loads(lines[-1])


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    stdout_to_devnull: bool = False,
) -> Run:
    """Run `argv`, measuring wall time, CPU and peak RSS (its descendants included).

    CPU and RSS come from GNU time, which starts the command from its own small address space:
    `wait4` here would report at least this process's RSS, which Linux carries across `exec`
    into the child's `ru_maxrss`. Without /usr/bin/time, `wait4`'s figures are used and the
    result says so.
    """
    WORK.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{threading.get_ident()}"
    out_path, err_path, time_path = (WORK / f"child-{tag}.{ext}" for ext in ("out", "err", "time"))
    command = list(argv)
    gnu_time = GNU_TIME.exists()
    if gnu_time:
        command = [str(GNU_TIME), "-q", "-o", str(time_path), "-f", "%U %S %M", *command]
    with open(out_path, "w+") as out, open(err_path, "w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=subprocess.DEVNULL if stdout_to_devnull else out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    cpu, rss, method = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, "wait4"
    if gnu_time and time_path.exists():
        fields = time_path.read_text().split()
        if len(fields) == 3:
            cpu, rss, method = (
                float(fields[0]) + float(fields[1]),
                int(fields[2]) / 1024,
                "GNU time",
            )
    for p in (out_path, err_path, time_path):
        p.unlink(missing_ok=True)
    return Run(proc.returncode, wall, cpu, rss, stdout, stderr, method)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_rss_mb(pid: int) -> float:
    """Current resident set of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dir_size_mb(path: Path, exclude: Iterable[str] = ("__pycache__",)) -> float:
    """Bytes of every file under `path` (skipping directories named in `exclude`), in MiB."""
    skip = set(exclude)
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total / (1024 * 1024)


# ---------------------------------------------------------------------------------------------
# The peers' virtualenv


def ensure_peers_venv() -> Path:
    """Create `bench/.work/peers-venv` with the pinned peers, once per requirements change."""
    stamp = PEERS_VENV / ".installed"
    wanted = PEERS_REQUIREMENTS.read_text()
    if stamp.exists() and stamp.read_text() == wanted and PEERS_PY.exists():
        return PEERS_PY
    log("installing the peers into bench/.work/peers-venv (pinned, from PyPI)")
    base = Path(sys.base_prefix) / "bin" / "python3"
    if not PEERS_PY.exists():
        subprocess.run([str(base), "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run(
        [str(PEERS_PY), "-m", "pip", "install", "--quiet", "-r", str(PEERS_REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(wanted)
    return PEERS_PY


# ---------------------------------------------------------------------------------------------
# Talking to kubesim directly (bulk set-up and the reference watch; not what is measured)


class Api:
    """A keep-alive HTTP/1.1 connection to kubesim's plain-HTTP port."""

    def __init__(self, kubesim: Kubesim) -> None:
        url = urllib.parse.urlsplit(kubesim.url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.token = kubesim.token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt:
                    raise
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def close(self) -> None:
        self.conn.close()


def create_namespace(kubesim: Kubesim, name: str) -> None:
    """Create namespace `name` (no error when it exists)."""
    status, body = kubesim.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    if status not in (201, 409):
        raise RuntimeError(f"creating namespace {name}: {status} {body}")


def delete_namespace(kubesim: Kubesim, name: str, timeout: float = 120) -> None:
    """Delete namespace `name` and wait until it is gone (so its clean-up does not overlap)."""
    kubesim.request("DELETE", f"/api/v1/namespaces/{name}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = kubesim.request("GET", f"/api/v1/namespaces/{name}")
        if status == 404:
            return
        time.sleep(0.2)
    log(f"namespace {name} still terminating after {timeout} s")


def driver_pod(
    name: str, namespace: str, annotations: Mapping[str, str], app_id: str | None = None
) -> dict[str, Any]:
    """A driver pod as spark-submit labels it (spark-role=driver, spark-app-selector)."""
    app = app_id or f"spark-{name.replace('-', '')[:32]:0<32}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"spark-role": "driver", "spark-app-selector": app, "spark-app-name": name},
            "annotations": dict(annotations),
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "spark-kubernetes-driver", "image": IMAGE}],
        },
    }


def create_pods(kubesim: Kubesim, namespace: str, pods: Iterable[dict[str, Any]]) -> int:
    """POST every pod over one keep-alive connection; returns how many were created."""
    api = Api(kubesim)
    created = 0
    try:
        for pod in pods:
            status, body = api.call("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
            if status != 201:
                raise RuntimeError(f"creating pod: {status} {str(body)[:300]}")
            created += 1
    finally:
        api.close()
    return created


Metrics = dict[tuple[str, frozenset[tuple[str, str]]], float]


def pod_request_count(
    kubesim: Kubesim, metrics: Metrics | None = None, *, exclude_verbs: Iterable[str] = ("POST",)
) -> float:
    """Finished requests on pods (and their subresources) so far, minus `exclude_verbs`."""
    skip = set(exclude_verbs)
    total = 0.0
    for (name, labels), value in (metrics or kubesim.metrics()).items():
        if name != "apiserver_request_total":
            continue
        d = dict(labels)
        if d.get("resource") == "pods" and d.get("verb") not in skip:
            total += value
    return total


def open_watches(kubesim: Kubesim, metrics: Metrics | None = None) -> float:
    """Watches open right now (`apiserver_longrunning_requests{verb="WATCH"}`)."""
    return sum(
        value
        for (name, labels), value in (metrics or kubesim.metrics()).items()
        if name == "apiserver_longrunning_requests" and ("verb", "WATCH") in labels
    )


@dataclass
class ReferenceWatch:
    """An independent watch on a namespace's pods recording when each driver container was
    first seen terminated: the moment kubesim published the end of the driver.

    Kubernetes timestamps (`finishedAt`) have one-second precision, too coarse for latencies
    of milliseconds, so the benchmark takes this watch's arrival time as "the driver finished".
    """

    kubesim: Kubesim
    namespace: str
    finished: dict[str, float] = field(default_factory=dict)
    finished_at: dict[str, str] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _conn: http.client.HTTPConnection | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: bool = False

    def start(self) -> ReferenceWatch:
        self._thread = threading.Thread(target=self._run, daemon=True, name="reference-watch")
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("reference watch did not start")
        return self

    def _run(self) -> None:
        api = Api(self.kubesim)
        self._conn = api.conn
        path = f"/api/v1/namespaces/{self.namespace}/pods?watch=1&timeoutSeconds=3600"
        api.conn.request("GET", path, headers={"Authorization": f"Bearer {api.token}"})
        resp = api.conn.getresponse()
        self._ready.set()
        try:
            while not self._stop:
                line = resp.readline()
                if not line:
                    return
                now = time.time()
                event = json.loads(line)
                obj = event.get("object") or {}
                name = obj.get("metadata", {}).get("name")
                if not name or name in self.finished:
                    continue
                for cs in obj.get("status", {}).get("containerStatuses") or []:
                    term = (cs.get("state") or {}).get("terminated")
                    if cs.get("name") == "spark-kubernetes-driver" and term:
                        self.finished[name] = now
                        self.finished_at[name] = str(term.get("finishedAt"))
        except (OSError, ValueError, http.client.HTTPException):
            return

    def stop(self) -> None:
        self._stop = True
        if self._conn is not None and self._conn.sock is not None:
            with contextlib.suppress(OSError):
                self._conn.sock.shutdown(2)
        if self._thread is not None:
            self._thread.join(5)


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python process: unbuffered output, no user site, and
    sparkube imported from the run's snapshot when there is one (see `snapshot_sparkube`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    if (SNAPSHOT / "sparkube" / "_core.abi3.so").exists():
        env["PYTHONPATH"] = str(SNAPSHOT)
    env.update(extra or {})
    return env
