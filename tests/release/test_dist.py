"""`make dist` and `make dist-check` (scripts/dist.py, scripts/dist_check.py): a missing tool is
one line saying how to get it, and each check of dist_check.py catches what it is for. The
checks themselves run on the real artefacts in `make dist-check`, part of `make test`."""

from __future__ import annotations

import email.parser
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dist = load("dist")
dist_check = load("dist_check")


def run_dist(python: str, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(ROOT / "scripts" / "dist.py"), "--out", "/nonexistent/never-made", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        check=False,
    )


def test_without_zig_dist_says_how_to_get_it_in_one_line() -> None:
    # The base interpreter has no ziglang package; PATH keeps rustc but no zig.
    base = sys._base_executable  # type: ignore[attr-defined]
    path = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "zig").exists()
    )
    check = subprocess.run([base, "-c", "import ziglang"], capture_output=True, check=False)
    if check.returncode == 0:
        pytest.skip(f"{base} has ziglang")
    result = run_dist(base, path=path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "dist: zig not found: `pip install -r requirements-dev.txt` (PyPI ziglang) or put zig "
        "on PATH; maturin links the manylinux2014 wheels with it"
    ]
    assert not Path("/nonexistent/never-made").exists()


def test_a_missing_rust_target_asked_for_is_one_line() -> None:
    if dist.rust_target_installed("aarch64-unknown-linux-gnu"):
        pytest.skip("the aarch64 target is installed here")
    result = run_dist(sys.executable, "--arch", "aarch64", path=os.environ["PATH"])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "dist: the Rust target aarch64-unknown-linux-gnu is not installed: "
        "rustup target add aarch64-unknown-linux-gnu"
    ]


def test_without_rustc_dist_says_so() -> None:
    path = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "rustc").exists()
    )
    assert shutil.which("rustc", path=path) is None
    result = run_dist(sys.executable, path=path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "dist: rustc not found: install Rust with rustup (https://rustup.rs)"
    ]


# What `auditwheel show` prints, as auditwheel 6.8.2 wrote it for the wheel `make dist` builds.
AUDITWHEEL_OK = """
sparkube-0.1.0-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
is consistent with the following platform tag:
"manylinux_2_17_x86_64".

The wheel references external versioned symbols in these
system-provided shared libraries: libc.so.6 with versions
{'GLIBC_2.9', 'GLIBC_2.17'}

This constrains the platform tag to "manylinux_2_17_x86_64".
"""

AUDITWHEEL_BAD = {
    "newer glibc": AUDITWHEEL_OK.replace(
        '"manylinux_2_17_x86_64".\n', '"manylinux_2_34_x86_64".\n'
    ),
    "no manylinux tag": AUDITWHEEL_OK.replace('"manylinux_2_17_x86_64".\n', '"linux_x86_64".\n'),
    "external library": AUDITWHEEL_OK
    + "\nThe following external shared libraries are required by the wheel:\n"
    + '{\n    "libssl.so.3": "/usr/lib/x86_64-linux-gnu/libssl.so.3"\n}\n',
}


def test_auditwheel_output_of_a_good_wheel_passes() -> None:
    assert dist_check.auditwheel_problems(AUDITWHEEL_OK, "x86_64") == []


@pytest.mark.parametrize("case", AUDITWHEEL_BAD)
def test_auditwheel_check_catches(case: str) -> None:
    assert dist_check.auditwheel_problems(AUDITWHEEL_BAD[case], "x86_64") != []


METADATA = """\
Metadata-Version: 2.4
Name: sparkube
Version: 0.1.0
Requires-Dist: tqdm>=4.60
Requires-Dist: apache-airflow>=2.10 ; extra == 'airflow'
Provides-Extra: airflow
Requires-Python: >=3.10
"""
ENTRY_POINTS = """\
[console_scripts]
sparkube=sparkube.cli:main
[apache_airflow_provider]
provider_info=sparkube.airflow:get_provider_info
"""

METADATA_BAD = {
    "other version": (METADATA.replace("Version: 0.1.0", "Version: 0.0.9"), ENTRY_POINTS),
    "no extra": (METADATA.replace("Provides-Extra: airflow\n", ""), ENTRY_POINTS),
    "older python": (METADATA.replace(">=3.10", ">=3.8"), ENTRY_POINTS),
    "no provider": (METADATA, ENTRY_POINTS.split("[apache_airflow_provider]")[0]),
    "wrong provider": (METADATA, ENTRY_POINTS.replace("get_provider_info", "info")),
    "no script": (METADATA, ENTRY_POINTS.replace("sparkube=sparkube.cli:main\n", "")),
}


def metadata_problems(metadata: str, entry_points: str) -> list[str]:
    parsed = email.parser.Parser().parsestr(metadata)
    return dist_check.metadata_problems(parsed, entry_points, "0.1.0")  # type: ignore[no-any-return]


def test_good_metadata_passes() -> None:
    assert metadata_problems(METADATA, ENTRY_POINTS) == []


@pytest.mark.parametrize("case", METADATA_BAD)
def test_metadata_check_catches(case: str) -> None:
    assert metadata_problems(*METADATA_BAD[case]) != []


CRATES = ["rust/sparkube", "rust/sparkube-py"]
SDIST = [
    f"sparkube-0.1.0/{name}"
    for name in [
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "README.md",
        "PKG-INFO",
        "python/sparkube/__init__.py",
        "python/sparkube/_core.pyi",
        "python/sparkube/py.typed",
        "python/sparkube/airflow/__init__.py",
        "rust/sparkube/Cargo.toml",
        "rust/sparkube/src/lib.rs",
        "rust/sparkube-py/Cargo.toml",
        "rust/sparkube-py/src/lib.rs",
    ]
]
SDIST_BAD = {
    "no Cargo.lock": [n for n in SDIST if not n.endswith("Cargo.lock")],
    "no core crate": [n for n in SDIST if "rust/sparkube/" not in n],
    "no stub": [n for n in SDIST if not n.endswith(".pyi")],
    "build output": [*SDIST, "sparkube-0.1.0/target/release/lib_core.so"],
    "virtualenv": [*SDIST, "sparkube-0.1.0/.venv/bin/python"],
    "compiled module": [*SDIST, "sparkube-0.1.0/python/sparkube/_core.abi3.so"],
    "bytecode": [*SDIST, "sparkube-0.1.0/python/sparkube/__pycache__/cli.cpython-311.pyc"],
}


def test_a_complete_sdist_passes() -> None:
    assert dist_check.sdist_problems(SDIST, CRATES) == []


@pytest.mark.parametrize("case", SDIST_BAD)
def test_sdist_check_catches(case: str) -> None:
    assert dist_check.sdist_problems(SDIST_BAD[case], CRATES) != []


def test_the_sdist_needs_the_crates_sparkube_py_is_built_from() -> None:
    crates = dist_check.sparkube_py_crates()
    assert set(CRATES) <= set(crates)
    assert "rust/kubesim" not in crates
    assert all((ROOT / crate / "Cargo.toml").is_file() for crate in crates)


def test_the_fresh_environment_has_no_rust() -> None:
    path = dist_check.path_without_rust()
    assert shutil.which("cargo", path=path) is None
    assert shutil.which("rustc", path=path) is None
    assert shutil.which("sh", path=path) is not None
