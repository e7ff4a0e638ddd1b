"""The root cause of a failed app reaches the status, the exception, the notebook view and the
CLI (the table of causes is tested in Rust, `rust/sparkube/tests/cause.rs`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import sparkube
from sparkube import Client, Driver, SparkApp

if TYPE_CHECKING:
    from tests.conftest import Kubesim

SPARKUBE = str(Path(sys.executable).with_name("sparkube"))
PI = "local:///opt/spark/examples/src/main/python/pi.py"
IMAGE = "apache/spark:4.0.1"


def cli(ks: Kubesim, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "KUBECONFIG": str(ks.kubeconfig)}
    return subprocess.run(
        [SPARKUBE, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_a_failed_apps_cause_in_the_exception_the_views_and_the_cli(kubesim: Kubesim) -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/opt/spark/work-dir/job.py", line 3, in <module>\n'
        "    rows = 1 / 0\n"
        "ZeroDivisionError: division by zero"
    )
    failing = SparkApp(
        name="cause",
        application=PI,
        image=IMAGE,
        driver=Driver(
            annotations={
                "kubesim.io/run-seconds": "1",
                "kubesim.io/exit-code": "1",
                "kubesim.io/log": traceback,
            }
        ),
    )
    handle = Client(kubeconfig=kubesim.kubeconfig).submit(failing)
    with pytest.raises(sparkube.AppFailed) as failed:
        handle.wait(timeout=60)
    status = failed.value.status
    assert status is not None
    assert status.cause == "Python: ZeroDivisionError: division by zero"
    assert str(failed.value).endswith("; cause: Python: ZeroDivisionError: division by zero")
    assert 'cause="Python: ZeroDivisionError: division by zero")' in repr(status)
    assert (
        "<th style='text-align:left'>cause</th><td>Python: ZeroDivisionError"
        in status._repr_html_()
    )
    assert sparkube.AppStatus.from_dict(status.to_dict()).cause == status.cause

    result = cli(
        kubesim,
        "submit",
        "--name",
        "cause-cli",
        "--conf",
        f"spark.kubernetes.container.image={IMAGE}",
        "--conf",
        "spark.kubernetes.driver.annotation.kubesim.io/exit-code=1",
        "--conf",
        'spark.kubernetes.driver.annotation.kubesim.io/log=Exception in thread "main" '
        "java.lang.IllegalStateException: no input rows",
        PI,
    )
    assert result.returncode == 1
    assert "Cause: Java: java.lang.IllegalStateException: no input rows" in result.stderr
