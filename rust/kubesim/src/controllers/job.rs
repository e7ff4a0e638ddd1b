//! The job controller: creates pods from a Job's template up to its parallelism, counts
//! succeeded and failed pods, and sets Complete or Failed (backoff limit, deadline) conditions.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::set_condition;
use crate::clock;
use crate::cluster::Cluster;
use crate::registry::{DeleteOptions, WriteOptions};
use crate::resources::ids;

fn finished(job: &Value) -> bool {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
}

fn sync(cluster: &Cluster, ns: &str, name: &str) {
    let Some(obj) = cluster.store.get(ids::JOBS, ns, name) else {
        return;
    };
    if obj.deleting {
        return;
    }
    let job = obj.value();
    let pods: Vec<Value> = cluster
        .store
        .dependents(&obj.uid)
        .into_iter()
        .filter(|d| d.res == ids::PODS)
        .map(|d| d.value())
        .collect();
    let phase = |p: &Value| {
        p["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| {
            !matches!(phase(p).as_str(), "Succeeded" | "Failed")
                && p["metadata"]["deletionTimestamp"].is_null()
        })
        .collect();
    let ready = active
        .iter()
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count();
    let succeeded = succeeded.max(job["status"]["succeeded"].as_i64().unwrap_or(0));
    let failed = failed.max(job["status"]["failed"].as_i64().unwrap_or(0));
    let spec = &job["spec"];
    let completions = spec["completions"].as_i64().unwrap_or(1);
    let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
    let backoff_limit = spec["backoffLimit"].as_i64().unwrap_or(6);
    let suspended = spec["suspend"] == true;
    let start = job["status"]["startTime"].as_str().and_then(clock::parse);
    let deadline_hit = match (spec["activeDeadlineSeconds"].as_i64(), start) {
        (Some(d), Some(s)) => (chrono::Utc::now() - s).num_seconds() >= d,
        _ => false,
    };
    let done = finished(&job);
    let mut outcome: Option<(&str, &str, &str)> = None;
    if !done {
        if succeeded >= completions {
            outcome = Some(("Complete", "", ""));
        } else if failed > backoff_limit {
            outcome = Some((
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        } else if deadline_hit {
            outcome = Some((
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ));
        }
    }
    let mut created = 0;
    if !done && outcome.is_none() && !suspended {
        let want = parallelism.min(completions - succeeded).max(0) as usize;
        for _ in active.len()..want {
            let tmpl = &spec["template"];
            let mut meta = tmpl["metadata"].clone();
            if !meta.is_object() {
                meta = json!({});
            }
            meta["generateName"] = json!(format!("{name}-"));
            meta["namespace"] = json!(ns);
            meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": obj.uid, "controller": true, "blockOwnerDeletion": true}]);
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"].clone()});
            match cluster.create_object(
                ids::PODS,
                ns,
                pod,
                &WriteOptions {
                    field_manager: Some("kube-controller-manager".into()),
                    ..Default::default()
                },
            ) {
                Ok(p) => {
                    created += 1;
                    cluster.record_event(
                        &job,
                        None,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.name),
                        ("job-controller", ""),
                    );
                }
                Err(e) => {
                    cluster.record_event(
                        &job,
                        None,
                        "Warning",
                        "FailedCreate",
                        &format!("Error creating: {}", e.message),
                        ("job-controller", ""),
                    );
                    break;
                }
            }
        }
    }
    if let Some((ty, reason, msg)) = outcome {
        for p in &active {
            let pname = p["metadata"]["name"].as_str().unwrap_or_default();
            let _ = cluster.delete_object(ids::PODS, ns, pname, &DeleteOptions::default());
        }
        if ty == "Complete" {
            cluster.record_event(
                &job,
                None,
                "Normal",
                "Completed",
                "Job completed",
                ("job-controller", ""),
            );
        } else {
            cluster.record_event(&job, None, "Warning", reason, msg, ("job-controller", ""));
        }
    }
    let terminating = pods
        .iter()
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_null())
        .count();
    cluster.modify(ids::JOBS, ns, name, |j| {
        let before = j["status"].clone();
        let st = &mut j["status"];
        if !st.is_object() {
            *st = json!({});
        }
        if st["startTime"].is_null() && !suspended {
            st["startTime"] = json!(clock::now());
        }
        let active_now = if outcome.is_some() {
            0
        } else {
            active.len() + created
        };
        for (k, v) in [
            ("active", active_now as i64),
            ("succeeded", succeeded),
            ("failed", failed),
            ("ready", if outcome.is_some() { 0 } else { ready as i64 }),
            ("terminating", terminating as i64),
        ] {
            if v > 0 || k == "ready" || k == "terminating" {
                st[k] = json!(v);
            } else if let Some(m) = st.as_object_mut() {
                m.shift_remove(k);
            }
        }
        st["uncountedTerminatedPods"] = json!({});
        if let Some((ty, reason, msg)) = outcome {
            if ty == "Complete" {
                set_condition(
                    st,
                    "SuccessCriteriaMet",
                    "True",
                    Some("CompletionsReached"),
                    Some("Reached expected number of succeeded pods"),
                );
                set_condition(
                    st,
                    "Complete",
                    "True",
                    Some("CompletionsReached"),
                    Some("Reached expected number of succeeded pods"),
                );
                st["completionTime"] = json!(clock::now());
            } else {
                set_condition(st, "FailureTarget", "True", Some(reason), Some(msg));
                set_condition(st, "Failed", "True", Some(reason), Some(msg));
            }
            if let Some(cs) = st["conditions"].as_array_mut() {
                for c in cs.iter_mut() {
                    if let Some(m) = c.as_object_mut() {
                        m.shift_remove("lastProbeTime");
                        m.insert("lastProbeTime".into(), json!(clock::now()));
                    }
                }
            }
        }
        j["status"] != before
    });
}

/// Runs the job controller until shutdown.
pub async fn run(cluster: Arc<Cluster>) {
    let dirty: Arc<Mutex<HashSet<(String, String)>>> = Arc::new(Mutex::new(HashSet::new()));
    let wake = Arc::new(Notify::new());
    {
        let (d, w) = (dirty.clone(), wake.clone());
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::JOBS,
            move |ty, obj, _| {
                if ty != crate::store::EventType::Deleted {
                    d.lock().insert(obj.key());
                    w.notify_one();
                }
            },
        ));
    }
    {
        let (d, w, c) = (dirty.clone(), wake.clone(), cluster.clone());
        tokio::spawn(super::follow(
            cluster.clone(),
            ids::PODS,
            move |_, obj, _| {
                for uid in &obj.owners {
                    if let Some(owner) = c.store.get_by_uid(uid)
                        && owner.res == ids::JOBS
                    {
                        d.lock().insert(owner.key());
                        w.notify_one();
                    }
                }
            },
        ));
    }
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = wake.notified() => {},
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                for j in cluster.store.all(ids::JOBS, None) {
                    if !finished(&j.value()) {
                        dirty.lock().insert(j.key());
                    }
                }
            },
            _ = shutdown.changed() => return,
        }
        let keys: Vec<(String, String)> = dirty.lock().drain().collect();
        for (ns, name) in keys {
            sync(&cluster, &ns, &name);
        }
    }
}
