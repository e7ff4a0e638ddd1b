//! The garbage collector: deletes objects whose owners are gone (background propagation),
//! deletes dependents before their owner under `foregroundDeletion`, and removes owner
//! references under the `orphan` finalizer.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::registry::{DeleteOptions, Propagation};
use crate::resources::{self, RESOURCES, ResId};
use crate::store::{EventType, Obj};

enum Work {
    /// An object is gone: look at its dependents (and at its owners waiting in foreground).
    Gone(Arc<Obj>),
    /// An object changed: handle its deletion finalizers and check its owners exist.
    Changed(Arc<Obj>),
}

fn finalizers(v: &Value) -> Vec<String> {
    v["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an owner reference points at an existing object; `None` for kinds kubesim does not
/// serve (never collected on their account).
fn owner_alive(cluster: &Cluster, dep: &Obj, r: &Value) -> Option<bool> {
    let res = resources::lookup_kind(
        r["apiVersion"].as_str().unwrap_or_default(),
        r["kind"].as_str().unwrap_or_default(),
    )?;
    let ns = if resources::get(res).namespaced {
        dep.ns.as_str()
    } else {
        ""
    };
    let name = r["name"].as_str().unwrap_or_default();
    Some(
        cluster
            .store
            .get(res, ns, name)
            .is_some_and(|o| Some(o.uid.as_str()) == r["uid"].as_str()),
    )
}

/// Deletes `dep` when none of its owners exist, or drops references to the ones that are gone.
fn attempt_delete(cluster: &Cluster, dep: &Arc<Obj>) {
    let v = dep.value();
    let refs = v["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if refs.is_empty() {
        return;
    }
    let states: Vec<Option<bool>> = refs.iter().map(|r| owner_alive(cluster, dep, r)).collect();
    if states.iter().any(|s| *s == Some(true) || s.is_none()) {
        if states.contains(&Some(false)) {
            let alive: Vec<Value> = refs
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s != Some(false))
                .map(|(r, _)| r.clone())
                .collect();
            cluster.modify(dep.res, &dep.ns, &dep.name, |o| {
                if o["metadata"]["uid"] != dep.uid.as_str() {
                    return false;
                }
                o["metadata"]["ownerReferences"] = json!(alive);
                true
            });
        }
        return;
    }
    if dep.deleting {
        return;
    }
    let opts = DeleteOptions {
        uid: Some(dep.uid.clone()),
        propagation: Some(Propagation::Background),
        ..Default::default()
    };
    let _ = cluster.delete_object(dep.res, &dep.ns, &dep.name, &opts);
}

fn handle_finalizers(cluster: &Cluster, obj: &Arc<Obj>) {
    if !obj.deleting {
        return;
    }
    let v = obj.value();
    let fins = finalizers(&v);
    if fins.iter().any(|f| f == "orphan") {
        for d in cluster.store.dependents(&obj.uid) {
            cluster.modify(d.res, &d.ns, &d.name, |o| {
                let Some(list) = o["metadata"]["ownerReferences"].as_array_mut() else {
                    return false;
                };
                let before = list.len();
                list.retain(|r| r["uid"] != obj.uid.as_str());
                list.len() != before
            });
        }
        remove_finalizer(cluster, obj, "orphan");
    }
    if fins.iter().any(|f| f == "foregroundDeletion") {
        let deps = cluster.store.dependents(&obj.uid);
        let mut blocking = 0;
        for d in &deps {
            let dv = d.value();
            let blocks = dv["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["uid"] == obj.uid.as_str() && r["blockOwnerDeletion"] == true);
            if blocks {
                blocking += 1;
            }
            if !d.deleting {
                let opts = DeleteOptions {
                    uid: Some(d.uid.clone()),
                    propagation: Some(Propagation::Foreground),
                    ..Default::default()
                };
                let _ = cluster.delete_object(d.res, &d.ns, &d.name, &opts);
            }
        }
        let _ = blocking;
        if deps.iter().all(|d| {
            cluster
                .store
                .get(d.res, &d.ns, &d.name)
                .is_none_or(|o| o.uid != d.uid)
        }) {
            remove_finalizer(cluster, obj, "foregroundDeletion");
        }
    }
}

fn remove_finalizer(cluster: &Cluster, obj: &Obj, name: &str) {
    cluster.modify(obj.res, &obj.ns, &obj.name, |o| {
        if o["metadata"]["uid"] != obj.uid.as_str() {
            return false;
        }
        let Some(list) = o["metadata"]["finalizers"].as_array_mut() else {
            return false;
        };
        let before = list.len();
        list.retain(|f| f != name);
        list.len() != before
    });
}

/// Runs the garbage collector until shutdown.
pub async fn run(cluster: Arc<Cluster>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Work>();
    let types: Vec<ResId> = (0..RESOURCES.len())
        .filter(|r| !RESOURCES[*r].create_only)
        .collect();
    for res in types {
        let tx = tx.clone();
        tokio::spawn(super::follow(cluster.clone(), res, move |ty, obj, _| {
            let w = if ty == EventType::Deleted {
                Work::Gone(obj.clone())
            } else {
                Work::Changed(obj.clone())
            };
            if ty == EventType::Deleted || obj.deleting || !obj.owners.is_empty() {
                let _ = tx.send(w);
            }
        }));
    }
    drop(tx);
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        let work = tokio::select! {
            w = rx.recv() => match w { Some(w) => w, None => return },
            _ = shutdown.changed() => return,
        };
        match work {
            Work::Gone(obj) => {
                for d in cluster.store.dependents(&obj.uid) {
                    attempt_delete(&cluster, &d);
                }
                for owner_uid in &obj.owners {
                    if let Some(owner) = cluster.store.get_by_uid(owner_uid)
                        && owner.deleting
                    {
                        handle_finalizers(&cluster, &owner);
                    }
                }
            }
            Work::Changed(obj) => {
                handle_finalizers(&cluster, &obj);
                if !obj.owners.is_empty() {
                    attempt_delete(&cluster, &obj);
                }
            }
        }
    }
}
