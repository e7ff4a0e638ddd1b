//! Logs and kill against kubesim: follow across a dropped connection without a lost or
//! repeated line, tail, executor logs, kill with wait, and spark-submit's glob targets.

mod common;

use std::time::Duration;

use common::{Sim, TestApp, hex_id, within};
use futures::StreamExt;
use serde_json::json;
use sparkube::{AppHandle, Client, KillOptions, LogOptions};

const LIMIT: Duration = Duration::from_secs(60);

async fn submit(client: &Client, app: &TestApp) -> AppHandle {
    match client.submit_objects(&app.objects()).await {
        Ok(h) => h,
        Err(e) => panic!("submitting {} failed: {e}", app.pod),
    }
}

async fn collect(client: &Client, pod: &str, options: &LogOptions) -> Vec<String> {
    let stream = match client.logs(None, pod, options).await {
        Ok(s) => s,
        Err(e) => panic!("logs of {pod}: {e}"),
    };
    let lines: Vec<_> = stream.collect().await;
    lines
        .into_iter()
        .map(|l| match l {
            Ok(l) => l,
            Err(e) => panic!("reading logs of {pod}: {e}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_survives_dropped_connections_without_lost_or_repeated_lines() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let expected: Vec<String> = (1..=60)
            .map(|i| format!("line {i:03} of the driver"))
            .collect();
        let app = TestApp::new("follow", 4.0, 0)
            .annotate("kubesim.io/log", &expected.join("\n"))
            .annotate("kubesim.io/log-interval-ms", "50");
        let handle = submit(&client, &app).await;
        let options = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        let reader = collect(&client, &handle.driver_pod, &options);
        let chaos = async {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(900)).await;
                sim.drop_watches(&client).await;
            }
        };
        let (lines, ()) = tokio::join!(reader, chaos);
        assert_eq!(lines, expected);
        // the connection really was dropped and resumed
        let log_reads = sim
            .requests_with(&client, &[("resource", "pods"), ("subresource", "log")])
            .await;
        assert!(log_reads >= 2, "{log_reads}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_and_timestamps() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("tail", 0.5, 0).annotate("kubesim.io/log", "a\nb\nc\nd");
        let handle = submit(&client, &app).await;
        let done = client
            .wait(&handle, &sparkube::WaitOptions::default())
            .await;
        assert!(done.is_ok_and(|s| s.is_success()));
        let all = collect(&client, &app.pod, &LogOptions::default()).await;
        assert_eq!(all, ["a", "b", "c", "d"]);
        let tail = collect(
            &client,
            &app.pod,
            &LogOptions {
                tail: Some(2),
                ..LogOptions::default()
            },
        )
        .await;
        assert_eq!(tail, ["c", "d"]);
        let stamped = collect(
            &client,
            &app.pod,
            &LogOptions {
                timestamps: true,
                ..LogOptions::default()
            },
        )
        .await;
        assert_eq!(stamped.len(), 4);
        for (line, text) in stamped.iter().zip(["a", "b", "c", "d"]) {
            let (ts, rest) = line.split_once(' ').unwrap_or_default();
            assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{line}");
            assert_eq!(rest, text);
        }
        // a follow of a finished container ends by itself
        let followed = collect(
            &client,
            &app.pod,
            &LogOptions {
                follow: true,
                ..LogOptions::default()
            },
        )
        .await;
        assert_eq!(followed, ["a", "b", "c", "d"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_logs_by_executor_id() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("withexec", 30.0, 0).annotate("kubesim.io/log", "driver line");
        let handle = submit(&client, &app).await;
        let executor = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("withexec-{}-exec-1", hex_id(8)), "namespace": "default",
                "labels": {"spark-app-selector": app.app_id, "spark-role": "executor", "spark-exec-id": "1"},
                "annotations": {"kubesim.io/run-seconds": "0.5", "kubesim.io/log": "executor one says hi"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": app.pod,
                                     "uid": handle.pod_uid, "controller": true}]},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "spark-kubernetes-executor", "image": "apache/spark:4.0.0", "args": ["executor"]}]},
        });
        let (status, body) = sim
            .request(&client, "POST", "/api/v1/namespaces/default/pods", Some(executor))
            .await;
        assert_eq!(status, 201, "{body}");
        let options = LogOptions {
            executor: Some("1".into()),
            follow: true,
            ..LogOptions::default()
        };
        assert_eq!(collect(&client, &app.pod, &options).await, ["executor one says hi"]);
        let missing = client
            .logs(
                None,
                &app.pod,
                &LogOptions {
                    executor: Some("7".into()),
                    ..LogOptions::default()
                },
            )
            .await;
        assert!(missing.is_err_and(|e| e.status_code() == Some(404)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_wait_until_everything_is_gone() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("killme", 60.0, 0);
        let handle = submit(&client, &app).await;
        let options = KillOptions {
            grace_period: Some(Duration::from_secs(1)),
            wait: true,
            wait_timeout: Some(Duration::from_secs(30)),
        };
        match client.kill(None, &handle.driver_pod, &options).await {
            Ok(true) => {}
            other => panic!("kill failed: {other:?}"),
        }
        for object in &app.values()[1..] {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let path = match kind {
                "Service" => format!("/api/v1/namespaces/default/services/{name}"),
                _ => format!("/api/v1/namespaces/default/configmaps/{name}"),
            };
            let (status, _) = sim.request(&client, "GET", &path, None).await;
            assert_eq!(status, 404, "{kind} {name} still exists");
        }
        // a second kill finds nothing
        assert!(
            client
                .kill(None, &handle.driver_pod, &options)
                .await
                .is_ok_and(|d| !d)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_by_glob_selects_drivers_by_prefix() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let prefix = format!("glob{}", hex_id(6));
        let mine: Vec<TestApp> = (0..3).map(|_| TestApp::new(&prefix, 60.0, 0)).collect();
        let other = TestApp::new("bystander", 60.0, 0);
        for app in mine.iter().chain([&other]) {
            submit(&client, app).await;
        }
        let options = KillOptions {
            grace_period: Some(Duration::ZERO),
            ..KillOptions::default()
        };
        let killed = match client
            .kill_matching(&format!("default:{prefix}*"), &options)
            .await
        {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        let mut names: Vec<String> = killed.iter().map(|k| k.driver_pod.clone()).collect();
        names.sort();
        let mut expected: Vec<String> = mine.iter().map(|a| a.pod.clone()).collect();
        expected.sort();
        assert_eq!(names, expected);
        let bystander = client.status("default", &other.pod).await;
        assert!(bystander.is_ok_and(|s| !s.is_final()));
        // without a namespace, the client's default one is used
        let none = client
            .kill_matching("nothing-starts-like-this*", &options)
            .await;
        assert!(none.is_ok_and(|k| k.is_empty()));
        assert!(client.kill_matching("bad:*:x", &options).await.is_err());
    })
    .await;
}
