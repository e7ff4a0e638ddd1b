"""Secret values the provider hands to Airflow's secrets masker, so that task logs, rendered
template fields and exceptions show `***` in their place.

The values are the ones sparkube itself shows redacted (`sparkube render`): those of Spark
conf keys and environment variables that look secret (see `sparkube._core.is_secret_key`),
and the credentials of an inline kubeconfig. They are still submitted as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Kubeconfig user fields that hold credentials (`client-key-data` does not look secret by name).
_KUBECONFIG_SECRETS = frozenset(
    {
        "token",
        "password",
        "client-key-data",
        "id-token",
        "refresh-token",
        "access-token",
        "client-secret",
    }
)
_REDACTION_REGEX = "spark.redaction.regex"


def _is_secret(key: str, regex: str | None) -> bool:
    from sparkube import _core

    return _core.is_secret_key(key, regex)


def conf_secrets(conf: Mapping[str, str]) -> list[str]:
    """The values of the conf's secret-looking keys."""
    regex = conf.get(_REDACTION_REGEX)
    return [v for k, v in conf.items() if v and _is_secret(k, regex)]


def env_secrets(env: Mapping[str, str]) -> list[str]:
    """The values of environment variables whose names look secret."""
    return [v for k, v in env.items() if v and _is_secret(k, None)]


def args_conf(args: Sequence[str]) -> dict[str, str]:
    """The `--conf k=v` pairs of a spark-submit argument list, as the core reads them (up to
    the primary resource). Raises `ConfigError` for a list spark-submit would refuse."""
    from sparkube import _core

    return _core.submit_args_conf(list(args))


def kubeconfig_secrets(kubeconfig: Mapping[str, Any]) -> list[str]:
    """The credentials of a kubeconfig's users (tokens, passwords, client keys, ...)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, str) and v and (k in _KUBECONFIG_SECRETS or _is_secret(k, None)):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(kubeconfig.get("users") or [])
    return found


def mask(values: Iterable[str]) -> None:
    """Register each value with Airflow's secrets masker."""
    from sparkube.airflow._compat import mask_secret

    for value in values:
        mask_secret(value)
