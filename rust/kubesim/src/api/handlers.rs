//! The verb handlers: get, list, create, update, patch, delete and deletecollection, with
//! selectors, pagination, dry runs and the response shapes of kube-apiserver.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{Method, Response};
use serde_json::{Value, json};

use super::patch::{self, PatchType};
use super::path::ResourcePath;
use super::status::{ApiError, Cause, Result};
use super::{Body, Req, json_response, subresources, table, value_response, watch};
use crate::cluster::Cluster;
use crate::registry::{Applier, DeleteOptions, Deleted, Propagation, WriteOptions};
use crate::resources::{self, ResId, ids};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::Obj;

/// Routes a resource request to its handler.
pub async fn dispatch(
    cluster: &Arc<Cluster>,
    req: &Req,
    rp: &ResourcePath,
    verb: &str,
) -> Result<Response<Body>> {
    let rt = resources::get(rp.res);
    if rt.create_only {
        return if req.method == Method::POST && rp.name.is_none() {
            subresources::review(cluster, req, rp)
        } else {
            Err(ApiError::method_not_allowed())
        };
    }
    let ns = rp.namespace.as_deref().unwrap_or_default();
    match (rp.subresource.as_deref(), rp.name.as_deref()) {
        (Some("log"), Some(name)) if req.method == Method::GET => {
            return super::logs::pod_log(cluster, req, ns, name).await;
        }
        (Some("eviction"), Some(name)) if req.method == Method::POST => {
            return subresources::evict(cluster, req, ns, name);
        }
        (Some("binding"), Some(name)) if req.method == Method::POST => {
            return subresources::bind(cluster, req, ns, name);
        }
        (Some("token"), Some(name)) if req.method == Method::POST => {
            return subresources::token(cluster, req, ns, name);
        }
        (Some("log" | "eviction" | "binding" | "token"), _) => {
            return Err(ApiError::method_not_allowed());
        }
        (Some("ephemeralcontainers"), _) => return Err(ApiError::method_not_allowed()),
        _ => {}
    }
    if rp.namespace.is_none() && rt.namespaced && !matches!(verb, "list" | "watch") {
        return Err(ApiError::method_not_allowed());
    }
    match verb {
        "get" => get(cluster, req, rp),
        "list" => list(cluster, req, rp),
        "watch" if req.header("upgrade").eq_ignore_ascii_case("websocket") => {
            Ok(watch::websocket_refusal())
        }
        "watch" => watch::watch(cluster, req, rp).await,
        "create" if rp.name.is_none() && rp.subresource.is_none() => create(cluster, req, rp),
        "update" if rp.name.is_some() => update(cluster, req, rp),
        "patch" if rp.name.is_some() => patch_object(cluster, req, rp),
        "delete" if rp.subresource.is_none() => delete(cluster, req, rp),
        "deletecollection" if rp.subresource.is_none() => delete_collection(cluster, req, rp),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn name_of(rp: &ResourcePath) -> &str {
    rp.name.as_deref().unwrap_or_default()
}

/// Renders one object as the client asked (JSON or a Table).
pub fn object_response(req: &Req, code: u16, obj: &Obj) -> Response<Body> {
    if req.wants_table() {
        return value_response(
            code,
            &table::table(
                obj.res,
                &[obj.value()],
                obj.rv,
                req.query.get("includeObject"),
            ),
        );
    }
    json_response(code, obj.json.clone())
}

fn get(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let obj = cluster
        .store
        .get(rp.res, ns, name_of(rp))
        .ok_or_else(|| ApiError::not_found(rp.res, name_of(rp)))?;
    Ok(object_response(req, 200, &obj))
}

/// Parses the selectors of a list, watch or deletecollection.
pub fn selectors(req: &Req, res: ResId) -> Result<(LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(req.query.get("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(
        req.query.get("fieldSelector").unwrap_or_default(),
        resources::get(res).fields,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((labels, fields))
}

fn encode_continue(rv: u64, key: &(String, String)) -> String {
    let start = if key.0.is_empty() {
        format!("{}\u{0}", key.1)
    } else {
        format!("{}/{}\u{0}", key.0, key.1)
    };
    B64.encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).to_string())
}

fn decode_continue(token: &str, namespaced: bool) -> Result<(u64, (String, String))> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = B64.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let start = v["start"]
        .as_str()
        .ok_or_else(bad)?
        .trim_end_matches('\u{0}');
    let key = if namespaced {
        let (ns, name) = start.split_once('/').ok_or_else(bad)?;
        (ns.to_string(), name.to_string())
    } else {
        (String::new(), start.to_string())
    };
    Ok((rv, key))
}

/// Builds a `...List` body from stored items without re-serializing them.
pub fn list_bytes(
    res: ResId,
    items: &[Arc<Obj>],
    rv: u64,
    cont: Option<(String, usize)>,
) -> Vec<u8> {
    let rt = resources::get(res);
    let total: usize = items.iter().map(|o| o.json.len() + 1).sum();
    let mut out = Vec::with_capacity(total + 160);
    out.extend_from_slice(format!("{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{rv}\"", rt.kind, rt.api_version()).as_bytes());
    if let Some((token, remaining)) = cont {
        out.extend_from_slice(
            format!(",\"continue\":\"{token}\",\"remainingItemCount\":{remaining}").as_bytes(),
        );
    }
    out.extend_from_slice(b"},\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&o.json);
    }
    out.extend_from_slice(b"]}");
    out
}

fn list(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let (labels, fields) = selectors(req, rp.res)?;
    let limit = req
        .query
        .int("limit")?
        .filter(|l| *l > 0)
        .map_or(usize::MAX, |l| l as usize);
    let rt = resources::get(rp.res);
    let after = match req.query.get("continue").filter(|c| !c.is_empty()) {
        Some(tok) => Some(decode_continue(tok, rt.namespaced)?),
        None => None,
    };
    if req.query.get("resourceVersionMatch") == Some("Exact")
        && let Some(rv) = req
            .query
            .get("resourceVersion")
            .and_then(|s| s.parse::<u64>().ok())
        && rv != cluster.store.rv()
    {
        return Err(ApiError::expired(format!(
            "too old resource version: {rv} ({})",
            cluster.store.rv()
        )));
    }
    let keep = |o: &Obj| labels.matches(&o.labels) && fields.matches(|f| o.field(f));
    let (items, remaining, rv) = match &after {
        // Later pages come from the first page's snapshot, as the API server serves them.
        Some((at, key)) => cluster
            .store
            .list_at(rp.res, rp.namespace.as_deref(), key, limit, keep, *at)
            .map_err(|_| {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list \
                     result. You can start a new list without the continue parameter.",
                )
            })?,
        None => cluster
            .store
            .list(rp.res, rp.namespace.as_deref(), None, limit, keep),
    };
    if req.wants_table() {
        let values: Vec<Value> = items.iter().map(|o| o.value()).collect();
        let mut t = table::table(rp.res, &values, rv, req.query.get("includeObject"));
        if let (Some(n), Some(last)) = (remaining, items.last()) {
            t["metadata"]["continue"] = json!(encode_continue(rv, &last.key()));
            t["metadata"]["remainingItemCount"] = json!(n);
        }
        return Ok(value_response(200, &t));
    }
    let cont = match (remaining, items.last()) {
        (Some(n), Some(last)) => Some((encode_continue(rv, &last.key()), n)),
        _ => None,
    };
    Ok(json_response(200, list_bytes(rp.res, &items, rv, cont)))
}

fn write_options(req: &Req, sub: Option<&str>) -> Result<WriteOptions> {
    if let Some(v) = req.query.get("fieldValidation")
        && !matches!(v, "Strict" | "Warn" | "Ignore" | "")
    {
        return Err(ApiError::bad_request(format!(
            "fieldValidation parameter unsupported: {v}"
        )));
    }
    Ok(WriteOptions {
        dry_run: req.dry_run(),
        field_manager: req
            .query
            .get("fieldManager")
            .map(str::to_string)
            .or_else(|| {
                let ua = req.header("user-agent");
                let m = ua.split('/').next().unwrap_or_default();
                (!m.is_empty()).then(|| m.to_string())
            }),
        subresource: sub.map(str::to_string),
    })
}

fn create(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let body = req.json_body()?;
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let opts = write_options(req, None)?;
    let obj = cluster.create_object(rp.res, ns, body, &opts)?;
    Ok(object_response(req, 201, &obj))
}

fn update(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let body = req.json_body()?;
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let opts = write_options(req, rp.subresource.as_deref())?;
    let obj = cluster.update_object(rp.res, ns, name_of(rp), body, &opts)?;
    Ok(object_response(req, 200, &obj))
}

fn patch_object(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let ct = req.header("content-type");
    let pt =
        PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))?;
    let patch_doc = req.json_body()?;
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let name = name_of(rp);
    let mut opts = write_options(req, rp.subresource.as_deref())?;
    if pt == PatchType::Apply {
        let manager = req.query.get("fieldManager").unwrap_or_default();
        if manager.is_empty() {
            return Err(
                ApiError::invalid(rp.res, name, vec![Cause::required("fieldManager")])
                    .reword_patch_options(),
            );
        }
        let existed = cluster.store.get(rp.res, ns, name).is_some();
        let applier = Applier {
            manager,
            authorize_create: &|| super::authorize_create_on_patch(cluster, &req.user, rp),
        };
        let obj = cluster.apply_object(rp.res, ns, name, patch_doc, &applier, &opts)?;
        return Ok(object_response(req, if existed { 200 } else { 201 }, &obj));
    }
    if opts.field_manager.is_none() {
        opts.field_manager = Some("unknown".into());
    }
    for _ in 0..16 {
        let cur = cluster
            .store
            .get(rp.res, ns, name)
            .ok_or_else(|| ApiError::not_found(rp.res, name))?;
        let mut doc = cur.value();
        match pt {
            PatchType::Json => patch::json_patch(&mut doc, &patch_doc).map_err(|e| match e {
                patch::Error::Malformed(_) => ApiError::bad_request(e.to_string()),
                patch::Error::Apply(_) => ApiError::patch_failed(&e.to_string()),
            })?,
            PatchType::Merge => {
                if !patch_doc.is_object() {
                    return Err(ApiError::bad_request(
                        "json: cannot unmarshal into Go value of type map[string]interface {}",
                    ));
                }
                json_patch::merge(&mut doc, &patch_doc)
            }
            PatchType::Strategic => {
                if !patch_doc.is_object() {
                    return Err(ApiError::bad_request(
                        "json: cannot unmarshal into Go value of type map[string]interface {}",
                    ));
                }
                patch::strategic_merge(&mut doc, &patch_doc)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            PatchType::Apply => unreachable_apply()?,
        }
        let patch_rv = patch_doc["metadata"]["resourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        match patch_rv {
            Some(_) => {}
            None => doc["metadata"]["resourceVersion"] = json!(cur.rv.to_string()),
        }
        match cluster.update_object(rp.res, ns, name, doc, &opts) {
            Err(e)
                if e.code == 409
                    && e.reason == "Conflict"
                    && patch_doc["metadata"]["resourceVersion"].is_null() =>
            {
                continue;
            }
            Err(e) => return Err(e),
            Ok(obj) => return Ok(object_response(req, 200, &obj)),
        }
    }
    Err(ApiError::conflict(
        rp.res,
        name,
        "too many concurrent updates",
    ))
}

fn unreachable_apply() -> Result<()> {
    Err(ApiError::internal("apply patches are handled separately"))
}

impl ApiError {
    fn with_message(mut self, m: String) -> Self {
        self.message = m;
        self.details = None;
        self
    }

    fn reword_patch_options(mut self) -> Self {
        self.message = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into();
        self.details = Some(Box::new(
            json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
        ));
        self
    }
}

/// Reads DeleteOptions from the body and the query.
pub fn delete_options(req: &Req) -> Result<DeleteOptions> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        req.json_body()?
    };
    let mut opts = DeleteOptions {
        grace: body["gracePeriodSeconds"].as_i64(),
        uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok()),
        dry_run: body["dryRun"].as_array().is_some_and(|a| !a.is_empty()) || req.dry_run(),
        propagation: None,
    };
    if let Some(g) = req.query.int("gracePeriodSeconds")? {
        opts.grace = Some(g);
    }
    let policy = req
        .query
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| body["propagationPolicy"].as_str().map(str::to_string));
    opts.propagation = match policy.as_deref() {
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Background") => Some(Propagation::Background),
        Some("Orphan") => Some(Propagation::Orphan),
        Some("") | None => None,
        Some(other) => {
            return Err(ApiError::invalid(
                ids::NAMESPACES,
                "",
                vec![Cause::not_supported("propagationPolicy", other, &["Foreground", "Background", "Orphan", "nil"])],
            )
            .with_message(format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")));
        }
    };
    let orphan = req
        .query
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body["orphanDependents"].as_bool());
    if opts.propagation.is_none() {
        opts.propagation = match orphan {
            Some(true) => Some(Propagation::Orphan),
            Some(false) => Some(Propagation::Background),
            None => None,
        };
    }
    Ok(opts)
}

fn returns_object(res: ResId) -> bool {
    matches!(res, ids::PODS | ids::SERVICES | ids::NAMESPACES)
}

fn delete(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let opts = delete_options(req)?;
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let name = name_of(rp);
    match cluster.delete_object(rp.res, ns, name, &opts)? {
        Deleted::Pending(obj) => {
            let code = if opts.propagation == Some(Propagation::Foreground) {
                202
            } else {
                200
            };
            Ok(object_response(req, code, &obj))
        }
        Deleted::Gone(obj) => {
            if returns_object(rp.res) {
                Ok(object_response(req, 200, &obj))
            } else {
                Ok(value_response(
                    200,
                    &super::status::success(rp.res, name, &obj.uid),
                ))
            }
        }
    }
}

fn delete_collection(cluster: &Cluster, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let (labels, fields) = selectors(req, rp.res)?;
    let opts = delete_options(req)?;
    let (items, _, _) =
        cluster
            .store
            .list(rp.res, rp.namespace.as_deref(), None, usize::MAX, |o| {
                labels.matches(&o.labels) && fields.matches(|f| o.field(f))
            });
    let mut out = Vec::new();
    for o in items {
        match cluster.delete_object(rp.res, &o.ns, &o.name, &opts) {
            Ok(Deleted::Gone(x) | Deleted::Pending(x)) => out.push(x),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = cluster.store.rv();
    Ok(json_response(200, list_bytes(rp.res, &out, rv, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(7, &("ns".into(), "p1".into()));
        assert_eq!(
            decode_continue(&t, true),
            Ok((7, ("ns".into(), "p1".into())))
        );
        let t = encode_continue(7, &(String::new(), "n1".into()));
        assert_eq!(
            decode_continue(&t, false),
            Ok((7, (String::new(), "n1".into())))
        );
        assert!(decode_continue("!!", true).is_err());
    }
}
