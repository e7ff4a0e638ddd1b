"""Starts Spark, runs a small job, then fails with an exception the test looks for."""

from __future__ import annotations

from pyspark.sql import SparkSession


class InventoryMismatch(Exception):
    """The error this app ends with."""


def main() -> None:
    spark = SparkSession.builder.appName("fails").getOrCreate()
    rows = spark.sparkContext.parallelize(range(100), 2).count()
    spark.stop()
    raise InventoryMismatch(f"expected 101 rows, counted {rows}")


if __name__ == "__main__":
    main()
