//! kubesim checked by kube-rs: the runtime watcher with a label selector, server-side apply
//! through `Api::patch`, JSON patch answers, and the watcher's recovery from 410 Gone after a
//! compaction.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::json;

struct Harness {
    server: kubesim::Server,
    client: Client,
}

async fn harness() -> Harness {
    let dir =
        std::env::temp_dir().join(format!("kubesim-kube-rs-{}", kubesim::auth::random_hex(6)));
    let kubeconfig = dir.join("kubeconfig");
    let opts = kubesim::Options {
        kubeconfig: Some(kubeconfig.clone()),
        ..Default::default()
    };
    let server = kubesim::start(opts)
        .await
        .unwrap_or_else(|e| panic!("kubesim did not start: {e}"));
    let kc =
        Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| panic!("kubeconfig unreadable: {e}"));
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig rejected: {e}"));
    let client = Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    Harness { server, client }
}

fn pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}, "annotations": {"kubesim.io/run-seconds": "inf"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    }))
    .unwrap_or_default()
}

async fn next_applied(
    stream: &mut (impl futures::Stream<Item = Result<Event<Pod>, watcher::Error>> + Unpin),
) -> Pod {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap_or_else(|_| panic!("no watch event in time"));
        match ev {
            Some(Ok(Event::Apply(p) | Event::InitApply(p))) => return p,
            Some(_) => continue,
            None => panic!("watch stream ended"),
        }
    }
}

#[tokio::test]
async fn watcher_with_label_selector_sees_only_matching_pods() {
    let h = harness().await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let cfg = watcher::Config::default().labels("app=spark");
    let mut stream = watcher::watcher(pods.clone(), cfg)
        .default_backoff()
        .boxed();
    pods.create(&PostParams::default(), &pod("other", "web"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pods.create(&PostParams::default(), &pod("driver", "spark"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The pod and the kubelet's updates to it arrive, never the other pod.
    loop {
        let p = next_applied(&mut stream).await;
        assert_eq!(p.metadata.name.as_deref(), Some("driver"));
        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
            break;
        }
    }
    h.server.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_prunes() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let pp = PatchParams::apply("sparkube").force();
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}});
    let created = cms
        .patch("conf", &pp, &Patch::Apply(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        created
            .data
            .as_ref()
            .and_then(|d| d.get("y"))
            .map(String::as_str),
        Some("2")
    );
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "labels": {"a": "1"}}, "data": {"x": "3"}});
    let updated = cms
        .patch("conf", &pp, &Patch::Apply(&second))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let data = updated.data.unwrap_or_default();
    assert_eq!(data.get("x").map(String::as_str), Some("3"));
    assert!(
        !data.contains_key("y"),
        "a field no longer applied is removed"
    );
    assert!(
        !updated
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("b")
    );
    let managers: Vec<String> = updated
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"sparkube".to_string()));
    let merged = cms
        .patch(
            "conf",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"z": "1"}})),
        )
        .await;
    assert!(merged.is_ok());
    cms.delete("conf", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cms.get_opt("conf")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    h.server.shutdown().await;
}

/// Sends a JSON patch (RFC 6902) for ConfigMap `conf`; the API `Status` code and reason on failure.
async fn json_patch(client: &Client, ops: serde_json::Value) -> Result<ConfigMap, (u16, String)> {
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/conf")
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(&ops).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    client.request::<ConfigMap>(req).await.map_err(|e| match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("not an API answer: {other}"),
    })
}

#[tokio::test]
async fn json_patch_applies_all_operations_or_answers_as_kube_apiserver() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "conf"}, "data": {"x": "1"}}))
            .unwrap_or_else(|e| panic!("{e}"));
    cms.create(&PostParams::default(), &cm)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let patched = json_patch(
        &h.client,
        json!([{"op": "test", "path": "/data/x", "value": "1"}, {"op": "replace", "path": "/data/x", "value": "2"}, {"op": "add", "path": "/data/y", "value": "3"}]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let data = patched.data.unwrap_or_default();
    assert_eq!(data.get("x").map(String::as_str), Some("2"));
    assert_eq!(data.get("y").map(String::as_str), Some("3"));
    // A failed `test` is 422 Invalid, and the operations before it are not kept.
    let failed = json_patch(
        &h.client,
        json!([{"op": "remove", "path": "/data/y"}, {"op": "test", "path": "/data/x", "value": "1"}]),
    )
    .await;
    assert_eq!(failed.err(), Some((422, "Invalid".to_string())));
    let missing = json_patch(&h.client, json!([{"op": "remove", "path": "/data/nope"}])).await;
    assert_eq!(missing.err(), Some((422, "Invalid".to_string())));
    let malformed = json_patch(&h.client, json!({"op": "add"})).await;
    assert_eq!(malformed.err(), Some((400, "BadRequest".to_string())));
    let kept = cms.get("conf").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kept.data,
        Some(
            [
                ("x".to_string(), "2".to_string()),
                ("y".to_string(), "3".to_string())
            ]
            .into()
        )
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn watcher_recovers_from_410_after_compaction() {
    let h = harness().await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let mut stream = watcher::watcher(pods.clone(), watcher::Config::default().labels("app=r"))
        .default_backoff()
        .applied_objects()
        .boxed();
    pods.create(&PostParams::default(), &pod("first", "r"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = tokio::time::timeout(Duration::from_secs(20), stream.try_next()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))));
    // Forget the history and end the watch with 410: the watcher must relist and go on.
    h.server.cluster.store.compact();
    h.server.cluster.drop_all_watches(true);
    pods.create(&PostParams::default(), &pod("second", "r"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        match next {
            Ok(Some(Ok(p))) if p.metadata.name.as_deref() == Some("second") => break,
            Ok(Some(Ok(_))) => continue,
            // The watcher reports the 410 and relists on the next poll.
            Ok(Some(Err(watcher::Error::WatchError(status)))) if status.code == 410 => continue,
            other => panic!("watcher did not recover: {other:?}"),
        }
    }
    let listed = pods
        .list(&ListParams::default().labels("app=r"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.items.len(), 2);
    h.server.shutdown().await;
}
