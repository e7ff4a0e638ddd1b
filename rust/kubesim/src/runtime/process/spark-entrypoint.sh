#!/usr/bin/env bash
# kubesim's stand-in for /opt/entrypoint.sh of the official Apache Spark image. The contract it
# keeps: `driver ARGS` runs spark-submit in client mode inside the pod, bound to the pod's IP;
# `executor` starts KubernetesExecutorBackend from the SPARK_EXECUTOR_* variables the driver set;
# anything else runs as given.
set -eo pipefail

# Pods on kubesim share the machine's network namespace, each with its own loopback address:
# servers that would bind every interface (the Spark UI) bind the pod's address instead.
if [ -z "${SPARK_LOCAL_IP:-}" ]; then
    SPARK_LOCAL_IP=$(getent hosts "$(hostname)" | awk '{ print $1; exit }')
    export SPARK_LOCAL_IP
fi

classpath="${SPARK_HOME}/jars/*"
[ -n "${SPARK_CLASSPATH:-}" ] && classpath="${SPARK_CLASSPATH}:${classpath}"
[ -n "${HADOOP_CONF_DIR:-}" ] && classpath="${HADOOP_CONF_DIR}:${classpath}"
if [ -n "${SPARK_CONF_DIR:-}" ]; then
    classpath="${SPARK_CONF_DIR}:${classpath}"
else
    classpath="${SPARK_HOME}/conf:${classpath}"
fi
[ -n "${SPARK_DIST_CLASSPATH:-}" ] && classpath="${classpath}:${SPARK_DIST_CLASSPATH}"

# The driver passes executor JVM options as SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in order.
java_opts=()
while IFS= read -r name; do
    java_opts+=("${!name}")
done < <(compgen -e | grep -E '^SPARK_JAVA_OPT_[0-9]+$' | sort -t_ -k4 -n)

[ -n "${PYSPARK_PYTHON:-}" ] && export PYSPARK_PYTHON
[ -n "${PYSPARK_DRIVER_PYTHON:-}" ] && export PYSPARK_DRIVER_PYTHON

case "${1:-}" in
driver)
    shift
    exec "${SPARK_HOME}/bin/spark-submit" \
        --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS}" \
        --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
        --deploy-mode client \
        "$@"
    ;;
executor)
    shift
    exec "${JAVA_HOME}/bin/java" "${java_opts[@]}" \
        "-Xms${SPARK_EXECUTOR_MEMORY}" "-Xmx${SPARK_EXECUTOR_MEMORY}" \
        -cp "${classpath}" \
        org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
        --driver-url "${SPARK_DRIVER_URL}" \
        --executor-id "${SPARK_EXECUTOR_ID}" \
        --cores "${SPARK_EXECUTOR_CORES}" \
        --app-id "${SPARK_APPLICATION_ID}" \
        --hostname "${SPARK_EXECUTOR_POD_IP}" \
        --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID}" \
        --podName "${SPARK_EXECUTOR_POD_NAME}" \
        "$@"
    ;;
*)
    exec "$@"
    ;;
esac
