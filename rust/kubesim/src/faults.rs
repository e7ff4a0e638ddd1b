//! Fault injection: rules posted to `/kubesim/faults` that make matching API requests fail with
//! a status (429 with Retry-After, 5xx, …), wait, or lose their connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One fault rule as posted (all match fields optional; absent means any).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection (or
    /// the metric verbs GET, LIST, POST, PUT, PATCH, APPLY, DELETE, WATCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// Resource plural (`pods`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Subresource (`status`, `log`, …); "" matches only requests without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Status code to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Message of the Status body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Seconds for `Retry-After` (default 1 with status 429).
    #[serde(
        default,
        alias = "retryAfterSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<u64>,
    /// Milliseconds to wait before answering (or before the other effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the connection without an answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// Apply to only this many matching requests, then expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Apply to every Nth matching request only (1 = every one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
}

/// A stored rule with its id and counters.
#[derive(Debug, Serialize)]
pub struct Fault {
    /// Id for `DELETE /kubesim/faults/{id}`.
    pub id: u64,
    /// The rule.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Matching requests seen.
    pub matched: u64,
    /// Requests the fault was applied to.
    pub applied: u64,
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effect {
    /// Wait first.
    pub delay_ms: u64,
    /// Then answer with this status (and message, Retry-After).
    pub status: Option<(u16, Option<String>, Option<u64>)>,
    /// Or drop the connection.
    pub reset: bool,
}

/// What a request is, for matching.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Kubernetes verb (get, list, watch, create, …).
    pub verb: &'a str,
    /// Metric verb (GET, LIST, …).
    pub metric_verb: &'a str,
    /// Resource plural.
    pub resource: &'a str,
    /// Subresource or "".
    pub subresource: &'a str,
    /// Namespace or "".
    pub namespace: &'a str,
    /// Name or "".
    pub name: &'a str,
}

/// The rules in force.
#[derive(Default)]
pub struct Faults {
    any: AtomicBool,
    next: AtomicU64,
    rules: Mutex<Vec<Fault>>,
}

fn field_matches(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w == "*" || w == have)
}

impl Faults {
    /// Adds a rule and returns its id.
    pub fn add(&self, spec: FaultSpec) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rules = self.rules.lock();
        rules.push(Fault {
            id,
            spec,
            matched: 0,
            applied: 0,
        });
        self.any.store(true, Ordering::Release);
        id
    }

    /// Removes all rules.
    pub fn clear(&self) {
        self.rules.lock().clear();
        self.any.store(false, Ordering::Release);
    }

    /// Removes one rule; false when there was none with that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.rules.lock();
        let before = rules.len();
        rules.retain(|f| f.id != id);
        self.any.store(!rules.is_empty(), Ordering::Release);
        rules.len() != before
    }

    /// The rules as JSON.
    pub fn list_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.rules.lock()).unwrap_or_default()
    }

    /// The effect for a request, if a rule applies; counts the match.
    pub fn check(&self, req: &RequestFacts<'_>) -> Option<Effect> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut rules = self.rules.lock();
        let mut effect = None;
        for f in rules.iter_mut() {
            let s = &f.spec;
            let verb_ok = s
                .verb
                .as_deref()
                .is_none_or(|v| v == "*" || v == req.verb || v == req.metric_verb);
            if !(verb_ok
                && field_matches(&s.resource, req.resource)
                && field_matches(&s.subresource, req.subresource)
                && field_matches(&s.namespace, req.namespace)
                && field_matches(&s.name, req.name))
            {
                continue;
            }
            f.matched += 1;
            if let Some(every) = s.every
                && every > 1
                && f.matched % every != 0
            {
                continue;
            }
            if s.count.is_some_and(|c| f.applied >= c) {
                continue;
            }
            f.applied += 1;
            let status = s.status.map(|code| {
                let retry = if code == 429 {
                    Some(s.retry_after.unwrap_or(1))
                } else {
                    s.retry_after
                };
                (code, s.message.clone(), retry)
            });
            effect = Some(Effect {
                delay_ms: s.delay_ms.unwrap_or(0),
                status,
                reset: s.reset,
            });
            break;
        }
        rules.retain(|f| f.spec.count.is_none_or(|c| f.applied < c));
        self.any.store(!rules.is_empty(), Ordering::Release);
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(verb: &'a str, resource: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            verb,
            metric_verb: "POST",
            resource,
            subresource: "",
            namespace: "ns",
            name: "",
        }
    }

    #[test]
    fn count_limits_and_expires() {
        let f = Faults::default();
        let spec: FaultSpec =
            serde_json::from_str(r#"{"verb":"create","resource":"pods","status":500,"count":2}"#)
                .unwrap_or_default();
        f.add(spec);
        assert!(f.check(&facts("get", "pods")).is_none());
        assert_eq!(
            f.check(&facts("create", "pods"))
                .and_then(|e| e.status)
                .map(|s| s.0),
            Some(500)
        );
        assert!(f.check(&facts("create", "pods")).is_some());
        assert!(f.check(&facts("create", "pods")).is_none());
        assert_eq!(f.list_json(), serde_json::json!([]));
    }

    #[test]
    fn every_third_request_gets_429_with_retry_after() {
        let f = Faults::default();
        f.add(FaultSpec {
            status: Some(429),
            every: Some(3),
            ..Default::default()
        });
        let hits: Vec<bool> = (0..6)
            .map(|_| f.check(&facts("list", "pods")).is_some())
            .collect();
        assert_eq!(hits, vec![false, false, true, false, false, true]);
        f.clear();
        f.add(FaultSpec {
            status: Some(429),
            ..Default::default()
        });
        assert_eq!(
            f.check(&facts("list", "pods"))
                .and_then(|e| e.status)
                .and_then(|s| s.2),
            Some(1)
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(serde_json::from_str::<FaultSpec>(r#"{"verbb":"x"}"#).is_err());
    }
}
