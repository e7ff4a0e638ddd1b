//! Watches over HTTP: namespace scoping, initial events and their closing bookmark, selector
//! transitions, periodic bookmarks, timeouts, 410 endings after a compaction, shutdown, and a
//! watch let go when its client disconnects.

mod common;

use std::time::Duration;

use common::{EventLines, WAIT, request};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

async fn start(opts: kubesim::Options) -> kubesim::Server {
    kubesim::start(opts)
        .await
        .unwrap_or_else(|e| panic!("kubesim did not start: {e}"))
}

/// Sends a request and reads the whole answer as JSON.
async fn call(server: &kubesim::Server, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, body, _task) = request(server, method, path, body).await;
    assert!(status.is_success(), "{path}: HTTP {status}");
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_else(|e| panic!("body: {e}"));
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn config_map(ns: &str, name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": {"app": app}}})
}

async fn create(server: &kubesim::Server, ns: &str, name: &str, app: &str) -> Value {
    call(
        server,
        Method::POST,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        Some(config_map(ns, name, app)),
    )
    .await
}

async fn relabel(server: &kubesim::Server, ns: &str, name: &str, app: &str) {
    call(
        server,
        Method::PUT,
        &format!("/api/v1/namespaces/{ns}/configmaps/{name}"),
        Some(config_map(ns, name, app)),
    )
    .await;
}

async fn namespace(server: &kubesim::Server, name: &str) {
    call(
        server,
        Method::POST,
        "/api/v1/namespaces",
        Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})),
    )
    .await;
}

/// An open watch, read line by line.
struct Watch {
    events: EventLines,
    conn: JoinHandle<()>,
}

impl Watch {
    async fn open(server: &kubesim::Server, path: &str) -> Watch {
        let (status, body, conn) = request(server, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        Watch {
            events: EventLines::new(body),
            conn,
        }
    }

    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Value> {
        self.events.next().await
    }

    /// The type and object name of the next event about an object of the test (not the
    /// `kube-root-ca.crt` ConfigMap the namespace controller adds to every namespace).
    async fn next_named(&mut self) -> (String, String) {
        loop {
            let ev = self
                .next()
                .await
                .unwrap_or_else(|| panic!("watch ended early"));
            let name = ev["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            if name != "kube-root-ca.crt" {
                return (
                    ev["type"].as_str().unwrap_or_default().to_string(),
                    name.to_string(),
                );
            }
        }
    }
}

fn named(ty: &str, name: &str) -> (String, String) {
    (ty.to_string(), name.to_string())
}

/// The `apiserver_longrunning_requests` gauges of configmap watches, summed.
async fn open_watches(server: &kubesim::Server) -> i64 {
    let (_, body, _task) = request(server, Method::GET, "/metrics", None).await;
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.starts_with("apiserver_longrunning_requests{"))
        .filter(|l| l.contains("resource=\"configmaps\"") && l.contains("verb=\"WATCH\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .sum()
}

#[tokio::test]
async fn a_namespace_watch_gets_its_namespace_and_an_all_namespaces_watch_gets_all() {
    let server = start(kubesim::Options::default()).await;
    namespace(&server, "a").await;
    namespace(&server, "b").await;
    let mut in_a = Watch::open(&server, "/api/v1/namespaces/a/configmaps?watch=1").await;
    let mut all = Watch::open(&server, "/api/v1/configmaps?watch=1").await;
    create(&server, "b", "in-b", "x").await;
    create(&server, "a", "in-a", "x").await;
    assert_eq!(in_a.next_named().await, named("ADDED", "in-a"));
    assert_eq!(all.next_named().await, named("ADDED", "in-b"));
    assert_eq!(all.next_named().await, named("ADDED", "in-a"));
    server.shutdown().await;
}

#[tokio::test]
async fn initial_events_end_with_a_bookmark_and_live_events_follow() {
    let server = start(kubesim::Options::default()).await;
    create(&server, "default", "first", "x").await;
    let mut w = Watch::open(
        &server,
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
    )
    .await;
    let mut seen = Vec::new();
    let bookmark = loop {
        let ev = w.next().await.unwrap_or_else(|| panic!("watch ended"));
        if ev["type"] == "BOOKMARK" {
            break ev;
        }
        seen.push(ev["object"]["metadata"]["name"].clone());
    };
    assert!(seen.contains(&json!("first")), "{seen:?}");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    create(&server, "default", "second", "x").await;
    assert_eq!(w.next_named().await, named("ADDED", "second"));
    server.shutdown().await;
}

#[tokio::test]
async fn selector_transitions_are_added_and_deleted() {
    let server = start(kubesim::Options::default()).await;
    let mut w = Watch::open(
        &server,
        "/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dspark",
    )
    .await;
    create(&server, "default", "cm", "other").await;
    relabel(&server, "default", "cm", "spark").await;
    relabel(&server, "default", "cm", "spark").await;
    relabel(&server, "default", "cm", "gone").await;
    assert_eq!(w.next_named().await, named("ADDED", "cm"));
    assert_eq!(w.next_named().await, named("MODIFIED", "cm"));
    assert_eq!(w.next_named().await, named("DELETED", "cm"));
    server.shutdown().await;
}

#[tokio::test]
async fn bookmarks_come_periodically_until_the_timeout_ends_the_watch() {
    let server = start(kubesim::Options {
        bookmark_seconds: 1,
        ..Default::default()
    })
    .await;
    let created = create(&server, "default", "cm", "x").await;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let started = std::time::Instant::now();
    let mut w = Watch::open(
        &server,
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion={rv}"
        ),
    )
    .await;
    let mut bookmarks = 0;
    while let Some(ev) = w.next().await {
        if ev["type"] == "BOOKMARK" {
            bookmarks += 1;
        }
    }
    let took = started.elapsed();
    assert!(bookmarks >= 1, "no bookmark in {took:?}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "{took:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn compaction_ends_watches_with_410() {
    let server = start(kubesim::Options::default()).await;
    let created = create(&server, "default", "cm", "x").await;
    let rv: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let path = format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}");
    let mut live = Watch::open(&server, &path).await;
    server.cluster.store.compact();
    server.cluster.drop_all_watches(true);
    let ev = live.next().await.unwrap_or_else(|| panic!("no 410 event"));
    assert_eq!(
        (ev["type"].clone(), ev["object"]["code"].clone()),
        (json!("ERROR"), json!(410))
    );
    assert!(live.next().await.is_none(), "the watch goes on after 410");

    let stale = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={}",
        rv - 1
    );
    let mut old = Watch::open(&server, &stale).await;
    let ev = old.next().await.unwrap_or_else(|| panic!("no 410 event"));
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(old.next().await.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_is_let_go_when_its_client_disconnects_and_ends_at_shutdown() {
    let server = start(kubesim::Options::default()).await;
    let path = "/api/v1/namespaces/default/configmaps?watch=1";
    let gone = Watch::open(&server, path).await;
    let mut kept = Watch::open(&server, path).await;
    assert_eq!(open_watches(&server).await, 2);
    gone.conn.abort();
    drop(gone);
    let deadline = std::time::Instant::now() + WAIT;
    while open_watches(&server).await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server kept the closed watch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cluster = server.cluster.clone();
    let stop = tokio::spawn(server.shutdown());
    // What the default namespace holds comes first; the stream ends at shutdown.
    while let Some(ev) = kept.next().await {
        assert_eq!(ev["type"], "ADDED", "{ev}");
    }
    let _ = stop.await;
    drop(cluster);
}
