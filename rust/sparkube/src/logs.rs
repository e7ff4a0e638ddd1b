//! Driver and executor logs: one read or a follow that survives dropped connections.
//!
//! Logs are always requested with `timestamps=true`. The stream remembers the timestamp of the
//! last line it handed out and how many lines carried exactly that timestamp; after a
//! disconnect it asks again with `sinceTime` set to that timestamp and skips exactly those
//! lines (and any older ones, should the server round `sinceTime` down), so no line is lost
//! and none is repeated. Timestamps are stripped before lines are handed out unless asked for.
//! A follow ends when the container has terminated and everything it wrote was read.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use futures::{AsyncBufReadExt, Stream};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::api::{self, ApiError};
use crate::client::Client;
use crate::metrics::METRICS;
use crate::submit::APP_ID_LABEL;
use crate::track::state::{DRIVER_CONTAINER, driver_container_name};

/// Name Spark gives the executor container.
pub const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";
/// Label holding the executor id on executor pods.
pub const EXECUTOR_ID_LABEL: &str = "spark-exec-id";

/// Lines read ahead of the caller.
const LINE_BUFFER: usize = 1024;
/// How often a quiet follow checks whether the container has terminated.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// How often to look again while a container has not started.
const START_POLL: Duration = Duration::from_secs(1);

/// Failure to read logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The pod does not exist.
    #[error("pod {namespace}/{pod} not found")]
    PodNotFound {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// No executor with that id exists for the application.
    #[error("executor {executor} of application {app_id} not found in namespace {namespace}")]
    ExecutorNotFound {
        /// Namespace.
        namespace: String,
        /// Spark application id.
        app_id: String,
        /// Executor id.
        executor: String,
    },
    /// The driver pod has no Spark app id, so its executors cannot be found.
    #[error("pod {namespace}/{pod} is not a Spark driver: it has no {APP_ID_LABEL} label")]
    NotADriver {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// The log stream broke and could not be resumed.
    #[error("reading the log of {namespace}/{pod} failed: {message}")]
    Read {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// What went wrong.
        message: String,
    },
}

/// Result of reading logs.
pub type Result<T> = std::result::Result<T, LogError>;

impl LogError {
    /// The HTTP status code when an API call failed.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Api(e) => e.status_code(),
            Self::PodNotFound { .. } | Self::ExecutorNotFound { .. } => Some(404),
            _ => None,
        }
    }
}

/// What to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogOptions {
    /// Keep reading until the container terminates.
    pub follow: bool,
    /// Only lines of the last `since` (rounded up to whole seconds, as the API takes it).
    #[serde(with = "crate::serde_secs::option")]
    pub since: Option<Duration>,
    /// Only lines from this time on (full precision).
    pub since_time: Option<DateTime<Utc>>,
    /// Only the last `tail` lines (of the first read).
    pub tail: Option<u64>,
    /// Container name; the driver (or executor) container when unset.
    pub container: Option<String>,
    /// Read the log of this executor of the application instead of the driver's.
    pub executor: Option<String>,
    /// Keep the RFC 3339 timestamp at the start of each line.
    pub timestamps: bool,
}

/// Where a log stream stands: the last timestamp handed out and how many lines carried it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LogCursor {
    last: Option<DateTime<FixedOffset>>,
    at_last: usize,
    skip: usize,
    /// Lines older than this are never handed out (the caller's `since_time`).
    not_before: Option<DateTime<FixedOffset>>,
}

/// What to do with one line.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Hand it out.
    Emit,
    /// Already handed out before the reconnection.
    Skip,
}

impl LogCursor {
    /// Called before reading a resumed stream: the lines at the last timestamp come again.
    pub(crate) fn resume(&mut self) {
        self.skip = self.at_last;
    }

    /// A cursor that hands out no line older than `time` (a `since_time` the server gets
    /// only to the second).
    pub(crate) fn starting_at(time: Option<DateTime<Utc>>) -> Self {
        LogCursor {
            not_before: time.map(|t| t.fixed_offset()),
            ..LogCursor::default()
        }
    }

    /// Judges one line by its timestamp and moves the cursor.
    pub(crate) fn accept(&mut self, timestamp: Option<DateTime<FixedOffset>>) -> Verdict {
        let Some(ts) = timestamp else {
            return Verdict::Emit;
        };
        if self.not_before.is_some_and(|t| ts < t) {
            return Verdict::Skip;
        }
        match self.last {
            Some(last) if ts < last => Verdict::Skip,
            Some(last) if ts == last => {
                if self.skip > 0 {
                    self.skip -= 1;
                    Verdict::Skip
                } else {
                    self.at_last += 1;
                    Verdict::Emit
                }
            }
            _ => {
                self.last = Some(ts);
                self.at_last = 1;
                self.skip = 0;
                Verdict::Emit
            }
        }
    }
}

/// Splits `2025-01-01T00:00:00.123456789Z text` into the timestamp and the text.
pub(crate) fn split_timestamp(line: &str) -> (Option<DateTime<FixedOffset>>, &str) {
    if let Some((head, rest)) = line.split_once(' ')
        && let Ok(ts) = DateTime::parse_from_rfc3339(head)
    {
        return (Some(ts), rest);
    }
    match DateTime::parse_from_rfc3339(line) {
        Ok(ts) => (Some(ts), ""),
        Err(_) => (None, line),
    }
}

/// A time as the log request's `sinceTime`, floored to the second: kube-rs sends whole
/// seconds (rounding to the nearest one, which could skip lines), and the [`LogCursor`] drops
/// the lines of that second it has already handed out.
fn since_second(time: DateTime<Utc>) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_second(time.timestamp()).ok()
}

/// The parameters of one log request.
pub(crate) fn log_params(
    options: &LogOptions,
    container: &str,
    cursor: &LogCursor,
    follow: bool,
) -> LogParams {
    let mut params = LogParams {
        container: Some(container.to_string()),
        timestamps: true,
        follow,
        ..LogParams::default()
    };
    if let Some(last) = cursor.last {
        params.since_time = since_second(last.to_utc());
        return params;
    }
    if let Some(t) = options.since_time {
        params.since_time = since_second(t);
    } else if let Some(since) = options.since {
        let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
        params.since_seconds = Some(i64::try_from(secs.max(1)).unwrap_or(i64::MAX));
    }
    params.tail_lines = options.tail.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
    params
}

/// The main container of a Spark pod: `preferred` by name, else the first whose args start
/// with `role`, else the first.
fn main_container(pod: &Pod, preferred: &str, role: &str) -> Option<String> {
    if preferred == DRIVER_CONTAINER && role == "driver" {
        return driver_container_name(pod).map(str::to_string);
    }
    let containers = &pod.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == preferred)
        .or_else(|| {
            containers.iter().find(|c| {
                c.args
                    .as_ref()
                    .and_then(|a| a.first())
                    .is_some_and(|a| a == role)
            })
        })
        .or_else(|| containers.first())
        .map(|c| c.name.clone())
}

/// Where a container is in its life.
#[derive(Debug, PartialEq)]
enum ContainerPhase {
    NotStarted,
    Running,
    Terminated,
    /// The pod failed or succeeded without this container ever running.
    NeverRan,
}

fn container_phase(pod: &Pod, container: &str) -> ContainerPhase {
    let status = pod.status.as_ref();
    let state = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == container))
        .and_then(|c| c.state.as_ref());
    match state {
        Some(s) if s.terminated.is_some() => ContainerPhase::Terminated,
        Some(s) if s.running.is_some() => ContainerPhase::Running,
        _ => match status.and_then(|s| s.phase.as_deref()) {
            Some("Failed" | "Succeeded") => ContainerPhase::NeverRan,
            _ => ContainerPhase::NotStarted,
        },
    }
}

/// A stream of log lines. Dropping it stops reading.
pub struct LogStream {
    rx: mpsc::Receiver<Result<String>>,
    /// An error received in the same batch as lines before it, handed out on the next call.
    failed: Option<LogError>,
    task: AbortHandle,
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream").finish_non_exhaustive()
    }
}

impl LogStream {
    /// The next line, `None` at the end.
    pub async fn next_line(&mut self) -> Option<Result<String>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        self.rx.recv().await
    }

    /// Up to `max` lines at once, waiting only for the first: callers that pay for every
    /// wake-up (an asyncio loop) pay once per batch. `None` at the end; an error comes alone,
    /// on the call after the lines read before it.
    pub async fn next_lines(&mut self, max: usize) -> Option<Result<Vec<String>>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let mut batch = Vec::new();
        if self.rx.recv_many(&mut batch, max.max(1)).await == 0 {
            return None;
        }
        let mut lines = Vec::with_capacity(batch.len());
        for item in batch {
            match item {
                Ok(line) => lines.push(line),
                // The reader sends nothing after an error.
                Err(e) if lines.is_empty() => return Some(Err(e)),
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            }
        }
        Some(Ok(lines))
    }
}

impl Stream for LogStream {
    type Item = Result<String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(e) = self.failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        self.rx.poll_recv(cx)
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One log reader: the pod, the container and where it stands.
struct Reader {
    client: Client,
    namespace: String,
    pod: String,
    container: String,
    options: LogOptions,
    cursor: LogCursor,
    tx: mpsc::Sender<Result<String>>,
    emitted: u64,
}

/// How one request ended.
enum ReadEnd {
    /// The server closed the stream.
    Closed,
    /// The connection broke.
    Broken(String),
    /// The receiver went away.
    Stopped,
    /// No line for a while (follow only).
    Idle,
}

impl Reader {
    fn read_error(&self, message: String) -> LogError {
        LogError::Read {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            message,
        }
    }

    async fn current_phase(&self) -> std::result::Result<Option<ContainerPhase>, ApiError> {
        let pod = self.client.driver_pod(&self.namespace, &self.pod).await;
        match pod {
            Ok(Some(p)) => Ok(Some(container_phase(&p, &self.container))),
            Ok(None) => Ok(None),
            Err(crate::track::TrackError::Api(e)) => Err(e),
            Err(e) => Err(api::request_error("get pod", e)),
        }
    }

    /// Opens one log request and hands out its lines.
    async fn read_once(&mut self, follow: bool) -> std::result::Result<ReadEnd, ApiError> {
        let operation = format!(
            "read the log of container {} of pod {}/{}",
            self.container, self.namespace, self.pod
        );
        let params = log_params(&self.options, &self.container, &self.cursor, follow);
        let request = api::namespaced::<Pod>(&self.namespace)
            .logs(&self.pod, &params)
            .map_err(|e| api::request_error(&operation, e))?;
        let reader = self
            .client
            .kube
            .request_stream(request)
            .await
            .map_err(|e| match e {
                kube::Error::Api(status) => ApiError::Status {
                    operation: operation.clone(),
                    code: status.code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                    retry_after: None,
                },
                source => ApiError::Transport {
                    operation: operation.clone(),
                    source,
                },
            })?;
        let mut reader = Box::pin(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = reader.read_until(b'\n', &mut buf);
            let n = if follow {
                match tokio::time::timeout(IDLE_CHECK, read).await {
                    Ok(r) => r,
                    Err(_) => return Ok(ReadEnd::Idle),
                }
            } else {
                read.await
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => return Ok(ReadEnd::Broken(e.to_string())),
            };
            if n == 0 {
                return Ok(ReadEnd::Closed);
            }
            METRICS.log_bytes.add(n as u64);
            if buf.last() != Some(&b'\n') {
                // A partial last line: the stream broke in the middle of it. Read it again.
                return Ok(ReadEnd::Broken("the stream ended within a line".into()));
            }
            let text = String::from_utf8_lossy(&buf);
            let line = text.trim_end_matches(['\n', '\r']);
            let (ts, rest) = split_timestamp(line);
            if self.cursor.accept(ts) == Verdict::Emit {
                let out = if self.options.timestamps { line } else { rest };
                if self.tx.send(Ok(out.to_string())).await.is_err() {
                    return Ok(ReadEnd::Stopped);
                }
                self.emitted += 1;
            }
        }
    }

    /// Waits until the container has started; false when it never will.
    async fn wait_started(&self) -> std::result::Result<bool, ApiError> {
        loop {
            match self.current_phase().await? {
                None | Some(ContainerPhase::NeverRan) => return Ok(false),
                Some(ContainerPhase::Running | ContainerPhase::Terminated) => return Ok(true),
                Some(ContainerPhase::NotStarted) => tokio::time::sleep(START_POLL).await,
            }
        }
    }

    async fn run(mut self) {
        if let Err(e) = self.run_inner().await {
            let _ = self.tx.send(Err(e)).await;
        }
    }

    async fn run_inner(&mut self) -> Result<()> {
        let mut follow = self.options.follow;
        let retry = self.client.retry.clone();
        let mut failures = 0u32;
        loop {
            if follow && !self.wait_started().await? {
                // Nothing more will be written; read what there is once.
                follow = false;
            }
            let emitted_before = self.emitted;
            let end = match self.read_once(follow).await {
                Ok(end) => {
                    failures = 0;
                    end
                }
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) if follow && e.status_code() == Some(400) => {
                    // The container was not ready for logs yet.
                    tokio::time::sleep(START_POLL).await;
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    let keep_trying =
                        retry.should_retry(failures, &e) || (follow && e.is_transient());
                    if !keep_trying {
                        return Err(e.into());
                    }
                    let delay = retry.delay(failures - 1, e.retry_after(), rand::random::<f64>());
                    log::debug!("{e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    self.cursor.resume();
                    continue;
                }
            };
            match end {
                ReadEnd::Stopped => return Ok(()),
                ReadEnd::Closed if !follow => return Ok(()),
                ReadEnd::Broken(message) if !follow => {
                    failures += 1;
                    if failures >= retry.max_attempts {
                        return Err(self.read_error(message));
                    }
                    log::debug!(
                        "log stream of {}/{} broke: {message}; resuming",
                        self.namespace,
                        self.pod
                    );
                }
                ReadEnd::Closed | ReadEnd::Broken(_) | ReadEnd::Idle => {
                    // Following: the stream ends when the container terminates, or when the
                    // connection drops. Read once more without follow in the first case (to
                    // get anything written meanwhile), resume following in the second.
                    match self.current_phase().await? {
                        None => return Ok(()),
                        Some(ContainerPhase::Terminated | ContainerPhase::NeverRan) => {
                            follow = false;
                        }
                        Some(_) => {
                            // Reconnecting a quiet stream also recovers connections that died
                            // silently; a stream that closes at once is not retried in a loop.
                            if self.emitted == emitted_before && !matches!(end, ReadEnd::Idle) {
                                tokio::time::sleep(START_POLL).await;
                            }
                        }
                    }
                }
            }
            self.cursor.resume();
        }
    }
}

impl Client {
    /// Streams the log of a driver pod (or, with `options.executor`, of one of its executors).
    pub async fn logs(
        &self,
        namespace: Option<&str>,
        driver_pod: &str,
        options: &LogOptions,
    ) -> Result<LogStream> {
        let namespace = self.ns(namespace).to_string();
        let not_found = |pod: &str| LogError::PodNotFound {
            namespace: namespace.clone(),
            pod: pod.to_string(),
        };
        let driver = self
            .driver_pod(&namespace, driver_pod)
            .await
            .map_err(track_to_log)?
            .ok_or_else(|| not_found(driver_pod))?;
        let (pod, container) = match &options.executor {
            None => {
                let container = match &options.container {
                    Some(c) => c.clone(),
                    None => main_container(&driver, DRIVER_CONTAINER, "driver")
                        .unwrap_or_else(|| DRIVER_CONTAINER.to_string()),
                };
                (driver_pod.to_string(), container)
            }
            Some(executor) => {
                let exec = self.executor_pod(&namespace, &driver, executor).await?;
                let name = exec.metadata.name.clone().unwrap_or_default();
                let container = match &options.container {
                    Some(c) => c.clone(),
                    None => main_container(&exec, EXECUTOR_CONTAINER, "executor")
                        .unwrap_or_else(|| EXECUTOR_CONTAINER.to_string()),
                };
                (name, container)
            }
        };
        let (tx, rx) = mpsc::channel(LINE_BUFFER);
        let reader = Reader {
            client: self.clone(),
            namespace,
            pod,
            container,
            options: options.clone(),
            cursor: LogCursor::starting_at(options.since_time),
            tx,
            emitted: 0,
        };
        let task = tokio::spawn(reader.run()).abort_handle();
        Ok(LogStream {
            rx,
            failed: None,
            task,
        })
    }

    /// The last `lines` lines of the driver log (one read).
    pub async fn log_tail(
        &self,
        namespace: &str,
        driver_pod: &str,
        lines: u32,
    ) -> Result<Vec<String>> {
        let options = LogOptions {
            tail: Some(u64::from(lines)),
            ..LogOptions::default()
        };
        let mut stream = self.logs(Some(namespace), driver_pod, &options).await?;
        let mut out = Vec::new();
        while let Some(line) = stream.next_line().await {
            out.push(line?);
        }
        Ok(out)
    }

    async fn executor_pod(&self, namespace: &str, driver: &Pod, executor: &str) -> Result<Pod> {
        let app_id = driver
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(APP_ID_LABEL))
            .cloned()
            .ok_or_else(|| LogError::NotADriver {
                namespace: namespace.to_string(),
                pod: driver.metadata.name.clone().unwrap_or_default(),
            })?;
        let operation = format!("list executor {executor} of {app_id} in namespace {namespace}");
        let params = ListParams::default().labels(&format!(
            "{APP_ID_LABEL}={app_id},spark-role=executor,{EXECUTOR_ID_LABEL}={executor}"
        ));
        let list: kube::core::ObjectList<Pod> =
            api::call(&self.kube, &self.retry, &operation, || {
                api::namespaced::<Pod>(namespace)
                    .list(&params)
                    .map_err(|e| api::request_error(&operation, e))
            })
            .await?;
        list.items
            .into_iter()
            .max_by_key(|p| p.metadata.creation_timestamp.clone())
            .ok_or(LogError::ExecutorNotFound {
                namespace: namespace.to_string(),
                app_id,
                executor: executor.to_string(),
            })
    }
}

fn track_to_log(e: crate::track::TrackError) -> LogError {
    match e {
        crate::track::TrackError::Api(e) => LogError::Api(e),
        other => LogError::Read {
            namespace: String::new(),
            pod: String::new(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::SecondsFormat;

    use super::*;

    fn ts(s: &str) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc3339(s).ok()
    }

    /// One timestamped line, or `None` for a reconnection.
    type Event<'a> = Option<(&'a str, &'a str)>;

    /// Feeds lines through a cursor.
    fn run(cursor: &mut LogCursor, lines: &[Event<'_>]) -> Vec<String> {
        let mut out = Vec::new();
        for line in lines {
            match line {
                None => cursor.resume(),
                Some((t, text)) => {
                    if cursor.accept(ts(t)) == Verdict::Emit {
                        out.push(text.to_string());
                    }
                }
            }
        }
        out
    }

    #[test]
    fn resume_skips_exactly_the_lines_already_handed_out() {
        let a = "2025-01-01T00:00:01.000000001Z";
        let b = "2025-01-01T00:00:01.000000002Z";
        let c = "2025-01-01T00:00:02Z";
        let table: Vec<(&str, Vec<Event<'_>>, Vec<&str>)> = vec![
            (
                "resume after distinct timestamps",
                vec![
                    Some((a, "1")),
                    Some((b, "2")),
                    None,
                    Some((b, "2")),
                    Some((c, "3")),
                ],
                vec!["1", "2", "3"],
            ),
            (
                "several lines share the last timestamp",
                vec![
                    Some((a, "1")),
                    Some((b, "2")),
                    Some((b, "3")),
                    None,
                    Some((b, "2")),
                    Some((b, "3")),
                    Some((b, "4")),
                    Some((c, "5")),
                ],
                vec!["1", "2", "3", "4", "5"],
            ),
            (
                "server rounds sinceTime down and repeats older lines",
                vec![
                    Some((a, "1")),
                    Some((b, "2")),
                    None,
                    Some((a, "1")),
                    Some((b, "2")),
                    Some((c, "3")),
                ],
                vec!["1", "2", "3"],
            ),
            (
                "two reconnections in a row",
                vec![
                    Some((a, "1")),
                    None,
                    Some((a, "1")),
                    None,
                    Some((a, "1")),
                    Some((a, "2")),
                ],
                vec!["1", "2"],
            ),
            (
                "lines without a timestamp pass",
                vec![Some(("garbage", "x")), Some((a, "1"))],
                vec!["x", "1"],
            ),
        ];
        for (name, lines, expected) in table {
            let mut cursor = LogCursor::default();
            assert_eq!(run(&mut cursor, &lines), expected, "{name}");
        }
    }

    #[test]
    fn timestamps_are_split_off() {
        let (t, rest) = split_timestamp("2025-01-01T00:00:01.123456789Z hello world");
        assert_eq!(rest, "hello world");
        assert_eq!(
            t.map(|t| t.to_utc().to_rfc3339_opts(SecondsFormat::Nanos, true)),
            Some("2025-01-01T00:00:01.123456789Z".into())
        );
        let (t, rest) = split_timestamp("2025-01-01T00:00:01+02:00 x");
        assert!(t.is_some());
        assert_eq!(rest, "x");
        let (t, rest) = split_timestamp("no timestamp here");
        assert!(t.is_none());
        assert_eq!(rest, "no timestamp here");
        let (t, rest) = split_timestamp("2025-01-01T00:00:01Z");
        assert!(t.is_some());
        assert_eq!(rest, "");
    }

    #[test]
    fn requests_for_first_and_resumed_reads() {
        let options = LogOptions {
            follow: true,
            since: Some(Duration::from_millis(1500)),
            tail: Some(10),
            ..LogOptions::default()
        };
        let mut cursor = LogCursor::default();
        let query = |params: &LogParams| {
            let request = api::namespaced::<Pod>("ns")
                .logs("p", params)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(request.uri().path(), "/api/v1/namespaces/ns/pods/p/log");
            form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect::<std::collections::HashMap<String, String>>()
        };
        let q = query(&log_params(
            &options,
            "spark-kubernetes-driver",
            &cursor,
            true,
        ));
        let get = |q: &std::collections::HashMap<String, String>, k: &str| q.get(k).cloned();
        assert_eq!(get(&q, "timestamps").as_deref(), Some("true"));
        assert_eq!(get(&q, "follow").as_deref(), Some("true"));
        assert_eq!(get(&q, "sinceSeconds").as_deref(), Some("2"));
        assert_eq!(get(&q, "tailLines").as_deref(), Some("10"));
        assert_eq!(get(&q, "sinceTime"), None);

        // Resumed from 00:00:01.7: the request asks from the whole second (never later, so
        // no line is lost) and the cursor drops what was handed out already.
        assert_eq!(
            cursor.accept(ts("2025-01-01T00:00:01.700000500+00:00")),
            Verdict::Emit
        );
        cursor.resume();
        let q = query(&log_params(&options, "c", &cursor, false));
        assert_eq!(
            get(&q, "sinceTime").as_deref(),
            Some("2025-01-01T00:00:01Z")
        );
        assert_eq!(get(&q, "tailLines"), None);
        assert_eq!(get(&q, "sinceSeconds"), None);
        assert_eq!(get(&q, "follow"), None);
        assert_eq!(get(&q, "container").as_deref(), Some("c"));
        assert_eq!(
            cursor.accept(ts("2025-01-01T00:00:01.200000000+00:00")),
            Verdict::Skip
        );
        assert_eq!(
            cursor.accept(ts("2025-01-01T00:00:01.700000500+00:00")),
            Verdict::Skip
        );
        assert_eq!(
            cursor.accept(ts("2025-01-01T00:00:01.900000000+00:00")),
            Verdict::Emit
        );
    }

    #[test]
    fn a_since_time_hands_out_no_older_line() {
        let since = DateTime::parse_from_rfc3339("2025-01-01T00:00:05.5Z")
            .map(|t| t.to_utc())
            .ok();
        let mut cursor = LogCursor::starting_at(since);
        let options = LogOptions {
            since_time: since,
            tail: Some(3),
            ..LogOptions::default()
        };
        let params = log_params(&options, "c", &cursor, false);
        assert_eq!(
            params.since_time.map(|t| t.to_string()).as_deref(),
            Some("2025-01-01T00:00:05Z")
        );
        assert_eq!(params.tail_lines, Some(3));
        assert_eq!(cursor.accept(ts("2025-01-01T00:00:05.1Z")), Verdict::Skip);
        assert_eq!(cursor.accept(ts("2025-01-01T00:00:05.5Z")), Verdict::Emit);
        assert_eq!(cursor.accept(ts("2025-01-01T00:00:06Z")), Verdict::Emit);
    }

    #[test]
    fn container_phases() {
        let pod = |status: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
                .unwrap_or_default()
        };
        let cs = |state: serde_json::Value| serde_json::json!({"containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": state}]});
        let table = [
            (
                pod(serde_json::json!({"phase": "Pending"})),
                ContainerPhase::NotStarted,
            ),
            (
                pod(cs(
                    serde_json::json!({"waiting": {"reason": "ContainerCreating"}}),
                )),
                ContainerPhase::NotStarted,
            ),
            (
                pod(cs(serde_json::json!({"running": {}}))),
                ContainerPhase::Running,
            ),
            (
                pod(cs(serde_json::json!({"terminated": {"exitCode": 0}}))),
                ContainerPhase::Terminated,
            ),
            (
                pod(serde_json::json!({"phase": "Failed"})),
                ContainerPhase::NeverRan,
            ),
        ];
        for (p, expected) in table {
            assert_eq!(container_phase(&p, "c"), expected);
        }
    }

    fn read_error() -> LogError {
        LogError::Read {
            namespace: "ns".into(),
            pod: "p".into(),
            message: "gone".into(),
        }
    }

    #[tokio::test]
    async fn batches_hand_out_the_lines_then_the_error_alone() {
        let (tx, rx) = mpsc::channel(LINE_BUFFER);
        let items = ["a", "b", "c"].map(|l| Ok(l.to_string()));
        for item in items.into_iter().chain([Err(read_error())]) {
            assert!(tx.send(item).await.is_ok());
        }
        drop(tx);
        let task = tokio::spawn(async {}).abort_handle();
        let mut stream = LogStream {
            rx,
            failed: None,
            task,
        };
        let mut seen = Vec::new();
        while let Some(batch) = stream.next_lines(2).await {
            seen.push(batch.map_err(|e| e.to_string()));
        }
        let lines = |ls: &[&str]| Ok(ls.iter().map(|l| l.to_string()).collect::<Vec<_>>());
        assert_eq!(
            seen,
            [
                lines(&["a", "b"]),
                lines(&["c"]),
                Err(read_error().to_string())
            ]
        );
    }
}
