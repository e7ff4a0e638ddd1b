//! The Deployment controller: one ReplicaSet per pod template (named and labelled by the
//! template's `pod-template-hash`, annotated with its revision), rolled out with the Recreate
//! strategy (old pods gone before new ones start) or RollingUpdate (old ReplicaSets shrink as new
//! pods become available), old ReplicaSets pruned to `revisionHistoryLimit`, and the status
//! `kubectl rollout status` reads: observed generation, replica counts and the Available and
//! Progressing conditions.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::clock;
use crate::cluster::Cluster;
use crate::registry::{DeleteOptions, WriteOptions};
use crate::resources::ids;

/// The label joining a ReplicaSet and its pods to one template of a Deployment.
pub const HASH_LABEL: &str = "pod-template-hash";
/// The annotation carrying a ReplicaSet's revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// `value` with object keys sorted, so that equal templates hash alike whatever their order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The template's hash as the API spells it: FNV-1a (32 bits) of the template and the collision
/// count, its decimal digits mapped through the alphabet of `rand.SafeEncodeString`.
pub fn template_hash(template: &Value, collision_count: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    let text = format!("{}{collision_count}", canonical(template));
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// `maxSurge` or `maxUnavailable` of `replicas`: an integer, or a percentage rounded up
/// (surge) or down (unavailable).
pub fn resolve(value: &Value, replicas: i64, round_up: bool, default_percent: i64) -> i64 {
    let percent = |p: i64| {
        if round_up {
            (p * replicas + 99) / 100
        } else {
            p * replicas / 100
        }
    };
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .map_or_else(|| percent(default_percent), percent),
        _ => percent(default_percent),
    }
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn count(rs: &Value, field: &str) -> i64 {
    rs["status"][field].as_i64().unwrap_or(0)
}

/// The ReplicaSet of `template` for the Deployment `name`.
fn new_replicaset(d: &Value, name: &str, uid: &str, hash: &str, rev: i64, replicas: i64) -> Value {
    let spec = &d["spec"];
    let mut template = spec["template"].clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = spec["selector"].clone();
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let mut labels = template["metadata"]["labels"].clone();
    labels[HASH_LABEL] = json!(hash);
    let desired = spec["replicas"].as_i64().unwrap_or(1);
    let surge = resolve(
        &spec["strategy"]["rollingUpdate"]["maxSurge"],
        desired,
        true,
        25,
    );
    let mut rs_spec = json!({"replicas": replicas, "selector": selector, "template": template});
    if let Some(m) = spec["minReadySeconds"].as_i64() {
        rs_spec["minReadySeconds"] = json!(m);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (desired + surge).to_string(),
                REVISION: rev.to_string(),
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                "uid": uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": rs_spec,
    })
}

/// Sets a Deployment condition (which has `lastUpdateTime`, no `lastProbeTime`).
fn set_condition(status: &mut Value, ty: &str, value: &str, reason: &str, message: &str) {
    let now = clock::now();
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(conds) = status["conditions"].as_array_mut() else {
        return;
    };
    let fresh = |since: Value| {
        json!({"type": ty, "status": value, "lastUpdateTime": now, "lastTransitionTime": since,
               "reason": reason, "message": message})
    };
    match conds.iter_mut().find(|c| c["type"] == ty) {
        Some(c) if c["status"] == value && c["reason"] == reason && c["message"] == message => {}
        Some(c) => {
            let since = if c["status"] == value {
                c["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            *c = fresh(since);
        }
        None => conds.push(fresh(json!(now))),
    }
}

fn scale(cluster: &Cluster, d: &Value, ns: &str, rs: &Value, to: i64) {
    let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default();
    let from = rs["spec"]["replicas"].as_i64().unwrap_or(0);
    if from == to {
        return;
    }
    let changed = cluster.modify(ids::REPLICASETS, ns, rs_name, |r| {
        if r["spec"]["replicas"] == json!(to) {
            return false;
        }
        r["spec"]["replicas"] = json!(to);
        true
    });
    if changed.is_some() {
        let verb = if to > from { "up" } else { "down" };
        cluster.record_event(
            d,
            None,
            "Normal",
            "ScalingReplicaSet",
            &format!("Scaled {verb} replica set {rs_name} from {from} to {to}"),
            ("deployment-controller", ""),
        );
    }
}

fn sync(cluster: &Cluster, ns: &str, name: &str) {
    let Some(obj) = cluster.store.get(ids::DEPLOYMENTS, ns, name) else {
        return;
    };
    if obj.deleting {
        return;
    }
    let d = obj.value();
    let spec = &d["spec"];
    let want = spec["replicas"].as_i64().unwrap_or(1);
    let recreate = spec["strategy"]["type"] == "Recreate";
    let hash = template_hash(
        &spec["template"],
        d["status"]["collisionCount"].as_u64().unwrap_or(0),
    );
    let mut sets: Vec<Value> = cluster
        .store
        .dependents(&obj.uid)
        .into_iter()
        .filter(|o| o.res == ids::REPLICASETS && !o.deleting)
        .map(|o| o.value())
        .collect();
    sets.sort_by_key(revision);
    let (mut new, old): (Vec<Value>, Vec<Value>) = sets
        .into_iter()
        .partition(|rs| rs["metadata"]["labels"][HASH_LABEL] == json!(hash));
    let old_pods: i64 = old.iter().map(|rs| count(rs, "replicas")).sum();
    let old_wanted: i64 = old
        .iter()
        .map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(0))
        .sum();
    // Recreate starts new pods only once every old pod is gone.
    let new_target = if recreate && old_pods + old_wanted > 0 {
        0
    } else {
        want
    };
    match new.pop() {
        None => {
            let rev = old.last().map_or(0, revision) + 1;
            let rs = new_replicaset(&d, name, &obj.uid, &hash, rev, new_target);
            let opts = WriteOptions {
                field_manager: Some("kube-controller-manager".into()),
                ..Default::default()
            };
            match cluster.create_object(ids::REPLICASETS, ns, rs, &opts) {
                Ok(created) => {
                    cluster.record_event(
                        &d,
                        None,
                        "Normal",
                        "ScalingReplicaSet",
                        &format!(
                            "Scaled up replica set {} from 0 to {new_target}",
                            created.name
                        ),
                        ("deployment-controller", ""),
                    );
                    new.push(created.value());
                }
                Err(e) => {
                    cluster.record_event(
                        &d,
                        None,
                        "Warning",
                        "FailedCreate",
                        &format!("Failed to create new replica set: {}", e.message),
                        ("deployment-controller", ""),
                    );
                    return;
                }
            }
        }
        Some(rs) => {
            scale(cluster, &d, ns, &rs, new_target);
            new.push(rs);
        }
    }
    let new_rs = new.last().cloned().unwrap_or(Value::Null);
    let new_available = count(&new_rs, "availableReplicas");
    // RollingUpdate keeps at least `want - maxUnavailable` available: old ReplicaSets give up
    // only the pods that new available ones replace (beyond that allowance).
    let max_unavailable = if recreate {
        want
    } else {
        resolve(
            &spec["strategy"]["rollingUpdate"]["maxUnavailable"],
            want,
            false,
            25,
        )
    };
    let mut keep_old = (want - max_unavailable - new_available).max(0);
    for rs in old.iter().rev() {
        let cur = rs["spec"]["replicas"].as_i64().unwrap_or(0);
        let to = if recreate { 0 } else { cur.min(keep_old) };
        keep_old -= to;
        scale(cluster, &d, ns, rs, to);
    }
    let limit = spec["revisionHistoryLimit"].as_i64().unwrap_or(10).max(0) as usize;
    let idle: Vec<&Value> = old
        .iter()
        .filter(|rs| rs["spec"]["replicas"] == json!(0) && count(rs, "replicas") == 0)
        .collect();
    for rs in idle.iter().take(idle.len().saturating_sub(limit)) {
        let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default();
        let _ = cluster.delete_object(ids::REPLICASETS, ns, rs_name, &DeleteOptions::default());
    }
    let all: Vec<&Value> = old.iter().chain(std::iter::once(&new_rs)).collect();
    let total = |f: &str| all.iter().map(|rs| count(rs, f)).sum::<i64>();
    let (replicas, ready, available) = (
        total("replicas"),
        total("readyReplicas"),
        total("availableReplicas"),
    );
    let updated = count(&new_rs, "replicas");
    let new_name = new_rs["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let complete = updated == want && replicas == want && available == want;
    let deadline = spec["progressDeadlineSeconds"].as_i64().unwrap_or(600);
    let generation = d["metadata"]["generation"].clone();
    cluster.modify(ids::DEPLOYMENTS, ns, name, |dep| {
        let before = dep["status"].clone();
        let mut st = json!({"observedGeneration": generation, "replicas": replicas,
                            "updatedReplicas": updated});
        for (k, v) in [
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", (want - available).max(0)),
        ] {
            if v > 0 {
                st[k] = json!(v);
            }
        }
        if let Some(c) = before.get("conditions") {
            st["conditions"] = c.clone();
        }
        if let Some(c) = before.get("collisionCount") {
            st["collisionCount"] = c.clone();
        }
        // Recreate allows no unavailable pod once rolled out (`deploymentutil.MaxUnavailable`).
        let allowed = if recreate { 0 } else { max_unavailable };
        if available >= want - allowed {
            set_condition(
                &mut st,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            );
        } else {
            set_condition(
                &mut st,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            );
        }
        let progressing_since = st["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Progressing" && c["reason"] == "ReplicaSetUpdated")
            .and_then(|c| c["lastTransitionTime"].as_str().and_then(clock::parse));
        if complete {
            set_condition(
                &mut st,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            );
        } else if progressing_since
            .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() > deadline)
        {
            set_condition(
                &mut st,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
            );
        } else if st["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["reason"] != "ProgressDeadlineExceeded")
        {
            set_condition(
                &mut st,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{new_name}\" is progressing."),
            );
        }
        // The update time of an unchanged condition does not count as a change.
        let strip = |v: &Value| {
            let mut v = v.clone();
            for c in v["conditions"].as_array_mut().into_iter().flatten() {
                if let Some(m) = c.as_object_mut() {
                    m.shift_remove("lastUpdateTime");
                }
            }
            v
        };
        if strip(&st) == strip(&before) {
            return false;
        }
        dep["status"] = st;
        true
    });
}

/// Runs the Deployment controller until shutdown; the resync notices progress deadlines.
pub async fn run(cluster: Arc<Cluster>) {
    super::queue::run(
        cluster,
        ids::DEPLOYMENTS,
        &[ids::REPLICASETS],
        Duration::from_secs(5),
        sync,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_ignores_key_order_and_uses_the_safe_alphabet() {
        let a = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": []}});
        let b = json!({"spec": {"containers": []}, "metadata": {"labels": {"b": "2", "a": "1"}}});
        let h = template_hash(&a, 0);
        assert_eq!(h, template_hash(&b, 0));
        assert_ne!(h, template_hash(&a, 1));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert!(!h.is_empty() && h.len() <= 10);
    }

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        let table = [
            (json!("25%"), 4, true, 1),
            (json!("25%"), 1, true, 1),
            (json!("25%"), 1, false, 0),
            (json!("50%"), 3, false, 1),
            (json!(2), 10, false, 2),
            (Value::Null, 8, false, 2),
        ];
        for (value, replicas, up, want) in table {
            assert_eq!(
                resolve(&value, replicas, up, 25),
                want,
                "{value} of {replicas}"
            );
        }
    }

    #[test]
    fn replicasets_carry_the_hash_and_revision() {
        let d = json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}}});
        let rs = new_replicaset(&d, "web", "uid-1", "abc", 3, 2);
        assert_eq!(rs["metadata"]["name"], "web-abc");
        assert_eq!(rs["metadata"]["annotations"][REVISION], "3");
        assert_eq!(rs["spec"]["selector"]["matchLabels"][HASH_LABEL], "abc");
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL],
            "abc"
        );
        assert_eq!(rs["metadata"]["labels"]["app"], "a");
        assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        assert_eq!(revision(&rs), 3);
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut st = json!({});
        set_condition(&mut st, "Available", "False", "X", "m");
        let t = st["conditions"][0]["lastTransitionTime"].clone();
        set_condition(&mut st, "Available", "False", "X", "m");
        assert_eq!(st["conditions"][0]["lastTransitionTime"], t);
        assert_eq!(st["conditions"].as_array().map(Vec::len), Some(1));
    }
}
