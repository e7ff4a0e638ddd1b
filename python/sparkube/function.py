"""A Python function as a Spark application: its source becomes the driver's program, shipped
with the submission like any local file, and its JSON return value comes back through the
driver container's termination message (`AppStatus.result`).

The function takes the `SparkSession` first, then the arguments given. When its source stands
alone (the modules and importable objects it uses from its module's globals are imported again in
the driver), the source is the program, readable in the ConfigMap. When it does not (a closure, a
module constant, a helper defined in a notebook), the function is pickled by value with the
`cloudpickle` that pyspark and pyspark-client carry, and the program unpickles it; that needs the
driver's Python to be the caller's minor version, which the program checks first. A lambda, a
coroutine function, or state that cannot be pickled is refused before anything is sent.
"""

from __future__ import annotations

import base64
import builtins
import dis
import hashlib
import inspect
import json
import sys
import tempfile
import textwrap
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkube.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

RESULT_LIMIT = 4096
"""The most bytes a result may take: a kubelet keeps 4 KiB of a termination message."""

FAILURE_PREFIX = "sparkube: "
"""How the driver program's own errors (a result that is not JSON, or too large) start, in
the driver log."""

_MAIN = """

def _sparkube_main():
    import json
    import os

    from pyspark.sql import SparkSession

    call = json.loads({call!r})
    spark = SparkSession.builder.getOrCreate()
    result = {name}(spark, *call["args"], **call["kwargs"])
    if result is None:
        return
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"{prefix}the result of {name} is not JSON: {{err}}") from None
    size = len(text.encode())
    if size > {limit}:
        raise SystemExit(
            f"{prefix}the result of {name} takes {{size}} bytes as JSON, more than the "
            "{limit} a termination message holds: write larger results to storage"
        )
    print(f"sparkube result: {{text}}")
    if os.path.exists("/dev/termination-log"):
        with open("/dev/termination-log", "w") as out:
            out.write(text)


if __name__ == "__main__":
    _sparkube_main()
"""


_PICKLED = """
import base64 as _base64
import pickle as _pickle
import sys as _sys

if "%d.%d" % _sys.version_info[:2] != {version!r}:
    raise SystemExit(
        "sparkube: {name} was sent pickled by Python {version}, and the driver runs Python "
        + "%d.%d" % _sys.version_info[:2]
        + ": use an image with Python {version}, or make {name} stand alone ({reason})"
    )
{name} = _pickle.loads(_base64.b64decode({data!r}))
"""


def _refuse(message: str) -> ConfigError:
    return ConfigError(message, "function")


class _NotStandalone(Exception):
    """The function's source needs something only the submitting process has."""


def _imports(fn: types.FunctionType) -> list[str]:
    """Import lines for the globals `fn` uses: modules, and objects of importable modules."""
    lines = []
    for global_name in sorted(_global_names(fn.__code__)):
        if global_name not in fn.__globals__:
            if hasattr(builtins, global_name):
                continue
            raise _refuse(f"{fn.__name__} uses {global_name!r}, which is not defined")
        value = fn.__globals__[global_name]
        if isinstance(value, types.ModuleType):
            lines.append(f"import {value.__name__} as {global_name}")
            continue
        module = getattr(value, "__module__", None)
        attr = getattr(value, "__qualname__", None)
        if module and attr and module != "__main__" and "." not in attr and module != fn.__module__:
            lines.append(f"from {module} import {attr} as {global_name}")
            continue
        raise _NotStandalone(f"it uses the global {global_name!r}, which the driver cannot import")
    return lines


def _global_names(code: types.CodeType) -> set[str]:
    """The global names `code` and the functions defined inside it read (not attributes)."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def function_program(
    fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
) -> str:
    """The driver program that calls `fn(spark, *args, **kwargs)` and reports its result."""
    if not isinstance(fn, types.FunctionType):
        raise _refuse(f"{fn!r} is not a function defined with def")
    if fn.__name__ == "<lambda>":
        raise _refuse("a lambda cannot be a Spark application: define the function with def")
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise _refuse(f"{fn.__name__} is a coroutine function: a Spark application runs plainly")
    try:
        call = json.dumps({"args": list(args), "kwargs": dict(kwargs or {})})
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"the arguments of {fn.__name__} are not JSON: {err}", "arguments"
        ) from None
    try:
        definition = _source_definition(fn)
    except _NotStandalone as reason:
        definition = _pickled_definition(fn, str(reason))
    main = _MAIN.format(call=call, name=fn.__name__, limit=RESULT_LIMIT, prefix=FAILURE_PREFIX)
    return definition + "\n" + main


def _source_definition(fn: types.FunctionType) -> str:
    """`fn`'s own source, after the imports of the globals it uses."""
    if fn.__code__.co_freevars:
        names = ", ".join(fn.__code__.co_freevars)
        raise _NotStandalone(f"it uses {names} from the function around it")
    imports = _imports(fn)
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as err:
        raise _NotStandalone(f"its source cannot be read: {err}") from None
    # Decorators (such as a task decorator) stay on the submitting side.
    lines = source.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "async def "))
    )
    header = [
        f"# {fn.__module__}.{fn.__qualname__}, sent by sparkube",
        # Annotations stay text: the names in them need not exist in the driver.
        "from __future__ import annotations",
        "",
        *imports,
        "",
    ]
    return "\n".join(header) + "\n" + "\n".join(lines[start:]) + "\n"


def _pickled_definition(fn: types.FunctionType, reason: str) -> str:
    """`fn` pickled by value, with the module it comes from, and the lines that load it."""
    try:
        import pyspark.cloudpickle as pickler
    except ImportError:
        raise _refuse(
            f"{fn.__name__} cannot be sent as source ({reason}): install pyspark-client so "
            "sparkube can send it pickled, or make it stand alone"
        ) from None
    cloudpickle: Any = pickler
    module = sys.modules.get(fn.__module__)
    by_value = module is not None and fn.__module__ != "__main__"
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        data = cloudpickle.dumps(fn, protocol=4)
    except Exception as err:  # pickling raises whatever the captured state raises
        raise _refuse(
            f"{fn.__name__} cannot be sent as source ({reason}) nor pickled: {err}"
        ) from None
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)
    version = "{}.{}".format(*sys.version_info[:2])
    encoded = base64.b64encode(data).decode()
    return (
        f"# {fn.__module__}.{fn.__qualname__}, sent pickled by sparkube: {reason}\n"
        + _PICKLED.format(name=fn.__name__, version=version, reason=reason, data=encoded)
    )


def failure_line(log_lines: Sequence[str]) -> str | None:
    """The driver program's own error among the last lines of a driver log, if any."""
    for line in reversed(log_lines):
        text = line.strip()
        if text.startswith(FAILURE_PREFIX):
            return text
    return None


def write_program(fn: Callable[..., Any], program: str) -> Path:
    """The program as a file named after the function, in a folder named after its content:
    the same function and arguments give the same path."""
    digest = hashlib.sha256(program.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "sparkube-functions" / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{getattr(fn, '__name__', 'main')}.py"
    if not path.exists() or path.read_text() != program:
        path.write_text(program)
    return path
