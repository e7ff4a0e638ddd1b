"""Fixtures of the parity suite: the real spark-submit's objects per case, run once per session.

A spark-submit run costs a JVM start (about 3 s of CPU), so the session starts every selected
case's run in the background as soon as the first test asks, two at a time, and each test waits
only for its own case.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from .cases import CASES_BY_ID, Case
from .oracle import OracleRun, run_spark_submit

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

WORKERS = 2


class OracleRuns:
    """spark-submit runs of the session, started in the background, each done once."""

    def __init__(self, base: Path, case_ids: list[str]) -> None:
        self._base = base
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="spark-submit")
        self._futures: dict[str, Future[OracleRun]] = {}
        for case_id in case_ids:
            self._start(CASES_BY_ID[case_id])

    def _start(self, case: Case) -> Future[OracleRun]:
        if case.id not in self._futures:
            self._futures[case.id] = self._pool.submit(run_spark_submit, case, self._base)
        return self._futures[case.id]

    def get(self, case: Case) -> OracleRun:
        """The run for ``case`` (started now if it was not selected up front)."""
        return self._start(case).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def oracle_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OracleRuns]:
    """Background spark-submit runs for every case the session's tests use, in test order."""
    wanted: list[str] = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None
        if isinstance(case, Case) and case.id not in wanted:
            wanted.append(case.id)
    runs = OracleRuns(tmp_path_factory.mktemp("spark-submit"), wanted)
    yield runs
    runs.close()


@pytest.fixture
def spark_submit_run(case: Case, oracle_runs: OracleRuns) -> OracleRun:
    """What the real spark-submit sent for the test's ``case`` (``.objects`` in call order)."""
    return oracle_runs.get(case)
