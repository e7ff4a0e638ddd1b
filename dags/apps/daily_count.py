"""Counts the events of one day (generated here, so the example needs no input data)."""

from __future__ import annotations

import sys
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, lit


def main(day: str) -> None:
    spark = SparkSession.builder.appName(f"daily-count-{day}").getOrCreate()
    seed = date.fromisoformat(day).toordinal()
    events = spark.range(0, 100_000).withColumn("day", lit(day))
    selected = events.filter((col("id") + seed) % 7 == 0).count()
    print(f"{day}: {selected} events")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
