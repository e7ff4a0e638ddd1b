//! Submitting against kubesim: the calls and their order, ownerReferences, idempotency, retries
//! of transient faults and clean-up after a failure.

mod common;

use std::time::Duration;

use common::{Sim, TestApp, within};
use serde_json::{Value, json};
use sparkube::{AppHandle, Client, SubmitError};

const LIMIT: Duration = Duration::from_secs(60);

async fn submit(client: &Client, app: &TestApp) -> AppHandle {
    match client.submit_objects(&app.objects()).await {
        Ok(h) => h,
        Err(e) => panic!("submitting {} failed: {e}", app.pod),
    }
}

async fn get_json(sim: &Sim, client: &Client, path: &str) -> (u16, Value) {
    let (status, body) = sim.request(client, "GET", path, None).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn pods_of_submission(sim: &Sim, client: &Client, submission_id: &str) -> usize {
    let (status, list) = get_json(
        sim,
        client,
        &format!("/api/v1/namespaces/default/pods?labelSelector=sparkube.io%2Fsubmission-id%3D{submission_id}"),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_first_then_owned_objects_by_server_side_apply() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("owned", 30.0, 0);
        let handle = submit(&client, &app).await;
        assert_eq!(handle.namespace, "default");
        assert_eq!(handle.driver_pod, app.pod);
        assert_eq!(handle.app_id, app.app_id);
        assert_eq!(
            handle.submission_id.as_deref(),
            Some(app.submission_id.as_str())
        );
        assert!(!handle.adopted);
        let uid = handle.pod_uid.clone().unwrap_or_default();
        assert!(!uid.is_empty());

        let objects = app.values();
        for (object, path) in [(&objects[1], "services"), (&objects[2], "configmaps")] {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let (status, got) = get_json(
                &sim,
                &client,
                &format!("/api/v1/namespaces/default/{path}/{name}"),
            )
            .await;
            assert_eq!(status, 200, "{path}/{name}: {got}");
            let owner = &got["metadata"]["ownerReferences"][0];
            assert_eq!(owner["kind"], "Pod");
            assert_eq!(owner["name"], app.pod.as_str());
            assert_eq!(owner["uid"], uid.as_str());
            let managers: Vec<&str> = got["metadata"]["managedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["manager"].as_str())
                .collect();
            assert!(
                managers.contains(&"sparkube"),
                "{path}: managers {managers:?}"
            );
        }
        assert_eq!(sim.requests(&client, "POST", "pods").await, 1);
        assert_eq!(sim.requests(&client, "APPLY", "services").await, 1);
        assert_eq!(sim.requests(&client, "APPLY", "configmaps").await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_submission_adopts_its_driver() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("again", 30.0, 0);
        let first = submit(&client, &app).await;
        let second = submit(&client, &app).await;
        assert!(second.adopted);
        assert_eq!(first.pod_uid, second.pod_uid);
        assert_eq!(
            pods_of_submission(&sim, &client, &app.submission_id).await,
            1
        );

        // same pod name, another submission: a clear conflict
        let mut other = app.clone();
        other.submission_id = "sub-someone-else".into();
        match client.submit_objects(&other.objects()).await {
            Err(e @ SubmitError::Conflict { .. }) => {
                assert_eq!(e.status_code(), Some(409));
                assert!(e.to_string().contains(&app.submission_id), "{e}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        // and the existing driver is untouched
        let status = client.status("default", &app.pod).await;
        assert!(
            status.is_ok_and(|s| s.submission_id.as_deref() == Some(app.submission_id.as_str()))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_leave_exactly_one_driver() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        sim.fault(&client, json!({"verb": "create", "resource": "pods", "status": 500, "count": 2})).await;
        sim.fault(&client, json!({"verb": "create", "resource": "pods", "status": 429, "retry_after": 1, "count": 1})).await;
        sim.fault(&client, json!({"verb": "create", "resource": "pods", "reset": true, "count": 1})).await;
        sim.fault(&client, json!({"verb": "patch", "resource": "services", "status": 503, "count": 2})).await;
        sim.fault(&client, json!({"verb": "patch", "resource": "configmaps", "status": 429, "retry_after": 1, "count": 2})).await;
        sim.fault(&client, json!({"verb": "patch", "resource": "configmaps", "status": 502, "count": 1})).await;

        let start = std::time::Instant::now();
        let apps: Vec<TestApp> = (0..5).map(|i| TestApp::new(&format!("flaky{i}"), 30.0, 0)).collect();
        let handles = futures::future::join_all(apps.iter().map(|a| {
            let objects = a.objects();
            let client = client.clone();
            async move { client.submit_objects(&objects).await }
        }))
        .await;
        for (app, handle) in apps.iter().zip(handles) {
            let handle = match handle {
                Ok(h) => h,
                Err(e) => panic!("{}: {e}", app.pod),
            };
            assert_eq!(handle.driver_pod, app.pod);
            assert_eq!(pods_of_submission(&sim, &client, &app.submission_id).await, 1, "{}", app.pod);
        }
        // the 429s asked for a second's pause, and got it
        assert!(start.elapsed() >= Duration::from_millis(950), "{:?}", start.elapsed());
        // every create attempt that failed was retried, and no more
        let creates = sim.requests(&client, "POST", "pods").await;
        assert!((5..=5 + 4 + 5).contains(&creates), "{creates} pod creates");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_error_on_create_is_not_retried() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        sim.fault(&client, json!({"verb": "create", "resource": "pods", "status": 403, "message": "pods is forbidden", "count": 1})).await;
        let app = TestApp::new("forbidden", 30.0, 0);
        match client.submit_objects(&app.objects()).await {
            Err(e @ SubmitError::CreatePod { .. }) => {
                assert_eq!(e.status_code(), Some(403));
                assert!(e.to_string().contains("forbidden"), "{e}");
            }
            other => panic!("expected a create failure, got {other:?}"),
        }
        assert_eq!(sim.requests(&client, "POST", "pods").await, 1);
        assert_eq!(pods_of_submission(&sim, &client, &app.submission_id).await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_deletes_the_driver_and_reports_the_original_error() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        sim.fault(&client, json!({"verb": "patch", "resource": "configmaps", "status": 422, "message": "ConfigMap is invalid", "count": 1})).await;
        let app = TestApp::new("applyfail", 30.0, 0);
        match client.submit_objects(&app.objects()).await {
            Err(e @ SubmitError::Apply { .. }) => {
                assert_eq!(e.status_code(), Some(422));
                assert!(e.to_string().contains("ConfigMap is invalid"), "{e}");
                assert!(matches!(&e, SubmitError::Apply { kind, cleanup: None, .. } if kind == "ConfigMap"), "{e:?}");
            }
            other => panic!("expected an apply failure, got {other:?}"),
        }
        assert!(sim.requests(&client, "DELETE", "pods").await >= 1);
        // the pod goes away (owner GC then takes the service)
        let mut gone = false;
        for _ in 0..100 {
            if client.driver_pod("default", &app.pod).await.is_ok_and(|p| p.is_none()) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "driver pod {} still exists", app.pod);
    })
    .await;
}
