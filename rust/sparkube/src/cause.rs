//! The root cause of a failed application in one line, from what the cluster still shows once
//! it failed: the app's pod statuses (the driver's and its executors'), the Warning events of
//! its executor pods (which outlive the pods the driver deletes on its way out) and the tail of
//! the driver log. Without it the answer takes log reading: an executor OOM shows in the driver
//! only as "exit code 137", a quota refusal as a fabric8 stack trace, a failed Python job as
//! the last of thirty lines of traceback. [`root_cause`] is a pure function of those; `wait`
//! reads them once an app failed (two lists, after the log tail it reads anyway).
//!
//! The causes, most specific first:
//!
//! | cause | read from |
//! | --- | --- |
//! | driver OOMKilled | driver container `terminated.reason` |
//! | executors OOMKilled (count, limit, conf) | executor pods' `terminated.reason`, else the driver log's "exit code 137" lines |
//! | executors never started: unschedulable, image pull | executor pods' `PodScheduled` condition or waiting reason, else their Warning events |
//! | executors never started: quota | the driver log's `exceeded quota` refusal |
//! | storage 403 / 404 | the driver log (`Status Code: 403`, `AccessDenied`, `NoSuchKey`, ...) |
//! | Python exception | the last traceback's exception line |
//! | Java exception | `Exception in thread "main"`, else the first exception line |

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Event, Pod};
use kube::api::ListParams;

use crate::api;
use crate::client::Client;
use crate::track::state::{AppStatus, IMAGE_PULL_FAILURES, driver_container_name};

/// Driver log lines read for a failed app (a Python traceback and Spark's shutdown lines after
/// it fit); the status keeps `WaitOptions::log_tail_lines` of them.
pub const LOG_LINES: u32 = 100;

/// Longest cause kept (a Java message can hold a whole query plan).
const MAX_LEN: usize = 400;

fn role(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get("spark-role")
        .map(String::as_str)
}

fn terminated(pod: &Pod) -> impl Iterator<Item = &ContainerStateTerminated> {
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .flat_map(|c| {
            [
                c.state.as_ref().and_then(|s| s.terminated.as_ref()),
                c.last_state.as_ref().and_then(|s| s.terminated.as_ref()),
            ]
        })
        .flatten()
}

fn memory_limit(pod: &Pod, container: Option<&str>) -> Option<String> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| container.is_none_or(|n| c.name == n))?
        .resources
        .as_ref()?
        .limits
        .as_ref()?
        .get("memory")
        .map(|q| q.0.clone())
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_LEN {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_LEN - 1).collect();
    out.push('…');
    out
}

/// Executors OOMKilled: from their pods, else from the driver's "exit code 137" lines (Spark's
/// `ExecutorPodsLifecycleManager` logs one per lost executor, after which the pods may be gone).
fn executors_oom(executors: &[&Pod], log: &[String]) -> Option<String> {
    let killed: Vec<&&Pod> = executors
        .iter()
        .filter(|p| terminated(p).any(|t| t.reason.as_deref() == Some("OOMKilled")))
        .collect();
    let (count, limit) = if killed.is_empty() {
        let ids: BTreeSet<&str> = log
            .iter()
            .filter(|l| l.contains("exit code 137") || l.contains("reason: OOMKilled"))
            .filter_map(|l| {
                l.split("executor with id ")
                    .nth(1)?
                    .split_whitespace()
                    .next()
            })
            .collect();
        (ids.len(), None)
    } else {
        (
            killed.len(),
            killed.iter().find_map(|p| memory_limit(p, None)),
        )
    };
    if count == 0 {
        return None;
    }
    let at = limit
        .map(|l| {
            format!(
                " at {} {l} memory limit",
                if count == 1 { "its" } else { "their" }
            )
        })
        .unwrap_or_default();
    Some(format!(
        "{count} executor{} OOMKilled{at}: raise spark.executor.memoryOverhead (memory outside \
         the JVM heap: Python workers, off-heap, native) or spark.executor.memory",
        if count == 1 { "" } else { "s" }
    ))
}

/// Executors that never started: unschedulable or their image not pulled, from their pods or
/// (once deleted) their Warning events; or refused by a quota, from the driver log.
fn executors_not_started(executors: &[&Pod], events: &[Event], log: &[String]) -> Option<String> {
    let mut reasons: Vec<(String, String)> = Vec::new();
    for p in executors {
        let Some(status) = &p.status else { continue };
        if status.phase.as_deref() != Some("Pending") {
            continue;
        }
        let unschedulable = status.conditions.iter().flatten().find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        });
        if let Some(c) = unschedulable {
            reasons.push((
                "Unschedulable".into(),
                c.message.clone().unwrap_or_default(),
            ));
            continue;
        }
        let waiting = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
            .find(|w| {
                w.reason
                    .as_deref()
                    .is_some_and(|r| IMAGE_PULL_FAILURES.contains(&r))
            });
        if let Some(w) = waiting {
            reasons.push((
                w.reason.clone().unwrap_or_default(),
                w.message.clone().unwrap_or_default(),
            ));
        }
    }
    if reasons.is_empty() {
        for e in events {
            let reason = e.reason.as_deref().unwrap_or_default();
            let message = e.message.clone().unwrap_or_default();
            match reason {
                "FailedScheduling" => reasons.push(("Unschedulable".into(), message)),
                "Failed" | "ErrImagePull" | "ImagePullBackOff" if message.contains("pull") => {
                    reasons.push(("ErrImagePull".into(), message));
                }
                _ => {}
            }
        }
    }
    if let Some((reason, message)) = reasons.first() {
        let count = reasons.iter().filter(|(r, _)| r == reason).count();
        return Some(format!(
            "{count} executor{} never started: {reason}: {}",
            if count == 1 { "" } else { "s" },
            message.trim()
        ));
    }
    let refused = log.iter().rev().find(|l| l.contains("exceeded quota"))?;
    let message = refused
        .find("pods \"")
        .map_or(refused.as_str(), |i| &refused[i..]);
    Some(format!(
        "executors never started: the namespace's ResourceQuota refused them: {}",
        message.trim()
    ))
}

/// A log line without its indentation and py4j's `: ` continuation mark.
fn clean(line: &str) -> &str {
    let line = line.trim();
    line.strip_prefix(": ").unwrap_or(line)
}

/// A storage refusal (403) or missing object (404) in the driver log.
fn storage(log: &[String]) -> Option<String> {
    const FORBIDDEN: [&str; 4] = [
        "Status Code: 403",
        "403 Forbidden",
        "AccessDenied",
        "AccessDeniedException",
    ];
    const NOT_FOUND: [&str; 4] = [
        "Status Code: 404",
        "404 Not Found",
        "NoSuchBucket",
        "NoSuchKey",
    ];
    for line in log.iter().rev() {
        if FORBIDDEN.iter().any(|p| line.contains(p)) {
            return Some(format!("storage refused access (403): {}", clean(line)));
        }
        if NOT_FOUND.iter().any(|p| line.contains(p)) {
            return Some(format!("storage object not found (404): {}", clean(line)));
        }
    }
    None
}

/// The exception line of the last Python traceback (`ValueError: bad input`); for a
/// `Py4JJavaError`, the Java exception it wraps.
fn python_exception(log: &[String]) -> Option<String> {
    let start = log
        .iter()
        .rposition(|l| l.trim_start() == "Traceback (most recent call last):")?;
    let rest = &log[start + 1..];
    let at = rest
        .iter()
        .position(|l| !l.starts_with(' ') && !l.starts_with('\t') && !l.trim().is_empty())?;
    let line = rest[at].trim();
    if line.starts_with("py4j.protocol.Py4JJavaError")
        && let Some(java) = rest[at + 1..]
            .iter()
            .find_map(|l| l.trim().strip_prefix(": "))
    {
        return Some(format!("Python: {line} {}", java.trim()));
    }
    Some(format!("Python: {line}"))
}

/// Whether `word` is a Java class name ending in `Exception` or `Error`, with a package.
fn is_exception_class(word: &str) -> bool {
    let Some((package, class)) = word.rsplit_once('.') else {
        return false;
    };
    !package.is_empty()
        && package
            .split('.')
            .all(|p| p.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        && class.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && (class.ends_with("Exception") || class.ends_with("Error"))
}

/// The Java exception that ended the driver: `Exception in thread "main" X: message`, else the
/// first line that starts with an exception class.
fn java_exception(log: &[String]) -> Option<String> {
    if let Some(line) = log
        .iter()
        .find_map(|l| l.split("Exception in thread \"main\" ").nth(1))
    {
        return Some(format!("Java: {}", line.trim()));
    }
    log.iter().find_map(|l| {
        let l = l.trim();
        let l = l.strip_prefix("Caused by: ").unwrap_or(l);
        let class = l.split([':', ' ']).next()?;
        is_exception_class(class).then(|| format!("Java: {l}"))
    })
}

/// The driver container's OOM kill, with its memory limit.
fn driver_oom(status: &AppStatus, driver: Option<&Pod>) -> Option<String> {
    if status.reason.as_deref() != Some("OOMKilled") {
        return None;
    }
    let at = driver
        .and_then(|p| memory_limit(p, driver_container_name(p)))
        .map(|l| format!(" at its {l} memory limit"))
        .unwrap_or_default();
    Some(format!(
        "driver OOMKilled{at}: raise spark.driver.memoryOverhead (memory outside the JVM heap) \
         or spark.driver.memory"
    ))
}

/// The root cause of a failed application, in one line; `None` when nothing more specific than
/// its status is known. `pods` are the app's pods (driver and executors, by its
/// `spark-app-selector`), `events` the Warning events of its executor pods, `log` the driver
/// log's tail.
pub fn root_cause(
    status: &AppStatus,
    pods: &[Pod],
    events: &[Event],
    log: &[String],
) -> Option<String> {
    let driver = pods.iter().find(|p| role(p) == Some("driver"));
    let executors: Vec<&Pod> = pods
        .iter()
        .filter(|p| role(p) == Some("executor"))
        .collect();
    driver_oom(status, driver)
        .or_else(|| executors_oom(&executors, log))
        .or_else(|| executors_not_started(&executors, events, log))
        .or_else(|| storage(log))
        .or_else(|| python_exception(log))
        .or_else(|| java_exception(log))
        .map(|c| shorten(&c))
}

impl Client {
    /// The root cause of a failed app (see [`crate::cause`]): its pods and its executors'
    /// Warning events, two reads, with the log tail already read.
    pub(crate) async fn find_root_cause(&self, status: &AppStatus) -> Option<String> {
        let namespace = &status.namespace;
        let app_id = status.app_id.as_deref()?;
        let operation = format!("list the pods of {app_id} in namespace {namespace}");
        let params = ListParams::default().labels(&format!("spark-app-selector={app_id}"));
        let pods: kube::core::ObjectList<Pod> =
            match api::call(&self.kube, &self.retry, &operation, || {
                api::namespaced::<Pod>(namespace)
                    .list(&params)
                    .map_err(|e| api::request_error(&operation, e))
            })
            .await
            {
                Ok(list) => list,
                Err(e) => {
                    log::debug!("{e}");
                    return root_cause(status, &[], &[], &status.log_tail);
                }
            };
        let prefix = format!(
            "{}-exec-",
            status
                .driver_pod
                .strip_suffix("-driver")
                .unwrap_or(&status.driver_pod)
        );
        let operation = format!("list Warning events in namespace {namespace}");
        let params = ListParams::default().fields("type=Warning");
        let events: Vec<Event> = match api::call::<kube::core::ObjectList<Event>, _>(
            &self.kube,
            &self.retry,
            &operation,
            || {
                api::namespaced::<Event>(namespace)
                    .list(&params)
                    .map_err(|e| api::request_error(&operation, e))
            },
        )
        .await
        {
            Ok(list) => list
                .items
                .into_iter()
                .filter(|e| {
                    e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect(),
            Err(e) => {
                log::debug!("{e}");
                Vec::new()
            }
        };
        root_cause(status, &pods.items, &events, &status.log_tail)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::track::state::AppState;

    fn pod(role: &str, status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("app-{role}"), "labels": {"spark-role": role}},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "1408Mi"}}}]},
            "status": status,
        }))
        .unwrap_or_default()
    }

    fn oom() -> Value {
        json!({"phase": "Failed", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]})
    }

    /// What a case is, its status, the app's pods, their events, the log tail, the cause.
    type Row<'a> = (
        &'a str,
        &'a AppStatus,
        Vec<Pod>,
        Vec<Event>,
        Vec<String>,
        Option<&'a str>,
    );

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn the_table_of_causes() {
        let failed = AppStatus::new("ns", "app-driver", AppState::Failed);
        let driver_oom = AppStatus {
            reason: Some("OOMKilled".into()),
            ..failed.clone()
        };
        let unschedulable = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]});
        let pull = json!({"phase": "Pending", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImagePull", "message": "pull access denied for does-not-exist"}}}]});
        let event: Event = serde_json::from_value(json!({"metadata": {"name": "e"}, "involvedObject": {},
            "reason": "FailedScheduling", "message": "0/3 nodes are available: 3 Insufficient memory."}))
        .unwrap_or_default();
        let table: Vec<Row> = vec![
            (
                "driver OOM",
                &driver_oom,
                vec![pod("driver", oom())],
                vec![],
                vec![],
                Some(
                    "driver OOMKilled at its 1408Mi memory limit: raise spark.driver.memoryOverhead (memory outside the JVM heap) or spark.driver.memory",
                ),
            ),
            (
                "executors OOM, from their pods",
                &failed,
                vec![
                    pod("driver", json!({})),
                    pod("executor", oom()),
                    pod("executor", oom()),
                ],
                vec![],
                vec![],
                Some(
                    "2 executors OOMKilled at their 1408Mi memory limit: raise spark.executor.memoryOverhead (memory outside the JVM heap: Python workers, off-heap, native) or spark.executor.memory",
                ),
            ),
            (
                "executors OOM, from the driver log",
                &failed,
                vec![],
                vec![],
                lines(
                    "WARN ExecutorPodsLifecycleManager: The executor with id 1 exited with exit code 137(SIGKILL, possible container OOM).\nWARN ExecutorPodsLifecycleManager: The executor with id 1 exited with exit code 137(SIGKILL, possible container OOM).\nWARN ExecutorPodsLifecycleManager: The executor with id 2 exited with exit code 137(SIGKILL, possible container OOM).",
                ),
                Some(
                    "2 executors OOMKilled: raise spark.executor.memoryOverhead (memory outside the JVM heap: Python workers, off-heap, native) or spark.executor.memory",
                ),
            ),
            (
                "executors unschedulable",
                &failed,
                vec![
                    pod("executor", unschedulable.clone()),
                    pod("executor", unschedulable),
                ],
                vec![],
                vec![],
                Some(
                    "2 executors never started: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.",
                ),
            ),
            (
                "executor image not pulled",
                &failed,
                vec![pod("executor", pull)],
                vec![],
                vec![],
                Some(
                    "1 executor never started: ErrImagePull: pull access denied for does-not-exist",
                ),
            ),
            (
                "executors unschedulable, from events once the pods are gone",
                &failed,
                vec![],
                vec![event],
                vec![],
                Some(
                    "1 executor never started: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
                ),
            ),
            (
                "executors refused by quota",
                &failed,
                vec![],
                vec![],
                lines(
                    "ERROR ExecutorPodsSnapshotsStoreImpl: Going to stop due to IllegalArgumentException\nio.fabric8.kubernetes.client.KubernetesClientException: Failure executing: POST at: https://kubernetes.default.svc/api/v1/namespaces/ns/pods. Message: pods \"app-exec-1\" is forbidden: exceeded quota: compute, requested: requests.cpu=4, used: requests.cpu=10, limited: requests.cpu=12.",
                ),
                Some(
                    "executors never started: the namespace's ResourceQuota refused them: pods \"app-exec-1\" is forbidden: exceeded quota: compute, requested: requests.cpu=4, used: requests.cpu=10, limited: requests.cpu=12.",
                ),
            ),
            (
                "storage 403",
                &failed,
                vec![],
                vec![],
                lines(
                    "Traceback (most recent call last):\n  File \"/opt/app/job.py\", line 3, in <module>\npy4j.protocol.Py4JJavaError: An error occurred while calling o42.csv.\n: java.nio.file.AccessDeniedException: s3a://data/in.csv: getFileStatus on s3a://data/in.csv: com.amazonaws.services.s3.model.AmazonS3Exception: Forbidden (Service: Amazon S3; Status Code: 403; Error Code: 403 Forbidden)",
                ),
                Some(
                    "storage refused access (403): java.nio.file.AccessDeniedException: s3a://data/in.csv: getFileStatus on s3a://data/in.csv: com.amazonaws.services.s3.model.AmazonS3Exception: Forbidden (Service: Amazon S3; Status Code: 403; Error Code: 403 Forbidden)",
                ),
            ),
            (
                "storage 404",
                &failed,
                vec![],
                vec![],
                lines(
                    "Exception in thread \"main\" org.apache.hadoop.fs.s3a.AWSBadRequestException: NoSuchBucket: The specified bucket does not exist",
                ),
                Some(
                    "storage object not found (404): Exception in thread \"main\" org.apache.hadoop.fs.s3a.AWSBadRequestException: NoSuchBucket: The specified bucket does not exist",
                ),
            ),
            (
                "Python traceback",
                &failed,
                vec![],
                vec![],
                lines(
                    "INFO SparkContext: Running Spark version 4.0.1\nTraceback (most recent call last):\n  File \"/opt/app/job.py\", line 7, in <module>\n    main()\n  File \"/opt/app/job.py\", line 5, in main\n    1 / 0\n    ~~^~~\nZeroDivisionError: division by zero\nINFO SparkContext: Successfully stopped SparkContext",
                ),
                Some("Python: ZeroDivisionError: division by zero"),
            ),
            (
                "Python wrapping Java",
                &failed,
                vec![],
                vec![],
                lines(
                    "Traceback (most recent call last):\n  File \"/opt/app/job.py\", line 3, in <module>\npy4j.protocol.Py4JJavaError: An error occurred while calling o31.count.\n: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times\n\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2856)",
                ),
                Some(
                    "Python: py4j.protocol.Py4JJavaError: An error occurred while calling o31.count. org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times",
                ),
            ),
            (
                "Java exception in main",
                &failed,
                vec![],
                vec![],
                lines(
                    "INFO DAGScheduler: Job 0 failed\nException in thread \"main\" java.lang.IllegalStateException: no input rows\n\tat com.example.Etl.main(Etl.scala:12)",
                ),
                Some("Java: java.lang.IllegalStateException: no input rows"),
            ),
            (
                "Java exception line",
                &failed,
                vec![],
                vec![],
                lines(
                    "ERROR SparkContext: Error initializing SparkContext.\norg.apache.spark.SparkException: A master URL must be set in your configuration\n\tat org.apache.spark.SparkContext.<init>(SparkContext.scala:421)",
                ),
                Some(
                    "Java: org.apache.spark.SparkException: A master URL must be set in your configuration",
                ),
            ),
            (
                "nothing known",
                &failed,
                vec![],
                vec![],
                lines("INFO all quiet\nexit 1"),
                None,
            ),
        ];
        for (what, status, pods, events, log, want) in table {
            assert_eq!(
                root_cause(status, &pods, &events, &log).as_deref(),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn long_causes_are_cut() {
        let status = AppStatus::new("ns", "d", AppState::Failed);
        let log = vec![format!("java.lang.RuntimeException: {}", "x".repeat(1000))];
        let cause = root_cause(&status, &[], &[], &log).unwrap_or_default();
        assert_eq!(cause.chars().count(), MAX_LEN);
        assert!(cause.ends_with('…'));
    }
}
