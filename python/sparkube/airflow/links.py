"""The operator's extra links: "Spark UI" and "Spark History".

Both are URL templates from the provider config (`[sparkube] spark_ui_url_template` and
`spark_history_url_template`), formatted with the application's `app_id`, `namespace`,
`driver_pod` and `submission_id`. The operator stores those in the XCom `spark_app` as soon as
the application is submitted, so the links work while it runs. An empty template means no link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sparkube.airflow._compat import BaseOperatorLink, conf, get_xcom_value

SECTION = "sparkube"
APP_XCOM_KEY = "spark_app"
FIELDS = ("app_id", "namespace", "driver_pod", "submission_id")


def url_template(option: str) -> str:
    """The URL template `option` of the provider config ("" when unset)."""
    return str(conf.get(SECTION, option, fallback="") or "")


def format_url(template: str, app: Mapping[str, Any] | None) -> str:
    """`template` filled from the application's fields; "" without template or application."""
    if not template or not app or not app.get("app_id"):
        return ""
    values = {k: "" if app.get(k) is None else str(app.get(k)) for k in FIELDS}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return ""


class _AppLink(BaseOperatorLink):
    option = ""

    def url(self, app: Mapping[str, Any] | None) -> str:
        """The link for the application `app` (its `spark_app` XCom)."""
        return format_url(url_template(self.option), app)

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The link of the task instance `ti_key`, from its `spark_app` XCom."""
        app = get_xcom_value(ti_key, APP_XCOM_KEY)
        return self.url(app if isinstance(app, Mapping) else None)


class SparkUILink(_AppLink):
    """The running application's Spark UI (`[sparkube] spark_ui_url_template`)."""

    name = "Spark UI"
    option = "spark_ui_url_template"


class SparkHistoryLink(_AppLink):
    """The application in the Spark History Server (`[sparkube] spark_history_url_template`)."""

    name = "Spark History"
    option = "spark_history_url_template"
