//! `sparkube._core.Preflight` and `PreflightCheck`: what `Client.preflight` found, as frozen
//! classes wrapping the library's report.

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pythonize::pythonize;
use sparkube::PreflightReport;
use sparkube::preflight::Check;

/// One finding of a preflight (see `sparkube.PreflightCheck`).
#[pyclass(
    module = "sparkube._core",
    name = "PreflightCheck",
    frozen,
    eq,
    skip_from_py_object
)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyPreflightCheck(Check);

#[pymethods]
impl PyPreflightCheck {
    /// What was checked (`Pod ns/name`, `ResourceQuota compute`, `LimitRange limits`).
    #[getter]
    fn subject(&self) -> &str {
        &self.0.subject
    }

    /// Whether it passed.
    #[getter]
    fn passed(&self) -> bool {
        self.0.passed
    }

    /// What was found, in one line.
    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "PreflightCheck(subject={:?}, passed={}, message={:?})",
            self.0.subject,
            if self.0.passed { "True" } else { "False" },
            self.0.message
        )
    }
}

/// What `Client.preflight` found (see `sparkube.Preflight`).
#[pyclass(module = "sparkube._core", name = "Preflight", frozen)]
pub(crate) struct PyPreflight(PreflightReport);

impl From<PreflightReport> for PyPreflight {
    fn from(report: PreflightReport) -> Self {
        Self(report)
    }
}

#[pymethods]
impl PyPreflight {
    /// The namespace the app would run in.
    #[getter]
    fn namespace(&self) -> &str {
        &self.0.namespace
    }

    /// Whether every check passed.
    #[getter]
    fn passed(&self) -> bool {
        self.0.passed
    }

    /// Every finding, objects first.
    #[getter]
    fn checks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.0.checks.iter().cloned().map(PyPreflightCheck))
    }

    /// The findings that failed.
    #[getter]
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            self.0
                .checks
                .iter()
                .filter(|c| !c.passed)
                .cloned()
                .map(PyPreflightCheck)
                .collect::<Vec<_>>(),
        )
    }

    /// API requests sent.
    #[getter]
    fn round_trips(&self) -> u32 {
        self.0.round_trips
    }

    /// The JSON-safe form (for an XCom).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.0)?)
    }

    fn __bool__(&self) -> bool {
        self.0.passed
    }

    fn __str__(&self) -> String {
        self.0.to_string().trim_end().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Preflight(namespace={:?}, passed={}, checks={})",
            self.0.namespace,
            if self.0.passed { "True" } else { "False" },
            self.0.checks.len()
        )
    }
}
