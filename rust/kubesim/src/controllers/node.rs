//! Nodes: created at start from the options, and the node failure switch that leaves a node's
//! pods `Unknown` (as when a kubelet stops reporting) until the node recovers.

use std::sync::Arc;

use serde_json::{Value, json};

use super::set_condition;
use crate::cluster::Cluster;
use crate::registry::WriteOptions;
use crate::resources::ids;

/// The node names kubesim runs.
pub fn node_names(cluster: &Cluster) -> Vec<String> {
    (1..=cluster.opts.nodes.max(1))
        .map(|i| format!("kubesim-node-{i}"))
        .collect()
}

/// Whether a node is marked failed.
pub fn is_failed(cluster: &Cluster, node: &str) -> bool {
    cluster.store.get(ids::NODES, "", node).is_some_and(|n| {
        let v = n.value();
        v["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
    })
}

fn node_object(name: &str, index: usize, cluster: &Cluster, runtime: &str) -> Value {
    let now = crate::clock::now();
    let cond = |ty: &str, status: &str, reason: &str, msg: &str| json!({"type": ty, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": reason, "message": msg});
    let res = json!({
        "cpu": cluster.opts.node_cpu,
        "memory": cluster.opts.node_memory,
        "pods": cluster.opts.node_pods.to_string(),
        "ephemeral-storage": "100Gi",
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        }},
        "spec": {"podCIDR": format!("10.244.{index}.0/24"), "podCIDRs": [format!("10.244.{index}.0/24")]},
        "status": {
            "capacity": res,
            "allocatable": res,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", index + 2)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": format!("{index:032x}"),
                "systemUUID": format!("00000000-0000-0000-0000-{index:012x}"),
                "bootID": uuid::Uuid::new_v4().to_string(),
                "kernelVersion": "6.1.0",
                "osImage": "kubesim",
                "containerRuntimeVersion": runtime,
                "kubeletVersion": format!("v1.{}.0-kubesim", crate::api::discovery::MINOR),
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    })
}

/// Creates the configured nodes that do not exist yet.
pub fn ensure_nodes(cluster: &Arc<Cluster>, runtime: &str) {
    for (i, name) in node_names(cluster).iter().enumerate() {
        if cluster.store.get(ids::NODES, "", name).is_none() {
            let _ = cluster.create_object(
                ids::NODES,
                "",
                node_object(name, i + 1, cluster, runtime),
                &WriteOptions::default(),
            );
        }
    }
}

/// Marks a node as unreachable: Ready=Unknown, unreachable taints, its pods Unknown.
pub fn fail(cluster: &Arc<Cluster>, node: &str) {
    cluster.modify(ids::NODES, "", node, |n| {
        let mut changed = false;
        for ty in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
            changed |= set_condition(&mut n["status"], ty, "Unknown", Some("NodeStatusUnknown"), Some("Kubelet stopped posting node status."));
        }
        n["spec"]["taints"] = json!([
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": crate::clock::now()},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": crate::clock::now()},
        ]);
        let _ = changed;
        true
    });
    for p in cluster
        .store
        .list(ids::PODS, None, None, usize::MAX, |o| {
            o.field("spec.nodeName") == node
        })
        .0
    {
        cluster.modify(ids::PODS, &p.ns, &p.name, |pod| {
            let phase = pod["status"]["phase"].as_str().unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                return false;
            }
            pod["status"]["phase"] = json!("Unknown");
            pod["status"]["reason"] = json!("NodeLost");
            pod["status"]["message"] = json!(format!(
                "Node {node} which was running pod {} is unresponsive",
                p.name
            ));
            set_condition(&mut pod["status"], "Ready", "False", Some("NodeLost"), None);
            true
        });
    }
}

/// Brings a failed node back; its kubelet reports its pods again.
pub fn recover(cluster: &Arc<Cluster>, node: &str) {
    cluster.modify(ids::NODES, "", node, |n| {
        set_condition(
            &mut n["status"],
            "Ready",
            "True",
            Some("KubeletReady"),
            Some("kubelet is posting ready status"),
        );
        set_condition(
            &mut n["status"],
            "MemoryPressure",
            "False",
            Some("KubeletHasSufficientMemory"),
            Some("kubelet has sufficient memory available"),
        );
        set_condition(
            &mut n["status"],
            "DiskPressure",
            "False",
            Some("KubeletHasNoDiskPressure"),
            Some("kubelet has no disk pressure"),
        );
        set_condition(
            &mut n["status"],
            "PIDPressure",
            "False",
            Some("KubeletHasSufficientPID"),
            Some("kubelet has sufficient PID available"),
        );
        if let Some(m) = n["spec"].as_object_mut() {
            m.shift_remove("taints");
        }
        true
    });
    cluster.recovered_nodes.send_modify(|n| *n += 1);
}
