"""The boundary between Python and the core: one definition of each shape, checked here.

The spec Python builds (`SparkApp.to_dict()`) must have exactly the fields the core's serde
types read; statuses are the core's own frozen values; exceptions sit where they are raised.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import TYPE_CHECKING

import pytest

import sparkube
from sparkube import _core
from sparkube.app import Deps, Driver, DynamicAllocation, Executor, SparkApp, Volume

if TYPE_CHECKING:
    from tests.conftest import Kubesim


@pytest.fixture
def client(kubesim: Kubesim) -> sparkube.Client:
    return sparkube.Client(kubeconfig=kubesim.kubeconfig)


def names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_sparkapp_fields_are_the_rust_specs_serde_fields() -> None:
    rust = {kind: set(fields) for kind, fields in _core.spec_fields().items()}
    assert names(SparkApp) == rust["AppSpec"]
    assert names(Executor) == rust["RoleSpec"]
    # The driver has every role setting but the number of instances.
    assert names(Driver) == rust["RoleSpec"] - {"instances"}
    assert names(DynamicAllocation) == rust["DynamicAllocation"]
    assert names(Deps) == rust["Deps"]
    assert names(Volume) == rust["VolumeSpec"]


def test_label_names_come_from_the_core() -> None:
    assert _core.APP_ID_LABEL == "spark-app-selector"
    assert _core.ROLE_LABEL == "spark-role"
    assert _core.SUBMISSION_ID_LABEL.startswith(_core.LABEL_PREFIX)


def test_every_app_state_is_a_state_of_the_core() -> None:
    for state in sparkube.AppState:
        status = sparkube.AppStatus.from_dict(
            {"state": state.value, "namespace": "ns", "driver_pod": "pod"}
        )
        assert status.state is state
        assert status.is_final == state.is_final
    with pytest.raises(sparkube.ConfigError, match="invalid AppStatus"):
        sparkube.AppStatus.from_dict({"state": "Sleeping", "namespace": "ns", "driver_pod": "p"})


def test_exceptions_sit_where_they_are_raised() -> None:
    # An API error can come from any call, not only from submitting.
    assert not issubclass(sparkube.KubernetesApiError, sparkube.SubmissionError)
    for cls in (
        sparkube.ConfigError,
        sparkube.KubernetesApiError,
        sparkube.SubmissionError,
        sparkube.AppFailed,
        sparkube.StartupTimeout,
        sparkube.WaitTimeout,
    ):
        assert cls.__mro__[1] is sparkube.SparkubeError, cls


@pytest.mark.parametrize(
    ("target", "namespace", "name", "glob"),
    [
        ("pod", None, "pod", False),
        ("ns:pod", "ns", "pod", False),
        (":pod", None, "pod", False),
        ("ns:spark-pi*", "ns", "spark-pi", True),
    ],
)
def test_pod_references_as_the_core_reads_them(
    target: str, namespace: str | None, name: str, glob: bool
) -> None:
    ref = _core.PodRef.parse(target)
    assert (ref.namespace, ref.name, ref.glob) == (namespace, name, glob)


def test_a_missing_driver_raises_an_api_error_with_its_status(client: sparkube.Client) -> None:
    with pytest.raises(sparkube.KubernetesApiError) as err:
        client.attach("no-such-driver")
    assert (err.value.status, err.value.reason) == (404, "NotFound")


def test_statuses_are_frozen_values_with_a_dict_form(client: sparkube.Client) -> None:
    handle = client.submit(
        SparkApp(
            name="boundary",
            application="local:///opt/spark/examples/src/main/python/pi.py",
            image="apache/spark:4.0.1",
            driver=Driver(annotations={"kubesim.io/run-seconds": "1"}),
        )
    )
    final = handle.wait(timeout=60)
    assert isinstance(final, sparkube.AppStatus)
    assert final.state is sparkube.AppState.SUCCEEDED
    assert final.started_at is not None
    assert final.started_at.tzinfo is not None
    assert final.duration_s is not None
    assert final.duration_s >= 0
    data = final.to_dict()
    assert data["state"] == "Succeeded"
    assert data["phase"] == final.phase
    assert sparkube.AppStatus.from_dict(data) == final
    assert pickle.loads(pickle.dumps(final)) == final
    with pytest.raises(AttributeError):
        final.state = sparkube.AppState.FAILED  # type: ignore[misc]
