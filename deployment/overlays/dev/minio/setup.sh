#!/bin/sh
# Creates the buckets and the Spark user of the dev MinIO. Safe to run again.
set -eu
mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
until mc ready local; do sleep 2; done
for bucket in spark-events spark-data; do
  mc mb --ignore-existing "local/$bucket"
done
mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
mc admin policy create local spark-readwrite /setup/spark-policy.json
if ! mc admin user info local "$AWS_ACCESS_KEY_ID" | grep -q spark-readwrite; then
  mc admin policy attach local spark-readwrite --user "$AWS_ACCESS_KEY_ID"
fi
mc admin user info local "$AWS_ACCESS_KEY_ID" | grep -q spark-readwrite
echo "buckets spark-events and spark-data ready for $AWS_ACCESS_KEY_ID"
