//! Namespaces: the initial namespaces, bootstrap RBAC and the `kubernetes` service; a `default`
//! ServiceAccount and the `kube-root-ca.crt` ConfigMap in every namespace; and deletion that
//! removes every object in a terminating namespace before the namespace itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

use crate::cluster::Cluster;
use crate::registry::{DeleteOptions, WriteOptions};
use crate::resources::{RESOURCES, ids};
use crate::store::EventType;

/// Creates what a fresh cluster has: namespaces, bootstrap RBAC, the `kubernetes` service.
pub fn bootstrap(cluster: &Arc<Cluster>) {
    let opts = WriteOptions::default();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if cluster.store.get(ids::NAMESPACES, "", ns).is_none() {
            let _ = cluster.create_object(
                ids::NAMESPACES,
                "",
                json!({"metadata": {"name": ns}}),
                &opts,
            );
        }
    }
    for (res, obj) in crate::rbac::bootstrap() {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if cluster.store.get(res, "", &name).is_none() {
            let _ = cluster.create_object(res, "", obj, &opts);
        }
    }
    if cluster
        .store
        .get(ids::SERVICES, "default", "kubernetes")
        .is_none()
    {
        let svc = json!({"metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                         "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
        let _ = cluster.create_object(ids::SERVICES, "default", svc, &opts);
    }
    for n in cluster.store.all(ids::NAMESPACES, None) {
        if !n.deleting {
            ensure_defaults(cluster, &n.name);
        }
    }
}

fn ensure_defaults(cluster: &Cluster, ns: &str) {
    let opts = WriteOptions::default();
    if cluster
        .store
        .get(ids::SERVICEACCOUNTS, ns, "default")
        .is_none()
    {
        let _ = cluster.create_object(
            ids::SERVICEACCOUNTS,
            ns,
            json!({"metadata": {"name": "default", "namespace": ns}}),
            &opts,
        );
    }
    if cluster
        .store
        .get(ids::CONFIGMAPS, ns, "kube-root-ca.crt")
        .is_none()
    {
        let cm = json!({"metadata": {"name": "kube-root-ca.crt", "namespace": ns, "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}}, "data": {"ca.crt": cluster.ca_pem}});
        let _ = cluster.create_object(ids::CONFIGMAPS, ns, cm, &opts);
    }
}

/// Deletes everything in a terminating namespace, then lets the namespace go.
async fn finalize(cluster: Arc<Cluster>, ns: String, uid: String) {
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        let Some(n) = cluster.store.get(ids::NAMESPACES, "", &ns) else {
            return;
        };
        if n.uid != uid {
            return;
        }
        let mut remaining = 0;
        for (res, rt) in RESOURCES.iter().enumerate() {
            if !rt.namespaced || rt.create_only {
                continue;
            }
            for o in cluster.store.all(res, Some(&ns)) {
                remaining += 1;
                if !o.deleting {
                    let _ = cluster.delete_object(res, &ns, &o.name, &DeleteOptions::default());
                }
            }
        }
        if remaining == 0 {
            cluster.modify(ids::NAMESPACES, "", &ns, |v| {
                let Some(f) = v["spec"]["finalizers"].as_array_mut() else {
                    return false;
                };
                let before = f.len();
                f.retain(|x| x != "kubernetes");
                f.len() != before
            });
            // The namespace goes once its metadata finalizers are gone too.
            if cluster
                .store
                .get(ids::NAMESPACES, "", &ns)
                .is_none_or(|o| o.uid != uid)
            {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {},
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs the namespace controller until shutdown.
pub async fn run(cluster: Arc<Cluster>) {
    let active: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let c = cluster.clone();
    super::follow(cluster, ids::NAMESPACES, move |ty, obj, _| {
        if ty == EventType::Deleted {
            active.lock().remove(&obj.uid);
            return;
        }
        if obj.deleting {
            if active.lock().insert(obj.uid.clone()) {
                let (c, ns, uid, active) =
                    (c.clone(), obj.name.clone(), obj.uid.clone(), active.clone());
                tokio::spawn(async move {
                    finalize(c, ns, uid.clone()).await;
                    active.lock().remove(&uid);
                });
            }
        } else if ty == EventType::Added {
            ensure_defaults(&c, &obj.name);
        }
    })
    .await;
}
