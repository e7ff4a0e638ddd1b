"""An S3 ETL: read CSV orders, aggregate revenue per day and country, write Parquet.

Usage: s3_etl.py INPUT OUTPUT [--generate ROWS]
INPUT and OUTPUT are any Hadoop paths: s3a://spark-data/orders/ and
s3a://spark-data/revenue/ on the cluster (credentials come from the environment, set from a
Secret with spark.kubernetes.{driver,executor}.secretKeyRef.*), file:// paths locally.
With --generate, ROWS sample orders are first written to INPUT, so the job runs on an empty bucket.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

ORDERS = StructType(
    [
        StructField("order_id", StringType(), False),
        StructField("order_ts", StringType(), False),
        StructField("country", StringType(), False),
        StructField("amount", DoubleType(), False),
    ]
)
COUNTRIES = ["DE", "FR", "NL", "PL", "SE"]


def generate_orders(spark: SparkSession, rows: int) -> DataFrame:
    """``rows`` deterministic sample orders over the first ten days of 2025."""
    return spark.range(rows).select(
        F.format_string("o-%08d", "id").alias("order_id"),
        F.date_format(
            F.timestamp_seconds(F.lit(1735689600) + (F.col("id") * 7919) % (10 * 86400)),
            "yyyy-MM-dd'T'HH:mm:ss",
        ).alias("order_ts"),
        F.element_at(
            F.array(*[F.lit(c) for c in COUNTRIES]), (F.col("id") % len(COUNTRIES) + 1).cast("int")
        ).alias("country"),
        (F.col("id") % 97 + 3).cast("double").alias("amount"),
    )


def revenue_per_day(orders: DataFrame) -> DataFrame:
    """Orders and revenue per (day, country); rows with a negative amount are dropped."""
    return (
        orders.where(F.col("amount") >= 0)
        .withColumn("day", F.to_date(F.col("order_ts")))
        .groupBy("day", "country")
        .agg(F.count("*").alias("orders"), F.round(F.sum("amount"), 2).alias("revenue"))
        .orderBy("day", "country")
    )


def run(spark: SparkSession, source: str, target: str) -> int:
    """Read ``source`` (CSV with header), write the aggregate to ``target`` (Parquet by day)."""
    orders = spark.read.option("header", "true").schema(ORDERS).csv(source)
    result = revenue_per_day(orders)
    result.write.mode("overwrite").partitionBy("day").parquet(target)
    return result.count()


def main(argv: list[str]) -> int:
    args = argv[1:]
    generate = 0
    if "--generate" in args:
        i = args.index("--generate")
        generate = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = args
    spark = SparkSession.builder.appName("S3RevenueETL").getOrCreate()
    try:
        if generate:
            generate_orders(spark, generate).write.mode("overwrite").option("header", "true").csv(
                source
            )
        groups = run(spark, source, target)
        print(f"wrote {groups} (day, country) groups to {target}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
