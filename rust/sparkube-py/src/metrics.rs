//! The process's metrics (`sparkube::metrics`) for Python: as data for the Airflow provider's
//! `Stats`, and as OpenMetrics text for the CLI's `--metrics-file`.

use pyo3::prelude::*;
use pythonize::pythonize;

/// Every metric family of the process, read now (see `MetricFamily` in `_core.pyi`).
#[pyfunction]
pub fn metrics(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let snapshot = sparkube::metrics::snapshot();
    Ok(pythonize(py, &snapshot.families)?.unbind())
}

/// The same, in the OpenMetrics text format, ending with `# EOF`.
#[pyfunction]
pub fn metrics_text() -> String {
    sparkube::metrics::snapshot().to_openmetrics()
}
