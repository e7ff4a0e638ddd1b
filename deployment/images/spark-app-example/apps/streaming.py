"""A structured-streaming job: counts of a rate source per 10-second window, printed to the log.

Usage: streaming.py [seconds] [rows-per-second] [checkpoint-dir]
Runs for ``seconds`` (default 0: until the application is stopped or killed), then stops cleanly.
The checkpoint directory (default: a temporary one) may be on S3, e.g. s3a://spark-data/checkpoints/rate.
"""

from __future__ import annotations

import sys
import tempfile
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery


def windowed_counts(stream: DataFrame) -> DataFrame:
    """Rows and sum of values per 10-second event-time window (late rows dropped after 20 s)."""
    return (
        stream.withWatermark("timestamp", "20 seconds")
        .groupBy(F.window("timestamp", "10 seconds"))
        .agg(F.count("*").alias("rows"), F.sum("value").alias("total"))
    )


def start(spark: SparkSession, rows_per_second: int, checkpoint: str) -> StreamingQuery:
    """Start the query: rate source → windowed counts → console sink."""
    source = spark.readStream.format("rate").option("rowsPerSecond", rows_per_second).load()
    return (
        windowed_counts(source)
        .writeStream.outputMode("update")
        .format("console")
        .option("truncate", "false")
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime="5 seconds")
        .start()
    )


def main(argv: list[str]) -> int:
    seconds = int(argv[1]) if len(argv) > 1 else 0
    rows = int(argv[2]) if len(argv) > 2 else 10
    checkpoint = argv[3] if len(argv) > 3 else tempfile.mkdtemp(prefix="rate-checkpoint-")
    spark = SparkSession.builder.appName("RateWindowCounts").getOrCreate()
    query = start(spark, rows, checkpoint)
    try:
        if seconds > 0:
            query.awaitTermination(seconds)
        else:
            query.awaitTermination()
    finally:
        query.stop()
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
