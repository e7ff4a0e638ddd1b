"""`SparkApp.from_function`: a function's source as the driver's program, and what is refused
before anything is sent."""

from __future__ import annotations

import base64
import math
from operator import add
from typing import Any

import pytest

import sparkube
from sparkube import SparkApp
from sparkube.function import function_program

IMAGE = "apache/spark:4.0.1"
SCALE = 3


def total(spark: Any, n: int, scale: int = 1) -> dict[str, Any]:
    rdd = spark.sparkContext.parallelize(range(n), 4)
    return {"sum": rdd.map(lambda x: x * scale).reduce(add), "pi": round(math.pi, 2)}


def uses_a_constant(spark: Any) -> int:
    return SCALE


def test_the_program_imports_what_the_function_uses_and_calls_it() -> None:
    program = function_program(total, [10], {"scale": 2})
    assert "import math as math" in program
    assert "from _operator import add as add" in program
    assert "def total(spark: Any, n: int, scale: int = 1)" in program
    assert '{"args": [10], "kwargs": {"scale": 2}}' in program
    compile(program, "total.py", "exec")
    # Run the program's own call with a stand-in session: the function really is called.

    class Context:
        def parallelize(self, data: Any, slices: int) -> Any:
            return Rdd(list(data))

    class Rdd:
        def __init__(self, data: list[int]) -> None:
            self.data = data

        def map(self, f: Any) -> Rdd:
            return Rdd([f(x) for x in self.data])

        def reduce(self, f: Any) -> int:
            out = self.data[0]
            for x in self.data[1:]:
                out = f(out, x)
            return int(out)

    namespace: dict[str, Any] = {"__name__": "driver"}
    exec(program, namespace)
    assert namespace["total"](type("Spark", (), {"sparkContext": Context()})(), 10, 2) == {
        "sum": 90,
        "pi": 3.14,
    }


def test_from_function_ships_the_program(tmp_path: Any) -> None:
    app = SparkApp.from_function(total, [10], image=IMAGE)
    assert app.name == "total"
    objects = sparkube.render(app)
    (config_map,) = [o for o in objects if o["metadata"]["name"].endswith("-local-files")]
    (shipped,) = config_map["binaryData"].values()
    assert base64.b64decode(shipped).decode() == function_program(total, [10])
    # The same function and arguments, the same file.
    assert SparkApp.from_function(total, [10], image=IMAGE).application == app.application


def closure_maker() -> Any:
    limit = 3

    def inner(spark: Any) -> int:
        return limit

    return inner


async def coroutine(spark: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("fn", "args", "option", "message"),
    [
        (lambda spark: 1, (), "function", "a lambda cannot be a Spark application"),
        (closure_maker(), (), "function", "inner uses limit from the function around it"),
        (uses_a_constant, (), "function", "uses the global 'SCALE', which the driver cannot"),
        (coroutine, (), "function", "coroutine is a coroutine function"),
        (print, (), "function", "is not a function defined with def"),
        (total, (object(),), "arguments", "the arguments of total are not JSON"),
    ],
    ids=["lambda", "closure", "constant", "coroutine", "builtin", "arguments"],
)
def test_functions_that_cannot_run_in_the_driver_are_refused(
    fn: Any, args: tuple[Any, ...], option: str, message: str
) -> None:
    with pytest.raises(sparkube.ConfigError) as raised:
        SparkApp.from_function(fn, args, image=IMAGE)
    assert raised.value.option == option
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
