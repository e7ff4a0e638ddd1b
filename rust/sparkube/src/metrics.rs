//! Counters and histograms of what this process did with the Kubernetes API: submissions by
//! outcome, API attempts, retries and throttling, watch restarts and re-lists, application
//! state transitions by reason, how late a final state was noticed, and log bytes read.
//!
//! The numbers are process-wide (every [`crate::Client`] of the process adds to them), since a
//! scheduler worker or a CLI run is the unit a dashboard counts. Recording is a relaxed atomic
//! add on a static; nothing is allocated or locked on the hot paths (a request, a log line),
//! and nothing runs per tracked application at steady state: transitions are counted when a
//! driver pod changes, not while it stays as it is. Only the transition table, keyed by state
//! and reason, takes a lock, once per change of a driver pod.
//!
//! [`snapshot`] reads everything into plain values (for Python and the Airflow provider);
//! [`Snapshot::to_openmetrics`] renders the OpenMetrics text format (the CLI's
//! `--metrics-file`, scraped by Prometheus' textfile collector or pushed by the caller).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bounds (seconds) of the histogram buckets: from a fast API answer to a slow notice.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The environment variable that turns recording off (`SPARKUBE_METRICS=off`), read once: for
/// measuring what recording costs (`make bench`), not for saving it.
pub const DISABLE_ENV: &str = "SPARKUBE_METRICS";

/// Whether metrics are recorded in this process.
static ENABLED: LazyLock<bool> = LazyLock::new(|| {
    !matches!(
        std::env::var(DISABLE_ENV).as_deref(),
        Ok("off" | "0" | "false")
    )
});

/// A monotonic count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        if *ENABLED {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Durations sorted into [`BUCKETS`], with their count and sum (in microseconds, so that the
/// sum is an atomic integer too).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, value: Duration) {
        if !*ENABLED {
            return;
        }
        let secs = value.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn read(&self, name: &str, labels: BTreeMap<String, String>) -> Sample {
        let mut cumulative = 0;
        let buckets = BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        Sample {
            name: name.to_string(),
            labels,
            value: count as f64,
            buckets,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// How a submission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The driver pod was created.
    Created,
    /// A driver pod of the same submission existed and was adopted.
    Adopted,
    /// The submission failed.
    Failed,
}

impl Outcome {
    const ALL: [Self; 3] = [Self::Created, Self::Adopted, Self::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Adopted => "adopted",
            Self::Failed => "failed",
        }
    }
}

/// Why an API call was tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// 429 Too Many Requests (API priority and fairness, or a rate limit in front).
    Throttled,
    /// 500, 502, 503, 504.
    ServerError,
    /// No answer within the attempt timeout.
    Timeout,
    /// A dropped or refused connection.
    Transport,
}

impl RetryReason {
    const ALL: [Self; 4] = [
        Self::Throttled,
        Self::ServerError,
        Self::Timeout,
        Self::Transport,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
        }
    }
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    /// Submissions, by [`Outcome`].
    submissions: [Counter; Outcome::ALL.len()],
    /// Time from the first request of a submission to its handle (or error).
    pub submit_duration: Histogram,
    /// Attempts of API calls (each retry is one more).
    pub api_requests: Counter,
    /// Retries, by [`RetryReason`].
    retries: [Counter; RetryReason::ALL.len()],
    /// Answers 429, retried or not.
    pub api_throttled: Counter,
    /// Errors of the shared driver watch, after which it resumes (or starts over on 410).
    pub watch_restarts: Counter,
    /// Lists of the shared driver watch after its first one (after a 410 or a reconnect).
    pub watch_relists: Counter,
    /// State transitions of tracked applications, by (state, reason).
    transitions: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Time from a driver's finish (its container's `finishedAt`) to the watch's notice.
    pub notice_delay: Histogram,
    /// Bytes of log read from the API server.
    pub log_bytes: Counter,
}

/// The metrics of this process.
pub static METRICS: Metrics = Metrics {
    submissions: [const { Counter::new() }; Outcome::ALL.len()],
    submit_duration: Histogram::new(),
    api_requests: Counter::new(),
    retries: [const { Counter::new() }; RetryReason::ALL.len()],
    api_throttled: Counter::new(),
    watch_restarts: Counter::new(),
    watch_relists: Counter::new(),
    transitions: Mutex::new(BTreeMap::new()),
    notice_delay: Histogram::new(),
    log_bytes: Counter::new(),
};

impl Metrics {
    /// Counts one submission that ended with `outcome` after `took`.
    pub fn submission(&self, outcome: Outcome, took: Duration) {
        self.submissions[outcome as usize].inc();
        self.submit_duration.observe(took);
    }

    /// Counts one retry of an API call.
    pub fn retry(&self, reason: RetryReason) {
        self.retries[reason as usize].inc();
    }

    /// Counts one transition of a tracked application into `state` for `reason`.
    pub fn transition(&self, state: &'static str, reason: Option<&str>) {
        if !*ENABLED {
            return;
        }
        let mut table = self
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *table
            .entry((state, reason.unwrap_or_default().to_string()))
            .or_default() += 1;
    }
}

/// One value of a metric family: a counter's count, or a histogram's count with its buckets
/// and sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The family's name (`sparkube_submissions`).
    pub name: String,
    /// Label values (`outcome`, `reason`, `state`), empty for a metric without labels.
    pub labels: BTreeMap<String, String>,
    /// The count.
    pub value: f64,
    /// A histogram's cumulative bucket counts, by upper bound in seconds; empty for counters.
    pub buckets: Vec<(f64, u64)>,
    /// A histogram's sum of observed seconds; 0 for counters.
    pub sum: f64,
}

/// One metric: its name, type, help and samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// Name without a `_total` suffix, prefixed with `sparkube_`.
    pub name: String,
    /// `counter` or `histogram`.
    pub kind: String,
    /// Unit of a histogram (`seconds`) or of a counter (`bytes`), else empty.
    pub unit: String,
    /// What it counts.
    pub help: String,
    /// Its values.
    pub samples: Vec<Sample>,
}

/// Every metric, read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The metric families, in a fixed order.
    pub families: Vec<Family>,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn counter(
    name: &str,
    unit: &str,
    help: &str,
    samples: Vec<(BTreeMap<String, String>, u64)>,
) -> Family {
    Family {
        name: name.to_string(),
        kind: "counter".into(),
        unit: unit.to_string(),
        help: help.to_string(),
        samples: samples
            .into_iter()
            .map(|(labels, value)| Sample {
                name: name.to_string(),
                labels,
                value: value as f64,
                buckets: Vec::new(),
                sum: 0.0,
            })
            .collect(),
    }
}

fn histogram(name: &str, help: &str, h: &Histogram) -> Family {
    Family {
        name: name.to_string(),
        kind: "histogram".into(),
        unit: "seconds".into(),
        help: help.to_string(),
        samples: vec![h.read(name, BTreeMap::new())],
    }
}

/// Reads every metric of the process.
pub fn snapshot() -> Snapshot {
    let m = &METRICS;
    let transitions: Vec<_> = m
        .transitions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|((state, reason), n)| (labels(&[("state", state), ("reason", reason)]), *n))
        .collect();
    Snapshot {
        families: vec![
            counter(
                "sparkube_submissions",
                "",
                "Submissions, by outcome: created, adopted (a retried submission found its driver), failed.",
                Outcome::ALL
                    .iter()
                    .map(|o| {
                        (
                            labels(&[("outcome", o.as_str())]),
                            m.submissions[*o as usize].get(),
                        )
                    })
                    .collect(),
            ),
            histogram(
                "sparkube_submit_duration_seconds",
                "Time from the first request of a submission to its handle or error.",
                &m.submit_duration,
            ),
            counter(
                "sparkube_api_requests",
                "",
                "Attempts of Kubernetes API calls, each retry included.",
                vec![(BTreeMap::new(), m.api_requests.get())],
            ),
            counter(
                "sparkube_api_retries",
                "",
                "Retries of Kubernetes API calls, by reason: throttled (429), server_error, timeout, transport.",
                RetryReason::ALL
                    .iter()
                    .map(|r| {
                        (
                            labels(&[("reason", r.as_str())]),
                            m.retries[*r as usize].get(),
                        )
                    })
                    .collect(),
            ),
            counter(
                "sparkube_api_throttled",
                "",
                "Answers 429 Too Many Requests from the API server, retried or not.",
                vec![(BTreeMap::new(), m.api_throttled.get())],
            ),
            counter(
                "sparkube_watch_restarts",
                "",
                "Errors of a shared driver pod watch, after which it resumed or started over.",
                vec![(BTreeMap::new(), m.watch_restarts.get())],
            ),
            counter(
                "sparkube_watch_relists",
                "",
                "Lists of a shared driver pod watch after its first one.",
                vec![(BTreeMap::new(), m.watch_relists.get())],
            ),
            counter(
                "sparkube_app_transitions",
                "",
                "State changes of tracked applications, by new state and reason.",
                transitions,
            ),
            histogram(
                "sparkube_notice_delay_seconds",
                "Time from a driver container's finish to the shared watch noticing it.",
                &m.notice_delay,
            ),
            counter(
                "sparkube_log_bytes",
                "bytes",
                "Bytes of container logs read from the API server.",
                vec![(BTreeMap::new(), m.log_bytes.get())],
            ),
        ],
    }
}

/// A label value escaped for the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &BTreeMap<String, String>, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A float as the text format writes it (`+Inf`, integers without a fraction).
fn number(value: f64) -> String {
    if value.is_infinite() {
        "+Inf".into()
    } else {
        format!("{value}")
    }
}

impl Snapshot {
    /// The OpenMetrics text exposition (`application/openmetrics-text; version=1.0.0`),
    /// ending with `# EOF`.
    pub fn to_openmetrics(&self) -> String {
        let mut out = String::new();
        for family in &self.families {
            let name = &family.name;
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            if !family.unit.is_empty() {
                let _ = writeln!(out, "# UNIT {name} {}", family.unit);
            }
            let _ = writeln!(out, "# HELP {name} {}", escape(&family.help));
            for sample in &family.samples {
                if family.kind == "histogram" {
                    for (bound, n) in &sample.buckets {
                        let le = label_text(&sample.labels, Some(("le", number(*bound))));
                        let _ = writeln!(out, "{name}_bucket{le} {n}");
                    }
                    let inf = label_text(&sample.labels, Some(("le", "+Inf".into())));
                    let _ = writeln!(out, "{name}_bucket{inf} {}", number(sample.value));
                    let plain = label_text(&sample.labels, None);
                    let _ = writeln!(out, "{name}_count{plain} {}", number(sample.value));
                    let _ = writeln!(out, "{name}_sum{plain} {}", number(sample.sum));
                } else {
                    let plain = label_text(&sample.labels, None);
                    let _ = writeln!(out, "{name}_total{plain} {}", number(sample.value));
                }
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_sum_in_seconds() {
        let h = Histogram::new();
        for ms in [3, 40, 40, 900, 120_000] {
            h.observe(Duration::from_millis(ms));
        }
        let s = h.read("x", BTreeMap::new());
        let at = |bound: f64| s.buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        assert_eq!(at(0.005), Some(1));
        assert_eq!(at(0.05), Some(3));
        assert_eq!(at(1.0), Some(4));
        // 120 s is beyond the last bound: only in +Inf (the count)
        assert_eq!(at(30.0), Some(4));
        assert_eq!(s.value, 5.0);
        assert!((s.sum - 120.983).abs() < 1e-9, "{}", s.sum);
    }

    #[test]
    fn the_text_format_has_types_units_totals_and_eof() {
        let h = Histogram::new();
        h.observe(Duration::from_millis(20));
        let snapshot = Snapshot {
            families: vec![
                counter(
                    "sparkube_app_transitions",
                    "",
                    "State changes.",
                    vec![(labels(&[("state", "Failed"), ("reason", "a\"b")]), 2)],
                ),
                histogram("sparkube_notice_delay_seconds", "Delay.", &h),
            ],
        };
        let text = snapshot.to_openmetrics();
        let want = "\
# TYPE sparkube_app_transitions counter
# HELP sparkube_app_transitions State changes.
sparkube_app_transitions_total{reason=\"a\\\"b\",state=\"Failed\"} 2
# TYPE sparkube_notice_delay_seconds histogram
# UNIT sparkube_notice_delay_seconds seconds
# HELP sparkube_notice_delay_seconds Delay.
";
        assert!(text.starts_with(want), "{text}");
        assert!(text.contains("sparkube_notice_delay_seconds_bucket{le=\"0.01\"} 0\n"));
        assert!(text.contains("sparkube_notice_delay_seconds_bucket{le=\"0.025\"} 1\n"));
        assert!(text.contains("sparkube_notice_delay_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("sparkube_notice_delay_seconds_sum 0.02\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn every_family_is_in_the_snapshot() {
        METRICS.transition("Running", None);
        let names: Vec<String> = snapshot().families.into_iter().map(|f| f.name).collect();
        for want in [
            "sparkube_submissions",
            "sparkube_api_retries",
            "sparkube_watch_relists",
            "sparkube_app_transitions",
            "sparkube_notice_delay_seconds",
            "sparkube_log_bytes",
        ] {
            assert!(names.iter().any(|n| n == want), "{want}");
        }
    }
}
