//! `render_args`, `render_spec` and `to_yaml`: objects a submission would create, as data;
//! `is_secret_key`: which conf keys they show redacted; the spark-submit command line as the
//! core reads it (`parse_command`, `split_tool_args`, `submit_args_conf`), for the CLI and the
//! Airflow operator, which have no parser of their own.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pythonize::{depythonize, pythonize};
use sparkube::{AppSpec, Ids, SubmitRequest};

use crate::errors::{config_error, invalid_input};

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
    request.log_notices();
    let resources = sparkube::build(request, &ids).map_err(|e| config_error(&e))?;
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
#[pyo3(signature = (args, ids=None, show_secrets=false, base_dir=None))]
pub(crate) fn render_args(
    py: Python<'_>,
    args: Vec<String>,
    ids: Option<&Bound<'_, PyAny>>,
    show_secrets: bool,
    base_dir: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    // Without the GIL: resolution may read remote pod templates on a thread that logs.
    let request = py
        .detach(|| {
            sparkube::parse_submit_args(&args)
                .and_then(|args| sparkube::local::resolve_args(args, base_dir.as_deref()))
        })
        .map_err(|e| config_error(&e))?;
    render_request(py, &request, ids, show_secrets)
}

/// Objects for a `SparkApp` spec (as produced by `SparkApp.to_dict()`), in API call order;
/// secret values are redacted unless `show_secrets`.
#[pyfunction]
#[pyo3(signature = (spec, ids=None, show_secrets=false, base_dir=None))]
pub(crate) fn render_spec(
    py: Python<'_>,
    spec: &Bound<'_, PyAny>,
    ids: Option<&Bound<'_, PyAny>>,
    show_secrets: bool,
    base_dir: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let spec: AppSpec =
        depythonize(spec).map_err(|e| invalid_input(format!("invalid SparkApp: {e}")))?;
    let request = py
        .detach(|| sparkube::local::resolve_spec(spec, base_dir.as_deref()))
        .map_err(|e| config_error(&e))?;
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

/// What a spark-submit command line asks for, for the CLI: `(action, target, conf)`, the
/// action one of `submit`, `kill`, `status`, `version`, `help`, the target the `[ns:]pod` of
/// `kill` and `status`. For a submission, `conf` is the settled conf (flags over properties
/// file over defaults, checked; local files are not read here); otherwise the given `--conf`s
/// and `--master`, which is all the connection needs.
#[pyfunction]
pub(crate) fn parse_command(
    py: Python<'_>,
    args: Vec<String>,
) -> PyResult<(&'static str, Option<String>, HashMap<String, String>)> {
    use sparkube::conf::Action;

    let parsed = sparkube::parse_submit_args(&args).map_err(|e| config_error(&e))?;
    let (action, target) = match &parsed.action {
        Action::Submit => ("submit", None),
        Action::Kill(target) => ("kill", Some(target.clone())),
        Action::Status(target) => ("status", Some(target.clone())),
        Action::PrintVersion => ("version", None),
        Action::PrintUsage => ("help", None),
    };
    // The settings only: the files are read once, when the submission resolves them.
    let conf = if action == "submit" {
        py.detach(|| sparkube::local::settings_of_args(&parsed))
            .map_err(|e| config_error(&e))?
    } else {
        let mut conf = parsed.conf.clone();
        if let Some(master) = &parsed.master {
            conf.set("spark.master", master.clone());
        }
        conf
    };
    let conf = conf
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok((action, target, conf))
}

/// What `split_tool_args` returns: the tool's option values, its switches given, and the
/// spark-submit arguments left.
type ToolSplit = (HashMap<String, String>, Vec<String>, Vec<String>);

/// A tool's own options (`value_options` take a value, `switches` none) taken out of a
/// spark-submit argument list with spark-submit's grammar: `(values, switches, rest)`.
#[pyfunction]
pub(crate) fn split_tool_args(
    args: Vec<String>,
    value_options: Vec<String>,
    switches: Vec<String>,
) -> PyResult<ToolSplit> {
    let value_options: Vec<&str> = value_options.iter().map(String::as_str).collect();
    let switches: Vec<&str> = switches.iter().map(String::as_str).collect();
    let tool = sparkube::conf::split_tool_args(&args, &value_options, &switches)
        .map_err(|e| config_error(&e))?;
    Ok((
        tool.values.into_iter().collect(),
        tool.switches,
        tool.submit_args,
    ))
}

/// The `--conf`/`-c` pairs a spark-submit argument list gives (a later pair for a key wins),
/// before the primary resource only: the application's own arguments are not read.
#[pyfunction]
pub(crate) fn submit_args_conf(args: Vec<String>) -> PyResult<HashMap<String, String>> {
    let parsed = sparkube::parse_submit_args(&args).map_err(|e| config_error(&e))?;
    Ok(parsed
        .conf
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// The value of a Spark time conf declared in `unit` (`"ms"` or `"s"`), in that unit (a bare
/// number is in it too), read as Spark reads it; `ConfigError` naming `key` with Spark's
/// message when it is not a time.
#[pyfunction]
pub(crate) fn time_conf(key: &str, value: &str, unit: &str) -> PyResult<i64> {
    use sparkube::conf::TimeUnit;

    let unit = match unit {
        "ms" => TimeUnit::Millis,
        "s" => TimeUnit::Seconds,
        other => {
            return Err(PyValueError::new_err(format!(
                "unit must be \"ms\" or \"s\", not {other:?}"
            )));
        }
    };
    sparkube::conf::parse_time(value, unit).map_err(|message| {
        config_error(&sparkube::Error::invalid(key, format!("{key}: {message}")))
    })
}
