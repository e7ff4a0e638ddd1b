#!/usr/bin/env python3
"""kubesim's stand-in for `minio server`: moto's S3 and IAM server on the pod's address.

Takes MinIO's arguments (`server DIR [--address ADDR] [--console-address ADDR] ...`) and
serves the S3 and IAM APIs (objects in memory, signatures not checked) on the `--address` port (9000 by
default) of the pod's IP, with MinIO's health endpoints `/minio/health/{live,ready,cluster}`.
"""

from __future__ import annotations

import os
import socket
import sys

# Path-style bucket addressing whatever the Host (`minio.minio.svc`), as MinIO without
# MINIO_DOMAIN.
os.environ.setdefault("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

HEALTH = ("/minio/health/live", "/minio/health/ready", "/minio/health/cluster")


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "server":
        print(f"usage: minio server DIR [--address ADDR], got {argv}", file=sys.stderr)
        return 2
    port = 9000
    rest = argv[1:]
    for i, arg in enumerate(rest):
        if arg == "--address" and i + 1 < len(rest):
            port = int(rest[i + 1].rsplit(":", 1)[-1])
        elif arg.startswith("--address="):
            port = int(arg.rsplit(":", 1)[-1])
    host = socket.gethostbyname(socket.gethostname())
    s3 = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO") in HEALTH:
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        return s3(environ, start_response)

    print(f"S3-API: http://{host}:{port} (moto, for kubesim)", flush=True)
    run_simple(host, port, app, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
