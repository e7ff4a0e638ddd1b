"""The native core of sparkube (Rust, via PyO3). Use the public API in `sparkube` instead."""

from collections.abc import Mapping
from typing import Any

__version__: str

def render_args(args: list[str], ids: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Objects a spark-submit argument list would create, in API call order.

    Raises `sparkube.ConfigError` naming the offending option for bad input.
    """

def render_spec(
    spec: Mapping[str, Any], ids: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Objects a `SparkApp.to_dict()` spec would create, in API call order."""

def to_yaml(obj: Any) -> str:
    """A Python object (dicts, lists, scalars) as a YAML document."""
