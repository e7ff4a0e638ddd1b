//! The right-sizing report of an ended application: executor-seconds, peak JVM heap and
//! off-heap, peak Python memory, spill and the share of task time spent in garbage collection,
//! per executor and summed, with one line saying whether `spark.executor.memory` could be
//! smaller.
//!
//! The figures come from Spark's REST API (`/allexecutors`, `/stages`): the History Server's
//! when one is configured (complete: it reads the event log after the end), else the last
//! answer the driver's own UI gave while the app ran ([`Snapshot`], read with the progress
//! through the API server's service proxy), which misses the last seconds and is marked
//! partial. A History Server that does not answer makes a partial report from the snapshot,
//! never an error: the report is advice, and the app has already ended.
//!
//! Turning the REST answers into the report is the pure function [`Report::build`]; the
//! recommendation rule is [`recommend_executor_memory`].

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::progress::{ExecutorData, Snapshot, StageData};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Headroom on the peak heap, in percent: the heap heartbeats report is sampled (a peak
/// between two heartbeats is missed) and the collector needs free room to stay cheap.
pub const HEAP_HEADROOM_PERCENT: u64 = 50;
/// The smallest executor memory advised: Spark refuses less than 450 MiB (1.5 times its 300 MiB
/// reserved memory), rounded up to the step below.
pub const MIN_EXECUTOR_MEMORY: u64 = 512 * MIB;
/// Time allowed for one request to the History Server: its first request about an app
/// replays the app's event log, seconds on a busy server.
const HISTORY_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the History Server to list the ended app as completed: it scans its
/// event log directory every `spark.history.fs.update.interval` (10 s by default).
pub const HISTORY_WAIT: Duration = Duration::from_secs(30);

/// The conf naming the History Server whose REST API the report reads (its base URL, as
/// `spark.yarn.historyServer.address` is for YARN).
pub const HISTORY_SERVER_URL_KEY: &str = "spark.sparkube.historyServer.url";

/// Where the figures of a report come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The History Server's REST API, from the app's event log.
    HistoryServer,
    /// The last answer of the driver's UI while the app ran.
    LiveSnapshot,
}

/// What one executor used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorUsage {
    /// Executor id.
    pub id: String,
    /// Seconds from its registration to its removal (or the end of the app).
    pub seconds: f64,
    /// Peak used JVM heap in bytes; `None` when no heartbeat reported it.
    pub peak_heap: Option<u64>,
    /// Peak used JVM memory outside the heap, in bytes.
    pub peak_off_heap: Option<u64>,
    /// Peak resident memory of its Python workers, in bytes (needs
    /// `spark.executor.processTreeMetrics.enabled`).
    pub peak_python: Option<u64>,
    /// Seconds its tasks ran.
    pub task_seconds: f64,
    /// Seconds its tasks spent in garbage collection.
    pub gc_seconds: f64,
    /// `gc_seconds / task_seconds`; `None` when no task ran.
    pub gc_share: Option<f64>,
}

/// The right-sizing report of one application (see the module comment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Spark application id.
    pub app_id: String,
    /// Where the figures come from.
    pub source: Source,
    /// Whether the figures may miss the end of the app (a live snapshot).
    pub partial: bool,
    /// Why the report is partial, when it is.
    pub note: Option<String>,
    /// Every executor (the driver not included).
    pub executors: Vec<ExecutorUsage>,
    /// The executors' lifetimes summed.
    pub executor_seconds: f64,
    /// Highest peak heap of any executor, in bytes.
    pub peak_heap: Option<u64>,
    /// Highest peak off-heap of any executor, in bytes.
    pub peak_off_heap: Option<u64>,
    /// Highest peak Python memory of any executor, in bytes.
    pub peak_python: Option<u64>,
    /// Bytes spilled from memory, all stages summed (Spark reports spill per stage).
    pub memory_bytes_spilled: u64,
    /// Bytes spilled to disk, all stages summed.
    pub disk_bytes_spilled: u64,
    /// Seconds the executors' tasks ran.
    pub task_seconds: f64,
    /// Seconds the executors' tasks spent in garbage collection.
    pub gc_seconds: f64,
    /// `gc_seconds / task_seconds`.
    pub gc_share: Option<f64>,
    /// `spark.executor.memory` in bytes, when known.
    pub executor_memory: Option<u64>,
    /// The advised `spark.executor.memory` (`2g`, `1536m`), when it is smaller than the
    /// configured one (or the configured one is unknown).
    pub recommended_executor_memory: Option<String>,
    /// The one-line summary; `None` when no executor reported its heap.
    pub summary: Option<String>,
}

/// A time of the REST API (`2026-01-05T10:00:00.000GMT`).
pub fn parse_spark_time(value: &str) -> Option<DateTime<Utc>> {
    let naive = value.strip_suffix("GMT").unwrap_or(value);
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.3f")
        .ok()
        .map(|t| t.and_utc())
}

/// The advised `spark.executor.memory` for a peak heap: the peak plus
/// [`HEAP_HEADROOM_PERCENT`], rounded up to 512 MiB below 4 GiB and to whole GiB from there,
/// never below [`MIN_EXECUTOR_MEMORY`]. In bytes.
pub fn recommend_executor_memory(peak_heap: u64) -> u64 {
    let need = peak_heap.saturating_add(peak_heap.saturating_mul(HEAP_HEADROOM_PERCENT) / 100);
    let step = if need < 4 * GIB { 512 * MIB } else { GIB };
    need.div_ceil(step)
        .saturating_mul(step)
        .max(MIN_EXECUTOR_MEMORY)
}

/// A byte count as a Spark memory conf value: `2g` when whole GiB, else `1536m`.
pub fn memory_conf(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{}g", bytes / GIB)
    } else {
        format!("{}m", bytes.div_ceil(MIB))
    }
}

/// Bytes for people: `1.1 GiB`, `512 MiB`, `0 B` (one decimal below 10 units).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 || value.fract() < 0.05 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn nonzero(value: u64) -> Option<u64> {
    (value > 0).then_some(value)
}

fn share(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

/// What one executor of `/allexecutors` used; `end` closes the lifetime of one not removed.
pub fn usage(executor: &ExecutorData, end: Option<DateTime<Utc>>) -> ExecutorUsage {
    let added = executor.add_time.as_deref().and_then(parse_spark_time);
    let removed = executor
        .remove_time
        .as_deref()
        .and_then(parse_spark_time)
        .or(end);
    let seconds = match (added, removed) {
        (Some(a), Some(r)) if r > a => (r - a).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    };
    let peak = executor.peak_memory_metrics.unwrap_or_default();
    let task_seconds = executor.total_duration as f64 / 1000.0;
    let gc_seconds = executor.total_gc_time as f64 / 1000.0;
    ExecutorUsage {
        id: executor.id.clone(),
        seconds,
        peak_heap: nonzero(peak.jvm_heap_memory),
        peak_off_heap: nonzero(peak.jvm_off_heap_memory),
        peak_python: nonzero(peak.process_tree_python_rss_memory),
        task_seconds,
        gc_seconds,
        gc_share: share(gc_seconds, task_seconds),
    }
}

impl Report {
    /// The report of `/allexecutors` and `/stages` answers (pure). `end` closes the lifetime
    /// of executors not removed (the app's end, or the snapshot's time); `executor_memory` is
    /// `spark.executor.memory` in bytes when known.
    pub fn build(
        app_id: &str,
        source: Source,
        executors: &[ExecutorData],
        stages: &[StageData],
        end: Option<DateTime<Utc>>,
        executor_memory: Option<u64>,
    ) -> Self {
        let executors: Vec<ExecutorUsage> = executors
            .iter()
            .filter(|e| e.id != "driver")
            .map(|e| usage(e, end))
            .collect();
        let max = |f: fn(&ExecutorUsage) -> Option<u64>| executors.iter().filter_map(f).max();
        // Folded from +0.0: an empty `sum` of floats is -0.0.
        let total = |f: fn(&ExecutorUsage) -> f64| executors.iter().map(f).fold(0.0, |a, b| a + b);
        let task_seconds = total(|e| e.task_seconds);
        let gc_seconds = total(|e| e.gc_seconds);
        let peak_heap = max(|e| e.peak_heap);
        let recommended = peak_heap
            .map(recommend_executor_memory)
            .filter(|r| executor_memory.is_none_or(|m| *r < m));
        let mut report = Self {
            app_id: app_id.to_string(),
            source,
            partial: source == Source::LiveSnapshot,
            note: (source == Source::LiveSnapshot).then(|| {
                "from the driver's UI while the app ran: the last seconds are missing".to_string()
            }),
            executor_seconds: total(|e| e.seconds),
            peak_heap,
            peak_off_heap: max(|e| e.peak_off_heap),
            peak_python: max(|e| e.peak_python),
            memory_bytes_spilled: stages.iter().map(|s| s.memory_bytes_spilled).sum(),
            disk_bytes_spilled: stages.iter().map(|s| s.disk_bytes_spilled).sum(),
            task_seconds,
            gc_seconds,
            gc_share: share(gc_seconds, task_seconds),
            executor_memory,
            recommended_executor_memory: recommended.map(memory_conf),
            executors,
            summary: None,
        };
        report.summary = report.summary_line();
        report
    }

    /// The report of a live snapshot (see [`Report::build`]).
    pub fn from_snapshot(app_id: &str, snapshot: &Snapshot, executor_memory: Option<u64>) -> Self {
        Self::build(
            app_id,
            Source::LiveSnapshot,
            &snapshot.executors,
            &snapshot.stages,
            Some(snapshot.at),
            executor_memory,
        )
    }

    /// `executors peaked at 1.1 GiB of 4 GiB heap (28 %): spark.executor.memory=2g would do;
    /// 3 executors, 340 executor-seconds, GC 3 % of task time, nothing spilled`. `None` when
    /// no executor reported its heap: too little to advise on.
    fn summary_line(&self) -> Option<String> {
        let peak = self.peak_heap?;
        let mut line = format!("executors peaked at {}", human_bytes(peak));
        match self.executor_memory {
            Some(memory) if memory > 0 => {
                let percent = (peak as f64 * 100.0 / memory as f64).round();
                line += &format!(" of {} heap ({percent} %)", human_bytes(memory));
            }
            _ => line += " of heap",
        }
        match &self.recommended_executor_memory {
            Some(advised) => line += &format!(": spark.executor.memory={advised} would do"),
            None => line += ": no smaller spark.executor.memory advised",
        }
        let count = self.executors.len();
        line += &format!(
            "; {count} executor{}, {:.0} executor-seconds",
            if count == 1 { "" } else { "s" },
            self.executor_seconds
        );
        if let Some(gc) = self.gc_share {
            line += &format!(", GC {:.0} % of task time", gc * 100.0);
        }
        let spilled = self.memory_bytes_spilled + self.disk_bytes_spilled;
        if spilled == 0 {
            line += ", nothing spilled";
        } else {
            line += &format!(
                ", spilled {} from memory ({} on disk)",
                human_bytes(self.memory_bytes_spilled),
                human_bytes(self.disk_bytes_spilled)
            );
        }
        if self.partial {
            line += " (partial: live snapshot)";
        }
        Some(line)
    }

    /// The report with a note saying why it is partial.
    pub fn with_note(mut self, note: String) -> Self {
        self.partial = true;
        self.note = Some(note);
        self
    }
}

impl std::fmt::Display for Report {
    /// The summary line, or `no right-sizing figures (...)` when there is none.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.summary {
            Some(line) => f.write_str(line),
            None => write!(
                f,
                "no right-sizing figures: no executor reported its heap ({} executors)",
                self.executors.len()
            ),
        }
    }
}

/// Why the History Server gave no report.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The URL is not an http(s) URL.
    #[error("History Server URL {url:?} is not an http(s) URL")]
    Url {
        /// The URL given.
        url: String,
    },
    /// No answer (connection refused, timeout, a dropped connection).
    #[error("the History Server at {url} did not answer: {message}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What failed.
        message: String,
    },
    /// An answer other than 200.
    #[error("the History Server answered {code} for {url}")]
    Status {
        /// The URL asked.
        url: String,
        /// HTTP status.
        code: u16,
    },
    /// An answer that is not the REST API's JSON.
    #[error("the History Server's answer for {url} is not Spark's REST API: {source}")]
    Decode {
        /// The URL asked.
        url: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The app was not listed as completed in time.
    #[error("the History Server at {url} did not list {app_id} as completed within {wait:?}")]
    NotListed {
        /// The History Server's URL.
        url: String,
        /// The app asked for.
        app_id: String,
        /// How long it was waited for.
        wait: Duration,
    },
}

/// An attempt of `/applications/{id}` (the fields used).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AttemptData {
    /// Attempt id; absent for apps that are not retried (Kubernetes cluster mode).
    pub attempt_id: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Whether its event log is complete.
    pub completed: bool,
}

/// `/applications/{id}` (the fields used).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApplicationData {
    /// The app's attempts, the latest first.
    pub attempts: Vec<AttemptData>,
}

/// `/applications/{id}/environment` (the field used).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentData {
    /// The Spark conf as `[key, value]` pairs.
    pub spark_properties: Vec<(String, String)>,
}

/// `spark.executor.memory` in bytes from an `/environment` answer (Spark's default, 1g, when
/// it is not set).
pub fn executor_memory_of(environment: &EnvironmentData) -> Option<u64> {
    let value = environment
        .spark_properties
        .iter()
        .find(|(k, _)| k == sparkube_core::conf::keys::EXECUTOR_MEMORY)
        .map_or("1g", |(_, v)| v.as_str());
    sparkube_core::conf::parse_bytes_as_mib(value)
        .ok()
        .map(|mib| mib * MIB)
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<Bytes>,
>;

/// A History Server's REST API.
struct HistoryServer {
    base: String,
    http: HttpClient,
}

impl HistoryServer {
    fn new(url: &str) -> std::result::Result<Self, HistoryError> {
        let base = url.trim_end_matches('/').to_string();
        let valid = (base.starts_with("http://") || base.starts_with("https://"))
            && base.parse::<http::Uri>().is_ok();
        if !valid {
            return Err(HistoryError::Url {
                url: url.to_string(),
            });
        }
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(crate::upload::https_connector());
        Ok(Self { base, http })
    }

    /// GET `/api/v1/applications/{path}`; `Ok(None)` on 404.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> std::result::Result<Option<T>, HistoryError> {
        use http_body_util::BodyExt;
        let url = format!("{}/api/v1/applications/{path}", self.base);
        let unreachable = |message: String| HistoryError::Unreachable {
            url: url.clone(),
            message,
        };
        let uri: http::Uri = url.parse().map_err(|e| unreachable(format!("{e}")))?;
        let send = async {
            let response = self
                .http
                .get(uri)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, HistoryError>((status, body))
        };
        let (status, body) = tokio::time::timeout(HISTORY_REQUEST_TIMEOUT, send)
            .await
            .map_err(|_| unreachable(format!("no answer within {HISTORY_REQUEST_TIMEOUT:?}")))??;
        if status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(HistoryError::Status {
                url,
                code: status.as_u16(),
            });
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|source| HistoryError::Decode { url, source })
    }
}

/// Checks that `app_id` can stand in a URL path as it is (a label value).
fn valid_app_id(app_id: &str) -> bool {
    !app_id.is_empty()
        && app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The report from the History Server at `url`, waiting up to `wait` for it to list the app
/// as completed (it finds ended apps by scanning its log directory). `executor_memory`, when
/// given, wins over the app's `/environment`.
pub async fn from_history_server(
    url: &str,
    app_id: &str,
    executor_memory: Option<u64>,
    wait: Duration,
) -> std::result::Result<Report, HistoryError> {
    from_history_server_with(url, app_id, executor_memory, wait, None).await
}

/// Peak memory figures of `snapshot` for the executors that have none: an event log has them
/// only with `spark.eventLog.logStageExecutorMetrics=true` (off by default), the live UI
/// always. Whether any was taken.
pub fn fill_peaks(executors: &mut [ExecutorData], snapshot: &Snapshot) -> bool {
    let mut filled = false;
    for executor in executors
        .iter_mut()
        .filter(|e| e.peak_memory_metrics.is_none())
    {
        let live = snapshot.executors.iter().find(|l| l.id == executor.id);
        if let Some(peak) = live.and_then(|l| l.peak_memory_metrics) {
            executor.peak_memory_metrics = Some(peak);
            filled = true;
        }
    }
    filled
}

async fn from_history_server_with(
    url: &str,
    app_id: &str,
    executor_memory: Option<u64>,
    wait: Duration,
    snapshot: Option<&Snapshot>,
) -> std::result::Result<Report, HistoryError> {
    let server = HistoryServer::new(url)?;
    if !valid_app_id(app_id) {
        return Err(HistoryError::NotListed {
            url: url.to_string(),
            app_id: app_id.to_string(),
            wait: Duration::ZERO,
        });
    }
    let deadline = tokio::time::Instant::now() + wait;
    let attempt = loop {
        let app: Option<ApplicationData> = server.get(app_id).await?;
        let latest = app.and_then(|a| a.attempts.into_iter().next());
        match latest {
            Some(attempt) if attempt.completed => break attempt,
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(HistoryError::NotListed {
                    url: url.to_string(),
                    app_id: app_id.to_string(),
                    wait,
                });
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let prefix = match &attempt.attempt_id {
        Some(id) => format!("{app_id}/{id}"),
        None => app_id.to_string(),
    };
    let paths = ["allexecutors", "stages", "environment"].map(|part| format!("{prefix}/{part}"));
    let (executors, stages, environment) = futures::join!(
        server.get::<Vec<ExecutorData>>(&paths[0]),
        server.get::<Vec<StageData>>(&paths[1]),
        server.get::<EnvironmentData>(&paths[2]),
    );
    let mut executors = executors?.unwrap_or_default();
    let stages = stages?.unwrap_or_default();
    let filled = snapshot.is_some_and(|s| fill_peaks(&mut executors, s));
    let memory = executor_memory.or_else(|| {
        environment
            .ok()
            .flatten()
            .and_then(|e| executor_memory_of(&e))
    });
    let end = attempt.end_time.as_deref().and_then(parse_spark_time);
    let report = Report::build(
        app_id,
        Source::HistoryServer,
        &executors,
        &stages,
        end,
        memory,
    );
    Ok(match filled {
        true => Report {
            note: Some(
                "peak memory from the driver's UI while the app ran: the event log has none \
                 without spark.eventLog.logStageExecutorMetrics=true"
                    .to_string(),
            ),
            ..report
        },
        false => report,
    })
}

/// The report of an ended app: from the History Server when `history_server` is given and
/// answers, else from the last live snapshot, marked partial with the History Server's error
/// when it failed. `None` when there is neither.
pub async fn report(
    app_id: &str,
    history_server: Option<&str>,
    snapshot: Option<&Snapshot>,
    executor_memory: Option<u64>,
    wait: Duration,
) -> Option<Report> {
    let failed = match history_server {
        Some(url) => {
            match from_history_server_with(url, app_id, executor_memory, wait, snapshot).await {
                Ok(report) => return Some(report),
                Err(e) => {
                    log::warn!("right-sizing report of {app_id}: {e}");
                    Some(e)
                }
            }
        }
        None => None,
    };
    let report = Report::from_snapshot(app_id, snapshot?, executor_memory);
    Some(match failed {
        Some(e) => report.with_note(format!("{e}; figures from the driver's UI while it ran")),
        None => report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// An executor as Spark 4.3.0's `/allexecutors` lists it (the driver's `peakMemoryMetrics`
    /// are present too; memory figures in bytes, times in ms).
    fn executor(id: &str, add: &str, remove: Option<&str>, peak: Option<[u64; 3]>) -> Value {
        let mut e = json!({
            "id": id, "hostPort": "10.0.0.7:40123", "isActive": remove.is_none(),
            "rddBlocks": 0, "memoryUsed": 0, "diskUsed": 0, "totalCores": 2, "maxTasks": 2,
            "activeTasks": 0, "failedTasks": 0, "completedTasks": 8, "totalTasks": 8,
            "totalDuration": 40_000, "totalGCTime": 1_200, "totalInputBytes": 0,
            "totalShuffleRead": 0, "totalShuffleWrite": 1024, "isBlacklisted": false,
            "maxMemory": 1_078_827_417u64, "addTime": add, "executorLogs": {},
            "memoryMetrics": {"usedOnHeapStorageMemory": 0, "usedOffHeapStorageMemory": 0,
                "totalOnHeapStorageMemory": 1_078_827_417u64, "totalOffHeapStorageMemory": 0},
            "blacklistedInStages": [], "attributes": {}, "resources": {},
            "resourceProfileId": 0, "isExcluded": false, "excludedInStages": []
        });
        if let Some(remove) = remove {
            e["removeTime"] = json!(remove);
            e["removeReason"] = json!("Executor killed by driver.");
        }
        if let Some([heap, off_heap, python]) = peak {
            e["peakMemoryMetrics"] = json!({
                "JVMHeapMemory": heap, "JVMOffHeapMemory": off_heap,
                "OnHeapExecutionMemory": 0, "OffHeapExecutionMemory": 0,
                "OnHeapStorageMemory": 0, "OffHeapStorageMemory": 0,
                "OnHeapUnifiedMemory": 0, "OffHeapUnifiedMemory": 0, "DirectPoolMemory": 16_384,
                "MappedPoolMemory": 0, "ProcessTreeJVMVMemory": 0, "ProcessTreeJVMRSSMemory": 0,
                "ProcessTreePythonVMemory": 0, "ProcessTreePythonRSSMemory": python,
                "ProcessTreeOtherVMemory": 0, "ProcessTreeOtherRSSMemory": 0,
                "MinorGCCount": 7, "MinorGCTime": 80, "MajorGCCount": 0, "MajorGCTime": 0,
                "TotalGCTime": 80
            });
        }
        e
    }

    fn stage(id: i64, memory_spilled: u64, disk_spilled: u64) -> Value {
        json!({
            "status": "COMPLETE", "stageId": id, "attemptId": 0, "numTasks": 8,
            "numActiveTasks": 0, "numCompleteTasks": 8, "numFailedTasks": 0,
            "numKilledTasks": 0, "numCompletedIndices": 8, "executorRunTime": 162,
            "memoryBytesSpilled": memory_spilled, "diskBytesSpilled": disk_spilled,
            "inputBytes": 0, "shuffleWriteBytes": 0, "name": "count at pi.py:1",
            "schedulingPool": "default", "rddIds": [1], "accumulatorUpdates": [],
            "killedTasksSummary": {}, "resourceProfileId": 0,
            "peakExecutorMetrics": {"JVMHeapMemory": 0}, "isShufflePushEnabled": false,
            "shuffleMergersCount": 0
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(items: Vec<Value>) -> Vec<T> {
        serde_json::from_value(Value::Array(items)).unwrap_or_else(|e| panic!("{e}"))
    }

    const T0: &str = "2026-01-05T10:00:00.000GMT";

    #[test]
    fn spark_times() {
        let t = parse_spark_time("2026-01-05T10:00:01.250GMT");
        let t0 = parse_spark_time(T0);
        assert_eq!(
            t.zip(t0).map(|(t, t0)| (t - t0).num_milliseconds()),
            Some(1250)
        );
        assert_eq!(parse_spark_time("yesterday"), None);
    }

    #[test]
    fn the_recommendation_rule() {
        // (peak heap, advised): peak + 50 %, up to 512 MiB steps below 4 GiB, whole GiB above,
        // never below 512 MiB.
        let table = [
            (0, "512m"),
            (100 * MIB, "512m"),
            (400 * MIB, "1g"),
            (1100 * MIB, "2g"),
            (1024 * MIB, "1536m"),
            (2 * GIB, "3g"),
            (3 * GIB, "5g"),
            (10 * GIB, "15g"),
        ];
        for (peak, advised) in table {
            assert_eq!(
                memory_conf(recommend_executor_memory(peak)),
                advised,
                "{peak}"
            );
        }
        assert_eq!(human_bytes(1100 * MIB), "1.1 GiB");
        assert_eq!(human_bytes(4 * GIB), "4 GiB");
        assert_eq!(human_bytes(512 * MIB), "512 MiB");
        assert_eq!(human_bytes(0), "0 B");
    }

    #[test]
    fn a_report_from_the_history_servers_answers() {
        let executors: Vec<ExecutorData> = parse(vec![
            executor("driver", T0, None, Some([300 * MIB, 90 * MIB, 0])),
            executor(
                "1",
                "2026-01-05T10:00:10.000GMT",
                Some("2026-01-05T10:02:10.000GMT"),
                Some([1100 * MIB, 80 * MIB, 200 * MIB]),
            ),
            executor(
                "2",
                "2026-01-05T10:00:10.000GMT",
                None,
                Some([700 * MIB, 85 * MIB, 0]),
            ),
        ]);
        let stages: Vec<StageData> = parse(vec![stage(0, 0, 0), stage(1, 64 * MIB, 20 * MIB)]);
        let end = parse_spark_time("2026-01-05T10:03:10.000GMT");
        let report = Report::build(
            "spark-1",
            Source::HistoryServer,
            &executors,
            &stages,
            end,
            Some(4 * GIB),
        );
        let ids: Vec<&str> = report.executors.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(report.executors[0].seconds, 120.0);
        assert_eq!(report.executors[1].seconds, 180.0);
        assert_eq!(report.executor_seconds, 300.0);
        assert_eq!(report.peak_heap, Some(1100 * MIB));
        assert_eq!(report.peak_off_heap, Some(85 * MIB));
        assert_eq!(report.peak_python, Some(200 * MIB));
        assert_eq!(report.executors[1].peak_python, None);
        assert_eq!(
            (report.memory_bytes_spilled, report.disk_bytes_spilled),
            (64 * MIB, 20 * MIB)
        );
        assert_eq!((report.task_seconds, report.gc_seconds), (80.0, 2.4));
        assert!(report.gc_share.is_some_and(|g| (g - 0.03).abs() < 1e-9));
        assert_eq!(report.recommended_executor_memory.as_deref(), Some("2g"));
        assert!(!report.partial);
        assert_eq!(
            report.summary.as_deref(),
            Some(
                "executors peaked at 1.1 GiB of 4 GiB heap (27 %): spark.executor.memory=2g \
                 would do; 2 executors, 300 executor-seconds, GC 3 % of task time, spilled \
                 64 MiB from memory (20 MiB on disk)"
            )
        );
    }

    #[test]
    fn no_advice_without_heap_figures_nor_below_the_configured_memory() {
        let executors: Vec<ExecutorData> = parse(vec![executor("1", T0, None, None)]);
        let report = Report::build("a", Source::HistoryServer, &executors, &[], None, Some(GIB));
        assert_eq!(
            (report.summary.as_deref(), report.executor_seconds),
            (None, 0.0)
        );
        assert!(report.to_string().starts_with("no right-sizing figures"));

        // 900 MiB of 1 GiB: 1536m would be more, not less.
        let executors: Vec<ExecutorData> =
            parse(vec![executor("1", T0, None, Some([900 * MIB, 0, 0]))]);
        let snapshot = Snapshot {
            executors,
            stages: Vec::new(),
            at: parse_spark_time("2026-01-05T10:00:30.000GMT").unwrap_or_default(),
        };
        let report = Report::from_snapshot("a", &snapshot, Some(GIB));
        assert_eq!(report.recommended_executor_memory, None);
        assert!(report.partial);
        assert_eq!(
            report.summary.as_deref(),
            Some(
                "executors peaked at 900 MiB of 1 GiB heap (88 %): no smaller \
                 spark.executor.memory advised; 1 executor, 30 executor-seconds, GC 3 % of \
                 task time, nothing spilled (partial: live snapshot)"
            )
        );
        // Unknown configured memory: the advice stands alone.
        let report = Report::from_snapshot("a", &snapshot, None);
        assert_eq!(report.recommended_executor_memory.as_deref(), Some("1536m"));
        assert!(
            report
                .summary
                .is_some_and(|s| s.starts_with("executors peaked at 900 MiB of heap: "))
        );
    }

    #[test]
    fn executor_memory_from_the_environment() {
        let env: EnvironmentData = serde_json::from_value(json!({
            "runtime": {"javaVersion": "17.0.13", "scalaVersion": "version 2.13.16"},
            "sparkProperties": [["spark.app.name", "pi"], ["spark.executor.memory", "3g"]],
            "hadoopProperties": [], "systemProperties": [], "metricsProperties": [],
            "classpathEntries": [], "resourceProfiles": []
        }))
        .unwrap_or_default();
        assert_eq!(executor_memory_of(&env), Some(3 * GIB));
        assert_eq!(
            executor_memory_of(&EnvironmentData::default()),
            Some(GIB),
            "Spark's default"
        );
        let app: ApplicationData = serde_json::from_value(json!({
            "id": "spark-1", "name": "pi", "attempts": [{"startTime": T0,
            "endTime": "2026-01-05T10:03:10.000GMT", "lastUpdated": T0, "duration": 190000,
            "sparkUser": "spark", "completed": true, "appSparkVersion": "4.3.0",
            "startTimeEpoch": 0, "endTimeEpoch": 0, "lastUpdatedEpoch": 0}]
        }))
        .unwrap_or_default();
        assert!(app.attempts[0].completed && app.attempts[0].attempt_id.is_none());
    }

    #[test]
    fn peaks_missing_from_an_event_log_come_from_the_snapshot() {
        let mut logged: Vec<ExecutorData> = parse(vec![
            executor("1", T0, None, None),
            executor("2", T0, None, Some([GIB, 0, 0])),
            executor("3", T0, None, None),
        ]);
        let snapshot = Snapshot {
            executors: parse(vec![
                executor("1", T0, None, Some([300 * MIB, 0, 0])),
                executor("2", T0, None, Some([MIB, 0, 0])),
            ]),
            stages: Vec::new(),
            at: Utc::now(),
        };
        assert!(fill_peaks(&mut logged, &snapshot));
        let heaps: Vec<Option<u64>> = logged
            .iter()
            .map(|e| e.peak_memory_metrics.map(|p| p.jvm_heap_memory))
            .collect();
        assert_eq!(heaps, [Some(300 * MIB), Some(GIB), None]);
        assert!(!fill_peaks(&mut logged, &snapshot));
        // A later read that lost the executors does not replace one that had them.
        let lost = Snapshot {
            executors: Vec::new(),
            ..snapshot.clone()
        };
        assert!(!lost.replaces(&snapshot));
        assert!(snapshot.replaces(&lost) && lost.replaces(&lost));
    }

    #[tokio::test]
    async fn a_history_server_that_does_not_answer_gives_a_partial_report() {
        // A port nothing listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let url = format!("http://127.0.0.1:{port}");
        let executors: Vec<ExecutorData> =
            parse(vec![executor("1", T0, None, Some([300 * MIB, 0, 0]))]);
        let snapshot = Snapshot {
            executors,
            stages: Vec::new(),
            at: Utc::now(),
        };
        let report = report("spark-1", Some(&url), Some(&snapshot), None, HISTORY_WAIT).await;
        let report = report.unwrap_or_else(|| panic!("no report"));
        assert!(report.partial);
        assert_eq!(report.source, Source::LiveSnapshot);
        let note = report.note.unwrap_or_default();
        assert!(note.contains("did not answer"), "{note}");
        assert!(report.peak_heap.is_some());
        // No snapshot and no History Server: nothing to say.
        assert_eq!(report_none().await, None);
        assert!(matches!(
            from_history_server("ftp://x", "spark-1", None, HISTORY_WAIT).await,
            Err(HistoryError::Url { .. })
        ));
    }

    async fn report_none() -> Option<Report> {
        report("spark-1", None, None, None, HISTORY_WAIT).await
    }
}
