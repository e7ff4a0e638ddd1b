"""Task identity on the driver pod: the labels that let a retried task find its running driver.

A driver submitted by a task instance carries its dag id, task id, run id and map index as
labels (and the try number, for information). Label values must be valid Kubernetes label
values (63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends), which run ids such as
`manual__2024-01-01T00:00:00+00:00` are not: such values are sanitised and suffixed with a
hash of the raw value, so that two different raw values never share a label value, and the
raw values are kept in annotations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sparkube._core import LABEL_PREFIX as PREFIX

DAG_ID = PREFIX + "dag-id"
TASK_ID = PREFIX + "task-id"
RUN_ID = PREFIX + "run-id"
MAP_INDEX = PREFIX + "map-index"
TRY_NUMBER = PREFIX + "try-number"
LAUNCHER = PREFIX + "launched-by"

_VALID = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_INVALID_CHARS = re.compile(r"[^-A-Za-z0-9_.]+")
_MAX = 63
_HASH = 10


def is_label_value(value: str) -> bool:
    """Whether `value` is a valid Kubernetes label value."""
    return len(value) <= _MAX and _VALID.fullmatch(value) is not None


def label_value(raw: str) -> str:
    """`raw` as a label value: unchanged when valid, else sanitised with a hash of `raw` appended."""
    if is_label_value(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:_HASH]
    stem = _INVALID_CHARS.sub("_", raw)[: _MAX - _HASH - 1]
    stem = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", stem)
    return f"{stem}-{digest}" if stem else digest


def map_index_value(map_index: int) -> str:
    """The map index as a label value: its number, or `none` for an unmapped task (-1, which is
    not a valid label value)."""
    return str(map_index) if map_index >= 0 else "none"


@dataclass(frozen=True)
class TaskIdentity:
    """The task instance a driver belongs to."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1

    @classmethod
    def from_context(cls, context: Any) -> TaskIdentity:
        """The identity of the task instance running with this Airflow context."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        try_number = getattr(ti, "try_number", 1)
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(ti.run_id),
            map_index=-1 if map_index is None else int(map_index),
            try_number=1 if try_number is None else int(try_number),
        )

    def match_labels(self) -> dict[str, str]:
        """The labels that identify the task instance, whatever the try."""
        return {
            DAG_ID: label_value(self.dag_id),
            TASK_ID: label_value(self.task_id),
            RUN_ID: label_value(self.run_id),
            MAP_INDEX: map_index_value(self.map_index),
        }

    def labels(self) -> dict[str, str]:
        """The driver pod's labels: the identity, the try number and who launched it."""
        return {**self.match_labels(), TRY_NUMBER: str(self.try_number), LAUNCHER: "airflow"}

    def annotations(self) -> dict[str, str]:
        """The raw identity values, which labels may only hold sanitised."""
        return {DAG_ID: self.dag_id, TASK_ID: self.task_id, RUN_ID: self.run_id}

    def selector(self) -> str:
        """A label selector for the drivers of this task instance (all tries)."""
        return ",".join(f"{k}={v}" for k, v in self.match_labels().items())

    def owns(self, labels: Any) -> bool:
        """Whether a pod with these labels belongs to this task instance."""
        return all(labels.get(k) == v for k, v in self.match_labels().items())
