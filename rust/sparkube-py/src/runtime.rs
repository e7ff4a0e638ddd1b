//! The one tokio runtime every call runs on, and blocking on it without holding the GIL
//! (awaitables are in `awaitable`).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::{Builder, Runtime};

/// How often a blocking call wakes up to let Python deliver signals (Ctrl-C in a notebook).
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// The shared runtime: one worker thread per core, started on first use.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .enable_all()
            .thread_name("sparkube")
            .build()
            .unwrap_or_else(|e| panic!("cannot start sparkube's tokio runtime: {e}"))
    })
}

/// Runs `future` to completion with the GIL released, raising `KeyboardInterrupt` (and
/// dropping the future, which cancels its requests) when Python has a signal pending.
pub(crate) fn block_on<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut future = Box::pin(future);
    loop {
        let done = py.detach(|| {
            runtime().block_on(async {
                tokio::time::timeout(SIGNAL_CHECK_INTERVAL, &mut future)
                    .await
                    .ok()
            })
        });
        if let Some(output) = done {
            return Ok(output);
        }
        py.check_signals()?;
    }
}
