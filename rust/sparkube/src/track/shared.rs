//! One shared watch per namespace for all tracked driver pods.
//!
//! The first subscriber in a namespace starts a kube-rs `watcher` on pods labelled
//! `spark-role=driver`; the watch keeps a cache of those pods, resumes after dropped
//! connections and re-lists after `410 Gone`. Each tracked pod has one `tokio::sync::watch`
//! channel that every waiter of that pod reads, so N waiting apps cost one watch. When the last
//! subscriber of a namespace goes away, its watch stops.
//!
//! A pod that is tracked but missing from the cache once a list has completed (just created, or
//! absent from a re-list) is confirmed with one GET: 404 means it is gone; otherwise its state
//! is taken from the answer until the watch delivers newer events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::GetParams;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::state::{AppState, status_after_deletion, status_of_pod};
use crate::api::{self, RetryPolicy};
use crate::metrics::METRICS;

/// Label selector of the shared watch.
pub(crate) const DRIVER_SELECTOR: &str = "spark-role=driver";

/// What the shared watch knows about one tracked pod.
#[derive(Debug, Clone)]
pub(crate) enum Observed {
    /// Nothing yet (the watch has not listed it and the confirming GET has not answered).
    Unknown,
    /// The latest version of the pod.
    Present(Arc<Pod>),
    /// The pod is gone; the last version seen, if any.
    Gone(Option<Arc<Pod>>),
}

impl Observed {
    fn resource_version(&self) -> Option<&str> {
        match self {
            Self::Present(p) => p.metadata.resource_version.as_deref(),
            _ => None,
        }
    }
}

/// The part of a driver pod that tracking reads (see [`super::state::status_of_pod`]): its
/// identity, labels, creation and deletion times, node, the containers' names and first
/// arguments (to tell the driver container), and the whole status.
///
/// The cache holds every driver pod of the namespace for as long as one is tracked; the rest of
/// a pod (environment, volumes, managed fields, most of a Spark driver's object) is dropped as
/// it arrives. Slimmed, a pod as kubesim serves it takes a third of the memory.
fn slim(pod: Pod) -> Pod {
    let Pod {
        metadata,
        spec,
        status,
    } = pod;
    let metadata = ObjectMeta {
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        resource_version: metadata.resource_version,
        labels: metadata.labels,
        creation_timestamp: metadata.creation_timestamp,
        deletion_timestamp: metadata.deletion_timestamp,
        ..ObjectMeta::default()
    };
    let spec = spec.map(|s| PodSpec {
        node_name: s.node_name,
        containers: s
            .containers
            .into_iter()
            .map(|c| Container {
                name: c.name,
                args: c.args.map(|a| a.into_iter().take(1).collect()),
                ..Container::default()
            })
            .collect(),
        ..PodSpec::default()
    });
    Pod {
        metadata,
        spec,
        status,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The per-process registry of namespace watches of one client.
pub(crate) struct Tracker {
    kube: kube::Client,
    namespaces: Mutex<HashMap<String, Arc<NsWatch>>>,
}

struct NsWatch {
    state: Arc<Mutex<NsState>>,
    task: AbortHandle,
}

impl Drop for NsWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct NsState {
    /// Every driver pod of the namespace, by name.
    cache: HashMap<String, Arc<Pod>>,
    /// Pods collected by an ongoing (re-)list.
    relist: Option<HashMap<String, Arc<Pod>>>,
    /// Tracked pods, by name.
    tracked: HashMap<String, Tracked>,
    /// Number of completed (re-)lists.
    lists: u64,
}

struct Tracked {
    tx: watch::Sender<Observed>,
    subscribers: usize,
    /// The state last counted in the metrics.
    state: Option<AppState>,
}

impl Tracked {
    /// Counts a change of the pod's state in the metrics, and for a final state that was seen
    /// coming (not one that was already final when tracking began) how late it was noticed.
    /// Runs once per change of the pod, however many waiters it has.
    fn count(&mut self, name: &str, observed: &Observed) {
        let status = match observed {
            Observed::Unknown => return,
            Observed::Present(pod) => status_of_pod(pod),
            Observed::Gone(last) => status_after_deletion("", name, last.as_deref()),
        };
        let before = self.state.replace(status.state);
        if before == Some(status.state) {
            return;
        }
        METRICS.transition(status.state.as_str(), status.reason.as_deref());
        if status.is_final()
            && before.is_some_and(|s| !s.is_final())
            && let Some(delay) = status
                .finished_at
                .and_then(|at| (chrono::Utc::now() - at).to_std().ok())
        {
            METRICS.notice_delay.observe(delay);
        }
    }
}

impl NsState {
    fn publish(&mut self, name: &str, observed: Observed) {
        if let Some(t) = self.tracked.get_mut(name) {
            let changed = t.tx.send_if_modified(|current| {
                let changed = match (&*current, &observed) {
                    (Observed::Present(a), Observed::Present(b)) => {
                        a.metadata.resource_version != b.metadata.resource_version
                            || a.metadata.uid != b.metadata.uid
                    }
                    (Observed::Gone(_), Observed::Gone(_)) => false,
                    _ => true,
                };
                if changed {
                    *current = observed;
                }
                changed
            });
            if changed {
                let now = t.tx.borrow().clone();
                t.count(name, &now);
            }
        }
    }
}

/// A subscription to one pod; the namespace watch runs as long as one subscription exists.
pub(crate) struct PodSubscription {
    pub(crate) rx: watch::Receiver<Observed>,
    tracker: Arc<Tracker>,
    namespace: String,
    name: String,
}

impl Drop for PodSubscription {
    fn drop(&mut self) {
        self.tracker.unsubscribe(&self.namespace, &self.name);
    }
}

impl Tracker {
    pub(crate) fn new(kube: kube::Client) -> Self {
        Self {
            kube,
            namespaces: Mutex::new(HashMap::new()),
        }
    }

    /// Number of namespaces with a running watch.
    pub(crate) fn active_watches(&self) -> usize {
        lock(&self.namespaces).len()
    }

    /// Subscribes to `namespace/name`, starting the namespace watch if needed.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        namespace: &str,
        name: &str,
        retry: &RetryPolicy,
    ) -> PodSubscription {
        let (rx, confirm) = {
            let mut namespaces = lock(&self.namespaces);
            let ns = namespaces
                .entry(namespace.to_string())
                .or_insert_with(|| Arc::new(self.start(namespace)));
            let mut state = lock(&ns.state);
            let cached = state.cache.get(name).cloned();
            let tracked = state.tracked.entry(name.to_string()).or_insert_with(|| {
                let observed = cached.map_or(Observed::Unknown, Observed::Present);
                let mut tracked = Tracked {
                    tx: watch::channel(observed.clone()).0,
                    subscribers: 0,
                    state: None,
                };
                tracked.count(name, &observed);
                tracked
            });
            tracked.subscribers += 1;
            let rx = tracked.tx.subscribe();
            // Until a list has completed, absence from the cache says nothing: the list's end
            // confirms every tracked pod it lacked (`finish_relist`), so 10,000 subscribers of a
            // new watch cost one list rather than 10,000 GETs.
            let listed = state.lists > 0 && state.relist.is_none();
            let unknown = matches!(*rx.borrow(), Observed::Unknown);
            let confirm = (listed && unknown).then(|| ns.state.clone());
            (rx, confirm)
        };
        if let Some(state) = confirm {
            spawn_confirm(
                self.kube.clone(),
                retry.clone(),
                state,
                namespace.to_string(),
                name.to_string(),
                None,
            );
        }
        PodSubscription {
            rx,
            tracker: self.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    fn unsubscribe(&self, namespace: &str, name: &str) {
        let mut namespaces = lock(&self.namespaces);
        let Some(ns) = namespaces.get(namespace) else {
            return;
        };
        let now_empty = {
            let mut state = lock(&ns.state);
            if let Some(t) = state.tracked.get_mut(name) {
                t.subscribers = t.subscribers.saturating_sub(1);
                if t.subscribers == 0 {
                    state.tracked.remove(name);
                }
            }
            state.tracked.is_empty()
        };
        if now_empty {
            log::debug!("no tracked driver pods left in namespace {namespace}: stopping its watch");
            namespaces.remove(namespace);
        }
    }

    fn start(&self, namespace: &str) -> NsWatch {
        log::debug!("starting the shared driver pod watch in namespace {namespace}");
        let state = Arc::new(Mutex::new(NsState::default()));
        let task = tokio::spawn(run_watch(
            self.kube.clone(),
            namespace.to_string(),
            state.clone(),
        ));
        NsWatch {
            state,
            task: task.abort_handle(),
        }
    }
}

fn is_gone_error(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::InitialListFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

async fn run_watch(kube: kube::Client, namespace: String, state: Arc<Mutex<NsState>>) {
    let retry = RetryPolicy::default();
    loop {
        let pods: kube::Api<Pod> = kube::Api::namespaced(kube.clone(), &namespace);
        let config = watcher::Config::default().labels(DRIVER_SELECTOR);
        let mut events = watcher(pods, config).default_backoff().boxed();
        let mut restart = false;
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => {
                    lock(&state).relist = Some(HashMap::new());
                }
                Ok(watcher::Event::InitApply(pod)) => {
                    if let Some(name) = pod.metadata.name.clone()
                        && let Some(relist) = lock(&state).relist.as_mut()
                    {
                        relist.insert(name, Arc::new(slim(pod)));
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    if lock(&state).lists > 0 {
                        METRICS.watch_relists.inc();
                    }
                    let missing = finish_relist(&state);
                    for (name, last) in missing {
                        spawn_confirm(
                            kube.clone(),
                            retry.clone(),
                            state.clone(),
                            namespace.clone(),
                            name,
                            last,
                        );
                    }
                }
                Ok(watcher::Event::Apply(pod)) => {
                    if let Some(name) = pod.metadata.name.clone() {
                        let pod = Arc::new(slim(pod));
                        let mut st = lock(&state);
                        st.cache.insert(name.clone(), pod.clone());
                        st.publish(&name, Observed::Present(pod));
                    }
                }
                Ok(watcher::Event::Delete(pod)) => {
                    if let Some(name) = pod.metadata.name.clone() {
                        let mut st = lock(&state);
                        st.cache.remove(&name);
                        st.publish(&name, Observed::Gone(Some(Arc::new(slim(pod)))));
                    }
                }
                Err(error) => {
                    METRICS.watch_restarts.inc();
                    log::debug!("driver pod watch in namespace {namespace}: {error}");
                    if is_gone_error(&error) {
                        // The resource version expired before the watch could resume:
                        // start over with a fresh list.
                        restart = true;
                        break;
                    }
                }
            }
        }
        if !restart {
            return;
        }
    }
}

/// Replaces the cache by the finished re-list and returns the tracked pods that are missing
/// from it, with their last known version.
fn finish_relist(state: &Mutex<NsState>) -> Vec<(String, Option<Arc<Pod>>)> {
    let mut st = lock(state);
    let Some(listed) = st.relist.take() else {
        return Vec::new();
    };
    st.lists += 1;
    st.cache = listed;
    let mut missing = Vec::new();
    let names: Vec<String> = st.tracked.keys().cloned().collect();
    for name in names {
        match st.cache.get(&name).cloned() {
            Some(pod) => st.publish(&name, Observed::Present(pod)),
            None => {
                let last = st.tracked.get(&name).and_then(|t| match &*t.tx.borrow() {
                    Observed::Present(p) => Some(Some(p.clone())),
                    Observed::Unknown => Some(None),
                    Observed::Gone(_) => None,
                });
                if let Some(last) = last {
                    missing.push((name, last));
                }
            }
        }
    }
    missing
}

/// Confirms with one GET whether a tracked pod missing from the cache exists. The answer is
/// only applied when the watch has not published anything newer meanwhile.
fn spawn_confirm(
    kube: kube::Client,
    retry: RetryPolicy,
    state: Arc<Mutex<NsState>>,
    namespace: String,
    name: String,
    last: Option<Arc<Pod>>,
) {
    let expected_rv = last
        .as_ref()
        .and_then(|p| p.metadata.resource_version.clone());
    tokio::spawn(async move {
        let operation = format!("get driver pod {namespace}/{name}");
        let answer: api::Result<Pod> = api::call(&kube, &retry, &operation, || {
            api::namespaced::<Pod>(&namespace)
                .get(&name, &GetParams::default())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await;
        let observed = match answer {
            Ok(pod) => Observed::Present(Arc::new(slim(pod))),
            Err(e) if e.is_not_found() => Observed::Gone(last),
            Err(e) => {
                log::debug!("{e}; waiting for the watch instead");
                return;
            }
        };
        let mut st = lock(&state);
        if let Some(t) = st.tracked.get_mut(&name) {
            let applied = t.tx.send_if_modified(|current| {
                let untouched = match &*current {
                    Observed::Unknown => true,
                    present @ Observed::Present(_) => {
                        present.resource_version().map(str::to_string) == expected_rv
                            && expected_rv.is_some()
                    }
                    Observed::Gone(_) => false,
                };
                if untouched {
                    *current = observed;
                }
                untouched
            });
            if applied {
                let now = t.tx.borrow().clone();
                t.count(&name, &now);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, rv: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.resource_version = Some(rv.into());
        Arc::new(p)
    }

    fn tracked(state: &mut NsState, name: &str, initial: Observed) -> watch::Receiver<Observed> {
        let (tx, rx) = watch::channel(initial);
        state.tracked.insert(
            name.into(),
            Tracked {
                tx,
                subscribers: 1,
                state: None,
            },
        );
        rx
    }

    /// A driver pod as spark-submit creates it (a sidecar listed first, so the driver
    /// container is told by its `driver` argument), with the status `status`.
    fn full_driver(status: serde_json::Value, deleting: bool) -> Pod {
        let mut pod = serde_json::json!({
            "metadata": {
                "name": "pi-driver", "namespace": "ns", "uid": "u-1", "resourceVersion": "42",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"spark-role": "driver", "spark-app-selector": "spark-0123"},
                "annotations": {"note": "x".repeat(2000)},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "o", "uid": "o-1"}],
                "managedFields": [{"manager": "sparkube", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {"f:containers": {}}}}],
            },
            "spec": {
                "nodeName": "node-1",
                "containers": [
                    {"name": "sidecar", "image": "busybox"},
                    {"name": "spark-driver", "image": "apache/spark:4.0.0",
                     "args": ["driver", "--properties-file", "/opt/spark/conf/spark.properties"],
                     "env": (0..40).map(|i| serde_json::json!({"name": format!("SPARK_{i}"), "value": "v".repeat(50)})).collect::<Vec<_>>(),
                     "volumeMounts": [{"name": "conf", "mountPath": "/opt/spark/conf"}]},
                ],
                "volumes": [{"name": "conf", "configMap": {"name": "spark-conf"}}],
            },
            "status": status,
        });
        if deleting {
            pod["metadata"]["deletionTimestamp"] = serde_json::json!("2026-01-01T00:05:00Z");
        }
        serde_json::from_value(pod).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn slim_pods_give_the_same_status() {
        use super::super::state::{status_after_deletion, status_of_pod};
        use serde_json::json;
        let driver = |state: serde_json::Value| {
            json!([{"name": "sidecar", "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}},
                   {"name": "spark-driver", "ready": false, "restartCount": 0, "image": "spark", "imageID": "",
                    "state": state}])
        };
        let cases = [
            (
                "pending",
                json!({"phase": "Pending", "containerStatuses": driver(json!({"waiting": {"reason": "ContainerCreating"}}))}),
                false,
            ),
            (
                "running",
                json!({"phase": "Running", "containerStatuses": driver(json!({"running": {"startedAt": "2026-01-01T00:00:06Z"}}))}),
                false,
            ),
            (
                "succeeded",
                json!({"phase": "Succeeded", "containerStatuses": driver(json!({"terminated": {"exitCode": 0, "startedAt": "2026-01-01T00:00:06Z", "finishedAt": "2026-01-01T00:01:00Z"}}))}),
                false,
            ),
            (
                "failed",
                json!({"phase": "Failed", "containerStatuses": driver(json!({"terminated": {"exitCode": 1, "reason": "Error", "message": "boom"}}))}),
                false,
            ),
            (
                "deleted while running",
                json!({"phase": "Running", "containerStatuses": driver(json!({"terminated": {"exitCode": 143}}))}),
                true,
            ),
            (
                "evicted",
                json!({"phase": "Failed", "reason": "Evicted", "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": "low on memory"}]}),
                true,
            ),
            (
                "init container failed",
                json!({"phase": "Failed", "initContainerStatuses": [{"name": "init", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"terminated": {"exitCode": 2}}}]}),
                false,
            ),
        ];
        for (name, status, deleting) in cases {
            let full = full_driver(status, deleting);
            let small = slim(full.clone());
            assert_eq!(status_of_pod(&small), status_of_pod(&full), "{name}");
            assert_eq!(
                status_after_deletion("ns", "pi-driver", Some(&small)),
                status_after_deletion("ns", "pi-driver", Some(&full)),
                "{name}"
            );
            assert_eq!(small.metadata.resource_version.as_deref(), Some("42"));
            assert_eq!(small.metadata.uid.as_deref(), Some("u-1"));
            let size = |p: &Pod| serde_json::to_vec(p).map(|v| v.len()).unwrap_or(0);
            assert!(
                size(&small) * 2 < size(&full),
                "{name}: {} vs {}",
                size(&small),
                size(&full)
            );
        }
    }

    #[test]
    fn publish_skips_repeats_of_the_same_version() {
        let mut st = NsState::default();
        let mut rx = tracked(&mut st, "a", Observed::Unknown);
        st.publish("a", Observed::Present(pod("a", "1")));
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        st.publish("a", Observed::Present(pod("a", "1")));
        assert!(!rx.has_changed().unwrap_or(true));
        st.publish("a", Observed::Present(pod("a", "2")));
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        st.publish("a", Observed::Gone(None));
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        st.publish("a", Observed::Gone(Some(pod("a", "3"))));
        assert!(!rx.has_changed().unwrap_or(true));
        // untracked pods are ignored
        st.publish("b", Observed::Present(pod("b", "1")));
    }

    #[test]
    fn relist_reports_tracked_pods_that_disappeared() {
        let state = Mutex::new(NsState::default());
        let (rx_a, rx_b, rx_c);
        {
            let mut st = lock(&state);
            rx_a = tracked(&mut st, "a", Observed::Present(pod("a", "1")));
            rx_b = tracked(&mut st, "b", Observed::Present(pod("b", "1")));
            rx_c = tracked(&mut st, "c", Observed::Unknown);
            st.cache.insert("a".into(), pod("a", "1"));
            st.cache.insert("b".into(), pod("b", "1"));
            let mut relist = HashMap::new();
            relist.insert("a".to_string(), pod("a", "5"));
            relist.insert("z".to_string(), pod("z", "5"));
            st.relist = Some(relist);
        }
        let mut missing = finish_relist(&state);
        missing.sort_by(|x, y| x.0.cmp(&y.0));
        let names: Vec<&str> = missing.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(
            missing[0]
                .1
                .as_ref()
                .and_then(|p| p.metadata.resource_version.as_deref()),
            Some("1")
        );
        assert!(missing[1].1.is_none());
        assert_eq!(
            rx_a.borrow().resource_version().map(str::to_string),
            Some("5".to_string())
        );
        assert!(matches!(*rx_b.borrow(), Observed::Present(_)));
        assert!(matches!(*rx_c.borrow(), Observed::Unknown));
        let st = lock(&state);
        assert_eq!(st.lists, 1);
        assert!(st.cache.contains_key("z") && !st.cache.contains_key("b"));
    }
}
