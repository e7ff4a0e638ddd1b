//! kubesim's own endpoints under `/kubesim/`: faults, drop-watches, compact, node failures and
//! a token helper for tests.

use std::sync::Arc;

use http::{Method, Response};
use serde_json::json;

use super::status::{ApiError, Result};
use super::{Body, Req, value_response};
use crate::cluster::Cluster;
use crate::faults::FaultSpec;
use crate::resources::ids;

/// Handles `/kubesim/{rest}`.
pub async fn handle(cluster: &Arc<Cluster>, req: &Req, rest: &str) -> Result<Response<Body>> {
    let parts: Vec<&str> = rest.split('/').collect();
    match (&req.method, parts.as_slice()) {
        (&Method::GET, ["faults"]) => Ok(value_response(200, &cluster.faults.list_json())),
        (&Method::POST, ["faults"]) => {
            let body = req.json_body()?;
            let specs: Vec<serde_json::Value> = match body {
                serde_json::Value::Array(a) => a,
                other => vec![other],
            };
            let mut ids_out = Vec::new();
            for s in specs {
                let spec: FaultSpec = serde_json::from_value(s)
                    .map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))?;
                if spec.status.is_none() && spec.delay_ms.is_none() && !spec.reset {
                    return Err(ApiError::bad_request(
                        "invalid fault: one of status, delay_ms or reset is required",
                    ));
                }
                ids_out.push(cluster.faults.add(spec));
            }
            let body = if ids_out.len() == 1 {
                json!({"id": ids_out[0]})
            } else {
                json!({"ids": ids_out})
            };
            Ok(value_response(201, &body))
        }
        (&Method::DELETE, ["faults"]) => {
            cluster.faults.clear();
            Ok(value_response(200, &json!({"cleared": true})))
        }
        (&Method::DELETE, ["faults", id]) => {
            let id: u64 = id
                .parse()
                .map_err(|_| ApiError::bad_request("fault id must be a number"))?;
            if cluster.faults.remove(id) {
                Ok(value_response(200, &json!({"deleted": id})))
            } else {
                Err(ApiError::bad_request(format!("no fault with id {id}"))
                    .with_code(404, "NotFound"))
            }
        }
        (&Method::POST, ["drop-watches"]) => {
            cluster.drop_all_watches(false);
            Ok(value_response(200, &json!({"dropped": true})))
        }
        (&Method::POST, ["compact"]) => {
            let rv = cluster.store.compact();
            let keep = req.query.get("watches") == Some("keep");
            if !keep {
                cluster.drop_all_watches(true);
            }
            Ok(value_response(
                200,
                &json!({"compactedResourceVersion": rv.to_string()}),
            ))
        }
        (&Method::POST, ["nodes", node, action]) => {
            if cluster.store.get(ids::NODES, "", node).is_none() {
                return Err(ApiError::not_found(ids::NODES, node));
            }
            match *action {
                "fail" => crate::controllers::node::fail(cluster, node),
                "recover" => crate::controllers::node::recover(cluster, node),
                _ => return Err(ApiError::no_route()),
            }
            Ok(value_response(
                200,
                &json!({"node": node, "action": action}),
            ))
        }
        (&Method::POST, ["token", ns, sa]) => {
            let obj = cluster
                .store
                .get(ids::SERVICEACCOUNTS, ns, sa)
                .ok_or_else(|| ApiError::not_found(ids::SERVICEACCOUNTS, sa))?;
            let secs = req.query.int("seconds")?.unwrap_or(3600);
            let (tok, exp) = cluster.tokens.issue(ns, sa, &obj.uid, secs, &[], None);
            Ok(value_response(
                200,
                &json!({"token": tok, "expiration": exp}),
            ))
        }
        (&Method::GET, ["info"]) => Ok(value_response(
            200,
            &json!({"resourceVersion": cluster.store.rv().to_string(), "runtime": format!("{:?}", cluster.opts.runtime).to_lowercase(), "rbac": cluster.opts.rbac}),
        )),
        _ => Err(ApiError::no_route()),
    }
}

impl ApiError {
    fn with_code(mut self, code: u16, reason: &'static str) -> Self {
        self.code = code;
        self.reason = reason;
        self
    }
}
