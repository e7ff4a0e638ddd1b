"""The provider's registration: what Airflow reads from the entry point, and cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema

from sparkube.airflow import get_provider_info

if TYPE_CHECKING:
    from airflow_harness import AirflowCli


def test_entry_point_gives_the_provider_info() -> None:
    (ep,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("sparkube")
    ]
    assert ep.load() is get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "sparkube"


def test_provider_info_names_importable_classes_and_modules() -> None:
    import importlib

    info = get_provider_info()
    modules = [
        m
        for kind in ("operators", "sensors", "hooks", "triggers")
        for e in info[kind]
        for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for path in [
        *info["extra-links"],
        *(c["hook-class-name"] for c in info.get("connection-types", [])),
    ]:
        module, _, name = path.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), path
    (decorator,) = info["task-decorators"]
    assert decorator["name"] == "sparkube"
    module, _, name = decorator["class-name"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_provider_config_declares_the_link_templates_and_the_history_server() -> None:
    options = get_provider_info()["config"]["sparkube"]["options"]
    assert set(options) == {
        "spark_ui_url_template",
        "spark_history_url_template",
        "history_server_url",
    }
    assert all(o["default"] == "" for o in options.values())


def test_kubernetes_connection_type_is_registered_with_its_extras() -> None:
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "kubernetes"
    assert set(conn["conn-fields"]) == {
        "in_cluster",
        "kube_config_path",
        "kube_config",
        "cluster_context",
        "namespace",
        "disable_verify_ssl",
    }
    assert conn["conn-fields"]["kube_config"]["schema"]["format"] == "password"


def test_importing_the_provider_loads_no_airflow() -> None:
    code = "import sys, sparkube.airflow; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_airflow_lists_the_provider_and_its_links(airflow_cli: AirflowCli) -> None:
    providers = json.loads(
        airflow_cli.run("providers", "list", "-o", "json").stdout.splitlines()[-1]
    )
    assert "sparkube" in {p["package_name"] for p in providers}
    links = airflow_cli.run("providers", "links", "-o", "json").stdout
    assert "sparkube.airflow.links.SparkUILink" in links
    assert "sparkube.airflow.links.SparkHistoryLink" in links
