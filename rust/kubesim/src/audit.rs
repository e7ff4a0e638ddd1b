//! The audit log (`--audit-log-path`): one `audit.k8s.io/v1` `Event` per request at level
//! `Metadata`, as JSON lines in kube-apiserver's format, so a test can see who called what and
//! what it got (the Spark driver's calls from inside its pod included).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::auth::UserInfo;
use crate::clock;

/// Errors from the audit log.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be opened.
    #[error("failed to open the audit log {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for the audit log.
pub type Result<T> = std::result::Result<T, Error>;

/// An open audit log file; each event is one line, written whole and unbuffered.
pub struct AuditLog {
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creates or appends to) the audit log at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Open {
                path: path.into(),
                source,
            })?;
        Ok(AuditLog {
            file: Mutex::new(file),
        })
    }

    /// Appends one event. A failed write loses that event only (the request is not affected).
    pub fn write(&self, event: &Value) {
        let mut line = event.to_string();
        line.push('\n');
        let _ = self.file.lock().write_all(line.as_bytes());
    }
}

/// The object a resource request addresses (`objectRef`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectRef {
    /// Resource plural.
    pub resource: String,
    /// Namespace or "".
    pub namespace: String,
    /// Name or "".
    pub name: String,
    /// API group ("" for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Subresource or "".
    pub subresource: String,
}

/// What is known of a request before it is served.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Path and query.
    pub uri: String,
    /// The Kubernetes verb (a lower-case HTTP method for non-resource requests).
    pub verb: String,
    /// The authenticated user; `None` when authentication failed.
    pub user: Option<UserInfo>,
    /// `User-Agent`.
    pub user_agent: String,
    /// The object of a resource request.
    pub object: Option<ObjectRef>,
    /// Watches, followed logs and proxied requests: logged when their response starts.
    pub long_running: bool,
    /// When the request arrived (RFC 3339, microseconds).
    pub received: String,
}

/// The event for `req` answered with `code`: stage `ResponseStarted` for a long-running request
/// that streams (logged as its response begins), else `ResponseComplete`.
pub fn event(req: &Request, code: u16) -> Value {
    let streams = req.long_running && code < 400;
    let mut e = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": uuid::Uuid::new_v4().to_string(),
        "stage": if streams { "ResponseStarted" } else { "ResponseComplete" },
        "requestURI": req.uri,
        "verb": req.verb,
        "user": req.user.as_ref().map_or_else(|| json!({}), |u| json!({
            "username": u.username,
            "groups": u.groups,
        })),
        "userAgent": req.user_agent,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": req.received,
        "stageTimestamp": clock::now_micro(),
    });
    if let Some(u) = &req.user
        && !u.uid.is_empty()
    {
        e["user"]["uid"] = json!(u.uid);
    }
    if let Some(o) = &req.object {
        let mut r = Map::new();
        for (k, v) in [
            ("resource", &o.resource),
            ("namespace", &o.namespace),
            ("name", &o.name),
            ("apiGroup", &o.api_group),
            ("apiVersion", &o.api_version),
            ("subresource", &o.subresource),
        ] {
            if !v.is_empty() {
                r.insert(k.into(), json!(v));
            }
        }
        e["objectRef"] = Value::Object(r);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_kube_apiserver_fields() {
        let req = Request {
            uri: "/api/v1/namespaces/ns/pods?watch=1".into(),
            verb: "watch".into(),
            user: Some(UserInfo {
                username: "system:serviceaccount:ns:sa".into(),
                groups: vec!["system:authenticated".into()],
                uid: "u1".into(),
            }),
            user_agent: "fabric8".into(),
            object: Some(ObjectRef {
                resource: "pods".into(),
                namespace: "ns".into(),
                api_version: "v1".into(),
                ..Default::default()
            }),
            long_running: true,
            received: "2025-01-01T00:00:00.000000Z".into(),
        };
        assert_eq!(event(&req, 403)["stage"], "ResponseComplete");
        let e = event(&req, 200);
        assert_eq!(e["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(e["stage"], "ResponseStarted");
        assert_eq!(e["verb"], "watch");
        assert_eq!(
            e["user"],
            json!({"username": "system:serviceaccount:ns:sa", "groups": ["system:authenticated"], "uid": "u1"})
        );
        assert_eq!(
            e["objectRef"],
            json!({"resource": "pods", "namespace": "ns", "apiVersion": "v1"})
        );
        assert_eq!(e["responseStatus"]["code"], 200);

        let anonymous = Request {
            verb: "get".into(),
            ..Default::default()
        };
        let e = event(&anonymous, 401);
        assert_eq!(e["stage"], "ResponseComplete");
        assert_eq!(e["user"], json!({}));
        assert!(e.get("objectRef").is_none());
    }

    #[test]
    fn lines_are_appended() {
        let dir = std::env::temp_dir().join(format!("kubesim-audit-{}", uuid::Uuid::new_v4()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("audit.log");
        let log = AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}"));
        log.write(&json!({"a": 1}));
        log.write(&json!({"a": 2}));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(AuditLog::open(&dir.join("missing").join("audit.log")).is_err());
    }
}
