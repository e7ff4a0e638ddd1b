"""`SparkApp.from_function`: a function's source as the driver's program, and what is refused
before anything is sent."""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
import threading
import types
from operator import add
from typing import Any

import pytest

import sparkube
from sparkube import SparkApp
from sparkube.function import RESULT_LIMIT, failure_line, function_program

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


def scaled(spark: Any, n: int) -> list[int]:
    return [uses_a_constant(spark) * i for i in range(n)]


def run_in_a_fresh_interpreter(program: str, name: str, args: str, tmp_path: Any) -> Any:
    """Load the program as the driver would (a new Python, this test module not importable)
    and call the function with no session."""
    path = tmp_path / f"{name}.py"
    path.write_text(program)
    call = (
        "import json, runpy, sys; "
        f"ns = runpy.run_path({str(path)!r}, run_name='driver'); "
        f"print(json.dumps(ns[{name!r}](None, *{args})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", call], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("fn", "args", "expected", "reason"),
    [
        (closure_maker(), "()", 3, "it uses limit from the function around it"),
        (uses_a_constant, "()", SCALE, "it uses the global 'SCALE'"),
        # A module helper and the constant it reads travel by value with the function.
        (scaled, "(3,)", [0, SCALE, 2 * SCALE], "it uses the global 'uses_a_constant'"),
    ],
    ids=["closure", "constant", "helper"],
)
def test_functions_whose_source_needs_the_caller_are_sent_pickled(
    fn: Any, args: str, expected: Any, reason: str, tmp_path: Any
) -> None:
    program = function_program(fn)
    assert f"sent pickled by sparkube: {reason}" in program
    assert run_in_a_fresh_interpreter(program, fn.__name__, args, tmp_path) == expected


def test_a_pickled_function_refuses_another_python(tmp_path: Any) -> None:
    here = "{}.{}".format(*sys.version_info[:2])
    # The program as a caller on Python 2.7 would write it (base64 has no dots).
    program = (
        function_program(closure_maker())
        .replace(f"Python {here}", "Python 2.7")
        .replace(repr(here), "'2.7'")
    )
    path = tmp_path / "inner.py"
    path.write_text(program)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"sparkube: inner was sent pickled by Python 2.7, and the driver runs Python {here}: "
        "use an image with Python 2.7, or make inner stand alone (it uses limit from the "
        "function around it)"
    )


def test_without_cloudpickle_a_function_that_needs_it_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.cloudpickle", None)
    with pytest.raises(sparkube.ConfigError) as raised:
        SparkApp.from_function(uses_a_constant, image=IMAGE)
    assert raised.value.option == "function"
    assert str(raised.value) == (
        "uses_a_constant cannot be sent as source (it uses the global 'SCALE', which "
        "the driver cannot import): install pyspark-client so sparkube can send it pickled, or "
        "make it stand alone"
    )


def lock_holder() -> Any:
    lock = threading.Lock()

    def guarded(spark: Any) -> bool:
        with lock:
            return True

    return guarded


async def coroutine(spark: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("fn", "args", "option", "message"),
    [
        (lambda spark: 1, (), "function", "a lambda cannot be a Spark application"),
        (lock_holder(), (), "function", "guarded cannot be sent as source (it uses lock from"),
        (coroutine, (), "function", "coroutine is a coroutine function"),
        (print, (), "function", "is not a function defined with def"),
        (total, (object(),), "arguments", "the arguments of total are not JSON"),
    ],
    ids=["lambda", "unpicklable", "coroutine", "builtin", "arguments"],
)
def test_functions_that_cannot_run_in_the_driver_are_refused(
    fn: Any, args: tuple[Any, ...], option: str, message: str
) -> None:
    with pytest.raises(sparkube.ConfigError) as raised:
        SparkApp.from_function(fn, args, image=IMAGE)
    assert raised.value.option == option
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def a_set(spark: Any) -> Any:
    return {1, 2}


def text_of(spark: Any, n: int) -> str:
    return "x" * n


@pytest.fixture
def run_program(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs a function's driver program with a stand-in SparkSession (no JVM)."""
    session = types.SimpleNamespace(builder=types.SimpleNamespace(getOrCreate=lambda: "spark"))
    fake = types.ModuleType("pyspark")
    fake.sql = types.SimpleNamespace(SparkSession=session)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyspark", fake)
    monkeypatch.setitem(sys.modules, "pyspark.sql", fake.sql)  # type: ignore[attr-defined]

    def run(fn: Any, args: list[Any]) -> None:
        namespace: dict[str, Any] = {"__name__": "driver"}
        exec(function_program(fn, args), namespace)
        namespace["_sparkube_main"]()

    return run


@pytest.mark.parametrize(
    ("fn", "args", "message"),
    [
        (a_set, [], "sparkube: the result of a_set is not JSON: Object of type set"),
        (
            text_of,
            [RESULT_LIMIT],
            "sparkube: the result of text_of takes 4098 bytes as JSON, more than the 4096",
        ),
    ],
    ids=["not-json", "too-large"],
)
def test_the_driver_program_refuses_a_result_that_cannot_come_back(
    fn: Any, args: list[Any], message: str, run_program: Any
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_program(fn, args)
    line = str(exited.value.code)
    assert line.startswith(message)
    assert "\n" not in line
    # What the operator finds among the last lines of the driver log.
    assert failure_line(["INFO SparkContext: Running Spark", line, "INFO Shutdown"]) == line


def test_the_driver_program_reports_a_result_at_the_limit(
    run_program: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run_program(text_of, [RESULT_LIMIT - 2])
    assert capsys.readouterr().out == f'sparkube result: "{"x" * (RESULT_LIMIT - 2)}"\n'
