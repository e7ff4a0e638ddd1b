//! Tracking against kubesim: every state the state machine reports, reached by real pods over
//! real HTTP; timeouts; one shared watch for many apps; dropped watches and compaction.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Sim, TestApp, count_requests, within};
use futures::StreamExt;
use serde_json::json;
use sparkube::{AppHandle, AppState, AppStatus, Client, KillOptions, TrackError, WaitOptions};

const LIMIT: Duration = Duration::from_secs(90);

async fn submit(client: &Client, app: &TestApp) -> AppHandle {
    match client.submit_objects(&app.objects()).await {
        Ok(h) => h,
        Err(e) => panic!("submitting {} failed: {e}", app.pod),
    }
}

fn waiting(timeout: u64) -> WaitOptions {
    WaitOptions {
        timeout: Some(Duration::from_secs(timeout)),
        ..WaitOptions::default()
    }
}

async fn wait_ok(client: &Client, handle: &AppHandle, options: &WaitOptions) -> AppStatus {
    match client.wait(handle, options).await {
        Ok(s) => s,
        Err(e) => panic!("waiting for {} failed: {e}", handle.driver_pod),
    }
}

#[test]
fn metrics_are_summed_by_verb_and_resource() {
    let metrics = "# HELP apiserver_request_total x\n\
apiserver_request_total{code=\"200\",resource=\"pods\",verb=\"LIST\"} 2\n\
apiserver_request_total{code=\"410\",resource=\"pods\",verb=\"LIST\"} 1\n\
apiserver_request_total{code=\"200\",resource=\"pods\",verb=\"WATCH\"} 4\n\
apiserver_request_total{code=\"200\",resource=\"services\",verb=\"LIST\"} 9\n";
    assert_eq!(count_requests(metrics, "LIST", "pods"), 3);
    assert_eq!(count_requests(metrics, "WATCH", "pods"), 4);
    assert_eq!(count_requests(metrics, "GET", "pods"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("ok", 1.0, 0);
        let handle = submit(&client, &app).await;
        let status = wait_ok(&client, &handle, &waiting(30)).await;
        assert_eq!(status.state, AppState::Succeeded, "{status:?}");
        assert_eq!(status.exit_code, Some(0));
        assert_eq!(status.app_id.as_deref(), Some(app.app_id.as_str()));
        assert!(
            status.started_at.is_some() && status.finished_at.is_some(),
            "{status:?}"
        );
        assert!(status.log_tail.is_empty());
        // the watch stops with its last waiter
        assert_eq!(client.active_watches(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_zero_exit_code_with_the_last_log_lines() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("exit3", 1.0, 3).annotate(
            "kubesim.io/log",
            "starting\nException in thread \"main\" java.lang.RuntimeException: boom",
        );
        let handle = submit(&client, &app).await;
        let status = wait_ok(&client, &handle, &waiting(30)).await;
        assert_eq!(status.state, AppState::Failed, "{status:?}");
        assert_eq!(status.exit_code, Some(3));
        assert_eq!(status.reason.as_deref(), Some("Error"));
        assert!(
            status
                .log_tail
                .iter()
                .any(|l| l.contains("RuntimeException: boom")),
            "{:?}",
            status.log_tail
        );
        let err = status.clone().ensure_success().err();
        assert!(matches!(err, Some(TrackError::AppFailed { .. })));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_killed() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("oom", 1.0, 0).annotate("kubesim.io/oom", "true");
        let handle = submit(&client, &app).await;
        let status = wait_ok(&client, &handle, &waiting(30)).await;
        assert_eq!(status.state, AppState::Failed, "{status:?}");
        assert_eq!(status.reason.as_deref(), Some("OOMKilled"));
        assert_eq!(status.exit_code, Some(137));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_failure_fails_within_the_grace() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let mut app = TestApp::new("nopull", 1.0, 0);
        app.image = "registry.example.com/does-not-exist:1.0".into();
        let handle = submit(&client, &app).await;
        let options = WaitOptions {
            startup_timeout: Some(Duration::from_secs(60)),
            image_pull_grace: Duration::from_secs(2),
            ..WaitOptions::default()
        };
        let start = Instant::now();
        match client.wait(&handle, &options).await {
            Err(TrackError::StartupTimeout { status, killed, .. }) => {
                assert!(status.is_image_pull_failure(), "{status:?}");
                assert!(!killed);
            }
            other => panic!("expected a startup failure, got {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "took {:?}",
            start.elapsed()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_carries_the_scheduler_message() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let mut app = TestApp::new("nonode", 1.0, 0);
        app.spec_extra = json!({"nodeSelector": {"kubernetes.io/hostname": "no-such-node"}});
        let handle = submit(&client, &app).await;
        let options = WaitOptions {
            startup_timeout: Some(Duration::from_secs(3)),
            ..WaitOptions::default()
        };
        match client.wait(&handle, &options).await {
            Err(TrackError::StartupTimeout { status, .. }) => {
                assert_eq!(status.state, AppState::Pending, "{status:?}");
                assert_eq!(
                    status.reason.as_deref(),
                    Some("Unschedulable"),
                    "{status:?}"
                );
                assert!(
                    status
                        .message
                        .as_deref()
                        .is_some_and(|m| m.contains("node")),
                    "{status:?}"
                );
            }
            other => panic!("expected a startup timeout, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_deleted_mid_run() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("deleted", 60.0, 0);
        let handle = submit(&client, &app).await;
        let mut watch = client.watch_app(&handle);
        loop {
            match watch.next().await {
                Some(s) if s.state == AppState::Running => break,
                Some(s) if s.is_final() => panic!("finished before running: {s:?}"),
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        }
        let waiter = {
            let client = client.clone();
            let handle = handle.clone();
            tokio::spawn(async move { client.wait(&handle, &waiting(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let kill = KillOptions {
            grace_period: Some(Duration::ZERO),
            ..KillOptions::default()
        };
        assert!(
            client
                .kill(None, &handle.driver_pod, &kill)
                .await
                .is_ok_and(|deleted| deleted)
        );
        let status = match waiter.await {
            Ok(Ok(s)) => s,
            other => panic!("wait failed: {other:?}"),
        };
        assert_eq!(status.state, AppState::Deleted, "{status:?}");
        assert!(!status.is_success());
        // the first watch sees the same final state, once
        let mut finals = Vec::new();
        while let Some(s) = watch.next().await {
            finals.push(s);
        }
        assert_eq!(
            finals.iter().filter(|s| s.is_final()).count(),
            1,
            "{finals:?}"
        );
        assert_eq!(finals.last().map(|s| s.state), Some(AppState::Deleted));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_driver_failed_and_was_not_deleted() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("evicted", 60.0, 0);
        let handle = submit(&client, &app).await;
        let mut watch = client.watch_app(&handle);
        loop {
            match watch.next().await {
                Some(s) if s.state == AppState::Running => break,
                Some(s) if s.is_final() => panic!("finished before running: {s:?}"),
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        }
        let waiter = {
            let client = client.clone();
            let handle = handle.clone();
            tokio::spawn(async move { client.wait(&handle, &waiting(30)).await })
        };
        let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": app.pod, "namespace": "default"}});
        let path = format!("/api/v1/namespaces/default/pods/{}/eviction", app.pod);
        let (code, body) = sim.request(&client, "POST", &path, Some(eviction)).await;
        assert_eq!(code, 201, "{body}");
        let waited = match waiter.await {
            Ok(Ok(s)) => s,
            other => panic!("wait failed: {other:?}"),
        };
        let mut finals = Vec::new();
        while let Some(s) = watch.next().await {
            if s.is_final() {
                finals.push(s);
            }
        }
        assert_eq!(finals.len(), 1, "{finals:?}");
        for status in [&finals[0], &waited] {
            assert_eq!(status.state, AppState::Failed, "{status:?}");
            assert_eq!(status.reason.as_deref(), Some("Evicted"), "{status:?}");
            let message = status.message.as_deref().unwrap_or_default();
            assert!(message.contains("was evicted"), "{status:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_timeout_kills_when_asked() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app =
            TestApp::new("slowstart", 1.0, 0).annotate("kubesim.io/start-delay-seconds", "60");
        let handle = submit(&client, &app).await;
        let options = WaitOptions {
            startup_timeout: Some(Duration::from_secs(2)),
            kill_on_timeout: true,
            kill_grace_period: Some(Duration::ZERO),
            ..WaitOptions::default()
        };
        let start = Instant::now();
        match client.wait(&handle, &options).await {
            Err(TrackError::StartupTimeout {
                status,
                killed,
                waited,
            }) => {
                assert!(!status.state.has_started(), "{status:?}");
                assert!(killed);
                assert!(waited >= Duration::from_secs(2));
            }
            other => panic!("expected a startup timeout, got {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        let mut gone = false;
        for _ in 0..100 {
            if client
                .driver_pod("default", &app.pod)
                .await
                .is_ok_and(|p| p.is_none())
            {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "the driver pod was not deleted");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overall_timeout_leaves_the_app_running() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("long", 60.0, 0);
        let handle = submit(&client, &app).await;
        match client.wait(&handle, &waiting(3)).await {
            Err(TrackError::Timeout { status, killed, .. }) => {
                assert_eq!(status.state, AppState::Running, "{status:?}");
                assert!(!killed);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        let status = client.status("default", &app.pod).await;
        assert!(status.is_ok_and(|s| s.state == AppState::Running));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_that_never_exits_does_not_keep_the_app_running() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let mut app =
            TestApp::new("sidecar", 1.0, 0).annotate("kubesim.io/sidecar-run-seconds", "inf");
        app.sidecars.push(
            json!({"name": "log-shipper", "image": "fluent/fluent-bit:3", "args": ["--forever"]}),
        );
        let handle = submit(&client, &app).await;
        let status = wait_ok(&client, &handle, &waiting(30)).await;
        assert_eq!(status.state, AppState::Succeeded, "{status:?}");
        // the pod itself is still running: the sidecar did not exit
        assert_eq!(status.pod_phase.as_deref(), Some("Running"), "{status:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_list_and_attach() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let apps: Vec<TestApp> = (0..3)
            .map(|i| TestApp::new(&format!("listed{i}"), 30.0, 0))
            .collect();
        for app in &apps {
            submit(&client, app).await;
        }
        let one = match client
            .list(
                None,
                Some(&format!(
                    "sparkube.io/submission-id={}",
                    apps[1].submission_id
                )),
            )
            .await
        {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].driver_pod, apps[1].pod);
        let all = client
            .list(Some("*"), None)
            .await
            .map(|l| l.len())
            .unwrap_or(0);
        assert!(all >= 3, "{all}");

        let attached = match client.attach(None, &apps[2].pod).await {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(attached.app_id, apps[2].app_id);
        assert_eq!(
            attached.submission_id.as_deref(),
            Some(apps[2].submission_id.as_str())
        );
        assert!(!attached.adopted);

        match client.attach(None, "no-such-driver").await {
            Err(e @ TrackError::NotFound { .. }) => assert_eq!(e.status_code(), Some(404)),
            other => panic!("expected not found, got {other:?}"),
        }
        let missing = client.status("default", "no-such-driver").await;
        assert!(
            missing.is_ok_and(
                |s| s.state == AppState::Deleted && s.reason.as_deref() == Some("NotFound")
            )
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_arrive_in_order_and_end_with_one_final_state() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("stream", 1.0, 0);
        let handle = submit(&client, &app).await;
        let statuses: Vec<AppStatus> = client.watch_app(&handle).into_stream().collect().await;
        let states: Vec<AppState> = statuses.iter().map(|s| s.state).collect();
        assert_eq!(states.last(), Some(&AppState::Succeeded), "{states:?}");
        assert_eq!(
            states.iter().filter(|s| s.is_final()).count(),
            1,
            "{states:?}"
        );
        let rank = |s: &AppState| match s {
            AppState::Submitted => 0,
            AppState::Pending => 1,
            AppState::Running => 2,
            _ => 3,
        };
        assert!(
            states.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
            "{states:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_apps_share_one_watch() {
    let sim = Sim::start();
    within(Duration::from_secs(180), async {
        let client = sim.client().await;
        let apps: Vec<TestApp> = (0..200)
            .map(|i| {
                TestApp::new(
                    &format!("many{i}"),
                    1.0 + f64::from(i % 3),
                    if i % 7 == 0 { 1 } else { 0 },
                )
            })
            .collect();
        let mut handles = Vec::new();
        for chunk in apps.chunks(20) {
            let batch = futures::future::join_all(chunk.iter().map(|a| submit(&client, a))).await;
            handles.extend(batch);
        }
        let lists_before = sim.requests(&client, "LIST", "pods").await;
        let watches_before = sim.requests(&client, "WATCH", "pods").await;
        let pod_gets = [("verb", "GET"), ("resource", "pods"), ("subresource", "")];
        let gets_before = sim.requests_with(&client, &pod_gets).await;
        let options = waiting(120);
        let waits = futures::future::join_all(handles.iter().map(|h| {
            let client = client.clone();
            let options = options.clone();
            async move { client.wait(h, &options).await }
        }));
        let probe = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            client.active_watches()
        };
        let (results, watches_while_waiting) = tokio::join!(waits, probe);
        assert_eq!(watches_while_waiting, 1);
        for (i, result) in results.into_iter().enumerate() {
            let status = match result {
                Ok(s) => s,
                Err(e) => panic!("app {i}: {e}"),
            };
            let expected = if i % 7 == 0 {
                AppState::Failed
            } else {
                AppState::Succeeded
            };
            assert_eq!(status.state, expected, "app {i}: {status:?}");
        }
        let lists = sim.requests(&client, "LIST", "pods").await - lists_before;
        let watches = sim.requests(&client, "WATCH", "pods").await - watches_before;
        // Waiting shares the watch's lists; each failed app then lists its own pods once, to
        // find its root cause (see `cause.rs`).
        let failed = (0..200).filter(|i| i % 7 == 0).count() as u64;
        assert!(
            lists <= 3 + failed,
            "{lists} pod lists for 200 waiting apps, {failed} failed"
        );
        assert!(watches <= 3, "{watches} pod watches for 200 waiting apps");
        // The watch's list answers for every pod that existed when it was made; the only GETs
        // are those of the failed apps' log tails (which look up the driver's container).
        let failed = (0..200).filter(|i| i % 7 == 0).count() as u64;
        let gets = sim.requests_with(&client, &pod_gets).await - gets_before;
        assert_eq!(
            gets, failed,
            "{gets} GETs of driver pods for 200 waiting apps"
        );
        assert_eq!(client.active_watches(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_and_compaction_deliver_every_final_state_once() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let apps: Vec<TestApp> = (0..30)
            .map(|i| {
                TestApp::new(
                    &format!("flap{i}"),
                    1.0 + f64::from(i % 4),
                    if i % 5 == 0 { 2 } else { 0 },
                )
            })
            .collect();
        let mut handles = Vec::new();
        for app in &apps {
            handles.push(submit(&client, app).await);
        }
        let followers = futures::future::join_all(handles.iter().map(|h| {
            let client = client.clone();
            async move {
                client
                    .watch_app(h)
                    .into_stream()
                    .collect::<Vec<AppStatus>>()
                    .await
            }
        }));
        let chaos = async {
            for step in 0..6 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                if step % 2 == 1 {
                    sim.compact(&client).await;
                }
                sim.drop_watches(&client).await;
            }
        };
        let (streams, ()) = tokio::join!(followers, chaos);
        // compaction made at least one resumed watch re-list
        let lists = sim.requests(&client, "LIST", "pods").await;
        assert!(lists >= 2, "{lists} pod lists: no re-list happened");
        let mut finals: HashMap<String, Vec<AppState>> = HashMap::new();
        for statuses in &streams {
            for s in statuses.iter().filter(|s| s.is_final()) {
                finals
                    .entry(s.driver_pod.clone())
                    .or_default()
                    .push(s.state);
            }
        }
        for (i, app) in apps.iter().enumerate() {
            let expected = if i % 5 == 0 {
                AppState::Failed
            } else {
                AppState::Succeeded
            };
            assert_eq!(finals.get(&app.pod), Some(&vec![expected]), "{}", app.pod);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_complete_when_the_api_server_crashes_and_comes_back() {
    let state = common::scratch_dir("state");
    let mut sim = Sim::start_with_state(&state);
    let client = sim.client().await;
    let apps: Vec<TestApp> = (0..5)
        .map(|i| TestApp::new(&format!("crash{i}"), 4.0, if i == 0 { 1 } else { 0 }))
        .collect();
    let mut handles = Vec::new();
    for app in &apps {
        handles.push(submit(&client, app).await);
    }
    let waits = {
        let client = client.clone();
        let handles = handles.clone();
        tokio::spawn(async move {
            let options = waiting(60);
            futures::future::join_all(handles.iter().map(|h| client.wait(h, &options))).await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim = tokio::task::spawn_blocking(move || {
        sim.crash_and_restart(Duration::from_secs(1));
        sim
    })
    .await
    .unwrap_or_else(|e| panic!("restart failed: {e}"));
    let results = within(LIMIT, waits).await.unwrap_or_else(|e| panic!("{e}"));
    for (i, result) in results.into_iter().enumerate() {
        let expected = if i == 0 {
            AppState::Failed
        } else {
            AppState::Succeeded
        };
        match result {
            Ok(s) => assert_eq!(s.state, expected, "{s:?}"),
            Err(e) => panic!("app {i}: {e}"),
        }
    }
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_makes_the_state_unknown_but_not_final() {
    let sim = Sim::start();
    within(LIMIT, async {
        let client = sim.client().await;
        let app = TestApp::new("nodelost", 60.0, 0);
        let handle = submit(&client, &app).await;
        let mut watch = client.watch_app(&handle);
        let node = loop {
            match watch.next().await {
                Some(s) if s.state == AppState::Running => break s.node.unwrap_or_default(),
                Some(s) if s.is_final() => panic!("finished early: {s:?}"),
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        };
        assert!(!node.is_empty());
        let (status, body) = sim
            .request(
                &client,
                "POST",
                &format!("/kubesim/nodes/{node}/fail"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let lost = loop {
            match watch.next().await {
                Some(s) if s.state == AppState::Unknown => break s,
                Some(s) if s.is_final() => panic!("a lost node is not the end: {s:?}"),
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        };
        assert_eq!(lost.reason.as_deref(), Some("NodeLost"), "{lost:?}");
        match client.wait(&handle, &waiting(2)).await {
            Err(TrackError::Timeout { status, .. }) => assert_eq!(status.state, AppState::Unknown),
            other => panic!("expected a timeout while the node is lost, got {other:?}"),
        }
    })
    .await;
}
