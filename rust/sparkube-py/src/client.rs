//! `sparkube._core.Client`: a connection to one cluster, shared by every handle made from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::PyList;
use pythonize::depythonize;
use sparkube::build::Object;
use sparkube::{AppSpec, Client, ConnectOptions, Ids, KillOptions, SessionOptions, SubmitRequest};

use crate::awaitable::awaitable;
use crate::errors::{
    client_error, config_error, invalid_input, kill_error, preflight_error, send_error, track_error,
};
use crate::handle::PyAppHandle;
use crate::preflight::PyPreflight;
use crate::runtime::{block_on, runtime};
use crate::session::{PySession, open as open_session, session_error, session_request};
use crate::types::{PyAppStatus, statuses};

/// A connection to a Kubernetes cluster (see `sparkube.Client`).
#[pyclass(module = "sparkube._core", name = "Client", frozen)]
pub(crate) struct PyClient {
    client: Client,
}

/// What to submit: a spark-submit argument list or a `SparkApp.to_dict()` spec.
/// Relative local paths resolve against `base_dir`, else the working directory.
pub(crate) fn submit_request(
    app: &Bound<'_, PyAny>,
    default_namespace: &str,
    base_dir: Option<&Path>,
) -> PyResult<SubmitRequest> {
    // Resolution may read remote pod templates: without the GIL, so that the library's
    // logging (which takes it) from the reading thread cannot wait on this one.
    let py = app.py();
    let request = if app.is_instance_of::<PyList>() {
        let args: Vec<String> = app.extract()?;
        py.detach(|| {
            sparkube::parse_submit_args(&args)
                .and_then(|args| sparkube::local::resolve_args(args, base_dir))
        })
    } else {
        let spec: AppSpec =
            depythonize(app).map_err(|e| invalid_input(format!("invalid SparkApp: {e}")))?;
        py.detach(|| sparkube::local::resolve_spec(spec, base_dir))
    };
    let mut request = request.map_err(|e| config_error(&e))?;
    request
        .conf
        .set_if_missing("spark.kubernetes.namespace", default_namespace);
    Ok(request)
}

impl PyClient {
    /// The request for `app`, its notices logged.
    fn request(&self, app: &Bound<'_, PyAny>, base_dir: Option<&Path>) -> PyResult<SubmitRequest> {
        let request = submit_request(app, self.client.default_namespace(), base_dir)?;
        request.log_notices();
        Ok(request)
    }

    /// The request `app` makes and its objects, in API order, with ids derived from its
    /// submission id.
    fn request_and_objects(
        &self,
        app: &Bound<'_, PyAny>,
        base_dir: Option<&Path>,
    ) -> PyResult<(SubmitRequest, Vec<Object>)> {
        let request = self.request(app, base_dir)?;
        let ids = Ids::for_submission(request.submission_id.as_deref());
        let resources = sparkube::build(&request, &ids).map_err(|e| config_error(&e))?;
        Ok((request, resources.in_api_order()))
    }
}

#[pymethods]
impl PyClient {
    /// Connects with the options of `sparkube.Client` (a dict of `ConnectOptions` fields);
    /// spark-submit's submission settings in `conf` fill the options left unset.
    #[new]
    #[pyo3(signature = (options, conf=None))]
    fn new(
        py: Python<'_>,
        options: &Bound<'_, PyAny>,
        conf: Option<HashMap<String, String>>,
    ) -> PyResult<Self> {
        let mut options: ConnectOptions = depythonize(options)
            .map_err(|e| invalid_input(format!("invalid connection options: {e}")))?;
        if let Some(conf) = conf {
            options.apply_spark_conf(|key| conf.get(key).cloned());
        }
        let client = block_on(py, Client::connect(&options))?.map_err(|e| client_error(&e))?;
        Ok(Self { client })
    }

    /// The default namespace.
    #[getter]
    fn namespace(&self) -> &str {
        self.client.default_namespace()
    }

    /// The API server URL.
    #[getter]
    fn cluster_url(&self) -> &str {
        self.client.cluster_url()
    }

    /// How many shared watches are open (one per namespace with tracked apps).
    #[getter]
    fn active_watches(&self) -> usize {
        self.client.active_watches()
    }

    /// Builds and submits an application; returns its handle. Relative local paths resolve
    /// against `base_dir`, else the working directory.
    #[pyo3(signature = (app, base_dir=None))]
    fn submit(
        &self,
        py: Python<'_>,
        app: &Bound<'_, PyAny>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<PyAppHandle> {
        let request = self.request(app, base_dir.as_deref())?;
        let conf = request.conf.clone();
        let (handle, uploaded) =
            block_on(py, self.client.submit_request(request))?.map_err(|e| send_error(&e))?;
        Ok(PyAppHandle::new(self.client.clone(), handle).with_uploads(conf, uploaded.written))
    }

    /// `submit` as an awaitable.
    #[pyo3(signature = (app, base_dir=None))]
    fn submit_async<'py>(
        &self,
        py: Python<'py>,
        app: &Bound<'py, PyAny>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.request(app, base_dir.as_deref())?;
        let conf = request.conf.clone();
        let client = self.client.clone();
        awaitable(py, async move {
            let submitted = client.submit_request(request).await;
            move |_: Python<'_>| {
                let (handle, uploaded) = submitted.map_err(|e| send_error(&e))?;
                Ok(PyAppHandle::new(client, handle).with_uploads(conf, uploaded.written))
            }
        })
    }

    /// Checks an application without creating anything: every object sent with `dryRun=All`,
    /// then the whole app against the namespace's ResourceQuotas and LimitRanges.
    #[pyo3(signature = (app, base_dir=None))]
    fn preflight(
        &self,
        py: Python<'_>,
        app: &Bound<'_, PyAny>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<PyPreflight> {
        let (request, objects) = self.request_and_objects(app, base_dir.as_deref())?;
        let report = block_on(py, self.client.preflight(&request, &objects))?
            .map_err(|e| preflight_error(&e))?;
        Ok(report.into())
    }

    /// `preflight` as an awaitable.
    #[pyo3(signature = (app, base_dir=None))]
    fn preflight_async<'py>(
        &self,
        py: Python<'py>,
        app: &Bound<'py, PyAny>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (request, objects) = self.request_and_objects(app, base_dir.as_deref())?;
        let client = self.client.clone();
        awaitable(py, async move {
            let report = client.preflight(&request, &objects).await;
            move |_: Python<'_>| {
                let report = report.map_err(|e| preflight_error(&e))?;
                Ok(PyPreflight::from(report))
            }
        })
    }

    /// A handle for a driver pod that already exists.
    #[pyo3(signature = (driver_pod, namespace=None))]
    fn attach(
        &self,
        py: Python<'_>,
        driver_pod: String,
        namespace: Option<String>,
    ) -> PyResult<PyAppHandle> {
        let handle = block_on(py, self.client.attach(namespace.as_deref(), &driver_pod))?
            .map_err(|e| track_error(&e))?;
        Ok(PyAppHandle::new(self.client.clone(), handle))
    }

    /// `attach` as an awaitable.
    #[pyo3(signature = (driver_pod, namespace=None))]
    fn attach_async<'py>(
        &self,
        py: Python<'py>,
        driver_pod: String,
        namespace: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move {
            let handle = client.attach(namespace.as_deref(), &driver_pod).await;
            move |_: Python<'_>| {
                let handle = handle.map_err(|e| track_error(&e))?;
                Ok(PyAppHandle::new(client, handle))
            }
        })
    }

    /// Opens the session `app` (a `SparkApp.to_dict()` spec) describes: attaches to the live
    /// server of that name or submits one, waits until it answers, forwards a local port.
    #[pyo3(signature = (app, base_dir=None, timeout=None, local_port=0))]
    fn connect(
        &self,
        py: Python<'_>,
        app: &Bound<'_, PyAny>,
        base_dir: Option<PathBuf>,
        timeout: Option<f64>,
        local_port: u16,
    ) -> PyResult<PySession> {
        let request = session_request(app, self.client.default_namespace(), base_dir.as_deref())?;
        let options = session_options(timeout, local_port)?;
        block_on(py, open_session(self.client.clone(), request, options))?
            .map_err(|e| session_error(&e))
    }

    /// `connect` as an awaitable.
    #[pyo3(signature = (app, base_dir=None, timeout=None, local_port=0))]
    fn connect_async<'py>(
        &self,
        py: Python<'py>,
        app: &Bound<'py, PyAny>,
        base_dir: Option<PathBuf>,
        timeout: Option<f64>,
        local_port: u16,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = session_request(app, self.client.default_namespace(), base_dir.as_deref())?;
        let options = session_options(timeout, local_port)?;
        let client = self.client.clone();
        awaitable(py, async move {
            let session = open_session(client, request, options).await;
            move |_: Python<'_>| session.map_err(|e| session_error(&e))
        })
    }

    /// Statuses of the Spark drivers in a namespace (or all namespaces with `"*"`).
    #[pyo3(signature = (namespace=None, selector=None))]
    fn list(
        &self,
        py: Python<'_>,
        namespace: Option<String>,
        selector: Option<String>,
    ) -> PyResult<Vec<PyAppStatus>> {
        let list = block_on(
            py,
            self.client.list(namespace.as_deref(), selector.as_deref()),
        )?
        .map_err(|e| track_error(&e))?;
        Ok(statuses(list))
    }

    /// `list` as an awaitable.
    #[pyo3(signature = (namespace=None, selector=None))]
    fn list_async<'py>(
        &self,
        py: Python<'py>,
        namespace: Option<String>,
        selector: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move {
            let statuses = client.list(namespace.as_deref(), selector.as_deref()).await;
            move |_: Python<'_>| {
                statuses
                    .map(crate::types::statuses)
                    .map_err(|e| track_error(&e))
            }
        })
    }

    /// Deletes the drivers matching spark-submit's `--kill` target (`[ns:]pod`, trailing `*`);
    /// returns `(namespace, driver_pod, app_id)` of each one deleted.
    #[pyo3(signature = (target, grace_period=None, wait=false))]
    fn kill_matching(
        &self,
        py: Python<'_>,
        target: String,
        grace_period: Option<f64>,
        wait: bool,
    ) -> PyResult<Vec<(String, String, Option<String>)>> {
        let options = KillOptions {
            grace_period: crate::handle::seconds(grace_period)?,
            wait,
            ..KillOptions::default()
        };
        let killed = block_on(py, self.client.kill_matching(&target, &options))?
            .map_err(|e| kill_error(&e))?;
        Ok(killed
            .into_iter()
            .map(|k| (k.namespace, k.driver_pod, k.app_id))
            .collect())
    }

    fn __repr__(&self) -> String {
        format!(
            "Client(cluster_url={:?}, namespace={:?})",
            self.client.cluster_url(),
            self.client.default_namespace()
        )
    }
}

/// `connect`'s keyword arguments as the library's options.
fn session_options(timeout: Option<f64>, local_port: u16) -> PyResult<SessionOptions> {
    let mut options = SessionOptions::default();
    if let Some(t) = crate::handle::seconds(timeout)? {
        options.ready_timeout = t;
    }
    options.local_addr.set_port(local_port);
    Ok(options)
}

/// Entering the shared runtime lets library calls that spawn background tasks run from Python.
pub(crate) fn enter_runtime() -> tokio::runtime::EnterGuard<'static> {
    runtime().enter()
}
