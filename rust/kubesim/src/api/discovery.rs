//! Discovery: `/version`, `/api`, `/apis`, group and resource lists, and the small OpenAPI
//! documents clients probe.

use http::Response;
use serde_json::{Value, json};

use super::status::{ApiError, Result};
use super::{Body, Req, value_response};
use crate::resources::{self, RESOURCES};

/// The Kubernetes version kubesim reports.
pub const MINOR: &str = "34";

/// `/version`.
pub fn version() -> Response<Body> {
    value_response(
        200,
        &json!({
            "major": "1",
            "minor": MINOR,
            "emulationMajor": "1",
            "emulationMinor": MINOR,
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": "33",
            "gitVersion": format!("v1.{MINOR}.0-kubesim"),
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64"
        }),
    )
}

/// `/api`.
pub fn core_versions(req: &Req) -> Response<Body> {
    let host = req.header("host");
    value_response(
        200,
        &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}),
    )
}

fn group_json(group: &str) -> Value {
    let versions: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `/apis`.
pub fn groups() -> Response<Body> {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in resources::group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    let groups: Vec<Value> = names.into_iter().map(group_json).collect();
    value_response(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

/// `/apis/{group}`.
pub fn group(g: &str) -> Result<Response<Body>> {
    if !RESOURCES.iter().any(|r| r.group == g) {
        return Err(ApiError::no_route());
    }
    let mut v = group_json(g);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Ok(value_response(200, &v))
}

fn subresource_entry(r: &resources::ResourceType, sub: &str) -> Value {
    let (kind, group, version, verbs): (&str, Option<&str>, Option<&str>, Vec<&str>) = match sub {
        "status" => (r.kind, None, None, vec!["get", "patch", "update"]),
        "log" => ("Pod", None, None, vec!["get"]),
        "eviction" => ("Eviction", Some("policy"), Some("v1"), vec!["create"]),
        "binding" => ("Binding", None, None, vec!["create"]),
        "token" => (
            "TokenRequest",
            Some("authentication.k8s.io"),
            Some("v1"),
            vec!["create"],
        ),
        "finalize" => ("Namespace", None, None, vec!["update"]),
        "ephemeralcontainers" => ("Pod", None, None, vec!["get", "patch", "update"]),
        "proxy" => (
            if r.kind == "Pod" {
                "PodProxyOptions"
            } else {
                "ServiceProxyOptions"
            },
            None,
            None,
            vec!["create", "delete", "get", "patch", "update"],
        ),
        _ => (r.kind, None, None, vec!["get"]),
    };
    let mut e = json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
    if let Some(g) = group {
        e["group"] = json!(g);
    }
    if let Some(v) = version {
        e["version"] = json!(v);
    }
    e
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub fn resource_list(group: &str, version: &str) -> Response<Body> {
    let mut list = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        list.push(e);
        for s in r.subresources {
            list.push(subresource_entry(r, s));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    value_response(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// `/openapi/v2`: answered as absent, as an API server with OpenAPI v2 turned off.
pub fn openapi_v2() -> Response<Body> {
    super::error_response(&ApiError::no_route())
}

/// `/openapi/v3` and the per-group-version documents, with the operations' parameters
/// (enough for clients to learn that server-side field validation is supported).
pub fn openapi_v3(rest: &str) -> Result<Response<Body>> {
    if rest.is_empty() {
        let mut paths = serde_json::Map::new();
        for (g, v) in resources::group_versions() {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=kubesim{MINOR}")}),
            );
        }
        return Ok(value_response(200, &json!({"paths": paths})));
    }
    let (g, v) = match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return Err(ApiError::no_route()),
    };
    if !RESOURCES.iter().any(|r| r.group == g && r.version == v) {
        return Err(ApiError::no_route());
    }
    let prefix = if g.is_empty() {
        format!("/api/{v}")
    } else {
        format!("/apis/{g}/{v}")
    };
    let mut paths = serde_json::Map::new();
    let field_validation = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let op = |kind: &str, action: &str| json!({"operationId": format!("{action}{kind}"), "parameters": [field_validation.clone()], "x-kubernetes-action": action, "x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": kind}, "responses": {"200": {"description": "OK"}}});
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == g && r.version == v && !r.create_only)
    {
        let base = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        paths.insert(
            base.clone(),
            json!({"post": op(r.kind, "post"), "get": op(r.kind, "list")}),
        );
        paths.insert(format!("{base}/{{name}}"), json!({"put": op(r.kind, "put"), "patch": op(r.kind, "patch"), "get": op(r.kind, "get"), "delete": op(r.kind, "delete")}));
    }
    Ok(value_response(
        200,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": format!("v1.{MINOR}.0")}, "paths": paths, "components": {"schemas": {}}}),
    ))
}
