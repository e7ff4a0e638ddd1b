"""The `sparkube` command line.

`sparkube submit` and `sparkube render` take spark-submit's own arguments, so an existing
spark-submit command line works with `spark-submit` replaced by `sparkube submit`. sparkube's
own options (such as `-o yaml`) may stand anywhere before the primary resource.

Exit codes: 0 success, 1 the application failed, 2 usage or configuration error, 3 timeout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_APP_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3

# spark-submit options that take no value; every other option takes one (as in Spark's parser).
_SPARK_SUBMIT_SWITCHES = frozenset(
    {"--verbose", "-v", "--supervise", "--help", "-h", "--version", "--usage-error"}
)

USAGE = """\
usage: sparkube <command> [options] [spark-submit arguments]

commands:
  render    print the Kubernetes objects a submission would create (-o json|yaml)
  version   print the sparkube version

`sparkube render` takes the arguments of `spark-submit --deploy-mode cluster`;
--master may be omitted (the current kubeconfig context's server is used).
"""


class UsageError(Exception):
    """A command line that cannot be understood."""


@dataclass
class ToolOptions:
    """sparkube's own options, taken out of a spark-submit argument list."""

    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def split_tool_options(
    args: Sequence[str], with_value: frozenset[str], flags: frozenset[str]
) -> tuple[ToolOptions, list[str]]:
    """Separate sparkube's options from spark-submit's, up to the primary resource.

    Options after the primary resource belong to the application and are left alone.
    """
    tool = ToolOptions()
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=")
        if name in with_value:
            if eq:
                tool.values[name] = inline
                i += 1
            elif i + 1 < len(args):
                tool.values[name] = args[i + 1]
                i += 2
            else:
                raise UsageError(f"option {name} needs a value")
            continue
        if arg in flags:
            tool.flags.add(arg)
            i += 1
            continue
        if not arg.startswith("-") or arg == "-":
            rest.extend(args[i:])
            break
        if eq or arg in _SPARK_SUBMIT_SWITCHES:
            rest.append(arg)
            i += 1
        else:
            rest.extend(args[i : i + 2])
            i += 2
    return tool, rest


def _render(args: Sequence[str]) -> int:
    from sparkube import _core

    tool, spark_args = split_tool_options(args, frozenset({"-o", "--output"}), frozenset())
    output = tool.values.get("-o", tool.values.get("--output", "json"))
    if output not in ("json", "yaml"):
        raise UsageError(f"--output must be json or yaml, not {output!r}")
    listing = {"apiVersion": "v1", "kind": "List", "items": _core.render_args(spark_args, None)}
    if output == "json":
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
    else:
        sys.stdout.write(_core.to_yaml(listing))
    return EXIT_OK


def _version(args: Sequence[str]) -> int:
    from sparkube import __version__

    print(f"sparkube {__version__}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "render": _render,
    "version": _version,
    "--version": _version,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sparkube command line and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return EXIT_OK if args else EXIT_USAGE
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"sparkube: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr, end="")
        return EXIT_USAGE
    from sparkube.errors import ConfigError

    try:
        return command(args[1:])
    except (UsageError, ConfigError) as err:
        print(f"sparkube: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
