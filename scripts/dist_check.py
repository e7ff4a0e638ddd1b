"""Check what a release would ship: the wheels and the sdist in dist/ (`make dist-check`).

Every check runs; each failure is printed with the check's own message (auditwheel's, twine's,
pip's, the command's stderr) and the exit status is 1 if any failed. What is checked:

- each wheel: manylinux2014 abi3 tags, `auditwheel show` finds it consistent with
  manylinux_2_17 and needing no shared library outside that policy, size under 10 MB;
- the metadata: the Cargo workspace version, the `sparkube` script, the Airflow provider entry
  point, and every extra resolving (pip's resolver, offline, against this environment, which
  holds the Airflow the test suite runs);
- `twine check --strict` on every file (the README renders as the long description);
- the sdist: Cargo.lock, the workspace manifest, every crate sparkube-py builds from, the
  Python package; no build output, virtualenv or compiled module;
- the wheel of this machine's architecture, installed into a fresh virtualenv (per Python in
  $DIST_CHECK_PYTHONS, and this one's base interpreter) with no Rust toolchain on PATH:
  `sparkube --version` and `sparkube version`, `sparkube render`, `import sparkube.airflow`,
  and the provider info Airflow would load, all reporting the workspace version;
- with `--build-sdist`, the sdist compiled by `pip install` in a fresh virtualenv with cargo
  offline (CARGO_NET_OFFLINE=true: only the crates in the local cargo cache), then used as above.
"""

from __future__ import annotations

import argparse
import configparser
import email.message
import email.parser
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import tomllib
from packaging.utils import canonicalize_version, parse_wheel_filename

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
MAX_WHEEL_BYTES = 10 * 1000 * 1000
POLICY = "manylinux_2_17"
PROVIDER_ENTRY_POINT = "sparkube.airflow:get_provider_info"
RENDER_ARGS = [
    "render",
    "--master",
    "k8s://https://example.invalid:6443",
    "--name",
    "dist-check",
    "--conf",
    "spark.kubernetes.container.image=apache/spark:4.3.0",
    "local:///opt/spark/examples/src/main/python/pi.py",
]


class CheckFailed(Exception):
    """A check found something wrong; the message is the check's own."""


def workspace_version() -> str:
    """The one version: the Cargo workspace's, which maturin writes into the wheel metadata."""
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return str(cargo["workspace"]["package"]["version"])


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; a non-zero exit is a failure carrying its output."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    except OSError as e:
        raise CheckFailed(f"`{' '.join(cmd)}` could not start: {e}") from e
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise CheckFailed(f"`{' '.join(cmd)}` exited {result.returncode}:\n{output}")
    return result


# --- wheel and sdist files ---------------------------------------------------------------------


def check_tags(wheel: Path) -> str:
    """abi3 for CPython >= 3.10 on manylinux2014 (also spelled manylinux_2_17)."""
    _, _, _, tags = parse_wheel_filename(wheel.name)
    found = {(t.interpreter, t.abi, t.platform) for t in tags}
    arch = wheel_arch(wheel)
    wanted = {
        ("cp310", "abi3", f"manylinux2014_{arch}"),
        ("cp310", "abi3", f"manylinux_2_17_{arch}"),
    }
    if found != wanted:
        raise CheckFailed(f"tags {sorted(found)}, expected {sorted(wanted)}")
    return "cp310-abi3-manylinux2014"


def wheel_arch(wheel: Path) -> str:
    """The machine a wheel is for, from its platform tag."""
    _, _, _, tags = parse_wheel_filename(wheel.name)
    return next(iter(tags)).platform.split("_", 1)[1].removeprefix("2_17_")


def auditwheel_problems(output: str, arch: str) -> list[str]:
    """What `auditwheel show` output says against the manylinux2014 policy."""
    found = []
    tag = re.search(r'consistent with the following platform tag:\s*"([^"]+)"', output)
    if not tag or tag.group(1) != f"{POLICY}_{arch}":
        got = tag.group(1) if tag else "none"
        found.append(f"auditwheel: platform tag {got}, expected {POLICY}_{arch}")
    if "external shared libraries" in output:
        found.append("auditwheel: the wheel needs external shared libraries")
    return found


def check_auditwheel(wheel: Path) -> str:
    output = run([sys.executable, "-m", "auditwheel", "show", str(wheel)]).stdout
    problems = auditwheel_problems(output, wheel_arch(wheel))
    if problems:
        raise CheckFailed("\n".join(problems) + "\n" + output.strip())
    return f"{POLICY}_{wheel_arch(wheel)}, no external shared libraries"


def check_size(wheel: Path) -> str:
    size = wheel.stat().st_size
    if size >= MAX_WHEEL_BYTES:
        raise CheckFailed(f"{size / 1e6:.1f} MB, the limit is {MAX_WHEEL_BYTES / 1e6:.0f} MB")
    return f"{size / 1e6:.1f} MB"


def wheel_metadata(wheel: Path) -> tuple[email.message.Message, str]:
    """The METADATA and entry_points.txt of a wheel."""
    with zipfile.ZipFile(wheel) as z:
        dist_info = next(n.split("/")[0] for n in z.namelist() if ".dist-info/" in n)
        metadata = email.parser.Parser().parsestr(z.read(f"{dist_info}/METADATA").decode())
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    return metadata, entry_points


def metadata_problems(
    metadata: email.message.Message, entry_points: str, version: str
) -> list[str]:
    """What is missing or wrong in a wheel's metadata."""
    found = []
    if canonicalize_version(metadata["Version"]) != canonicalize_version(version):
        found.append(f"version {metadata['Version']}, the Cargo workspace says {version}")
    if metadata["Requires-Python"] != ">=3.10":
        found.append(f"Requires-Python {metadata['Requires-Python']}, expected >=3.10")
    if "airflow" not in (metadata.get_all("Provides-Extra") or []):
        found.append("no `airflow` extra")
    groups = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    groups.optionxform = str  # keep the names as written
    groups.read_string(entry_points)
    provider = groups.get("apache_airflow_provider", "provider_info", fallback=None)
    if provider != PROVIDER_ENTRY_POINT:
        found.append(
            f"[apache_airflow_provider] provider_info is {provider}, not {PROVIDER_ENTRY_POINT}"
        )
    if groups.get("console_scripts", "sparkube", fallback=None) != "sparkube.cli:main":
        found.append("no `sparkube = sparkube.cli:main` console script")
    return found


def check_metadata(wheel: Path) -> str:
    metadata, entry_points = wheel_metadata(wheel)
    problems = metadata_problems(metadata, entry_points, workspace_version())
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"version {metadata['Version']}, provider entry point, console script"


EXTRAS_FROM_PYPI = {"connect"}
"""Extras resolved against PyPI rather than this environment: `connect`'s pyspark-client
provides the `pyspark` package, so it cannot sit beside the full pyspark installed here."""


def check_extras(wheel: Path) -> str:
    """Every extra resolves with pip's resolver: offline against this environment, or against
    PyPI for the extras that cannot be installed here (`EXTRAS_FROM_PYPI`)."""
    metadata, _ = wheel_metadata(wheel)
    extras = metadata.get_all("Provides-Extra") or []
    for extra in extras:
        offline = [] if extra in EXTRAS_FROM_PYPI else ["--no-index"]
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                *offline,
                "--quiet",
                "--disable-pip-version-check",
                f"sparkube[{extra}] @ {wheel.resolve().as_uri()}",
            ]
        )
    return f"[{','.join(extras)}] resolve"


def sdist_problems(names: list[str], crates: list[str]) -> list[str]:
    """What the sdist's file list lacks (to build offline) or should not carry."""
    top = names[0].split("/")[0] if names else ""
    inside = {n.removeprefix(f"{top}/") for n in names}
    needed = [
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "README.md",
        "PKG-INFO",
        "python/sparkube/__init__.py",
        "python/sparkube/_core.pyi",
        "python/sparkube/py.typed",
        "python/sparkube/airflow/__init__.py",
        *(f"{crate}/Cargo.toml" for crate in crates),
        *(f"{crate}/src/lib.rs" for crate in crates),
    ]
    found = [f"missing {n}" for n in needed if n not in inside]
    unwanted = re.compile(r"(^|/)(target|\.venv|__pycache__|dist)/|\.(so|pyd|pyc)$")
    found += [f"should not ship {n}" for n in sorted(inside) if unwanted.search(n)]
    return found


def sparkube_py_crates() -> list[str]:
    """The workspace crates sparkube-py is built from (itself and its path dependencies)."""
    meta = json.loads(
        run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"], cwd=ROOT
        ).stdout
    )
    by_name = {p["name"]: p for p in meta["packages"]}
    todo, seen = ["sparkube-py"], []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        todo += [
            d["name"] for d in by_name[name]["dependencies"] if d.get("path") and d["kind"] is None
        ]
    dirs = [Path(by_name[n]["manifest_path"]).parent.relative_to(ROOT).as_posix() for n in seen]
    return sorted(dirs)


def check_sdist(sdist: Path) -> str:
    with tarfile.open(sdist) as t:
        names = t.getnames()
    crates = sparkube_py_crates()
    problems = sdist_problems(names, crates)
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"{len(names)} files, Cargo.lock, crates {', '.join(crates)}"


def check_twine(files: list[Path]) -> str:
    run([sys.executable, "-m", "twine", "check", "--strict", *map(str, files)])
    return f"{len(files)} files pass"


# --- installed, without Rust --------------------------------------------------------------------


def path_without_rust() -> str:
    """PATH without the directories holding cargo or rustc."""
    keep = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any((Path(d) / tool).exists() for tool in ("cargo", "rustc"))
    ]
    return os.pathsep.join(keep)


def fresh_venv(python: str, where: Path) -> Path:
    run([python, "-m", "venv", str(where)])
    return where / "bin"


def check_installed(bin_dir: Path, version: str, cwd: Path) -> str:
    """The installed package works with no Rust toolchain and reports one version everywhere."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CARGO", "RUSTUP", "KUBECONFIG"))
    }
    env["PATH"] = os.pathsep.join([str(bin_dir), path_without_rust()])
    env.pop("VIRTUAL_ENV", None)
    for tool in ("cargo", "rustc"):
        if shutil.which(tool, path=env["PATH"]):
            raise CheckFailed(f"{tool} is still on PATH: {shutil.which(tool, path=env['PATH'])}")
    sparkube = str(bin_dir / "sparkube")
    problems = []
    for args in (["--version"], ["version"]):
        out = run([sparkube, *args], env=env, cwd=cwd).stdout.strip()
        if out != f"sparkube {version}":
            problems.append(f"`sparkube {args[0]}` printed {out!r}, expected 'sparkube {version}'")
    listing = json.loads(run([sparkube, *RENDER_ARGS], env=env, cwd=cwd).stdout)
    kinds = [item["kind"] for item in listing["items"]]
    if "Pod" not in kinds:
        problems.append(f"`sparkube render` made {kinds}, no driver Pod")
    probe = (
        "import importlib.metadata as m, json, sparkube, sparkube.airflow\n"
        "eps = [e for e in m.entry_points(group='apache_airflow_provider') if e.dist.name == 'sparkube']\n"
        "info = eps[0].load()()\n"
        "print(json.dumps({'version': sparkube.__version__, 'provider': info['versions'],\n"
        "  'core': sparkube._core.__file__, 'package-name': info['package-name']}))\n"
    )
    seen = json.loads(run([str(bin_dir / "python"), "-c", probe], env=env, cwd=cwd).stdout)
    if not seen["core"].startswith(str(bin_dir.parent)):
        problems.append(f"sparkube._core came from {seen['core']}, not the fresh virtualenv")
    if canonicalize_version(seen["version"]) != canonicalize_version(version):
        problems.append(f"sparkube.__version__ is {seen['version']}, expected {version}")
    if seen["provider"] != [version] or seen["package-name"] != "sparkube":
        problems.append(f"provider info versions {seen['provider']}, expected [{version!r}]")
    if problems:
        raise CheckFailed("\n".join(problems))
    return f"--version, version, render ({len(kinds)} objects), sparkube.airflow, provider info"


def check_wheel_installs(wheel: Path, python: str) -> str:
    version = workspace_version()
    with tempfile.TemporaryDirectory(prefix="sparkube-dist-check-") as tmp:
        bin_dir = fresh_venv(python, Path(tmp) / "venv")
        py_version = run(
            [str(bin_dir / "python"), "-c", "import sys; print(sys.version.split()[0])"]
        ).stdout.strip()
        run(
            [
                str(bin_dir / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                str(wheel),
            ]
        )
        return f"Python {py_version}: " + check_installed(bin_dir, version, Path(tmp))


def check_sdist_builds(sdist: Path, python: str) -> str:
    version = workspace_version()
    with tempfile.TemporaryDirectory(prefix="sparkube-sdist-check-") as tmp:
        bin_dir = fresh_venv(python, Path(tmp) / "venv")
        env = {**os.environ, "CARGO_NET_OFFLINE": "true"}
        env.pop("VIRTUAL_ENV", None)
        env.pop("CARGO_TARGET_DIR", None)
        started = time.monotonic()
        run(
            [
                str(bin_dir / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                str(sdist),
            ],
            env=env,
        )
        took = time.monotonic() - started
        return f"built offline in {took:.0f} s; " + check_installed(bin_dir, version, Path(tmp))


# --- driver -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, nargs="?", default=ROOT / "dist")
    parser.add_argument("--build-sdist", action="store_true", help="also compile the sdist offline")
    opts = parser.parse_args(argv)
    wheels = sorted(opts.dist.glob("sparkube-*.whl"))
    sdists = sorted(opts.dist.glob("sparkube-*.tar.gz"))
    machine = platform.machine()
    native = [w for w in wheels if wheel_arch(w) == machine]
    if len(sdists) != 1 or not native:
        print(
            f"dist-check: {opts.dist} holds {len(sdists)} sdists and no {machine} wheel "
            f"among {[w.name for w in wheels]}: run `make dist` first",
            file=sys.stderr,
        )
        return 2
    pythons = [sys._base_executable, *os.environ.get("DIST_CHECK_PYTHONS", "").split()]  # type: ignore[attr-defined]

    checks: list[tuple[str, Callable[[], str]]] = []
    for wheel in wheels:
        checks += [
            (f"{wheel.name}: tags", lambda w=wheel: check_tags(w)),
            (f"{wheel.name}: auditwheel", lambda w=wheel: check_auditwheel(w)),
            (f"{wheel.name}: size", lambda w=wheel: check_size(w)),
            (f"{wheel.name}: metadata", lambda w=wheel: check_metadata(w)),
        ]
    checks.append((f"{native[0].name}: extras", lambda: check_extras(native[0])))
    checks.append(("twine check", lambda: check_twine([*wheels, *sdists])))
    checks.append((f"{sdists[0].name}: contents", lambda: check_sdist(sdists[0])))
    for python in pythons:
        checks.append(
            (f"{native[0].name}: installed", lambda p=python: check_wheel_installs(native[0], p))
        )
    if opts.build_sdist:
        checks.append(
            (f"{sdists[0].name}: builds offline", lambda: check_sdist_builds(sdists[0], pythons[0]))
        )

    failed = 0
    for name, check in checks:
        started = time.monotonic()
        try:
            result = check()
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e}", file=sys.stderr, flush=True)
            continue
        print(f"ok   {name}: {result} ({time.monotonic() - started:.1f} s)", flush=True)
    if failed:
        print(f"dist-check: {failed} of {len(checks)} checks failed", file=sys.stderr)
    else:
        print(f"dist-check: all {len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
