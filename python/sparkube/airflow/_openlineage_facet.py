"""The OpenLineage run facet of a sparkube application (imported only when the OpenLineage
client is installed, as its base class comes from there)."""

from __future__ import annotations

from attrs import define
from openlineage.client.facet_v2 import RunFacet


@define
class SparkubeApplicationRunFacet(RunFacet):
    """The Spark application an Airflow task ran on Kubernetes: what joins the task's lineage
    to the Spark application's own events (`appId`) and to the cluster (`driverPod`)."""

    appId: str | None = None
    namespace: str | None = None
    driverPod: str | None = None
    submissionId: str | None = None
    image: str | None = None
    state: str | None = None
