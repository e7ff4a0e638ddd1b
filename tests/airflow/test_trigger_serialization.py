"""`SparkAppTrigger.serialize()` returns exactly its init kwargs, as Airflow stores them."""

from __future__ import annotations

import json

import pytest

from sparkube.airflow.triggers import SparkAppTrigger

KWARGS = [
    {"namespace": "jobs", "driver_pod": "pi-driver"},
    {
        "namespace": "jobs",
        "driver_pod": "pi-driver",
        "kubernetes_conn_id": None,
        "startup_deadline": 1700000000.5,
        "deadline": 1700003600.0,
        "kill_on_timeout": False,
        "get_logs": True,
        "logs_since": 1699999999.25,
        "logs_cursor": [1699999999250000000, 2],
        "kill_on_task_kill": True,
        "reattach_on_restart": True,
        "progress_interval": 12.5,
    },
    {"namespace": "jobs", "driver_pod": "pi-driver", "progress_interval": None},
    {
        "namespace": "jobs",
        "driver_pod": "pi-driver",
        "stall_timeout": 600.0,
        "stall_action": "fail",
        "history_server_url": "http://spark-history.spark.svc:18080",
    },
]


@pytest.mark.parametrize("kwargs", KWARGS)
def test_serialize_round_trip(kwargs: dict[str, object]) -> None:
    import importlib
    import inspect

    trigger = SparkAppTrigger(**kwargs)  # type: ignore[arg-type]
    classpath, serialized = trigger.serialize()
    # What the triggerer imports (the same on every Airflow version).
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name) is SparkAppTrigger
    assert set(serialized) == set(inspect.signature(SparkAppTrigger.__init__).parameters) - {"self"}
    assert {k: serialized[k] for k in kwargs} == kwargs
    # Plain JSON (no secrets, nothing Airflow would need to encode specially), and re-creating
    # the trigger from it gives the same trigger.
    again = SparkAppTrigger(**json.loads(json.dumps(serialized)))
    assert again.serialize() == (classpath, serialized)


def test_a_resumed_log_skips_exactly_the_lines_written_at_the_last_timestamp() -> None:
    """Kubelet timestamps have a limited resolution: three lines may share one. Resumed after
    two of them, the reader skips those two and writes the third, once."""
    from sparkube.airflow._watch import LogCursor, split_timestamp

    lines = [
        "2025-01-01T00:00:01.5Z a",
        "2025-01-01T00:00:02Z b",
        "2025-01-01T00:00:02Z c",
        "2025-01-01T00:00:02Z d",
        "2025-01-01T00:00:03.000000001Z e",
    ]

    def read(cursor: LogCursor, stream: list[str]) -> list[str]:
        skipping = [0]
        out = []
        for line in stream:
            nanos, text = split_timestamp(line)
            if cursor.admit(nanos, skipping):
                out.append(text)
        return out

    first = LogCursor()
    assert read(first, lines[:3]) == ["a", "b", "c"]
    assert first.to_list() == [1735689602000000000, 2]
    # The server, asked from a whole second before, sends the older line and the shared ones.
    resumed = LogCursor.from_list(json.loads(json.dumps(first.to_list())))
    assert read(resumed, lines) == ["d", "e"]
    assert resumed.to_list() == [1735689603000000001, 1]
