//! Progress against kubesim: where the Spark UI is found (the submitted service, or a lookup
//! for an attached driver), "not available" while the UI cannot answer (a simulated driver
//! serves no UI, a slow one answers too late), and a refused proxy as an error. Reading a
//! real Spark UI through the proxy is tested from Python (tests/python/test_progress.py).

mod common;

use std::time::{Duration, Instant};

use common::{Sim, TestApp, within};
use serde_json::json;
use sparkube::build::Object;
use sparkube::{AppHandle, Client, SparkUi, TrackError};

const LIMIT: Duration = Duration::from_secs(60);

/// The test app's objects, its driver service with a `spark-ui` port as Spark builds it.
fn with_ui_port(app: &TestApp) -> Vec<Object> {
    let mut objects = app.values();
    for object in &mut objects {
        if object["kind"] == "Service"
            && let Some(ports) = object["spec"]["ports"].as_array_mut()
        {
            ports.push(
                json!({"name": "spark-ui", "port": 4040, "targetPort": 4040, "protocol": "TCP"}),
            );
        }
    }
    common::typed(objects)
}

async fn submit(client: &Client, app: &TestApp) -> AppHandle {
    match client.submit_objects(&with_ui_port(app)).await {
        Ok(h) => h,
        Err(e) => panic!("submitting {} failed: {e}", app.pod),
    }
}

async fn proxy_requests(sim: &Sim, client: &Client) -> u64 {
    sim.requests_with(
        client,
        &[("resource", "services"), ("subresource", "proxy")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_and_attached_handles_find_the_ui_and_wait_for_it() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("progress", 30.0, 0);
        let handle = submit(&client, &app).await;
        assert_eq!(
            handle.spark_ui,
            Some(SparkUi {
                service: format!("{}-svc", app.pod),
                port: 4040
            })
        );

        // The simulated driver serves no UI: the proxy cannot reach it, which is "not yet".
        let proxied = proxy_requests(&sim, &client).await;
        let lists = sim.requests(&client, "LIST", "services").await;
        match client.progress(&handle).await {
            Ok(None) => {}
            other => panic!("expected no progress from a driver without a UI, got {other:?}"),
        }
        assert!(proxy_requests(&sim, &client).await >= proxied + 2);
        assert_eq!(sim.requests(&client, "LIST", "services").await, lists);

        // Attached, the pod declares no `spark-ui` container port: the service is looked up.
        let attached = match client.attach(None, &app.pod).await {
            Ok(h) => h,
            Err(e) => panic!("attach failed: {e}"),
        };
        assert_eq!(attached.spark_ui, None);
        match client.progress(&attached).await {
            Ok(None) => {}
            other => panic!("expected no progress, got {other:?}"),
        }
        assert_eq!(sim.requests(&client, "LIST", "services").await, lists + 1);
        assert!(proxy_requests(&sim, &client).await >= proxied + 4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_proxy_is_an_error_and_a_slow_ui_is_not_available_in_time() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("progress-rbac", 30.0, 0);
        let handle = submit(&client, &app).await;

        sim.fault(
            &client,
            json!({"resource": "services", "subresource": "proxy", "status": 403,
                   "message": "services \"x\" is forbidden: cannot get resource \"services/proxy\"",
                   "count": 2}),
        )
        .await;
        match client.progress(&handle).await {
            Err(TrackError::Api(e)) => {
                assert_eq!(e.status_code(), Some(403), "{e}");
                assert!(e.to_string().contains("read the Spark UI"), "{e}");
            }
            other => panic!("expected a 403 error, got {other:?}"),
        }

        sim.fault(
            &client,
            json!({"resource": "services", "subresource": "proxy", "delay_ms": 20000}),
        )
        .await;
        let started = Instant::now();
        match client.progress(&handle).await {
            Ok(None) => {}
            other => panic!("expected no progress from a UI that does not answer, got {other:?}"),
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(7), "took {took:?}");
    })
    .await;
}
