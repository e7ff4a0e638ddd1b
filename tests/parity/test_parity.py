"""``sparkube render`` against the real ``spark-submit --deploy-mode cluster`` (Spark 4.3.0).

For every case in ``cases.py`` the real spark-submit (PyPI ``pyspark==4.3.0``) runs against a
recording API server, ``sparkube render -o json`` runs with the same arguments, and both sides
are normalised the same way (``oracle.normalise``). Then every field spark-submit sets must be in
sparkube's object with the same value; sparkube may add fields. Besides ``ALLOWED`` below, two
things are tolerated by construction, each for a reason:

* Random parts are replaced on both sides before comparing: the application id, the unique ids
  in names (resource prefix, driver ConfigMap, service fallback), the local-dir UUID,
  ``spark.app.submitTime``, ``SPARK_USER`` when it is the local account, the recorder's pod uid
  in ownerReferences (sparkube renders ``""``: the uid exists only once the pod is created), and
  sparkube's own ``sparkube.io/submission-id`` label (a lookup key spark-submit does not have).
  The directory of each upload (``spark-upload-<id>``) too: spark-submit draws a UUID per file,
  sparkube names it after the file's contents (so that an unchanged file is not sent again);
  the rest of every rewritten URI, and the order of the lists, must match.
* Lists keep spark-submit's order: env vars, volumes and mounts included. Spark lists
  ``driverEnv``, ``secretKeyRef`` env vars, secret volumes and user volumes in the iteration
  order of the JVM's hash maps and sets, which ``render`` reproduces (rust/sparkube-core's
  ``build::jvm_order``); only ``spark.local.dir``, which Spark shuffles at random, is put back
  in order by ``normalise``.
* ``spark.properties`` is compared as parsed Java properties, not as text (comments, the date
  line, key order and escaping style carry no meaning); keys only sparkube writes are reported.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

import pytest

from .cases import CASES, Case
from .oracle import (
    CASE_DIR,
    Difference,
    OracleRun,
    SparkubeRenderError,
    compare,
    driver_namespace,
    expected_calls,
    normalise,
    recorded_calls,
    run_sparkube_render,
)

pytestmark = [pytest.mark.parity, pytest.mark.timeout(240)]


@dataclass(frozen=True)
class Allowed:
    """A difference the suite accepts, and why."""

    cases: str
    """``fnmatch`` pattern of the case ids it applies to."""
    path: str
    """Regular expression searched in ``Difference.path``."""
    reason: str

    def covers(self, case: Case, diff: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(case.id, self.cases) and re.search(self.path, diff.path) is not None
        )


# sparkube's deliberate differences from spark-submit, each with its reason. Keep it short: an
# entry here is a promise that the difference is an improvement, not a bug.
ALLOWED: tuple[Allowed, ...] = ()


def _render(run: OracleRun) -> list[dict[str, Any]]:
    try:
        return run_sparkube_render(run)
    except SparkubeRenderError as exc:
        failure = str(exc)
    pytest.fail(failure, pytrace=False)


def _normalised(objects: list[dict[str, Any]], side: str, run: OracleRun) -> list[dict[str, Any]]:
    try:
        return normalise(objects, {str(run.dirs.files): CASE_DIR})
    except ValueError as exc:
        failure = f"{side}: {exc}"
    pytest.fail(failure, pytrace=False)


def _identity(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_objects_match_spark_submit(case: Case, spark_submit_run: OracleRun) -> None:
    ours = _render(spark_submit_run)
    expected = _normalised(spark_submit_run.objects, "spark-submit", spark_submit_run)
    actual = _normalised(ours, "sparkube", spark_submit_run)
    assert [_identity(o) for o in actual] == [_identity(o) for o in expected], (
        "sparkube renders other objects (or another order) than spark-submit sends"
    )
    diffs: list[Difference] = []
    for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
        diffs += compare(e, a, f"items[{i}]<{_identity(e)}>")
    unexplained = [d for d in diffs if not any(rule.covers(case, d) for rule in ALLOWED)]
    assert not unexplained, f"{len(unexplained)} difference(s) from spark-submit:\n" + "\n".join(
        str(d) for d in unexplained
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_calls_in_spark_submit_order(case: Case, spark_submit_run: OracleRun) -> None:
    """POST the pod first, then one apply per object, in spark-submit's order and paths.

    ``sparkube render`` cannot show the field manager, so the query is left out here; that
    spark-submit's applies use ``fieldManager=fabric8&force=true`` is checked in test_oracle.
    """
    ours = _render(spark_submit_run)
    want = [c.without_query() for c in recorded_calls(spark_submit_run.requests)]
    try:
        got = [c.without_query() for c in expected_calls(ours, driver_namespace(ours))]
    except ValueError as exc:
        failure = f"sparkube: {exc}"
    else:
        assert [str(c) for c in got] == [str(c) for c in want]
        return
    pytest.fail(failure, pytrace=False)
