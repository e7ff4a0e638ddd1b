//! Preflight against kubesim: every object goes as a dry run and nothing is created; the whole
//! app is compared with the namespace's quota; a namespace without quota passes and says so;
//! one round trip per object plus the quota and limit range reads, counted by kubesim.

mod common;

use std::time::Duration;

use common::{Sim, within};
use serde_json::json;
use sparkube::{Client, Ids, SubmitRequest};

fn app_request(namespace: &str, extra: &[&str]) -> SubmitRequest {
    let mut args = vec![
        "--deploy-mode".to_string(),
        "cluster".into(),
        "--name".into(),
        "wide".into(),
        "--conf".into(),
        "spark.kubernetes.container.image=apache/spark:4.0.0".into(),
        "--conf".into(),
        format!("spark.kubernetes.namespace={namespace}"),
    ];
    for e in extra {
        args.push("--conf".into());
        args.push((*e).to_string());
    }
    args.push("local:///opt/spark/examples/src/main/python/pi.py".into());
    sparkube::parse_submit_args(&args)
        .and_then(|a| sparkube::local::resolve_args(a, None))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn namespace(sim: &Sim, client: &Client, ns: &str) {
    let (status, body) = sim
        .request(
            client,
            "POST",
            "/api/v1/namespaces",
            Some(json!({"metadata": {"name": ns}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn quota(sim: &Sim, client: &Client, ns: &str, hard: serde_json::Value) {
    let (status, body) = sim
        .request(
            client,
            "POST",
            &format!("/api/v1/namespaces/{ns}/resourcequotas"),
            Some(json!({"metadata": {"name": "compute"}, "spec": {"hard": hard}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn pods(sim: &Sim, client: &Client, ns: &str) -> usize {
    let (_, body) = sim
        .request(
            client,
            "GET",
            &format!("/api/v1/namespaces/{ns}/pods"),
            None,
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["items"].as_array().map_or(usize::MAX, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_executors_against_a_quota_with_room_for_three() {
    let sim = Sim::start();
    within(Duration::from_secs(60), async {
        let client = sim.client().await;
        namespace(&sim, &client, "pf-small").await;
        quota(&sim, &client, "pf-small", json!({"requests.cpu": "13", "pods": "20"})).await;
        let request = app_request(
            "pf-small",
            &["spark.executor.instances=8", "spark.executor.cores=4"],
        );
        let objects = sparkube::build(&request, &Ids::random())
            .unwrap_or_else(|e| panic!("{e}"))
            .in_api_order();
        let (_, before) = sim.request(&client, "GET", "/metrics", None).await;
        let report = client
            .preflight(&request, &objects)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, after) = sim.request(&client, "GET", "/metrics", None).await;

        assert!(!report.passed, "{report}");
        let quota = report
            .checks
            .iter()
            .find(|c| c.subject == "ResourceQuota compute")
            .unwrap_or_else(|| panic!("{report}"));
        assert_eq!(
            quota.message,
            "driver fits; 8 executors need 32 CPU (requests.cpu), the quota has 12 CPU left after the driver (room for 3)"
        );
        // Every object was accepted by its dry run, and none exists.
        let dry: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.message == "accepted (dry run)")
            .collect();
        assert_eq!(dry.len(), objects.len(), "{report}");
        assert_eq!(pods(&sim, &client, "pf-small").await, 0);
        // One request per object plus the two reads, as kubesim counted them.
        assert_eq!(report.round_trips as usize, objects.len() + 2);
        let count = |labels: &[(&str, &str)]| {
            common::count_matching(&after, labels) - common::count_matching(&before, labels)
        };
        assert_eq!(count(&[]), u64::from(report.round_trips), "{after}");
        assert_eq!(count(&[("dry_run", "All")]), objects.len() as u64);
        assert_eq!(count(&[("verb", "LIST")]), 2);

        // The same app with three executors fits.
        let fits = app_request(
            "pf-small",
            &["spark.executor.instances=3", "spark.executor.cores=4"],
        );
        let objects = sparkube::build(&fits, &Ids::random())
            .unwrap_or_else(|e| panic!("{e}"))
            .in_api_order();
        let report = client
            .preflight(&fits, &objects)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.passed, "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_the_quota_refuses_and_a_namespace_without_quota() {
    let sim = Sim::start();
    within(Duration::from_secs(60), async {
        let client = sim.client().await;
        namespace(&sim, &client, "pf-tiny").await;
        quota(&sim, &client, "pf-tiny", json!({"requests.cpu": "500m"})).await;
        let tiny = app_request("pf-tiny", &[]);
        let objects = sparkube::build(&tiny, &Ids::random())
            .unwrap_or_else(|e| panic!("{e}"))
            .in_api_order();
        let report = client
            .preflight(&tiny, &objects)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!report.passed);
        let driver = &report.checks[0];
        assert!(driver.subject.starts_with("Pod pf-tiny/wide-"), "{report}");
        assert!(
            driver.message.contains("is forbidden: exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=0, limited: requests.cpu=500m"),
            "{report}"
        );

        namespace(&sim, &client, "pf-open").await;
        let open = app_request("pf-open", &["spark.executor.instances=50"]);
        let objects = sparkube::build(&open, &Ids::random())
            .unwrap_or_else(|e| panic!("{e}"))
            .in_api_order();
        let report = client
            .preflight(&open, &objects)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.passed, "{report}");
        assert!(
            report.checks.iter().any(|c| c.message
                == "namespace pf-open has no ResourceQuota: nothing limits the app's total size"),
            "{report}"
        );
        assert_eq!(pods(&sim, &client, "pf-open").await, 0);
    })
    .await;
}
