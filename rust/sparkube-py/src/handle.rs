//! `sparkube._core.AppHandle` and the iterators it hands out (status updates, log lines).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use sparkube::conf::{keys, parse_bytes_as_mib};
use sparkube::progress::Snapshot;
use sparkube::{
    AppHandle, AppStatus, AppWatch, Client, KillOptions, LogOptions, LogStream, Progress,
    SparkConf, TrackError, WaitOptions,
};
use tokio::sync::Mutex;

use crate::awaitable::awaitable;
use crate::client::enter_runtime;
use crate::errors::{kill_error, log_error, track_error, upload_error};
use crate::report::PyReport;
use crate::runtime::block_on;
use crate::types::{PyAppStatus, PyProgress};

/// Most log lines one `next_batch_async` hands to Python.
const LOG_BATCH: usize = 1024;

/// Seconds from Python as a duration; negative or non-finite values are refused.
pub(crate) fn seconds(value: Option<f64>) -> PyResult<Option<Duration>> {
    value
        .map(|s| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| PyValueError::new_err(format!("invalid number of seconds: {s}")))
        })
        .transpose()
}

/// A submitted or attached application (see `sparkube.SparkAppHandle`).
#[pyclass(module = "sparkube._core", name = "AppHandle", frozen)]
pub(crate) struct PyAppHandle {
    client: Client,
    handle: AppHandle,
    /// The conf whose upload path holds `uploads`.
    upload_conf: SparkConf,
    /// The objects the submission uploaded (not those it found already there).
    uploads: Vec<String>,
    /// `spark.executor.memory` in bytes, when the conf was submitted from here.
    executor_memory: Option<u64>,
    /// What the driver's UI listed at the last progress read, for `report`.
    snapshot: Arc<std::sync::Mutex<Option<Snapshot>>>,
}

impl PyAppHandle {
    pub(crate) fn new(client: Client, handle: AppHandle) -> Self {
        Self {
            client,
            handle,
            upload_conf: SparkConf::default(),
            uploads: Vec::new(),
            executor_memory: None,
            snapshot: Arc::default(),
        }
    }

    /// The handle of a submission that uploaded `uploads` to `conf`'s upload path.
    pub(crate) fn with_uploads(mut self, conf: SparkConf, uploads: Vec<String>) -> Self {
        let memory = conf.get(keys::EXECUTOR_MEMORY).unwrap_or("1g");
        self.executor_memory = parse_bytes_as_mib(memory).ok().map(|mib| mib << 20);
        self.upload_conf = conf;
        self.uploads = uploads;
        self
    }
}

/// Keeps the snapshot of a progress read that got one; hands back the progress.
fn keep_snapshot(
    slot: &std::sync::Mutex<Option<Snapshot>>,
    read: Result<Option<(Progress, Snapshot)>, TrackError>,
) -> Result<Option<Progress>, TrackError> {
    Ok(read?.map(|(progress, snapshot)| {
        if let Ok(mut slot) = slot.lock()
            && slot
                .as_ref()
                .is_none_or(|previous| snapshot.replaces(previous))
        {
            *slot = Some(snapshot);
        }
        progress
    }))
}

/// A copy of the last snapshot kept.
fn last_snapshot(slot: &std::sync::Mutex<Option<Snapshot>>) -> Option<Snapshot> {
    slot.lock().ok().and_then(|s| s.clone())
}

/// `wait`'s keyword arguments as the library's options.
fn wait_options(
    timeout: Option<f64>,
    startup_timeout: Option<f64>,
    kill_on_timeout: bool,
    kill_grace_period: Option<f64>,
) -> PyResult<WaitOptions> {
    Ok(WaitOptions {
        timeout: seconds(timeout)?,
        startup_timeout: seconds(startup_timeout)?,
        kill_on_timeout,
        kill_grace_period: seconds(kill_grace_period)?,
        ..WaitOptions::default()
    })
}

/// `logs`'s keyword arguments as the library's options.
fn log_options(
    follow: bool,
    since: Option<f64>,
    tail: Option<u64>,
    executor: Option<String>,
    container: Option<String>,
    timestamps: bool,
) -> PyResult<LogOptions> {
    Ok(LogOptions {
        follow,
        since: seconds(since)?,
        tail,
        executor,
        container,
        timestamps,
        ..LogOptions::default()
    })
}

#[pymethods]
impl PyAppHandle {
    /// The Spark application id (`spark-…`).
    #[getter]
    fn app_id(&self) -> &str {
        &self.handle.app_id
    }

    /// The URIs of the objects this submission uploaded (not those it found already there).
    #[getter]
    fn uploads(&self) -> Vec<String> {
        self.uploads.clone()
    }

    /// Removes the objects this submission uploaded (`delete_uploads=True` once the app has
    /// ended); objects that were already there, and may serve other apps, stay.
    fn remove_uploads(&self, py: Python<'_>) -> PyResult<()> {
        if self.uploads.is_empty() {
            return Ok(());
        }
        block_on(
            py,
            sparkube::upload::remove_uploads(&self.upload_conf, &self.uploads),
        )?
        .map_err(|e| upload_error(&e))
    }

    /// `remove_uploads` as an awaitable.
    fn remove_uploads_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let conf = self.upload_conf.clone();
        let uploads = self.uploads.clone();
        awaitable(py, async move {
            let removed = match uploads.is_empty() {
                true => Ok(()),
                false => sparkube::upload::remove_uploads(&conf, &uploads).await,
            };
            move |_: Python<'_>| removed.map_err(|e| upload_error(&e))
        })
    }

    /// The driver pod's namespace.
    #[getter]
    fn namespace(&self) -> &str {
        &self.handle.namespace
    }

    /// The driver pod's name.
    #[getter]
    fn driver_pod(&self) -> &str {
        &self.handle.driver_pod
    }

    /// The `sparkube.io/submission-id` of the driver, when it has one.
    #[getter]
    fn submission_id(&self) -> Option<&str> {
        self.handle.submission_id.as_deref()
    }

    /// Whether submitting found this driver already running and adopted it.
    #[getter]
    fn adopted(&self) -> bool {
        self.handle.adopted
    }

    /// The driver's Spark UI through the API server's service proxy (the cluster URL and the
    /// driver service's proxy path), or `None` when the service is not known from the pod.
    #[getter]
    fn spark_ui_url(&self) -> Option<String> {
        let ui = self.handle.spark_ui.as_ref()?;
        Some(format!(
            "{}{}",
            self.client.cluster_url().trim_end_matches('/'),
            ui.proxy_path(&self.handle.namespace)
        ))
    }

    /// The current status (one GET).
    fn status(&self, py: Python<'_>) -> PyResult<PyAppStatus> {
        block_on(
            py,
            self.client
                .status(&self.handle.namespace, &self.handle.driver_pod),
        )?
        .map(PyAppStatus::from)
        .map_err(|e| track_error(&e))
    }

    /// `status` as an awaitable.
    fn status_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let status = client.status(&handle.namespace, &handle.driver_pod).await;
            move |_: Python<'_>| status.map(PyAppStatus::from).map_err(|e| track_error(&e))
        })
    }

    /// The progress from the driver's Spark UI (two GETs through the API server's service
    /// proxy), or `None` while the UI cannot answer.
    /// What the UI listed is kept for `report`.
    fn progress(&self, py: Python<'_>) -> PyResult<Option<PyProgress>> {
        let read = block_on(py, self.client.progress_snapshot(&self.handle))?;
        let progress = keep_snapshot(&self.snapshot, read).map_err(|e| track_error(&e))?;
        Ok(progress.map(PyProgress::from))
    }

    /// `progress` as an awaitable.
    fn progress_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let handle = self.handle.clone();
        let snapshot = self.snapshot.clone();
        awaitable(py, async move {
            let progress = keep_snapshot(&snapshot, client.progress_snapshot(&handle).await);
            move |_: Python<'_>| {
                progress
                    .map(|p| p.map(PyProgress::from))
                    .map_err(|e| track_error(&e))
            }
        })
    }

    /// The right-sizing report once the app has ended: from the History Server at
    /// `history_server_url` (waiting up to `wait` seconds for it to list the app), else, or
    /// when it does not answer, from the last progress read (partial). None when neither has
    /// figures.
    #[pyo3(signature = (history_server_url=None, *, wait=None))]
    fn report(
        &self,
        py: Python<'_>,
        history_server_url: Option<String>,
        wait: Option<f64>,
    ) -> PyResult<Option<PyReport>> {
        let wait = seconds(wait)?.unwrap_or(sparkube::report::HISTORY_WAIT);
        let snapshot = last_snapshot(&self.snapshot);
        let report = block_on(
            py,
            sparkube::report::report(
                &self.handle.app_id,
                history_server_url.as_deref(),
                snapshot.as_ref(),
                self.executor_memory,
                wait,
            ),
        )?;
        Ok(report.map(PyReport::from))
    }

    /// `report` as an awaitable.
    #[pyo3(signature = (history_server_url=None, *, wait=None))]
    fn report_async<'py>(
        &self,
        py: Python<'py>,
        history_server_url: Option<String>,
        wait: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let wait = seconds(wait)?.unwrap_or(sparkube::report::HISTORY_WAIT);
        let snapshot = last_snapshot(&self.snapshot);
        let app_id = self.handle.app_id.clone();
        let memory = self.executor_memory;
        awaitable(py, async move {
            let report = sparkube::report::report(
                &app_id,
                history_server_url.as_deref(),
                snapshot.as_ref(),
                memory,
                wait,
            )
            .await;
            move |_: Python<'_>| Ok(report.map(PyReport::from))
        })
    }

    /// Waits on the shared watch until the app ends; returns its final status if it succeeded,
    /// raises `AppFailed` (with the status and the driver's last log lines) if not.
    #[pyo3(signature = (*, timeout=None, startup_timeout=None, kill_on_timeout=false,
        kill_grace_period=None))]
    fn wait(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        startup_timeout: Option<f64>,
        kill_on_timeout: bool,
        kill_grace_period: Option<f64>,
    ) -> PyResult<PyAppStatus> {
        let options = wait_options(timeout, startup_timeout, kill_on_timeout, kill_grace_period)?;
        block_on(py, self.client.wait(&self.handle, &options))?
            .and_then(AppStatus::ensure_success)
            .map(PyAppStatus::from)
            .map_err(|e| track_error(&e))
    }

    /// `wait` as an awaitable.
    #[pyo3(signature = (*, timeout=None, startup_timeout=None, kill_on_timeout=false,
        kill_grace_period=None))]
    fn wait_async<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        startup_timeout: Option<f64>,
        kill_on_timeout: bool,
        kill_grace_period: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = wait_options(timeout, startup_timeout, kill_on_timeout, kill_grace_period)?;
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let status = client
                .wait(&handle, &options)
                .await
                .and_then(AppStatus::ensure_success);
            move |_: Python<'_>| status.map(PyAppStatus::from).map_err(|e| track_error(&e))
        })
    }

    /// Every status change from the shared watch, ending with the final status.
    fn updates(&self) -> StatusUpdates {
        let _runtime = enter_runtime();
        StatusUpdates {
            watch: Arc::new(Mutex::new(self.client.watch_app(&self.handle))),
        }
    }

    /// The driver log (or an executor's) as lines; resumes after disconnects when following.
    #[pyo3(signature = (*, follow=false, since=None, tail=None, executor=None, container=None,
        timestamps=false))]
    #[allow(clippy::too_many_arguments)]
    fn logs(
        &self,
        py: Python<'_>,
        follow: bool,
        since: Option<f64>,
        tail: Option<u64>,
        executor: Option<String>,
        container: Option<String>,
        timestamps: bool,
    ) -> PyResult<LogLines> {
        let options = log_options(follow, since, tail, executor, container, timestamps)?;
        let client = self.client.clone();
        let handle = self.handle.clone();
        let stream = block_on(py, async move {
            client
                .logs(Some(&handle.namespace), &handle.driver_pod, &options)
                .await
        })?
        .map_err(|e| log_error(&e))?;
        Ok(LogLines {
            stream: Arc::new(Mutex::new(stream)),
        })
    }

    /// `logs` as an awaitable that gives an async iterator.
    #[pyo3(signature = (*, follow=false, since=None, tail=None, executor=None, container=None,
        timestamps=false))]
    #[allow(clippy::too_many_arguments)]
    fn logs_async<'py>(
        &self,
        py: Python<'py>,
        follow: bool,
        since: Option<f64>,
        tail: Option<u64>,
        executor: Option<String>,
        container: Option<String>,
        timestamps: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = log_options(follow, since, tail, executor, container, timestamps)?;
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let stream = client
                .logs(Some(&handle.namespace), &handle.driver_pod, &options)
                .await;
            move |_: Python<'_>| {
                let stream = stream.map_err(|e| log_error(&e))?;
                Ok(LogLines {
                    stream: Arc::new(Mutex::new(stream)),
                })
            }
        })
    }

    /// An annotation of the driver pod, None when absent (an awaitable). Followers of the app
    /// (the Airflow trigger) keep state there that must outlive their process.
    fn annotation_async<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let value = client
                .driver_annotation(&handle.namespace, &handle.driver_pod, &key)
                .await;
            move |_: Python<'_>| value.map_err(|e| track_error(&e))
        })
    }

    /// Sets an annotation of the driver pod (`patch` on pods); resolves to whether the pod
    /// was there (a pod that is gone is not created again).
    fn annotate_async<'py>(
        &self,
        py: Python<'py>,
        key: String,
        value: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let there = client
                .annotate_driver(&handle.namespace, &handle.driver_pod, &key, &value)
                .await;
            move |_: Python<'_>| there.map_err(|e| track_error(&e))
        })
    }

    /// Deletes the driver pod (owner garbage collection removes the rest); returns whether it
    /// existed. With `wait`, returns once every object of the app is gone.
    #[pyo3(signature = (grace_period=None, wait=false))]
    fn kill(&self, py: Python<'_>, grace_period: Option<f64>, wait: bool) -> PyResult<bool> {
        let options = KillOptions {
            grace_period: seconds(grace_period)?,
            wait,
            ..KillOptions::default()
        };
        block_on(
            py,
            self.client.kill(
                Some(&self.handle.namespace),
                &self.handle.driver_pod,
                &options,
            ),
        )?
        .map_err(|e| kill_error(&e))
    }

    /// `kill` as an awaitable.
    #[pyo3(signature = (grace_period=None, wait=false))]
    fn kill_async<'py>(
        &self,
        py: Python<'py>,
        grace_period: Option<f64>,
        wait: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = KillOptions {
            grace_period: seconds(grace_period)?,
            wait,
            ..KillOptions::default()
        };
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let killed = client
                .kill(Some(&handle.namespace), &handle.driver_pod, &options)
                .await;
            move |_: Python<'_>| killed.map_err(|e| kill_error(&e))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "AppHandle(app_id={:?}, namespace={:?}, driver_pod={:?})",
            self.handle.app_id, self.handle.namespace, self.handle.driver_pod
        )
    }
}

/// Status changes of one app, as a blocking and an async iterator.
#[pyclass(module = "sparkube._core", frozen)]
pub(crate) struct StatusUpdates {
    watch: Arc<Mutex<AppWatch>>,
}

#[pymethods]
impl StatusUpdates {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyAppStatus>> {
        let watch = self.watch.clone();
        let next = block_on(py, async move { watch.lock().await.next().await })?;
        Ok(next.map(PyAppStatus::from))
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let watch = self.watch.clone();
        awaitable(py, async move {
            let next = watch.lock().await.next().await;
            move |_: Python<'_>| match next {
                Some(status) => Ok(PyAppStatus::from(status)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

/// Log lines, as a blocking and an async iterator.
#[pyclass(module = "sparkube._core", frozen)]
pub(crate) struct LogLines {
    stream: Arc<Mutex<LogStream>>,
}

#[pymethods]
impl LogLines {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let stream = self.stream.clone();
        match block_on(py, async move { stream.lock().await.next_line().await })? {
            Some(Ok(line)) => Ok(Some(line)),
            Some(Err(e)) => Err(log_error(&e)),
            None => Ok(None),
        }
    }

    /// The lines that have arrived (at least one, at most `LOG_BATCH`), empty at the end: one
    /// awaitable per batch, as an asyncio round trip costs far more than a line.
    fn next_batch_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        awaitable(py, async move {
            let next = stream.lock().await.next_lines(LOG_BATCH).await;
            move |_: Python<'_>| match next {
                Some(Ok(lines)) => Ok(lines),
                Some(Err(e)) => Err(log_error(&e)),
                None => Ok(Vec::new()),
            }
        })
    }
}
