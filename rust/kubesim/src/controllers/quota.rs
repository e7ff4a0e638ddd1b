//! The resource quota controller: keeps each ResourceQuota's `status.hard` and `status.used`
//! current as pods come, finish and go, as kube-controller-manager's does, so that
//! `kubectl describe quota` and a preflight read what admission counts.

use std::sync::Arc;

use crate::cluster::Cluster;
use crate::registry::quota;
use crate::resources::ids;

/// Writes the status of every quota of `ns` that is not current.
pub fn sync_namespace(cluster: &Cluster, ns: &str) {
    for q in cluster.store.all(ids::RESOURCEQUOTAS, Some(ns)) {
        cluster.modify(ids::RESOURCEQUOTAS, ns, &q.name, |v| {
            let status = quota::status(&cluster.store, ns, v);
            if v["status"] == status {
                return false;
            }
            v["status"] = status;
            true
        });
    }
}

/// Follows pods and quotas until shutdown.
pub async fn run(cluster: Arc<Cluster>) {
    let c = cluster.clone();
    tokio::spawn(async move {
        let inner = c.clone();
        crate::controllers::follow(c, ids::PODS, move |_, pod, _| {
            sync_namespace(&inner, &pod.ns);
        })
        .await;
    });
    let inner = cluster.clone();
    crate::controllers::follow(cluster, ids::RESOURCEQUOTAS, move |_, q, _| {
        sync_namespace(&inner, &q.ns);
    })
    .await;
}
