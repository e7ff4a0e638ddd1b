//! Rust futures as asyncio awaitables, finished on the event loop's own thread.
//!
//! An awaitable is an `asyncio.Future` of the running loop and a tokio task. The task never
//! touches Python: when its future is done it leaves the outcome (a closure that builds the
//! Python value or exception) in its loop's inbox and, if the inbox was empty, writes one byte
//! to a socket the loop watches with `add_reader`. The loop then finishes every waiting future
//! in one callback, with the GIL it already holds. So 10,000 waits ending together cost one
//! wake-up and no thread, and no Rust thread runs Python, not even after the interpreter has
//! finalized. Cancelling the asyncio future aborts the task, which drops the Rust future and
//! with it its requests.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyWeakrefMethods, PyWeakrefReference};
use tokio::task::AbortHandle;

use crate::runtime::runtime;

/// What a finished task leaves for its loop: builds its result, with the GIL.
type Outcome = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A task's asyncio future and what to finish it with.
struct Finished {
    future: Py<PyAny>,
    outcome: Outcome,
}

/// The finished tasks of one event loop, and the socket that wakes the loop for them.
struct Inbox {
    finished: Mutex<Vec<Finished>>,
    wake: UnixStream,
}

impl Inbox {
    fn post(&self, done: Finished) {
        let first = {
            let mut finished = lock(&self.finished);
            finished.push(done);
            finished.len() == 1
        };
        if first {
            // A full socket buffer means a wake-up is pending already.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The loop's reader callback: finishes every future whose task is done.
#[pyclass(frozen)]
struct Deliver {
    inbox: Arc<Inbox>,
    wakeups: UnixStream,
}

#[pymethods]
impl Deliver {
    fn __call__(&self, py: Python<'_>) {
        // Drained before the inbox is taken, so a task posting meanwhile wakes the loop again.
        let mut buf = [0u8; 512];
        while matches!((&self.wakeups).read(&mut buf), Ok(n) if n > 0) {}
        let finished = std::mem::take(&mut *lock(&self.inbox.finished));
        for Finished { future, outcome } in finished {
            let future = future.bind(py);
            if let Err(e) = finish(py, future, outcome) {
                e.write_unraisable(py, Some(future));
            }
        }
    }
}

fn finish(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Outcome) -> PyResult<()> {
    if future.call_method0("cancelled")?.is_truthy()? {
        return Ok(());
    }
    match outcome(py) {
        Ok(value) => future.call_method1("set_result", (value,))?,
        Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
    };
    Ok(())
}

/// The asyncio future's done callback: a cancelled future aborts its task.
#[pyclass(frozen)]
struct AbortIfCancelled {
    task: AbortHandle,
}

#[pymethods]
impl AbortIfCancelled {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
        }
        Ok(())
    }
}

/// An event loop's inbox, found by the loop's address and checked through a weak reference
/// (an address may be reused by a later loop).
struct Registered {
    event_loop: Py<PyWeakrefReference>,
    inbox: Weak<Inbox>,
}

static INBOXES: Mutex<Option<HashMap<usize, Registered>>> = Mutex::new(None);

/// The running loop's inbox, set up on the loop's first awaitable. It lives as long as the
/// loop keeps its reader callback (until it is closed) or a task still has to post to it.
fn inbox_for(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Inbox>> {
    let key = event_loop.as_ptr() as usize;
    {
        let mut inboxes = lock(&INBOXES);
        let inboxes = inboxes.get_or_insert_with(HashMap::new);
        if let Some(r) = inboxes.get(&key)
            && let Some(inbox) = r.inbox.upgrade()
            && r.event_loop
                .bind(py)
                .upgrade()
                .is_some_and(|l| l.is(event_loop))
        {
            return Ok(inbox);
        }
        inboxes.retain(|_, r| r.inbox.strong_count() > 0);
    }
    let (wakeups, wake) = UnixStream::pair()?;
    wakeups.set_nonblocking(true)?;
    wake.set_nonblocking(true)?;
    let fd = wakeups.as_raw_fd();
    let inbox = Arc::new(Inbox {
        finished: Mutex::new(Vec::new()),
        wake,
    });
    let deliver = Deliver {
        inbox: inbox.clone(),
        wakeups,
    };
    event_loop
        .call_method1("add_reader", (fd, deliver))
        .map_err(|e| {
            PyRuntimeError::new_err(format!(
                "sparkube's awaitables need an event loop that can watch a file descriptor \
                 (loop.add_reader), as asyncio's default loop on Linux and macOS can: {e}"
            ))
        })?;
    let registered = Registered {
        event_loop: PyWeakrefReference::new(event_loop)?.unbind(),
        inbox: Arc::downgrade(&inbox),
    };
    lock(&INBOXES)
        .get_or_insert_with(HashMap::new)
        .insert(key, registered);
    Ok(inbox)
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
}

/// Runs `future` on the shared runtime and returns an awaitable of the running asyncio loop
/// for what its output builds, with the GIL, on the loop's thread.
///
/// The future is boxed before it is spawned, so that the task holds a pointer to it rather
/// than its whole state.
pub(crate) fn awaitable<'py, F, B, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = B> + Send + 'static,
    B: FnOnce(Python<'_>) -> PyResult<T> + Send + 'static,
    T: for<'a> IntoPyObject<'a>,
{
    let event_loop = running_loop(py)?;
    let inbox = inbox_for(py, &event_loop)?;
    let py_future = event_loop.call_method0("create_future")?;
    let target = py_future.clone().unbind();
    let future = Box::pin(future);
    let task = runtime().spawn(async move {
        let build = future.await;
        inbox.post(Finished {
            future: target,
            outcome: Box::new(move |py| build(py).and_then(|value| value.into_py_any(py))),
        });
    });
    py_future.call_method1(
        "add_done_callback",
        (AbortIfCancelled {
            task: task.abort_handle(),
        },),
    )?;
    Ok(py_future)
}
