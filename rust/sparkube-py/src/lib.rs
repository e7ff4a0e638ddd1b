//! The `sparkube._core` extension module: glue between Python and the sparkube library.
//!
//! Conversion goes through `pythonize`; errors become the exception classes defined in
//! `sparkube.errors`, so Python code catches the same types whatever layer raised them.
//! Blocking calls release the GIL; their `_async` twins run on the one shared tokio runtime.

mod awaitable;
mod client;
mod errors;
mod handle;
mod render;
mod runtime;

use std::sync::OnceLock;

use pyo3::prelude::*;

/// Log target of kube-rs's HTTP trace layer.
const KUBE_TRACE_TARGET: &str = "kube_client::client::builder";

/// Clears the cache of Python loggers and levels the Rust logs are forwarded through.
static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// Makes Rust logs follow Python logging levels changed after they were first used (the
/// levels are cached per logger for speed).
#[pyfunction]
fn reset_log_cache() {
    if let Some(handle) = LOG_RESET.get() {
        handle.reset();
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // kube-rs's HTTP trace layer logs every 5xx answer as an error without saying which call
    // it was. sparkube reports failed calls itself, saying what was attempted, and some 5xx
    // answers are expected: a 503 from a driver's Spark UI that is not up yet, while progress
    // is polled, would otherwise print an error line every second.
    let logger = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::LoggersAndLevels)?
        .filter_target(KUBE_TRACE_TARGET.to_owned(), log::LevelFilter::Off);
    match logger.install() {
        Ok(handle) => {
            let _ = LOG_RESET.set(handle);
        }
        Err(e) => log::debug!("a logger was installed already: {e}"),
    }
    m.add("__version__", sparkube::VERSION)?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<handle::PyAppHandle>()?;
    m.add_class::<handle::StatusUpdates>()?;
    m.add_class::<handle::LogLines>()?;
    m.add_function(wrap_pyfunction!(render::render_args, m)?)?;
    m.add_function(wrap_pyfunction!(render::render_spec, m)?)?;
    m.add_function(wrap_pyfunction!(render::to_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(render::is_secret_key, m)?)?;
    m.add_function(wrap_pyfunction!(reset_log_cache, m)?)?;
    m.add_function(wrap_pyfunction!(render::parse_command, m)?)?;
    Ok(())
}
