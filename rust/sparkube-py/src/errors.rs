//! Library errors as the exception classes of `sparkube.errors`, bound once each with
//! `import_exception!`: Python code catches the same types whatever layer raised them, and a
//! class renamed in Python fails the build of every use here rather than a lookup at runtime.

use pyo3::prelude::*;
use sparkube::upload::{SendError, UploadError};
use sparkube::{ClientError, KillError, LogError, PreflightError, SubmitError, TrackError};

use crate::types::PyAppStatus;

pyo3::import_exception!(sparkube.errors, SparkubeError);
pyo3::import_exception!(sparkube.errors, ConfigError);
pyo3::import_exception!(sparkube.errors, SubmissionError);
pyo3::import_exception!(sparkube.errors, KubernetesApiError);
pyo3::import_exception!(sparkube.errors, AppFailed);
pyo3::import_exception!(sparkube.errors, StartupTimeout);
pyo3::import_exception!(sparkube.errors, WaitTimeout);

/// A `KubernetesApiError`: the HTTP status and `Status.reason` when the API server answered.
fn api_error(message: String, code: Option<u16>, reason: Option<&str>) -> PyErr {
    KubernetesApiError::new_err((message, code, reason.map(str::to_owned)))
}

/// A configuration error: bad input, refused before anything was sent; `option` names the
/// spark-submit flag, conf key or spec field at fault.
pub(crate) fn config_error(err: &sparkube::Error) -> PyErr {
    ConfigError::new_err((err.to_string(), err.option().to_owned()))
}

/// A `ConfigError` without an option to name (a value of the wrong shape from Python).
pub(crate) fn invalid_input(message: String) -> PyErr {
    ConfigError::new_err((message,))
}

/// A connection that could not be set up is a configuration problem of the caller's; `option`
/// names the connection option at fault (`kubeconfig`, `context`, `master`, ...).
pub(crate) fn client_error(err: &ClientError) -> PyErr {
    ConfigError::new_err((err.to_string(), err.option()))
}

/// Submission failures of an API call are `KubernetesApiError`s (with the HTTP status and
/// reason when the API server answered, without when it could not be reached), as for every
/// other call; other ones are `SubmissionError`s.
pub(crate) fn submit_error(err: &SubmitError) -> PyErr {
    match (err.status_code(), err.api_error()) {
        (Some(code), _) => api_error(err.to_string(), Some(code), err.reason()),
        (None, Some(_)) => api_error(err.to_string(), None, None),
        (None, None) => SubmissionError::new_err((err.to_string(),)),
    }
}

/// Upload failures: a missing bucket, refused credentials, a bad upload conf or an unreadable
/// file are bad input (`ConfigError` naming the conf key or option); a store that fails
/// while sending is a `SubmissionError`.
pub(crate) fn upload_error(err: &UploadError) -> PyErr {
    match err {
        UploadError::Config { option, .. } | UploadError::Read { option, .. } => {
            ConfigError::new_err((err.to_string(), option.clone()))
        }
        UploadError::NoBucket { .. } | UploadError::Refused { .. } => ConfigError::new_err((
            err.to_string(),
            sparkube::conf::keys::FILE_UPLOAD_PATH.to_owned(),
        )),
        UploadError::Store { .. } => SubmissionError::new_err((err.to_string(),)),
    }
}

/// A failure of `Client::submit_request`, by its step.
pub(crate) fn send_error(err: &SendError) -> PyErr {
    match err {
        SendError::Upload(e) => upload_error(e),
        SendError::Build(e) => config_error(e),
        SendError::Submit(e) => submit_error(e),
    }
}

/// Tracking failures: the app's own outcome (with its last status), a timeout, or an API
/// error.
pub(crate) fn track_error(err: &TrackError) -> PyErr {
    let message = err.to_string();
    let status = |s: &sparkube::AppStatus| PyAppStatus::from(s.clone());
    match err {
        TrackError::AppFailed { status: s } => AppFailed::new_err((message, status(s))),
        TrackError::StartupTimeout { status: s, .. } => {
            StartupTimeout::new_err((message, status(s)))
        }
        TrackError::Timeout { status: s, .. } => WaitTimeout::new_err((message, status(s))),
        other => {
            let reason = match other {
                TrackError::NotFound { .. } => Some("NotFound"),
                TrackError::Api(api) => api.reason(),
                _ => None,
            };
            api_error(message, other.status_code(), reason)
        }
    }
}

/// Kill failures: a target that is not `[ns:]pod[*]` is bad input, a failed API call a
/// `KubernetesApiError`, objects left after waiting a `SparkubeError`.
pub(crate) fn kill_error(err: &KillError) -> PyErr {
    match err {
        KillError::InvalidTarget { .. } => {
            ConfigError::new_err((err.to_string(), "target".to_owned()))
        }
        KillError::Api(api) => api_error(err.to_string(), api.status_code(), api.reason()),
        KillError::WaitTimeout { .. } => SparkubeError::new_err((err.to_string(),)),
    }
}

/// Log failures.
pub(crate) fn log_error(err: &LogError) -> PyErr {
    api_error(err.to_string(), err.status_code(), None)
}

/// A preflight that could not be done: a conf that cannot size the executors is a
/// `ConfigError`, an API failure (not a refusal, which is a failed check) a `KubernetesApiError`.
pub(crate) fn preflight_error(err: &PreflightError) -> PyErr {
    match err {
        PreflightError::Invalid(e) => config_error(e),
        PreflightError::NoDriver(m) => SubmissionError::new_err((m.clone(),)),
        PreflightError::Api(e) => api_error(err.to_string(), e.status_code(), e.reason()),
    }
}
