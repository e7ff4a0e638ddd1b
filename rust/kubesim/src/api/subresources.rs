//! Subresources that are actions rather than stored state (`pods/eviction`, `pods/binding`,
//! `serviceaccounts/token`) and the review resources (access reviews, token reviews).

use std::sync::Arc;

use http::Response;
use serde_json::{Value, json};

use super::path::ResourcePath;
use super::status::{ApiError, Result};
use super::{Body, Req, value_response};
use crate::auth::UserInfo;
use crate::clock;
use crate::cluster::Cluster;
use crate::rbac::{self, Attributes};
use crate::registry::{DeleteOptions, Propagation};
use crate::resources::{self, ids};

fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}

/// `POST pods/{name}/eviction`: marks the pod DisruptionTarget and deletes it gracefully.
pub fn evict(cluster: &Arc<Cluster>, req: &Req, ns: &str, name: &str) -> Result<Response<Body>> {
    let body = req.json_body()?;
    if cluster.store.get(ids::PODS, ns, name).is_none() {
        return Err(ApiError::not_found(ids::PODS, name));
    }
    let opts_v = &body["deleteOptions"];
    let opts = DeleteOptions {
        grace: opts_v["gracePeriodSeconds"].as_i64(),
        uid: opts_v["preconditions"]["uid"].as_str().map(str::to_string),
        rv: opts_v["preconditions"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok()),
        dry_run: req.dry_run(),
        propagation: match opts_v["propagationPolicy"].as_str() {
            Some("Foreground") => Some(Propagation::Foreground),
            Some("Orphan") => Some(Propagation::Orphan),
            _ => None,
        },
    };
    if !opts.dry_run {
        cluster.modify(ids::PODS, ns, name, |p| {
            let phase = p["status"]["phase"].as_str().unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                return false;
            }
            crate::controllers::set_condition(
                &mut p["status"],
                "DisruptionTarget",
                "True",
                Some("EvictionByEvictionAPI"),
                Some("Eviction API: evicting"),
            )
        });
    }
    cluster.delete_object(ids::PODS, ns, name, &opts)?;
    Ok(value_response(201, &success(201)))
}

/// `POST pods/{name}/binding`: assigns the pod to a node.
pub fn bind(cluster: &Arc<Cluster>, req: &Req, ns: &str, name: &str) -> Result<Response<Body>> {
    let body = req.json_body()?;
    let node = body["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pod = cluster
        .store
        .get(ids::PODS, ns, name)
        .ok_or_else(|| ApiError::not_found(ids::PODS, name))?;
    let current = pod.value()["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !current.is_empty() {
        return Err(ApiError::conflict(
            ids::PODS,
            name,
            &format!("pod {name} is already assigned to node \"{current}\""),
        ));
    }
    crate::controllers::scheduler::bind(cluster, ns, name, &node);
    Ok(value_response(201, &success(201)))
}

/// `POST serviceaccounts/{name}/token`: a TokenRequest.
pub fn token(cluster: &Arc<Cluster>, req: &Req, ns: &str, name: &str) -> Result<Response<Body>> {
    let body = req.json_body()?;
    let sa = cluster
        .store
        .get(ids::SERVICEACCOUNTS, ns, name)
        .ok_or_else(|| ApiError::not_found(ids::SERVICEACCOUNTS, name))?;
    let seconds = body["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(3600)
        .max(600);
    let audiences: Vec<String> = body["spec"]["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let bound = &body["spec"]["boundObjectRef"];
    let bound_pod = (bound["kind"] == "Pod").then(|| {
        (
            bound["name"].as_str().unwrap_or_default(),
            bound["uid"].as_str().unwrap_or_default(),
        )
    });
    let (tok, exp) = cluster
        .tokens
        .issue(ns, name, &sa.uid, seconds, &audiences, bound_pod);
    let exp_ts = chrono::DateTime::from_timestamp(exp, 0)
        .map(clock::format)
        .unwrap_or_default();
    let mut spec = body["spec"].clone();
    if !spec.is_object() {
        spec = json!({});
    }
    spec["expirationSeconds"] = json!(seconds);
    if spec["audiences"].is_null() {
        spec["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
    }
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": clock::now()},
        "spec": spec,
        "status": {"token": tok, "expirationTimestamp": exp_ts},
    });
    Ok(value_response(201, &out))
}

fn attributes_from(spec: &Value) -> Attributes {
    let r = &spec["resourceAttributes"];
    if r.is_object() {
        Attributes {
            verb: r["verb"].as_str().unwrap_or_default().into(),
            group: r["group"].as_str().unwrap_or_default().into(),
            resource: r["resource"].as_str().unwrap_or_default().into(),
            subresource: r["subresource"].as_str().unwrap_or_default().into(),
            name: r["name"].as_str().unwrap_or_default().into(),
            namespace: r["namespace"].as_str().unwrap_or_default().into(),
            path: String::new(),
            resource_request: true,
        }
    } else {
        let n = &spec["nonResourceAttributes"];
        Attributes {
            verb: n["verb"].as_str().unwrap_or_default().into(),
            path: n["path"].as_str().unwrap_or_default().into(),
            ..Default::default()
        }
    }
}

fn access_status(cluster: &Cluster, user: &UserInfo, spec: &Value) -> Value {
    let attrs = attributes_from(spec);
    let (allowed, reason) = if cluster.opts.rbac {
        rbac::authorize(&cluster.store, user, &attrs)
    } else {
        (true, String::new())
    };
    let mut st = json!({"allowed": allowed});
    if !reason.is_empty() {
        st["reason"] = json!(reason);
    }
    st
}

/// The review resources: computed answers, never stored.
pub fn review(cluster: &Arc<Cluster>, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let body = req.json_body()?;
    let rt = resources::get(rp.res);
    let spec = body["spec"].clone();
    let mut out = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": {"creationTimestamp": null}, "spec": spec});
    match rp.res {
        ids::SELFSUBJECTACCESSREVIEWS => {
            out["status"] = access_status(cluster, &req.user, &body["spec"]);
        }
        ids::SUBJECTACCESSREVIEWS => {
            let s = &body["spec"];
            let user = UserInfo {
                username: s["user"].as_str().unwrap_or_default().into(),
                groups: s["groups"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|g| g.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                uid: s["uid"].as_str().unwrap_or_default().into(),
            };
            out["status"] = access_status(cluster, &user, s);
        }
        ids::SELFSUBJECTRULESREVIEWS => {
            let ns = body["spec"]["namespace"].as_str().unwrap_or_default();
            let rules = rbac::rules_for(&cluster.store, &req.user, ns);
            let (res_rules, non): (Vec<Value>, Vec<Value>) = rules
                .into_iter()
                .partition(|r| r.get("nonResourceURLs").is_none());
            out["status"] =
                json!({"resourceRules": res_rules, "nonResourceRules": non, "incomplete": false});
        }
        ids::TOKENREVIEWS => {
            let tok = body["spec"]["token"].as_str().unwrap_or_default();
            out["status"] = match cluster.tokens.authenticate(Some(&format!("Bearer {tok}"))) {
                Some(u) => {
                    json!({"authenticated": true, "user": {"username": u.username, "uid": u.uid, "groups": u.groups}, "audiences": ["https://kubernetes.default.svc.cluster.local"]})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            };
        }
        ids::SELFSUBJECTREVIEWS => {
            out["status"] = json!({"userInfo": {"username": req.user.username, "uid": req.user.uid, "groups": req.user.groups}});
            if let Some(m) = out.as_object_mut() {
                m.shift_remove("spec");
            }
        }
        _ => return Err(ApiError::method_not_allowed()),
    }
    Ok(value_response(201, &out))
}
