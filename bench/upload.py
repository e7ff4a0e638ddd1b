"""Scenario 9, uploading local files: an application with a 50 MiB archive and 20 small
py-files, submitted with a `file://` upload path (the only kind the PyPI spark-submit can
write: it has no hadoop-aws), by `sparkube submit --no-wait` and by spark-submit 4.3.0
(`waitAppCompletion=false`), each run a fresh process measured with GNU time.

- first submit: an empty store, everything is sent; compared with copying the same bytes on
  the same disk (`shutil.copyfile` + fsync of the archive and the py-files): the write speed
  the upload could reach;
- second submit: the same files again; sparkube finds every object by its content-derived name
  and sends 0 bytes (spark-submit draws new directories and sends everything again);
- a submit without local files, the reference for the second submit;
- peak RSS of `sparkube submit --no-wait` uploading a 1 GiB file (streamed in 8 MiB parts),
  beside the same command without files.
"""

from __future__ import annotations

import os
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
from tests.parity.oracle import FAST_JVM, WAIT_OFF, clean_env, pyspark_home

if TYPE_CHECKING:
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


def copy_speed(project: dict[str, Path], target: Path) -> float:
    """MiB/s of copying the submission's files on the same disk, fsynced."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    files = [project["archive"], *sorted(project["dir"].glob("mod*.py")), project["dir"] / "job.py"]
    start = time.perf_counter()
    total = 0
    for f in files:
        dest = target / f.name
        shutil.copyfile(f, dest)
        with open(dest, "rb+") as fd:
            os.fsync(fd.fileno())
        total += f.stat().st_size
    seconds = time.perf_counter() - start
    shutil.rmtree(target, ignore_errors=True)
    return total / MIB / seconds


def submit_args(kubesim: Kubesim, name: str, store: Path | None, files: bool) -> list[str]:
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
    if store is not None:
        args += ["--conf", f"spark.kubernetes.file.upload.path=file://{store}"]
    if not files:
        return [*args, "local:///opt/spark/examples/src/main/python/pi.py"]
    py_files = ",".join(f"mod{i:02}.py" for i in range(PY_FILES))
    return [*args, "--archives", "env.tar.gz#environment", "--py-files", py_files, "job.py"]


def stored_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*") if p.is_file())


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

    def measure(key: str, argv: list[str], env: dict[str, str], store: Path | None) -> None:
        before = stored_bytes(store) if store is not None and store.exists() else 0
        r = run_measured(argv, env=env, cwd=cwd, timeout=900)
        if r.returncode != 0:
            failures.append(f"{key}: {r.stderr[-1500:]}")
            return
        sent = (stored_bytes(store) - before) if store is not None else 0
        rows.setdefault(key, []).append(
            {
                "wall_s": r.wall_s,
                "cpu_s": r.cpu_s,
                "max_rss_mb": r.max_rss_mb,
                "sent_mb": sent / MIB,
            }
        )

    copy = [copy_speed(project, WORK / "upload-copy") for _ in range(runs)]
    for i in range(runs):
        log(f"upload round {i + 1}/{runs}")
        store = WORK / f"upload-store-sk-{i}"
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        argv = [sparkube, "submit", "--no-wait", *submit_args(kubesim, f"up-a-{i}", store, True)]
        measure("sparkube, first submit", argv, py_env, store)
        argv = [sparkube, "submit", "--no-wait", *submit_args(kubesim, f"up-b-{i}", store, True)]
        measure("sparkube, second submit (unchanged)", argv, py_env, store)
        argv = [sparkube, "submit", "--no-wait", *submit_args(kubesim, f"up-c-{i}", None, False)]
        measure("sparkube, no local files", argv, py_env, None)
        shutil.rmtree(store, ignore_errors=True)
        store = WORK / f"upload-store-ss-{i}"
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        argv = [spark_submit, *submit_args(kubesim, f"up-d-{i}", store, True)]
        measure("spark-submit, first submit", argv, jvm_env, store)
        argv = [spark_submit, *submit_args(kubesim, f"up-e-{i}", store, True)]
        measure("spark-submit, second submit", argv, jvm_env, store)
        argv = [spark_submit, *submit_args(kubesim, f"up-f-{i}", None, False)]
        measure("spark-submit, no local files", argv, jvm_env, None)
        shutil.rmtree(store, ignore_errors=True)

    log(f"upload: peak RSS with a {big_gib:g} GiB file")
    store = WORK / "upload-store-big"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    big_args = submit_args(kubesim, "up-big", store, False)[:-1]
    argv = [sparkube, "submit", "--no-wait", *big_args, "--jars", "big.jar", "job.py"]
    measure(f"sparkube, {big_gib:g} GiB jar", argv, py_env, store)
    shutil.rmtree(store, ignore_errors=True)
    delete_namespace(kubesim, NAMESPACE, timeout=300)
    return {
        "payload_mb": payload / MIB,
        "copy_mb_per_s": summary(copy),
        "tools": {k: {f: summary([r[f] for r in v]) for f in v[0]} for k, v in rows.items()},
        "failures": failures,
        "big_gib": big_gib,
    }


def stored_bytes_of(project: dict[str, Path]) -> int:
    """The bytes one submission uploads: the archive, the py-files and the script."""
    files = [project["archive"], project["dir"] / "job.py", *project["dir"].glob("mod*.py")]
    return sum(f.stat().st_size for f in files)
