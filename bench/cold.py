"""Scenario 1, cold submit: a fresh process that creates the driver pod and its objects and
exits without waiting, for `sparkube submit --no-wait`, spark-submit 4.3.0
(`waitAppCompletion=false`) and the spark-on-k8s CLI; plus `sparkube render` as a fresh process.

Runs are interleaved (one of each tool per round) so that the machine's noise falls on all of
them alike. Each run's wall time, CPU (the process and its children) and peak RSS come from
`wait4`.
"""

from __future__ import annotations

import shlex
import shutil
from typing import TYPE_CHECKING, Any

from bench.common import (
    APP_ARGS,
    IMAGE,
    JAR,
    MAIN_CLASS,
    PEERS_VENV,
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
    from bench.common import Kubesim

NAMESPACE = "bench-cold"


def spark_args(kubesim: Kubesim, name: str) -> list[str]:
    """spark-submit's arguments for the benchmark's SparkPi, against `kubesim`."""
    return [
        "--master",
        f"k8s://{kubesim.https_url}",
        "--deploy-mode",
        "cluster",
        "--name",
        name,
        "--class",
        MAIN_CLASS,
        "--conf",
        f"spark.kubernetes.container.image={IMAGE}",
        "--conf",
        f"spark.kubernetes.namespace={NAMESPACE}",
        "--conf",
        WAIT_OFF,
        JAR,
        *APP_ARGS,
    ]


def display(argv: list[str], kubesim: Kubesim) -> str:
    """A command line for people: paths relative to the repository, kubesim's URL as a name."""
    text = shlex.join(argv).replace(kubesim.https_url, "https://KUBESIM")
    return text.replace(str(PEERS_VENV) + "/", "bench/.work/peers-venv/").replace(
        str(ROOT) + "/", ""
    )


def tools(kubesim: Kubesim, fast_jvm: bool) -> dict[str, Any]:
    """name → function(i) giving (argv, env) for run i."""
    home = WORK / "cold-home"
    conf = WORK / "cold-conf"
    for d in (home, conf):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    kube_env = {"KUBECONFIG": str(kubesim.kubeconfig)}
    sparkube = str(ROOT / ".venv" / "bin" / "sparkube")
    spark_submit = str(pyspark_home() / "bin" / "spark-submit")
    jvm_env = {**clean_env(home, conf), **kube_env}
    jvm_env.pop("SPARK_SUBMIT_OPTS", None)

    def sparkube_submit(i: int) -> tuple[list[str], dict[str, str]]:
        return [sparkube, "submit", "--no-wait", *spark_args(kubesim, f"pi-sk-{i}")], python_env(
            kube_env
        )

    def sparkube_render(i: int) -> tuple[list[str], dict[str, str]]:
        argv = [sparkube, "render", "-o", "json", *spark_args(kubesim, f"pi-render-{i}")]
        return argv, python_env(kube_env)

    def spark_submit_run(i: int) -> tuple[list[str], dict[str, str]]:
        return [spark_submit, *spark_args(kubesim, f"pi-ss-{i}")], jvm_env

    def spark_submit_fast(i: int) -> tuple[list[str], dict[str, str]]:
        env = {**jvm_env, "SPARK_SUBMIT_OPTS": FAST_JVM}
        return [spark_submit, *spark_args(kubesim, f"pi-ssf-{i}")], env

    def spark_on_k8s(i: int) -> tuple[list[str], dict[str, str]]:
        argv = [
            str(PEERS_VENV / "bin" / "spark-on-k8s"),
            "app",
            "submit",
            "--image",
            IMAGE,
            "--path",
            JAR,
            "--class",
            MAIN_CLASS,
            "--name",
            f"pi-sok-{i}",
            "-n",
            NAMESPACE,
            *APP_ARGS,
        ]
        return argv, python_env(kube_env)

    out: dict[str, Any] = {
        "sparkube submit --no-wait": sparkube_submit,
        "spark-submit": spark_submit_run,
        "spark-on-k8s app submit": spark_on_k8s,
        "sparkube render": sparkube_render,
    }
    if fast_jvm:
        out["spark-submit (fast-start JVM flags)"] = spark_submit_fast
    return out


def run(kubesim: Kubesim, *, runs: int, fast_jvm: bool) -> dict[str, Any]:
    """Every tool `runs` times, interleaved; per tool the samples and their summary."""
    create_namespace(kubesim, NAMESPACE)
    table = tools(kubesim, fast_jvm)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in table}
    failures: dict[str, list[str]] = {name: [] for name in table}
    rss_method = ""
    # One unmeasured run each first: page cache, JIT caches of the OS, kubesim's first requests.
    for make in table.values():
        argv, env = make(-1)
        run_measured(argv, env=env, cwd=WORK, stdout_to_devnull=True)
    for i in range(runs):
        log(f"cold submit round {i + 1}/{runs}")
        for name, make in table.items():
            argv, env = make(i)
            r = run_measured(argv, env=env, cwd=WORK, stdout_to_devnull=True)
            if r.returncode != 0:
                failures[name].append(r.stderr[-1500:])
                continue
            samples[name].append({"wall_s": r.wall_s, "cpu_s": r.cpu_s, "max_rss_mb": r.max_rss_mb})
            rss_method = r.rss_method
    status, body = kubesim.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")
    pods = len(body.get("items", [])) if status == 200 and isinstance(body, dict) else None
    delete_namespace(kubesim, NAMESPACE)
    result: dict[str, Any] = {
        "runs": runs,
        "driver_pods_created": pods,
        "rss_method": rss_method,
        "tools": {},
    }
    for name in table:
        rows = samples[name]
        result["tools"][name] = {
            "command": display(table[name](0)[0], kubesim),
            "wall_s": summary([r["wall_s"] for r in rows]),
            "cpu_s": summary([r["cpu_s"] for r in rows]),
            "max_rss_mb": summary([r["max_rss_mb"] for r in rows]),
            "samples_wall_s": [r["wall_s"] for r in rows],
            "failures": len(failures[name]),
            "first_failure": failures[name][0] if failures[name] else None,
        }
    return result
