#!/bin/sh
# kubesim's stand-in for MinIO's image (quay.io/minio/minio): an S3 server ($S3_SERVER, moto in
# server mode) on MinIO's API port, 9000, at the pod's own address. MinIO's arguments (`server
# /data --console-address ...`) are not needed: the store keeps its objects in memory, takes any
# credentials, and has no console.
set -e
address=$(hostname -i 2>/dev/null | cut -d' ' -f1)
exec "$S3_SERVER" -H "${address:-0.0.0.0}" -p 9000
