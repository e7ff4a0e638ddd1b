//! Rust log records forwarded to Python's `logging`, until the interpreter starts to exit.
//!
//! Records come from tokio's threads too (rustls closing a connection logs one), and taking the
//! GIL from a thread once the interpreter has finalized crashes the process. An `atexit`
//! handler (which Python runs before it finalizes) stops the forwarding; a record being
//! forwarded at that moment finishes first.

use std::sync::{OnceLock, PoisonError, RwLock};

use log::{LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;

/// Log target of kube-rs's HTTP trace layer.
const KUBE_TRACE_TARGET: &str = "kube_client::client::builder";

/// Whether Python has begun to exit; held for reading while a record is forwarded.
static EXITING: RwLock<bool> = RwLock::new(false);

/// Clears the cache of Python loggers and levels the Rust logs are forwarded through.
static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

struct UntilExit(pyo3_log::Logger);

impl Log for UntilExit {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let exiting = EXITING.read().unwrap_or_else(PoisonError::into_inner);
        !*exiting && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let exiting = EXITING.read().unwrap_or_else(PoisonError::into_inner);
        if !*exiting {
            self.0.log(record);
        }
    }

    fn flush(&self) {}
}

/// Stops forwarding; registered with `atexit`.
#[pyfunction]
fn stop_forwarding_logs(py: Python<'_>) {
    // Without the GIL, so that a record being forwarded (which needs it) can finish.
    py.detach(|| *EXITING.write().unwrap_or_else(PoisonError::into_inner) = true);
}

/// Makes Rust logs follow Python logging levels changed after they were first used (the
/// levels are cached per logger for speed).
#[pyfunction]
pub(crate) fn reset_log_cache() {
    if let Some(handle) = LOG_RESET.get() {
        handle.reset();
    }
}

/// Installs the forwarding logger (once per process).
pub(crate) fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // kube-rs's HTTP trace layer logs every 5xx answer as an error without saying which call
    // it was. sparkube reports failed calls itself, saying what was attempted, and some 5xx
    // answers are expected: a 503 from a driver's Spark UI that is not up yet, while progress
    // is polled, would otherwise print an error line every second.
    let logger = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::LoggersAndLevels)?
        .filter(LevelFilter::Debug)
        .filter_target(KUBE_TRACE_TARGET.to_owned(), LevelFilter::Off);
    let reset = logger.reset_handle();
    if log::set_boxed_logger(Box::new(UntilExit(logger))).is_err() {
        return Ok(());
    }
    log::set_max_level(LevelFilter::Debug);
    let _ = LOG_RESET.set(reset);
    let stop = wrap_pyfunction!(stop_forwarding_logs, m)?;
    m.py().import("atexit")?.call_method1("register", (stop,))?;
    Ok(())
}
