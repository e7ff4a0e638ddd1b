"""A structured streaming job that runs until it is stopped: rows from the `rate` source,
counted per 10-second window and printed to the driver log."""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, window


def main(rows_per_second: int) -> None:
    spark = SparkSession.builder.appName("rate-to-console").getOrCreate()
    rows = spark.readStream.format("rate").option("rowsPerSecond", rows_per_second).load()
    counts = rows.groupBy(window(col("timestamp"), "10 seconds")).count()
    query = (
        counts.writeStream.outputMode("complete")
        .format("console")
        .option("truncate", "false")
        .trigger(processingTime="10 seconds")
        .start()
    )
    query.awaitTermination()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
