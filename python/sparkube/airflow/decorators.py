"""`@task.sparkube`: a Python function run as a Spark application, as an Airflow task.

    @task.sparkube(image="apache/spark:4.0.1", executor_instances=2)
    def count_rows(spark, path: str) -> int:
        return spark.read.parquet(path).count()

    count_rows("s3a://lake/{{ ds }}/")  # the return value is the task's XCom

The function's source becomes the driver's program (`sparkube.function`: shipped in a
ConfigMap with the submission, so no image holds it); its first parameter, `spark`, receives
the driver's `SparkSession` and is not passed by the caller. The other arguments are rendered by
Airflow as for any `@task` (templates render, upstream XComArgs resolve) and must be JSON. The
function's JSON return value (at most 4 KiB) comes back through the driver container's
termination message and becomes the task's return XCom. Every `SparkAppOperator` option
(image, executors, conf, deferrable, get_logs, namespace, kubernetes_conn_id, ...) is a
decorator argument.

A lambda, a closure, a coroutine, a function using a global the driver cannot import, or one
whose first parameter is not `spark`, is refused when the DAG is parsed; a return value that is
not JSON, or too large, fails the task with one line saying so.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, ClassVar

from sparkube.airflow._compat import (
    KNOWN_CONTEXT_KEYS,
    AirflowException,
    AirflowFailException,
    DecoratedOperator,
    task_decorator_factory,
)
from sparkube.airflow.operators import OnFinishAction, SparkAppOperator
from sparkube.errors import ConfigError
from sparkube.function import failure_line, function_program, write_program

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sparkube.airflow._compat import TaskDecorator
    from sparkube.app import SparkApp

SPARK_PARAMETER = "spark"

# The application forms the function replaces.
_FORMS = ("app", "application", "spark_submit_args")


def spark_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Check that `fn` can run as the driver's program, and wrap it for Airflow: the wrapper's
    signature lacks `spark` (the caller does not pass it: the driver does), and `fn` itself is
    left as it was, so that it can be decorated again.

    Raises `sparkube.ConfigError` (option `function`) when it cannot run in the driver.
    """
    function_program(fn)  # refuses lambdas, closures, coroutines, unimportable globals
    signature = inspect.signature(fn)
    parameters = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if (
        not parameters
        or parameters[0].name != SPARK_PARAMETER
        or parameters[0].kind not in positional
    ):
        raise ConfigError(
            f"the first parameter of {fn.__name__} must be {SPARK_PARAMETER!r}, the SparkSession "
            "the driver passes",
            "function",
        )
    context = sorted(p.name for p in parameters[1:] if p.name in KNOWN_CONTEXT_KEYS)
    if context:
        raise ConfigError(
            f"{fn.__name__} takes the Airflow context key {context[0]!r}, which the driver does "
            "not have: pass the value as an argument (templates render)",
            "function",
        )

    @functools.wraps(fn)
    def in_the_driver(*args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{fn.__name__} runs in a Spark driver (@task.sparkube), not here")

    in_the_driver.__signature__ = signature.replace(parameters=parameters[1:])  # type: ignore[attr-defined]
    return in_the_driver


class SparkFunctionOperator(DecoratedOperator, SparkAppOperator):
    """The operator of a `@task.sparkube` function: a `SparkAppOperator` whose application is
    the function, and whose return value is the function's.

    :param python_callable: the function; its first parameter is `spark`.
    :param op_args: its positional arguments after `spark` (templated).
    :param op_kwargs: its keyword arguments (templated).
    :param on_finish_action: as for `SparkAppOperator`; by default `delete` (the driver's last
        log lines are in the task log).

    Returns (XCom) what the function returned.
    """

    custom_operator_name = "@task.sparkube"
    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *SparkAppOperator.template_fields,
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **SparkAppOperator.template_fields_renderers,
    }

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        on_finish_action: OnFinishAction = "delete",
        **kwargs: Any,
    ) -> None:
        given = [form for form in _FORMS if kwargs.get(form) is not None]
        if given:
            raise ValueError(
                f"@task.sparkube {kwargs.get('task_id', python_callable.__name__)}: the function "
                f"is the application; {given[0]} cannot be given"
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            # What the UI shows until the run writes the function's program.
            application=f"{inspect.unwrap(python_callable).__qualname__}()",
            on_finish_action=on_finish_action,
            **kwargs,
        )

    def build_app(self, namespace: str) -> SparkApp:
        """The function's program, with the rendered arguments, as the application."""
        fn = inspect.unwrap(self.python_callable)
        args, kwargs = list(self.op_args), dict(self.op_kwargs)
        program = function_program(fn, args, kwargs)
        self.application = str(write_program(fn, program))
        call = ", ".join(["spark", *map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        self.log.info("The driver calls %s(%s)", fn.__name__, call)
        return super().build_app(namespace)

    def result(
        self,
        app: Mapping[str, Any],
        *,
        namespace: str = "",
        driver_pod: str = "",
        report: Mapping[str, Any] | None = None,
    ) -> Any:
        """The function's return value (from the driver's termination message); the report
        is the operator's, logged, not the function's."""
        return app.get("result")

    def finish(self, outcome: Mapping[str, Any]) -> Any:
        """As `SparkAppOperator.finish`; when the driver program reported why it failed (the
        result is not JSON or too large), the task fails with that line, without retries."""
        try:
            return super().finish(outcome)
        except AirflowException as e:
            app = outcome.get("app") or {}
            line = failure_line([str(x) for x in app.get("last_log_lines") or []])
            if line is None:
                raise
            self.log.error("%s", e)
            raise AirflowFailException(line) from None


def sparkube_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """`@task.sparkube`: run the function as a Spark application (see the module's doc).

    :param python_callable: the function (when used without parentheses).
    :param multiple_outputs: push each key of a returned dict as its own XCom too.
    :param kwargs: `SparkAppOperator` options and task arguments.
    """

    def decorate(fn: Callable[..., Any]) -> TaskDecorator:
        return task_decorator_factory(
            python_callable=spark_function(fn),
            multiple_outputs=multiple_outputs,
            decorated_operator_class=SparkFunctionOperator,
            **kwargs,
        )

    if python_callable is not None:
        return decorate(python_callable)
    return decorate  # type: ignore[return-value]
