"""The GitHub Actions workflow that builds the wheels `make dist` cannot (.github/workflows/
wheels.yml). No runner exists here to run it: this checks that it is valid YAML of the shape
GitHub reads and that it makes the choices its header states."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "wheels.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def build_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("PyO3/maturin-action@")]


def test_top_level_keys(workflow: dict[Any, Any]) -> None:
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    assert set(workflow) == {"name", True, "permissions", "env", "jobs"}
    assert workflow[True]["push"] == {"tags": ["v*"]}
    for name, job in workflow["jobs"].items():
        assert "runs-on" in job, name
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step)


def test_the_platforms_and_their_runners(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    targets = {
        name: {(p["runner"], p["target"]) for p in jobs[name]["strategy"]["matrix"]["platform"]}
        for name in ("linux", "macos", "windows")
    }
    assert targets == {
        "linux": {("ubuntu-latest", "x86_64"), ("ubuntu-24.04-arm", "aarch64")},
        "macos": {("macos-15-intel", "x86_64"), ("macos-latest", "aarch64")},
        "windows": {("windows-latest", "x64"), ("windows-11-arm", "aarch64")},
    }
    assert [s["with"]["manylinux"] for s in build_steps(jobs["linux"])] == ["2014"]


def test_every_build_is_locked_pinned_and_smoke_tested(workflow: dict[Any, Any]) -> None:
    pinned = re.search(r"^maturin==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), flags=re.M)
    assert pinned is not None
    assert workflow["env"]["MATURIN_VERSION"] == pinned.group(1)
    for name in ("linux", "macos", "windows", "sdist"):
        job = workflow["jobs"][name]
        (step,) = build_steps(job)
        assert step["with"]["maturin-version"] == "${{ env.MATURIN_VERSION }}", name
        args = step["with"]["args"].split()
        assert "--out" in args, name
        # Per-interpreter or free-threaded builds would defeat the one abi3 wheel.
        assert "-i" not in args, name
        assert "--interpreter" not in args, name
        if name != "sdist":
            assert "--locked" in args, name
            smoke = next(s["run"] for s in job["steps"] if s.get("name") == "Smoke test")
            assert "sparkube --version" in smoke, name
            assert "import sparkube.airflow" in smoke, name


def test_release_publishes_what_the_builds_upload(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    release = jobs["release"]
    assert release["if"] == "${{ startsWith(github.ref, 'refs/tags/') }}"
    assert set(release["needs"]) == {"linux", "macos", "sdist"}
    assert jobs["windows"]["continue-on-error"] is True
    assert release["permissions"]["id-token"] == "write"
    for name in ("linux", "macos", "windows", "sdist"):
        upload = next(s for s in jobs[name]["steps"] if s.get("name", "").startswith("Upload"))
        assert upload["with"]["name"].startswith("wheels-"), name
        assert upload["with"]["path"] == "dist", name
