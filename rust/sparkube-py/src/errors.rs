//! Mapping of library errors onto the exception classes of `sparkube.errors`.

use pyo3::call::PyCallArgs;
use pyo3::prelude::*;
use pythonize::pythonize;
use sparkube::{AppStatus, ClientError, KillError, LogError, SubmitError, TrackError};

/// Instantiates `sparkube.errors.<class>` with `args` as a Python exception.
pub(crate) fn raise<'py, A>(py: Python<'py>, class: &str, args: A) -> PyErr
where
    A: PyCallArgs<'py>,
{
    let made = py
        .import("sparkube.errors")
        .and_then(|module| module.getattr(class))
        .and_then(|cls| cls.call1(args));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// A status as a Python dict (`None` if it cannot be converted, which never hides the error).
fn status_object<'py>(py: Python<'py>, status: &AppStatus) -> Option<Bound<'py, PyAny>> {
    pythonize(py, status).ok()
}

fn api_error(py: Python<'_>, message: String, code: Option<u16>, reason: Option<&str>) -> PyErr {
    raise(py, "KubernetesApiError", (message, code, reason))
}

/// A configuration error: bad input, refused before anything was sent.
pub(crate) fn config_error(py: Python<'_>, err: &sparkube::Error) -> PyErr {
    raise(py, "ConfigError", (err.to_string(), err.option()))
}

/// A connection that could not be set up is a configuration problem of the caller's; `option`
/// names the connection option at fault (`kubeconfig`, `context`, `master`, ...).
pub(crate) fn client_error(py: Python<'_>, err: &ClientError) -> PyErr {
    raise(py, "ConfigError", (err.to_string(), err.option()))
}

/// Submission failures of an API call are `KubernetesApiError`s (with the HTTP status and
/// reason when the API server answered, without when it could not be reached), as for every
/// other call; other ones are `SubmissionError`s.
pub(crate) fn submit_error(py: Python<'_>, err: &SubmitError) -> PyErr {
    match (err.status_code(), err.api_error()) {
        (Some(code), _) => api_error(py, err.to_string(), Some(code), err.reason()),
        (None, Some(_)) => api_error(py, err.to_string(), None, None),
        (None, None) => raise(py, "SubmissionError", (err.to_string(),)),
    }
}

/// Tracking failures: the app's own outcome, a timeout, or an API error.
pub(crate) fn track_error(py: Python<'_>, err: &TrackError) -> PyErr {
    let message = err.to_string();
    match err {
        TrackError::AppFailed { status } => {
            raise(py, "AppFailed", (message, status_object(py, status)))
        }
        TrackError::StartupTimeout { status, .. } => {
            raise(py, "StartupTimeout", (message, status_object(py, status)))
        }
        TrackError::Timeout { status, .. } => {
            raise(py, "WaitTimeout", (message, status_object(py, status)))
        }
        other => {
            let reason = match other {
                TrackError::NotFound { .. } => Some("NotFound"),
                TrackError::Api(api) => api.reason(),
                _ => None,
            };
            api_error(py, message, other.status_code(), reason)
        }
    }
}

/// Kill failures.
pub(crate) fn kill_error(py: Python<'_>, err: &KillError) -> PyErr {
    match err.status_code() {
        Some(code) => api_error(py, err.to_string(), Some(code), None),
        None => raise(py, "SparkubeError", (err.to_string(),)),
    }
}

/// Log failures.
pub(crate) fn log_error(py: Python<'_>, err: &LogError) -> PyErr {
    api_error(py, err.to_string(), err.status_code(), None)
}
