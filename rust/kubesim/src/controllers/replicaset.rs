//! The ReplicaSet controller: keeps `spec.replicas` live pods from the template, owned by the
//! ReplicaSet, deleting the least useful extras first, and reports replicas, ready and available
//! counts in the status, as kube-controller-manager's replicaset controller does.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock;
use crate::cluster::Cluster;
use crate::registry::{DeleteOptions, WriteOptions};
use crate::resources::ids;

/// Whether a pod still counts toward its ReplicaSet: not terminal and not being deleted.
pub fn active(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    phase != "Succeeded" && phase != "Failed" && pod["metadata"]["deletionTimestamp"].is_null()
}

/// When the pod's Ready condition became true, if it is.
fn ready_since(pod: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .map(|c| {
            c["lastTransitionTime"]
                .as_str()
                .and_then(clock::parse)
                .unwrap_or_else(chrono::Utc::now)
        })
}

/// Whether a pod is available: ready for at least `min_ready` seconds.
pub fn available(pod: &Value, min_ready: i64) -> bool {
    ready_since(pod).is_some_and(|t| (chrono::Utc::now() - t).num_seconds() >= min_ready)
}

/// The order in which extras are deleted: unscheduled, pending, not ready, then newest first.
fn deletion_rank(pod: &Value) -> (u8, u8, u8, std::cmp::Reverse<String>) {
    let scheduled = !pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .is_empty();
    let running = pod["status"]["phase"] == "Running";
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (
        u8::from(scheduled),
        u8::from(running),
        u8::from(ready_since(pod).is_some()),
        std::cmp::Reverse(created),
    )
}

/// The pod a ReplicaSet creates from its template.
pub fn pod_from_template(rs: &Value, name: &str, uid: &str, ns: &str) -> Value {
    let tmpl = &rs["spec"]["template"];
    let mut meta = tmpl["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    meta["generateName"] = json!(format!("{name}-"));
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
        "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"].clone()})
}

fn sync(cluster: &Cluster, ns: &str, name: &str) {
    let Some(obj) = cluster.store.get(ids::REPLICASETS, ns, name) else {
        return;
    };
    if obj.deleting {
        return;
    }
    let rs = obj.value();
    let want = rs["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let min_ready = rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let mut pods: Vec<Value> = cluster
        .store
        .dependents(&obj.uid)
        .into_iter()
        .filter(|d| d.res == ids::PODS)
        .map(|d| d.value())
        .filter(active)
        .collect();
    let component = ("replicaset-controller", "");
    if pods.len() < want {
        for _ in pods.len()..want {
            let pod = pod_from_template(&rs, name, &obj.uid, ns);
            let opts = WriteOptions {
                field_manager: Some("kube-controller-manager".into()),
                ..Default::default()
            };
            match cluster.create_object(ids::PODS, ns, pod, &opts) {
                Ok(p) => {
                    cluster.record_event(
                        &rs,
                        None,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.name),
                        component,
                    );
                    pods.push(p.value());
                }
                Err(e) => {
                    cluster.record_event(
                        &rs,
                        None,
                        "Warning",
                        "FailedCreate",
                        &format!("Error creating: {}", e.message),
                        component,
                    );
                    break;
                }
            }
        }
    } else if pods.len() > want {
        pods.sort_by_key(deletion_rank);
        let extra: Vec<Value> = pods.drain(..pods.len() - want).collect();
        for p in extra {
            let pname = p["metadata"]["name"].as_str().unwrap_or_default();
            if cluster
                .delete_object(ids::PODS, ns, pname, &DeleteOptions::default())
                .is_ok()
            {
                cluster.record_event(
                    &rs,
                    None,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pname}"),
                    component,
                );
            }
        }
    }
    let ready = pods.iter().filter(|p| ready_since(p).is_some()).count();
    let avail = pods.iter().filter(|p| available(p, min_ready)).count();
    let generation = rs["metadata"]["generation"].clone();
    cluster.modify(ids::REPLICASETS, ns, name, |r| {
        let before = r["status"].clone();
        let mut st = json!({"replicas": pods.len(), "fullyLabeledReplicas": pods.len()});
        // Zero counts are omitted, as the API's omitempty fields are.
        for (k, v) in [("readyReplicas", ready), ("availableReplicas", avail)] {
            if v > 0 {
                st[k] = json!(v);
            }
        }
        st["observedGeneration"] = generation.clone();
        if let Some(conds) = before.get("conditions") {
            st["conditions"] = conds.clone();
        }
        r["status"] = st;
        r["status"] != before
    });
}

/// Runs the ReplicaSet controller until shutdown. The resync catches pods that become
/// available `minReadySeconds` after they became ready.
pub async fn run(cluster: Arc<Cluster>) {
    super::queue::run(
        cluster,
        ids::REPLICASETS,
        &[ids::PODS],
        Duration::from_secs(2),
        sync,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_go_unscheduled_then_pending_then_unready_first() {
        let pod = |name: &str, node: &str, phase: &str, ready: bool| {
            json!({"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
                   "spec": {"nodeName": node},
                   "status": {"phase": phase, "conditions": [{"type": "Ready",
                       "status": if ready { "True" } else { "False" }}]}})
        };
        let mut pods = [
            pod("ready", "n", "Running", true),
            pod("unready", "n", "Running", false),
            pod("pending", "n", "Pending", false),
            pod("unscheduled", "", "Pending", false),
        ];
        pods.sort_by_key(deletion_rank);
        let order: Vec<&str> = pods
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(order, ["unscheduled", "pending", "unready", "ready"]);
    }

    #[test]
    fn pods_are_owned_by_their_replicaset() {
        let rs = json!({"spec": {"template": {"metadata": {"labels": {"app": "a"}},
                                               "spec": {"containers": [{"name": "c"}]}}}});
        let pod = pod_from_template(&rs, "web-5d8f", "uid-1", "ns");
        assert_eq!(pod["metadata"]["generateName"], "web-5d8f-");
        assert_eq!(pod["metadata"]["labels"]["app"], "a");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(active(&pod));
        assert!(!available(&pod, 0));
    }
}
