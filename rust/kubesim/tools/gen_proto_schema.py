"""Generate src/api/proto_schema.rs: the field numbers, JSON names and types of the Kubernetes
protobuf messages kubesim decodes, read from the `generated.proto` files of k8s.io/api and
k8s.io/apimachinery.

Usage: python3 gen_proto_schema.py PROTO_DIR > ../src/api/proto_schema.rs
PROTO_DIR holds core_v1.proto, batch_v1.proto, rbac_v1.proto, authentication_v1.proto,
authorization_v1.proto, policy_v1.proto, networking_v1.proto, coordination_v1.proto,
meta_v1.proto, runtime.proto, resource.proto and intstr.proto.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FILES = {
    "core_v1.proto": "k8s.io.api.core.v1",
    "batch_v1.proto": "k8s.io.api.batch.v1",
    "rbac_v1.proto": "k8s.io.api.rbac.v1",
    "authentication_v1.proto": "k8s.io.api.authentication.v1",
    "authorization_v1.proto": "k8s.io.api.authorization.v1",
    "policy_v1.proto": "k8s.io.api.policy.v1",
    "networking_v1.proto": "k8s.io.api.networking.v1",
    "coordination_v1.proto": "k8s.io.api.coordination.v1",
    "meta_v1.proto": "k8s.io.apimachinery.pkg.apis.meta.v1",
    "runtime.proto": "k8s.io.apimachinery.pkg.runtime",
    "resource.proto": "k8s.io.apimachinery.pkg.api.resource",
    "intstr.proto": "k8s.io.apimachinery.pkg.util.intstr",
}
ROOTS = [
    "k8s.io.api.core.v1." + k
    for k in [
        "Namespace", "Pod", "Service", "Endpoints", "ConfigMap", "Secret", "ServiceAccount",
        "Event", "PersistentVolumeClaim", "PersistentVolume", "Node", "ResourceQuota", "LimitRange",
        "Binding",
    ]
] + [
    "k8s.io.api.batch.v1.Job", "k8s.io.api.batch.v1.CronJob",
    "k8s.io.api.rbac.v1.Role", "k8s.io.api.rbac.v1.RoleBinding",
    "k8s.io.api.rbac.v1.ClusterRole", "k8s.io.api.rbac.v1.ClusterRoleBinding",
    "k8s.io.api.authentication.v1.TokenRequest", "k8s.io.api.authentication.v1.TokenReview",
    "k8s.io.api.authentication.v1.SelfSubjectReview",
    "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
    "k8s.io.api.authorization.v1.SubjectAccessReview",
    "k8s.io.api.authorization.v1.SelfSubjectRulesReview",
    "k8s.io.api.policy.v1.Eviction", "k8s.io.api.policy.v1.PodDisruptionBudget",
    "k8s.io.api.networking.v1.NetworkPolicy", "k8s.io.api.coordination.v1.Lease",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
]
SCALARS = {"string": "Str", "bytes": "Bytes", "int32": "Int", "int64": "Int", "uint32": "Int",
           "uint64": "Int", "bool": "Bool", "double": "Double", "float": "Double"}
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "Time",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "Raw",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "Raw",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
}

# Fields Go embeds with `json:",inline"`: their members appear in the parent JSON object.
INLINE_NAMES = {"localObjectReference", "ephemeralContainerCommon", "ingressRuleValue",
                "persistentVolumeSource", "volumeSource"}
INLINE_FIELDS = {("k8s.io.api.core.v1.Probe", "handler")}

FIELD = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)")
MAP = re.compile(r"^\s*map<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)")


def parse(proto_dir: Path) -> dict[str, list[tuple[int, str, str, bool]]]:
    messages: dict[str, list[tuple[int, str, str, bool]]] = {}
    for file, package in FILES.items():
        current = None
        depth = 0
        for line in (proto_dir / file).read_text().splitlines():
            m = re.match(r"^message (\w+) \{", line)
            if m and depth == 0:
                current = f"{package}.{m.group(1)}"
                messages[current] = []
            depth += line.count("{") - line.count("}")
            if current is None or depth != 1:
                continue
            if f := FIELD.match(line):
                label, ty, name, num = f.groups()
                messages[current].append((int(num), name, qualify(ty, package), label == "repeated"))
            elif f := MAP.match(line):
                _, vty, name, num = f.groups()
                messages[current].append((int(num), name, "map:" + qualify(vty, package), False))
    return messages


def qualify(ty: str, package: str) -> str:
    if ty in SCALARS:
        return ty
    if "." in ty:
        return ty.lstrip(".")
    return f"{package}.{ty}"


def kind(ty: str) -> str:
    if ty.startswith("map:"):
        return f"Kind::Map(&{kind(ty[4:])})"
    if ty in SCALARS:
        return f"Kind::{SCALARS[ty]}"
    if ty in SPECIAL:
        return f"Kind::{SPECIAL[ty]}"
    return f'Kind::Msg("{ty}")'


def main() -> None:
    messages = parse(Path(sys.argv[1]))
    needed: list[str] = []
    stack = list(ROOTS)
    while stack:
        name = stack.pop()
        if name in needed or name in SPECIAL or name not in messages:
            continue
        needed.append(name)
        for _, _, ty, _ in messages[name]:
            inner = ty[4:] if ty.startswith("map:") else ty
            if inner not in SCALARS:
                stack.append(inner)
    print("//! Field numbers, JSON names and types of the Kubernetes protobuf messages kubesim")
    print("//! decodes, generated by `tools/gen_proto_schema.py` from k8s.io/api's `generated.proto`.")
    print()
    print("use super::proto::{Field, Kind};")
    print()
    print("/// Messages by fully qualified name, sorted for binary search.")
    print("pub static MESSAGES: &[(&str, &[Field])] = &[")
    for name in sorted(needed):
        print(f'    ("{name}", &[')
        for num, fname, ty, rep in sorted(messages[name]):
            k = kind(ty)
            if fname in INLINE_NAMES or (name, fname) in INLINE_FIELDS:
                k = k.replace("Kind::Msg(", "Kind::Inline(")
            print(f'        Field {{ num: {num}, name: "{fname}", kind: {k}, repeated: {str(rep).lower()} }},')
        print("    ]),")
    print("];")


if __name__ == "__main__":
    main()
