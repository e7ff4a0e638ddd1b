"""sparkube's metrics sent through Airflow's own `Stats`, so that they go where the deployment's
`[metrics]` settings send Airflow's (StatsD, Datadog, OpenTelemetry), under its prefix.

The core keeps process-wide counters (`sparkube.Client.metrics`). A task runs in a process of
its own (Airflow 3's task runner, a forked LocalExecutor or Celery worker child), so what a
task did is the difference between two readings: taken when `execute` (or `execute_complete`)
starts and when it ends, whether it returns, fails or defers. Counters become `Stats.incr` of
their increase; a histogram becomes one `Stats.timing` per new observation, of the mean of the
new observations (one submission per task makes that the exact value).

Names: `sparkube.<metric>` followed by the label values, e.g. `sparkube.submissions.created`,
`sparkube.api_retries.throttled`, `sparkube.app_transitions.Failed.OOMKilled`,
`sparkube.submit_duration`; the labels also go as tags for backends that take them.
"""

from __future__ import annotations

import functools
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sparkube import _core

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sparkube._core import MetricFamily, MetricSample

log = logging.getLogger(__name__)

F = TypeVar("F", bound="Callable[..., Any]")

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_LABEL_ORDER = {"outcome": 0, "state": 1, "reason": 2}


def _stats() -> Any:
    """Airflow's `Stats`, from its Airflow 3 home or its Airflow 2 one."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # Airflow 2.10
        from airflow.stats import Stats  # type: ignore[no-redef,unused-ignore]
    return Stats


def stat_name(family: MetricFamily, sample: MetricSample) -> str:
    """`sparkube.<metric>[.<label value>...]`: the family name without `sparkube_` and its
    `_seconds` unit, then the label values (the state before its reason), each reduced to what StatsD names
    allow (an empty value reads `none`)."""
    name = family["name"].removeprefix("sparkube_").removesuffix("_seconds")
    labels = sorted(sample["labels"].items(), key=lambda kv: (_LABEL_ORDER.get(kv[0], 9), kv[0]))
    parts = [name] + [_UNSAFE.sub("_", v) or "none" for _, v in labels]
    return "sparkube." + ".".join(parts)


def _by_key(families: Iterable[MetricFamily]) -> dict[tuple[str, str], MetricSample]:
    return {
        (f["name"], repr(sorted(s["labels"].items()))): s for f in families for s in f["samples"]
    }


def emit(before: list[MetricFamily], after: list[MetricFamily]) -> int:
    """Send what changed between two readings through `Stats`; returns the number of stats
    sent."""
    stats = _stats()
    old = _by_key(before)
    sent = 0
    for family in after:
        for sample in family["samples"]:
            prior = old.get((family["name"], repr(sorted(sample["labels"].items()))))
            count = int(sample["value"] - (prior["value"] if prior else 0))
            if count <= 0:
                continue
            name = stat_name(family, sample)
            tags = dict(sample["labels"])
            if family["kind"] == "counter":
                stats.incr(name, count=count, tags=tags)
                sent += 1
            else:
                total = sample["sum"] - (prior["sum"] if prior else 0.0)
                mean = timedelta(seconds=max(total, 0.0) / count)
                for _ in range(count):
                    stats.timing(name, mean, tags=tags)
                    sent += 1
    return sent


def emits_metrics(method: F) -> F:
    """Wrap an operator method so that the metrics of what it did are sent when it ends."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = _core.metrics()
        try:
            return method(*args, **kwargs)
        finally:
            try:
                emit(before, _core.metrics())
            except Exception as e:  # metrics never fail a task
                log.warning("Could not send sparkube's metrics: %s", e)

    return wrapper  # type: ignore[return-value]
