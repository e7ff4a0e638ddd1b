//! The one tokio runtime every call runs on, blocking on it without holding the GIL, and
//! handing its futures to asyncio.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How often a blocking call wakes up to let Python deliver signals (Ctrl-C in a notebook).
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// The shared runtime (the same one `pyo3_async_runtimes` drives awaitables on).
pub(crate) fn runtime() -> &'static Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
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

/// `pyo3_async_runtimes::tokio::future_into_py` with the future boxed first.
///
/// pyo3-async-runtimes runs the future in a task spawned from another task and inside a
/// task-local scope; unboxed, the future's whole state is laid out in each of those three
/// allocations (about 38 KB in all for a `wait_async`, against 8 KB boxed), and they live as long
/// as the awaitable: a triggerer with 1,000 deferred tasks keeps 1,000 of them.
pub(crate) fn future_into_py<F, T>(py: Python<'_>, future: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, Box::pin(future))
}
