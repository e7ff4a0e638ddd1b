//! RBAC over HTTP for server-side apply: an apply that creates its object is authorized as
//! `create` as well as `patch` (as kube-apiserver's patch handler does), an apply that updates
//! needs only `patch`, and without `--rbac` nothing is checked. The audit log records who made
//! each request and what it got, and the metrics count requests refused before the handlers.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const CM: &str = "/api/v1/namespaces/default/configmaps";
const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles";
const APPLY: &str = "application/apply-patch+yaml";
const USER: &str = "system:serviceaccount:default:applier";

struct Kube {
    server: kubesim::Server,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Kube {
    async fn start(rbac: bool) -> Kube {
        Kube::start_with(kubesim::Options {
            rbac,
            ..Default::default()
        })
        .await
    }

    async fn start_with(opts: kubesim::Options) -> Kube {
        let server = kubesim::start(opts)
            .await
            .unwrap_or_else(|e| panic!("kubesim did not start: {e}"));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Kube { server, client }
    }

    /// Sends one request; returns the status and the decoded JSON body (`Null` if not JSON).
    async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let token = token.unwrap_or(&self.server.token);
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.url))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap_or_else(|e| panic!("request: {e}"));
        let resp = tokio::time::timeout(Duration::from_secs(20), self.client.request(req))
            .await
            .unwrap_or_else(|_| panic!("no answer in time"))
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_else(|e| panic!("body: {e}"));
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create(&self, path: &str, obj: Value) {
        let (status, body) = self
            .send(None, Method::POST, path, "application/json", Some(obj))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create {path}: {body}");
    }

    /// Server-side apply of ConfigMap `name` as `token`.
    async fn apply(&self, token: &str, name: &str, query: &str) -> (StatusCode, Value) {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name}, "data": {"k": name}});
        self.send(
            Some(token),
            Method::PATCH,
            &format!("{CM}/{name}?fieldManager=test{query}"),
            APPLY,
            Some(cm),
        )
        .await
    }

    /// ServiceAccount `applier` bound to Role `applier` with `verbs` on configmaps; its token.
    async fn applier(&self, verbs: &[&str]) -> String {
        self.create(
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"metadata": {"name": "applier"}}),
        )
        .await;
        self.create(
            ROLES,
            json!({"metadata": {"name": "applier"}, "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}
            ]}),
        )
        .await;
        self.create(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            json!({"metadata": {"name": "applier"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "applier"},
                   "subjects": [{"kind": "ServiceAccount", "name": "applier", "namespace": "default"}]}),
        )
        .await;
        let (_, body) = self
            .send(
                None,
                Method::POST,
                "/kubesim/token/default/applier",
                "application/json",
                None,
            )
            .await;
        let token = body["token"].as_str().unwrap_or_default().to_string();
        assert!(!token.is_empty(), "{body}");
        token
    }

    async fn exists(&self, name: &str) -> bool {
        let (status, _) = self
            .send(
                None,
                Method::GET,
                &format!("{CM}/{name}"),
                "application/json",
                None,
            )
            .await;
        status == StatusCode::OK
    }
}

#[tokio::test]
async fn apply_that_creates_needs_create_and_patch() {
    let k = Kube::start(true).await;
    let token = k.applier(&["patch"]).await;

    // patch alone: the apply would create, so it is refused as `create`, and nothing is created.
    let (status, body) = k.apply(&token, "new", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["reason"], "Forbidden");
    assert_eq!(body["message"], "configmaps \"new\" is forbidden: ");
    assert_eq!(
        body["details"],
        json!({"name": "new", "kind": "configmaps"})
    );
    assert!(!k.exists("new").await);
    // A dry run is authorized the same way.
    let (status, body) = k.apply(&token, "new", "&dryRun=All").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // An object that exists is updated with `patch` alone.
    k.create(CM, json!({"metadata": {"name": "old"}})).await;
    let (status, body) = k.apply(&token, "old", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["k"], "old");

    // create alone: the filter refuses `patch` first, with the usual message.
    let (status, current) = k
        .send(
            None,
            Method::GET,
            &format!("{ROLES}/applier"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    let mut role = current.clone();
    role["rules"][0]["verbs"] = json!(["create"]);
    let (status, body) = k
        .send(
            None,
            Method::PUT,
            &format!("{ROLES}/applier"),
            "application/json",
            Some(role.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = k.apply(&token, "new", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["message"],
        format!(
            "configmaps \"new\" is forbidden: User \"{USER}\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"default\""
        )
    );

    // create and patch: created.
    let (_, current) = k
        .send(
            None,
            Method::GET,
            &format!("{ROLES}/applier"),
            "application/json",
            None,
        )
        .await;
    role = current;
    role["rules"][0]["verbs"] = json!(["create", "patch"]);
    let (status, body) = k
        .send(
            None,
            Method::PUT,
            &format!("{ROLES}/applier"),
            "application/json",
            Some(role),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = k.apply(&token, "new", "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(k.exists("new").await);
    k.server.shutdown().await;
}

#[tokio::test]
async fn without_rbac_an_apply_creates_for_anyone_with_a_token() {
    let k = Kube::start(false).await;
    let token = k.applier(&["patch"]).await;
    let (status, body) = k.apply(&token, "new", "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    k.server.shutdown().await;
}

#[tokio::test]
async fn the_audit_log_records_user_verb_object_and_code() {
    let dir = std::env::temp_dir().join(format!("kubesim-audit-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("audit.log");
    let _ = std::fs::remove_file(&path);
    let k = Kube::start_with(kubesim::Options {
        rbac: true,
        audit_log_path: Some(path.clone()),
        ..Default::default()
    })
    .await;
    let token = k.applier(&["patch"]).await;
    let (status, _) = k.apply(&token, "new", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = k
        .send(
            Some("not-a-token"),
            Method::GET,
            CM,
            "application/json",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = k
        .send(
            Some(&token),
            Method::GET,
            &format!("{CM}?watch=1&timeoutSeconds=1"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    k.server.shutdown().await;

    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect();
    assert!(events.iter().all(|e| e["kind"] == "Event"
        && e["apiVersion"] == "audit.k8s.io/v1"
        && e["level"] == "Metadata"));
    let mine: Vec<(String, String, String, u64)> = events
        .iter()
        .filter(|e| e["user"]["username"] == USER || e["user"] == json!({}))
        .map(|e| {
            (
                e["verb"].as_str().unwrap_or_default().to_string(),
                e["objectRef"]["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["objectRef"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["responseStatus"]["code"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        vec![
            ("patch".into(), "configmaps".into(), "new".into(), 403),
            ("list".into(), "configmaps".into(), String::new(), 401),
            ("watch".into(), "configmaps".into(), String::new(), 403),
        ]
    );
    // The admin's requests are there too: the ServiceAccount, Role and binding it created.
    let admin_creates = events
        .iter()
        .filter(|e| e["user"]["username"] == "kubesim-admin" && e["verb"] == "create")
        .count();
    assert!(admin_creates >= 3, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn requests_refused_before_the_handlers_are_counted_in_the_metrics() {
    let k = Kube::start(true).await;
    let token = k.applier(&["get"]).await;
    let cm = json!({"metadata": {"name": "c"}});
    let (status, _) = k
        .send(Some("wrong"), Method::GET, CM, "application/json", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = k
        .send(Some(&token), Method::POST, CM, "application/json", Some(cm))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let big = json!({"metadata": {"name": "big"}, "data": {"k": "x".repeat(4 << 20)}});
    let (status, _) = k
        .send(None, Method::POST, CM, "application/json", Some(big))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let req = Request::builder()
        .uri(format!("{}/metrics", k.server.url))
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let resp = k
        .client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("metrics: {e}"));
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    for (verb, code) in [("LIST", 401), ("POST", 403), ("POST", 413)] {
        let line = format!(
            "apiserver_request_total{{code=\"{code}\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"namespace\",subresource=\"\",verb=\"{verb}\",version=\"v1\"}} 1"
        );
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
}
