"""Task-identity labels: valid Kubernetes label values, distinct for distinct raw values."""

from __future__ import annotations

import pytest

from sparkube.airflow._identity import TaskIdentity, is_label_value, label_value

RUN_ID = "manual__2024-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("spark_pi", "spark_pi"),
        ("scheduled__2024-01-01", "scheduled__2024-01-01"),
        ("a", "a"),
        ("x" * 63, "x" * 63),
    ],
)
def test_valid_values_are_kept(raw: str, expected: str) -> None:
    assert label_value(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        RUN_ID,
        "manual__2024-01-01T00_00_00_00_00",
        "x" * 64,
        "x" * 250,
        "group.task",
        "-leading",
        "trailing_",
        "+++",
        "ünïcode",
        "",
        " ",
        "a/b",
    ],
)
def test_every_value_becomes_a_valid_label_value(raw: str) -> None:
    assert is_label_value(label_value(raw))


def test_sanitised_values_of_different_raw_values_differ() -> None:
    raws = [RUN_ID, RUN_ID.replace("+", "-"), RUN_ID.replace(":", "_"), "x" * 64, "x" * 65]
    values = [label_value(r) for r in raws]
    assert len(set(values)) == len(raws)
    assert label_value(RUN_ID).startswith("manual__2024-01-01T00_00_00_00_00-")


def test_labels_select_all_tries_of_one_task_instance() -> None:
    first = TaskIdentity("etl", "load", RUN_ID, map_index=2, try_number=1)
    retry = TaskIdentity("etl", "load", RUN_ID, map_index=2, try_number=2)
    other_index = TaskIdentity("etl", "load", RUN_ID, map_index=3, try_number=1)
    assert first.selector() == retry.selector()
    assert first.owns(retry.labels())
    assert not first.owns(other_index.labels())
    assert first.labels()["sparkube.io/try-number"] == "1"
    assert retry.labels()["sparkube.io/try-number"] == "2"
    assert all(is_label_value(v) for v in first.labels().values())
    assert first.annotations()["sparkube.io/run-id"] == RUN_ID


def test_selector_is_a_conjunction_of_the_identity_labels() -> None:
    ident = TaskIdentity("d", "t", "r", map_index=-1)
    assert all(is_label_value(v) for v in ident.labels().values())
    assert (
        ident.selector()
        == "sparkube.io/dag-id=d,sparkube.io/task-id=t,sparkube.io/run-id=r,sparkube.io/map-index=none"
    )


class _Ti:
    dag_id = "dag"
    task_id = "task"
    run_id = RUN_ID
    map_index = None
    try_number = 3


def test_identity_from_an_airflow_context() -> None:
    ident = TaskIdentity.from_context({"ti": _Ti()})
    assert ident == TaskIdentity("dag", "task", RUN_ID, map_index=-1, try_number=3)
