"""Static checks of deployment/images/*/Dockerfile (no container engine here to build them):
pinned base images, checksums on downloads, pinned pip installs, no `curl | sh`, a non-root
final user."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
import tomllib
from deployment_support import DEPLOYMENT, REPO

DOCKERFILES = sorted(DEPLOYMENT.glob("images/*/Dockerfile"))
WORKSPACE_VERSION = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"][
    "version"
]
CHECKSUM_TOOLS = re.compile(r"\b(sha1sum|sha256sum|sha512sum)\b[^&;]*(--check|-c)\b")
PIPE_TO_SHELL = re.compile(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b")
URL = re.compile(r"https?://\S+")


@dataclass
class Stage:
    """One build stage: its base image (ARGs resolved) and instructions."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def parse(text: str) -> tuple[list[Stage], dict[str, str]]:
    """The stages of a Dockerfile and every ARG default (global and per stage)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for word, rest in _instructions(text):
        if word == "ARG":
            name, eq, default = rest.partition("=")
            if eq:
                args[name.strip()] = _substitute(default.strip().strip('"'), args)
            continue
        if word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(_substitute(parts[0], args), name))
            continue
        if stages:
            stages[-1].instructions.append((word, _substitute(rest, args)))
    return stages, args


def problems(text: str) -> list[str]:
    """What is wrong with a Dockerfile against the rules of this module."""
    found: list[str] = []
    stages, _ = parse(text)
    if not stages:
        return ["no FROM"]
    names = set()
    for stage in stages:
        base = stage.base
        if base in names or base == "scratch":
            pass
        elif "$" in base:
            found.append(f"base image {base} has an ARG without default")
        elif "@sha256:" not in base:
            last = base.rsplit("/", 1)[-1]
            tag = last.rsplit(":", 1)[1] if ":" in last else ""
            if not tag or tag == "latest":
                found.append(f"base image {base} is not pinned")
        if stage.name:
            names.add(stage.name)
        # Shell commands of the stage; a verification names the file next to the checksum tool.
        commands = [
            c for word, rest in stage.instructions if word == "RUN" for c in re.split(r"&&|;", rest)
        ]
        for word, rest in stage.instructions:
            if word == "RUN" and PIPE_TO_SHELL.search(rest):
                found.append(f"pipes a download into a shell: {rest}")
            downloads = []
            if word == "ADD":
                downloads = [u for u in URL.findall(rest)]
                if "--checksum=sha256:" in rest:
                    downloads = []
            if word == "RUN" and re.search(r"\b(curl|wget)\b", rest):
                downloads = URL.findall(rest)
            for url in downloads:
                filename = url.rstrip("/").rsplit("/", 1)[-1]
                if not any(CHECKSUM_TOOLS.search(c) and filename in c for c in commands):
                    found.append(f"download without checksum verification: {url}")
            if word == "RUN" and re.search(r"\bpip3? install\b", rest):
                found += _pip_problems(rest)
    final = stages[-1]
    users = [rest for word, rest in final.instructions if word == "USER"]
    if final.base != "scratch":
        if not users:
            found.append("the final stage sets no USER")
        else:
            uid = users[-1].split(":")[0]
            if not uid.isdigit() or int(uid) == 0:
                found.append(f"the final USER is {users[-1]!r}, not a numeric non-root uid")
    return found


def _pip_problems(command: str) -> list[str]:
    """Requirements of `pip install` that are not pinned to an exact version."""
    found = []
    for segment in re.split(r"&&|;", command):
        if not re.search(r"\bpip3? install\b", segment):
            continue
        tokens = segment.split("pip install", 1)[1].split() if "pip install" in segment else []
        skip_next = False
        for token in tokens:
            if skip_next:
                skip_next = False
                continue
            if token in ("--find-links", "-f", "--index-url", "-i", "-r", "-c", "--target"):
                skip_next = True
                continue
            if token.startswith("-") or token.startswith("/") or token.startswith("."):
                continue
            requirement = token.strip("\"'")
            if not re.fullmatch(
                r"[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?==[A-Za-z0-9_.\-+]+", requirement
            ):
                found.append(f"pip requirement not pinned: {requirement}")
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_follows_the_rules(path) -> None:  # type: ignore[no-untyped-def]
    assert problems(path.read_text()) == []


def test_every_image_has_a_dockerfile() -> None:
    assert {p.parent.name for p in DOCKERFILES} == {
        "airflow",
        "spark",
        "spark-app-example",
        "spark-ui-proxy",
        "sparkube",
    }


def test_spark_jars_are_checked_against_published_checksums() -> None:
    _, args = parse((DEPLOYMENT / "images/spark/Dockerfile").read_text())
    for key in ("HADOOP_AWS_SHA1", "AWS_SDK_BUNDLE_SHA1", "ANALYTICS_ACCELERATOR_SHA1"):
        assert re.fullmatch(r"[0-9a-f]{40}", args[key]), key
    assert args["HADOOP_AWS_VERSION"] == "3.5.0"
    # hadoop-aws must match the Hadoop of the Spark distribution the image is built on.
    jars = REPO / ".venv/lib"
    hadoop = sorted(jars.glob("python3*/site-packages/pyspark/jars/hadoop-client-api-*.jar"))
    if hadoop:
        assert hadoop[0].name == f"hadoop-client-api-{args['HADOOP_AWS_VERSION']}.jar"
    assert args["SPARK_IMAGE"].startswith("apache/spark:4.3.0-")


def test_sparkube_version_matches_the_workspace() -> None:
    for name in ("airflow", "sparkube"):
        _, args = parse((DEPLOYMENT / f"images/{name}/Dockerfile").read_text())
        assert args["SPARKUBE_VERSION"] == WORKSPACE_VERSION


@pytest.mark.parametrize("name", ["airflow", "sparkube"])
def test_images_install_the_wheel_from_dist_and_build_nothing(name: str) -> None:
    """The image gets the artefact `make dist` built and `make dist-check` checked."""
    text = (DEPLOYMENT / f"images/{name}/Dockerfile").read_text()
    stages, args = parse(text)
    assert len(stages) == 1
    runs = [rest for word, rest in stages[0].instructions if word == "RUN"]
    assert len(runs) == 1
    assert runs[0].startswith("--mount=type=bind,source=dist,target=/tmp/dist ")
    assert re.search(
        r"pip install --no-cache-dir --no-index --find-links /tmp/dist\s+\"sparkube", runs[0]
    )
    assert not re.search(r"\b(maturin|cargo|rustup|setup\.py)\b", text)
    assert not [
        rest for word, rest in stages[0].instructions if word in ("COPY", "ADD") and "dist" in rest
    ]
    # Only the wheels (and the DAGs) are sent as the build context.
    ignore = (DEPLOYMENT / f"images/{name}/Dockerfile.dockerignore").read_text().splitlines()
    assert next(line for line in ignore if not line.startswith("#")) == "*"
    assert "!dist/*.whl" in ignore
    # sparkube's own dependencies are installed first, pinned as requirements-dev.txt pins them,
    # since the wheel is installed with --no-index.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = dict(
        line.split("==")
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for requirement in pyproject["dependencies"]:
        dep = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0]
        assert args[f"{dep.upper()}_VERSION"] == pins[dep], dep
        assert f'pip install --no-cache-dir "{dep}=={pins[dep]}"' in runs[0], dep


def test_airflow_image_installs_the_provider_from_the_wheel_only() -> None:
    text = (DEPLOYMENT / "images/airflow/Dockerfile").read_text()
    _, args = parse(text)
    assert args["AIRFLOW_IMAGE"] == f"apache/airflow:{args['AIRFLOW_VERSION']}-python3.11"
    assert "--no-index" in text
    assert '"sparkube[airflow]==${SPARKUBE_VERSION}"' in text


GOOD = """\
ARG BASE=python:3.12.11-slim-bookworm
FROM ${BASE}
ADD https://example.com/a/tool-1.0.jar /opt/
RUN echo "0123456789012345678901234567890123456789  /opt/tool-1.0.jar" | sha1sum --check -
RUN pip install --no-cache-dir "requests==2.32.3"
USER 10001:10001
"""

BAD = {
    "latest": GOOD.replace("python:3.12.11-slim-bookworm", "python:latest"),
    "untagged": GOOD.replace("python:3.12.11-slim-bookworm", "python"),
    "unresolved arg": GOOD.replace("ARG BASE=python:3.12.11-slim-bookworm", "ARG BASE"),
    "no user": GOOD.replace("USER 10001:10001\n", ""),
    "root user": GOOD.replace("USER 10001:10001", "USER root"),
    "uid 0": GOOD.replace("USER 10001:10001", "USER 0"),
    "curl | sh": GOOD + "RUN curl -fsSL https://get.example.com | sh\n",
    "wget | bash": GOOD + "RUN wget -qO- https://get.example.com/x.sh | sudo bash\n",
    "unchecked ADD": GOOD.replace("sha1sum --check", "ls"),
    "unchecked curl": GOOD + "RUN curl -fsSLo /opt/x.tgz https://example.com/x.tgz\n",
    "unpinned pip": GOOD.replace('"requests==2.32.3"', "requests"),
    "loose pip": GOOD.replace('"requests==2.32.3"', '"requests>=2"'),
}


def test_a_good_dockerfile_passes() -> None:
    assert problems(GOOD) == []


@pytest.mark.parametrize("case", BAD)
def test_dockerfile_checks_catch(case: str) -> None:
    assert problems(BAD[case]) != []
