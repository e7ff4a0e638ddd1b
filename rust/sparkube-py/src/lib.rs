//! The `sparkube._core` extension module: glue between Python and the sparkube library.
//!
//! Statuses, progress and pod references cross as frozen classes (`types`); specs and
//! rendered objects as plain data through `pythonize`; errors become the exception classes
//! defined in `sparkube.errors`, so Python code catches the same types whatever layer raised
//! them. Every grammar and label name Python needs comes from here, never a copy of its own.
//! Blocking calls release the GIL; their `_async` twins run on the one shared tokio runtime.

mod awaitable;
mod client;
mod errors;
mod handle;
mod logging;
mod metrics;
mod preflight;
mod render;
mod report;
mod runtime;
mod session;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::install(m)?;
    m.add("__version__", sparkube::VERSION)?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<handle::PyAppHandle>()?;
    m.add_class::<handle::StatusUpdates>()?;
    m.add_class::<handle::LogLines>()?;
    m.add_class::<session::PySession>()?;
    m.add_function(wrap_pyfunction!(render::render_args, m)?)?;
    m.add_function(wrap_pyfunction!(render::render_spec, m)?)?;
    m.add_function(wrap_pyfunction!(render::to_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(render::is_secret_key, m)?)?;
    m.add_function(wrap_pyfunction!(logging::reset_log_cache, m)?)?;
    m.add_function(wrap_pyfunction!(render::parse_command, m)?)?;
    m.add_function(wrap_pyfunction!(render::split_tool_args, m)?)?;
    m.add_function(wrap_pyfunction!(render::submit_args_conf, m)?)?;
    m.add_function(wrap_pyfunction!(render::time_conf, m)?)?;
    m.add_function(wrap_pyfunction!(types::spec_fields, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::metrics_text, m)?)?;
    m.add_class::<types::PyAppStatus>()?;
    m.add_class::<types::PyProgress>()?;
    m.add_class::<types::PyPodRef>()?;
    m.add_class::<preflight::PyPreflight>()?;
    m.add_class::<report::PyReport>()?;
    m.add_class::<preflight::PyPreflightCheck>()?;
    m.add("APP_ID_LABEL", sparkube::build::labels::APP_ID_LABEL)?;
    m.add("APP_NAME_LABEL", sparkube::build::labels::APP_NAME_LABEL)?;
    m.add("ROLE_LABEL", sparkube::build::labels::ROLE_LABEL)?;
    m.add("EXECUTOR_ID_LABEL", sparkube::logs::EXECUTOR_ID_LABEL)?;
    m.add("SUBMISSION_ID_LABEL", sparkube::build::SUBMISSION_ID_LABEL)?;
    m.add("LABEL_PREFIX", sparkube::build::labels::LABEL_PREFIX)?;
    m.add("SESSION_LABEL", sparkube::session::SESSION_LABEL)?;
    m.add("IDLE_TIMEOUT_KEY", sparkube::session::IDLE_TIMEOUT_KEY)?;
    m.add(
        "HISTORY_SERVER_URL_KEY",
        sparkube::report::HISTORY_SERVER_URL_KEY,
    )?;
    m.add("CONNECT_PORT", sparkube::session::CONNECT_PORT)?;
    Ok(())
}
