//! Connecting to kubesim over TLS the spark-submit way (`k8s://https://…` plus the
//! `spark.kubernetes.authenticate.submission.*` confs) and through a kubeconfig exec plugin:
//! certificate verification is on unless disabled, and authentication failures surface with
//! their HTTP status.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Sim, fast_retries, scratch_dir, within};
use sparkube::{Client, ConnectOptions, TrackError};

const LIMIT: Duration = Duration::from_secs(60);

/// kubesim with a state directory, and its CA written to a PEM file.
fn tls_sim() -> (Sim, PathBuf) {
    let state = scratch_dir("state");
    let sim = Sim::start_with_state(&state);
    let tls = std::fs::read_to_string(state.join("tls.json")).unwrap_or_default();
    let tls: serde_json::Value = serde_json::from_str(&tls).unwrap_or_default();
    let ca = sim.dir().join("ca.pem");
    let pem = tls["ca_pem"].as_str().unwrap_or_default();
    assert!(
        pem.contains("BEGIN CERTIFICATE"),
        "no CA in {}",
        state.display()
    );
    let _ = std::fs::write(&ca, pem);
    (sim, ca)
}

fn https_master(sim: &Sim) -> String {
    format!("k8s://{}", sim.url.replace("http://", "https://"))
}

async fn connect(options: &ConnectOptions) -> Client {
    match Client::connect(options).await {
        Ok(c) => c.with_retry_policy(fast_retries()),
        Err(e) => panic!("connect failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_with_ca_and_token_file_from_spark_conf() {
    let (sim, ca) = tls_sim();
    within(LIMIT, async {
        let token = sim.dir().join("token");
        let _ = std::fs::write(&token, sim.token());
        let conf: HashMap<String, String> = [
            ("spark.master".to_string(), https_master(&sim)),
            (
                "spark.kubernetes.authenticate.submission.caCertFile".into(),
                ca.display().to_string(),
            ),
            (
                "spark.kubernetes.authenticate.submission.oauthTokenFile".into(),
                token.display().to_string(),
            ),
            ("spark.kubernetes.namespace".into(), "kube-system".into()),
        ]
        .into_iter()
        .collect();
        let mut options = ConnectOptions {
            in_cluster: Some(false),
            ..ConnectOptions::default()
        };
        options.apply_spark_conf(|k| conf.get(k).cloned());
        let client = connect(&options).await;
        assert_eq!(client.default_namespace(), "kube-system");
        assert!(client.cluster_url().starts_with("https://127.0.0.1:"));
        let listed = client.list(Some("*"), None).await;
        assert!(listed.is_ok(), "{listed:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_verified_unless_disabled() {
    let (sim, _ca) = tls_sim();
    within(LIMIT, async {
        let options = ConnectOptions {
            master: Some(https_master(&sim)),
            oauth_token: Some(sim.token()),
            in_cluster: Some(false),
            ..ConnectOptions::default()
        };
        let client = connect(&options).await;
        let start = Instant::now();
        match client.list(None, None).await {
            Err(TrackError::Api(e)) => {
                assert_eq!(e.status_code(), None, "{e}");
                assert!(
                    !e.is_transient(),
                    "a certificate failure is not retried: {e}"
                );
            }
            other => panic!("an unknown CA must be refused, got {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(5));

        let insecure = ConnectOptions {
            insecure_skip_tls_verify: true,
            ..options
        };
        let client = connect(&insecure).await;
        let listed = client.list(None, None).await;
        assert!(listed.is_ok(), "{listed:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_a_401() {
    let (sim, ca) = tls_sim();
    within(LIMIT, async {
        let options = ConnectOptions {
            master: Some(https_master(&sim)),
            oauth_token: Some("not-the-token".into()),
            ca_cert_file: Some(ca),
            in_cluster: Some(false),
            ..ConnectOptions::default()
        };
        let client = connect(&options).await;
        match client.list(None, None).await {
            Err(e) => assert_eq!(e.status_code(), Some(401), "{e}"),
            Ok(l) => panic!("listed {} drivers with a wrong token", l.len()),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_with_an_exec_plugin() {
    let (sim, ca) = tls_sim();
    within(LIMIT, async {
        let credential = serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": sim.token(), "expirationTimestamp": "2099-01-01T00:00:00Z"},
        });
        let kubeconfig = serde_json::json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {
                "server": sim.url.replace("http://", "https://"),
                "certificate-authority": ca.display().to_string()}}],
            "users": [{"name": "plugin", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "sh",
                "args": ["-c", format!("printf '%s' '{credential}'")],
                "interactiveMode": "Never"}}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "sim", "user": "plugin", "namespace": "team-a"}}],
            "current-context": "ctx",
        });
        let options = ConnectOptions {
            kubeconfig_content: Some(kubeconfig.to_string()),
            ..ConnectOptions::default()
        };
        let client = connect(&options).await;
        assert_eq!(client.default_namespace(), "team-a");
        let listed = client.list(None, None).await;
        assert!(listed.is_ok(), "{listed:?}");
    })
    .await;
}
