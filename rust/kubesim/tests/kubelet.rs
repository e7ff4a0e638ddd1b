//! The simulated kubelet's restarts seen through a watch: a crashed container starts again at
//! once the first time, then waits out a back-off (CrashLoopBackOff), and its pod stays Running.

mod common;

use std::time::{Duration, Instant};

use common::{EventLines, request};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_crashed_container_restarts_at_once_then_backs_off() {
    let server = kubesim::start(kubesim::Options::default())
        .await
        .unwrap_or_else(|e| panic!("kubesim did not start: {e}"));
    for policy in ["Always", "OnFailure"] {
        let name = format!("crash-{}", policy.to_lowercase());
        let (status, body, _conn) = request(
            &server,
            Method::GET,
            &format!(
                "/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3D{name}"
            ),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let mut watch = EventLines::new(body);
        // Runs 0.2 s and fails; a back-off of 30 s would outlast the test's waits.
        let pod = json!({
            "metadata": {"name": name, "annotations": {
                "kubesim.io/run-seconds": "0.2",
                "kubesim.io/exit-code": "1",
                "kubesim.io/restart-backoff-seconds": "30",
            }},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox:1.36"}]},
        });
        let (status, _, _conn) = request(
            &server,
            Method::POST,
            "/api/v1/namespaces/default/pods",
            Some(pod),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let created = Instant::now();

        let mut running = false;
        let mut restarted = false;
        loop {
            let pod = watch.next().await.unwrap_or_else(|| panic!("watch ended"))["object"].clone();
            let st = &pod["status"];
            if running {
                assert_eq!(st["phase"], "Running", "{policy}: {st}");
            }
            running |= st["phase"] == "Running";
            let c = &st["containerStatuses"][0];
            let restarts = c["restartCount"].as_u64().unwrap_or_default();
            if c["state"]["running"].is_object() && restarts == 1 && !restarted {
                let after = created.elapsed();
                assert!(
                    after < Duration::from_secs(5),
                    "{policy}: restarted after {after:?}"
                );
                let last = &c["lastState"]["terminated"];
                assert_eq!(last["exitCode"], 1, "{policy}: {c}");
                let gap = kubesim::clock::parse(
                    c["state"]["running"]["startedAt"]
                        .as_str()
                        .unwrap_or_default(),
                )
                .zip(kubesim::clock::parse(
                    last["finishedAt"].as_str().unwrap_or_default(),
                ))
                .map(|(started, finished)| (started - finished).num_seconds());
                assert!(gap.is_some_and(|g| (0..=1).contains(&g)), "{policy}: {c}");
                restarted = true;
            }
            let waiting = &c["state"]["waiting"];
            if waiting["reason"] == "CrashLoopBackOff" {
                assert!(
                    restarted,
                    "{policy}: back-off before the first restart: {c}"
                );
                // One restart so far: the second waits out the back-off.
                assert_eq!(restarts, 1, "{policy}: {c}");
                let message = waiting["message"].as_str().unwrap_or_default();
                assert!(message.starts_with("back-off 30s "), "{policy}: {message}");
                break;
            }
        }
    }
    server.shutdown().await;
}
