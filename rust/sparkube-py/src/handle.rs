//! `sparkube._core.AppHandle` and the iterators it hands out (status updates, log lines).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pythonize::{depythonize, pythonize};
use sparkube::{
    AppHandle, AppStatus, AppWatch, Client, KillOptions, LogOptions, LogStream, WaitOptions,
};
use tokio::sync::Mutex;

use crate::awaitable::awaitable;
use crate::client::enter_runtime;
use crate::errors::{kill_error, log_error, raise, track_error};
use crate::runtime::block_on;

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
}

impl PyAppHandle {
    pub(crate) fn new(client: Client, handle: AppHandle) -> Self {
        Self { client, handle }
    }
}

fn wait_options(py: Python<'_>, options: Option<&Bound<'_, PyAny>>) -> PyResult<WaitOptions> {
    match options {
        Some(obj) if !obj.is_none() => depythonize(obj)
            .map_err(|e| raise(py, "ConfigError", (format!("invalid wait options: {e}"),))),
        _ => Ok(WaitOptions::default()),
    }
}

fn log_options(py: Python<'_>, options: Option<&Bound<'_, PyAny>>) -> PyResult<LogOptions> {
    match options {
        Some(obj) if !obj.is_none() => depythonize(obj)
            .map_err(|e| raise(py, "ConfigError", (format!("invalid log options: {e}"),))),
        _ => Ok(LogOptions::default()),
    }
}

#[pymethods]
impl PyAppHandle {
    /// The Spark application id (`spark-…`).
    #[getter]
    fn app_id(&self) -> &str {
        &self.handle.app_id
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

    /// The current status (one GET).
    fn status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let status = block_on(
            py,
            self.client
                .status(&self.handle.namespace, &self.handle.driver_pod),
        )?
        .map_err(|e| track_error(py, &e))?;
        Ok(pythonize(py, &status)?.unbind())
    }

    /// `status` as an awaitable.
    fn status_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let status = client.status(&handle.namespace, &handle.driver_pod).await;
            move |py: Python<'_>| {
                let status = status.map_err(|e| track_error(py, &e))?;
                Ok(pythonize(py, &status)?.unbind())
            }
        })
    }

    /// The progress from the driver's Spark UI (two GETs through the API server's service
    /// proxy), or `None` while the UI cannot answer.
    fn progress(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let progress =
            block_on(py, self.client.progress(&self.handle))?.map_err(|e| track_error(py, &e))?;
        progress
            .map(|p| Ok(pythonize(py, &p)?.unbind()))
            .transpose()
    }

    /// `progress` as an awaitable.
    fn progress_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let progress = client.progress(&handle).await;
            move |py: Python<'_>| {
                let progress = progress.map_err(|e| track_error(py, &e))?;
                progress
                    .map(|p| Ok::<_, PyErr>(pythonize(py, &p)?.unbind()))
                    .transpose()
            }
        })
    }

    /// Waits on the shared watch until the app ends; returns its final status if it succeeded,
    /// raises `AppFailed` (with the status and the driver's last log lines) if not.
    #[pyo3(signature = (options=None))]
    fn wait(&self, py: Python<'_>, options: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let options = wait_options(py, options)?;
        let status = block_on(py, self.client.wait(&self.handle, &options))?
            .and_then(AppStatus::ensure_success)
            .map_err(|e| track_error(py, &e))?;
        Ok(pythonize(py, &status)?.unbind())
    }

    /// `wait` as an awaitable.
    #[pyo3(signature = (options=None))]
    fn wait_async<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = wait_options(py, options)?;
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let status = client
                .wait(&handle, &options)
                .await
                .and_then(AppStatus::ensure_success);
            move |py: Python<'_>| {
                let status = status.map_err(|e| track_error(py, &e))?;
                Ok(pythonize(py, &status)?.unbind())
            }
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
    #[pyo3(signature = (options=None))]
    fn logs(&self, py: Python<'_>, options: Option<&Bound<'_, PyAny>>) -> PyResult<LogLines> {
        let options = log_options(py, options)?;
        let client = self.client.clone();
        let handle = self.handle.clone();
        let stream = block_on(py, async move {
            client
                .logs(Some(&handle.namespace), &handle.driver_pod, &options)
                .await
        })?
        .map_err(|e| log_error(py, &e))?;
        Ok(LogLines {
            stream: Arc::new(Mutex::new(stream)),
        })
    }

    /// `logs` as an awaitable that gives an async iterator.
    #[pyo3(signature = (options=None))]
    fn logs_async<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = log_options(py, options)?;
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let stream = client
                .logs(Some(&handle.namespace), &handle.driver_pod, &options)
                .await;
            move |py: Python<'_>| {
                let stream = stream.map_err(|e| log_error(py, &e))?;
                Ok(LogLines {
                    stream: Arc::new(Mutex::new(stream)),
                })
            }
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
        .map_err(|e| kill_error(py, &e))
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
            move |py: Python<'_>| killed.map_err(|e| kill_error(py, &e))
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

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let watch = self.watch.clone();
        let next = block_on(py, async move { watch.lock().await.next().await })?;
        next.map(|status| Ok(pythonize(py, &status)?.unbind()))
            .transpose()
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let watch = self.watch.clone();
        awaitable(py, async move {
            let next = watch.lock().await.next().await;
            move |py: Python<'_>| match next {
                Some(status) => Ok(pythonize(py, &status)?.unbind()),
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
            Some(Err(e)) => Err(log_error(py, &e)),
            None => Ok(None),
        }
    }

    /// The lines that have arrived (at least one, at most `LOG_BATCH`), empty at the end: one
    /// awaitable per batch, as an asyncio round trip costs far more than a line.
    fn next_batch_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        awaitable(py, async move {
            let next = stream.lock().await.next_lines(LOG_BATCH).await;
            move |py: Python<'_>| match next {
                Some(Ok(lines)) => Ok(lines),
                Some(Err(e)) => Err(log_error(py, &e)),
                None => Ok(Vec::new()),
            }
        })
    }
}
