//! The protobuf table's JSON names checked against k8s-openapi for every kind kubesim serves
//! and every kind kubectl sends as a request body: an object that sets every field the table
//! knows (nested messages, maps and lists included) goes through the k8s-openapi type and back,
//! and any name the table holds that the type drops (`uID` for `uid`) is reported.

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

#[test]
fn json_names_match_k8s_openapi_for_every_kind_served() {
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
