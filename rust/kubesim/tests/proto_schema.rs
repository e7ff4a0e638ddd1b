//! The protobuf decoder checked against k8s-openapi for every kind kubesim serves and every
//! kind kubectl sends as a request body. An object that sets every field the table knows
//! (nested messages, maps and lists included) goes through the k8s-openapi type and back: any
//! name the table holds that the type drops (`uID` for `uid`) is reported. Then that object is
//! encoded as the protobuf body a client sends, decoded by kubesim, and must come back through
//! k8s-openapi equal.

use std::collections::BTreeSet;

use kubesim::api::proto::{self, Kind};
use serde_json::{Map, Value, json};

/// A value for one field of `kind`, with every nested field set.
fn sample(kind: &Kind, depth: usize, missing: &mut BTreeSet<String>) -> Value {
    match kind {
        Kind::Str => json!("x"),
        Kind::Bytes => json!("eA=="),
        Kind::Int => json!(1),
        Kind::Bool => json!(true),
        Kind::Double => json!(1.5),
        Kind::Time => json!("2024-01-02T03:04:05Z"),
        Kind::Quantity => json!("1"),
        Kind::IntOrString => json!(1),
        Kind::Raw => json!({}),
        Kind::Duration => json!("1s"),
        Kind::Msg(name) | Kind::Inline(name) => message(name, depth + 1, missing),
        Kind::Map(value) => json!({"k": sample(value, depth, missing)}),
        Kind::Items(item) => json!([sample(item, depth, missing)]),
    }
}

/// An object of message `name` with every field of the table set; messages the table names
/// but does not hold go to `missing`.
fn message(name: &str, depth: usize, missing: &mut BTreeSet<String>) -> Value {
    let mut out = Map::new();
    let Ok(fields) = proto::schema(name) else {
        missing.insert(name.to_string());
        return Value::Object(out);
    };
    if depth > 24 {
        return Value::Object(out);
    }
    for f in fields {
        let v = sample(&f.kind, depth, missing);
        match (&f.kind, v) {
            (Kind::Inline(_), Value::Object(m)) => out.extend(m),
            (_, v) if f.repeated => {
                out.insert(f.name.to_string(), json!([v]));
            }
            (_, v) => {
                out.insert(f.name.to_string(), v);
            }
        }
    }
    Value::Object(out)
}

/// Every object key path in `v` (`spec.containers.name`; list items share their list's path).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                paths(child, &p, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| paths(i, prefix, out)),
        _ => {}
    }
}

/// Deserializes `v` into the k8s-openapi type of `api_version`/`kind` and serializes it back;
/// `None` when the list below does not know the kind.
fn through_k8s_openapi(api_version: &str, kind: &str, v: Value) -> Option<Result<Value, String>> {
    use k8s_openapi::api::{
        authentication, authorization, batch, coordination, core, networking, policy, rbac,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta;
    macro_rules! via {
        ($($av:literal $k:literal => $t:ty),* $(,)?) => {
            match (api_version, kind) {
                $(($av, $k) => Some(
                    serde_json::from_value::<$t>(v)
                        .and_then(serde_json::to_value)
                        .map_err(|e| format!("{api_version} {kind}: {e}")),
                ),)*
                _ => None,
            }
        };
    }
    via! {
        "v1" "Namespace" => core::v1::Namespace,
        "v1" "Pod" => core::v1::Pod,
        "v1" "Service" => core::v1::Service,
        "v1" "Endpoints" => core::v1::Endpoints,
        "v1" "ConfigMap" => core::v1::ConfigMap,
        "v1" "Secret" => core::v1::Secret,
        "v1" "ServiceAccount" => core::v1::ServiceAccount,
        "v1" "Event" => core::v1::Event,
        "v1" "Node" => core::v1::Node,
        "v1" "LimitRange" => core::v1::LimitRange,
        "v1" "ResourceQuota" => core::v1::ResourceQuota,
        "v1" "PersistentVolume" => core::v1::PersistentVolume,
        "v1" "PersistentVolumeClaim" => core::v1::PersistentVolumeClaim,
        "v1" "Binding" => core::v1::Binding,
        "batch/v1" "Job" => batch::v1::Job,
        "batch/v1" "CronJob" => batch::v1::CronJob,
        "rbac.authorization.k8s.io/v1" "Role" => rbac::v1::Role,
        "rbac.authorization.k8s.io/v1" "RoleBinding" => rbac::v1::RoleBinding,
        "rbac.authorization.k8s.io/v1" "ClusterRole" => rbac::v1::ClusterRole,
        "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" => rbac::v1::ClusterRoleBinding,
        "authentication.k8s.io/v1" "TokenRequest" => authentication::v1::TokenRequest,
        "authentication.k8s.io/v1" "TokenReview" => authentication::v1::TokenReview,
        "authentication.k8s.io/v1" "SelfSubjectReview" => authentication::v1::SelfSubjectReview,
        "authorization.k8s.io/v1" "SelfSubjectAccessReview" => authorization::v1::SelfSubjectAccessReview,
        "authorization.k8s.io/v1" "SubjectAccessReview" => authorization::v1::SubjectAccessReview,
        "authorization.k8s.io/v1" "SelfSubjectRulesReview" => authorization::v1::SelfSubjectRulesReview,
        "policy/v1" "Eviction" => policy::v1::Eviction,
        "policy/v1" "PodDisruptionBudget" => policy::v1::PodDisruptionBudget,
        "networking.k8s.io/v1" "NetworkPolicy" => networking::v1::NetworkPolicy,
        "coordination.k8s.io/v1" "Lease" => coordination::v1::Lease,
        "meta.k8s.io/v1" "DeleteOptions" => meta::v1::DeleteOptions,
    }
}

/// Request bodies of subresources and deletes, which are not resources of their own.
const BODY_KINDS: &[(&str, &str)] = &[
    ("v1", "Binding"),
    ("authentication.k8s.io/v1", "TokenRequest"),
    ("policy/v1", "Eviction"),
    ("meta.k8s.io/v1", "DeleteOptions"),
];

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Field `num` as a length-delimited record.
fn bytes(num: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(num) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// Field `num` as a varint record.
fn int(num: u32, n: i64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(num) << 3, &mut out);
    varint(n as u64, &mut out);
    out
}

/// One value of `kind` as the record of field `num`, as go-to-protobuf encodes it.
fn encode_value(num: u32, kind: &Kind, v: &Value) -> Vec<u8> {
    let text = || v.as_str().unwrap_or_default().as_bytes();
    match kind {
        Kind::Str => bytes(num, text()),
        Kind::Bytes => bytes(
            num,
            &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text())
                .unwrap_or_default(),
        ),
        Kind::Int => int(num, v.as_i64().unwrap_or_default()),
        Kind::Bool => int(num, i64::from(v.as_bool().unwrap_or_default())),
        Kind::Double => {
            let mut out = Vec::new();
            varint(u64::from(num) << 3 | 1, &mut out);
            out.extend(v.as_f64().unwrap_or_default().to_le_bytes());
            out
        }
        Kind::Time => {
            let secs =
                kubesim::clock::parse(v.as_str().unwrap_or_default()).map_or(0, |t| t.timestamp());
            bytes(num, &int(1, secs))
        }
        Kind::Quantity => bytes(num, &bytes(1, text())),
        Kind::IntOrString => match v.as_i64() {
            Some(n) => bytes(num, &[int(1, 0), int(2, n)].concat()),
            None => bytes(num, &[int(1, 1), bytes(3, text())].concat()),
        },
        Kind::Raw => bytes(num, &bytes(1, v.to_string().as_bytes())),
        Kind::Duration => {
            let secs: f64 = text()
                .strip_suffix(b"s")
                .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
                .unwrap_or_default();
            bytes(num, &int(1, (secs * 1e9) as i64))
        }
        Kind::Msg(name) | Kind::Inline(name) => bytes(num, &encode(name, v)),
        Kind::Items(item) => bytes(
            num,
            &v.as_array()
                .map(|a| {
                    a.iter()
                        .flat_map(|x| encode_value(1, item, x))
                        .collect::<Vec<u8>>()
                })
                .unwrap_or_default(),
        ),
        Kind::Map(value) => v
            .as_object()
            .map(|m| {
                m.iter()
                    .flat_map(|(k, x)| {
                        bytes(
                            num,
                            &[bytes(1, k.as_bytes()), encode_value(2, value, x)].concat(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The JSON object `v` as protobuf message `name`.
fn encode(name: &str, v: &Value) -> Vec<u8> {
    let fields = proto::schema(name).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for f in fields {
        if let Kind::Inline(_) = f.kind {
            out.extend(encode_value(f.num, &f.kind, v));
            continue;
        }
        match v.get(f.name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if f.repeated => {
                for x in items {
                    out.extend(encode_value(f.num, &f.kind, x));
                }
            }
            Some(x) => out.extend(encode_value(f.num, &f.kind, x)),
        }
    }
    out
}

#[test]
fn every_kind_served_round_trips_through_protobuf_and_k8s_openapi() {
    let served = kubesim::resources::RESOURCES
        .iter()
        .map(|r| (r.api_version(), r.kind.to_string()));
    let bodies = BODY_KINDS
        .iter()
        .map(|(av, k)| ((*av).to_string(), (*k).to_string()));
    let mut problems = Vec::new();
    let mut checked = 0;
    for (api_version, kind) in served.chain(bodies) {
        let Some(name) = proto::message_name(&api_version, &kind) else {
            continue;
        };
        if proto::schema(&name).is_err() {
            continue;
        }
        let mut missing = BTreeSet::new();
        let mut obj = message(&name, 0, &mut missing);
        problems.extend(
            missing
                .into_iter()
                .map(|m| format!("{kind}: message {m} is not in the table")),
        );
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(kind);
        let Some(back) = through_k8s_openapi(&api_version, &kind, obj.clone()) else {
            problems.push(format!(
                "{api_version} {kind}: no k8s-openapi type in this test"
            ));
            continue;
        };
        let back = match back {
            Ok(back) => back,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let (mut sent, mut kept) = (BTreeSet::new(), BTreeSet::new());
        paths(&obj, &kind, &mut sent);
        paths(&back, &kind, &mut kept);
        problems.extend(
            sent.difference(&kept)
                .map(|p| format!("{p}: not a field of k8s-openapi's {kind}")),
        );
        let mut body = proto::MAGIC.to_vec();
        let type_meta = [bytes(1, api_version.as_bytes()), bytes(2, kind.as_bytes())].concat();
        body.extend(bytes(1, &type_meta));
        body.extend(bytes(2, &encode(&name, &back)));
        match proto::decode(&body).map(|v| through_k8s_openapi(&api_version, &kind, v)) {
            Ok(Some(Ok(decoded))) if decoded == back => {}
            Ok(Some(Ok(decoded))) => {
                problems.push(format!("{kind}: decoded as\n{decoded}\nnot\n{back}"));
            }
            Ok(other) => problems.push(format!("{kind}: decoded into {other:?}")),
            Err(e) => problems.push(format!("{kind}: {e}")),
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} kinds checked");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
