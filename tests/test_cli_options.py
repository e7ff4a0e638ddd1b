"""How the CLI separates its own options from spark-submit's."""

from __future__ import annotations

import pytest

from sparkube.cli import UsageError, split_tool_options

OUTPUT = frozenset({"-o", "--output"})
NO_WAIT = frozenset({"--no-wait"})


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
    ],
)
def test_split_tool_options(
    args: list[str], values: dict[str, str], flags: set[str], rest: list[str]
) -> None:
    tool, spark_args = split_tool_options(args, OUTPUT, NO_WAIT)
    assert tool.values == values
    assert tool.flags == flags
    assert spark_args == rest


def test_tool_option_without_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="-o needs a value"):
        split_tool_options(["--name", "pi", "-o"], OUTPUT, NO_WAIT)
