//! Test harness: kubesim served in this process on 127.0.0.1 with its own kubeconfig, a sparkube client
//! connected through that kubeconfig, kubesim's admin endpoints (faults, dropped watches,
//! compaction, metrics) and hand-made Spark applications whose simulated run is set by
//! kubesim's pod annotations.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use sparkube::build::Object;
use sparkube::{Client, ConnectOptions, RetryPolicy};

/// How a running kubesim is stopped.
enum Stop {
    /// As at the end of a test: state snapshotted.
    Clean,
    /// As a killed process: no snapshot, open connections cut.
    Crash,
}

/// A kubesim served in this process, on a runtime and thread of its own, so that the test's
/// runtime and kubesim's never wait on each other.
struct Running {
    stop: tokio::sync::oneshot::Sender<Stop>,
    thread: JoinHandle<()>,
}

impl Running {
    fn stop(self, how: Stop) {
        let _ = self.stop.send(how);
        let _ = self.thread.join();
    }
}

/// A running kubesim.
pub struct Sim {
    running: Option<Running>,
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The kubeconfig kubesim wrote.
    pub kubeconfig: PathBuf,
    dir: PathBuf,
    options: kubesim::Options,
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop(Stop::Clean);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Starts kubesim with `options` on its own thread and returns its URL once it listens.
fn serve(options: kubesim::Options) -> (Running, String) {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Stop>();
    let thread = std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = ready_tx.send(Err(format!("no runtime for kubesim: {e}")));
                return;
            }
        };
        runtime.block_on(async move {
            let server = match kubesim::start(options).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(server.url.clone()));
            match stop_rx.await.unwrap_or(Stop::Clean) {
                Stop::Clean => server.shutdown().await,
                Stop::Crash => server.crash().await,
            }
        });
        runtime.shutdown_background();
    });
    match ready_rx.recv() {
        Ok(Ok(url)) => (
            Running {
                stop: stop_tx,
                thread,
            },
            url,
        ),
        Ok(Err(e)) => panic!("kubesim did not start: {e}"),
        Err(_) => panic!("kubesim's thread ended before it listened"),
    }
}

/// Objects from their JSON.
pub fn typed(values: Vec<Value>) -> Vec<Object> {
    values
        .into_iter()
        .map(|v| match Object::from_json(v.clone()) {
            Some(Ok(object)) => object,
            other => panic!("not an object of a submission: {v}: {other:?}"),
        })
        .collect()
}

/// A fresh scratch directory.
pub fn scratch_dir(what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sparkube-it-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

impl Sim {
    /// Starts kubesim with its default options.
    pub fn start() -> Sim {
        Self::start_with(kubesim::Options::default())
    }

    /// Starts kubesim keeping its objects in `state_dir` across restarts.
    pub fn start_with_state(state_dir: &Path) -> Sim {
        Self::start_with(kubesim::Options {
            state_dir: Some(state_dir.to_owned()),
            ..kubesim::Options::default()
        })
    }

    /// Starts kubesim with `options` (its listen address and kubeconfig are the harness's).
    pub fn start_with(options: kubesim::Options) -> Sim {
        let dir = scratch_dir("kubesim");
        let kubeconfig = dir.join("kubeconfig");
        let options = kubesim::Options {
            listen: "127.0.0.1:0".into(),
            kubeconfig: Some(kubeconfig.clone()),
            ..options
        };
        let (running, url) = serve(options.clone());
        Sim {
            running: Some(running),
            url,
            kubeconfig,
            dir,
            options,
        }
    }

    /// Stops kubesim as a killed process would stop and starts it again on the same address
    /// with the same options.
    pub fn crash_and_restart(&mut self, down_for: Duration) {
        if let Some(running) = self.running.take() {
            running.stop(Stop::Crash);
        }
        std::thread::sleep(down_for);
        let options = kubesim::Options {
            listen: self.url.trim_start_matches("http://").to_string(),
            ..self.options.clone()
        };
        let (running, url) = serve(options);
        assert_eq!(url, self.url, "kubesim came back on another address");
        self.running = Some(running);
    }

    /// The scratch directory of this kubesim.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The admin bearer token from kubesim's kubeconfig.
    pub fn token(&self) -> String {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap_or_default();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("token:"))
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    }

    /// A sparkube client connected through kubesim's kubeconfig, with quick retries.
    pub async fn client(&self) -> Client {
        let options = ConnectOptions {
            kubeconfig: Some(self.kubeconfig.clone()),
            ..ConnectOptions::default()
        };
        match Client::connect(&options).await {
            Ok(c) => c.with_retry_policy(fast_retries()),
            Err(e) => panic!("cannot connect to kubesim: {e}"),
        }
    }

    /// Sends a request to kubesim and returns the status and body.
    pub async fn request(
        &self,
        client: &Client,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut builder = http::Request::builder().method(method).uri(path);
        let bytes = match &body {
            Some(b) => {
                builder = builder.header("content-type", "application/json");
                serde_json::to_vec(b).unwrap_or_default()
            }
            None => Vec::new(),
        };
        let request = match builder.body(kube::client::Body::from(bytes)) {
            Ok(r) => r,
            Err(e) => panic!("bad request {method} {path}: {e}"),
        };
        let response = match client.kube().send(request).await {
            Ok(r) => r,
            Err(e) => panic!("{method} {path} failed: {e}"),
        };
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Adds a fault rule (see kubesim's `/kubesim/faults`).
    pub async fn fault(&self, client: &Client, rule: Value) {
        let (status, body) = self
            .request(client, "POST", "/kubesim/faults", Some(rule))
            .await;
        assert!(status < 300, "adding a fault failed: {status} {body}");
    }

    /// Closes every open watch (and streaming request) of kubesim.
    pub async fn drop_watches(&self, client: &Client) {
        let (status, body) = self
            .request(client, "POST", "/kubesim/drop-watches", None)
            .await;
        assert!(status < 300, "drop-watches failed: {status} {body}");
    }

    /// Compacts kubesim's history: watches resuming from older versions get 410 Gone.
    pub async fn compact(&self, client: &Client) {
        let (status, body) = self.request(client, "POST", "/kubesim/compact", None).await;
        assert!(status < 300, "compact failed: {status} {body}");
    }

    /// Sum of `apiserver_request_total` for the given label values.
    pub async fn requests_with(&self, client: &Client, labels: &[(&str, &str)]) -> u64 {
        let (_, metrics) = self.request(client, "GET", "/metrics", None).await;
        count_matching(&metrics, labels)
    }

    /// Sum of `apiserver_request_total` for a verb and resource.
    pub async fn requests(&self, client: &Client, verb: &str, resource: &str) -> u64 {
        let (_, metrics) = self.request(client, "GET", "/metrics", None).await;
        count_requests(&metrics, verb, resource)
    }
}

/// Sums the `apiserver_request_total` samples whose labels include `verb` and `resource`.
pub fn count_requests(metrics: &str, verb: &str, resource: &str) -> u64 {
    count_matching(metrics, &[("verb", verb), ("resource", resource)])
}

/// Sums the `apiserver_request_total` samples that carry all the given label values.
pub fn count_matching(metrics: &str, labels: &[(&str, &str)]) -> u64 {
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| wanted.iter().all(|w| l.contains(w.as_str())))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Retries quick enough for tests.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_retry_after: Duration::from_secs(2),
        attempt_timeout: Some(Duration::from_secs(10)),
    }
}

/// A random lower-case hex id.
pub fn hex_id(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.push_str(&format!("{:016x}", rand::random::<u64>()));
    }
    out.truncate(len);
    out
}

/// A hand-made Spark application: what spark-submit sends, reduced to what matters here.
#[derive(Debug, Clone)]
pub struct TestApp {
    /// Driver pod name.
    pub pod: String,
    /// Spark app id.
    pub app_id: String,
    /// Submission id label.
    pub submission_id: String,
    /// Namespace.
    pub namespace: String,
    /// Driver image.
    pub image: String,
    /// kubesim annotations.
    pub annotations: Vec<(String, String)>,
    /// Extra pod spec fields.
    pub spec_extra: Value,
    /// Extra containers (sidecars).
    pub sidecars: Vec<Value>,
    /// Name of the driver config map.
    pub conf_map: String,
}

impl TestApp {
    /// An app that runs `run_seconds` and exits with `exit_code`.
    pub fn new(name: &str, run_seconds: f64, exit_code: i32) -> TestApp {
        let unique = hex_id(16);
        TestApp {
            pod: format!("{name}-{unique}-driver"),
            app_id: format!("spark-{}", hex_id(32)),
            submission_id: format!("sub-{}", hex_id(12)),
            namespace: "default".into(),
            image: "apache/spark:4.0.0".into(),
            annotations: vec![
                ("kubesim.io/run-seconds".into(), run_seconds.to_string()),
                ("kubesim.io/exit-code".into(), exit_code.to_string()),
            ],
            spec_extra: json!({}),
            sidecars: Vec::new(),
            conf_map: format!("spark-drv-{}-conf-map", hex_id(16)),
        }
    }

    /// Adds a kubesim annotation.
    pub fn annotate(mut self, key: &str, value: &str) -> TestApp {
        self.annotations.retain(|(k, _)| k != key);
        self.annotations.push((key.into(), value.into()));
        self
    }

    /// The driver pod, service and config map, in API order.
    /// The objects to submit, typed.
    pub fn objects(&self) -> Vec<Object> {
        typed(self.values())
    }

    /// The objects to submit, as JSON.
    pub fn values(&self) -> Vec<Value> {
        let annotations: serde_json::Map<String, Value> = self
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let labels = json!({
            "spark-app-selector": self.app_id,
            "spark-app-name": "it",
            "spark-role": "driver",
            "spark-version": "4.3.0",
            "sparkube.io/submission-id": self.submission_id,
        });
        let conf_map = &self.conf_map;
        let mut containers = vec![json!({
            "name": "spark-kubernetes-driver",
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["driver", "--properties-file", "/opt/spark/conf/spark.properties",
                     "--class", "org.apache.spark.examples.SparkPi", "local:///opt/spark/examples/jars/spark-examples.jar"],
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
            "volumeMounts": [{"name": "spark-conf-volume-driver", "mountPath": "/opt/spark/conf"}],
        })];
        containers.extend(self.sidecars.iter().cloned());
        let mut spec = json!({
            "restartPolicy": "Never",
            "containers": containers,
            "volumes": [{"name": "spark-conf-volume-driver", "configMap": {"name": conf_map,
                "items": [{"key": "spark.properties", "path": "spark.properties", "mode": 420}]}}],
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), self.spec_extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        let owner = json!([{"apiVersion": "v1", "kind": "Pod", "name": self.pod, "uid": "", "controller": true}]);
        vec![
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.pod, "namespace": self.namespace, "labels": labels, "annotations": annotations},
                "spec": spec,
            }),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("{}-svc", self.pod), "namespace": self.namespace,
                             "labels": {"spark-app-selector": self.app_id}, "ownerReferences": owner},
                "spec": {"clusterIP": "None", "selector": {"spark-app-selector": self.app_id, "spark-role": "driver"},
                         "ports": [{"name": "driver-rpc-port", "port": 7078, "protocol": "TCP", "targetPort": 7078}]},
            }),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": conf_map, "namespace": self.namespace,
                             "labels": {"spark-app-selector": self.app_id}, "ownerReferences": owner},
                "immutable": true,
                "data": {"spark.properties": format!("spark.app.id={}\nspark.kubernetes.namespace={}\n", self.app_id, self.namespace)},
            }),
        ]
    }
}

/// Runs a test body with an upper bound on its duration.
pub async fn within<T>(limit: Duration, body: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit, body).await {
        Ok(v) => v,
        Err(_) => panic!("test did not finish within {limit:?}"),
    }
}
