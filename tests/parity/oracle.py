"""Ground truth for the parity suite: run the real spark-submit, normalise, compare.

``run_spark_submit`` runs ``spark-submit`` from the PyPI ``pyspark==4.3.0`` distribution against
a ``Recorder`` and returns what it sent. ``normalise`` replaces the parts that are random on
every run (application id, unique ids in names, the local-dir UUID, the directory of each
upload, submit time, the local user, the recorder's pod uid) by placeholders, so two runs of the same arguments (by spark-submit or by
sparkube) give equal objects. ``compare`` lists every field spark-submit set that sparkube's
object lacks or sets differently.

As a script it writes what spark-submit sends for every case (for whoever builds the objects)::

    python -m tests.parity.oracle --out /tmp/sparkube-oracle [CASE ...]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import json
import os
import pwd
import re
import shlex
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import javaprops
from .cases import CASES, CASES_BY_ID, Case
from .recorder import APPLY_PATCH, RecordedRequest, Recorder

if TYPE_CHECKING:
    from collections.abc import Mapping

SPARK_VERSION = "4.3.0"
WAIT_OFF = "spark.kubernetes.submission.waitAppCompletion=false"
SUBMISSION_ID_LABEL = "sparkube.io/submission-id"
PROPERTIES_KEY = "spark.properties"

APP_ID = "<APP-ID>"
UID = "<UID>"
CONF_UID = "<CONF-UID>"
SVC_UID = "<SVC-UID>"
UUID = "<UUID>"
USER = "<USER>"
TIME = "<SUBMIT-TIME>"
CASE_DIR = "<CASE-DIR>"
MASTER = "k8s://http://127.0.0.1:PORT"

APP_ID_RE = re.compile(r"^spark-[0-9a-f]{32}$")
POLICY_NAME_RE = re.compile(r"-([0-9a-f]{16})-policy$")
CONF_MAP_NAME_RE = re.compile(r"^spark-drv-([0-9a-f]{16})-conf-map$")
SERVICE_FALLBACK_RE = re.compile(r"^spark-([0-9a-f]{16})-driver-svc$")
LOCAL_DIR_VOLUME_RE = re.compile(r"^spark-local-dir-(\d+)$")
UUID_RE = re.compile(r"spark-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# An upload's directory: spark-submit's is a random UUID, sparkube's 32 hex digits of the
# contents' BLAKE3 hash (the same file, the same name: see sparkube_core::ship::upload_id).
UPLOAD_DIR_RE = re.compile(
    r"spark-upload-(?:[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
)
UPLOAD_ID = "<UPLOAD-ID>"

# JVM flags that only shorten start-up (no effect on what is sent).
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto"


class OracleError(RuntimeError):
    """spark-submit did not run to the point of having sent its objects."""


def pyspark_home() -> Path:
    """The installed ``pyspark`` package directory: a complete Spark distribution."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise OracleError(
            "pyspark is not installed in this environment (pip install pyspark==4.3.0)"
        )
    return Path(spec.origin).parent


def local_user() -> str:
    """The user name Spark reads for ``SPARK_USER`` (the OS account, as Hadoop's login does)."""
    return pwd.getpwuid(os.getuid()).pw_name


def clean_env(home: Path, conf_dir: Path) -> dict[str, str]:
    """An environment with no user Spark/Kubernetes configuration in it."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "SPARK_HOME": str(pyspark_home()),
        "SPARK_CONF_DIR": str(conf_dir),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_SUBMIT_OPTS": FAST_JVM,
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    if "JAVA_HOME" in os.environ:
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return env


def submit_prefix(master: str) -> list[str]:
    """The arguments every parity run starts with."""
    return ["--master", master, "--deploy-mode", "cluster", "--conf", WAIT_OFF]


@dataclass(frozen=True)
class CaseDirs:
    """Where a case's files, HOME and SPARK_CONF_DIR live."""

    root: Path

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @classmethod
    def prepare(cls, case: Case, base: Path) -> CaseDirs:
        dirs = cls(base / case.id)
        for d in (dirs.files, dirs.home, dirs.conf):
            d.mkdir(parents=True, exist_ok=True)
        for name, text in case.resolved_files(str(dirs.files)).items():
            target = dirs.files / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return dirs


@dataclass
class OracleRun:
    """What one spark-submit run sent, in order."""

    case: Case
    dirs: CaseDirs
    master: str
    args: list[str]
    """The case's arguments after ``submit_prefix`` (with ``{dir}`` resolved)."""
    requests: list[RecordedRequest]
    pod_uid: str
    """The uid the recorder gave the driver pod (``""`` when none was created)."""
    stderr: str = field(repr=False)

    @property
    def writes(self) -> list[RecordedRequest]:
        """The requests that create or apply an object."""
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT")]

    @property
    def objects(self) -> list[dict[str, Any]]:
        """Each object written, once: where it was first written, as it was last written (the
        objects created before the pod are applied again with their owner once it exists)."""
        first: dict[tuple[str, str], int] = {}
        out: list[dict[str, Any]] = []
        for body in (r.body for r in self.writes):
            key = (str(body.get("kind")), str(body.get("metadata", {}).get("name")))
            if key in first:
                out[first[key]] = body
            else:
                first[key] = len(out)
                out.append(body)
        return out


_FILE_SERVERS: dict[Path, str] = {}
_FILE_SERVERS_LOCK = threading.Lock()


def serve_directory(directory: Path) -> str:
    """The URL of an HTTP server on loopback serving ``directory`` (one per directory, living
    as long as this process), for cases whose remote files both sides read."""
    with _FILE_SERVERS_LOCK:
        if directory not in _FILE_SERVERS:
            handler = functools.partial(_QuietHandler, directory=str(directory))
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            _FILE_SERVERS[directory] = f"http://127.0.0.1:{server.server_address[1]}"
        return _FILE_SERVERS[directory]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_spark_submit(case: Case, base: Path, timeout: float = 180) -> OracleRun:
    """Run the real spark-submit for ``case`` against a fresh recorder."""
    dirs = CaseDirs.prepare(case, base)
    spark_home = pyspark_home()
    http = serve_directory(dirs.files) if case.serves_http else ""
    args = case.resolved_args(str(dirs.files), http)
    with Recorder() as rec:
        master = f"k8s://{rec.url}"
        argv = [str(spark_home / "bin" / "spark-submit"), *submit_prefix(master), *args]
        try:
            proc = subprocess.run(
                argv,
                env=clean_env(dirs.home, dirs.conf),
                cwd=dirs.files,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OracleError(
                f"spark-submit for case {case.id} did not finish in {timeout} s"
            ) from exc
        requests = rec.requests
        pod_uid = ""
        for r in requests:
            if r.method == "POST" and r.path.endswith("/pods") and isinstance(r.body, dict):
                pod = rec.stored(f"{r.path}/{r.body.get('metadata', {}).get('name', '')}")
                pod_uid = str((pod or {}).get("metadata", {}).get("uid", ""))
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-30:])
        raise OracleError(
            f"spark-submit for case {case.id} exited with {proc.returncode}:\n"
            f"{shlex.join(argv)}\n{tail}"
        )
    return OracleRun(case, dirs, master, args, requests, pod_uid, proc.stderr)


class SparkubeRenderError(RuntimeError):
    """``sparkube render`` failed or printed something that is not a ``v1`` ``List``."""


def sparkube_cli() -> Path:
    """The ``sparkube`` console script of this environment."""
    return Path(sys.prefix) / "bin" / "sparkube"


def run_sparkube_render(run: OracleRun, timeout: float = 60) -> list[dict[str, Any]]:
    """``sparkube render -o json --show-secrets`` (what is submitted, secrets unredacted) with
    the arguments, environment and directory of ``run``."""
    argv = [
        str(sparkube_cli()),
        "render",
        "-o",
        "json",
        "--show-secrets",
        *submit_prefix(run.master),
        *run.args,
    ]
    try:
        proc = subprocess.run(
            argv,
            env=clean_env(run.dirs.home, run.dirs.conf),
            cwd=run.dirs.files,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SparkubeRenderError(f"could not run {shlex.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-30:])
        raise SparkubeRenderError(
            f"sparkube render exited with {proc.returncode}:\n{shlex.join(argv)}\n{tail}"
        )
    try:
        doc = json.loads(proc.stdout)
    except ValueError as exc:
        raise SparkubeRenderError(
            f"sparkube render printed no JSON: {proc.stdout[:500]!r}"
        ) from exc
    if not (
        isinstance(doc, dict)
        and doc.get("apiVersion") == "v1"
        and doc.get("kind") == "List"
        and isinstance(doc.get("items"), list)
    ):
        raise SparkubeRenderError(f"sparkube render printed no v1 List: {proc.stdout[:500]!r}")
    return list(doc["items"])


def run_all(cases: list[Case], base: Path, workers: int = 2) -> dict[str, OracleRun]:
    """Run several cases, ``workers`` JVMs at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {c.id: pool.submit(run_spark_submit, c, base) for c in cases}
        return {cid: f.result() for cid, f in futures.items()}


# ---------------------------------------------------------------------------------------------
# Normalisation


@dataclass(frozen=True)
class RandomParts:
    """The values that differ on every submission, found in one run's objects."""

    app_id: str
    prefix_uid: str
    conf_uid: str
    svc_uid: str = ""
    """The id of a ``spark-<id>-driver-svc`` fallback service name (Spark draws a fresh one)."""

    @classmethod
    def find(cls, objects: list[dict[str, Any]]) -> RandomParts:
        """Read the ids from the objects; raise ``ValueError`` when one is not in Spark's format."""
        pods = [o for o in objects if o.get("kind") == "Pod"]
        if not pods:
            raise ValueError("no Pod among the objects")
        app_id = str(pods[0].get("metadata", {}).get("labels", {}).get("spark-app-selector", ""))
        if not APP_ID_RE.match(app_id):
            raise ValueError(f"application id {app_id!r} is not spark-<32 hex digits>")
        prefix_uid = conf_uid = svc_uid = ""
        for obj in objects:
            name = str(obj.get("metadata", {}).get("name", ""))
            kind = obj.get("kind")
            if kind == "NetworkPolicy" and (m := POLICY_NAME_RE.search(name)):
                prefix_uid = m.group(1)
            if kind == "ConfigMap" and (m := CONF_MAP_NAME_RE.match(name)):
                conf_uid = m.group(1)
            if kind == "Service" and (m := SERVICE_FALLBACK_RE.match(name)):
                svc_uid = m.group(1)
        if not prefix_uid:
            raise ValueError("no NetworkPolicy named {prefix}-<16 hex digits>-policy")
        if not conf_uid:
            raise ValueError("no driver ConfigMap named spark-drv-<16 hex digits>-conf-map")
        if svc_uid == prefix_uid:
            svc_uid = ""
        return cls(app_id, prefix_uid, conf_uid, svc_uid)


def _normalise_text(text: str, ids: RandomParts, replace: Mapping[str, str]) -> str:
    text = text.replace(ids.app_id, APP_ID)
    text = text.replace(f"-{ids.prefix_uid}", f"-{UID}")
    text = text.replace(f"spark-drv-{ids.conf_uid}-", f"spark-drv-{CONF_UID}-")
    if ids.svc_uid:
        text = text.replace(f"spark-{ids.svc_uid}-driver-svc", f"spark-{SVC_UID}-driver-svc")
    text = UPLOAD_DIR_RE.sub(f"spark-upload-{UPLOAD_ID}", text)
    text = UUID_RE.sub(f"spark-{UUID}", text)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def _walk(value: Any, ids: RandomParts, replace: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, ids, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, ids, replace) for v in value]
    if isinstance(value, str):
        return _normalise_text(value, ids, replace)
    return value


def normalise_properties(text: str, ids: RandomParts, replace: Mapping[str, str]) -> dict[str, str]:
    """Parse ``spark.properties`` and normalise its values (``spark.app.submitTime`` included)."""
    props = javaprops.loads(text)
    out = {k: _normalise_text(v, ids, replace) for k, v in props.items()}
    if "spark.app.submitTime" in out:
        out["spark.app.submitTime"] = (
            TIME if out["spark.app.submitTime"].isdigit() else out["spark.app.submitTime"]
        )
    return out


def normalise(
    objects: list[dict[str, Any]],
    replace: Mapping[str, str] | None = None,
    *,
    parse_properties: bool = True,
) -> list[dict[str, Any]]:
    """Objects with every random part replaced by a placeholder (see the module doc).

    ``replace`` maps further literal strings (a temporary directory, say) to placeholders. With
    ``parse_properties`` the driver ConfigMap's ``spark.properties`` becomes a dict.
    """
    replace = dict(replace or {})
    ids = RandomParts.find(objects)
    user = local_user()
    out: list[dict[str, Any]] = []
    for original in objects:
        obj = _walk(original, ids, replace)
        meta = obj.get("metadata", {})
        for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
            meta.pop(key, None)
        for ref in meta.get("ownerReferences", []):
            ref["uid"] = ""
        for labels in _label_maps(obj):
            labels.pop(SUBMISSION_ID_LABEL, None)
        for container in obj.get("spec", {}).get("containers", []):
            for env in container.get("env", []):
                if env.get("name") == "SPARK_USER" and env.get("value") == user:
                    env["value"] = USER
            _sort_local_dirs(container)
        if obj.get("kind") == "ConfigMap" and PROPERTIES_KEY in obj.get("data", {}):
            raw = original["data"][PROPERTIES_KEY]
            props = normalise_properties(raw, ids, replace)
            if parse_properties:
                obj["data"][PROPERTIES_KEY] = props
            else:
                obj["data"][PROPERTIES_KEY] = javaprops.dumps(props)
        out.append(obj)
    return out


def _sort_local_dirs(container: dict[str, Any]) -> None:
    """Give ``spark-local-dir-N`` the N-th path in sorted order, as Spark shuffles them.

    Spark mounts ``spark-local-dir-N`` at the N-th entry of ``SPARK_LOCAL_DIRS`` after a random
    shuffle of ``spark.local.dir``; all those volumes are alike. Only a container that keeps that
    correspondence is rewritten; any other is left as it is, so the comparison shows it.
    """
    env = next((e for e in container.get("env", []) if e.get("name") == "SPARK_LOCAL_DIRS"), None)
    if env is None or not isinstance(env.get("value"), str):
        return
    dirs = env["value"].split(",")
    mounts: dict[int, dict[str, Any]] = {}
    for mount in container.get("volumeMounts", []):
        if m := LOCAL_DIR_VOLUME_RE.match(str(mount.get("name", ""))):
            mounts[int(m.group(1))] = mount
    if sorted(mounts) != list(range(1, len(dirs) + 1)):
        return
    if any(mounts[i + 1].get("mountPath") != d for i, d in enumerate(dirs)):
        return
    ordered = sorted(dirs)
    env["value"] = ",".join(ordered)
    for i, d in enumerate(ordered):
        mounts[i + 1]["mountPath"] = d


def _label_maps(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every label map or label selector map of an object."""
    maps = [obj.get("metadata", {}).get("labels")]
    spec = obj.get("spec", {})
    if obj.get("kind") == "Service":
        maps.append(spec.get("selector"))
    return [m for m in maps if isinstance(m, dict)]


# ---------------------------------------------------------------------------------------------
# API calls


@dataclass(frozen=True)
class Call:
    """One API call as far as parity cares: method, path and, for apply patches, the query."""

    method: str
    path: str
    content_type: str
    query: tuple[tuple[str, str], ...] = ()

    def without_query(self) -> Call:
        return Call(self.method, self.path, self.content_type)

    def __str__(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}{'?' + q if q else ''} [{self.content_type}]"


GROUP_PATHS: dict[str, tuple[str, str]] = {
    "Pod": ("/api/v1", "pods"),
    "Service": ("/api/v1", "services"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "PodGroup": ("/apis/scheduling.volcano.sh/v1beta1", "podgroups"),
}


def recorded_calls(requests: list[RecordedRequest], uid: str = UID) -> list[Call]:
    """The recorded write calls, with random ids in paths replaced like ``normalise`` does."""
    bodies = [r.body for r in requests if r.method in ("POST", "PATCH", "PUT")]
    ids = RandomParts.find(bodies)
    calls = []
    for r in requests:
        if r.method not in ("POST", "PATCH", "PUT"):
            continue
        query = tuple(sorted((k, v) for k, vs in r.query.items() for v in vs))
        calls.append(Call(r.method, _normalise_text(r.path, ids, {}), r.content_type, query))
    return calls


def expected_calls(
    items: list[dict[str, Any]], namespace: str, field_manager: str = "fabric8"
) -> list[Call]:
    """The calls a submitter makes for rendered ``items``: apply the objects before the pod
    (Volcano's PodGroup), POST the pod, apply those again (now with their owner) and the rest."""
    ids = RandomParts.find(items)
    pod = next(i for i, item in enumerate(items) if item.get("kind") == "Pod")
    ordered = [*items[:pod], items[pod], *items[:pod], *items[pod + 1 :]]
    calls = []
    for i, item in enumerate(ordered):
        kind = str(item.get("kind"))
        prefix, plural = GROUP_PATHS.get(kind, ("/api/v1", kind.lower() + "s"))
        ns = item.get("metadata", {}).get("namespace") or namespace
        base = f"{prefix}/namespaces/{ns}/{plural}"
        if i == pod and kind == "Pod":
            calls.append(Call("POST", base, "application/json"))
        else:
            name = _normalise_text(str(item.get("metadata", {}).get("name", "")), ids, {})
            query = (("fieldManager", field_manager), ("force", "true"))
            calls.append(Call("PATCH", f"{base}/{name}", APPLY_PATCH, query))
    return calls


def driver_namespace(objects: list[dict[str, Any]]) -> str:
    """The namespace written into the driver ConfigMap (``default`` when none is)."""
    for obj in objects:
        if obj.get("kind") == "ConfigMap":
            ns = obj.get("data", {}).get("spark.kubernetes.namespace")
            if ns:
                return str(ns)
    return "default"


# ---------------------------------------------------------------------------------------------
# Comparison


@dataclass(frozen=True)
class Difference:
    """One place where sparkube's object lacks or changes what spark-submit sent."""

    path: str
    """Where, as ``items[0].spec.containers[0].env`` (``[i](name)`` for named list entries)."""
    detail: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.detail}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _label(value: Any) -> str:
    if isinstance(value, dict) and "name" in value:
        return f"({value['name']})"
    return ""


def _named(entries: list[Any]) -> bool:
    return all(isinstance(e, dict) and "name" in e for e in entries)


def compare(expected: Any, actual: Any, path: str = "") -> list[Difference]:
    """Every place where ``actual`` lacks or changes what ``expected`` sets.

    Maps: every key of ``expected`` must be in ``actual`` (extra keys are allowed). Lists: same
    length and order, compared entry by entry; lists of named entries (env vars, volumes,
    mounts) whose names differ or come in another order are reported once, with both orders,
    as spark-submit's order is part of what ``render`` reproduces. Scalars:
    equal value and JSON type. The driver's ``spark.properties`` (a map after ``normalise``) is a
    map like any other, except that keys only ``actual`` has are reported too, since every
    property reaches the driver.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [Difference(path, f"expected a map, got {_dumps(actual)}")]
        diffs: list[Difference] = []
        for key, value in expected.items():
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                diffs.append(Difference(sub, f"missing (spark-submit: {_dumps(value)})"))
            else:
                diffs += compare(value, actual[key], sub)
        if path.endswith(f".data.{PROPERTIES_KEY}"):
            diffs += [
                Difference(f"{path}.{key}", f"only in sparkube (= {_dumps(actual[key])})")
                for key in actual
                if key not in expected
            ]
        return diffs
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [Difference(path, f"expected a list, got {_dumps(actual)}")]
        if _named(expected) and _named(actual):
            names_e = [e["name"] for e in expected]
            names_a = [a["name"] for a in actual]
            if names_e != names_a:
                return [
                    Difference(
                        path,
                        "entries differ in names or order\n"
                        f"    spark-submit: {_dumps(names_e)}\n    sparkube:     {_dumps(names_a)}",
                    )
                ]
        if len(expected) != len(actual):
            return [
                Difference(
                    path,
                    f"{len(expected)} entries in spark-submit, {len(actual)} in sparkube\n"
                    f"    spark-submit: {_dumps(expected)}\n    sparkube:     {_dumps(actual)}",
                )
            ]
        diffs = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            diffs += compare(e, a, f"{path}[{i}]{_label(e)}")
        return diffs
    if type(expected) is not type(actual) or expected != actual:
        return [Difference(path, f"spark-submit {_dumps(expected)}, sparkube {_dumps(actual)}")]
    return []


# ---------------------------------------------------------------------------------------------
# Writing the oracle for people


def write_oracle(run: OracleRun, out: Path) -> Path:
    """Write one case's ground truth to ``out/<case>/``."""
    target = out / run.case.id
    target.mkdir(parents=True, exist_ok=True)
    case_dir = str(run.dirs.files)
    replace = {case_dir: CASE_DIR, run.master: MASTER}
    objects = normalise(run.objects, replace, parse_properties=False)
    props = normalise(run.objects, replace)
    (target / "objects.json").write_text(json.dumps(objects, indent=2, ensure_ascii=False) + "\n")
    parsed: dict[str, str] = next(
        (
            o["data"][PROPERTIES_KEY]
            for o in props
            if o.get("kind") == "ConfigMap" and PROPERTIES_KEY in o.get("data", {})
        ),
        {},
    )
    (target / "spark.properties.json").write_text(
        json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    (target / "calls.txt").write_text("".join(f"{c}\n" for c in recorded_calls(run.requests)))
    (target / "requests.raw.json").write_text(
        json.dumps([r.to_json() for r in run.requests], indent=2, ensure_ascii=False) + "\n"
    )
    lines = [
        "# spark-submit arguments, one per line ({dir} = <CASE-DIR>, the case's files directory)",
        *submit_prefix(MASTER),
        *(a.replace(case_dir, CASE_DIR) for a in run.args),
    ]
    (target / "args.txt").write_text("\n".join(lines) + "\n")
    for name, text in run.case.resolved_files(CASE_DIR).items():
        f = target / "files" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write what the real spark-submit sends, per case."
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/sparkube-oracle"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("cases", nargs="*", help="case ids (default: all)")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES_BY_ID]
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}; known: {', '.join(CASES_BY_ID)}")
    cases = [CASES_BY_ID[c] for c in args.cases] if args.cases else CASES
    failed = 0
    with (
        tempfile.TemporaryDirectory(prefix="sparkube-oracle-") as tmp,
        ThreadPoolExecutor(max_workers=args.workers) as pool,
    ):
        futures = [(c, pool.submit(run_spark_submit, c, Path(tmp))) for c in cases]
        for case, future in futures:
            try:
                run = future.result()
            except OracleError as exc:
                failed += 1
                print(f"{case.id}: FAILED\n{exc}", file=sys.stderr)
                continue
            print(f"{case.id}: {write_oracle(run, args.out)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
