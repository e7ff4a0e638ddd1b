"""How the CLI separates its own options from spark-submit's: with the core's one reading of
spark-submit's grammar (`_core.split_tool_args`), so the two cannot disagree."""

from __future__ import annotations

import pytest

from sparkube.cli import ToolOptions
from sparkube.errors import ConfigError

OUTPUT = ("-o", "--output")
NO_WAIT = ("--no-wait",)


@pytest.mark.parametrize(
    ("args", "values", "flags", "rest"),
    [
        (["-o", "yaml", "app.py"], {"-o": "yaml"}, set(), ["app.py"]),
        (["--output=yaml", "app.py"], {"--output": "yaml"}, set(), ["app.py"]),
        (
            ["--name", "pi", "-o", "yaml", "--verbose", "app.py", "-o", "x"],
            {"-o": "yaml"},
            set(),
            ["--name", "pi", "--verbose", "app.py", "-o", "x"],
        ),
        (
            ["--conf", "spark.a=b", "--no-wait", "--class", "Main", "app.jar", "--no-wait"],
            {},
            {"--no-wait"},
            ["--conf", "spark.a=b", "--class", "Main", "app.jar", "--no-wait"],
        ),
        # A value that looks like one of sparkube's options belongs to the spark-submit option.
        (["--name", "-o", "app.py"], {}, set(), ["--name", "-o", "app.py"]),
        (["--conf=spark.x=1", "-v", "app.py"], {}, set(), ["--conf=spark.x=1", "-v", "app.py"]),
        # spark-submit's switches take no value, whatever follows them.
        (
            ["--load-spark-defaults", "-o", "yaml", "app.py"],
            {"-o": "yaml"},
            set(),
            ["--load-spark-defaults", "app.py"],
        ),
        (["--supervise", "--no-wait", "app.py"], {}, {"--no-wait"}, ["--supervise", "app.py"]),
    ],
)
def test_split_tool_options(
    args: list[str], values: dict[str, str], flags: set[str], rest: list[str]
) -> None:
    tool = ToolOptions.split(args, OUTPUT, NO_WAIT)
    assert tool.values == values
    assert tool.flags == flags
    assert tool.spark_args == rest


def test_tool_option_without_value_names_the_option() -> None:
    with pytest.raises(ConfigError, match="-o") as err:
        ToolOptions.split(["--name", "pi", "-o"], OUTPUT, NO_WAIT)
    assert err.value.option == "-o"
