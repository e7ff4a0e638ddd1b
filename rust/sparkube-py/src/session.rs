//! `sparkube._core.Session`: an open Spark Connect session (server driver and local forward).

use std::path::Path;
use std::sync::Mutex;

use pyo3::prelude::*;
use pythonize::depythonize;
use sparkube::session::{ForwardStats, SessionError};
use sparkube::{AppSpec, Client, Session, SessionOptions, SubmitRequest};

use crate::awaitable::awaitable;
use crate::errors::{config_error, invalid_input, kill_error, submit_error, track_error};
use crate::handle::PyAppHandle;
use crate::runtime::block_on;

pyo3::import_exception!(sparkube.errors, ConfigError);
pyo3::import_exception!(sparkube.errors, StartupTimeout);

/// Session failures as the exceptions batch apps raise: a server that ended is `AppFailed`
/// (with its reason and log tail), one that never answered a `StartupTimeout`, a name taken by
/// another image or a local port in use a `ConfigError` naming the option.
pub(crate) fn session_error(err: &SessionError) -> PyErr {
    match err {
        SessionError::Config(e) => config_error(e),
        SessionError::Submit(e) => submit_error(e),
        SessionError::Track(e) => track_error(e),
        SessionError::Kill(e) => kill_error(e),
        SessionError::ImageMismatch { .. } => {
            ConfigError::new_err((err.to_string(), "image".to_owned()))
        }
        SessionError::Listen { .. } => {
            ConfigError::new_err((err.to_string(), "local_port".to_owned()))
        }
        SessionError::NotReady { status, .. } => StartupTimeout::new_err((
            err.to_string(),
            crate::types::PyAppStatus::from((**status).clone()),
        )),
    }
}

/// The request of a session from a `SparkApp.to_dict()` spec (see `session_spec`).
pub(crate) fn session_request(
    app: &Bound<'_, PyAny>,
    default_namespace: &str,
    base_dir: Option<&Path>,
) -> PyResult<SubmitRequest> {
    let spec: AppSpec =
        depythonize(app).map_err(|e| invalid_input(format!("invalid SparkApp: {e}")))?;
    let mut request = app
        .py()
        .detach(|| sparkube::local::resolve_session(spec, base_dir))
        .map_err(|e| config_error(&e))?;
    request
        .conf
        .set_if_missing("spark.kubernetes.namespace", default_namespace);
    request.log_notices();
    Ok(request)
}

/// An open session (see `sparkube.Connection`).
#[pyclass(module = "sparkube._core", name = "Session", frozen)]
pub(crate) struct PySession {
    client: Client,
    name: String,
    url: String,
    local_port: u16,
    attached: bool,
    handle: sparkube::AppHandle,
    /// The forward, until closed or detached.
    open: Mutex<Option<Session>>,
}

impl PySession {
    pub(crate) fn new(client: Client, session: Session) -> Self {
        Self {
            client,
            name: session.name.clone(),
            url: session.url(),
            local_port: session.local_addr().port(),
            attached: session.attached,
            handle: session.handle.clone(),
            open: Mutex::new(Some(session)),
        }
    }

    fn take(&self) -> Option<Session> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Opens a session; shared by `Client.connect` and `Client.connect_async`.
pub(crate) async fn open(
    client: Client,
    request: SubmitRequest,
    options: SessionOptions,
) -> Result<PySession, SessionError> {
    let session = client.open_session(&request, &options).await?;
    Ok(PySession::new(client, session))
}

#[pymethods]
impl PySession {
    /// The session's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// `sc://127.0.0.1:PORT`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The local port of the forward.
    #[getter]
    fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Whether the server already ran when this connection was opened.
    #[getter]
    fn attached(&self) -> bool {
        self.attached
    }

    /// Whether the forward is still open.
    #[getter]
    fn is_open(&self) -> bool {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    /// The server's driver.
    fn handle(&self) -> PyAppHandle {
        PyAppHandle::new(self.client.clone(), self.handle.clone())
    }

    /// `(connections accepted, forwards failed)` of the local forward.
    fn forward_stats(&self) -> (u64, u64) {
        let stats = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(Session::forward_stats)
            .unwrap_or_default();
        let ForwardStats {
            connections,
            failures,
        } = stats;
        (connections, failures)
    }

    /// Stops the forward and deletes the server with everything it owns; with `wait`, returns
    /// once all of it is gone. Returns whether the server still existed.
    #[pyo3(signature = (wait=false))]
    fn close(&self, py: Python<'_>, wait: bool) -> PyResult<bool> {
        drop(self.take());
        block_on(py, self.client.close_session(&self.handle, wait))?.map_err(|e| session_error(&e))
    }

    /// `close` as an awaitable.
    #[pyo3(signature = (wait=false))]
    fn close_async<'py>(&self, py: Python<'py>, wait: bool) -> PyResult<Bound<'py, PyAny>> {
        drop(self.take());
        let client = self.client.clone();
        let handle = self.handle.clone();
        awaitable(py, async move {
            let closed = client.close_session(&handle, wait).await;
            move |_: Python<'_>| closed.map_err(|e| session_error(&e))
        })
    }

    /// Stops the forward and leaves the server running (until its idle timeout).
    fn detach(&self) {
        drop(self.take());
    }

    fn __repr__(&self) -> String {
        format!(
            "Session(name={:?}, url={:?}, driver_pod={:?})",
            self.name, self.url, self.handle.driver_pod
        )
    }
}
