//! The control loops: scheduler, kubelet, garbage collector, namespace lifecycle (with default
//! service accounts), endpoints, jobs, nodes and resource quota usage. Each reacts to store
//! events for the types it follows and writes through the registry, as a controller writes
//! through the API. Deployments and ReplicaSets ([`deployment`], [`replicaset`]) share a keyed work queue
//! ([`queue`]).

pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod kubelet;
pub mod namespace;
pub mod node;
pub mod queue;
pub mod quota;
pub mod replicaset;
pub mod scheduler;

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::clock;
use crate::cluster::Cluster;
use crate::resources::ResId;
use crate::runtime::Runtime;
use crate::store::{EventType, Obj};

/// Sets a condition in `status.conditions`, keeping `lastTransitionTime` when the status does
/// not change. Returns whether anything changed.
pub fn set_condition(
    status: &mut Value,
    ty: &str,
    value: &str,
    reason: Option<&str>,
    message: Option<&str>,
) -> bool {
    if !status.is_object() {
        *status = json!({});
    }
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(conds) = status["conditions"].as_array_mut() else {
        return false;
    };
    let now = clock::now();
    let mut fresh =
        json!({"type": ty, "status": value, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        fresh["reason"] = json!(r);
    }
    if let Some(m) = message {
        fresh["message"] = json!(m);
    }
    match conds.iter_mut().find(|c| c["type"] == ty) {
        Some(c) => {
            if c["status"] == value {
                fresh["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
            if c["lastProbeTime"].is_null()
                && c.get("lastProbeTime").is_none()
                && let Some(m) = fresh.as_object_mut()
            {
                m.shift_remove("lastProbeTime");
            }
            if *c == fresh {
                return false;
            }
            *c = fresh;
            true
        }
        None => {
            conds.push(fresh);
            true
        }
    }
}

/// Runs `f` for every current object of `res` (as Added) and then for every change, until
/// shutdown. Resynchronizes from the current objects when it falls behind.
pub async fn follow(
    cluster: Arc<Cluster>,
    res: ResId,
    mut f: impl FnMut(EventType, &Arc<Obj>, Option<&Arc<Obj>>),
) {
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        let Ok(start) = cluster.store.watch(res, None, None) else {
            return;
        };
        for o in &start.initial {
            f(EventType::Added, o, None);
        }
        let mut rx = start.rx;
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(ev) => f(ev.ty, &ev.obj, ev.prev.as_ref()),
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Starts every controller.
pub fn start_all(cluster: &Arc<Cluster>, runtime: Arc<dyn Runtime>) {
    node::ensure_nodes(cluster, runtime.name());
    namespace::bootstrap(cluster);
    tokio::spawn(namespace::run(cluster.clone()));
    tokio::spawn(scheduler::run(cluster.clone()));
    tokio::spawn(kubelet::run(cluster.clone(), runtime));
    tokio::spawn(gc::run(cluster.clone()));
    tokio::spawn(endpoints::run(cluster.clone()));
    tokio::spawn(job::run(cluster.clone()));
    tokio::spawn(quota::run(cluster.clone()));
    tokio::spawn(deployment::run(cluster.clone()));
    tokio::spawn(replicaset::run(cluster.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_transition_time_when_unchanged() {
        let mut st = json!({});
        assert!(set_condition(&mut st, "Ready", "False", Some("X"), None));
        let t = st["conditions"][0]["lastTransitionTime"].clone();
        assert!(!set_condition(&mut st, "Ready", "False", Some("X"), None));
        assert!(set_condition(&mut st, "Ready", "True", None, None));
        assert_eq!(st["conditions"].as_array().map(Vec::len), Some(1));
        assert_eq!(st["conditions"][0]["status"], "True");
        let _ = t;
    }
}
