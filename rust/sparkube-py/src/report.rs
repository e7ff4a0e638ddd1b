//! `sparkube._core.Report`: the right-sizing report of an ended application, as a frozen class
//! wrapping the library's.

use pyo3::prelude::*;
use pythonize::pythonize;
use sparkube::report::Source;

/// The right-sizing report (see `sparkube.Report`).
#[pyclass(module = "sparkube._core", name = "Report", frozen)]
pub(crate) struct PyReport(sparkube::Report);

impl From<sparkube::Report> for PyReport {
    fn from(report: sparkube::Report) -> Self {
        Self(report)
    }
}

#[pymethods]
impl PyReport {
    /// The Spark application id.
    #[getter]
    fn app_id(&self) -> &str {
        &self.0.app_id
    }

    /// `history_server` or `live_snapshot`.
    #[getter]
    fn source(&self) -> &'static str {
        match self.0.source {
            Source::HistoryServer => "history_server",
            Source::LiveSnapshot => "live_snapshot",
        }
    }

    /// Whether the figures may miss the end of the app.
    #[getter]
    fn partial(&self) -> bool {
        self.0.partial
    }

    /// Why the report is partial.
    #[getter]
    fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// The one-line summary; None when no executor reported its heap.
    #[getter]
    fn summary(&self) -> Option<&str> {
        self.0.summary.as_deref()
    }

    /// The advised `spark.executor.memory`, when smaller than the configured one.
    #[getter]
    fn recommended_executor_memory(&self) -> Option<&str> {
        self.0.recommended_executor_memory.as_deref()
    }

    /// The executors' lifetimes summed, in seconds.
    #[getter]
    fn executor_seconds(&self) -> f64 {
        self.0.executor_seconds
    }

    /// The highest peak JVM heap of any executor, in bytes.
    #[getter]
    fn peak_heap(&self) -> Option<u64> {
        self.0.peak_heap
    }

    /// `spark.executor.memory` in bytes, when known.
    #[getter]
    fn executor_memory(&self) -> Option<u64> {
        self.0.executor_memory
    }

    /// The JSON-safe form (for an XCom): every figure, per executor and summed.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.0)?)
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Report(app_id={:?}, source={:?}, partial={}, summary={:?})",
            self.0.app_id,
            self.source(),
            if self.0.partial { "True" } else { "False" },
            self.0.summary.as_deref().unwrap_or("")
        )
    }
}
