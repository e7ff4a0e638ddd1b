"""Run Apache Spark on Kubernetes from Python and Airflow, the way spark-submit does."""

from __future__ import annotations

from sparkube._core import __version__

__all__ = ["__version__"]
