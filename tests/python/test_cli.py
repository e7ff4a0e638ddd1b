"""The `sparkube` command as users run it: a fresh process against kubesim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from tests.conftest import Kubesim

SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
PI = "local:///opt/spark/examples/src/main/python/pi.py"


def run(
    *args: str, kubesim: Kubesim | None = None, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **extra_env}
    if kubesim is not None:
        env["KUBECONFIG"] = str(kubesim.kubeconfig)
    return subprocess.run(
        [SPARKUBE, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def submit_args(name: str, **annotations: str) -> list[str]:
    args = ["--name", name, "--conf", "spark.kubernetes.container.image=apache/spark:4.0.1"]
    for key, value in annotations.items():
        args += [
            "--conf",
            f"spark.kubernetes.driver.annotation.kubesim.io/{key.replace('_', '-')}={value}",
        ]
    return [*args, PI]


def test_submit_waits_reports_and_succeeds(kubesim: Kubesim) -> None:
    result = run(
        "submit",
        "--logs",
        *submit_args("cli-ok", run_seconds="2", log="Pi is roughly 3.14"),
        kubesim=kubesim,
    )
    assert result.returncode == 0, result.stderr
    assert "Pi is roughly 3.14" in result.stdout
    assert "Application status for spark-" in result.stderr
    assert "(phase: Running)" in result.stderr
    assert "finished: Succeeded" in result.stderr


def test_failed_app_exits_1_with_reason_and_log_tail(kubesim: Kubesim) -> None:
    result = run(
        "submit",
        *submit_args("cli-fail", run_seconds="1", exit_code="7", log="ValueError: no"),
        kubesim=kubesim,
    )
    assert result.returncode == 1
    assert "Failed (Error) exit code 7" in result.stderr
    assert "ValueError: no" in result.stderr


def test_timeout_exits_3(kubesim: Kubesim) -> None:
    result = run(
        "submit", "--timeout", "1", *submit_args("cli-slow", run_seconds="600"), kubesim=kubesim
    )
    assert result.returncode == 3, result.stderr
    run("kill", "default:cli-slow*", kubesim=kubesim)


def test_no_wait_prints_the_handle_and_status_and_kill_find_it(kubesim: Kubesim) -> None:
    result = run(
        "submit",
        "--no-wait",
        "-o",
        "json",
        *submit_args("cli-bg", run_seconds="600"),
        kubesim=kubesim,
    )
    assert result.returncode == 0, result.stderr
    handle = json.loads(result.stdout)
    pod = handle["driver_pod"]
    assert handle["app_id"].startswith("spark-")

    status = run("submit", "--status", f"default:{pod}", kubesim=kubesim)
    assert status.returncode == 0, status.stderr
    assert handle["app_id"] in status.stdout

    # The grace period is a Spark time conf: a suffix is read as spark-submit reads it.
    grace = "spark.kubernetes.appKillPodDeletionGracePeriod=0s"
    killed = run("submit", "--kill", "default:cli-bg*", "--conf", grace, kubesim=kubesim)
    assert killed.returncode == 0, killed.stderr
    assert f"Deleted driver pod default/{pod}" in killed.stderr
    assert run("kill", "default:cli-bg*", kubesim=kubesim).returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--conf", "spark.driver.memory=2 GB"], "spark.driver.memory"),
        (["--conf", "spark.executor.instances=0"], "spark.executor.instances"),
        (["--conf", "spark.kubernetes.driver.label.spark-role=x"], "reserved for Spark"),
        (["--conf", "novalue"], "--conf"),
        (["--conf", "spark.kubernetes.report.interval=1.5s"], "spark.kubernetes.report.interval"),
        (["--conf", "spark.kubernetes.report.interval=0"], "positive time value"),
        (["--kill", "x", "--conf", "spark.kubernetes.appKillPodDeletionGracePeriod=1.5"], "Grace"),
        (["--stall-timeout", "0"], "--stall-timeout"),
        (["--on-stall", "maybe"], "on_stall"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    kubesim: Kubesim, args: list[str], message: str
) -> None:
    before = kubesim.metric("apiserver_request_total", verb="POST", resource="pods")
    result = run("submit", *args, *submit_args("cli-bad"), kubesim=kubesim)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert kubesim.metric("apiserver_request_total", verb="POST", resource="pods") == before


def test_render_yaml_and_json_agree() -> None:
    master = ["--master", "k8s://https://example:6443", "--conf", "sparkube.submission.id=fixed"]
    as_json = run("render", *master, *submit_args("same"))
    as_yaml = run("render", "-o", "yaml", *master, *submit_args("same"))
    assert as_json.returncode == 0, as_json.stderr
    assert as_yaml.returncode == 0, as_yaml.stderr

    parsed_json = json.loads(as_json.stdout)
    parsed_yaml = yaml.safe_load(as_yaml.stdout)
    assert [i["kind"] for i in parsed_json["items"]] == [
        "Pod",
        "Service",
        "NetworkPolicy",
        "ConfigMap",
    ]
    assert [i["metadata"]["name"] for i in parsed_yaml["items"]] == [
        i["metadata"]["name"] for i in parsed_json["items"]
    ]


def test_render_takes_its_options_after_spark_submit_switches(tmp_path: Path) -> None:
    """`--load-spark-defaults` takes no value: the `-o yaml` after it is sparkube's."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text("spark.executor.memory 3g\n")
    props = tmp_path / "job.conf"
    props.write_text("spark.driver.memory 2g\n")
    result = run(
        "render",
        "--master",
        "k8s://https://example:6443",
        "--properties-file",
        str(props),
        "--load-spark-defaults",
        "-o",
        "yaml",
        *submit_args("defaults"),
        SPARK_CONF_DIR=str(conf_dir),
    )
    assert result.returncode == 0, result.stderr
    items = yaml.safe_load(result.stdout)["items"]
    properties = next(i for i in items if i["kind"] == "ConfigMap")["data"]["spark.properties"]
    # Both files were read: the properties file and, asked for, spark-defaults.conf.
    assert "spark.driver.memory=2g" in properties
    assert "spark.executor.memory=3g" in properties


def test_status_and_kill_read_an_empty_namespace_as_the_default_one(kubesim: Kubesim) -> None:
    """`:pod` is one grammar, read by the core for every command: the default namespace."""
    submitted = run(
        "submit",
        "--no-wait",
        "-o",
        "json",
        *submit_args("cli-colon", run_seconds="600"),
        kubesim=kubesim,
    )
    assert submitted.returncode == 0, submitted.stderr
    pod = json.loads(submitted.stdout)["driver_pod"]

    status = run("status", f":{pod}", kubesim=kubesim)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"default/{pod}\t"), status.stdout

    killed = run("kill", f":{pod}", kubesim=kubesim)
    assert killed.returncode == 0, killed.stderr
    assert f"Deleted driver pod default/{pod}" in killed.stderr
    assert run("kill", f":{pod}", kubesim=kubesim).returncode == 1


@pytest.mark.parametrize("target", ["a:b:c", "ns:", "po*d"])
def test_a_malformed_pod_reference_is_a_usage_error(kubesim: Kubesim, target: str) -> None:
    for command in ("status", "kill", "logs"):
        result = run(command, target, kubesim=kubesim)
        assert result.returncode == 2, (command, result.stderr)
        assert "invalid submission id" in result.stderr, (command, result.stderr)


def test_unreachable_api_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = run("list", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 1
    assert "could not reach the API server" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_master_that_is_not_the_kubeconfig_server_gets_no_credentials_and_says_so(
    kubesim: Kubesim,
) -> None:
    # The kubeconfig names https://127.0.0.1:PORT; the same port answers plain HTTP too.
    result = run(
        "submit",
        "--no-wait",
        "--master",
        f"k8s://{kubesim.url}",
        *submit_args("other-server"),
        kubesim=kubesim,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "401" in result.stderr
    assert "sparkube sent no credentials" in result.stderr
    assert f"--master {kubesim.url} is not the server" in result.stderr
    assert f"({kubesim.https_url})" in result.stderr
    assert "invalid or expired" not in result.stderr


def test_a_master_equal_to_the_kubeconfig_server_after_normalisation_uses_its_credentials(
    kubesim: Kubesim,
) -> None:
    host_port = kubesim.https_url.removeprefix("https://")
    result = run(
        "submit",
        "--no-wait",
        "--master",
        f"k8s://HTTPS://{host_port}/",
        *submit_args("same-server"),
        kubesim=kubesim,
    )
    assert result.returncode == 0, result.stderr
    status, pods = kubesim.request("GET", "/api/v1/namespaces/default/pods")
    assert status == 200, pods
    assert any(p["metadata"]["name"].startswith("same-server-") for p in pods["items"])
