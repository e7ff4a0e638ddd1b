//! The scheduler: binds pending pods to a node with room for their cpu and memory requests that
//! matches their nodeSelector and whose taints they tolerate; otherwise marks them
//! Unschedulable with kube-scheduler's message and a FailedScheduling event.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::set_condition;
use crate::cluster::Cluster;
use crate::quantity;
use crate::resources::ids;
use crate::store::{EventType, Obj};

#[derive(Default)]
struct State {
    /// pod uid → (node, cpu, memory) for bound, non-terminal pods.
    placed: HashMap<String, (String, f64, f64)>,
    /// node → (cpu, memory, pods) in use, the sums of `placed`.
    used: HashMap<String, (f64, f64, f64)>,
    /// Parsed nodes by name, with the resourceVersion they were parsed at.
    nodes: HashMap<String, (u64, Arc<Value>)>,
    /// (ns, name) → uid of pods waiting for a node.
    pending: BTreeMap<(String, String), String>,
    /// Last unschedulable message per pending pod uid.
    reported: HashMap<String, String>,
}

impl State {
    fn place(&mut self, uid: &str, node: &str, cpu: f64, mem: f64) {
        if self.placed.contains_key(uid) {
            return;
        }
        self.placed
            .insert(uid.to_string(), (node.to_string(), cpu, mem));
        let u = self.used.entry(node.to_string()).or_default();
        u.0 += cpu;
        u.1 += mem;
        u.2 += 1.0;
    }

    fn unplace(&mut self, uid: &str) -> bool {
        let Some((node, cpu, mem)) = self.placed.remove(uid) else {
            return false;
        };
        if let Some(u) = self.used.get_mut(&node) {
            u.0 -= cpu;
            u.1 -= mem;
            u.2 -= 1.0;
        }
        true
    }
}

/// The cpu and memory a pod requests (sum of containers, or the largest init container).
pub fn pod_requests(pod: &Value) -> (f64, f64) {
    let sum = |list: &str| -> (f64, f64, f64, f64) {
        let mut cpu = 0.0;
        let mut mem = 0.0;
        let mut max_cpu: f64 = 0.0;
        let mut max_mem: f64 = 0.0;
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let r = &c["resources"]["requests"];
            let cc = quantity::parse_value(&r["cpu"]).unwrap_or(0.0);
            let mm = quantity::parse_value(&r["memory"]).unwrap_or(0.0);
            cpu += cc;
            mem += mm;
            max_cpu = max_cpu.max(cc);
            max_mem = max_mem.max(mm);
        }
        (cpu, mem, max_cpu, max_mem)
    };
    let (cpu, mem, _, _) = sum("containers");
    let (_, _, icpu, imem) = sum("initContainers");
    (cpu.max(icpu), mem.max(imem))
}

fn terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

fn tolerates(pod: &Value, taint: &Value) -> bool {
    pod["spec"]["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            let key_ok = t["key"].as_str().unwrap_or_default().is_empty()
                && t["operator"] == "Exists"
                || t["key"] == taint["key"];
            let op_ok = t["operator"] == "Exists"
                || t["value"].as_str().unwrap_or_default()
                    == taint["value"].as_str().unwrap_or_default();
            let effect_ok = t["effect"].as_str().unwrap_or_default().is_empty()
                || t["effect"] == taint["effect"];
            key_ok && op_ok && effect_ok
        })
}

/// Binds a pod to a node: spec.nodeName, PodScheduled=True and a Scheduled event.
pub fn bind(cluster: &Cluster, ns: &str, name: &str, node: &str) -> bool {
    let bound = cluster.modify(ids::PODS, ns, name, |p| {
        if !p["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
            || !p["metadata"]["deletionTimestamp"].is_null()
        {
            return false;
        }
        p["spec"]["nodeName"] = json!(node);
        set_condition(&mut p["status"], "PodScheduled", "True", None, None);
        if let Some(c) = p["status"]["conditions"].as_array_mut() {
            for c in c.iter_mut().filter(|c| c["type"] == "PodScheduled") {
                if let Some(m) = c.as_object_mut() {
                    m.shift_remove("reason");
                    m.shift_remove("message");
                }
            }
        }
        true
    });
    if let Some(obj) = &bound {
        cluster.record_event(
            &obj.reference(),
            None,
            "Normal",
            "Scheduled",
            &format!("Successfully assigned {ns}/{name} to {node}"),
            ("default-scheduler", ""),
        );
    }
    bound.is_some()
}

fn try_schedule(cluster: &Cluster, state: &Mutex<State>, pod: &Value) -> Result<String, String> {
    let (cpu, mem) = pod_requests(pod);
    let nodes = cluster.store.all(ids::NODES, None);
    let total = nodes.len();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut st = state.lock();
    let mut best: Option<(String, f64)> = None;
    for n in nodes {
        let nv = match st.nodes.get(&n.name) {
            Some((rv, v)) if *rv == n.rv => v.clone(),
            _ => {
                let v = Arc::new(n.value());
                st.nodes.insert(n.name.clone(), (n.rv, v.clone()));
                v
            }
        };
        let mut why: Option<String> = None;
        if nv["spec"]["unschedulable"] == true {
            why = Some("node(s) were unschedulable".into());
        }
        if why.is_none()
            && let Some(sel) = pod["spec"]["nodeSelector"].as_object()
            && !sel.iter().all(|(k, v)| nv["metadata"]["labels"][k] == *v)
        {
            why = Some("node(s) didn't match Pod's node affinity/selector".into());
        }
        if why.is_none() {
            for t in nv["spec"]["taints"].as_array().into_iter().flatten() {
                let eff = t["effect"].as_str().unwrap_or_default();
                if (eff == "NoSchedule" || eff == "NoExecute") && !tolerates(pod, t) {
                    let key = t["key"].as_str().unwrap_or_default();
                    let val = t["value"].as_str().unwrap_or_default();
                    why = Some(if val.is_empty() {
                        format!("node(s) had untolerated taint {{{key}: }}")
                    } else {
                        format!("node(s) had untolerated taint {{{key}: {val}}}")
                    });
                    break;
                }
            }
        }
        if why.is_none() {
            let alloc = &nv["status"]["allocatable"];
            let acpu = quantity::parse_value(&alloc["cpu"]).unwrap_or(0.0);
            let amem = quantity::parse_value(&alloc["memory"]).unwrap_or(0.0);
            let apods = quantity::parse_value(&alloc["pods"]).unwrap_or(110.0);
            let (ucpu, umem, upods) = st.used.get(&n.name).copied().unwrap_or_default();
            let mut insufficient = Vec::new();
            if upods + 1.0 > apods {
                insufficient.push("Too many pods");
            }
            if ucpu + cpu > acpu + 1e-9 {
                insufficient.push("Insufficient cpu");
            }
            if umem + mem > amem + 0.5 {
                insufficient.push("Insufficient memory");
            }
            if insufficient.is_empty() {
                let free =
                    (acpu - ucpu - cpu) / acpu.max(1e-9) + (amem - umem - mem) / amem.max(1.0);
                if best.as_ref().is_none_or(|(_, f)| free > *f) {
                    best = Some((n.name.clone(), free));
                }
                continue;
            }
            for r in insufficient {
                *reasons.entry(r.to_string()).or_default() += 1;
            }
            continue;
        }
        if let Some(w) = why {
            *reasons.entry(w).or_default() += 1;
        }
    }
    if let Some((node, _)) = best {
        return Ok(node);
    }
    let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    Err(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} No preemption victims found for incoming pod.",
        parts.join(", ")
    ))
}

fn observe(state: &Mutex<State>, ty: EventType, obj: &Arc<Obj>) -> bool {
    let mut st = state.lock();
    let key = obj.key();
    if ty == EventType::Deleted {
        let freed = st.unplace(&obj.uid);
        st.pending.remove(&key);
        st.reported.remove(&obj.uid);
        return freed;
    }
    let node = obj.field("spec.nodeName");
    let phase = obj.field("status.phase");
    if node.is_empty() {
        if !obj.deleting && !matches!(phase.as_str(), "Succeeded" | "Failed") {
            st.pending.insert(key, obj.uid.clone());
            return true;
        }
        st.pending.remove(&key);
        return false;
    }
    st.pending.remove(&key);
    if matches!(phase.as_str(), "Succeeded" | "Failed") {
        return st.unplace(&obj.uid);
    }
    if !st.placed.contains_key(&obj.uid) {
        let v = obj.value();
        if !terminal(&v) {
            let (c, m) = pod_requests(&v);
            st.place(&obj.uid, &node, c, m);
        }
    }
    false
}

/// Runs the scheduler until shutdown.
pub async fn run(cluster: Arc<Cluster>) {
    let state = Arc::new(Mutex::new(State::default()));
    let wake = Arc::new(Notify::new());
    {
        let (state, wake) = (state.clone(), wake.clone());
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::PODS,
            move |ty, obj, _| {
                if observe(&state, ty, obj) {
                    wake.notify_one();
                }
            },
        ));
    }
    {
        let wake = wake.clone();
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::NODES,
            move |_, _, _| wake.notify_one(),
        ));
    }
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = wake.notified() => {},
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            _ = shutdown.changed() => return,
        }
        let pending: Vec<((String, String), String)> = state
            .lock()
            .pending
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((ns, name), uid) in pending {
            let Some(obj) = cluster.store.get(ids::PODS, &ns, &name) else {
                continue;
            };
            if obj.uid != uid || !obj.field("spec.nodeName").is_empty() {
                continue;
            }
            let pod = obj.value();
            let scheduler = pod["spec"]["schedulerName"]
                .as_str()
                .unwrap_or("default-scheduler");
            if scheduler != "default-scheduler"
                || pod["spec"]["schedulingGates"]
                    .as_array()
                    .is_some_and(|g| !g.is_empty())
            {
                continue;
            }
            match try_schedule(&cluster, &state, &pod) {
                Ok(node) => {
                    let (c, m) = pod_requests(&pod);
                    {
                        let mut st = state.lock();
                        st.place(&uid, &node, c, m);
                        st.pending.remove(&(ns.clone(), name.clone()));
                        st.reported.remove(&uid);
                    }
                    if !bind(&cluster, &ns, &name, &node) {
                        state.lock().unplace(&uid);
                    }
                }
                Err(msg) => {
                    let first = state
                        .lock()
                        .reported
                        .insert(uid.clone(), msg.clone())
                        .as_deref()
                        != Some(msg.as_str());
                    if first {
                        cluster.modify(ids::PODS, &ns, &name, |p| {
                            set_condition(
                                &mut p["status"],
                                "PodScheduled",
                                "False",
                                Some("Unschedulable"),
                                Some(&msg),
                            )
                        });
                        cluster.record_event(
                            &pod,
                            None,
                            "Warning",
                            "FailedScheduling",
                            &msg,
                            ("default-scheduler", ""),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_sum_containers_and_take_largest_init() {
        let pod = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}, {"resources": {"requests": {"cpu": "1"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "4"}}}],
        }});
        assert_eq!(pod_requests(&pod), (4.0, 1073741824.0));
    }

    #[test]
    fn tolerations_match_taints() {
        let taint = json!({"key": "dedicated", "value": "spark", "effect": "NoSchedule"});
        assert!(tolerates(
            &json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoSchedule"}]}}),
            &taint
        ));
        assert!(tolerates(
            &json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "other"}]}}),
            &taint
        ));
        assert!(!tolerates(&json!({"spec": {}}), &taint));
    }
}
