"""One version, from the Cargo workspace: the command line, the module, the installed metadata
and the Airflow provider info all report it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.version import Version

import sparkube
from sparkube.airflow import get_provider_info

ROOT = Path(__file__).resolve().parents[2]


def workspace_version() -> str:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return str(cargo["workspace"]["package"]["version"])


def test_every_version_is_the_workspace_version() -> None:
    version = workspace_version()
    sparkube_cmd = Path(sys.executable).parent / "sparkube"
    printed = {
        args: subprocess.run(
            [str(sparkube_cmd), args], capture_output=True, text=True, check=True
        ).stdout.strip()
        for args in ("--version", "version")
    }
    assert printed == {"--version": f"sparkube {version}", "version": f"sparkube {version}"}
    assert sparkube.__version__ == version
    assert Version(importlib.metadata.version("sparkube")) == Version(version)
    assert get_provider_info()["versions"] == [importlib.metadata.version("sparkube")]


def test_no_crate_sets_a_version_of_its_own() -> None:
    for manifest in sorted((ROOT / "rust").glob("*/Cargo.toml")):
        package = tomllib.loads(manifest.read_text())["package"]
        assert package["version"] == {"workspace": True}, manifest


def test_pyproject_takes_the_version_from_cargo() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
