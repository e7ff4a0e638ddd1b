"""Local files shipped with a submission: where relative paths resolve from Python, and what
`render` shows of them."""

from __future__ import annotations

import base64
import runpy
from typing import TYPE_CHECKING, Any

import pytest

import sparkube
from sparkube import Deps, SparkApp

if TYPE_CHECKING:
    from pathlib import Path

IMAGE = "apache/spark:4.0.1"


def shipped(objects: list[dict[str, Any]]) -> dict[str, bytes]:
    """The local files ConfigMap's items: path in the driver's folder → contents."""
    (config_map,) = [o for o in objects if o["metadata"]["name"].endswith("-local-files")]
    (pod,) = [o for o in objects if o["kind"] == "Pod"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "sparkube-local-files"]
    return {
        item["path"]: base64.b64decode(config_map["binaryData"][item["key"]])
        for item in volume["configMap"]["items"]
    }


def properties(objects: list[dict[str, Any]]) -> str:
    (conf,) = [o for o in objects if "spark.properties" in o.get("data", {})]
    return str(conf["data"]["spark.properties"])


def test_relative_paths_resolve_against_the_calling_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "shapes").mkdir(parents=True)
    (project / "job.py").write_text("import shapes\n")
    (project / "shapes" / "__init__.py").write_text("X = 1\n")
    (project / "submit.py").write_text(
        "import sparkube\n"
        "from sparkube import Deps, SparkApp\n"
        f"app = SparkApp(name='job', application='job.py', image={IMAGE!r},\n"
        "               deps=Deps(py_files=['shapes/']))\n"
        "objects = sparkube.render(app)\n"
    )
    # Run from elsewhere: the module's folder counts, not the working directory.
    monkeypatch.chdir(tmp_path)
    objects = runpy.run_path(str(project / "submit.py"))["objects"]
    files = shipped(objects)
    assert files["0/job.py"] == b"import shapes\n"
    assert set(files) == {"0/job.py", "1/shapes.zip"}
    (pod,) = [o for o in objects if o["kind"] == "Pod"]
    args = pod["spec"]["containers"][-1]["args"]
    assert "file:///var/sparkube/files/0/job.py" in args
    assert "spark.submit.pyFiles=file\\:///var/sparkube/files/1/shapes.zip" in properties(objects)


def test_base_dir_overrides_and_missing_files_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("print(1)\n")
    app = SparkApp(name="job", application="job.py", image=IMAGE)
    assert shipped(sparkube.render(app, base_dir=tmp_path)) == {"0/job.py": b"print(1)\n"}
    # Resolved against this test's folder, where there is no job.py.
    with pytest.raises(sparkube.ConfigError) as raised:
        sparkube.render(app)
    assert raised.value.option == "application"
    missing = SparkApp(name="job", application="job.py", image=IMAGE, deps=Deps(files=["no.txt"]))
    with pytest.raises(sparkube.ConfigError) as raised:
        sparkube.render(missing, base_dir=tmp_path)
    assert raised.value.option == "deps.files"
    assert f"{tmp_path}/no.txt" in str(raised.value)
