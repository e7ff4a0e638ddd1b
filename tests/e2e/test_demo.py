"""`make demo` as a user runs it: Airflow runs `spark_pi`, real Spark computes Pi on kubesim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import alive, descendants, kubesim_binary

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


@pytest.mark.timeout(900)
def test_demo_prints_pi_the_final_state_and_leaves_nothing_running() -> None:
    env = {**os.environ, "KUBESIM_BIN": str(kubesim_binary())}
    below: set[int] = set()
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(DEMO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as process:
        # Remember everything the demo starts while it runs, to check it is all gone after.
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.3):
                below.update(descendants(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert process.stdout is not None
        lines.extend(process.stdout)
        code = process.wait(timeout=600)
        done.set()
        sampler.join()
    output = "".join(lines)
    assert code == 0, output
    assert re.search(r"^Pi is roughly 3\.1\d*", output, re.MULTILINE), output
    assert re.search(
        r"spark-\w+ \(driver pod default/spark-pi-\S+\): Succeeded, exit code 0", output
    )
    history = re.search(r"Spark History: (http://\S+)", output)
    assert history, output
    log = re.search(r"task log, with the driver log streamed into it: (\S+)", output)
    assert log, output
    assert "Pi is roughly" in Path(log.group(1)).read_text()
    deadline = time.monotonic() + 15
    while alive(below) and time.monotonic() < deadline:
        time.sleep(0.2)
    # The demo ran kubesim, Airflow, the History Server and Spark's JVMs below it.
    assert len(below) > 5, sorted(below)
    assert not alive(below), f"left running after the demo: {sorted(alive(below))}"
