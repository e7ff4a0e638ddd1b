//! Pod admission by LimitRange and ResourceQuota, as kube-apiserver's `LimitRanger` and
//! `ResourceQuota` admission plugins do it: LimitRange defaults fill a container's missing
//! requests and limits and its `min`/`max` refuse the pod; a quota refuses a pod whose usage
//! would pass `spec.hard` with the API's own 403 "exceeded quota" message. Both run on dry runs
//! too (nothing is stored then), which is what a preflight asks. The quota controller keeps
//! `status.hard` and `status.used` (see [`usage`]).

use std::collections::BTreeMap;

use parking_lot::{Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::api::status::{ApiError, Result};
use crate::quantity;
use crate::resources::ids;
use crate::store::{Obj, Store};

/// Serializes pod admission against quota with the create that follows it, so that two pods
/// created at once cannot both take the last room (kube-apiserver gets the same from its
/// compare-and-swap on the quota's `status.used`).
static ADMISSION: Mutex<()> = Mutex::new(());

/// Holds pod admission until the guard drops (see [`ADMISSION`]).
pub fn admission_lock() -> MutexGuard<'static, ()> {
    ADMISSION.lock()
}

/// The compute resources a quota and a limit range know.
const COMPUTE: [&str; 2] = ["cpu", "memory"];

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    pod["spec"]["containers"].as_array().into_iter().flatten()
}

fn amount(c: &Value, kind: &str, res: &str) -> Option<f64> {
    quantity::parse_value(&c["resources"][kind][res])
}

/// Formats an amount as kube-apiserver prints it: cpu in cores or millicores, memory in the
/// largest binary unit that divides it.
pub fn format(res: &str, v: f64) -> String {
    if res.ends_with("cpu") {
        let milli = (v * 1000.0).round() as i64;
        return if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
    }
    if !res.ends_with("memory") && !res.ends_with("storage") {
        return (v.round() as i64).to_string();
    }
    let bytes = v.round() as i64;
    for (suffix, unit) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// Fills each container's missing requests and limits from the namespace's LimitRanges (type
/// `Container`: `default` for limits, `defaultRequest` for requests), then refuses the pod when
/// a container or the whole pod falls outside a range's `min`/`max`.
pub fn apply_limit_ranges(store: &Store, ns: &str, name: &str, pod: &mut Value) -> Result<()> {
    let ranges: Vec<_> = store.all(ids::LIMITRANGES, Some(ns));
    if ranges.is_empty() {
        return Ok(());
    }
    let limits: Vec<Value> = ranges
        .iter()
        .flat_map(|r| {
            r.value()["spec"]["limits"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    for c in pod["spec"]["containers"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .filter(|c| c.is_object())
    {
        for l in limits.iter().filter(|l| l["type"] == "Container") {
            for res in COMPUTE {
                let r = &mut c["resources"];
                if !r.is_object() {
                    *r = json!({});
                }
                // kube-apiserver defaults requests from limits before admission runs.
                if r["requests"][res].is_null() && !r["limits"][res].is_null() {
                    let lim = r["limits"][res].clone();
                    set(r, "requests", res, lim);
                }
                if r["limits"][res].is_null() && !l["default"][res].is_null() {
                    set(r, "limits", res, l["default"][res].clone());
                }
                let request = if l["defaultRequest"][res].is_null() {
                    &l["default"][res]
                } else {
                    &l["defaultRequest"][res]
                };
                if r["requests"][res].is_null() && !request.is_null() {
                    set(r, "requests", res, request.clone());
                }
            }
        }
    }
    let forbidden =
        |why: String| ApiError::forbidden(format!("pods \"{name}\" is forbidden: {why}"), None);
    for l in &limits {
        let scope = l["type"].as_str().unwrap_or_default();
        for res in COMPUTE {
            let min = quantity::parse_value(&l["min"][res]);
            let max = quantity::parse_value(&l["max"][res]);
            let checks: Vec<(Option<f64>, Option<f64>)> = match scope {
                "Container" => containers(pod)
                    .map(|c| (amount(c, "requests", res), amount(c, "limits", res)))
                    .collect(),
                "Pod" => vec![(
                    Some(
                        containers(pod)
                            .filter_map(|c| amount(c, "requests", res))
                            .sum(),
                    ),
                    Some(
                        containers(pod)
                            .filter_map(|c| amount(c, "limits", res))
                            .sum(),
                    ),
                )],
                _ => continue,
            };
            for (request, limit) in checks {
                if let (Some(min), Some(request)) = (min, request)
                    && request < min
                {
                    return Err(forbidden(format!(
                        "minimum {res} usage per {scope} is {}, but request is {}",
                        format(res, min),
                        format(res, request)
                    )));
                }
                if let Some(max) = max {
                    match limit {
                        Some(limit) if limit > max => {
                            return Err(forbidden(format!(
                                "maximum {res} usage per {scope} is {}, but limit is {}",
                                format(res, max),
                                format(res, limit)
                            )));
                        }
                        None => {
                            return Err(forbidden(format!(
                                "maximum {res} usage per {scope} is {}.  No limit is specified",
                                format(res, max)
                            )));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    Ok(())
}

fn set(r: &mut Value, kind: &str, res: &str, v: Value) {
    if !r[kind].is_object() {
        r[kind] = json!({});
    }
    r[kind][res] = v;
}

/// Whether a pod counts against quota: kube-apiserver stops charging terminal pods.
fn charged(pod: &Value) -> bool {
    !matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// What one pod charges to a quota: `pods`, and cpu and memory requests (also as bare `cpu`
/// and `memory`) and limits, summed over its containers.
pub fn usage(pod: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    out.insert("pods".to_string(), 1.0);
    out.insert("count/pods".to_string(), 1.0);
    for res in COMPUTE {
        let requests: f64 = containers(pod)
            .filter_map(|c| amount(c, "requests", res))
            .sum();
        let limits: f64 = containers(pod)
            .filter_map(|c| amount(c, "limits", res))
            .sum();
        out.insert(res.to_string(), requests);
        out.insert(format!("requests.{res}"), requests);
        out.insert(format!("limits.{res}"), limits);
    }
    out
}

fn hard(quota: &Value) -> BTreeMap<String, f64> {
    quota["spec"]["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), quantity::parse_value(v)?)))
        .collect()
}

/// What the charged pods of `ns` use, except the pod named `except` (the one being admitted,
/// when it replaces itself).
fn used(store: &Store, ns: &str, except: Option<&str>) -> BTreeMap<String, f64> {
    let mut total = BTreeMap::new();
    for p in store.all(ids::PODS, Some(ns)) {
        if Some(p.name.as_str()) == except {
            continue;
        }
        let v = p.value();
        if !charged(&v) {
            continue;
        }
        for (k, n) in usage(&v) {
            *total.entry(k).or_insert(0.0) += n;
        }
    }
    total
}

fn join(keys: &[&String], values: &BTreeMap<String, f64>) -> String {
    keys.iter()
        .map(|k| format!("{k}={}", format(k, values.get(*k).copied().unwrap_or(0.0))))
        .collect::<Vec<_>>()
        .join(",")
}

/// Refuses a new pod that a quota of its namespace cannot hold, with kube-apiserver's message:
/// `pods "x" is forbidden: exceeded quota: compute, requested: requests.cpu=4, used:
/// requests.cpu=8, limited: requests.cpu=10`; or one that leaves a quota'd resource unset
/// (`failed quota: compute: must specify limits.cpu for: c`).
pub fn admit_pod(store: &Store, ns: &str, name: &str, pod: &Value) -> Result<()> {
    let mut quotas: Vec<std::sync::Arc<Obj>> = store.all(ids::RESOURCEQUOTAS, Some(ns));
    if quotas.is_empty() {
        return Ok(());
    }
    quotas.sort_by(|a, b| a.name.cmp(&b.name));
    let forbidden = |why: String| {
        ApiError::forbidden(
            format!("pods \"{name}\" is forbidden: {why}"),
            Some(json!({"name": name, "kind": "pods"})),
        )
    };
    let wanted = usage(pod);
    let used = used(store, ns, Some(name));
    for q in &quotas {
        let hard = hard(&q.value());
        let mut missing = Vec::new();
        for k in hard.keys() {
            let Some((kind, res)) = k
                .split_once('.')
                .filter(|(kind, res)| {
                    // Only cpu and memory must be set once a quota limits them, as in
                    // kube-apiserver; extended resources need not be.
                    matches!(*kind, "requests" | "limits") && COMPUTE.contains(res)
                })
                .or_else(|| {
                    COMPUTE
                        .contains(&k.as_str())
                        .then_some(("requests", k.as_str()))
                })
            else {
                continue;
            };
            let lacking: Vec<&str> = containers(pod)
                .filter(|c| c["resources"][kind][res].is_null())
                .filter_map(|c| c["name"].as_str())
                .collect();
            if !lacking.is_empty() {
                missing.push(format!("{kind}.{res} for: {}", lacking.join(",")));
            }
        }
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            return Err(forbidden(format!(
                "failed quota: {}: must specify {}",
                q.name,
                missing.join("; ")
            )));
        }
        let over: Vec<&String> = hard
            .iter()
            .filter(|(k, limit)| {
                wanted.get(*k).is_some_and(|w| {
                    *w > 0.0 && used.get(*k).copied().unwrap_or(0.0) + w > **limit + 1e-9
                })
            })
            .map(|(k, _)| k)
            .collect();
        if !over.is_empty() {
            return Err(forbidden(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                q.name,
                join(&over, &wanted),
                join(&over, &used),
                join(&over, &hard)
            )));
        }
    }
    Ok(())
}

/// The `status` a quota of `ns` should have now: `hard` from its spec, `used` over the
/// namespace's charged pods, for the resources it limits.
pub fn status(store: &Store, ns: &str, quota: &Value) -> Value {
    let hard = hard(quota);
    let used = used(store, ns, None);
    let mut h = serde_json::Map::new();
    let mut u = serde_json::Map::new();
    for (k, limit) in &hard {
        h.insert(k.clone(), json!(format(k, *limit)));
        u.insert(
            k.clone(),
            json!(format(k, used.get(k).copied().unwrap_or(0.0))),
        );
    }
    json!({"hard": h, "used": u})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_api() {
        let cases = [
            ("requests.cpu", 4.0, "4"),
            ("cpu", 0.5, "500m"),
            ("limits.memory", 1408.0 * 1048576.0, "1408Mi"),
            ("requests.memory", 4.0 * 1073741824.0, "4Gi"),
            ("requests.memory", 0.0, "0"),
            ("pods", 3.0, "3"),
        ];
        for (res, v, want) in cases {
            assert_eq!(format(res, v), want, "{res} {v}");
        }
    }

    #[test]
    fn usage_sums_containers_and_counts_the_pod() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
        ]}});
        let u = usage(&pod);
        assert_eq!(u["requests.cpu"], 1.5);
        assert_eq!(u["cpu"], 1.5);
        assert_eq!(u["limits.memory"], 1073741824.0);
        assert_eq!(u["limits.cpu"], 0.0);
        assert_eq!(u["pods"], 1.0);
    }
}
