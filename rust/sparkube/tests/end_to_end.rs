//! A spark-submit command line, parsed and built by sparkube's own builder, submitted to
//! kubesim and followed to the end: every object spark-submit creates is accepted and owned
//! by the driver pod.

mod common;

use std::time::Duration;

use common::{Sim, within};
use sparkube::{AppState, Ids, KillOptions, LogOptions, WaitOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_pi_from_a_spark_submit_command_line() {
    let sim = Sim::start();
    within(Duration::from_secs(60), async {
        let client = sim.client().await;
        let master = format!("k8s://{}", sim.url);
        let args = [
            "--master",
            master.as_str(),
            "--deploy-mode",
            "cluster",
            "--name",
            "spark-pi",
            "--class",
            "org.apache.spark.examples.SparkPi",
            "--conf",
            "spark.kubernetes.container.image=apache/spark:4.0.0",
            "--conf",
            "spark.kubernetes.namespace=default",
            "--conf",
            "spark.kubernetes.driver.annotation.kubesim.io/run-seconds=1",
            "--conf",
            "spark.kubernetes.driver.annotation.kubesim.io/log=Pi is roughly 3.14",
            "local:///opt/spark/examples/jars/spark-examples.jar",
            "100",
        ];
        let request = sparkube::parse_submit_args(&args)
            .and_then(|args| sparkube::local::resolve_args(args, None))
            .unwrap_or_else(|e| panic!("{e}"));
        let resources = sparkube::build(&request, &Ids::random()).unwrap_or_else(|e| panic!("{e}"));
        let handle = client
            .submit(&resources)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(handle.driver_pod.starts_with("spark-pi-"), "{handle:?}");
        assert!(handle.app_id.starts_with("spark-"));

        // every object other than the pod exists and is owned by it
        let objects = resources.to_json().unwrap_or_else(|e| panic!("{e}"));
        for object in objects.iter().skip(1) {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let path = match kind {
                "NetworkPolicy" => {
                    format!("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/{name}")
                }
                "Service" => format!("/api/v1/namespaces/default/services/{name}"),
                "ConfigMap" => format!("/api/v1/namespaces/default/configmaps/{name}"),
                other => panic!("unexpected {other} in a plain SparkPi submission"),
            };
            let (status, body) = sim.request(&client, "GET", &path, None).await;
            assert_eq!(status, 200, "{kind} {name}: {body}");
            let got: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            assert_eq!(
                got["metadata"]["ownerReferences"][0]["uid"].as_str(),
                handle.pod_uid.as_deref(),
                "{kind} {name}"
            );
        }

        let status = client
            .wait(&handle, &WaitOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.state, AppState::Succeeded, "{status:?}");
        let logs = client
            .log_tail(&handle.namespace, &handle.driver_pod, 10)
            .await;
        assert!(logs.is_ok_and(|l| l == ["Pi is roughly 3.14"]));

        let killed = client
            .kill(
                None,
                &handle.driver_pod,
                &KillOptions {
                    wait: true,
                    wait_timeout: Some(Duration::from_secs(30)),
                    ..KillOptions::default()
                },
            )
            .await;
        assert!(killed.is_ok_and(|k| k), "kill");
        let gone = client
            .logs(None, &handle.driver_pod, &LogOptions::default())
            .await;
        assert!(gone.is_err_and(|e| e.status_code() == Some(404)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_named_submission_adopts_its_driver() {
    let sim = Sim::start();
    within(Duration::from_secs(60), async {
        let client = sim.client().await;
        let master = format!("k8s://{}", sim.url);
        let args = [
            "--master",
            master.as_str(),
            "--deploy-mode",
            "cluster",
            "--name",
            "nightly-etl",
            "--conf",
            "spark.kubernetes.container.image=apache/spark:4.0.0",
            "--conf",
            "spark.kubernetes.driver.annotation.kubesim.io/run-seconds=30",
            "local:///opt/app/etl.py",
        ];
        let request = sparkube::parse_submit_args(&args)
            .and_then(|args| sparkube::local::resolve_args(args, None))
            .unwrap_or_else(|e| panic!("{e}"));
        let submit = |millis: i64| {
            let mut ids = Ids::for_submission(Some("etl-2025-01-01-try"));
            // a retry happens later: its submit time differs
            ids.submit_time_millis += millis;
            let resources = sparkube::build(&request, &ids).unwrap_or_else(|e| panic!("{e}"));
            let client = client.clone();
            async move { client.submit(&resources).await }
        };
        let first = submit(0).await.unwrap_or_else(|e| panic!("first: {e}"));
        let second = submit(60_000)
            .await
            .unwrap_or_else(|e| panic!("retry: {e}"));
        assert!(!first.adopted);
        assert!(second.adopted);
        assert_eq!(first.driver_pod, second.driver_pod);
        assert_eq!(first.pod_uid, second.pod_uid);
        let status = client.status(&first.namespace, &first.driver_pod).await;
        assert!(
            status.is_ok_and(|s| !s.is_final()),
            "the adopted driver must keep running"
        );
        // the immutable driver config map of the first attempt was left as it was
        let applies = sim.requests(&client, "APPLY", "configmaps").await;
        assert_eq!(applies, 1, "{applies} applies of immutable config maps");
    })
    .await;
}
