"""An ETL job over S3 (MinIO): CSV in, Parquet out, through s3a.

The S3 credentials stay in a Kubernetes Secret: the driver and executors get them as
environment variables through `secretKeyRef` (`secret_env`), so they never pass through Airflow,
the Spark conf or the config map spark-submit writes. hadoop-aws is resolved by the driver in
the cluster (`spark.jars.packages`), not on the Airflow worker.

This one needs a real cluster with MinIO (the deployment's dev overlay has one), a Secret
`s3-credentials` with keys `access-key` and `secret-key`, and `apps/s3_etl.py` next to this
file in the image or in a bucket (`application` param). The tests parse and render it.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG
    from airflow.models.param import Param

from sparkube import Deps
from sparkube.airflow import SparkAppOperator

with DAG(
    dag_id="spark_s3_etl",
    description="CSV to Parquet on MinIO through s3a, with credentials from a Secret",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sparkube", "example", "s3"],
    params={
        "image": Param("apache/spark:4.0.1", type="string", description="Spark image"),
        "application": Param(
            "s3a://spark-apps/s3_etl.py",
            type="string",
            description="Where the driver finds apps/s3_etl.py",
        ),
        "s3_endpoint": Param("http://minio.minio.svc:9000", type="string"),
        "input": Param("s3a://raw/sales/", type="string", description="CSV files with a header"),
        "output": Param("s3a://curated/sales_by_category", type="string"),
    },
):
    SparkAppOperator(
        task_id="etl",
        name="s3-etl",
        application="{{ params.application }}",
        arguments=[
            "--input",
            "{{ params.input }}",
            "--output",
            "{{ params.output }}/ds={{ ds }}",
        ],
        image="{{ params.image }}",
        service_account="spark",
        executor_instances=2,
        executor_memory="1g",
        dependencies=Deps(packages=["org.apache.hadoop:hadoop-aws:3.4.1"]),
        conf={
            "spark.hadoop.fs.s3a.endpoint": "{{ params.s3_endpoint }}",
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
            "spark.hadoop.fs.s3a.fast.upload": "true",
        },
        secret_env={
            "AWS_ACCESS_KEY_ID": "s3-credentials:access-key",
            "AWS_SECRET_ACCESS_KEY": "s3-credentials:secret-key",
        },
        on_finish_action="delete_succeeded",
    )
