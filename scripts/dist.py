"""Build what a release ships into dist/: manylinux2014 abi3 wheels and the sdist (`make dist`).

Wheels are cross-linked with zig (PyPI's `ziglang`, through `maturin build --zig`) against
glibc 2.17, so that one wheel per architecture installs on any Linux with glibc >= 2.17 and
CPython >= 3.10, without a container. Both use the `dist` Cargo profile that pyproject.toml
names. x86_64 is always built; aarch64 when its Rust standard library is installed (`rustup
target add aarch64-unknown-linux-gnu`), or when asked for with `--arch aarch64`, which then
fails if it is not. A missing tool stops the build with one line saying how to get it.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}
COMPATIBILITY = "manylinux2014"


class Missing(Exception):
    """A tool or Rust target the build needs is not installed; the message says how to get it."""


def zig_available() -> bool:
    """Whether maturin can find zig: the `ziglang` package of this Python, or `zig` on PATH."""
    return importlib.util.find_spec("ziglang") is not None or shutil.which("zig") is not None


def rust_target_installed(triple: str) -> bool:
    """Whether rustc has the standard library of `triple` (what `rustup target add` installs)."""
    try:
        sysroot = subprocess.run(
            ["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise Missing("rustc not found: install Rust with rustup (https://rustup.rs)") from e
    return (Path(sysroot) / "lib" / "rustlib" / triple / "lib").is_dir()


def architectures(requested: list[str]) -> list[str]:
    """The architectures to build: those requested, or x86_64 and every other one installed."""
    if not zig_available():
        raise Missing(
            "zig not found: `pip install -r requirements-dev.txt` (PyPI ziglang) "
            "or put zig on PATH; maturin links the manylinux2014 wheels with it"
        )
    if requested:
        for arch in requested:
            if not rust_target_installed(TRIPLES[arch]):
                raise Missing(
                    f"the Rust target {TRIPLES[arch]} is not installed: "
                    f"rustup target add {TRIPLES[arch]}"
                )
        return requested
    chosen = []
    for arch, triple in TRIPLES.items():
        if rust_target_installed(triple):
            chosen.append(arch)
        elif arch != "x86_64":
            print(
                f"dist: no {arch} wheel: the Rust target {triple} is not installed "
                f"(rustup target add {triple})",
                file=sys.stderr,
            )
        else:
            raise Missing(f"the Rust target {triple} is not installed: rustup target add {triple}")
    return chosen


def maturin(*args: str) -> None:
    """Run maturin from this Python's environment; its own output says what failed."""
    subprocess.run([sys.executable, "-m", "maturin", *args], cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory")
    parser.add_argument(
        "--arch",
        action="append",
        choices=sorted(TRIPLES),
        default=[],
        help="build only this architecture (repeatable); default: x86_64 and any other installed",
    )
    opts = parser.parse_args(argv)
    try:
        archs = architectures(opts.arch)
    except Missing as e:
        print(f"dist: {e}", file=sys.stderr)
        return 2
    out: Path = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Only this build's artefacts are in dist/ afterwards: a stale wheel would be checked and
    # shipped along with the new ones.
    for old in [*out.glob("sparkube-*.whl"), *out.glob("sparkube-*.tar.gz")]:
        old.unlink()
    try:
        maturin("sdist", "--out", str(out))
        for arch in archs:
            maturin(
                "build",
                "--locked",
                "--zig",
                "--target",
                TRIPLES[arch],
                "--compatibility",
                COMPATIBILITY,
                "--out",
                str(out),
            )
    except subprocess.CalledProcessError as e:
        print(
            f"dist: {' '.join(map(str, e.cmd[1:]))} failed (exit {e.returncode})", file=sys.stderr
        )
        return 1
    for path in sorted(out.glob("sparkube-*")):
        print(f"dist: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
