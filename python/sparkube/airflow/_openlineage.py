"""OpenLineage: the parent-job and transport Spark conf the operator injects, and the run facet
it reports, through `apache-airflow-providers-openlineage` when it is installed.

The injection is that provider's own (`airflow.providers.openlineage.utils.spark`, the helpers
SparkSubmitOperator calls), so that a Spark application submitted by sparkube links to its
Airflow task exactly as one submitted by spark-submit does, and follows the provider when its
keys change. Without the provider, asking for injection logs one warning and submits as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sparkube.airflow._compat import conf

if TYPE_CHECKING:
    import logging
    from collections.abc import Mapping

    from sparkube.airflow._compat import Context

PROVIDER = "apache-airflow-providers-openlineage"

# Run facet name of the application the task ran.
FACET = "sparkube_application"


def inject_setting(key: str) -> bool:
    """`[openlineage] spark_inject_<key>`: the default of the operator's `openlineage_inject_<key>`."""
    return bool(conf.getboolean("openlineage", f"spark_inject_{key}", fallback=False))


def inject(
    properties: Mapping[str, str],
    context: Context,
    *,
    parent_job: bool,
    transport: bool,
    log: logging.Logger | Any,
) -> dict[str, str]:
    """`properties` (Spark conf) with the OpenLineage parent-job and transport keys added.

    Keys the application already sets win (the provider skips a group when any of its keys is
    present).
    """
    result = dict(properties)
    try:
        from airflow.providers.openlineage.utils import spark
    except ImportError as e:
        log.warning(
            "OpenLineage injection asked for, but %s is not installed (%s): the application is "
            "submitted without it",
            PROVIDER,
            e,
        )
        return result
    for asked, helper in (
        (parent_job, "inject_parent_job_information_into_spark_properties"),
        (transport, "inject_transport_information_into_spark_properties"),
    ):
        if not asked:
            continue
        inject_helper = getattr(spark, helper, None)
        if inject_helper is None:
            log.warning(
                "This %s has no %s (a newer one has): the application is submitted without it",
                PROVIDER,
                helper,
            )
            continue
        result = inject_helper(result, context)
    return {str(k): str(v) for k, v in result.items()}


def facets(app: Mapping[str, Any], image: str | None) -> Any:
    """The operator's `OperatorLineage`: one run facet naming the Spark application, its driver
    pod and image; None without the provider."""
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    from sparkube.airflow import _openlineage_facet

    facet = _openlineage_facet.SparkubeApplicationRunFacet(
        appId=app.get("app_id"),
        namespace=app.get("namespace"),
        driverPod=app.get("driver_pod"),
        submissionId=app.get("submission_id"),
        image=image,
        state=app.get("state"),
    )
    return OperatorLineage(run_facets={FACET: facet})
