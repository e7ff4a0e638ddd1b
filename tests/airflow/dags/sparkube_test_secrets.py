"""Secrets passed the ways a DAG passes them, for tests/reliability/test_secrets.py: Spark conf
with secret-looking keys and environment variables with secret-looking names, from Airflow
Variables, through the typed parameters and through spark-submit arguments, in the worker and
deferred, and once with bad input. The test scans everything the run leaves for the values.

The connection `sparkube_secrets` (a `kube_config` extra with a token and a client key) and
the Variables `sparkube_test_conf` / `sparkube_test_env` are set by the test.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG

from sparkube.airflow import SparkAppOperator

PI = "local:///opt/spark/examples/src/main/python/pi.py"
CONF_SECRET = "{{ var.value.sparkube_test_conf }}"
ENV_SECRET = "{{ var.value.sparkube_test_env }}"
SIMULATION = {"kubesim.io/run-seconds": "1", "kubesim.io/log": "Pi is roughly 3.14"}
SMALL = {"spark.kubernetes.driver.request.cores": "100m"}

with DAG(
    dag_id="sparkube_test_secrets",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={
        "retries": 0,
        "image": "apache/spark:4.0.1",
        "kubernetes_conn_id": "sparkube_secrets",
    },
):
    SparkAppOperator(
        task_id="typed",
        application=PI,
        conf={"spark.hadoop.fs.s3a.secret.key": CONF_SECRET, **SMALL},
        env={"DB_PASSWORD": ENV_SECRET},
        secret_env={"API_TOKEN": "api-credentials:token"},
        annotations=SIMULATION,
        deferrable=False,
        on_finish_action="keep",  # the test reads what was submitted
    )
    SparkAppOperator(
        task_id="args_deferred",
        spark_submit_args=[
            "--name",
            "args-deferred",
            "--conf",
            f"spark.hadoop.fs.s3a.access.key={CONF_SECRET}",
            "--conf",
            f"spark.kubernetes.driverEnv.API_PASSWORD={ENV_SECRET}",
            "--conf",
            "spark.kubernetes.container.image=apache/spark:4.0.1",
            "--conf",
            "spark.kubernetes.driver.request.cores=100m",
            *[
                arg
                for key, value in SIMULATION.items()
                for arg in ("--conf", f"spark.kubernetes.driver.annotation.{key}={value}")
            ],
            PI,
        ],
        deferrable=True,
    )
    SparkAppOperator(
        task_id="bad_input",
        application=PI,
        driver_memory="2 GB",
        conf={"spark.app.password": CONF_SECRET},
        env={"SERVICE_TOKEN": ENV_SECRET},
    )
