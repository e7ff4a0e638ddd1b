//! The process runtime: every container is a local process tree in its own mount, PID, UTS and
//! IPC namespaces under bubblewrap, on the machine's network with a loopback address of its own
//! (`127.N.x.y`, one `/16` per kubesim). The pod's volumes are bind-mounted at their
//! `mountPath`s over a read-only view of the host's root ([`layout`]), its environment is
//! resolved as a kubelet does ([`env`]), `/etc/hosts` stands in for cluster DNS ([`dns`]), and
//! an image reference selects a directory tree and an entrypoint ([`images`]). In-pod clients
//! reach the API server at `kubernetes.default.svc:443`, served on `127.N.0.1` with the
//! cluster's CA. Memory limits are enforced with a memory cgroup when one can be created.

pub mod cgroup;
pub mod dns;
pub mod env;
pub mod images;
pub mod layout;
pub mod volumes;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use parking_lot::Mutex;
use serde_json::Value;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::{Container, ContainerSpec, ExecError, Exit, PullError, Runtime, Sandbox, StartError};
use crate::cluster::Cluster;
use crate::logs::LogBuffer;
use crate::resources::{ResId, ids};
use crate::runtime::simulated::normalize_image;
use images::Images;
use layout::{HostFs, Mount, Source};

/// Errors setting up the process runtime.
#[derive(Debug, Error)]
pub enum Error {
    /// bubblewrap is missing.
    #[error("the process runtime needs bubblewrap (`bwrap`, Debian package `bubblewrap`): {0}")]
    NoBubblewrap(String),
    /// No loopback network could be reserved.
    #[error("failed to reserve a loopback network for pods: {0}")]
    Network(std::io::Error),
    /// The runtime directory could not be created.
    #[error("failed to create the runtime directory {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image table could not be read.
    #[error(transparent)]
    Images(#[from] images::Error),
}

/// Result alias for the process runtime.
pub type Result<T> = std::result::Result<T, Error>;

/// Settings of the process runtime.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where pod directories and generated files go (a fresh temporary directory if `None`).
    pub dir: Option<PathBuf>,
    /// An images file replacing the built-in table.
    pub images: Option<PathBuf>,
}

/// The loopback network of one kubesim: `127.{octet}.0.0/16`.
#[derive(Debug)]
struct Network {
    octet: u8,
    api_port: u16,
    next: u32,
    free: Vec<u32>,
}

impl Network {
    fn api_ip(&self) -> String {
        format!("127.{}.0.1", self.octet)
    }

    /// Pod addresses run from `127.N.1.2` up; `127.N.0.*` is kept for the cluster's services.
    fn allocate(&mut self) -> String {
        let n = self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next
        });
        let host = 256 + 1 + n;
        format!("127.{}.{}.{}", self.octet, (host / 256) % 256, host % 256)
    }

    fn owns(&self, ip: &str) -> Option<u32> {
        let parts: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
        (parts.len() == 4 && parts[0] == 127 && parts[1] == u32::from(self.octet) && parts[2] >= 1)
            .then(|| parts[2] * 256 + parts[3] - 257)
    }

    fn release(&mut self, ip: &str) {
        if let Some(n) = self.owns(ip)
            && n >= 1
            && !self.free.contains(&n)
        {
            self.free.push(n);
        }
    }

    fn reserve(&mut self, ip: &str) {
        if let Some(n) = self.owns(ip) {
            self.next = self.next.max(n);
            self.free.retain(|f| *f != n);
        }
    }
}

/// The first of the second octets a kubesim's loopback network may take (`127.N.0.0/16`).
const FIRST_OCTET: u8 = 20;
/// How many networks there are to choose from.
const OCTETS: u8 = 200;

/// Every address the in-cluster API server may listen on (`127.N.0.1`). In-cluster clients
/// (client-go, the Python client) connect to `KUBERNETES_SERVICE_HOST`, an address, so the
/// serving certificate lists them all, as a cluster's lists its `kubernetes` Service IP.
pub fn api_addresses() -> impl Iterator<Item = String> {
    (0..OCTETS).map(|i| format!("127.{}.0.1", FIRST_OCTET + i))
}

/// The `i`-th network to try, starting from `start`.
fn candidate_octet(start: u8, i: u8) -> u8 {
    FIRST_OCTET + (start.wrapping_add(i) % OCTETS)
}

/// Binds the in-cluster API address on a free `127.N.0.1`, port 443 (6443 without the
/// privilege to bind 443; in-pod clients then need `KUBERNETES_SERVICE_PORT`).
fn reserve_network() -> Result<(Network, TcpListener)> {
    let start = (std::process::id() % u32::from(OCTETS)) as u8;
    let mut last = None;
    for port in [443u16, 6443] {
        for i in 0..OCTETS {
            let octet = candidate_octet(start, i);
            let addr = SocketAddr::from((Ipv4Addr::new(127, octet, 0, 1), port));
            match TcpListener::bind(addr) {
                Ok(l) => {
                    let net = Network {
                        octet,
                        api_port: port,
                        next: 0,
                        free: Vec::new(),
                    };
                    return Ok((net, l));
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    last = Some(e);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
    }
    Err(Error::Network(last.unwrap_or_else(|| {
        std::io::Error::other("no free loopback network")
    })))
}

/// A pod's sandbox on the host.
struct PodSandbox {
    dir: PathBuf,
    ip: String,
    volumes: Vec<volumes::Prepared>,
    /// Namespace and name of the pod, to issue its tokens again.
    pod: (String, String),
    /// When its service-account tokens were last written.
    tokens_written: tokio::time::Instant,
}

impl PodSandbox {
    /// Whether a token has lived 80% of its lifetime, when the kubelet rotates it.
    fn tokens_due(&self, now: tokio::time::Instant) -> bool {
        let shortest = self
            .volumes
            .iter()
            .flat_map(|v| &v.tokens)
            .map(|t| t.seconds.max(1) as f64)
            .reduce(f64::min);
        shortest.is_some_and(|s| {
            now.duration_since(self.tokens_written) >= Duration::from_secs_f64(s * 0.8)
        })
    }
}

/// The process runtime.
pub struct ProcessRuntime {
    dir: PathBuf,
    owns_dir: bool,
    images: Images,
    bwrap: PathBuf,
    network: Mutex<Network>,
    api_listener: Mutex<Option<TcpListener>>,
    cluster: OnceLock<Arc<Cluster>>,
    sandboxes: Arc<Mutex<HashMap<String, PodSandbox>>>,
    hosts: Arc<Mutex<HashMap<String, dns::PodHosts>>>,
    cluster_hosts: Arc<Mutex<String>>,
    /// The process group of each running container, with its `{pod uid}/{name}` (for exec).
    groups: Arc<Mutex<HashMap<i32, String>>>,
    memory: Option<cgroup::Root>,
}

impl ProcessRuntime {
    /// Prepares the runtime: finds bubblewrap, reserves the loopback network, writes the
    /// built-in images' files.
    pub fn new(config: Config) -> Result<Self> {
        let bwrap =
            which("bwrap").ok_or_else(|| Error::NoBubblewrap("not found on PATH".into()))?;
        let (network, listener) = reserve_network()?;
        let (dir, owns_dir) = match config.dir {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!(
                    "kubesim-{}-{}",
                    std::process::id(),
                    network.octet
                )),
                true,
            ),
        };
        std::fs::create_dir_all(dir.join("pods")).map_err(|source| Error::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let builtin = || {
            let (spark, java) = (images::spark_home(), images::java_home());
            if spark.is_none() || java.is_none() {
                eprintln!(
                    "kubesim: Spark images are not available to the process runtime: {}",
                    if spark.is_none() {
                        "no $SPARK_HOME, and the python3 on PATH cannot import pyspark"
                    } else {
                        "no $JAVA_HOME, and no java on PATH"
                    }
                );
            }
            images::default_images(&dir, spark, java)
        };
        let images = match &config.images {
            Some(path) => Images::load_with(path, builtin)?,
            None => builtin()?,
        };
        let memory = cgroup::Root::create(&format!("kubesim-{}", std::process::id()));
        if memory.is_none() {
            eprintln!(
                "kubesim: memory limits are not enforced: no memory cgroup could be created below kubesim's own"
            );
        }
        Ok(ProcessRuntime {
            dir,
            owns_dir,
            images,
            bwrap,
            network: Mutex::new(network),
            api_listener: Mutex::new(Some(listener)),
            cluster: OnceLock::new(),
            sandboxes: Arc::new(Mutex::new(HashMap::new())),
            hosts: Arc::new(Mutex::new(HashMap::new())),
            cluster_hosts: Arc::new(Mutex::new(String::new())),
            groups: Arc::new(Mutex::new(HashMap::new())),
            memory,
        })
    }

    /// The listener for in-cluster clients (`kubernetes.default.svc`), taken once by the server.
    pub fn take_api_listener(&self) -> Option<TcpListener> {
        self.api_listener.lock().take()
    }

    /// `IP:port` where pods reach the API server.
    pub fn api_address(&self) -> String {
        let n = self.network.lock();
        format!("{}:{}", n.api_ip(), n.api_port)
    }

    /// Whether memory limits are enforced.
    pub fn enforces_memory(&self) -> bool {
        self.memory.is_some()
    }

    fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }
}

/// The node's IP as the kubelet reports it in `status.hostIP`: its first address.
fn node_ip(node: Option<&Value>) -> String {
    node.and_then(|n| n["status"]["addresses"][0]["address"].as_str())
        .unwrap_or("172.18.0.2")
        .to_string()
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// Reads objects and issues tokens from the cluster's store.
struct Lookup<'a>(&'a Cluster);

impl env::Sources for Lookup<'_> {
    fn config_map(&self, ns: &str, name: &str) -> Option<Value> {
        self.0
            .store
            .get(ids::CONFIGMAPS, ns, name)
            .map(|o| o.value())
    }
    fn secret(&self, ns: &str, name: &str) -> Option<Value> {
        self.0.store.get(ids::SECRETS, ns, name).map(|o| o.value())
    }
}

impl volumes::Tokens for Lookup<'_> {
    fn service_account_token(
        &self,
        pod: &Value,
        audience: Option<&str>,
        seconds: i64,
    ) -> Option<String> {
        let meta = &pod["metadata"];
        let ns = meta["namespace"].as_str().unwrap_or("default");
        let sa_name = pod["spec"]["serviceAccountName"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("default");
        let sa = self.0.store.get(ids::SERVICEACCOUNTS, ns, sa_name)?;
        let audiences: Vec<String> = audience.map(|a| vec![a.to_string()]).unwrap_or_default();
        let bound = (
            meta["name"].as_str().unwrap_or_default(),
            meta["uid"].as_str().unwrap_or_default(),
        );
        let (token, _) =
            self.0
                .tokens
                .issue(ns, sa_name, &sa.uid, seconds, &audiences, Some(bound));
        Some(token)
    }
}

fn start_error(reason: &str, message: impl std::fmt::Display) -> StartError {
    StartError {
        reason: reason.into(),
        message: message.to_string(),
    }
}

/// The hostname a pod's processes see: `spec.hostname`, else the pod name, at most 63 chars.
fn pod_hostname(pod: &Value) -> String {
    let name = pod["spec"]["hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .or_else(|| pod["metadata"]["name"].as_str())
        .unwrap_or("pod");
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

impl ProcessRuntime {
    fn refresh_hosts(&self) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let endpoints: Vec<Value> = cluster
            .store
            .all(ids::ENDPOINTS, None)
            .iter()
            .map(|o| o.value())
            .collect();
        let text = dns::cluster_entries(&self.network.lock().api_ip(), &endpoints);
        let mut current = self.cluster_hosts.lock();
        if *current == text && !current.is_empty() {
            return;
        }
        *current = text;
        for pod in self.hosts.lock().values() {
            let _ = pod.write(&current);
        }
    }

    /// Prepares volumes, waiting for ConfigMaps and Secrets that do not exist yet.
    async fn prepare_volumes(
        cluster: Arc<Cluster>,
        pod: Arc<Value>,
        dirs: volumes::Dirs,
    ) -> std::result::Result<Vec<volumes::Prepared>, StartError> {
        let started = tokio::time::Instant::now();
        let mut reported = false;
        // Changes of the type of the object last found missing: its creation wakes the wait
        // (spark-submit creates a driver's ConfigMap just after the pod).
        let mut changes: Option<(ResId, tokio::sync::broadcast::Receiver<_>)> = None;
        loop {
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let stored = cluster.store.get(ids::PODS, ns, name);
            let current = stored
                .as_ref()
                .map_or_else(|| (*pod).clone(), |o| o.value());
            let failed_mount = |e: &volumes::Error| {
                if let Some(o) = &stored {
                    let node = o.field("spec.nodeName");
                    cluster.record_event(
                        &o.reference(),
                        None,
                        "Warning",
                        "FailedMount",
                        &e.to_string(),
                        ("kubelet", &node),
                    );
                }
            };
            match volumes::prepare(&current, &Lookup(&cluster), &dirs) {
                Ok(v) => return Ok(v),
                Err(e @ volumes::Error::Missing { kind, .. }) => {
                    if !reported && started.elapsed() > Duration::from_secs(2) {
                        reported = true;
                        failed_mount(&e);
                    }
                    let res = if kind == "secret" {
                        ids::SECRETS
                    } else {
                        ids::CONFIGMAPS
                    };
                    match &mut changes {
                        Some((watched, rx)) if *watched == res => {
                            tokio::select! {
                                _ = rx.recv() => {},
                                () = tokio::time::sleep(Duration::from_millis(500)) => {},
                            }
                        }
                        // Subscribed, then checked again at once: it may have come between.
                        _ => {
                            changes = cluster
                                .store
                                .watch(res, Some(ns), None)
                                .ok()
                                .map(|w| (res, w.rx))
                        }
                    }
                }
                Err(e) => {
                    failed_mount(&e);
                    return Err(start_error("FailedMount", e));
                }
            }
        }
    }
}

impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    fn attach(self: Arc<Self>, cluster: &Arc<Cluster>) {
        if self.cluster.set(cluster.clone()).is_err() {
            return;
        }
        for p in cluster.store.all(ids::PODS, None) {
            self.network.lock().reserve(&p.field("status.podIP"));
        }
        self.refresh_hosts();
        let runtime = Arc::downgrade(&self);
        let notify = Arc::new(tokio::sync::Notify::new());
        let wake = notify.clone();
        tokio::spawn(crate::controllers::follow(
            cluster.clone(),
            ids::ENDPOINTS,
            move |_, _, _| wake.notify_one(),
        ));
        let sandboxes = Arc::downgrade(&self.sandboxes);
        let owner = cluster.clone();
        let mut stop = cluster.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {},
                    _ = stop.changed() => return,
                }
                let Some(sandboxes) = sandboxes.upgrade() else {
                    return;
                };
                rotate_tokens(&owner, &sandboxes);
            }
        });
        let mut shutdown = cluster.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = notify.notified() => {},
                    _ = shutdown.changed() => return,
                }
                // Changes come in bursts (a pod's readiness, then its endpoints): coalesce.
                tokio::time::sleep(Duration::from_millis(50)).await;
                match runtime.upgrade() {
                    Some(r) => r.refresh_hosts(),
                    None => return,
                }
            }
        });
    }

    fn create_sandbox(
        &self,
        pod: Arc<Value>,
        pod_ip: String,
    ) -> BoxFuture<'static, std::result::Result<Sandbox, StartError>> {
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let dir = self.dir.join("pods").join(&uid);
        let ip = {
            let mut net = self.network.lock();
            if net.owns(&pod_ip).is_some() {
                net.reserve(&pod_ip);
                pod_ip
            } else {
                net.allocate()
            }
        };
        let cluster = self.cluster().cloned();
        let claims = self.dir.join("claims");
        let hosts_entry = dns::PodHosts {
            path: dir.join("hosts"),
            ip: ip.clone(),
            hostname: pod_hostname(&pod),
        };
        let hosts = self.hosts.clone();
        let cluster_hosts = self.cluster_hosts.clone();
        let sandboxes = self.sandboxes.clone();
        async move {
            let Some(cluster) = cluster else {
                return Err(start_error("CreatePodSandboxError", "runtime not attached"));
            };
            std::fs::create_dir_all(&dir).map_err(|e| start_error("CreatePodSandboxError", e))?;
            hosts_entry
                .write(&cluster_hosts.lock())
                .map_err(|e| start_error("CreatePodSandboxError", e))?;
            hosts.lock().insert(uid.clone(), hosts_entry);
            let dirs = volumes::Dirs {
                pod: dir.clone(),
                claims,
            };
            let prepared = Self::prepare_volumes(cluster, pod.clone(), dirs).await?;
            let sandbox = PodSandbox {
                dir,
                ip: ip.clone(),
                volumes: prepared,
                pod: (
                    pod["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    pod["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
                tokens_written: tokio::time::Instant::now(),
            };
            sandboxes.lock().insert(uid, sandbox);
            Ok(Sandbox { pod_ip: ip })
        }
        .boxed()
    }

    fn remove_sandbox(&self, pod: Arc<Value>, sandbox: Sandbox) -> BoxFuture<'static, ()> {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        self.hosts.lock().remove(uid);
        let removed = self.sandboxes.lock().remove(uid);
        self.network.lock().release(&sandbox.pod_ip);
        async move {
            if let Some(sb) = removed {
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&sb.dir)).await;
            }
        }
        .boxed()
    }

    fn pull_image(
        &self,
        _pod: Arc<Value>,
        container: Value,
    ) -> BoxFuture<'static, std::result::Result<(), PullError>> {
        let image = container["image"].as_str().unwrap_or_default().to_string();
        let found = self.images.find(&image).is_some();
        async move {
            if found {
                return Ok(());
            }
            let full = normalize_image(&image);
            Err(PullError {
                message: format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found (kubesim's process runtime has no image table entry matching it)"
                ),
            })
        }
        .boxed()
    }

    fn start(
        &self,
        spec: ContainerSpec,
        log: Arc<LogBuffer>,
    ) -> BoxFuture<'static, std::result::Result<Box<dyn Container>, StartError>> {
        let prepared = self.command(&spec, None);
        let groups = self.groups.clone();
        let key = format!(
            "{}/{}",
            spec.pod["metadata"]["uid"].as_str().unwrap_or_default(),
            spec.name()
        );
        async move {
            let Prepared {
                mut command,
                cgroup,
                termination,
                ..
            } = prepared?;
            if spec.resumed_from.is_some() {
                // The processes ended with the kubesim that started them.
                return Ok(Box::new(Gone) as Box<dyn Container>);
            }
            let mut child = command.spawn().map_err(|e| {
                start_error(
                    "RunContainerError",
                    format!("failed to start container: {e}"),
                )
            })?;
            let pgid = child.id().map(|p| p as i32).unwrap_or(0);
            groups.lock().insert(pgid, key);
            let mut pumps = Vec::new();
            if let Some(out) = child.stdout.take() {
                pumps.push(tokio::spawn(pump(out, log.clone())));
            }
            if let Some(err) = child.stderr.take() {
                pumps.push(tokio::spawn(pump(err, log.clone())));
            }
            Ok(Box::new(Process {
                child,
                pgid,
                pumps,
                groups,
                cgroup,
                exit: None,
                termination,
                log,
            }) as Box<dyn Container>)
        }
        .boxed()
    }

    fn exec(
        &self,
        pod: Arc<Value>,
        container: &str,
        command: &[String],
    ) -> std::result::Result<tokio::process::Child, ExecError> {
        let spec_c = pod["spec"]["containers"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == container))
            .cloned()
            .ok_or_else(|| ExecError(format!("container not found (\"{container}\")")))?;
        let status = pod["status"]["containerStatuses"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == container));
        if status.is_none_or(|s| s["state"]["running"].is_null()) {
            return Err(ExecError(format!(
                "container {container} is not running in pod {}",
                pod["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        let restart_count = status.and_then(|s| s["restartCount"].as_u64()).unwrap_or(0) as u32;
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let pod_ip = self
            .sandboxes
            .lock()
            .get(uid)
            .map(|s| s.ip.clone())
            .ok_or_else(|| ExecError("the pod has no sandbox".into()))?;
        let spec = ContainerSpec {
            pod: pod.clone(),
            container: spec_c,
            init: false,
            restart_count,
            sandbox: Sandbox { pod_ip },
            resumed_from: None,
        };
        let prepared = self
            .command(&spec, Some(command))
            .map_err(|e| ExecError(e.message))?;
        let key = format!("{uid}/{container}");
        let leader = self
            .groups
            .lock()
            .iter()
            .find(|(_, k)| **k == key)
            .map(|(pgid, _)| *pgid);
        let mut command = match (leader.and_then(sandbox_init), which("nsenter")) {
            // Root can enter the container's namespaces: the exec then sees its /tmp, /run and
            // processes, as in a real container.
            (Some(init), Some(nsenter)) if is_root() => {
                let mut cmd = tokio::process::Command::new(nsenter);
                cmd.arg(format!("--target={init}"))
                    .args(["--mount", "--uts", "--ipc", "--pid", "--root"])
                    // nsenter opens `--wd=DIR` before it enters: change directory inside.
                    .args([
                        "--",
                        "/bin/sh",
                        "-c",
                        "cd -- \"$1\" && shift && exec \"$@\"",
                        "sh",
                    ])
                    .arg(&prepared.working_dir)
                    .args(&prepared.argv)
                    .env_clear()
                    .envs(prepared.vars.iter().map(|(k, v)| (k, v)))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .process_group(0);
                cmd
            }
            // Otherwise a sandbox of its own with the container's mounts (its tmpfs apart).
            _ => prepared.command,
        };
        command.stdin(Stdio::piped()).kill_on_drop(true);
        command.spawn().map_err(|e| {
            ExecError(format!(
                "failed to exec in container: failed to start bubblewrap: {e}"
            ))
        })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let groups: Vec<i32> = self.groups.lock().keys().copied().collect();
        let dir = self.owns_dir.then(|| self.dir.clone());
        let memory = self.memory.clone();
        async move {
            for g in &groups {
                terminate(*g);
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline && groups.iter().any(|g| running(*g)) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for g in &groups {
                let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
            }
            if let Some(m) = memory {
                m.remove();
            }
            if let Some(d) = dir {
                let _ = std::fs::remove_dir_all(d);
            }
        }
        .boxed()
    }
}

impl ProcessRuntime {
    /// Builds the bubblewrap command for a container (no I/O besides creating its directories),
    /// or with `exec`, for a command run in a started container's environment: the same
    /// variables, mounts (its writable directories included) and working directory, in a
    /// sandbox of its own beside the container's, without a memory cgroup of its own.
    fn command(
        &self,
        spec: &ContainerSpec,
        exec: Option<&[String]>,
    ) -> std::result::Result<Prepared, StartError> {
        let pod = &spec.pod;
        let c = &spec.container;
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let image_ref = c["image"].as_str().unwrap_or_default();
        let image = self
            .images
            .find(image_ref)
            .ok_or_else(|| start_error("ErrImagePull", format!("no image {image_ref}")))?;
        let cluster = self
            .cluster()
            .ok_or_else(|| start_error("RunContainerError", "runtime not attached"))?;
        let sandboxes = self.sandboxes.lock();
        let sandbox = sandboxes
            .get(uid)
            .ok_or_else(|| start_error("RunContainerError", "the pod has no sandbox"))?;
        let (api_host, api_port) = {
            let n = self.network.lock();
            (n.api_ip(), n.api_port)
        };
        let node_cpu = crate::quantity::parse(&cluster.opts.node_cpu).unwrap_or(1.0);
        let node_memory = crate::quantity::parse(&cluster.opts.node_memory).unwrap_or(0.0);
        let node = pod["spec"]["nodeName"]
            .as_str()
            .and_then(|n| cluster.store.get(ids::NODES, "", n))
            .map(|n| n.value());
        let ctx = env::Context {
            image_env: image.env.0.clone(),
            pod_ip: sandbox.ip.clone(),
            host_ip: node_ip(node.as_ref()),
            api_host,
            api_port,
            node_cpu,
            node_memory,
        };
        let mut vars = env::resolve(pod, c, &ctx, &Lookup(cluster))?;
        let hostname = pod_hostname(pod);
        if !vars.iter().any(|(k, _)| k == "HOSTNAME") {
            vars.push(("HOSTNAME".into(), hostname.clone()));
        }
        let argv = match exec {
            Some(command) => command.to_vec(),
            None => env::command_line(c, &image.entrypoint, &image.args, &vars),
        };
        if argv.is_empty() {
            return Err(start_error(
                "RunContainerError",
                "no command specified: the container has no command and its image no entrypoint",
            ));
        }
        let run_dir =
            sandbox
                .dir
                .join("containers")
                .join(format!("{}-{}", spec.name(), spec.restart_count));
        let mut mounts: Vec<Mount> = image
            .mounts
            .iter()
            .map(|m| Mount {
                target: m.target.clone(),
                source: Source::Host(m.source.clone()),
                read_only: true,
            })
            .collect();
        for (i, w) in image.writable.iter().enumerate() {
            let d = run_dir.join(format!("writable-{i}"));
            std::fs::create_dir_all(&d).map_err(|e| start_error("RunContainerError", e))?;
            mounts.push(Mount {
                target: w.clone(),
                source: Source::Host(d),
                read_only: false,
            });
        }
        mounts.push(Mount {
            target: "/etc/hosts".into(),
            source: Source::Host(sandbox.dir.join("hosts")),
            read_only: true,
        });
        // The file the container may leave its termination message in, as a kubelet mounts it.
        let termination = TerminationMessage::of(c, &run_dir, exec.is_none())?;
        mounts.push(Mount {
            target: termination.target.clone(),
            source: Source::Host(termination.file.clone()),
            read_only: false,
        });
        let volume_mounts = volumes::mounts(c, &sandbox.volumes)
            .map_err(|e| start_error("CreateContainerConfigError", e))?;
        mounts.extend(volume_mounts);
        drop(sandboxes);

        let working_dir = c["workingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .map(PathBuf::from)
            .or_else(|| image.working_dir.clone())
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut args: Vec<String> = vec![
            "--unshare-pid".into(),
            "--unshare-uts".into(),
            "--unshare-ipc".into(),
            "--die-with-parent".into(),
            "--hostname".into(),
            hostname,
        ];
        args.extend(layout::bwrap_args(&HostFs, &mounts));
        args.extend([
            "--chdir".into(),
            working_dir.display().to_string(),
            "--".into(),
        ]);
        let argv_kept = argv.clone();
        args.extend(argv);

        let limit = c["resources"]["limits"]["memory"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                c["resources"]["limits"]["memory"]
                    .as_i64()
                    .map(|n| n.to_string())
            })
            .and_then(|q| crate::quantity::parse(&q))
            .filter(|b| *b > 0.0);
        let group = match (&self.memory, limit, exec) {
            (Some(root), Some(bytes), None) => root.group(
                &format!("{uid}-{}-{}", spec.name(), spec.restart_count),
                bytes as u64,
            ),
            _ => None,
        };
        let mut command = match &group {
            // Join the cgroup before bubblewrap starts, so every process of the container is in it.
            Some(g) => {
                let mut cmd = tokio::process::Command::new("/bin/sh");
                cmd.arg("-c")
                    .arg("echo $$ > \"$0\" && exec \"$@\"")
                    .arg(g.procs_file())
                    .arg(&self.bwrap);
                cmd
            }
            None => tokio::process::Command::new(&self.bwrap),
        };
        let vars_kept = vars.clone();
        command
            .args(&args)
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        Ok(Prepared {
            command,
            argv: argv_kept,
            vars: vars_kept,
            working_dir,
            cgroup: group,
            termination,
        })
    }
}

/// A container ready to start.
struct Prepared {
    command: tokio::process::Command,
    /// Its command line, environment and working directory, for an exec that enters it.
    argv: Vec<String>,
    vars: Vec<(String, String)>,
    working_dir: PathBuf,
    cgroup: Option<cgroup::Group>,
    termination: TerminationMessage,
}

/// Where a container's termination message is written, and what the kubelet reports when it
/// is empty (`terminationMessagePolicy`).
struct TerminationMessage {
    /// `terminationMessagePath` in the container.
    target: PathBuf,
    /// The host file behind it.
    file: PathBuf,
    /// `FallbackToLogsOnError`: an empty message of a failed container is its log's tail.
    fallback_to_logs: bool,
}

/// The most of a termination message a kubelet reports.
const TERMINATION_MESSAGE_BYTES: usize = 4096;
/// The log tail reported instead, at most.
const FALLBACK_LOG_LINES: usize = 80;
const FALLBACK_LOG_BYTES: usize = 2048;

impl TerminationMessage {
    /// Where the message of `container` goes; `create` empties the file, as a container starts.
    fn of(
        container: &Value,
        run_dir: &Path,
        create: bool,
    ) -> std::result::Result<Self, StartError> {
        let target = container["terminationMessagePath"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or("/dev/termination-log");
        let file = run_dir.join("termination-log");
        if create {
            std::fs::create_dir_all(run_dir)
                .and_then(|()| std::fs::write(&file, b""))
                .map_err(|e| start_error("RunContainerError", e))?;
        }
        Ok(TerminationMessage {
            target: PathBuf::from(target),
            file,
            fallback_to_logs: container["terminationMessagePolicy"] == "FallbackToLogsOnError",
        })
    }

    /// The message to report for an exit with `code`, if any.
    fn read(&self, code: i32, log: &LogBuffer) -> Option<String> {
        let mut bytes = std::fs::read(&self.file).unwrap_or_default();
        bytes.truncate(TERMINATION_MESSAGE_BYTES);
        let message = String::from_utf8_lossy(&bytes).into_owned();
        if !message.is_empty() {
            return Some(message);
        }
        if !self.fallback_to_logs || code == 0 {
            return None;
        }
        let (lines, _) = log.lines_from(0);
        let start = lines.len().saturating_sub(FALLBACK_LOG_LINES);
        let tail: Vec<String> = lines[start..]
            .iter()
            .map(|(_, l)| String::from_utf8_lossy(l).trim_end().to_string())
            .collect();
        let text = tail.join("\n");
        let cut = text.len().saturating_sub(FALLBACK_LOG_BYTES);
        let cut = (cut..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        Some(text[cut..].to_string()).filter(|t| !t.is_empty())
    }
}

/// The state and process group in a `/proc/PID/stat` line (the command name, in parentheses,
/// may hold spaces and parentheses itself).
fn stat_state_and_group(stat: &str) -> Option<(char, i32)> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some((state, group))
}

/// The processes of group `pgid` with their states.
fn group_members(pgid: i32) -> Vec<(i32, char)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (state, group) = stat_state_and_group(&stat)?;
            (group == pgid).then_some((pid, state))
        })
        .collect()
}

/// Sends SIGTERM to a container: to every process of its group but the leader, bubblewrap's
/// outer process. SIGTERM would end that one at once and, through `--die-with-parent`, kill the
/// container's processes before they could handle the signal; spared, it exits when the
/// container's main process does, with its status.
fn terminate(pgid: i32) {
    for (pid, _) in group_members(pgid) {
        if pid != pgid {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

/// Whether kubesim runs as root (the owner of `/proc/self` is the effective user).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The first child of a container's outer bubblewrap process: the init of its namespaces.
fn sandbox_init(leader: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{leader}/task/{leader}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether a process of group `pgid` still runs (a zombie waiting to be reaped does not).
fn running(pgid: i32) -> bool {
    group_members(pgid).iter().any(|(_, state)| *state != 'Z')
}

/// Writes fresh service-account tokens into the sandboxes whose tokens are due.
fn rotate_tokens(cluster: &Cluster, sandboxes: &Mutex<HashMap<String, PodSandbox>>) {
    let now = tokio::time::Instant::now();
    for sb in sandboxes.lock().values_mut() {
        if !sb.tokens_due(now) {
            continue;
        }
        let Some(pod) = cluster.store.get(ids::PODS, &sb.pod.0, &sb.pod.1) else {
            continue;
        };
        let pod = pod.value();
        for v in &sb.volumes {
            for t in &v.tokens {
                let _ = t.write(&pod, &Lookup(cluster), &v.name, &v.path);
            }
        }
        sb.tokens_written = now;
    }
}

/// Copies a process's output into the container log, line by line.
async fn pump(stream: impl AsyncRead + Unpin, log: Arc<LogBuffer>) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                log.push(text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

/// A running container.
struct Process {
    child: tokio::process::Child,
    pgid: i32,
    pumps: Vec<tokio::task::JoinHandle<()>>,
    groups: Arc<Mutex<HashMap<i32, String>>>,
    cgroup: Option<cgroup::Group>,
    exit: Option<Exit>,
    termination: TerminationMessage,
    log: Arc<LogBuffer>,
}

impl Process {
    async fn finish(&mut self, status: std::io::Result<std::process::ExitStatus>) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        if let Some(e) = &self.exit {
            return e.clone();
        }
        let code = match status {
            Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)),
            Err(_) => 137,
        };
        // Whatever the main process left behind goes with it, as when a container's init exits.
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        for p in self.pumps.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        self.groups.lock().remove(&self.pgid);
        let oom = self.cgroup.as_ref().is_some_and(cgroup::Group::oom_killed);
        if let Some(g) = self.cgroup.take() {
            g.remove();
        }
        let mut exit = if oom && code == 137 {
            Exit {
                code,
                reason: "OOMKilled".into(),
                message: None,
            }
        } else {
            Exit::with_code(code)
        };
        exit.message = self.termination.read(code, &self.log);
        self.exit = Some(exit.clone());
        exit
    }
}

impl Container for Process {
    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        async move {
            if let Some(e) = &self.exit {
                return e.clone();
            }
            let status = self.child.wait().await;
            self.finish(status).await
        }
        .boxed()
    }

    fn stop(&mut self, grace: Duration) -> BoxFuture<'_, Exit> {
        async move {
            if let Some(e) = &self.exit {
                return e.clone();
            }
            terminate(self.pgid);
            let status = match tokio::time::timeout(grace, self.child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
                    self.child.wait().await
                }
            };
            self.finish(status).await
        }
        .boxed()
    }
}

/// A container whose processes did not survive a kubesim restart.
struct Gone;

impl Container for Gone {
    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        async {
            Exit {
                code: 137,
                reason: "ContainerStatusUnknown".into(),
                message: Some("The container could not be located when kubesim restarted".into()),
            }
        }
        .boxed()
    }

    fn stop(&mut self, _grace: Duration) -> BoxFuture<'_, Exit> {
        self.wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_the_network_and_are_reused() {
        let mut n = Network {
            octet: 42,
            api_port: 443,
            next: 0,
            free: Vec::new(),
        };
        assert_eq!(n.api_ip(), "127.42.0.1");
        let a = n.allocate();
        let b = n.allocate();
        assert_eq!((a.as_str(), b.as_str()), ("127.42.1.2", "127.42.1.3"));
        n.release(&a);
        assert_eq!(n.allocate(), a);
        n.release("127.43.1.2");
        n.release("10.244.0.5");
        assert_eq!(n.allocate(), "127.42.1.4");
        n.reserve("127.42.3.0");
        assert_eq!(n.allocate(), "127.42.3.1");
        for _ in 0..600 {
            let ip = n.allocate();
            assert!(n.owns(&ip).is_some(), "{ip}");
        }
    }

    #[test]
    fn the_certificate_covers_every_api_address() {
        let names = crate::tls::server_names();
        for start in [0u8, 57, 199] {
            for i in 0..OCTETS {
                let ip = format!("127.{}.0.1", candidate_octet(start, i));
                assert!(names.contains(&ip), "{ip}");
            }
        }
        assert_eq!(api_addresses().count(), usize::from(OCTETS));
    }

    #[test]
    fn host_ip_is_the_nodes_first_address() {
        let node = serde_json::json!({"status": {"addresses": [
            {"type": "InternalIP", "address": "172.18.0.3"},
            {"type": "Hostname", "address": "kubesim-node-1"},
        ]}});
        let cases = [
            (Some(node), "172.18.0.3"),
            (Some(serde_json::json!({"status": {}})), "172.18.0.2"),
            (None, "172.18.0.2"),
        ];
        for (node, want) in cases {
            assert_eq!(node_ip(node.as_ref()), want, "{node:?}");
        }
    }

    #[test]
    fn reads_state_and_group_from_stat() {
        let cases = [
            ("42 (sleep) S 1 42 42 0 -1", Some(('S', 42))),
            ("7 (a) b (c)) Z 3 9 9 0", Some(('Z', 9))),
            ("garbage", None),
        ];
        for (line, want) in cases {
            assert_eq!(stat_state_and_group(line), want, "{line}");
        }
    }

    #[test]
    fn terminating_a_group_spares_its_leader() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let spawn = |group: i32| {
            std::process::Command::new("sleep")
                .arg("30")
                .process_group(group)
                .spawn()
                .unwrap_or_else(|e| panic!("failed to start sleep: {e}"))
        };
        let mut leader = spawn(0);
        let pgid = leader.id() as i32;
        let mut member = spawn(pgid);
        terminate(pgid);
        let status = member.wait().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        assert!(
            matches!(leader.try_wait(), Ok(None)),
            "the leader was signalled"
        );
        assert!(running(pgid));
        let _ = leader.kill();
        // Killed but not reaped yet: a zombie, which no longer counts as running.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while running(pgid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(pgid));
        let _ = leader.wait();
    }

    #[test]
    fn tokens_rotate_at_four_fifths_of_their_lifetime() {
        let token = volumes::ProjectedToken {
            path: "token".into(),
            audience: None,
            seconds: 100,
            mode: 0o644,
        };
        let volume = volumes::Prepared {
            name: "kube-api-access".into(),
            path: "/nonexistent".into(),
            read_only: true,
            tokens: vec![token],
        };
        let now = tokio::time::Instant::now();
        let written = |ago: u64| PodSandbox {
            dir: "/nonexistent".into(),
            ip: "127.42.1.2".into(),
            volumes: vec![volume.clone()],
            pod: ("ns".into(), "p".into()),
            tokens_written: now.checked_sub(Duration::from_secs(ago)).unwrap_or(now),
        };
        assert!(!written(79).tokens_due(now));
        assert!(written(80).tokens_due(now));
        let without = PodSandbox {
            volumes: Vec::new(),
            ..written(1000)
        };
        assert!(!without.tokens_due(now));
    }

    #[test]
    fn hostnames() {
        let long = "x".repeat(70);
        let cases = [
            (
                serde_json::json!({"metadata": {"name": "spark-pi-driver"}}),
                "spark-pi-driver".to_string(),
            ),
            (
                serde_json::json!({"metadata": {"name": "p"}, "spec": {"hostname": "h"}}),
                "h".into(),
            ),
            (
                serde_json::json!({"metadata": {"name": long}}),
                "x".repeat(63),
            ),
        ];
        for (pod, want) in cases {
            assert_eq!(pod_hostname(&pod), want);
        }
    }
}
