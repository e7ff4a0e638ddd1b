//! `render_args`, `render_spec` and `to_yaml`: objects a submission would create, as data;
//! `is_secret_key`: which conf keys they show redacted.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pythonize::{depythonize, pythonize};
use sparkube::{AppSpec, Ids, SubmitRequest};

use crate::errors::config_error;

/// Fixed ids from Python (for reproducible output), else the ids a submission would get.
fn ids_for(ids: Option<&Bound<'_, PyAny>>, request: &SubmitRequest) -> PyResult<Ids> {
    match ids {
        Some(obj) if !obj.is_none() => {
            depythonize(obj).map_err(|e| PyValueError::new_err(format!("invalid ids: {e}")))
        }
        _ => Ok(Ids::for_submission(request.submission_id.as_deref())),
    }
}

/// The objects of `request`, secrets redacted unless `show_secrets`; logs its warnings.
fn render_request(
    py: Python<'_>,
    request: &SubmitRequest,
    ids: Option<&Bound<'_, PyAny>>,
    show_secrets: bool,
) -> PyResult<Py<PyAny>> {
    let ids = ids_for(ids, request)?;
    request.log_warnings();
    let resources = sparkube::build(request, &ids).map_err(|e| config_error(py, &e))?;
    let mut objects = resources.to_json().map_err(|e| {
        PyValueError::new_err(format!("the objects cannot be written as JSON: {e}"))
    })?;
    if !show_secrets {
        sparkube::redact::redact_objects(&mut objects, &request.conf);
    }
    Ok(pythonize(py, &objects)?.unbind())
}

/// Objects for a spark-submit argument list, in API call order; secret values are redacted
/// unless `show_secrets`.
#[pyfunction]
#[pyo3(signature = (args, ids=None, show_secrets=false))]
pub(crate) fn render_args(
    py: Python<'_>,
    args: Vec<String>,
    ids: Option<&Bound<'_, PyAny>>,
    show_secrets: bool,
) -> PyResult<Py<PyAny>> {
    let request = sparkube::parse_submit_args(&args)
        .and_then(sparkube::local::resolve_args)
        .map_err(|e| config_error(py, &e))?;
    render_request(py, &request, ids, show_secrets)
}

/// Objects for a `SparkApp` spec (as produced by `SparkApp.to_dict()`), in API call order;
/// secret values are redacted unless `show_secrets`.
#[pyfunction]
#[pyo3(signature = (spec, ids=None, show_secrets=false))]
pub(crate) fn render_spec(
    py: Python<'_>,
    spec: &Bound<'_, PyAny>,
    ids: Option<&Bound<'_, PyAny>>,
    show_secrets: bool,
) -> PyResult<Py<PyAny>> {
    let spec: AppSpec = depythonize(spec).map_err(|e| {
        crate::errors::raise(py, "ConfigError", (format!("invalid SparkApp: {e}"),))
    })?;
    let request = sparkube::local::resolve_spec(spec).map_err(|e| config_error(py, &e))?;
    render_request(py, &request, ids, show_secrets)
}

/// Whether the value of a conf key (or environment variable name) is shown redacted: the
/// default rule, plus `redaction_regex` (a `spark.redaction.regex`) when given.
#[pyfunction]
#[pyo3(signature = (key, redaction_regex=None))]
pub(crate) fn is_secret_key(key: &str, redaction_regex: Option<String>) -> bool {
    let mut conf = sparkube::SparkConf::new();
    if let Some(pattern) = redaction_regex {
        conf.set(sparkube::redact::REDACTION_REGEX_KEY, pattern);
    }
    sparkube::Redactor::for_conf(&conf).is_secret(key)
}

/// A Python object (dicts, lists, scalars) as a YAML document.
#[pyfunction]
pub(crate) fn to_yaml(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let value: serde_json::Value = depythonize(obj)?;
    serde_norway::to_string(&value).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// What a spark-submit command line asks for, for the CLI: `{"action": "submit" | "kill" |
/// "status" | "version" | "help", "target": ..., "conf": {...}}`. For a submission, `conf` is
/// the resolved conf (flags over properties file over defaults); otherwise the given `--conf`s
/// and `--master`, which is all the connection needs.
#[pyfunction]
pub(crate) fn parse_command(py: Python<'_>, args: Vec<String>) -> PyResult<Py<PyAny>> {
    use sparkube::conf::Action;

    let parsed = sparkube::parse_submit_args(&args).map_err(|e| config_error(py, &e))?;
    let (action, target) = match &parsed.action {
        Action::Submit => ("submit", None),
        Action::Kill(target) => ("kill", Some(target.clone())),
        Action::Status(target) => ("status", Some(target.clone())),
        Action::PrintVersion => ("version", None),
        Action::PrintUsage => ("help", None),
    };
    let conf: serde_json::Map<String, serde_json::Value> = if action == "submit" {
        let request = sparkube::local::resolve_args(parsed).map_err(|e| config_error(py, &e))?;
        request
            .conf
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    } else {
        let mut conf = parsed.conf.clone();
        if let Some(master) = &parsed.master {
            conf.set("spark.master", master.clone());
        }
        conf.iter().map(|(k, v)| (k.into(), v.into())).collect()
    };
    let plan = serde_json::json!({"action": action, "target": target, "conf": conf});
    Ok(pythonize(py, &plan)?.unbind())
}
