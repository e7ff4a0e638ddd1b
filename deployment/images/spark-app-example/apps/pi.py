"""Estimate pi by sampling random points in the unit square (PySpark).

Usage: pi.py [partitions]   (default 2; 100,000 samples per partition)
"""

from __future__ import annotations

import random
import sys
from operator import add

from pyspark.sql import SparkSession

SAMPLES_PER_PARTITION = 100_000


def inside(_: int) -> int:
    """1 when a random point of the square [-1, 1]² falls in the unit circle."""
    x, y = random.uniform(-1, 1), random.uniform(-1, 1)
    return 1 if x * x + y * y <= 1 else 0


def estimate_pi(spark: SparkSession, partitions: int) -> float:
    """Pi from ``partitions`` times 100,000 random points."""
    n = SAMPLES_PER_PARTITION * partitions
    count = spark.sparkContext.parallelize(range(n), partitions).map(inside).reduce(add)
    return 4.0 * count / n


def main(argv: list[str]) -> int:
    partitions = int(argv[1]) if len(argv) > 1 else 2
    if partitions < 1:
        print("partitions must be at least 1", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("PythonPi").getOrCreate()
    try:
        print(f"Pi is roughly {estimate_pi(spark, partitions)}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
