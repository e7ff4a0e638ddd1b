"""The example applications of deployment/images/spark-app-example, and the Spark UI proxy in
front of a real Spark 4.3 UI, with a local SparkSession from the PyPI pyspark."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import threading
import time
import urllib.parse
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from deployment_support import DEPLOYMENT
from test_spark_ui_proxy import NS, FakeApi, driver_service, proxy

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

    from pyspark.sql import SparkSession

APPS = DEPLOYMENT / "images/spark-app-example/apps"


def load_app(name: str, spark: SparkSession) -> ModuleType:
    """The example `name`, importable by the Python workers too (as in spark-submit)."""
    path = APPS / f"{name}.py"
    spark.sparkContext.addPyFile(str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sparkube-deployment-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", "0")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


def test_pi(spark: SparkSession) -> None:
    pi = load_app("pi", spark)
    assert abs(pi.estimate_pi(spark, 2) - math.pi) < 0.05
    assert pi.main(["pi.py", "0"]) == 2  # refused before any Spark work


def test_s3_etl_on_local_paths(spark: SparkSession, tmp_path: Path) -> None:
    etl = load_app("s3_etl", spark)
    source, target = (tmp_path / "orders").as_uri(), (tmp_path / "revenue").as_uri()
    orders = etl.generate_orders(spark, 300).collect()
    spark.createDataFrame(orders).coalesce(1).write.option("header", "true").csv(source)
    groups = etl.run(spark, source, target)
    assert groups == len({(o["order_ts"][:10], o["country"]) for o in orders})
    result = spark.read.parquet(target).collect()
    assert sum(r["revenue"] for r in result) == pytest.approx(sum(o["amount"] for o in orders))
    assert sum(r["orders"] for r in result) == 300
    assert etl.main(["s3_etl.py", "only-one-path"]) == 2


def test_s3_etl_drops_negative_amounts(spark: SparkSession) -> None:
    etl = load_app("s3_etl", spark)
    rows = [("a", "2025-01-01T10:00:00", "DE", 5.0), ("b", "2025-01-01T11:00:00", "DE", -2.0)]
    out = etl.revenue_per_day(spark.createDataFrame(rows, etl.ORDERS)).collect()
    assert [(str(r["day"]), r["country"], r["orders"], r["revenue"]) for r in out] == [
        ("2025-01-01", "DE", 1, 5.0)
    ]


def test_streaming_counts_windows(spark: SparkSession, tmp_path: Path) -> None:
    streaming = load_app("streaming", spark)
    query = streaming.start(spark, 50, str(tmp_path / "checkpoint"))
    try:
        # A rate source never runs dry: wait (bounded) for a batch that read rows.
        deadline = time.monotonic() + 60
        while not any(p["numInputRows"] > 0 for p in query.recentProgress):
            assert query.exception() is None
            assert time.monotonic() < deadline, "no batch with input rows within 60 s"
            query.awaitTermination(0.5)
        assert query.isActive
    finally:
        query.stop()


@pytest.fixture
def proxied_ui(spark: SparkSession, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The proxy, in front of this session's real Spark UI, found through a stand-in API."""
    app_id = spark.sparkContext.applicationId
    ui = urllib.parse.urlsplit(spark.sparkContext.uiWebUrl or "")
    assert ui.port
    api = FakeApi()
    api.services = [driver_service(app_id, ui.port)]
    servers: list[Any] = [ThreadingHTTPServer(("127.0.0.1", 0), api.handler())]
    token = tmp_path / "token"
    token.write_text(api.token)
    kube = proxy.KubeClient(
        f"http://127.0.0.1:{servers[0].server_address[1]}", str(token), None, 10
    )
    router = proxy.Router(kube, frozenset({NS}), upstream_host="127.0.0.1")
    servers.append(proxy.make_server(("127.0.0.1", 0), router, 30))
    threads = [threading.Thread(target=s.serve_forever, args=(0.02,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield servers[1].server_address[1], app_id
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def _get(port: int, path: str) -> tuple[int, dict[str, str], str]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


def test_proxy_serves_a_real_spark_ui_under_its_public_base(proxied_ui: tuple[int, str]) -> None:
    port, app_id = proxied_ui
    base = f"/{NS}/{app_id}"
    status, headers, _ = _get(port, f"{base}/")
    assert status in (301, 302, 303, 307, 308)
    assert headers["location"].startswith(f"{base}/jobs")
    status, _, html = _get(port, f"{base}/jobs/")
    assert status == 200
    # Spark builds its links from X-Forwarded-Context: they point back through the proxy.
    assert f'href="{base}/stages/"' in html
    assert f"{base}/static/" in html
    status, _, body = _get(port, f"{base}/api/v1/applications")
    assert status == 200
    assert [a["id"] for a in json.loads(body)] == [app_id]
