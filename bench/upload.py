"""Scenario 9, uploading local files: an application with a 50 MiB archive and 20 small
py-files, submitted with a `file://` upload path (the only kind the PyPI spark-submit can
write: it has no hadoop-aws), by `sparkube submit --no-wait` and by spark-submit 4.3.0
(`waitAppCompletion=false`), each run a fresh process measured with GNU time.

- first submit: an empty store, everything is sent; compared with copying the same bytes on
  the same disk (`shutil.copyfile` of the archive and the py-files, with fsync: the disk's
  write speed, and without: the page cache's, as sparkube's `file://` writes are not fsynced
  any more than Hadoop's): the write speed the upload could reach;
- second submit: the same files again; sparkube finds every object by its content-derived name
  and sends 0 bytes (spark-submit draws new directories and sends everything again);
- a submit without local files, the reference for the second submit;
- the same first and second submit to an S3 server on the loopback (moto in server mode, the
  tests' server, in .venv/s3), beside what that server absorbs from a plain client: PUTs of the
  same files over one connection each, the speed an S3 upload could reach here;
- peak RSS of `sparkube submit --no-wait` uploading a 1 GiB file (streamed in 8 MiB parts) to
  the `file://` path and to the S3 server, beside the same command without files.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import time
from typing import TYPE_CHECKING, Any

from bench.common import (
    IMAGE,
    ROOT,
    WORK,
    create_namespace,
    delete_namespace,
    log,
    python_env,
    run_measured,
    summary,
)
from tests.conftest import S3Server, running_s3_server
from tests.parity.oracle import FAST_JVM, WAIT_OFF, clean_env, pyspark_home

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bench.common import Kubesim

NAMESPACE = "bench-upload"
MIB = 1024 * 1024
ARCHIVE_MIB = 50
PY_FILES = 20


def make_project(directory: Path, big_gib: float) -> dict[str, Path]:
    """The archive, the py-files, the script, and the large file, written once."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "env.tar.gz"
    if not archive.exists() or archive.stat().st_size != ARCHIVE_MIB * MIB:
        archive.write_bytes(os.urandom(ARCHIVE_MIB * MIB))
    for i in range(PY_FILES):
        (directory / f"mod{i:02}.py").write_text(f"VALUE = {i}\n" + "# padding\n" * 200)
    (directory / "job.py").write_text("import mod00\nprint(mod00.VALUE)\n")
    big = directory / "big.jar"
    size = int(big_gib * 1024 * MIB)
    if not big.exists() or big.stat().st_size != size:
        with open(big, "wb") as out:
            chunk = os.urandom(MIB)
            for _ in range(size // MIB):
                out.write(chunk)
    return {"archive": archive, "big": big, "dir": directory}


def copy_speed(project: dict[str, Path], target: Path, *, fsync: bool = True) -> float:
    """MiB/s of copying the submission's files on the same disk, fsynced (what the disk
    takes) or not (what the page cache takes, as sparkube's and Hadoop's `file://` writes)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    files = [project["archive"], *sorted(project["dir"].glob("mod*.py")), project["dir"] / "job.py"]
    start = time.perf_counter()
    total = 0
    for f in files:
        dest = target / f.name
        shutil.copyfile(f, dest)
        if fsync:
            with open(dest, "rb+") as fd:
                os.fsync(fd.fileno())
        total += f.stat().st_size
    seconds = time.perf_counter() - start
    shutil.rmtree(target, ignore_errors=True)
    return total / MIB / seconds


def submit_args(
    kubesim: Kubesim, name: str, store: Path | dict[str, str] | None, files: bool
) -> list[str]:
    """spark-submit's arguments; `store` is a `file://` folder or the conf of an S3 store."""
    args = [
        "--master",
        f"k8s://{kubesim.https_url}",
        "--deploy-mode",
        "cluster",
        "--name",
        name,
        "--conf",
        f"spark.kubernetes.container.image={IMAGE}",
        "--conf",
        f"spark.kubernetes.namespace={NAMESPACE}",
        "--conf",
        WAIT_OFF,
    ]
    if isinstance(store, dict):
        args += [a for k, v in store.items() for a in ("--conf", f"{k}={v}")]
    elif store is not None:
        args += ["--conf", f"spark.kubernetes.file.upload.path=file://{store}"]
    if not files:
        return [*args, "local:///opt/spark/examples/src/main/python/pi.py"]
    py_files = ",".join(f"mod{i:02}.py" for i in range(PY_FILES))
    return [*args, "--archives", "env.tar.gz#environment", "--py-files", py_files, "job.py"]


def stored_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*") if p.is_file())


def s3_bytes(server: S3Server, bucket: str) -> int:
    """The bytes stored in `bucket` (its objects' sizes, from one listing)."""
    status, body = server.request("GET", f"/{bucket}?list-type=2&max-keys=1000")
    if status != 200:
        raise RuntimeError(f"listing {bucket}: HTTP {status}")
    return sum(int(size) for size in re.findall(r"<Size>(\d+)</Size>", body.decode()))


def s3_put_speed(server: S3Server, bucket: str, files: list[Path]) -> float:
    """MiB/s of PUTting `files` to the S3 server, one request each, from this process: what the
    server absorbs from a client that does nothing else (bodies read before the clock starts)."""
    bodies = [(f.name, f.read_bytes()) for f in files]
    start = time.perf_counter()
    for name, body in bodies:
        status, answer = server.request("PUT", f"/{bucket}/speed/{name}", body)
        if status != 200:
            raise RuntimeError(f"PUT {name}: HTTP {status} {answer[:200]!r}")
    seconds = time.perf_counter() - start
    return sum(len(b) for _, b in bodies) / MIB / seconds


def run(kubesim: Kubesim, *, runs: int, big_gib: float) -> dict[str, Any]:
    create_namespace(kubesim, NAMESPACE)
    project = make_project(WORK / "upload-project", big_gib)
    cwd = project["dir"]
    sparkube = str(ROOT / ".venv" / "bin" / "sparkube")
    spark_submit = str(pyspark_home() / "bin" / "spark-submit")
    kube_env = {"KUBECONFIG": str(kubesim.kubeconfig)}
    home, conf = WORK / "upload-home", WORK / "upload-conf"
    for d in (home, conf):
        d.mkdir(parents=True, exist_ok=True)
    jvm_env = {**clean_env(home, conf), **kube_env, "SPARK_SUBMIT_OPTS": FAST_JVM}
    py_env = python_env(kube_env)
    payload = stored_bytes_of(project)
    rows: dict[str, list[dict[str, float]]] = {}
    failures: list[str] = []

    def measure(
        key: str, argv: list[str], env: dict[str, str], stored: Callable[[], int] | None
    ) -> None:
        before = stored() if stored is not None else 0
        r = run_measured(argv, env=env, cwd=cwd, timeout=900)
        if r.returncode != 0:
            failures.append(f"{key}: {r.stderr[-1500:]}")
            return
        sent = (stored() - before) if stored is not None else 0
        rows.setdefault(key, []).append(
            {
                "wall_s": r.wall_s,
                "cpu_s": r.cpu_s,
                "max_rss_mb": r.max_rss_mb,
                "sent_mb": sent / MIB,
            }
        )

    def folder(store: Path) -> Callable[[], int]:
        return lambda: stored_bytes(store) if store.exists() else 0

    def sparkube_submit(name: str, store: Path | dict[str, str] | None) -> list[str]:
        return [sparkube, "submit", "--no-wait", *submit_args(kubesim, name, store, True)]

    copy = [copy_speed(project, WORK / "upload-copy") for _ in range(runs)]
    cached = [copy_speed(project, WORK / "upload-copy", fsync=False) for _ in range(runs)]
    files = [project["archive"], *sorted(cwd.glob("mod*.py")), cwd / "job.py"]
    with running_s3_server() as s3:
        s3.create_bucket("speed")
        put = [s3_put_speed(s3, "speed", files) for _ in range(runs)]
        for i in range(runs):
            log(f"upload round {i + 1}/{runs}")
            store = WORK / f"upload-store-sk-{i}"
            shutil.rmtree(store, ignore_errors=True)
            store.mkdir(parents=True)
            measure(
                "sparkube, first submit", sparkube_submit(f"up-a-{i}", store), py_env, folder(store)
            )
            argv = sparkube_submit(f"up-b-{i}", store)
            measure("sparkube, second submit (unchanged)", argv, py_env, folder(store))
            argv = [
                sparkube,
                "submit",
                "--no-wait",
                *submit_args(kubesim, f"up-c-{i}", None, False),
            ]
            measure("sparkube, no local files", argv, py_env, None)
            shutil.rmtree(store, ignore_errors=True)
            bucket = f"bench-{i}"
            s3.create_bucket(bucket)
            in_bucket = functools.partial(s3_bytes, s3, bucket)
            s3_conf = s3.conf(f"s3a://{bucket}/up")
            argv = sparkube_submit(f"up-g-{i}", s3_conf)
            measure("sparkube to S3, first submit", argv, py_env, in_bucket)
            argv = sparkube_submit(f"up-h-{i}", s3_conf)
            measure("sparkube to S3, second submit (unchanged)", argv, py_env, in_bucket)
            store = WORK / f"upload-store-ss-{i}"
            shutil.rmtree(store, ignore_errors=True)
            store.mkdir(parents=True)
            argv = [spark_submit, *submit_args(kubesim, f"up-d-{i}", store, True)]
            measure("spark-submit, first submit", argv, jvm_env, folder(store))
            argv = [spark_submit, *submit_args(kubesim, f"up-e-{i}", store, True)]
            measure("spark-submit, second submit", argv, jvm_env, folder(store))
            argv = [spark_submit, *submit_args(kubesim, f"up-f-{i}", None, False)]
            measure("spark-submit, no local files", argv, jvm_env, None)
            shutil.rmtree(store, ignore_errors=True)

        log(f"upload: peak RSS with a {big_gib:g} GiB file")
        store = WORK / "upload-store-big"
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        big_args = submit_args(kubesim, "up-big", store, False)[:-1]
        argv = [sparkube, "submit", "--no-wait", *big_args, "--jars", "big.jar", "job.py"]
        measure(f"sparkube, {big_gib:g} GiB jar", argv, py_env, folder(store))
        shutil.rmtree(store, ignore_errors=True)
        s3.create_bucket("bench-big")
        big_args = submit_args(kubesim, "up-big-s3", s3.conf("s3a://bench-big/up"), False)[:-1]
        argv = [sparkube, "submit", "--no-wait", *big_args, "--jars", "big.jar", "job.py"]
        measure(
            f"sparkube to S3, {big_gib:g} GiB jar",
            argv,
            py_env,
            functools.partial(s3_bytes, s3, "bench-big"),
        )
    delete_namespace(kubesim, NAMESPACE, timeout=300)
    return {
        "payload_mb": payload / MIB,
        "copy_mb_per_s": summary(copy),
        "copy_unsynced_mb_per_s": summary(cached),
        "s3_put_mb_per_s": summary(put),
        "tools": {k: {f: summary([r[f] for r in v]) for f in v[0]} for k, v in rows.items()},
        "failures": failures,
        "big_gib": big_gib,
    }


def stored_bytes_of(project: dict[str, Path]) -> int:
    """The bytes one submission uploads: the archive, the py-files and the script."""
    files = [project["archive"], project["dir"] / "job.py", *project["dir"].glob("mod*.py")]
    return sum(f.stat().st_size for f in files)
