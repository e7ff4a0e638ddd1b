//! Progress of a running application: jobs, stages and tasks, read from the driver's Spark UI
//! REST API (`/api/v1/applications/{app id}/jobs` and `/stages`) through the Kubernetes API
//! server's service proxy (`services/{driver service}:{UI port}/proxy/...`), so that it works
//! from outside the cluster with the caller's own credentials and no port-forward.
//!
//! Reading is three GETs (jobs, stages, executors), sent together, with short timeouts. While the UI cannot answer (the
//! driver is pending, its service has no endpoints yet, or the driver has finished) the result
//! is `None`, not an error; only answers that will not get better by asking again (refused
//! credentials, an answer that is not the Spark REST API's JSON) are errors. Turning the two
//! answers into counts is the pure function [`summarize`].

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError, RetryPolicy};
use crate::client::Client;
use crate::submit::{APP_ID_LABEL, AppHandle};
use crate::track::Result;
use kube::api::ListParams;

/// Name Spark gives the UI port of the driver container and of the driver service.
pub const UI_PORT_NAME: &str = "spark-ui";
/// The UI port when nothing says otherwise (`spark.ui.port`'s default).
pub const DEFAULT_UI_PORT: u16 = 4040;
/// Suffix of the driver pod's name that Spark derives from the resource name prefix.
const DRIVER_POD_SUFFIX: &str = "-driver";
/// Suffix of the driver service's name (see `build::names::service_name`).
const DRIVER_SERVICE_SUFFIX: &str = "-driver-svc";
/// Longest service name (a DNS-1123 label).
const SERVICE_NAME_MAX: usize = 63;

/// Time allowed for one request to the UI.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for a whole progress read, retries included.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the driver's Spark UI is reached through the API server: the driver service and its
/// `spark-ui` port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SparkUi {
    /// Name of the driver service (in the driver's namespace).
    pub service: String,
    /// The service's `spark-ui` port.
    pub port: u16,
}

impl SparkUi {
    /// The UI of a driver service, as submitted or read from the API server: its
    /// `spark-ui` port.
    pub fn from_service(service: &Service) -> Option<Self> {
        let port = service
            .spec
            .as_ref()?
            .ports
            .as_ref()?
            .iter()
            .find(|p| p.name.as_deref() == Some(UI_PORT_NAME))?
            .port;
        Some(Self {
            service: service.metadata.name.clone()?,
            port: u16::try_from(port).ok()?,
        })
    }

    /// The UI's path through the API server's service proxy
    /// (`/api/v1/namespaces/{ns}/services/{service}:{port}/proxy/`): a link to the UI that needs
    /// no route to the pods, only the caller's credentials (or `kubectl proxy` in front).
    pub fn proxy_path(&self, namespace: &str) -> String {
        let services = api::namespaced::<Service>(namespace);
        format!(
            "{}/{}:{}/proxy/",
            services.url_path, self.service, self.port
        )
    }

    /// The UI of a driver pod by Spark's naming rule, without asking the API server: the pod
    /// is `{prefix}-driver` and its service `{prefix}-driver-svc` (when that fits in 63
    /// characters), the port is the pod's `spark-ui` container port. `None` when the name does
    /// not follow the rule (an overridden pod name, or a prefix so long that Spark named the
    /// service after a random id instead); [`Client::progress`] then looks the service up.
    pub fn from_driver_pod(pod: &Pod) -> Option<Self> {
        let name = pod.metadata.name.as_deref()?;
        let prefix = name.strip_suffix(DRIVER_POD_SUFFIX)?;
        let service = format!("{prefix}{DRIVER_SERVICE_SUFFIX}");
        if prefix.is_empty() || service.len() > SERVICE_NAME_MAX {
            return None;
        }
        let port = pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(UI_PORT_NAME))
            .map(|p| p.container_port)?;
        Some(Self {
            service,
            port: u16::try_from(port).ok()?,
        })
    }
}

/// One job of the Spark REST API's `/applications/{id}/jobs` (the fields used here).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobData {
    /// Job id.
    pub job_id: i64,
    /// `RUNNING`, `SUCCEEDED`, `FAILED` or `UNKNOWN`.
    pub status: String,
    /// Tasks of all the job's stages, skipped ones included.
    pub num_tasks: u64,
    /// Tasks running now.
    pub num_active_tasks: u64,
    /// Task attempts that succeeded (speculative and retried copies included).
    pub num_completed_tasks: u64,
    /// Tasks of stages that were skipped (their output already existed).
    pub num_skipped_tasks: u64,
    /// Task attempts that failed.
    pub num_failed_tasks: u64,
    /// Distinct tasks (partitions) that succeeded; absent from very old Spark versions.
    pub num_completed_indices: Option<u64>,
}

/// One stage attempt of the Spark REST API's `/applications/{id}/stages` (the fields used).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StageData {
    /// Stage id.
    pub stage_id: i64,
    /// Attempt number of the stage (a stage is retried after a fetch failure).
    pub attempt_id: i64,
    /// `ACTIVE`, `COMPLETE`, `FAILED`, `PENDING` or `SKIPPED`.
    pub status: String,
    /// Tasks of the stage.
    pub num_tasks: u64,
    /// Tasks running now.
    pub num_active_tasks: u64,
    /// Task attempts that succeeded.
    pub num_complete_tasks: u64,
    /// Task attempts that failed.
    pub num_failed_tasks: u64,
    /// Bytes spilled from memory (deserialized) by the attempt's tasks.
    pub memory_bytes_spilled: u64,
    /// Bytes spilled to disk (serialized) by the attempt's tasks.
    pub disk_bytes_spilled: u64,
}

/// One executor of the Spark REST API's `/applications/{id}/allexecutors` (the fields used):
/// the driver is listed too, with id `driver`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutorData {
    /// Executor id (`1`, `2`, ..., or `driver`).
    pub id: String,
    /// Whether it is still registered.
    pub is_active: bool,
    /// When it registered (`2026-01-05T10:00:00.000GMT`).
    pub add_time: Option<String>,
    /// When it was removed; absent while it is registered.
    pub remove_time: Option<String>,
    /// Milliseconds its tasks ran.
    pub total_duration: u64,
    /// Milliseconds its tasks spent in garbage collection.
    #[serde(rename = "totalGCTime")]
    pub total_gc_time: u64,
    /// Bytes of its storage and execution memory (a share of the heap).
    pub max_memory: u64,
    /// The highest memory figures its heartbeats reported; absent before the first one.
    pub peak_memory_metrics: Option<PeakMemoryMetrics>,
}

/// Spark's `ExecutorMetrics` as the REST API names them (the fields used here), in bytes. The
/// process tree figures stay 0 unless `spark.executor.processTreeMetrics.enabled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct PeakMemoryMetrics {
    /// Used JVM heap.
    #[serde(rename = "JVMHeapMemory")]
    pub jvm_heap_memory: u64,
    /// Used JVM memory outside the heap (metaspace, code cache, ...).
    #[serde(rename = "JVMOffHeapMemory")]
    pub jvm_off_heap_memory: u64,
    /// Resident memory of the executor's Python workers.
    #[serde(rename = "ProcessTreePythonRSSMemory")]
    pub process_tree_python_rss_memory: u64,
}

/// What the driver's UI listed at one moment, kept for the right-sizing report (see
/// `report`): the executors with their peak memory, and the stages with their spill.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Every executor so far, the driver and the removed ones included.
    pub executors: Vec<ExecutorData>,
    /// Every stage attempt so far.
    pub stages: Vec<StageData>,
    /// When it was read.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Snapshot {
    /// Whether this read should replace `previous` as the one the report uses: not when it
    /// lost the executors (their read failed, as it may while the driver stops).
    pub fn replaces(&self, previous: &Snapshot) -> bool {
        !self.executors.is_empty() || previous.executors.is_empty()
    }
}

/// How far an application is, as its Spark UI counts it, over the jobs submitted so far (a
/// later job adds to the totals, so the fraction can go down when one starts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Spark application id.
    pub app_id: String,
    /// Jobs submitted so far.
    pub jobs_total: u64,
    /// Jobs that succeeded.
    pub jobs_succeeded: u64,
    /// Jobs running now.
    pub jobs_running: u64,
    /// Jobs that failed.
    pub jobs_failed: u64,
    /// Stages known so far (the last attempt of each).
    pub stages_total: u64,
    /// Stages complete.
    pub stages_completed: u64,
    /// Stages running now.
    pub stages_active: u64,
    /// Stages waiting for their parents.
    pub stages_pending: u64,
    /// Stages skipped because their output already existed.
    pub stages_skipped: u64,
    /// Stages failed.
    pub stages_failed: u64,
    /// Tasks to run for the jobs so far (the tasks of skipped stages not counted).
    pub tasks_total: u64,
    /// Tasks that succeeded (each task once, however many attempts it took).
    pub tasks_completed: u64,
    /// Tasks running now.
    pub tasks_active: u64,
    /// Task attempts that failed.
    pub tasks_failed: u64,
    /// Tasks of skipped stages.
    pub tasks_skipped: u64,
    /// `tasks_completed / tasks_total`, in `[0, 1]`; `None` while there are no tasks.
    pub fraction: Option<f64>,
    /// Executors registered so far, the removed ones included (the driver not counted): a
    /// stall watchdog sees a new executor as progress. 0 when the UI did not list them in time.
    #[serde(default)]
    pub executors_total: u64,
    /// Executors registered now.
    #[serde(default)]
    pub executors_active: u64,
}

/// Counts jobs, stages and tasks from the answers of `/jobs` and `/stages` (pure).
pub fn summarize(app_id: &str, jobs: &[JobData], stages: &[StageData]) -> Progress {
    let mut p = Progress {
        app_id: app_id.to_string(),
        ..Progress::default()
    };
    for job in jobs {
        p.jobs_total += 1;
        match job.status.as_str() {
            "SUCCEEDED" => p.jobs_succeeded += 1,
            "RUNNING" => p.jobs_running += 1,
            "FAILED" => p.jobs_failed += 1,
            _ => {}
        }
        let to_run = job.num_tasks.saturating_sub(job.num_skipped_tasks);
        let done = job.num_completed_indices.unwrap_or(job.num_completed_tasks);
        p.tasks_total += to_run;
        p.tasks_completed += done.min(to_run);
        p.tasks_active += job.num_active_tasks;
        p.tasks_failed += job.num_failed_tasks;
        p.tasks_skipped += job.num_skipped_tasks;
    }
    // A retried stage is listed once per attempt: the last attempt says where it stands.
    let mut last: std::collections::BTreeMap<i64, &StageData> = std::collections::BTreeMap::new();
    for stage in stages {
        let entry = last.entry(stage.stage_id).or_insert(stage);
        if stage.attempt_id > entry.attempt_id {
            *entry = stage;
        }
    }
    for stage in last.values() {
        p.stages_total += 1;
        match stage.status.as_str() {
            "COMPLETE" => p.stages_completed += 1,
            "ACTIVE" => p.stages_active += 1,
            "PENDING" => p.stages_pending += 1,
            "SKIPPED" => p.stages_skipped += 1,
            "FAILED" => p.stages_failed += 1,
            _ => {}
        }
    }
    p.fraction = (p.tasks_total > 0).then(|| p.tasks_completed as f64 / p.tasks_total as f64);
    p
}

impl Progress {
    /// Adds the executor counts of an `/allexecutors` answer.
    pub fn with_executors(mut self, executors: &[ExecutorData]) -> Self {
        let executors = executors.iter().filter(|e| e.id != "driver");
        for executor in executors {
            self.executors_total += 1;
            self.executors_active += u64::from(executor.is_active);
        }
        self
    }

    /// The completed percentage, rounded down (100 only when every task is done).
    pub fn percent(&self) -> Option<u64> {
        (self.tasks_total > 0)
            .then(|| self.tasks_completed.min(self.tasks_total) * 100 / self.tasks_total)
    }
}

impl std::fmt::Display for Progress {
    /// `3/4 jobs, 120/200 tasks (60%)`, with failed tasks when there are some.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} jobs, {}/{} tasks",
            self.jobs_succeeded, self.jobs_total, self.tasks_completed, self.tasks_total
        )?;
        if let Some(percent) = self.percent() {
            write!(f, " ({percent}%)")?;
        }
        if self.tasks_failed > 0 {
            write!(f, ", {} failed", self.tasks_failed)?;
        }
        Ok(())
    }
}

/// Whether a failed read only means that the UI cannot answer now: the service has no
/// endpoints or the driver does not listen (503, 502), it is gone or does not know the app
/// (404), or it is slow or unreachable (timeouts, dropped connections).
fn is_unavailable(error: &ApiError) -> bool {
    error.is_not_found() || error.is_transient()
}

/// What the Spark UI answers, with 200, while the SparkContext is still starting.
const STARTING_UP: &[u8] = b"Spark is starting up";

/// Decodes a REST answer of the Spark UI; `None` for its starting-up page.
fn decode_ui_answer<T: serde::de::DeserializeOwned>(
    operation: &str,
    body: &[u8],
) -> std::result::Result<Option<T>, ApiError> {
    if body.trim_ascii_start().starts_with(STARTING_UP) {
        log::debug!("{operation}: the Spark UI is starting up");
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|source| ApiError::Decode {
            operation: operation.to_string(),
            source,
        })
}

/// The retry policy of progress reads: the client's, with short timeouts and at most one
/// retry, since the next poll is a retry of its own.
fn read_policy(base: &RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        max_attempts: base.max_attempts.clamp(1, 2),
        initial_delay: base.initial_delay.min(Duration::from_millis(200)),
        max_delay: base.max_delay.min(Duration::from_millis(500)),
        max_retry_after: base.max_retry_after.min(Duration::from_secs(1)),
        attempt_timeout: Some(
            base.attempt_timeout
                .map_or(ATTEMPT_TIMEOUT, |t| t.min(ATTEMPT_TIMEOUT)),
        ),
    }
}

/// The GET of `part` (`jobs`, `stages`) of the application's REST API through the API
/// server's proxy to the driver service (a subresource kube-rs has no builder for). The app
/// id is a label value, so it needs no escaping; anything else is refused.
pub fn proxy_request(
    namespace: &str,
    ui: &SparkUi,
    app_id: &str,
    part: &str,
) -> std::result::Result<http::Request<Vec<u8>>, String> {
    if app_id.is_empty()
        || !app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!("{app_id:?} is not a Spark application id"));
    }
    let path = format!(
        "{}api/v1/applications/{app_id}/{part}",
        ui.proxy_path(namespace)
    );
    http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())
}

impl Client {
    /// The application's progress from its driver's Spark UI, through the API server's
    /// service proxy; `None` while the UI cannot answer (the driver is not running yet, has
    /// finished, or its service is gone). Needs `get` on `services/proxy` (and, for a driver
    /// whose service name does not follow Spark's rule, `list` on `services`).
    pub async fn progress(&self, handle: &AppHandle) -> Result<Option<Progress>> {
        Ok(self
            .progress_snapshot(handle)
            .await?
            .map(|(progress, _)| progress))
    }

    /// [`Client::progress`] with what the UI listed, for the right-sizing report
    /// ([`crate::report::Report::from_snapshot`]).
    pub async fn progress_snapshot(
        &self,
        handle: &AppHandle,
    ) -> Result<Option<(Progress, Snapshot)>> {
        let read = async {
            let ui = match &handle.spark_ui {
                Some(ui) => ui.clone(),
                None => match self.find_spark_ui(handle).await? {
                    Some(ui) => ui,
                    None => {
                        log::debug!(
                            "progress of {}: driver pod {}/{} has no service with a {UI_PORT_NAME} port",
                            handle.app_id,
                            handle.namespace,
                            handle.driver_pod
                        );
                        return Ok(None);
                    }
                },
            };
            self.read_progress(handle, &ui).await
        };
        match tokio::time::timeout(READ_TIMEOUT, read).await {
            Ok(result) => result,
            Err(_) => {
                log::debug!(
                    "progress of {}: no answer from its Spark UI within {READ_TIMEOUT:?}",
                    handle.app_id
                );
                Ok(None)
            }
        }
    }

    /// The three GETs (jobs, stages, executors), sent together, and their summary.
    async fn read_progress(
        &self,
        handle: &AppHandle,
        ui: &SparkUi,
    ) -> Result<Option<(Progress, Snapshot)>> {
        let policy = read_policy(&self.retry);
        let get = |operation: &str, part: &str| {
            proxy_request(&handle.namespace, ui, &handle.app_id, part)
                .map_err(|e| api::request_error(operation, e))
        };
        let what = |part: &str| {
            format!(
                "read the Spark UI {part} of {} through service {}/{}:{}",
                handle.app_id, handle.namespace, ui.service, ui.port
            )
        };
        let (jobs_op, stages_op) = (what("jobs"), what("stages"));
        let executors_op = what("allexecutors");
        let (jobs, stages, executors) = futures::join!(
            api::call_raw(&self.kube, &policy, &jobs_op, || get(&jobs_op, "jobs")),
            api::call_raw(&self.kube, &policy, &stages_op, || get(
                &stages_op, "stages"
            )),
            api::call_raw(&self.kube, &policy, &executors_op, || get(
                &executors_op,
                "allexecutors"
            )),
        );
        // The executors are an addition: a slow first answer (Spark's UI warms up) leaves
        // their counts at 0 rather than the whole progress unknown.
        let executors: Vec<ExecutorData> = match executors {
            Ok(body) => decode_ui_answer(&executors_op, &body)?.unwrap_or_default(),
            Err(e) if is_unavailable(&e) => {
                log::debug!("executors not available: {e}");
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        match (jobs, stages) {
            (Ok(jobs), Ok(stages)) => {
                let jobs: Option<Vec<JobData>> = decode_ui_answer(&jobs_op, &jobs)?;
                let stages: Option<Vec<StageData>> = decode_ui_answer(&stages_op, &stages)?;
                Ok(jobs.zip(stages).map(|(jobs, stages)| {
                    let progress =
                        summarize(&handle.app_id, &jobs, &stages).with_executors(&executors);
                    let snapshot = Snapshot {
                        executors,
                        stages,
                        at: chrono::Utc::now(),
                    };
                    (progress, snapshot)
                }))
            }
            (Err(e), _) | (_, Err(e)) if is_unavailable(&e) => {
                log::debug!("progress not available: {e}");
                Ok(None)
            }
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
        }
    }

    /// The UI of the service that belongs to the driver: labelled with its app id, with a
    /// `spark-ui` port, owned by the driver pod when one is.
    async fn find_spark_ui(&self, handle: &AppHandle) -> Result<Option<SparkUi>> {
        let namespace = &handle.namespace;
        let operation = format!(
            "find the driver service of {} in namespace {namespace}",
            handle.app_id
        );
        let params = ListParams::default().labels(&format!("{APP_ID_LABEL}={}", handle.app_id));
        let list: k8s_openapi::List<Service> =
            match api::call(&self.kube, &self.retry, &operation, || {
                api::namespaced::<Service>(namespace)
                    .list(&params)
                    .map_err(|e| api::request_error(&operation, e))
            })
            .await
            {
                Ok(list) => list,
                Err(e) if is_unavailable(&e) => {
                    log::debug!("progress not available: {e}");
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            };
        let owned = |s: &Service| {
            s.metadata.owner_references.iter().flatten().any(|r| {
                r.kind == "Pod"
                    && r.name == handle.driver_pod
                    && handle.pod_uid.as_ref().is_none_or(|uid| &r.uid == uid)
            })
        };
        let with_ui = || {
            list.items
                .iter()
                .filter_map(|s| Some((s, SparkUi::from_service(s)?)))
        };
        Ok(with_ui()
            .find(|(s, _)| owned(s))
            .or_else(|| with_ui().next())
            .map(|(_, ui)| ui))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_starting_up_page_is_not_progress_yet() {
        let page = b"Spark is starting up. Please wait a while until it's ready.";
        let decoded: std::result::Result<Option<Vec<JobData>>, _> = decode_ui_answer("read", page);
        assert!(matches!(decoded, Ok(None)));
        let decoded: std::result::Result<Option<Vec<JobData>>, _> = decode_ui_answer("read", b"[]");
        assert!(matches!(decoded, Ok(Some(jobs)) if jobs.is_empty()));
        let decoded: std::result::Result<Option<Vec<JobData>>, _> =
            decode_ui_answer("read", b"<html>oops</html>");
        assert!(matches!(decoded, Err(ApiError::Decode { .. })));
    }

    /// A job as Spark 4's `/applications/{id}/jobs` lists it.
    fn job(id: i64, status: &str, tasks: [u64; 6]) -> Value {
        let [total, active, completed, skipped, failed, indices] = tasks;
        json!({
            "jobId": id, "name": format!("count at pi.py:{id}"),
            "submissionTime": "2026-01-05T10:00:00.000GMT", "stageIds": [id * 2, id * 2 + 1],
            "jobTags": [], "status": status, "numTasks": total, "numActiveTasks": active,
            "numCompletedTasks": completed, "numSkippedTasks": skipped, "numFailedTasks": failed,
            "numKilledTasks": 0, "numCompletedIndices": indices, "numActiveStages": 1,
            "numCompletedStages": 0, "numSkippedStages": 0, "numFailedStages": 0,
            "killedTasksSummary": {}
        })
    }

    /// A stage attempt as Spark 4's `/applications/{id}/stages` lists it (metrics abridged).
    fn stage(id: i64, attempt: i64, status: &str, tasks: [u64; 4]) -> Value {
        let [total, active, complete, failed] = tasks;
        json!({
            "status": status, "stageId": id, "attemptId": attempt, "numTasks": total,
            "numActiveTasks": active, "numCompleteTasks": complete, "numFailedTasks": failed,
            "numKilledTasks": 0, "numCompletedIndices": complete,
            "submissionTime": "2026-01-05T10:00:00.000GMT", "executorRunTime": 162,
            "inputBytes": 160, "shuffleWriteBytes": 0, "name": "count at pi.py:1",
            "details": "org.apache.spark.rdd.RDD.count(RDD.scala:1234)",
            "schedulingPool": "default", "rddIds": [6, 5], "accumulatorUpdates": [],
            "killedTasksSummary": {}, "resourceProfileId": 0,
            "peakExecutorMetrics": {"JVMHeapMemory": 0}, "isShufflePushEnabled": false,
            "shuffleMergersCount": 0
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(items: Vec<Value>) -> Vec<T> {
        serde_json::from_value(Value::Array(items)).unwrap_or_default()
    }

    #[test]
    fn summaries_of_spark_rest_answers() {
        // (what, jobs, stages, expected counts: jobs [total, succeeded, running, failed],
        //  stages [total, completed, active, pending, skipped, failed],
        //  tasks [total, completed, active, failed, skipped], percent)
        type Row = (
            &'static str,
            Vec<Value>,
            Vec<Value>,
            [u64; 4],
            [u64; 6],
            [u64; 5],
            Option<u64>,
        );
        let table: Vec<Row> = vec![
            ("no job yet", vec![], vec![], [0; 4], [0; 6], [0; 5], None),
            (
                "one running job",
                vec![job(0, "RUNNING", [200, 8, 120, 0, 0, 120])],
                vec![stage(0, 0, "ACTIVE", [200, 8, 120, 0])],
                [1, 0, 1, 0],
                [1, 0, 1, 0, 0, 0],
                [200, 120, 8, 0, 0],
                Some(60),
            ),
            (
                "three of four jobs done, the fourth half-way",
                vec![
                    job(3, "RUNNING", [50, 2, 25, 0, 0, 25]),
                    job(2, "SUCCEEDED", [50, 0, 50, 0, 0, 50]),
                    job(1, "SUCCEEDED", [50, 0, 50, 0, 0, 50]),
                    job(0, "SUCCEEDED", [50, 0, 50, 0, 0, 50]),
                ],
                vec![
                    stage(3, 0, "ACTIVE", [50, 2, 25, 0]),
                    stage(2, 0, "COMPLETE", [50, 0, 50, 0]),
                    stage(1, 0, "COMPLETE", [50, 0, 50, 0]),
                    stage(0, 0, "COMPLETE", [50, 0, 50, 0]),
                ],
                [4, 3, 1, 0],
                [4, 3, 1, 0, 0, 0],
                [200, 175, 2, 0, 0],
                Some(87),
            ),
            (
                "a skipped stage's tasks are not to run",
                vec![job(1, "RUNNING", [16, 4, 4, 8, 0, 4])],
                vec![
                    stage(2, 0, "SKIPPED", [8, 0, 0, 0]),
                    stage(3, 0, "ACTIVE", [8, 4, 4, 0]),
                ],
                [1, 0, 1, 0],
                [2, 0, 1, 0, 1, 0],
                [8, 4, 4, 0, 8],
                Some(50),
            ),
            (
                "Spark's own failed job: 15 of 16 tasks, one failure",
                vec![
                    job(1, "FAILED", [16, 0, 15, 0, 1, 15]),
                    job(0, "SUCCEEDED", [8, 0, 8, 0, 0, 8]),
                ],
                vec![
                    stage(2, 0, "FAILED", [8, 0, 7, 1]),
                    stage(1, 0, "COMPLETE", [8, 0, 8, 0]),
                    stage(0, 0, "COMPLETE", [8, 0, 8, 0]),
                ],
                [2, 1, 0, 1],
                [3, 2, 0, 0, 0, 1],
                [24, 23, 0, 1, 0],
                Some(95),
            ),
            (
                "retried tasks and speculative copies count each task once",
                vec![job(0, "SUCCEEDED", [10, 0, 13, 0, 3, 10])],
                vec![
                    stage(0, 0, "FAILED", [10, 0, 6, 3]),
                    stage(0, 1, "COMPLETE", [4, 0, 4, 0]),
                    stage(1, 0, "PENDING", [2, 0, 0, 0]),
                ],
                [1, 1, 0, 0],
                [2, 1, 0, 1, 0, 0],
                [10, 10, 0, 3, 0],
                Some(100),
            ),
            (
                "all of a job's stages skipped",
                vec![job(4, "SUCCEEDED", [8, 0, 0, 8, 0, 0])],
                vec![stage(9, 0, "SKIPPED", [8, 0, 0, 0])],
                [1, 1, 0, 0],
                [1, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 8],
                None,
            ),
        ];
        for (what, jobs, stages, j, s, t, percent) in table {
            let p = summarize("spark-1", &parse(jobs), &parse(stages));
            assert_eq!(
                [
                    p.jobs_total,
                    p.jobs_succeeded,
                    p.jobs_running,
                    p.jobs_failed
                ],
                j,
                "{what}: jobs"
            );
            let got = [
                p.stages_total,
                p.stages_completed,
                p.stages_active,
                p.stages_pending,
                p.stages_skipped,
                p.stages_failed,
            ];
            assert_eq!(got, s, "{what}: stages");
            let got = [
                p.tasks_total,
                p.tasks_completed,
                p.tasks_active,
                p.tasks_failed,
                p.tasks_skipped,
            ];
            assert_eq!(got, t, "{what}: tasks");
            assert_eq!(p.percent(), percent, "{what}: percent");
            assert_eq!(p.app_id, "spark-1");
        }
    }

    #[test]
    fn executors_are_counted_without_the_driver() {
        let executors: Vec<ExecutorData> = parse(vec![
            json!({"id": "driver", "isActive": true, "totalCores": 0}),
            json!({"id": "1", "isActive": false, "totalCores": 2}),
            json!({"id": "2", "isActive": true, "totalCores": 2}),
        ]);
        let p = summarize("a", &[], &[]).with_executors(&executors);
        assert_eq!((p.executors_total, p.executors_active), (2, 1));
    }

    #[test]
    fn jobs_without_completed_indices_use_completed_tasks() {
        let mut old = job(0, "RUNNING", [10, 1, 4, 0, 0, 0]);
        if let Some(map) = old.as_object_mut() {
            map.remove("numCompletedIndices");
        }
        let p = summarize("a", &parse(vec![old]), &[]);
        assert_eq!((p.tasks_completed, p.tasks_total), (4, 10));
    }

    #[test]
    fn one_line_summaries() {
        let table = [
            (
                summarize(
                    "a",
                    &parse(vec![
                        job(1, "RUNNING", [100, 4, 20, 0, 0, 20]),
                        job(0, "SUCCEEDED", [100, 0, 100, 0, 0, 100]),
                    ]),
                    &[],
                ),
                "1/2 jobs, 120/200 tasks (60%)",
            ),
            (
                summarize(
                    "a",
                    &parse(vec![job(0, "RUNNING", [3, 1, 2, 0, 2, 2])]),
                    &[],
                ),
                "0/1 jobs, 2/3 tasks (66%), 2 failed",
            ),
            (summarize("a", &[], &[]), "0/0 jobs, 0/0 tasks"),
        ];
        for (progress, line) in table {
            assert_eq!(progress.to_string(), line);
        }
    }

    #[test]
    fn ui_of_the_submitted_service_and_of_a_driver_pod() {
        let svc = json!({"kind": "Service", "metadata": {"name": "pi-1-driver-svc"},
            "spec": {"ports": [{"name": "driver-rpc-port", "port": 7078},
                               {"name": "spark-ui", "port": 4041}]}});
        let service = |value: Value| -> Service {
            serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            SparkUi::from_service(&service(svc)),
            Some(SparkUi {
                service: "pi-1-driver-svc".into(),
                port: 4041
            })
        );
        assert_eq!(
            SparkUi::from_service(&service(json!({"metadata": {"name": "x"}, "spec": {}}))),
            None
        );
        assert_eq!(
            SparkUi {
                service: "pi-1-driver-svc".into(),
                port: 4041
            }
            .proxy_path("jobs"),
            "/api/v1/namespaces/jobs/services/pi-1-driver-svc:4041/proxy/"
        );

        let pod = |name: &str, ports: Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [
                {"name": "spark-kubernetes-driver", "ports": ports}]}}))
            .unwrap_or_default()
        };
        let ui_ports = json!([{"name": "driver-rpc-port", "containerPort": 7078},
                              {"name": "spark-ui", "containerPort": 4040}]);
        // The longest prefix whose service name still fits in 63 characters.
        let long = "a".repeat(SERVICE_NAME_MAX - DRIVER_SERVICE_SUFFIX.len());
        let (fits, too_long) = (format!("{long}-driver"), format!("{long}a-driver"));
        let fits_svc = format!("{long}-driver-svc");
        let table = [
            (
                "spark-pi-8fe5-driver",
                ui_ports.clone(),
                Some("spark-pi-8fe5-driver-svc"),
            ),
            (fits.as_str(), ui_ports.clone(), Some(fits_svc.as_str())),
            (too_long.as_str(), ui_ports.clone(), None),
            ("my-own-name", ui_ports.clone(), None),
            ("-driver", ui_ports, None),
            (
                "spark-pi-driver",
                json!([{"name": "x", "containerPort": 1}]),
                None,
            ),
        ];
        for (name, ports, service) in table {
            let got = SparkUi::from_driver_pod(&pod(name, ports));
            let want = service.map(|s| SparkUi {
                service: s.to_string(),
                port: 4040,
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn unavailable_answers_and_real_errors() {
        let status = |code| ApiError::Status {
            operation: "op".into(),
            code,
            reason: String::new(),
            message: String::new(),
            retry_after: None,
        };
        for (code, unavailable) in [
            (503, true),
            (502, true),
            (404, true),
            (500, true),
            (401, false),
            (403, false),
            (400, false),
        ] {
            assert_eq!(is_unavailable(&status(code)), unavailable, "{code}");
        }
        let timeout = ApiError::Timeout {
            operation: "op".into(),
            timeout: ATTEMPT_TIMEOUT,
        };
        assert!(is_unavailable(&timeout));
    }

    #[test]
    fn reads_are_short_and_retried_at_most_once() {
        let policy = read_policy(&RetryPolicy::default());
        assert_eq!(policy.max_attempts, 2);
        assert_eq!(policy.attempt_timeout, Some(ATTEMPT_TIMEOUT));
        assert!(policy.max_retry_after <= Duration::from_secs(1));
        let none = read_policy(&RetryPolicy::no_retries());
        assert_eq!(none.max_attempts, 1);
        let ui = SparkUi {
            service: "pi-driver-svc".into(),
            port: 4040,
        };
        let request = proxy_request("jobs", &ui, "spark-12ab", "stages");
        assert_eq!(
            request.map(|r| r.uri().to_string()).as_deref(),
            Ok(
                "/api/v1/namespaces/jobs/services/pi-driver-svc:4040/proxy/api/v1/applications/spark-12ab/stages"
            )
        );
        for bad in ["", "a/../../x", "a?b", "a b"] {
            assert!(proxy_request("jobs", &ui, bad, "jobs").is_err(), "{bad:?}");
        }
    }
}
