//! Test harness: a kubesim process on 127.0.0.1 with its own kubeconfig, a sparkube client
//! connected through that kubeconfig, kubesim's admin endpoints (faults, dropped watches,
//! compaction, metrics) and hand-made Spark applications whose simulated run is set by
//! kubesim's pod annotations.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sparkube::{Client, ConnectOptions, RetryPolicy};

/// Where the kubesim binary is: `KUBESIM_BIN`, else the workspace's `target/debug/kubesim`,
/// built first when it is missing or older than kubesim's sources (so that test processes do
/// not queue on cargo's build lock when it is fresh).
fn kubesim_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("KUBESIM_BIN") {
            return Ok(PathBuf::from(bin));
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| manifest.join("../../target"));
        let bin = target.join("debug").join("kubesim");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let sources = newest_mtime(&manifest.join("../kubesim"));
        if built.is_some() && built >= sources {
            return Ok(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "kubesim", "--bin", "kubesim"])
            .current_dir(manifest)
            .status()
            .map_err(|e| format!("cannot run cargo to build kubesim: {e}"))?;
        if !status.success() {
            return Err(format!("building kubesim failed ({status})"));
        }
        Ok(bin)
    })
    .clone()
}

/// The newest modification time of the files under `dir`.
fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(Some(t));
            }
        }
    }
    newest
}

/// A running kubesim.
pub struct Sim {
    child: Child,
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The kubeconfig kubesim wrote.
    pub kubeconfig: PathBuf,
    dir: PathBuf,
    extra: Vec<String>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Starts the kubesim process and reads its address from the first line it prints.
fn spawn(listen: &str, kubeconfig: &Path, extra: &[String]) -> (Child, String) {
    let bin = match kubesim_bin() {
        Ok(b) => b,
        Err(e) => panic!("kubesim is needed for the integration tests: {e}"),
    };
    let _ = std::fs::remove_file(kubeconfig);
    let mut child = match Command::new(&bin)
        .args(["--listen", listen, "--kubeconfig"])
        .arg(kubeconfig)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot start {}: {e}", bin.display()),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("kubesim has no stdout");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // keep draining so kubesim never blocks on a full pipe
        for _ in lines {}
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(Ok(line))) => line,
        other => {
            let _ = child.kill();
            panic!("kubesim did not announce its address: {other:?}");
        }
    };
    let Some(url) = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|u| u.trim_end_matches('/').to_string())
    else {
        let _ = child.kill();
        panic!("unexpected first line from kubesim: {line:?}");
    };
    for _ in 0..100 {
        if kubeconfig.is_file() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, url)
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
    /// Starts kubesim and waits for its `kubesim listening on http://…` line.
    pub fn start() -> Sim {
        Self::start_with(&[])
    }

    /// Starts kubesim with extra arguments.
    pub fn start_with(extra: &[&str]) -> Sim {
        let dir = scratch_dir("kubesim");
        let kubeconfig = dir.join("kubeconfig");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url) = spawn("127.0.0.1:0", &kubeconfig, &extra);
        Sim {
            child,
            url,
            kubeconfig,
            dir,
            extra,
        }
    }

    /// Kills kubesim (SIGKILL) and starts it again on the same address with the same arguments.
    pub fn crash_and_restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        let addr = self.url.trim_start_matches("http://").to_string();
        let (child, url) = spawn(&addr, &self.kubeconfig, &self.extra);
        assert_eq!(url, self.url, "kubesim came back on another address");
        self.child = child;
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
    pub fn objects(&self) -> Vec<Value> {
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
