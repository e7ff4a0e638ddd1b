"""The normaliser and the comparison, on objects shaped like spark-submit's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from . import javaprops
from .oracle import (
    APP_ID,
    CONF_UID,
    SVC_UID,
    UID,
    USER,
    Difference,
    RandomParts,
    compare,
    local_user,
    normalise,
)

APP = "spark-0123456789abcdef0123456789abcdef"
PREFIX = "aaaaaaaaaaaaaaaa"
CONF = "bbbbbbbbbbbbbbbb"
SVC = "cccccccccccccccc"
LOCAL = "/var/data/spark-12345678-9abc-def0-1234-56789abcdef0"


def objects(
    *, service: str = f"pi-{PREFIX}-driver-svc", local_dirs: list[str] | None = None
) -> list[dict[str, Any]]:
    dirs = local_dirs or [LOCAL]
    owner = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "controller": True,
            "name": f"pi-{PREFIX}-driver",
            "uid": "u-1",
        }
    ]
    props = {
        "spark.app.id": APP,
        "spark.app.submitTime": "1795469884982",
        "spark.driver.host": f"{service}.default.svc",
        "spark.master": "k8s\\://x",
    }
    return [
        {
            "kind": "Pod",
            "metadata": {
                "name": f"pi-{PREFIX}-driver",
                "uid": "u-1",
                "labels": {"spark-app-selector": APP, "sparkube.io/submission-id": "s-1"},
            },
            "spec": {
                "containers": [
                    {
                        "env": [
                            {"name": "SPARK_USER", "value": local_user()},
                            {"name": "SPARK_APPLICATION_ID", "value": APP},
                            {"name": "SPARK_LOCAL_DIRS", "value": ",".join(dirs)},
                        ],
                        "volumeMounts": [
                            {"name": f"spark-local-dir-{i + 1}", "mountPath": d}
                            for i, d in enumerate(dirs)
                        ],
                    }
                ],
                "volumes": [
                    {
                        "name": "spark-conf-volume-driver",
                        "configMap": {"name": f"spark-drv-{CONF}-conf-map"},
                    }
                ],
            },
        },
        {
            "kind": "Service",
            "metadata": {"name": service, "ownerReferences": copy.deepcopy(owner)},
            "spec": {"selector": {"spark-app-selector": APP, "sparkube.io/submission-id": "s-1"}},
        },
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": f"pi-{PREFIX}-policy", "ownerReferences": copy.deepcopy(owner)},
        },
        {
            "kind": "ConfigMap",
            "metadata": {
                "name": f"spark-drv-{CONF}-conf-map",
                "ownerReferences": copy.deepcopy(owner),
            },
            "data": {
                "spark.properties": "#comment\n" + "".join(f"{k}={v}\n" for k, v in props.items())
            },
        },
    ]


def test_random_parts_are_replaced() -> None:
    pod, svc, policy, cm = normalise(objects())
    assert pod["metadata"] == {"name": f"pi-{UID}-driver", "labels": {"spark-app-selector": APP_ID}}
    env = pod["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "SPARK_USER", "value": USER}
    assert env[1]["value"] == APP_ID
    assert env[2]["value"] == "/var/data/spark-<UUID>"
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == f"spark-drv-{CONF_UID}-conf-map"
    assert svc["spec"]["selector"] == {"spark-app-selector": APP_ID}
    assert svc["metadata"]["ownerReferences"][0]["uid"] == ""
    assert policy["metadata"]["name"] == f"pi-{UID}-policy"
    assert cm["data"]["spark.properties"] == {
        "spark.app.id": APP_ID,
        "spark.app.submitTime": "<SUBMIT-TIME>",
        "spark.driver.host": f"pi-{UID}-driver-svc.default.svc",
        "spark.master": "k8s://x",
    }


def test_service_fallback_id_is_its_own() -> None:
    ids = RandomParts.find(objects(service=f"spark-{SVC}-driver-svc"))
    assert (ids.prefix_uid, ids.conf_uid, ids.svc_uid) == (PREFIX, CONF, SVC)
    _, svc, *_, cm = normalise(objects(service=f"spark-{SVC}-driver-svc"))
    assert svc["metadata"]["name"] == f"spark-{SVC_UID}-driver-svc"
    assert (
        cm["data"]["spark.properties"]["spark.driver.host"]
        == f"spark-{SVC_UID}-driver-svc.default.svc"
    )


def test_shuffled_local_dirs_normalise_alike() -> None:
    a = normalise(objects(local_dirs=["/d2", "/d1", "/d3"]))
    b = normalise(objects(local_dirs=["/d3", "/d2", "/d1"]))
    assert a == b
    container = a[0]["spec"]["containers"][0]
    assert container["env"][2]["value"] == "/d1,/d2,/d3"
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/d1", "/d2", "/d3"]


def test_local_dirs_that_do_not_match_their_mounts_stay_as_they_are() -> None:
    objs = objects(local_dirs=["/d2", "/d1"])
    objs[0]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] = "/elsewhere"
    container = normalise(objs)[0]["spec"]["containers"][0]
    assert container["env"][2]["value"] == "/d2,/d1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda o: o[0]["metadata"]["labels"].update({"spark-app-selector": "spark-xyz"}),
            "application id",
        ),
        (lambda o: o[2]["metadata"].update({"name": "pi-policy"}), "NetworkPolicy"),
        (lambda o: o[3]["metadata"].update({"name": "conf"}), "ConfigMap"),
        (lambda o: o.pop(0), "no Pod"),
    ],
)
def test_ids_outside_sparks_formats_are_refused(mutate: Any, message: str) -> None:
    objs = objects()
    mutate(objs)
    with pytest.raises(ValueError, match=message):
        RandomParts.find(objs)


def paths(diffs: list[Difference]) -> list[str]:
    return [d.path for d in diffs]


def test_compare_allows_additions_and_reports_missing_and_changed() -> None:
    expected = {"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": True}
    actual = {"a": 1, "b": {"c": "y", "d": [1, 2], "extra": 0}, "more": 1, "e": 1}
    assert paths(compare(expected, actual)) == ["b.c", "e"]
    assert paths(compare({"port": 7078}, {"port": "7078"})) == ["port"]
    assert paths(compare({"a": [1, 2]}, {"a": [2, 1]})) == ["a[0]", "a[1]"]
    assert paths(compare({"a": [1, 2]}, {"a": [1]})) == ["a"]
    assert paths(compare({"a": 1}, {})) == ["a"]
    assert compare(expected, copy.deepcopy(expected)) == []


def test_compare_reports_properties_only_sparkube_writes() -> None:
    expected = {"data": {"spark.properties": {"a": "1"}}}
    actual = {"data": {"spark.properties": {"a": "1", "b": "2"}}, "extra": 1}
    assert paths(compare(expected, actual, "items[3]")) == ["items[3].data.spark.properties.b"]


def env(*names: str) -> dict[str, Any]:
    return {"env": [{"name": n, "value": n.lower()} for n in names]}


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        (env("FIXED_1", "B", "A"), env("FIXED_1", "A", "B")),
        (env("A", "B"), env("A", "B", "C")),
        (env("A", "B"), env("A", "C")),
    ],
)
def test_named_lists_differ_once_with_both_orders(
    expected: dict[str, Any], actual: dict[str, Any]
) -> None:
    diffs = compare(expected, actual, "c")
    assert [d.path for d in diffs] == ["c.env"]
    assert '["FIXED_1", "B", "A"]' in diffs[0].detail or '["A", "B"]' in diffs[0].detail


def test_named_lists_in_the_same_order_compare_entry_values() -> None:
    expected = env("A", "B")
    actual = env("A", "B")
    actual["env"][1]["value"] = "changed"
    assert paths(compare(expected, actual, "c")) == ["c.env[1](B).value"]


def test_properties_text_survives_a_dump() -> None:
    norm = normalise(objects(), parse_properties=False)
    assert javaprops.loads(norm[3]["data"]["spark.properties"])["spark.app.id"] == APP_ID
