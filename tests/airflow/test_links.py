"""Extra links: URL templates from the provider config, filled from the `spark_app` XCom."""

from __future__ import annotations

import pytest

from sparkube.airflow.links import SparkHistoryLink, SparkUILink, format_url

APP = {
    "app_id": "spark-0123",
    "namespace": "jobs",
    "driver_pod": "pi-1-driver",
    "submission_id": "s1",
}


@pytest.mark.parametrize(
    ("template", "app", "expected"),
    [
        ("https://proxy/{app_id}/", APP, "https://proxy/spark-0123/"),
        (
            "https://k/{namespace}/{driver_pod}?s={submission_id}",
            APP,
            "https://k/jobs/pi-1-driver?s=s1",
        ),
        ("", APP, ""),
        ("https://proxy/{app_id}/", None, ""),
        ("https://proxy/{app_id}/", {**APP, "app_id": None}, ""),
        ("https://proxy/{unknown}/", APP, ""),
        ("https://proxy/{0}/", APP, ""),
        ("https://h/{submission_id}", {**APP, "submission_id": None}, "https://h/"),
    ],
)
def test_format_url(template: str, app: dict[str, str] | None, expected: str) -> None:
    assert format_url(template, app) == expected


def test_links_read_their_templates_from_the_provider_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SparkUILink().url(APP) == ""
    monkeypatch.setenv("AIRFLOW__SPARKUBE__SPARK_UI_URL_TEMPLATE", "https://ui.example/{app_id}/")
    monkeypatch.setenv(
        "AIRFLOW__SPARKUBE__SPARK_HISTORY_URL_TEMPLATE", "https://history.example/history/{app_id}/"
    )
    assert SparkUILink().url(APP) == "https://ui.example/spark-0123/"
    assert SparkHistoryLink().url(APP) == "https://history.example/history/spark-0123/"
    assert SparkUILink().name == "Spark UI"
    assert SparkHistoryLink().name == "Spark History"
