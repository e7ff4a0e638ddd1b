"""The Airflow compatibility matrix (`make compat`): the provider's tests and the example DAGs
under every Airflow minor version sparkube supports, each in its own virtualenv.

For each minor version (`2.10`, ..., `3.3`) the latest patch release on PyPI is installed into
`.compat/airflow-X.Y.Z` with the OpenLineage provider, pytest and the test dependencies, pinned
by Airflow's constraints file for that release. The constraints files live on GitHub
(`raw.githubusercontent.com`); where that is unreachable, pip is limited to what PyPI had the
day the release was published (`--uploaded-prior-to`), which is what the constraints file
recorded then. A virtualenv is reused while its marker file says it is complete.

Then sparkube's wheel from dist/ (`make dist`) is installed into it and `tests/airflow` runs:
the provider's unit tests and every example DAG under `airflow dags test` against kubesim. The
results go to a Markdown table (tests/airflow/COMPAT.md), one row per version; the script
exits non-zero when any version failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VERSIONS = ("2.10", "2.11", "3.0", "3.1", "3.2", "3.3")
SIMPLE_INDEX = "https://pypi.org/simple/{name}/"
CONSTRAINTS = (
    "https://raw.githubusercontent.com/apache/airflow/constraints-{version}/"
    "constraints-{python}.txt"
)
# What each virtualenv gets besides Airflow: the provider sparkube drives, the test tools, and
# the StatsD client Airflow's `[metrics] statsd_on` needs (the metrics test sends through it).
PACKAGES = (
    "apache-airflow-providers-openlineage",
    "pytest",
    "pytest-timeout",
    "kubernetes",
    "statsd",
)
MARKER = ".sparkube-compat-installed"
# Deprecation warnings of the dependencies an older Airflow pins (Flask, SQLAlchemy 1.4, the
# opentelemetry of 3.2), which the suite's `filterwarnings = error` would turn into errors while
# Airflow loads its providers: not about sparkube, and `make test` keeps every warning an error
# on the newest Airflow.
PYTEST_WARNINGS = ("-W", "ignore::DeprecationWarning")
RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class CompatError(Exception):
    """A step of the matrix could not run (not a failing test); the message says which."""


@dataclass
class Release:
    """One Airflow release: its version and when PyPI received it."""

    version: str
    uploaded: dt.datetime


@dataclass
class Outcome:
    """How the tests went under one Airflow release."""

    release: Release
    pinned_by: str
    openlineage: str
    passed: int
    failed: int
    skipped: int
    seconds: float
    failures: list[str]
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.failed == 0 and self.passed > 0


def airflow_releases() -> list[Release]:
    """Every final Airflow release on PyPI with its first upload time (PEP 691/700 JSON)."""
    request = urllib.request.Request(
        SIMPLE_INDEX.format(name="apache-airflow"),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            index = json.load(response)
    except (OSError, ValueError) as e:
        raise CompatError(f"could not read apache-airflow's release list from PyPI: {e}") from e
    uploaded: dict[str, dt.datetime] = {}
    for file in index["files"]:
        match = re.match(r"apache_airflow-(\d+\.\d+\.\d+)(?:-|\.tar)", file["filename"])
        if not match or file.get("yanked") or "upload-time" not in file:
            continue
        when = dt.datetime.fromisoformat(file["upload-time"].replace("Z", "+00:00"))
        version = match.group(1)
        uploaded[version] = min(when, uploaded.get(version, when))
    return [Release(v, t) for v, t in uploaded.items()]


def latest_patch(releases: list[Release], minor: str) -> Release:
    """The newest release of a minor version (`3.1` -> 3.1.8)."""
    if not re.fullmatch(r"\d+\.\d+", minor):
        raise CompatError(f"AIRFLOW_VERSIONS: {minor!r} is not a minor version such as 3.1")
    candidates = [r for r in releases if r.version.startswith(minor + ".")]
    if not candidates:
        raise CompatError(f"AIRFLOW_VERSIONS: no Airflow {minor}.x release on PyPI")
    return max(candidates, key=lambda r: tuple(int(p) for p in r.version.split(".")))


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def pin_options(release: Release, venv: Path) -> tuple[list[str], str]:
    """pip options that pin the dependencies as the release's constraints file does, and how."""
    url = CONSTRAINTS.format(version=release.version, python=python_tag())
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        # One day after the release: the constraints file is generated on release day.
        cutoff = (release.uploaded + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ["--uploaded-prior-to", cutoff], f"PyPI as of {cutoff[:10]}"
    constraints = venv / "constraints.txt"
    constraints.write_text(text)
    return ["--constraint", str(constraints)], "constraints file"


def pip(venv: Path, *args: str, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"\n$ pip {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", *args], stdout=out, stderr=out, check=False
        )
    if proc.returncode != 0:
        raise CompatError(f"pip {args[0]} failed in {venv.name}: see {log}")


def install(release: Release, workdir: Path) -> tuple[Path, str]:
    """The virtualenv of `release`, created and filled unless it already is."""
    venv = workdir / f"airflow-{release.version}"
    marker = venv / MARKER
    if marker.exists():
        return venv, marker.read_text().strip()
    log = workdir / f"airflow-{release.version}.install.log"
    log.write_text("")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip(venv, "install", "--quiet", "--upgrade", "pip", log=log)
    options, pinned_by = pin_options(release, venv)
    pip(
        venv, "install", "--quiet", *options, f"apache-airflow=={release.version}", *PACKAGES,
        log=log,
    )  # fmt: skip
    marker.write_text(pinned_by + "\n")
    return venv, pinned_by


def installed_version(venv: Path, dist: str) -> str:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.stdout.strip() or "-"


def find_wheel(dist: Path) -> Path:
    """This machine's sparkube wheel in dist/ (the newest)."""
    machine = os.uname().machine
    wheels = sorted(dist.glob(f"sparkube-*{machine}*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise CompatError(f"no sparkube wheel for {machine} in {dist}: run `make dist` first")
    return wheels[-1]


def run_tests(
    release: Release, venv: Path, pinned_by: str, wheel: Path, workdir: Path, pytest_args: list[str]
) -> Outcome:
    """Install the wheel into the virtualenv and run the provider's tests there."""
    log = workdir / f"airflow-{release.version}.test.log"
    log.write_text("")
    pip(venv, "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel), log=log)
    junit = workdir / f"airflow-{release.version}.junit.xml"
    junit.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("KUBESIM_BIN", str(kubesim_binary()))
    started = time.monotonic()
    with log.open("a") as out:
        subprocess.run(
            [
                str(venv / "bin" / "python"), "-m", "pytest", "tests/airflow", "-q",
                "-p", "no:cacheprovider", f"--junitxml={junit}", *PYTEST_WARNINGS, *pytest_args,
            ],
            cwd=ROOT, env=env, stdout=out, stderr=out, check=False,
        )  # fmt: skip
    seconds = time.monotonic() - started
    openlineage = installed_version(venv, "apache-airflow-providers-openlineage")
    if not junit.exists():
        return Outcome(release, pinned_by, openlineage, 0, 0, 0, seconds, [], f"see {log}")
    passed = failed = skipped = 0
    failures = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}")
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return Outcome(release, pinned_by, openlineage, passed, failed, skipped, seconds, failures)


def kubesim_binary() -> Path:
    """kubesim, as the tests look for it (tests/conftest.py)."""
    builds = [ROOT / "target" / kind / "kubesim" for kind in ("release", "debug")]
    existing = [b for b in builds if b.exists()]
    if not existing:
        raise CompatError("kubesim is not built: run `make build-rust`")
    return max(existing, key=lambda b: b.stat().st_mtime)


HEADER = (
    "| Airflow | dependencies pinned by | OpenLineage provider | passed | failed | skipped "
    "| time | failing tests |"
)


def row(o: Outcome) -> str:
    """One version's line of the table."""
    failed = f"**{o.failed}**" if o.failed else "0"
    if o.error:
        failed = f"**did not run** ({o.error})"
    failing = ", ".join(f"`{f}`" for f in o.failures)
    return (
        f"| {o.release.version} | {o.pinned_by} | {o.openlineage} | {o.passed} | {failed} "
        f"| {o.skipped} | {o.seconds:.0f} s | {failing} |"
    )


def minor_of(line: str) -> str:
    """The minor version of a table row (`| 3.1.8 | ...` -> `3.1`)."""
    return ".".join(line.strip("| ").split(" ", 1)[0].split(".")[:2])


def table(outcomes: list[Outcome], wheel: Path, previous: str) -> str:
    """COMPAT.md: one row per Airflow release; rows of versions not run this time are kept."""
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    ran = {".".join(o.release.version.split(".")[:2]) for o in outcomes}
    rows = [
        line
        for line in previous.splitlines()
        if re.match(r"^\| \d+\.\d+\.\d+ \|", line) and minor_of(line) not in ran
    ]
    rows += [row(o) for o in outcomes]
    rows.sort(key=lambda line: tuple(int(p) for p in line.strip("| ").split(" ", 1)[0].split(".")))
    lines = [
        "# Airflow compatibility",
        "",
        "Written by `make compat` (scripts/compat.py): `tests/airflow` (the provider's tests and",
        "every example DAG under `airflow dags test`, against kubesim) in one virtualenv per",
        f"Airflow release, Python {python_tag()}, sparkube's wheel from dist/. A run",
        '(`make compat AIRFLOW_VERSIONS="2.10 3.3"`) replaces the rows of the versions it ran;',
        f"this one ran {', '.join(sorted(ran))} on {today} with {wheel.name}.",
        "",
        "Skipped tests are for another Airflow: those killing a deferred task need 3.3, the one",
        "checking the log line that says a kill leaves the driver running needs an older one;",
        "`test_decorator_spark.py` (real Spark drivers, which need pyspark) runs in `make test`",
        "and `make test-airflow-spark` only.",
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", default=list(DEFAULT_VERSIONS))
    parser.add_argument("--workdir", type=Path, default=ROOT / ".compat")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--report", type=Path, default=ROOT / "tests" / "airflow" / "COMPAT.md")
    parser.add_argument(
        "--install-only", action="store_true", help="create the virtualenvs, run nothing"
    )
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments")
    args = parser.parse_args()
    try:
        args.workdir.mkdir(parents=True, exist_ok=True)
        releases = airflow_releases()
        chosen = [latest_patch(releases, v) for v in args.versions]
        wheel = None if args.install_only else find_wheel(args.dist)
        outcomes = []
        for release in chosen:
            started = time.monotonic()
            print(f"Airflow {release.version}: installing", flush=True)
            venv, pinned_by = install(release, args.workdir)
            print(f"  ready in {time.monotonic() - started:.0f} s ({pinned_by})", flush=True)
            if wheel is None:
                continue
            outcome = run_tests(
                release, venv, pinned_by, wheel, args.workdir, args.pytest_args.split()
            )
            print(
                f"  {outcome.passed} passed, {outcome.failed} failed, {outcome.skipped} skipped"
                f" in {outcome.seconds:.0f} s{' (' + outcome.error + ')' if outcome.error else ''}",
                flush=True,
            )
            outcomes.append(outcome)
    except CompatError as e:
        print(f"make compat: {e}", file=sys.stderr)
        return 2
    if wheel is None:
        return 0
    previous = args.report.read_text() if args.report.exists() else ""
    args.report.write_text(table(outcomes, wheel, previous))
    print(f"wrote {args.report.relative_to(ROOT)}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
