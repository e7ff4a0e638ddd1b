//! The values that cross the boundary as frozen classes: `AppStatus`, `Progress` and `PodRef`,
//! each a wrapper of the library's own type, so Python reads the fields the core fills with
//! no dict and no key renamed by string on the way. `to_dict`/`from_dict` give the JSON-safe
//! form Airflow's trigger events and XComs carry (and pickling goes through it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};
use pythonize::{depythonize, pythonize};
use serde::{Deserialize, Serialize};
use sparkube::{AppState, AppStatus, PodRef, Progress};

use crate::errors::{invalid_input, kill_error};

/// `sparkube.AppState`, the Python enum a status's `state` is a member of.
fn app_state<'py>(py: Python<'py>, state: AppState) -> PyResult<Bound<'py, PyAny>> {
    static APP_STATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    APP_STATE
        .import(py, "sparkube.client", "AppState")?
        .call1((state.as_str(),))
}

/// A time as Python's `datetime.isoformat()` writes it (microseconds only when there are).
fn iso(time: &DateTime<Utc>) -> String {
    if time.timestamp_subsec_micros() == 0 {
        time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// A time as an aware `datetime` (UTC).
fn datetime<'py>(
    py: Python<'py>,
    time: Option<&DateTime<Utc>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    static FROM_ISO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    time.map(|t| {
        FROM_ISO
            .import(py, "datetime", "datetime")?
            .getattr("fromisoformat")?
            .call1((iso(t),))
    })
    .transpose()
}

/// `html.escape`, for the notebook views.
fn escape(py: Python<'_>, text: &str) -> PyResult<String> {
    static ESCAPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    ESCAPE
        .import(py, "html", "escape")?
        .call1((text,))?
        .extract()
}

/// The dict form of a status: JSON-safe, with the names of `AppStatus`'s attributes.
#[derive(Serialize, Deserialize)]
struct StatusRecord {
    state: AppState,
    namespace: String,
    driver_pod: String,
    app_id: Option<String>,
    submission_id: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    exit_code: Option<i32>,
    phase: Option<String>,
    node: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    created_at: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    last_log_lines: Option<Vec<String>>,
    /// Why a failed app failed, in one line.
    #[serde(default)]
    cause: Option<String>,
    /// Computed from `message` (see `AppStatus::result`); never read back.
    #[serde(default, skip_deserializing)]
    result: Option<serde_json::Value>,
}

fn parse_time(field: &str, value: Option<String>) -> PyResult<Option<DateTime<Utc>>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| invalid_input(format!("invalid AppStatus {field} {v:?}: {e}")))
        })
        .transpose()
}

/// The state of one application, from its driver pod (see `sparkube.AppStatus`).
#[pyclass(
    module = "sparkube._core",
    name = "AppStatus",
    frozen,
    eq,
    skip_from_py_object
)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyAppStatus(AppStatus);

impl From<AppStatus> for PyAppStatus {
    fn from(status: AppStatus) -> Self {
        Self(status)
    }
}

impl PyAppStatus {
    fn record(&self) -> StatusRecord {
        let s = &self.0;
        StatusRecord {
            state: s.state,
            namespace: s.namespace.clone(),
            driver_pod: s.driver_pod.clone(),
            app_id: s.app_id.clone(),
            submission_id: s.submission_id.clone(),
            reason: s.reason.clone(),
            message: s.message.clone(),
            exit_code: s.exit_code,
            phase: s.pod_phase.clone(),
            node: s.node.clone(),
            labels: Some(s.labels.clone()),
            created_at: s.created_at.as_ref().map(iso),
            started_at: s.started_at.as_ref().map(iso),
            finished_at: s.finished_at.as_ref().map(iso),
            last_log_lines: Some(s.log_tail.clone()),
            cause: s.cause.clone(),
            result: s.result(),
        }
    }

    fn from_record(r: StatusRecord) -> PyResult<Self> {
        let mut status = AppStatus::new(&r.namespace, &r.driver_pod, r.state);
        status.app_id = r.app_id;
        status.submission_id = r.submission_id;
        status.reason = r.reason;
        status.message = r.message;
        status.exit_code = r.exit_code;
        status.pod_phase = r.phase;
        status.node = r.node;
        status.labels = r.labels.unwrap_or_default();
        status.created_at = parse_time("created_at", r.created_at)?;
        status.started_at = parse_time("started_at", r.started_at)?;
        status.finished_at = parse_time("finished_at", r.finished_at)?;
        status.log_tail = r.last_log_lines.unwrap_or_default();
        status.cause = r.cause;
        Ok(Self(status))
    }

    /// Seconds from the driver's start to its end (or to now while it runs).
    fn duration(&self) -> Option<f64> {
        let started = self.0.started_at?;
        let end = self.0.finished_at.unwrap_or_else(Utc::now);
        let micros = (end - started).num_microseconds()?;
        Some(micros as f64 / 1e6)
    }
}

#[pymethods]
impl PyAppStatus {
    /// Where the application is in its life (`sparkube.AppState`).
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        app_state(py, self.0.state)
    }

    /// The driver pod's namespace.
    #[getter]
    fn namespace(&self) -> &str {
        &self.0.namespace
    }

    /// The driver pod's name.
    #[getter]
    fn driver_pod(&self) -> &str {
        &self.0.driver_pod
    }

    /// The Spark application id, when known.
    #[getter]
    fn app_id(&self) -> Option<&str> {
        self.0.app_id.as_deref()
    }

    /// The driver's submission id, when it has one.
    #[getter]
    fn submission_id(&self) -> Option<&str> {
        self.0.submission_id.as_deref()
    }

    /// Kubernetes' word for the state (`Unschedulable`, `ErrImagePull`, `OOMKilled`, ...).
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// The scheduler's or the termination message.
    #[getter]
    fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// What the application returned: once it succeeded, its driver's termination message
    /// parsed as JSON, if it is JSON.
    #[getter]
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(match self.0.result() {
            Some(value) => Some(pythonize(py, &value)?),
            None => None,
        })
    }

    /// The driver container's exit code, once it ended.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.0.exit_code
    }

    /// The driver pod's phase.
    #[getter]
    fn phase(&self) -> Option<&str> {
        self.0.pod_phase.as_deref()
    }

    /// The node the driver runs on.
    #[getter]
    fn node(&self) -> Option<&str> {
        self.0.node.as_deref()
    }

    /// The driver pod's labels.
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.0.labels.clone()
    }

    /// When the driver pod was created.
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        datetime(py, self.0.created_at.as_ref())
    }

    /// When the driver container started.
    #[getter]
    fn started_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        datetime(py, self.0.started_at.as_ref())
    }

    /// When the driver container ended.
    #[getter]
    fn finished_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        datetime(py, self.0.finished_at.as_ref())
    }

    /// The end of the driver log, for a failed application.
    #[getter]
    fn last_log_lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.0.log_tail)
    }

    /// Why a failed application failed, in one line (executors OOMKilled, executors that never
    /// started, a storage 403/404, the Python or Java exception), when that is known.
    #[getter]
    fn cause(&self) -> Option<&str> {
        self.0.cause.as_deref()
    }

    /// Whether the application has ended.
    #[getter]
    fn is_final(&self) -> bool {
        self.0.state.is_final()
    }

    /// Whether the application ended successfully.
    #[getter]
    fn succeeded(&self) -> bool {
        self.0.is_success()
    }

    /// Seconds from the driver's start to its end (or to now while it runs).
    #[getter]
    fn duration_s(&self) -> Option<f64> {
        self.duration()
    }

    /// One line: state, reason, exit code and message.
    fn summary(&self) -> String {
        let mut line = self.0.state.as_str().to_owned();
        if let Some(reason) = self.0.reason.as_deref().filter(|r| !r.is_empty()) {
            line += &format!(" ({reason})");
        }
        if let Some(code) = self.0.exit_code {
            line += &format!(" exit code {code}");
        }
        if let Some(message) = self.0.message.as_deref().filter(|m| !m.is_empty()) {
            line += &format!(" - {message}");
        }
        line
    }

    /// JSON-safe data (for XCom and trigger events); `from_dict` reads it back.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.record())?)
    }

    /// The status `to_dict` produced.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let record: StatusRecord =
            depythonize(data).map_err(|e| invalid_input(format!("invalid AppStatus: {e}")))?;
        Self::from_record(record)
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyAny>,))> {
        let from_dict = slf.get_type().getattr("from_dict")?;
        Ok((from_dict, (slf.get().to_dict(slf.py())?,)))
    }

    fn __str__(&self) -> String {
        let name = self.0.app_id.as_deref().unwrap_or(&self.0.driver_pod);
        match self.0.cause.as_deref() {
            Some(cause) => format!("{name}: {}; cause: {cause}", self.summary()),
            None => format!("{name}: {}", self.summary()),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "AppStatus(state={:?}, namespace={:?}, driver_pod={:?}, app_id={:?}, reason={:?}, \
             exit_code={:?}{})",
            self.0.state.as_str(),
            self.0.namespace,
            self.0.driver_pod,
            self.0.app_id,
            self.0.reason,
            self.0.exit_code,
            self.0
                .cause
                .as_deref()
                .map(|c| format!(", cause={c:?}"))
                .unwrap_or_default()
        )
    }

    fn _repr_html_(&self, py: Python<'_>) -> PyResult<String> {
        let mut rows = vec![
            ("state", self.summary()),
            ("app id", self.0.app_id.clone().unwrap_or_default()),
            (
                "driver pod",
                format!("{}/{}", self.0.namespace, self.0.driver_pod),
            ),
        ];
        if let Some(cause) = &self.0.cause {
            rows.push(("cause", cause.clone()));
        }
        if let Some(seconds) = self.duration() {
            rows.push(("duration", format!("{seconds:.1} s")));
        }
        let mut html = String::from("<table>");
        for (key, value) in rows {
            html += &format!(
                "<tr><th style='text-align:left'>{}</th><td>{}</td></tr>",
                escape(py, key)?,
                escape(py, &value)?
            );
        }
        html += "</table>";
        if !self.0.log_tail.is_empty() {
            html += &format!("<pre>{}</pre>", escape(py, &self.0.log_tail.join("\n"))?);
        }
        Ok(html)
    }
}

/// How far a running application is, as its driver's Spark UI counts it (see
/// `sparkube.Progress`).
#[pyclass(
    module = "sparkube._core",
    name = "Progress",
    frozen,
    eq,
    get_all,
    skip_from_py_object
)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyProgress {
    app_id: String,
    jobs_total: u64,
    jobs_succeeded: u64,
    jobs_running: u64,
    jobs_failed: u64,
    stages_total: u64,
    stages_completed: u64,
    stages_active: u64,
    stages_pending: u64,
    stages_skipped: u64,
    stages_failed: u64,
    tasks_total: u64,
    tasks_completed: u64,
    tasks_active: u64,
    tasks_failed: u64,
    tasks_skipped: u64,
    fraction: Option<f64>,
    executors_total: u64,
    executors_active: u64,
}

impl From<Progress> for PyProgress {
    fn from(p: Progress) -> Self {
        Self {
            app_id: p.app_id,
            jobs_total: p.jobs_total,
            jobs_succeeded: p.jobs_succeeded,
            jobs_running: p.jobs_running,
            jobs_failed: p.jobs_failed,
            stages_total: p.stages_total,
            stages_completed: p.stages_completed,
            stages_active: p.stages_active,
            stages_pending: p.stages_pending,
            stages_skipped: p.stages_skipped,
            stages_failed: p.stages_failed,
            tasks_total: p.tasks_total,
            tasks_completed: p.tasks_completed,
            tasks_active: p.tasks_active,
            tasks_failed: p.tasks_failed,
            tasks_skipped: p.tasks_skipped,
            fraction: p.fraction,
            executors_total: p.executors_total,
            executors_active: p.executors_active,
        }
    }
}

impl From<&PyProgress> for Progress {
    fn from(p: &PyProgress) -> Self {
        Self {
            app_id: p.app_id.clone(),
            jobs_total: p.jobs_total,
            jobs_succeeded: p.jobs_succeeded,
            jobs_running: p.jobs_running,
            jobs_failed: p.jobs_failed,
            stages_total: p.stages_total,
            stages_completed: p.stages_completed,
            stages_active: p.stages_active,
            stages_pending: p.stages_pending,
            stages_skipped: p.stages_skipped,
            stages_failed: p.stages_failed,
            tasks_total: p.tasks_total,
            tasks_completed: p.tasks_completed,
            tasks_active: p.tasks_active,
            tasks_failed: p.tasks_failed,
            tasks_skipped: p.tasks_skipped,
            fraction: p.fraction,
            executors_total: p.executors_total,
            executors_active: p.executors_active,
        }
    }
}

#[pymethods]
impl PyProgress {
    /// Progress with the given counts (the core makes them; this is for tests and pickling).
    #[new]
    #[pyo3(signature = (app_id, *, jobs_total=0, jobs_succeeded=0, jobs_running=0,
        jobs_failed=0, stages_total=0, stages_completed=0, stages_active=0, stages_pending=0,
        stages_skipped=0, stages_failed=0, tasks_total=0, tasks_completed=0, tasks_active=0,
        tasks_failed=0, tasks_skipped=0, fraction=None, executors_total=0, executors_active=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        app_id: String,
        jobs_total: u64,
        jobs_succeeded: u64,
        jobs_running: u64,
        jobs_failed: u64,
        stages_total: u64,
        stages_completed: u64,
        stages_active: u64,
        stages_pending: u64,
        stages_skipped: u64,
        stages_failed: u64,
        tasks_total: u64,
        tasks_completed: u64,
        tasks_active: u64,
        tasks_failed: u64,
        tasks_skipped: u64,
        fraction: Option<f64>,
        executors_total: u64,
        executors_active: u64,
    ) -> Self {
        Self {
            app_id,
            jobs_total,
            jobs_succeeded,
            jobs_running,
            jobs_failed,
            stages_total,
            stages_completed,
            stages_active,
            stages_pending,
            stages_skipped,
            stages_failed,
            tasks_total,
            tasks_completed,
            tasks_active,
            tasks_failed,
            tasks_skipped,
            fraction,
            executors_total,
            executors_active,
        }
    }

    /// The completed percentage, rounded down (100 only when every task is done).
    #[getter]
    fn percent(&self) -> Option<u64> {
        (self.tasks_total > 0)
            .then(|| self.tasks_completed.min(self.tasks_total) * 100 / self.tasks_total)
    }

    /// One line: `3/4 jobs, 120/200 tasks (60%)`, with failed task attempts if any.
    fn summary(&self) -> String {
        let mut line = format!(
            "{}/{} jobs, {}/{} tasks",
            self.jobs_succeeded, self.jobs_total, self.tasks_completed, self.tasks_total
        );
        if let Some(percent) = self.percent() {
            line += &format!(" ({percent}%)");
        }
        if self.tasks_failed > 0 {
            line += &format!(", {} failed", self.tasks_failed);
        }
        line
    }

    /// JSON-safe data; `from_dict` reads it back.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &Progress::from(self))?)
    }

    /// The progress `to_dict` produced.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let progress: Progress =
            depythonize(data).map_err(|e| invalid_input(format!("invalid Progress: {e}")))?;
        Ok(progress.into())
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyAny>,))> {
        let from_dict = slf.get_type().getattr("from_dict")?;
        Ok((from_dict, (slf.get().to_dict(slf.py())?,)))
    }

    fn __str__(&self) -> String {
        format!("{}: {}", self.app_id, self.summary())
    }

    fn __repr__(&self) -> String {
        format!(
            "Progress(app_id={:?}, jobs={}/{}, tasks={}/{}, fraction={:?})",
            self.app_id,
            self.jobs_succeeded,
            self.jobs_total,
            self.tasks_completed,
            self.tasks_total,
            self.fraction
        )
    }
}

/// A `[namespace:]pod` target, a trailing `*` matching a name prefix, read by the core's one
/// parser (the one `--kill` and `--status` use).
#[pyclass(
    module = "sparkube._core",
    name = "PodRef",
    frozen,
    eq,
    skip_from_py_object
)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyPodRef(PodRef);

#[pymethods]
impl PyPodRef {
    /// Reads `target`; raises `ConfigError` (option `target`) when it is not a pod reference.
    #[staticmethod]
    fn parse(target: &str) -> PyResult<Self> {
        PodRef::parse(target).map(Self).map_err(|e| kill_error(&e))
    }

    /// The namespace, when given (else the client's default).
    #[getter]
    fn namespace(&self) -> Option<&str> {
        self.0.namespace.as_deref()
    }

    /// The pod name, or the prefix for a glob.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether `name` is a prefix (the target ended with `*`).
    #[getter]
    fn glob(&self) -> bool {
        self.0.glob
    }

    /// Whether a pod of this name is selected.
    fn matches(&self, pod: &str) -> bool {
        self.0.matches(pod)
    }

    fn __repr__(&self) -> String {
        format!(
            "PodRef(namespace={:?}, name={:?}, glob={})",
            self.0.namespace, self.0.name, self.0.glob
        )
    }
}

/// The field names serde reads for `T`, straight from its `Deserialize` implementation: the
/// derive hands them to `deserialize_struct`, where this deserializer records them and stops.
pub(crate) fn serde_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Fields(&'static [&'static str]);

    #[derive(Debug)]
    struct Stop;

    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fields recorded")
        }
    }

    impl std::error::Error for Stop {}

    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> serde::Deserializer<'de> for &mut Fields {
        type Error = Stop;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = fields;
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields = Fields(&[]);
    let _ = T::deserialize(&mut fields);
    fields.0
}

/// The field names of the Rust spec a `SparkApp.to_dict()` must produce, by spec type.
#[pyfunction]
pub(crate) fn spec_fields() -> BTreeMap<&'static str, Vec<&'static str>> {
    use sparkube::spec::{Deps, DynamicAllocation, RoleSpec, VolumeSpec};
    BTreeMap::from([
        ("AppSpec", serde_fields::<sparkube::AppSpec>().to_vec()),
        ("RoleSpec", serde_fields::<RoleSpec>().to_vec()),
        (
            "DynamicAllocation",
            serde_fields::<DynamicAllocation>().to_vec(),
        ),
        ("Deps", serde_fields::<Deps>().to_vec()),
        ("VolumeSpec", serde_fields::<VolumeSpec>().to_vec()),
    ])
}

/// Status dicts of a list call, as `AppStatus` objects.
pub(crate) fn statuses(list: Vec<AppStatus>) -> Vec<PyAppStatus> {
    list.into_iter().map(PyAppStatus::from).collect()
}
