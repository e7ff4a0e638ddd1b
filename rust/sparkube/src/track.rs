//! Tracking applications: the status of one driver (one GET), listing drivers, attaching to an
//! existing driver, following status changes and waiting for the end with startup and overall
//! timeouts. Waiting and following share one watch per namespace ([`shared`]); the state comes
//! from the pure state machine in [`state`].

pub(crate) mod shared;
pub mod state;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::{GetParams, ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::api::{self, ApiError};
use crate::client::Client;
use crate::kill::KillOptions;
use crate::submit::AppHandle;
use shared::{Observed, PodSubscription};
use state::{AppState, AppStatus, status_after_deletion, status_of_pod};

/// The `namespace` argument of [`Client::list`] that selects every namespace.
pub const ALL_NAMESPACES: &str = "*";

/// Failure while tracking or waiting.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The pod does not exist.
    #[error("driver pod {namespace}/{pod} not found")]
    NotFound {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// The pod exists but is not a Spark driver.
    #[error("pod {namespace}/{pod} is not a Spark driver: it has no spark-app-selector label")]
    NotADriver {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// The driver did not start in time, or its image cannot be pulled.
    #[error("driver pod {}/{} did not start within {waited:?}: {}{}", status.namespace, status.driver_pod, status.summary(), killed_note(*killed))]
    StartupTimeout {
        /// The last status seen.
        status: Box<AppStatus>,
        /// How long was waited.
        waited: Duration,
        /// Whether the driver pod was deleted because of it.
        killed: bool,
    },
    /// The application did not finish in time.
    #[error("application {} (driver pod {}/{}) did not finish within {waited:?}: {}{}", status.app_id.as_deref().unwrap_or("?"), status.namespace, status.driver_pod, status.summary(), killed_note(*killed))]
    Timeout {
        /// The last status seen.
        status: Box<AppStatus>,
        /// How long was waited.
        waited: Duration,
        /// Whether the driver pod was deleted because of it.
        killed: bool,
    },
    /// The application finished without success (see [`AppStatus::ensure_success`]).
    #[error("application {} (driver pod {}/{}) {}{}", status.app_id.as_deref().unwrap_or("?"), status.namespace, status.driver_pod, status.summary(), status.cause.as_deref().map(|c| format!("; cause: {c}")).unwrap_or_default())]
    AppFailed {
        /// The final status, with the last log lines of the driver.
        status: Box<AppStatus>,
    },
}

fn killed_note(killed: bool) -> &'static str {
    if killed {
        " (the driver pod was deleted)"
    } else {
        ""
    }
}

/// Result of tracking.
pub type Result<T> = std::result::Result<T, TrackError>;

impl TrackError {
    /// The HTTP status code when an API call failed.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Api(e) => e.status_code(),
            Self::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// The last or final status of the application, for timeouts and failures.
    pub fn app_status(&self) -> Option<&AppStatus> {
        match self {
            Self::StartupTimeout { status, .. }
            | Self::Timeout { status, .. }
            | Self::AppFailed { status } => Some(status),
            _ => None,
        }
    }
}

impl AppStatus {
    /// `Ok(self)` when the application succeeded, else [`TrackError::AppFailed`].
    pub fn ensure_success(self) -> Result<AppStatus> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(TrackError::AppFailed {
                status: Box::new(self),
            })
        }
    }
}

/// How [`Client::wait`] waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WaitOptions {
    /// Give up when the application has not finished after this long.
    #[serde(with = "crate::serde_secs::option")]
    pub timeout: Option<Duration>,
    /// Give up when the driver has not started after this long.
    #[serde(with = "crate::serde_secs::option")]
    pub startup_timeout: Option<Duration>,
    /// Give up when the driver image could not be pulled for this long (`ErrImagePull`,
    /// `ImagePullBackOff`, `InvalidImageName`).
    #[serde(with = "crate::serde_secs::required")]
    pub image_pull_grace: Duration,
    /// Delete the driver pod when giving up.
    pub kill_on_timeout: bool,
    /// Grace period for that deletion (the server's default when unset).
    #[serde(with = "crate::serde_secs::option")]
    pub kill_grace_period: Option<Duration>,
    /// Number of driver log lines attached to a failed status.
    pub log_tail_lines: u32,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: None,
            startup_timeout: None,
            image_pull_grace: Duration::from_secs(20),
            kill_on_timeout: false,
            kill_grace_period: None,
            log_tail_lines: 20,
        }
    }
}

/// Follows the status of one application through the shared namespace watch.
///
/// [`AppWatch::next`] returns the current status first, then every change, and `None` after
/// the final status was returned. Each final status is returned exactly once.
pub struct AppWatch {
    sub: Option<PodSubscription>,
    tracker: std::sync::Arc<shared::Tracker>,
    retry: crate::api::RetryPolicy,
    handle: AppHandle,
    last: AppStatus,
    started: bool,
    done: bool,
}

impl std::fmt::Debug for AppWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWatch")
            .field("handle", &self.handle)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl AppWatch {
    /// The last status returned by [`AppWatch::next`] (`Submitted` before the first one).
    pub fn current(&self) -> &AppStatus {
        &self.last
    }

    /// The handle being followed.
    pub fn handle(&self) -> &AppHandle {
        &self.handle
    }

    /// The subscription, made on first use (inside the async runtime that drives the watch).
    fn subscription(&mut self) -> &mut PodSubscription {
        self.sub.get_or_insert_with(|| {
            self.tracker
                .subscribe(&self.handle.namespace, &self.handle.driver_pod, &self.retry)
        })
    }

    fn observe(&mut self) -> Option<AppStatus> {
        let observed = self.subscription().rx.borrow_and_update().clone();
        let h = &self.handle;
        let same_pod = |p: &Pod| match (&h.pod_uid, &p.metadata.uid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        };
        let mut status = match observed {
            Observed::Unknown => return None,
            Observed::Present(p) if same_pod(&p) => status_of_pod(&p),
            Observed::Present(_) => status_after_deletion(&h.namespace, &h.driver_pod, None),
            Observed::Gone(last) => status_after_deletion(
                &h.namespace,
                &h.driver_pod,
                last.as_deref().filter(|p| same_pod(p)),
            ),
        };
        if status.app_id.is_none() {
            status.app_id = Some(h.app_id.clone());
        }
        if status.namespace.is_empty() {
            status.namespace = h.namespace.clone();
            status.driver_pod = h.driver_pod.clone();
        }
        Some(status)
    }

    /// Waits for the next status different from the last one returned; `None` once the final
    /// status has been returned.
    pub async fn next(&mut self) -> Option<AppStatus> {
        if self.done {
            return None;
        }
        loop {
            if let Some(status) = self.observe()
                && (!self.started || !status.same_as(&self.last))
            {
                self.started = true;
                self.done = status.is_final();
                self.last = status.clone();
                return Some(status);
            }
            if self.subscription().rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The statuses as a stream (ends after the final one).
    pub fn into_stream(self) -> Pin<Box<dyn Stream<Item = AppStatus> + Send>> {
        Box::pin(futures::stream::unfold(self, |mut w| async move {
            w.next().await.map(|s| (s, w))
        }))
    }
}

/// Why `wait` stopped waiting before the end.
#[derive(Debug, PartialEq)]
enum Expired {
    Overall,
    Startup,
    ImagePull,
}

/// The earliest deadline that applies to `status` (pure, for testing).
fn next_deadline(
    status: &AppStatus,
    start: Instant,
    pull_failing_since: Option<Instant>,
    options: &WaitOptions,
) -> Option<(Instant, Expired)> {
    let mut candidates = Vec::new();
    if let Some(t) = options.timeout {
        candidates.push((start + t, Expired::Overall));
    }
    if !status.state.has_started() {
        if let Some(t) = options.startup_timeout {
            candidates.push((start + t, Expired::Startup));
        }
        if let Some(since) = pull_failing_since {
            candidates.push((since + options.image_pull_grace, Expired::ImagePull));
        }
    }
    candidates.into_iter().min_by_key(|(at, _)| *at)
}

impl Client {
    /// Follows the status of `handle` through the shared watch of its namespace. The watch is
    /// joined (or started) on the first [`AppWatch::next`] and left when the `AppWatch` is
    /// dropped.
    pub fn watch_app(&self, handle: &AppHandle) -> AppWatch {
        let mut last = AppStatus::new(&handle.namespace, &handle.driver_pod, AppState::Submitted);
        last.app_id = Some(handle.app_id.clone());
        AppWatch {
            sub: None,
            tracker: self.tracker.clone(),
            retry: self.retry.clone(),
            handle: handle.clone(),
            last,
            started: false,
            done: false,
        }
    }

    /// Number of namespaces this client is watching right now (one per namespace with at
    /// least one application being followed).
    pub fn active_watches(&self) -> usize {
        self.tracker.active_watches()
    }

    /// Waits until the application finishes and returns its final status (Succeeded, Failed
    /// with the last driver log lines, or Deleted), or fails with a startup timeout (also when
    /// the image cannot be pulled for `image_pull_grace`) or an overall timeout.
    pub async fn wait(&self, handle: &AppHandle, options: &WaitOptions) -> Result<AppStatus> {
        let start = Instant::now();
        let mut watch = self.watch_app(handle);
        let mut pull_failing_since: Option<Instant> = None;
        loop {
            let status = watch.current().clone();
            if status.is_image_pull_failure() {
                pull_failing_since.get_or_insert_with(Instant::now);
            } else {
                pull_failing_since = None;
            }
            let deadline = next_deadline(&status, start, pull_failing_since, options);
            let next = match deadline {
                Some((at, expired)) => {
                    tokio::select! {
                        next = watch.next() => next,
                        () = tokio::time::sleep_until(at) => {
                            let waited = start.elapsed();
                            return Err(Box::pin(self.give_up(handle, options, status, waited, expired)).await);
                        }
                    }
                }
                None => watch.next().await,
            };
            match next {
                // The ends are boxed: a waiting call's state is then little more than the
                // watch's (under 2 KB, against 7 KB with the requests of every end inline), and
                // a triggerer keeps one per deferred task.
                Some(status) if status.is_final() => {
                    return Ok(Box::pin(self.with_log_tail(status, options)).await);
                }
                Some(_) => {}
                None => {
                    // The watch ended without a final status (cannot happen while subscribed);
                    // fall back to one GET.
                    return Box::pin(self.status(&handle.namespace, &handle.driver_pod)).await;
                }
            }
        }
    }

    async fn give_up(
        &self,
        handle: &AppHandle,
        options: &WaitOptions,
        status: AppStatus,
        waited: Duration,
        expired: Expired,
    ) -> TrackError {
        let mut killed = false;
        if options.kill_on_timeout {
            let kill = KillOptions {
                grace_period: options.kill_grace_period,
                ..KillOptions::default()
            };
            match self
                .kill(Some(&handle.namespace), &handle.driver_pod, &kill)
                .await
            {
                Ok(_) => killed = true,
                Err(e) => log::warn!("{e}"),
            }
        }
        let status = Box::new(status);
        match expired {
            Expired::Overall => TrackError::Timeout {
                status,
                waited,
                killed,
            },
            Expired::Startup | Expired::ImagePull => TrackError::StartupTimeout {
                status,
                waited,
                killed,
            },
        }
    }

    /// `status` with the driver log's tail and, when it failed, its root cause (as `wait`
    /// returns a failed application).
    pub(crate) async fn with_log_tail(
        &self,
        mut status: AppStatus,
        options: &WaitOptions,
    ) -> AppStatus {
        if status.state == AppState::Failed && options.log_tail_lines > 0 {
            match self
                .log_tail(
                    &status.namespace,
                    &status.driver_pod,
                    options.log_tail_lines.max(crate::cause::LOG_LINES),
                )
                .await
            {
                Ok(lines) => status.log_tail = lines,
                Err(e) => log::debug!("{e}"),
            }
        }
        if status.state == AppState::Failed {
            status.cause = self.find_root_cause(&status).await;
            status.log_tail = status.log_tail.split_off(
                status
                    .log_tail
                    .len()
                    .saturating_sub(options.log_tail_lines as usize),
            );
        }
        status
    }

    /// The status of one driver pod, from one GET. A missing pod gives state `Deleted` with
    /// reason `NotFound`.
    pub async fn status(&self, namespace: &str, pod: &str) -> Result<AppStatus> {
        match self.driver_pod(namespace, pod).await? {
            Some(p) => Ok(status_of_pod(&p)),
            None => {
                let mut st = status_after_deletion(namespace, pod, None);
                st.reason = Some("NotFound".into());
                st.message = Some(format!("driver pod {namespace}/{pod} not found"));
                Ok(st)
            }
        }
    }

    /// The driver pod object, `None` when it does not exist.
    pub async fn driver_pod(&self, namespace: &str, pod: &str) -> Result<Option<Pod>> {
        let operation = format!("get driver pod {namespace}/{pod}");
        match api::call(&self.kube, &self.retry, &operation, || {
            api::namespaced::<Pod>(namespace)
                .get(pod, &GetParams::default())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One annotation of a driver pod; `None` when the pod or the annotation is not there.
    pub async fn driver_annotation(
        &self,
        namespace: &str,
        pod: &str,
        key: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .driver_pod(namespace, pod)
            .await?
            .and_then(|p| p.metadata.annotations)
            .and_then(|mut a| a.remove(key)))
    }

    /// Sets one annotation of a driver pod, with a JSON merge patch (`patch` on pods): where a
    /// follower of the app keeps state that must outlive its process, beside the app itself.
    /// Returns whether the pod was there; a pod that is gone is not created again.
    pub async fn annotate_driver(
        &self,
        namespace: &str,
        pod: &str,
        key: &str,
        value: &str,
    ) -> Result<bool> {
        let operation = format!("annotate driver pod {namespace}/{pod}");
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        match api::call::<Pod, _>(&self.kube, &self.retry, &operation, || {
            api::namespaced::<Pod>(namespace)
                .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
                .map_err(|e| api::request_error(&operation, e))
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A handle for an existing driver pod (after a restart of the caller, for instance).
    pub async fn attach(&self, namespace: Option<&str>, pod: &str) -> Result<AppHandle> {
        let namespace = self.ns(namespace).to_string();
        let p = self
            .driver_pod(&namespace, pod)
            .await?
            .ok_or_else(|| TrackError::NotFound {
                namespace: namespace.clone(),
                pod: pod.to_string(),
            })?;
        AppHandle::from_pod(&p, false).ok_or(TrackError::NotADriver {
            namespace,
            pod: pod.to_string(),
        })
    }

    /// The driver pods (label `spark-role=driver`, plus `label_selector` when given) of one
    /// namespace: `namespace`, the default one when `None`, all namespaces with `"*"`
    /// ([`ALL_NAMESPACES`]).
    pub async fn list_driver_pods(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Pod>> {
        let namespace = match self.ns(namespace) {
            ALL_NAMESPACES => None,
            ns => Some(ns),
        };
        let selector = match label_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(extra) => format!("{},{extra}", shared::DRIVER_SELECTOR),
            None => shared::DRIVER_SELECTOR.to_string(),
        };
        let (requests, operation) = match namespace {
            Some(ns) => (
                api::namespaced::<Pod>(ns),
                format!("list driver pods in namespace {ns}"),
            ),
            None => (
                kube::core::Request::new(Pod::url_path(&(), None)),
                "list driver pods in all namespaces".to_string(),
            ),
        };
        let mut pods = Vec::new();
        let mut continue_token: Option<String> = None;
        loop {
            let mut params = ListParams::default().labels(&selector).limit(500);
            if let Some(token) = &continue_token {
                params = params.continue_token(token);
            }
            let list: k8s_openapi::List<Pod> =
                api::call(&self.kube, &self.retry, &operation, || {
                    requests
                        .list(&params)
                        .map_err(|e| api::request_error(&operation, e))
                })
                .await?;
            pods.extend(list.items);
            continue_token = list.metadata.continue_.filter(|c| !c.is_empty());
            if continue_token.is_none() {
                return Ok(pods);
            }
        }
    }

    /// The statuses of the driver pods selected as in [`Client::list_driver_pods`].
    pub async fn list(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<AppStatus>> {
        let pods = self.list_driver_pods(namespace, label_selector).await?;
        Ok(pods.iter().map(status_of_pod).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: AppState, reason: Option<&str>) -> AppStatus {
        let mut s = AppStatus::new("ns", "p", state);
        s.reason = reason.map(str::to_string);
        s
    }

    #[test]
    fn deadlines_by_state() {
        let start = Instant::now();
        let s = Duration::from_secs;
        let options = WaitOptions {
            timeout: Some(s(100)),
            startup_timeout: Some(s(30)),
            image_pull_grace: s(10),
            ..WaitOptions::default()
        };
        let pending = status(AppState::Pending, Some("ContainerCreating"));
        let pulling = status(AppState::Pending, Some("ErrImagePull"));
        let running = status(AppState::Running, None);
        let table = [
            (&pending, None, Some((s(30), Expired::Startup))),
            (&pulling, Some(s(5)), Some((s(15), Expired::ImagePull))),
            (&pulling, Some(s(25)), Some((s(30), Expired::Startup))),
            (&running, None, Some((s(100), Expired::Overall))),
            (&running, Some(s(1)), Some((s(100), Expired::Overall))),
        ];
        for (st, pull_since, expected) in table {
            let got = next_deadline(st, start, pull_since.map(|d| start + d), &options)
                .map(|(at, e)| (at - start, e));
            assert_eq!(got, expected, "{:?} {:?}", st.state, st.reason);
        }
        let none = WaitOptions::default();
        assert_eq!(next_deadline(&pending, start, None, &none), None);
    }

    #[test]
    fn image_pull_failures_are_recognised() {
        for (reason, failing) in [
            ("ErrImagePull", true),
            ("ImagePullBackOff", true),
            ("InvalidImageName", true),
            ("ContainerCreating", false),
            ("CreateContainerConfigError", false),
        ] {
            assert_eq!(
                status(AppState::Pending, Some(reason)).is_image_pull_failure(),
                failing,
                "{reason}"
            );
        }
        assert!(!status(AppState::Failed, Some("ErrImagePull")).is_image_pull_failure());
    }

    #[test]
    fn ensure_success_and_error_fields() {
        assert!(status(AppState::Succeeded, None).ensure_success().is_ok());
        let err = status(AppState::Failed, Some("OOMKilled")).ensure_success();
        let err = err.err();
        assert_eq!(
            err.as_ref()
                .and_then(|e| e.app_status())
                .and_then(|s| s.reason.as_deref()),
            Some("OOMKilled")
        );
        assert!(
            err.map(|e| e.to_string())
                .is_some_and(|m| m.contains("Failed (OOMKilled)"))
        );
    }

    #[test]
    fn wait_options_from_python_style_values() {
        let options: Option<WaitOptions> = serde_json::from_str(
            r#"{"timeout": 3600, "startup_timeout": 120.5, "kill_on_timeout": true}"#,
        )
        .ok();
        let options = options.unwrap_or_default();
        assert_eq!(options.timeout, Some(Duration::from_secs(3600)));
        assert_eq!(
            options.startup_timeout,
            Some(Duration::from_millis(120_500))
        );
        assert!(options.kill_on_timeout);
        assert_eq!(options.image_pull_grace, Duration::from_secs(20));
    }
}
