"""The Airflow names the provider uses, from `airflow.sdk` (Airflow 3) or their Airflow 2 homes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import (
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        Context,
        PokeReturnValue,
        conf,
    )
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
    from airflow.sdk.log import mask_secret
else:
    try:
        from airflow.sdk import (
            BaseOperator,
            BaseOperatorLink,
            BaseSensorOperator,
            Context,
            PokeReturnValue,
        )
        from airflow.sdk.log import mask_secret
    except ImportError:  # Airflow 2
        from airflow.models import BaseOperator
        from airflow.models.baseoperatorlink import BaseOperatorLink as _OperatorLink
        from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
        from airflow.utils.context import Context
        from airflow.utils.log.secrets_masker import mask_secret

        class BaseOperatorLink(_OperatorLink):
            """Airflow 2's link base with Airflow 3's `xcom_key`: the XCom an operator pushes
            a link's URL to (Airflow 2 calls `get_link` instead and ignores that XCom)."""

            @property
            def xcom_key(self) -> str:
                return f"_link_{type(self).__name__}"

    # The Task SDK took these over one at a time: the hook in 3.1, the exceptions and the
    # configuration after; until then they are in their Airflow 2 homes.
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow < 3.1
        from airflow.hooks.base import BaseHook
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow < 3.2
        from airflow.configuration import conf
    try:
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowSkipException,
        )
    except ImportError:  # Airflow < 3.2
        from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException


# The TaskFlow API `@task.sparkube` builds on.
if TYPE_CHECKING:
    from airflow.sdk.bases.decorator import (
        DecoratedOperator,
        TaskDecorator,
        task_decorator_factory,
    )
    from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS
else:
    try:
        from airflow.sdk.bases.decorator import (
            DecoratedOperator,
            TaskDecorator,
            task_decorator_factory,
        )
        from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS
    except ImportError:  # Airflow 2.10
        from airflow.decorators.base import (
            DecoratedOperator,
            TaskDecorator,
            task_decorator_factory,
        )
        from airflow.utils.context import KNOWN_CONTEXT_KEYS

from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = [
    "KNOWN_CONTEXT_KEYS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "DecoratedOperator",
    "PokeReturnValue",
    "TaskDecorator",
    "TriggerEvent",
    "conf",
    "get_xcom_value",
    "mask_secret",
    "task_decorator_factory",
]

# `next_method` Airflow resumes a deferred task with when the trigger failed or timed out.
TRIGGER_FAIL_METHOD = "__fail__"


def get_xcom_value(ti_key: Any, key: str) -> Any:
    """The XCom `key` of the task instance `ti_key`, or None."""
    try:
        from airflow.sdk.execution_time.xcom import XCom
    except ImportError:  # Airflow 2.10
        from airflow.models.xcom import XCom  # type: ignore[no-redef,unused-ignore]
    return XCom.get_value(ti_key=ti_key, key=key)


def default_deferrable() -> bool:
    """`[operators] default_deferrable`: whether operators defer unless told otherwise."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


# Added to the worker's heartbeat interval: the scheduler's loop that reads the executor's event.
SETTLE_MARGIN_SECONDS = 2.0


def deferral_settle_seconds() -> float:
    """How long after deferring a trigger should hold its event: `[workers]
    min_heartbeat_interval` (Airflow 3; 5 s, as Airflow 2's task heartbeat, when unset) plus a
    margin.

    The supervisor of the deferring workload notices its task process has exited only at its
    next wake-up, that interval later. A trigger that fires before the scheduler has that
    workload's end lets the resumed task run first, and the late "success" of the first
    workload then fails the running task instance (tests/reliability/README.md).
    """
    interval = conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0)
    return float(interval) + SETTLE_MARGIN_SECONDS


# Whether the triggerer tells a trigger that its task was killed while deferred (marked failed
# or success, cleared): `BaseTrigger.on_kill`, Airflow 3.3+. Before, the driver of such a task
# keeps running; the trigger says so in the task log.
TRIGGER_ON_KILL = hasattr(BaseTrigger, "on_kill")
