//! The `sparkube._core` extension module: glue between Python and the sparkube library.

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", sparkube::VERSION)?;
    Ok(())
}
