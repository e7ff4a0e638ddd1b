//! The endpoints controller: keeps an Endpoints object per selector-bearing Service with the IPs
//! of the selected pods, ready ones in `addresses` and the others in `notReadyAddresses`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::cluster::Cluster;
use crate::registry::{DeleteOptions, WriteOptions};
use crate::resources::ids;
use crate::selectors::LabelSelector;
use crate::store::EventType;

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn resolve_port(target: &Value, pod: &Value) -> Option<i64> {
    match target {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_i64())
            .or_else(|| name.parse().ok()),
        _ => None,
    }
}

/// The Endpoints subsets for a service and its pods.
pub fn subsets(svc: &Value, pods: &[Value]) -> Value {
    let publish_all = svc["spec"]["publishNotReadyAddresses"] == true;
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    let mut ports: Vec<Value> = Vec::new();
    for p in pods {
        let ip = p["status"]["podIP"].as_str().unwrap_or_default();
        let phase = p["status"]["phase"].as_str().unwrap_or_default();
        if ip.is_empty() || phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let addr = json!({"ip": ip, "nodeName": p["spec"]["nodeName"], "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"], "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}});
        if (pod_ready(p) && p["metadata"]["deletionTimestamp"].is_null()) || publish_all {
            ready.push(addr);
        } else {
            not_ready.push(addr);
        }
        if ports.is_empty() {
            for sp in svc["spec"]["ports"].as_array().into_iter().flatten() {
                let target = if sp["targetPort"].is_null() {
                    &sp["port"]
                } else {
                    &sp["targetPort"]
                };
                if let Some(port) = resolve_port(target, p) {
                    let mut e =
                        json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
                    if let Some(n) = sp["name"].as_str().filter(|n| !n.is_empty()) {
                        e["name"] = json!(n);
                    }
                    ports.push(e);
                }
            }
        }
    }
    if ready.is_empty() && not_ready.is_empty() {
        return Value::Null;
    }
    let mut subset = json!({});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    subset["ports"] = json!(ports);
    json!([subset])
}

fn sync_service(cluster: &Cluster, ns: &str, name: &str) {
    let Some(s) = cluster.store.get(ids::SERVICES, ns, name) else {
        return;
    };
    let svc = s.value();
    let Some(sel) = svc["spec"]["selector"]
        .as_object()
        .filter(|m| !m.is_empty())
    else {
        return;
    };
    let selector = LabelSelector::from_json(&json!({ "matchLabels": sel })).unwrap_or_default();
    let selected: Vec<Value> = cluster
        .store
        .list(ids::PODS, Some(ns), None, usize::MAX, |o| {
            selector.matches(&o.labels)
        })
        .0
        .iter()
        .map(|o| o.value())
        .collect();
    let subsets = subsets(&svc, &selected);
    if cluster.store.get(ids::ENDPOINTS, ns, name).is_some() {
        cluster.modify(ids::ENDPOINTS, ns, name, |e| {
            let cur = e.get("subsets").cloned().unwrap_or(Value::Null);
            if cur == subsets {
                return false;
            }
            match e.as_object_mut() {
                Some(m) if subsets.is_null() => {
                    m.shift_remove("subsets");
                }
                Some(m) => {
                    m.insert("subsets".into(), subsets.clone());
                }
                None => return false,
            }
            true
        });
        return;
    }
    let mut ep = json!({"metadata": {"name": name, "namespace": ns}});
    if let Some(labels) = svc["metadata"].get("labels").filter(|l| l.is_object()) {
        ep["metadata"]["labels"] = labels.clone();
    }
    if !subsets.is_null() {
        ep["subsets"] = subsets;
    }
    let _ = cluster.create_object(ids::ENDPOINTS, ns, ep, &WriteOptions::default());
}

/// Services with a selector, by namespace.
type Selectors = HashMap<String, Vec<(String, LabelSelector)>>;

/// Runs the endpoints controller until shutdown.
pub async fn run(cluster: Arc<Cluster>) {
    let dirty: Arc<Mutex<HashSet<(String, String)>>> = Arc::new(Mutex::new(HashSet::new()));
    let selectors: Arc<Mutex<Selectors>> = Arc::new(Mutex::new(HashMap::new()));
    let wake = Arc::new(Notify::new());
    {
        let (d, w, sels) = (dirty.clone(), wake.clone(), selectors.clone());
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::SERVICES,
            move |ty, obj, _| {
                let mut sels = sels.lock();
                let list = sels.entry(obj.ns.clone()).or_default();
                list.retain(|(n, _)| *n != obj.name);
                if ty == EventType::Deleted {
                    d.lock().remove(&obj.key());
                    return;
                }
                let v = obj.value();
                if let Some(sel) = v["spec"]["selector"].as_object().filter(|m| !m.is_empty()) {
                    list.push((
                        obj.name.clone(),
                        LabelSelector::from_json(&json!({ "matchLabels": sel }))
                            .unwrap_or_default(),
                    ));
                    d.lock().insert(obj.key());
                    w.notify_one();
                }
            },
        ));
    }
    {
        let (d, w, sels) = (dirty.clone(), wake.clone(), selectors.clone());
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::PODS,
            move |_, obj, prev| {
                let sels = sels.lock();
                let Some(list) = sels.get(&obj.ns) else {
                    return;
                };
                for (name, sel) in list {
                    if sel.matches(&obj.labels) || prev.is_some_and(|p| sel.matches(&p.labels)) {
                        d.lock().insert((obj.ns.clone(), name.clone()));
                        w.notify_one();
                    }
                }
            },
        ));
    }
    {
        let c = cluster.clone();
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::SERVICES,
            move |ty, obj, _| {
                if ty == EventType::Deleted {
                    let _ = c.delete_object(
                        ids::ENDPOINTS,
                        &obj.ns,
                        &obj.name,
                        &DeleteOptions::default(),
                    );
                }
            },
        ));
    }
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = wake.notified() => {},
            _ = shutdown.changed() => return,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let services: Vec<(String, String)> = dirty.lock().drain().collect();
        for (ns, name) in services {
            sync_service(&cluster, &ns, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_not_ready_addresses() {
        let svc = json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]}});
        let ready = json!({"metadata": {"name": "a", "namespace": "n", "uid": "1"}, "spec": {"nodeName": "x", "containers": [{"ports": [{"name": "web", "containerPort": 8080}]}]}, "status": {"podIP": "10.0.0.1", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let waiting = json!({"metadata": {"name": "b", "namespace": "n", "uid": "2"}, "spec": {}, "status": {"podIP": "10.0.0.2", "phase": "Pending"}});
        let s = subsets(&svc, &[ready, waiting]);
        assert_eq!(s[0]["addresses"][0]["ip"], "10.0.0.1");
        assert_eq!(s[0]["notReadyAddresses"][0]["ip"], "10.0.0.2");
        assert_eq!(s[0]["ports"][0]["port"], 8080);
        assert_eq!(subsets(&svc, &[]), Value::Null);
    }
}
