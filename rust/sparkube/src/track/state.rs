//! The application state machine: what state a Spark application is in, judged from its
//! driver pod. Pure functions of the pod object, no I/O.
//!
//! The state comes from the driver *container*, not from the pod phase alone: a sidecar from a
//! driver pod template keeps the pod `Running` after the driver exited, and the app is finished
//! all the same. The driver container is the one named `spark-kubernetes-driver`, else the
//! first whose args start with `driver` (the Spark image entrypoint), else the first one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};

/// Name Spark gives the driver container.
pub const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";

/// Waiting reasons of an image that cannot be pulled; `wait` fails fast on them after a grace.
pub const IMAGE_PULL_FAILURES: [&str; 3] = ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];

/// Where a Spark application is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppState {
    /// The driver pod exists but is not scheduled yet.
    Submitted,
    /// The driver pod is scheduled or waiting (unschedulable, pulling, creating, ...).
    Pending,
    /// The driver container runs.
    Running,
    /// The driver container exited with code 0.
    Succeeded,
    /// The driver exited non-zero, was OOM-killed, evicted or hit its deadline.
    Failed,
    /// The driver pod disappeared before the driver finished.
    Deleted,
    /// The node of the driver stopped reporting (pod phase `Unknown`).
    Unknown,
}

impl AppState {
    /// Succeeded, Failed and Deleted are final: the application will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Deleted)
    }

    /// True once the driver has started (or finished).
    pub fn has_started(self) -> bool {
        matches!(
            self,
            Self::Running | Self::Succeeded | Self::Failed | Self::Deleted
        )
    }

    /// The name of the state (`Running`, `Succeeded`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "Submitted",
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Deleted => "Deleted",
            Self::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a Spark application as seen from its driver pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    /// Namespace of the driver pod.
    pub namespace: String,
    /// Name of the driver pod.
    pub driver_pod: String,
    /// Spark application id (label `spark-app-selector`), when known.
    pub app_id: Option<String>,
    /// Submission id (label `sparkube.io/submission-id`), when the pod carries one.
    pub submission_id: Option<String>,
    /// The labels of the driver pod (task-identity labels for reattaching live here).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The state.
    pub state: AppState,
    /// Why: `Unschedulable`, `ErrImagePull`, `ContainerCreating`, `Error`, `OOMKilled`,
    /// `Evicted`, `DeadlineExceeded`, `Completed`, `Deleted`, ...
    pub reason: Option<String>,
    /// The scheduler's, kubelet's or driver's message (termination message for failures).
    pub message: Option<String>,
    /// Exit code of the driver container once it terminated.
    pub exit_code: Option<i32>,
    /// The pod phase (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
    pub pod_phase: Option<String>,
    /// The node the driver runs on.
    pub node: Option<String>,
    /// When the driver pod was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the driver container started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the driver container finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last lines of the driver log, filled for failures by `wait`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Why a failed application failed, in one line (see [`crate::cause`]), filled by `wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl AppStatus {
    /// A status with only identity and state set.
    pub fn new(namespace: &str, driver_pod: &str, state: AppState) -> Self {
        Self {
            namespace: namespace.to_string(),
            driver_pod: driver_pod.to_string(),
            app_id: None,
            submission_id: None,
            labels: BTreeMap::new(),
            state,
            reason: None,
            message: None,
            exit_code: None,
            pod_phase: None,
            node: None,
            created_at: None,
            started_at: None,
            finished_at: None,
            log_tail: Vec::new(),
            cause: None,
        }
    }

    /// What the application returned: once it succeeded, its driver's termination message
    /// when that is JSON (a driver writes it to `/dev/termination-log`, at most 4 KiB).
    pub fn result(&self) -> Option<serde_json::Value> {
        self.message
            .as_deref()
            .filter(|_| self.is_success())
            .and_then(|m| serde_json::from_str(m.trim()).ok())
    }

    /// True when the application finished successfully.
    pub fn is_success(&self) -> bool {
        self.state == AppState::Succeeded
    }

    /// True when the application will not change any more.
    pub fn is_final(&self) -> bool {
        self.state.is_final()
    }

    /// True when the driver cannot start because its image cannot be pulled.
    pub fn is_image_pull_failure(&self) -> bool {
        self.state == AppState::Pending
            && self
                .reason
                .as_deref()
                .is_some_and(|r| IMAGE_PULL_FAILURES.contains(&r))
    }

    /// A one-line summary: `Failed (OOMKilled, exit code 137): message`.
    pub fn summary(&self) -> String {
        let mut out = self.state.to_string();
        let mut details = Vec::new();
        if let Some(r) = &self.reason {
            details.push(r.clone());
        }
        if let Some(c) = self.exit_code {
            details.push(format!("exit code {c}"));
        }
        if !details.is_empty() {
            out.push_str(&format!(" ({})", details.join(", ")));
        }
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            out.push_str(": ");
            out.push_str(m.trim());
        }
        out
    }

    /// The same status without the log tail, for comparing two observations.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.state == other.state
            && self.reason == other.reason
            && self.message == other.message
            && self.exit_code == other.exit_code
            && self.pod_phase == other.pod_phase
            && self.node == other.node
            && self.started_at == other.started_at
            && self.finished_at == other.finished_at
    }
}

/// Converts a Kubernetes timestamp.
pub(crate) fn to_chrono(time: &Time) -> Option<DateTime<Utc>> {
    let ts = time.0;
    let nanos = u32::try_from(ts.subsec_nanosecond()).ok()?;
    DateTime::from_timestamp(ts.as_second(), nanos)
}

/// The name of the driver container of `pod`.
pub fn driver_container_name(pod: &Pod) -> Option<&str> {
    let containers = &pod.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == DRIVER_CONTAINER)
        .or_else(|| {
            containers.iter().find(|c| {
                c.args
                    .as_ref()
                    .and_then(|a| a.first())
                    .is_some_and(|a| a == "driver")
            })
        })
        .or_else(|| containers.first())
        .map(|c| c.name.as_str())
}

fn driver_container_status(pod: &Pod) -> Option<&ContainerStatus> {
    let name = driver_container_name(pod);
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    match name {
        Some(name) => statuses.iter().find(|s| s.name == name),
        None => statuses.first(),
    }
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty()).cloned()
}

/// The status of the application whose driver pod is `pod`.
pub fn status_of_pod(pod: &Pod) -> AppStatus {
    let meta = &pod.metadata;
    let mut st = AppStatus::new(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
        AppState::Submitted,
    );
    if let Some(labels) = &meta.labels {
        st.app_id = labels.get("spark-app-selector").cloned();
        st.submission_id = labels.get("sparkube.io/submission-id").cloned();
        st.labels = labels.clone();
    }
    st.created_at = meta.creation_timestamp.as_ref().and_then(to_chrono);
    st.node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone());
    st.pod_phase = phase.clone();
    let pod_reason = status.and_then(|s| non_empty(s.reason.as_ref()));
    let pod_message = status.and_then(|s| non_empty(s.message.as_ref()));
    let deleting = meta.deletion_timestamp.is_some();
    let container = driver_container_status(pod);
    let state = container.and_then(|c| c.state.as_ref());

    if let Some(term) = state.and_then(|s| s.terminated.as_ref()) {
        st.exit_code = Some(term.exit_code);
        st.started_at = term.started_at.as_ref().and_then(to_chrono);
        st.finished_at = term.finished_at.as_ref().and_then(to_chrono);
        // A pod-level reason (Evicted, DeadlineExceeded) explains more than "Error", and so
        // does an eviction; either means the driver failed, even while its pod is deleted.
        let pod_level = pod_reason
            .clone()
            .filter(|_| phase.as_deref() == Some("Failed"));
        let disrupted = disruption(pod);
        if term.exit_code == 0 {
            st.state = AppState::Succeeded;
            st.reason = Some(non_empty(term.reason.as_ref()).unwrap_or_else(|| "Completed".into()));
            st.message = non_empty(term.message.as_ref());
        } else if deleting && pod_level.is_none() && disrupted.is_none() {
            st.state = AppState::Deleted;
            st.reason = Some("Deleted".into());
            st.message = Some(format!(
                "driver pod {}/{} was deleted before the application finished (exit code {})",
                st.namespace, st.driver_pod, term.exit_code
            ));
        } else if let (None, Some((reason, message))) = (&pod_level, disrupted) {
            st.state = AppState::Failed;
            st.reason = Some(reason);
            st.message = Some(message);
        } else {
            st.state = AppState::Failed;
            st.reason = pod_level
                .or_else(|| non_empty(term.reason.as_ref()))
                .or_else(|| Some("Error".into()));
            st.message = non_empty(term.message.as_ref()).or(pod_message);
        }
        return st;
    }

    match phase.as_deref() {
        Some("Failed") => {
            let disrupted = disruption(pod).filter(|_| pod_reason.is_none());
            if let Some((reason, message)) = disrupted {
                st.state = AppState::Failed;
                st.reason = Some(reason);
                st.message = Some(message);
                return st;
            }
            st.state = if deleting && pod_reason.is_none() {
                AppState::Deleted
            } else {
                AppState::Failed
            };
            let (reason, message) = init_failure(pod)
                .map(|(r, m)| (Some(r), m))
                .unwrap_or((None, None));
            st.reason = pod_reason.or(reason).or_else(|| Some("Error".into()));
            st.message = pod_message.or(message);
            return st;
        }
        Some("Succeeded") => {
            st.state = AppState::Succeeded;
            st.reason = Some("Completed".into());
            return st;
        }
        Some("Unknown") => {
            st.state = AppState::Unknown;
            st.reason = pod_reason.or_else(|| Some("NodeLost".into()));
            st.message = pod_message;
            return st;
        }
        _ => {}
    }

    if let Some(running) = state.and_then(|s| s.running.as_ref()) {
        st.state = AppState::Running;
        st.started_at = running.started_at.as_ref().and_then(to_chrono);
        if deleting {
            st.reason = Some("Terminating".into());
        }
        return st;
    }

    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        st.state = AppState::Pending;
        st.reason = non_empty(waiting.reason.as_ref());
        st.message = non_empty(waiting.message.as_ref());
        if st.reason.as_deref() == Some("PodInitializing")
            && let Some((reason, message)) = init_waiting_problem(pod)
        {
            st.reason = Some(reason);
            st.message = message;
        }
        return st;
    }

    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    match scheduled {
        Some(cond) if cond.status == "False" => {
            st.state = AppState::Pending;
            st.reason = non_empty(cond.reason.as_ref()).or_else(|| Some("Unschedulable".into()));
            st.message = non_empty(cond.message.as_ref());
        }
        Some(_) => {
            st.state = AppState::Pending;
            if let Some((reason, message)) = init_waiting_problem(pod) {
                st.reason = Some(reason);
                st.message = message;
            }
        }
        None if st.node.is_some() || phase.as_deref() == Some("Running") => {
            st.state = if phase.as_deref() == Some("Running") {
                AppState::Running
            } else {
                AppState::Pending
            };
        }
        None => st.state = AppState::Submitted,
    }
    st
}

/// Why the cluster, not a user, took the driver pod away, from its `DisruptionTarget`
/// condition: (reason, message). Preemption by the scheduler reads `Preempted`; the Eviction
/// API, node-pressure eviction, the taint manager and pod garbage collection read `Evicted`.
/// A driver that is evicted has failed, whereas one deleted by a user is `Deleted`.
fn disruption(pod: &Pod) -> Option<(String, String)> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let cond = conditions
        .iter()
        .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")?;
    let (reason, verb) = match cond.reason.as_deref() {
        Some("PreemptionByScheduler") => ("Preempted", "preempted"),
        _ => ("Evicted", "evicted"),
    };
    let why = non_empty(cond.message.as_ref())
        .or_else(|| non_empty(cond.reason.as_ref()))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let meta = &pod.metadata;
    let message = format!(
        "driver pod {}/{} was {verb}{why}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    );
    Some((reason.into(), message))
}

/// An init container that failed: (reason, message).
fn init_failure(pod: &Pod) -> Option<(String, Option<String>)> {
    let inits = pod.status.as_ref()?.init_container_statuses.as_ref()?;
    inits.iter().find_map(|s| {
        let term = s.state.as_ref()?.terminated.as_ref()?;
        (term.exit_code != 0).then(|| {
            (
                format!(
                    "Init:{}",
                    non_empty(term.reason.as_ref()).unwrap_or_else(|| "Error".into())
                ),
                Some(format!(
                    "init container {} exited with code {}{}",
                    s.name,
                    term.exit_code,
                    non_empty(term.message.as_ref())
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                )),
            )
        })
    })
}

/// An init container stuck waiting for a reason worth reporting (image pull, config error).
fn init_waiting_problem(pod: &Pod) -> Option<(String, Option<String>)> {
    let inits = pod.status.as_ref()?.init_container_statuses.as_ref()?;
    inits.iter().find_map(|s| {
        let waiting = s.state.as_ref()?.waiting.as_ref()?;
        let reason = non_empty(waiting.reason.as_ref())?;
        (reason != "PodInitializing").then(|| {
            let message = non_empty(waiting.message.as_ref())
                .map(|m| format!("init container {}: {m}", s.name))
                .or_else(|| Some(format!("init container {}", s.name)));
            (reason, message)
        })
    })
}

/// The status once the driver pod is gone. `last` is the last state seen (the deleted object
/// from the watch, when there is one): a driver that had already finished keeps its final
/// state; otherwise the application is `Deleted`, a failure.
pub fn status_after_deletion(namespace: &str, driver_pod: &str, last: Option<&Pod>) -> AppStatus {
    if let Some(pod) = last {
        let st = status_of_pod(pod);
        if matches!(st.state, AppState::Succeeded | AppState::Failed) {
            return st;
        }
        if st.state == AppState::Deleted {
            return st;
        }
        let mut st = st;
        if let Some((reason, message)) = disruption(pod) {
            st.state = AppState::Failed;
            st.reason = Some(reason);
            st.message = Some(message);
            return st;
        }
        st.state = AppState::Deleted;
        st.reason = Some("Deleted".into());
        st.message = Some(format!(
            "driver pod {namespace}/{driver_pod} was deleted before the application finished"
        ));
        return st;
    }
    let mut st = AppStatus::new(namespace, driver_pod, AppState::Deleted);
    st.reason = Some("Deleted".into());
    st.message = Some(format!(
        "driver pod {namespace}/{driver_pod} no longer exists"
    ));
    st
}

#[cfg(test)]
mod result_tests {
    use super::*;

    #[test]
    fn the_result_is_a_succeeded_drivers_json_termination_message() {
        let status = |state: AppState, message: Option<&str>| AppStatus {
            message: message.map(str::to_owned),
            ..AppStatus::new("ns", "drv", state)
        };
        let table = [
            (
                AppState::Succeeded,
                Some("{\"rows\": 3}\n"),
                Some(serde_json::json!({"rows": 3})),
            ),
            (AppState::Succeeded, Some("42"), Some(serde_json::json!(42))),
            (AppState::Succeeded, Some("done, no JSON"), None),
            (AppState::Succeeded, None, None),
            (AppState::Failed, Some("{\"rows\": 3}"), None),
        ];
        for (state, message, expected) in table {
            assert_eq!(
                status(state, message).result(),
                expected,
                "{state:?} {message:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(status: Value) -> Pod {
        pod_with(
            json!({"containers": [{"name": DRIVER_CONTAINER, "image": "spark"}]}),
            status,
        )
    }

    fn pod_with(spec: Value, status: Value) -> Pod {
        let value = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pi-driver", "namespace": "jobs",
                         "labels": {"spark-app-selector": "spark-123", "spark-role": "driver"},
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": spec,
            "status": status,
        });
        serde_json::from_value(value).unwrap_or_default()
    }

    fn driver(state: Value) -> Value {
        json!({"name": DRIVER_CONTAINER, "ready": false, "restartCount": 0, "image": "spark", "imageID": "", "state": state})
    }

    struct Case {
        name: &'static str,
        status: Value,
        state: AppState,
        reason: Option<&'static str>,
        message: Option<&'static str>,
        exit_code: Option<i32>,
    }

    #[test]
    fn states_from_driver_pods() {
        let cases = vec![
            Case {
                name: "no status yet",
                status: json!({}),
                state: AppState::Submitted,
                reason: None,
                message: None,
                exit_code: None,
            },
            Case {
                name: "unschedulable",
                status: json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory."}]}),
                state: AppState::Pending,
                reason: Some("Unschedulable"),
                message: Some("0/3 nodes are available: 3 Insufficient memory."),
                exit_code: None,
            },
            Case {
                name: "scheduled, kubelet not reported",
                status: json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}),
                state: AppState::Pending,
                reason: None,
                message: None,
                exit_code: None,
            },
            Case {
                name: "container creating",
                status: json!({"phase": "Pending", "containerStatuses": [driver(json!({"waiting": {"reason": "ContainerCreating"}}))]}),
                state: AppState::Pending,
                reason: Some("ContainerCreating"),
                message: None,
                exit_code: None,
            },
            Case {
                name: "image pull error",
                status: json!({"phase": "Pending", "containerStatuses": [driver(json!({"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}))]}),
                state: AppState::Pending,
                reason: Some("ErrImagePull"),
                message: Some("pull access denied"),
                exit_code: None,
            },
            Case {
                name: "image pull backoff",
                status: json!({"phase": "Pending", "containerStatuses": [driver(json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}))]}),
                state: AppState::Pending,
                reason: Some("ImagePullBackOff"),
                message: Some("Back-off pulling image"),
                exit_code: None,
            },
            Case {
                name: "invalid image name",
                status: json!({"phase": "Pending", "containerStatuses": [driver(json!({"waiting": {"reason": "InvalidImageName"}}))]}),
                state: AppState::Pending,
                reason: Some("InvalidImageName"),
                message: None,
                exit_code: None,
            },
            Case {
                name: "config error",
                status: json!({"phase": "Pending", "containerStatuses": [driver(json!({"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"s3\" not found"}}))]}),
                state: AppState::Pending,
                reason: Some("CreateContainerConfigError"),
                message: Some("secret \"s3\" not found"),
                exit_code: None,
            },
            Case {
                name: "running",
                status: json!({"phase": "Running", "containerStatuses": [driver(json!({"running": {"startedAt": "2025-01-01T00:00:05Z"}}))]}),
                state: AppState::Running,
                reason: None,
                message: None,
                exit_code: None,
            },
            Case {
                name: "succeeded",
                status: json!({"phase": "Succeeded", "containerStatuses": [driver(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))]}),
                state: AppState::Succeeded,
                reason: Some("Completed"),
                message: None,
                exit_code: Some(0),
            },
            Case {
                name: "exit code 1",
                status: json!({"phase": "Failed", "containerStatuses": [driver(json!({"terminated": {"exitCode": 1, "reason": "Error", "message": "Exception in thread main"}}))]}),
                state: AppState::Failed,
                reason: Some("Error"),
                message: Some("Exception in thread main"),
                exit_code: Some(1),
            },
            Case {
                name: "terminated without a reason",
                status: json!({"phase": "Failed", "containerStatuses": [driver(json!({"terminated": {"exitCode": 3}}))]}),
                state: AppState::Failed,
                reason: Some("Error"),
                message: None,
                exit_code: Some(3),
            },
            Case {
                name: "oom killed",
                status: json!({"phase": "Failed", "containerStatuses": [driver(json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))]}),
                state: AppState::Failed,
                reason: Some("OOMKilled"),
                message: None,
                exit_code: Some(137),
            },
            Case {
                name: "evicted with container status",
                status: json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory.", "containerStatuses": [driver(json!({"terminated": {"exitCode": 137, "reason": "Error"}}))]}),
                state: AppState::Failed,
                reason: Some("Evicted"),
                message: Some("The node was low on resource: memory."),
                exit_code: Some(137),
            },
            Case {
                name: "evicted before starting",
                status: json!({"phase": "Failed", "reason": "Evicted", "message": "The node had condition: [DiskPressure]."}),
                state: AppState::Failed,
                reason: Some("Evicted"),
                message: Some("The node had condition: [DiskPressure]."),
                exit_code: None,
            },
            Case {
                name: "deadline exceeded",
                status: json!({"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active on the node longer than the specified deadline", "containerStatuses": [driver(json!({"waiting": {"reason": "ContainerCreating"}}))]}),
                state: AppState::Failed,
                reason: Some("DeadlineExceeded"),
                message: Some("Pod was active on the node longer than the specified deadline"),
                exit_code: None,
            },
            Case {
                name: "node lost",
                status: json!({"phase": "Unknown", "reason": "NodeLost", "message": "Node n1 which was running pod is unresponsive"}),
                state: AppState::Unknown,
                reason: Some("NodeLost"),
                message: Some("Node n1 which was running pod is unresponsive"),
                exit_code: None,
            },
            Case {
                name: "init container failed",
                status: json!({"phase": "Failed",
                    "initContainerStatuses": [{"name": "fetch", "ready": false, "restartCount": 0, "image": "x", "imageID": "", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}],
                    "containerStatuses": [driver(json!({"waiting": {"reason": "PodInitializing"}}))]}),
                state: AppState::Failed,
                reason: Some("Init:Error"),
                message: Some("init container fetch exited with code 2"),
                exit_code: None,
            },
            Case {
                name: "init container cannot pull",
                status: json!({"phase": "Pending",
                    "initContainerStatuses": [{"name": "fetch", "ready": false, "restartCount": 0, "image": "x", "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}}],
                    "containerStatuses": [driver(json!({"waiting": {"reason": "PodInitializing"}}))]}),
                state: AppState::Pending,
                reason: Some("ImagePullBackOff"),
                message: Some("init container fetch: back-off"),
                exit_code: None,
            },
        ];
        for case in cases {
            let st = status_of_pod(&pod(case.status));
            assert_eq!(st.state, case.state, "{}", case.name);
            assert_eq!(st.reason.as_deref(), case.reason, "{}", case.name);
            assert_eq!(st.message.as_deref(), case.message, "{}", case.name);
            assert_eq!(st.exit_code, case.exit_code, "{}", case.name);
            assert_eq!(st.app_id.as_deref(), Some("spark-123"), "{}", case.name);
            assert_eq!(st.namespace, "jobs");
            assert_eq!(st.driver_pod, "pi-driver");
        }
    }

    #[test]
    fn a_sidecar_does_not_keep_the_app_running() {
        let spec = json!({"containers": [
            {"name": "istio-proxy", "image": "proxy"},
            {"name": DRIVER_CONTAINER, "image": "spark"},
        ]});
        let sidecar = json!({"name": "istio-proxy", "ready": true, "restartCount": 0, "image": "p", "imageID": "", "state": {"running": {}}});
        for (exit, expected) in [(0, AppState::Succeeded), (1, AppState::Failed)] {
            let status = json!({"phase": "Running", "containerStatuses": [
                sidecar.clone(),
                driver(json!({"terminated": {"exitCode": exit}})),
            ]});
            let st = status_of_pod(&pod_with(spec.clone(), status));
            assert_eq!(st.state, expected);
            assert_eq!(st.pod_phase.as_deref(), Some("Running"));
        }
        // and a sidecar that exits early does not finish the app
        let status = json!({"phase": "Running", "containerStatuses": [
            {"name": "istio-proxy", "ready": false, "restartCount": 0, "image": "p", "imageID": "", "state": {"terminated": {"exitCode": 0}}},
            driver(json!({"running": {}})),
        ]});
        assert_eq!(
            status_of_pod(&pod_with(spec, status)).state,
            AppState::Running
        );
    }

    #[test]
    fn driver_container_selection() {
        let table = [
            (
                json!({"containers": [{"name": "side"}, {"name": DRIVER_CONTAINER}]}),
                Some(DRIVER_CONTAINER),
            ),
            (
                json!({"containers": [{"name": "side", "args": ["run"]}, {"name": "main", "args": ["driver", "--properties-file", "x"]}]}),
                Some("main"),
            ),
            (
                json!({"containers": [{"name": "first"}, {"name": "second"}]}),
                Some("first"),
            ),
            (json!({"containers": []}), None),
        ];
        for (spec, expected) in table {
            let p = pod_with(spec.clone(), json!({}));
            assert_eq!(driver_container_name(&p), expected, "{spec}");
        }
    }

    #[test]
    fn deletion_is_a_failure_unless_the_driver_had_finished() {
        let running =
            pod(json!({"phase": "Running", "containerStatuses": [driver(json!({"running": {}}))]}));
        let st = status_after_deletion("jobs", "pi-driver", Some(&running));
        assert_eq!(st.state, AppState::Deleted);
        assert_eq!(st.reason.as_deref(), Some("Deleted"));
        assert!(st.is_final() && !st.is_success());

        let done = pod(
            json!({"phase": "Succeeded", "containerStatuses": [driver(json!({"terminated": {"exitCode": 0}}))]}),
        );
        assert_eq!(
            status_after_deletion("jobs", "pi-driver", Some(&done)).state,
            AppState::Succeeded
        );

        let gone = status_after_deletion("jobs", "pi-driver", None);
        assert_eq!(gone.state, AppState::Deleted);

        // killed with a grace period: the container terminates with 143 while the pod is being deleted
        let mut killed = pod(
            json!({"phase": "Running", "containerStatuses": [driver(json!({"terminated": {"exitCode": 143, "reason": "Error"}}))]}),
        );
        killed.metadata.deletion_timestamp = running.metadata.creation_timestamp.clone();
        let st = status_of_pod(&killed);
        assert_eq!(st.state, AppState::Deleted);
        assert_eq!(st.exit_code, Some(143));
        // still running while terminating
        let mut terminating = running.clone();
        terminating.metadata.deletion_timestamp = running.metadata.creation_timestamp.clone();
        let st = status_of_pod(&terminating);
        assert_eq!(st.state, AppState::Running);
        assert_eq!(st.reason.as_deref(), Some("Terminating"));
    }

    #[test]
    fn an_evicted_or_preempted_driver_failed_and_was_not_deleted() {
        let evicting = json!({"type": "DisruptionTarget", "status": "True",
            "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"});
        let deleting = |status: Value| {
            let mut p = pod(status);
            p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
            p
        };
        let evicted = "driver pod jobs/pi-driver was evicted: Eviction API: evicting";
        // (what, pod, state, reason, message)
        let table = [
            (
                "Eviction API, driver stopped by SIGTERM",
                deleting(json!({"phase": "Failed", "conditions": [evicting],
                    "containerStatuses": [driver(json!({"terminated": {"exitCode": 143, "reason": "Error"}}))]})),
                AppState::Failed,
                "Evicted",
                evicted.to_string(),
            ),
            (
                "Eviction API, driver still stopping",
                deleting(json!({"phase": "Running", "conditions": [evicting],
                    "containerStatuses": [driver(json!({"running": {}}))]})),
                AppState::Running,
                "Terminating",
                String::new(),
            ),
            (
                "preempted before the driver started",
                deleting(json!({"phase": "Failed", "conditions": [{"type": "DisruptionTarget",
                    "status": "True", "reason": "PreemptionByScheduler"}]})),
                AppState::Failed,
                "Preempted",
                "driver pod jobs/pi-driver was preempted: PreemptionByScheduler".into(),
            ),
            (
                "node-pressure eviction, then deleted",
                deleting(json!({"phase": "Failed", "reason": "Evicted",
                    "message": "The node was low on resource: memory.",
                    "containerStatuses": [driver(json!({"terminated": {"exitCode": 137, "reason": "Error"}}))]})),
                AppState::Failed,
                "Evicted",
                "The node was low on resource: memory.".into(),
            ),
            (
                "finished before the eviction",
                deleting(json!({"phase": "Succeeded", "conditions": [evicting],
                    "containerStatuses": [driver(json!({"terminated": {"exitCode": 0}}))]})),
                AppState::Succeeded,
                "Completed",
                String::new(),
            ),
            (
                "a disruption condition that is not true",
                deleting(json!({"phase": "Failed", "conditions": [{"type": "DisruptionTarget", "status": "False"}],
                    "containerStatuses": [driver(json!({"terminated": {"exitCode": 143}}))]})),
                AppState::Deleted,
                "Deleted",
                "driver pod jobs/pi-driver was deleted before the application finished (exit code 143)".into(),
            ),
        ];
        for (what, p, state, reason, message) in table {
            let st = status_of_pod(&p);
            assert_eq!(st.state, state, "{what}: {st:?}");
            assert_eq!(st.reason.as_deref(), Some(reason), "{what}");
            assert_eq!(st.message.unwrap_or_default(), message, "{what}");
        }
        // The watch missed the stopped driver: the pod was last seen running and evicting.
        let last = deleting(json!({"phase": "Running", "conditions": [evicting],
            "containerStatuses": [driver(json!({"running": {}}))]}));
        let st = status_after_deletion("jobs", "pi-driver", Some(&last));
        assert_eq!(
            (st.state, st.reason.as_deref(), st.message.as_deref()),
            (AppState::Failed, Some("Evicted"), Some(evicted))
        );
    }

    #[test]
    fn times_and_summary() {
        let p = pod(
            json!({"phase": "Failed", "containerStatuses": [driver(json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2025-01-01T00:00:05Z", "finishedAt": "2025-01-01T00:01:00Z"}}))]}),
        );
        let st = status_of_pod(&p);
        assert_eq!(
            st.started_at.map(|t| t.to_rfc3339()),
            Some("2025-01-01T00:00:05+00:00".into())
        );
        assert_eq!(
            st.finished_at.map(|t| t.to_rfc3339()),
            Some("2025-01-01T00:01:00+00:00".into())
        );
        assert_eq!(
            st.created_at.map(|t| t.to_rfc3339()),
            Some("2025-01-01T00:00:00+00:00".into())
        );
        assert_eq!(st.summary(), "Failed (OOMKilled, exit code 137)");
        let json = serde_json::to_value(&st).unwrap_or_default();
        assert_eq!(json["state"], "Failed");
        assert_eq!(json["exit_code"], 137);
    }

    #[test]
    fn state_predicates() {
        let table = [
            (AppState::Submitted, false, false),
            (AppState::Pending, false, false),
            (AppState::Running, false, true),
            (AppState::Unknown, false, false),
            (AppState::Succeeded, true, true),
            (AppState::Failed, true, true),
            (AppState::Deleted, true, true),
        ];
        for (state, is_final, started) in table {
            assert_eq!(state.is_final(), is_final, "{state}");
            assert_eq!(state.has_started(), started, "{state}");
        }
    }
}
