//! The `sparkube._core` extension module: glue between Python and the sparkube library.
//!
//! Conversion goes through `pythonize`; errors become the exception classes defined in
//! `sparkube.errors`, so Python code catches the same types whatever layer raised them.
//! Blocking calls release the GIL; their `_async` twins run on the one shared tokio runtime.

mod awaitable;
mod client;
mod errors;
mod handle;
mod logging;
mod render;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::install(m)?;
    m.add("__version__", sparkube::VERSION)?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<handle::PyAppHandle>()?;
    m.add_class::<handle::StatusUpdates>()?;
    m.add_class::<handle::LogLines>()?;
    m.add_function(wrap_pyfunction!(render::render_args, m)?)?;
    m.add_function(wrap_pyfunction!(render::render_spec, m)?)?;
    m.add_function(wrap_pyfunction!(render::to_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(render::is_secret_key, m)?)?;
    m.add_function(wrap_pyfunction!(logging::reset_log_cache, m)?)?;
    m.add_function(wrap_pyfunction!(render::parse_command, m)?)?;
    Ok(())
}
