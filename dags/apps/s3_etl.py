"""Reads CSV files from S3 (MinIO), aggregates them and writes Parquet back, through s3a.

Credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), set from
a Kubernetes Secret by the DAG; s3a's default credential chain reads them.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession
from pyspark.sql.functions import count
from pyspark.sql.functions import sum as sum_


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True, help="s3a:// URL of CSV files with a header")
    parser.add_argument("--output", required=True, help="s3a:// URL to write Parquet to")
    parser.add_argument("--group-by", default="category")
    parser.add_argument("--amount", default="amount")
    args = parser.parse_args()

    spark = SparkSession.builder.appName("s3-etl").getOrCreate()
    rows = spark.read.option("header", "true").option("inferSchema", "true").csv(args.input)
    summary = rows.groupBy(args.group_by).agg(
        count("*").alias("rows"), sum_(args.amount).alias(args.amount)
    )
    summary.write.mode("overwrite").parquet(args.output)
    print(f"wrote {summary.count()} groups to {args.output}")
    spark.stop()


if __name__ == "__main__":
    main()
