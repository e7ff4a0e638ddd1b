"""Bad input to `Client.connect`: refused with the option named, before anything is sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import sparkube

if TYPE_CHECKING:
    from tests.conftest import Kubesim


@pytest.mark.parametrize(
    ("app", "option"),
    [
        (sparkube.SparkApp.session("Not A Name", image="spark:4"), "name"),
        (sparkube.SparkApp(name="nb", application="local:///a.py", image="spark:4"), "application"),
        (
            sparkube.SparkApp.session("nb", image="spark:4", main_class="org.example.Main"),
            "main_class",
        ),
        (
            sparkube.SparkApp.session(
                "nb", image="spark:4", conf={"spark.connect.grpc.binding.port": "grpc"}
            ),
            "spark.connect.grpc.binding.port",
        ),
    ],
)
def test_refused_with_the_option_named(
    kubesim: Kubesim, app: sparkube.SparkApp, option: str
) -> None:
    client = sparkube.Client(kubeconfig=str(kubesim.kubeconfig))
    with pytest.raises(sparkube.ConfigError) as err:
        client.connect(app, timeout=5)
    assert err.value.option == option
    status, body = kubesim.request(
        "GET", f"/api/v1/pods?labelSelector={sparkube._core.SESSION_LABEL}"
    )
    assert status == 200
    assert body["items"] == []


def test_no_connect_client_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sparkube import connect

    # A `None` entry makes the import fail as it does when the package is not installed.
    monkeypatch.setitem(sys.modules, "pyspark.sql.connect.session", None)
    with pytest.raises(connect.ConnectClientMissing) as err:
        connect._session_builder()
    assert "pip install 'sparkube[connect]'" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("idle_timeout", [0, -5, "30min", True])
def test_an_idle_timeout_that_is_not_a_positive_number_is_refused(idle_timeout: object) -> None:
    with pytest.raises(sparkube.ConfigError) as err:
        sparkube.SparkApp.session("nb", idle_timeout=idle_timeout)  # type: ignore[arg-type]
    assert err.value.option == "idle_timeout"


def test_the_idle_timeout_reaches_the_servers_conf_unless_the_conf_sets_it() -> None:
    key = sparkube._core.IDLE_TIMEOUT_KEY
    assert sparkube.SparkApp.session("nb", idle_timeout=2.5).conf[key] == "2500ms"
    assert sparkube.SparkApp.session("nb").conf[key] == "1800000ms"
    app = sparkube.SparkApp.session("nb", idle_timeout=5, conf={key: "1h"})
    assert app.conf[key] == "1h"
