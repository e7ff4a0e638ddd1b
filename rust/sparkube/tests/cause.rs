//! The root cause of failed apps against kubesim: each case scripts a driver that fails (its
//! log, exit code) and the executor pods a real driver would have made (OOMKilled, unschedulable,
//! an image that cannot be pulled), then `wait` must return the one-line cause. The cases run
//! side by side on one kubesim.

mod common;

use std::time::Duration;

use common::{Sim, TestApp, within};
use serde_json::{Value, json};
use sparkube::{AppState, Client, WaitOptions};

/// An executor pod of `app` with `annotations` and a container `extra` merges into.
fn executor(app: &TestApp, uid: &str, id: u32, annotations: Value, extra: Value) -> Value {
    let mut container = json!({"name": "spark-kubernetes-executor", "image": "apache/spark:4.0.0",
        "args": ["executor"], "resources": {"requests": {"cpu": "1", "memory": "1408Mi"}, "limits": {"memory": "1408Mi"}}});
    if let (Some(c), Some(e)) = (container.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let prefix = app.pod.trim_end_matches("-driver");
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{prefix}-exec-{id}"), "namespace": "default",
            "labels": {"spark-app-selector": app.app_id, "spark-role": "executor", "spark-exec-id": id.to_string()},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": app.pod, "uid": uid, "controller": true}]},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    })
}

struct Case {
    what: &'static str,
    log: &'static str,
    executors: Vec<(Value, Value)>,
    /// The start of the cause.
    cause: &'static str,
    /// Something the rest of the cause holds (for messages that change while pulls back off).
    contains: &'static str,
}

async fn run(sim: &Sim, client: &Client, case: Case) {
    // Long enough for the executors to reach their end before the driver fails.
    let app = TestApp::new("cause", 3.0, 1).annotate("kubesim.io/log", case.log);
    let handle = client
        .submit_objects(&app.objects())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.what));
    let uid = handle.pod_uid.clone().unwrap_or_default();
    for (i, (annotations, extra)) in case.executors.into_iter().enumerate() {
        let pod = executor(&app, &uid, i as u32 + 1, annotations, extra);
        let (status, body) = sim
            .request(client, "POST", "/api/v1/namespaces/default/pods", Some(pod))
            .await;
        assert_eq!(status, 201, "{}: {body}", case.what);
    }
    let status = client
        .wait(&handle, &WaitOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.what));
    assert_eq!(status.state, AppState::Failed, "{}: {status:?}", case.what);
    let cause = status.cause.clone().unwrap_or_default();
    assert!(
        cause.starts_with(case.cause) && cause.contains(case.contains),
        "{}: {cause:?}",
        case.what
    );
    assert!(status.log_tail.len() <= 20, "{}", case.what);
    let failed = status.clone().ensure_success().err().map(|e| e.to_string());
    assert!(
        failed.is_some_and(|m| m.ends_with(&format!("; cause: {cause}"))),
        "{}",
        case.what
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cause_from_a_scripted_failure() {
    let sim = Sim::start();
    within(Duration::from_secs(90), async {
        let client = sim.client().await;
        let oom = || (json!({"kubesim.io/oom": "true", "kubesim.io/run-seconds": "0.5"}), json!({}));
        let cases = vec![
            Case {
                what: "executors OOMKilled",
                log: "INFO SparkContext: Running Spark version 4.0.1",
                executors: vec![oom(), oom(), oom()],
                cause: "3 executors OOMKilled at their 1408Mi memory limit: raise spark.executor.memoryOverhead (memory outside the JVM heap: Python workers, off-heap, native) or spark.executor.memory",
                contains: "",
            },
            Case {
                what: "executors unschedulable",
                log: "WARN TaskSchedulerImpl: Initial job has not accepted any resources",
                executors: vec![(
                    json!({}),
                    json!({"resources": {"requests": {"cpu": "1000"}, "limits": {"memory": "1Gi"}}}),
                )],
                cause: "1 executor never started: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
                contains: "",
            },
            Case {
                what: "executor image not pulled",
                log: "WARN TaskSchedulerImpl: Initial job has not accepted any resources",
                executors: vec![(json!({}), json!({"image": "registry.example/does-not-exist:1"}))],
                cause: "1 executor never started: ",
                contains: "registry.example/does-not-exist:1: not found",
            },
            Case {
                what: "Python traceback",
                log: "Traceback (most recent call last):\n  File \"/opt/app/job.py\", line 4, in <module>\n    1 / 0\nZeroDivisionError: division by zero\nINFO ShutdownHookManager: Shutdown hook called",
                executors: vec![],
                cause: "Python: ZeroDivisionError: division by zero",
                contains: "",
            },
            Case {
                what: "Java exception",
                log: "Exception in thread \"main\" java.lang.IllegalArgumentException: bad date 2026-13-01\n\tat com.example.Etl.main(Etl.scala:9)",
                executors: vec![],
                cause: "Java: java.lang.IllegalArgumentException: bad date 2026-13-01",
                contains: "",
            },
            Case {
                what: "storage 403",
                log: "java.nio.file.AccessDeniedException: s3a://data/in.csv: getFileStatus on s3a://data/in.csv: Forbidden (Service: S3, Status Code: 403)",
                executors: vec![],
                cause: "storage refused access (403): java.nio.file.AccessDeniedException: s3a://data/in.csv: getFileStatus on s3a://data/in.csv: Forbidden (Service: S3, Status Code: 403)",
                contains: "",
            },
            Case {
                what: "executors refused by quota",
                log: "WARN ExecutorPodsAllocator: Exception when requesting new executors\nio.fabric8.kubernetes.client.KubernetesClientException: Failure executing: POST at: https://kubernetes.default.svc/api/v1/namespaces/default/pods. Message: pods \"cause-exec-1\" is forbidden: exceeded quota: compute, requested: requests.cpu=4, used: requests.cpu=12, limited: requests.cpu=12.",
                executors: vec![],
                cause: "executors never started: the namespace's ResourceQuota refused them: pods \"cause-exec-1\" is forbidden: exceeded quota: compute, requested: requests.cpu=4, used: requests.cpu=12, limited: requests.cpu=12.",
                contains: "",
            },
        ];
        let runs = cases.into_iter().map(|c| run(&sim, &client, c));
        futures::future::join_all(runs).await;
    })
    .await;
}
