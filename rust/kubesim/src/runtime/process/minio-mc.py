#!/usr/bin/env python3
"""kubesim's stand-in for MinIO's `mc`: the commands a bucket setup script uses, sent as S3
and IAM calls (boto3) to the server of the alias, which is kubesim's `minio` (moto).

    mc alias set ALIAS URL ACCESS_KEY SECRET_KEY
    mc ready ALIAS
    mc mb [--ignore-existing] ALIAS/BUCKET
    mc admin user add ALIAS ACCESS_KEY SECRET_KEY
    mc admin user info ALIAS ACCESS_KEY
    mc admin policy create ALIAS POLICY FILE
    mc admin policy attach ALIAS POLICY --user ACCESS_KEY

MinIO users and policies become IAM users and customer-managed policies; moto records them
and does not enforce them. Aliases live in $MC_CONFIG_DIR/config.json as mc keeps them.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError


def config_file() -> Path:
    return Path(os.environ.get("MC_CONFIG_DIR", os.path.expanduser("~/.mc"))) / "config.json"


def alias(name: str) -> dict[str, str]:
    aliases = json.loads(config_file().read_text())["aliases"]
    if name not in aliases:
        raise SystemExit(f"mc: <ERROR> Unable to find alias `{name}`.")
    return dict(aliases[name])


def client(service: str, name: str) -> Any:
    a = alias(name)
    return boto3.client(
        service,
        endpoint_url=a["url"],
        aws_access_key_id=a["accessKey"],
        aws_secret_access_key=a["secretKey"],
        region_name="us-east-1",
    )


def policy_arn(iam: Any, policy: str) -> str:
    for p in iam.list_policies(Scope="Local")["Policies"]:
        if p["PolicyName"] == policy:
            return str(p["Arn"])
    raise SystemExit(f"mc: <ERROR> policy `{policy}` does not exist")


def main(argv: list[str]) -> int:
    match argv:
        case ["alias", "set", name, url, key, secret]:
            path = config_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            conf = json.loads(path.read_text()) if path.exists() else {"version": "10"}
            conf.setdefault("aliases", {})[name] = {
                "url": url,
                "accessKey": key,
                "secretKey": secret,
                "api": "s3v4",
                "path": "auto",
            }
            path.write_text(json.dumps(conf, indent=2))
            print(f"Added `{name}` successfully.")
        case ["ready", name]:
            url = alias(name)["url"] + "/minio/health/ready"
            try:
                with urllib.request.urlopen(url, timeout=5):
                    pass
            except OSError as e:
                print(f"The cluster is unreachable: {e}")
                time.sleep(1)
                return 1
            print(f"The cluster '{name}' is ready")
        case ["mb", *flags, target] if set(flags) <= {"--ignore-existing", "-p"}:
            name, bucket = target.split("/", 1)
            try:
                client("s3", name).create_bucket(Bucket=bucket)
            except ClientError as e:
                code = e.response["Error"]["Code"]
                if not (flags and code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")):
                    raise SystemExit(f"mc: <ERROR> Unable to make bucket `{target}`. {e}") from e
            print(f"Bucket created successfully `{target}`.")
        case ["admin", "user", "add", name, key, _secret]:
            iam = client("iam", name)
            try:
                iam.create_user(UserName=key)
            except iam.exceptions.EntityAlreadyExistsException:
                pass
            print(f"Added user `{key}` successfully.")
        case ["admin", "user", "info", name, key]:
            iam = client("iam", name)
            try:
                iam.get_user(UserName=key)
            except iam.exceptions.NoSuchEntityException:
                raise SystemExit(f"mc: <ERROR> Unable to get user info. The user {key} does not exist.")
            attached = iam.list_attached_user_policies(UserName=key)["AttachedPolicies"]
            print(f"AccessKey: {key}\nStatus: enabled")
            print("PolicyName: " + ",".join(p["PolicyName"] for p in attached))
        case ["admin", "policy", "create", name, policy, file]:
            iam = client("iam", name)
            document = Path(file).read_text()
            try:
                iam.create_policy(PolicyName=policy, PolicyDocument=document)
            except iam.exceptions.EntityAlreadyExistsException:
                iam.create_policy_version(
                    PolicyArn=policy_arn(iam, policy), PolicyDocument=document, SetAsDefault=True
                )
            print(f"Created policy `{policy}` successfully.")
        case ["admin", "policy", "attach", name, policy, "--user", key]:
            iam = client("iam", name)
            iam.attach_user_policy(UserName=key, PolicyArn=policy_arn(iam, policy))
            print(f"Attached Policies: [{policy}]\nTo User: {key}")
        case _:
            print(f"mc (kubesim): unsupported command: {' '.join(argv)}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
