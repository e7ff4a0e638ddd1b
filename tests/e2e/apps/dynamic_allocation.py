"""Runs one wide stage, then idles so dynamic allocation can give the executors back.

Argument: seconds to stay up after the job, while the test watches executors go away.
"""

from __future__ import annotations

import sys
import time

from pyspark.sql import SparkSession


def main() -> None:
    idle_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    spark = SparkSession.builder.appName("dynamic-allocation").getOrCreate()
    counts = (
        spark.sparkContext.parallelize(range(20_000), 8)
        .map(lambda n: (n % 10, 1))
        .reduceByKey(lambda a, b: a + b, 4)
        .collect()
    )
    print(f"buckets: {len(counts)}, total: {sum(c for _, c in counts)}", flush=True)
    time.sleep(idle_seconds)
    spark.stop()


if __name__ == "__main__":
    main()
