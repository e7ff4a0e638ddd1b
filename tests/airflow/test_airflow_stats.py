"""The provider's metrics reach a real StatsD receiver through Airflow's own `Stats`, configured
as a deployment configures it (`[metrics] statsd_on`), during an `airflow dags test` run."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from sparkube.airflow._metrics import stat_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_harness import AirflowCli


@pytest.fixture
def statsd() -> Iterator[tuple[int, list[str]]]:
    """A UDP socket receiving StatsD packets; yields its port and the lines received so far."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    lines: list[str] = []
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                packet = sock.recv(65536)
            except TimeoutError:
                continue
            lines.extend(packet.decode().splitlines())

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    yield sock.getsockname()[1], lines
    stop.set()
    thread.join(5)
    sock.close()


@pytest.mark.slow
def test_a_dag_run_sends_sparkube_metrics_through_airflow_statsd(
    airflow_k8s: AirflowCli, statsd: tuple[int, list[str]]
) -> None:
    port, lines = statsd
    env = {
        **airflow_k8s.env,
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "af",
    }
    run = replace(airflow_k8s, env=env).dags_test("spark_pi", {"simulate": True})
    assert run.state_of("spark_pi") == "success", run.output
    stats = {line.split(":", 1)[0]: line for line in lines}
    # Airflow's own metrics arrived too: the receiver is the one Airflow was told to use.
    assert any(name.startswith("af.") and "sparkube" not in name for name in stats), lines
    assert stats["af.sparkube.submissions.created"].endswith(":1|c")
    assert stats["af.sparkube.submit_duration"].endswith("|ms")
    assert stats["af.sparkube.app_transitions.Running.none"].endswith("|c")
    assert stats["af.sparkube.app_transitions.Succeeded.Completed"].endswith(":1|c")
    assert stats["af.sparkube.log_bytes"].endswith("|c")
    assert "af.sparkube.submissions.failed" not in stats


def test_stat_names_are_statsd_safe() -> None:
    family = {"name": "sparkube_app_transitions", "kind": "counter", "unit": "", "help": ""}
    sample = {"name": "", "labels": {"reason": "a b/c", "state": "Failed"}}
    assert stat_name(family, sample) == "sparkube.app_transitions.Failed.a_b_c"  # type: ignore[arg-type]
    sample = {"name": "", "labels": {"reason": "", "state": "Running"}}
    assert stat_name(family, sample) == "sparkube.app_transitions.Running.none"  # type: ignore[arg-type]
    family = {"name": "sparkube_notice_delay_seconds", "kind": "histogram"}
    assert stat_name(family, {"labels": {}}) == "sparkube.notice_delay"  # type: ignore[arg-type]
