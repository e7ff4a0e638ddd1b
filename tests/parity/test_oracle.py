"""What the real spark-submit sends, checked for the shape the parity comparison relies on.

These tests need no sparkube: they hold the recorder and the normaliser to the real thing (a
call sequence they cannot parse, or a random part they miss, fails here first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from . import javaprops
from .cases import CASES, CASES_BY_ID, Case
from .oracle import (
    CASE_DIR,
    MASTER,
    PROPERTIES_KEY,
    OracleRun,
    compare,
    expected_calls,
    normalise,
    recorded_calls,
    run_spark_submit,
)
from .recorder import APPLY_PATCH

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import OracleRuns

pytestmark = [pytest.mark.parity, pytest.mark.timeout(240)]


def _name(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_spark_submit_posts_the_pod_then_applies_the_rest(
    case: Case, spark_submit_run: OracleRun
) -> None:
    requests = spark_submit_run.requests
    post = next(i for i, r in enumerate(requests) if r.method == "POST")
    # Only Volcano's PodGroup comes before the pod, applied (and applied again after it).
    pre = [r.path.split("/")[-2] for r in requests[:post]]
    assert pre == (["podgroups"] if case.id.startswith("volcano") else []), pre
    first, *rest = requests[post:]
    ns = spark_submit_run.objects[-1]["data"]["spark.kubernetes.namespace"]
    assert (first.method, first.path, first.content_type, first.query) == (
        "POST",
        f"/api/v1/namespaces/{ns}/pods",
        "application/json",
        {},
    )
    assert rest, "spark-submit applied nothing after the pod"
    for req in rest:
        assert req.method == "PATCH"
        assert req.content_type == APPLY_PATCH
        assert req.query == {"fieldManager": ["fabric8"], "force": ["true"]}
        assert req.path.endswith(f"/namespaces/{ns}/{req.path.split('/')[-2]}/{_name(req.body)}")
    calls = recorded_calls(spark_submit_run.requests)
    assert expected_calls(spark_submit_run.objects, ns) == calls
    kinds = [o["kind"] for o in spark_submit_run.objects]
    templates = 1 if "spark.kubernetes.executor.podTemplateFile" in " ".join(case.args) else 0
    groups = ["PodGroup"] if pre else []
    # Spark creates a claim for each driver volume with a storage class (and a size).
    claims = sum(
        a.startswith("spark.kubernetes.driver.volumes.persistentVolumeClaim.")
        and ".options.storageClass=" in a
        for a in case.args
    )
    assert kinds == [
        *groups,
        "Pod",
        "Service",
        "NetworkPolicy",
        *["PersistentVolumeClaim"] * claims,
        *["ConfigMap"] * templates,
        "ConfigMap",
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_spark_submit_owner_references_carry_the_created_pod_uid(
    case: Case, spark_submit_run: OracleRun
) -> None:
    # Objects created before the pod (Volcano's PodGroup) appear as last applied, with owner.
    pod = next(o for o in spark_submit_run.objects if o["kind"] == "Pod")
    others = [o for o in spark_submit_run.objects if o is not pod]
    assert "ownerReferences" not in pod.get("metadata", {})
    assert spark_submit_run.pod_uid
    for obj in others:
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "controller": True,
                "name": _name(pod),
                "uid": spark_submit_run.pod_uid,
            }
        ]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_spark_submit_properties_name_the_pod_and_app(
    case: Case, spark_submit_run: OracleRun
) -> None:
    *_, config_map = spark_submit_run.objects
    pod = next(o for o in spark_submit_run.objects if o["kind"] == "Pod")
    props = javaprops.loads(config_map["data"][PROPERTIES_KEY])
    assert props["spark.app.id"] == pod["metadata"]["labels"]["spark-app-selector"]
    assert props["spark.kubernetes.driver.pod.name"] == _name(pod)
    assert props["spark.kubernetes.submitInDriver"] == "true"
    assert props["spark.app.submitTime"].isdigit()


@pytest.mark.parametrize("case_id", ["name_long", "local_dirs", "combined"])
def test_two_spark_submit_runs_normalise_to_the_same_objects(
    case_id: str, oracle_runs: OracleRuns, tmp_path: Path
) -> None:
    """Every random part of a run is found: two runs of one case are equal after normalising."""
    case = CASES_BY_ID[case_id]
    first = oracle_runs.get(case)
    second = run_spark_submit(case, tmp_path)
    a = normalise(first.objects, {str(first.dirs.files): CASE_DIR, first.master: MASTER})
    b = normalise(second.objects, {str(second.dirs.files): CASE_DIR, second.master: MASTER})
    assert compare(a, b) == []
    assert compare(b, a) == []
