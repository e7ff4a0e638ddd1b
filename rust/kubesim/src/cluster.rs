//! The shared state of one running kubesim: the store, options, logs, metrics, faults, tokens,
//! the event recorder and address allocators. Every handler and controller holds an
//! `Arc<Cluster>`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::audit::AuditLog;
use crate::auth::Tokens;
use crate::faults::Faults;
use crate::logs::LogStore;
use crate::metrics::Metrics;
use crate::store::Store;

/// Which container runtime the kubelet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Annotations decide timing, exit codes and logs.
    Simulated,
    /// Containers run as local processes.
    Process,
}

/// Everything configurable from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Where to write the kubeconfig, if anywhere.
    pub kubeconfig: Option<PathBuf>,
    /// Container runtime.
    pub runtime: RuntimeKind,
    /// Directory that keeps objects across restarts.
    pub state_dir: Option<PathBuf>,
    /// Number of nodes.
    pub nodes: usize,
    /// Allocatable cpu per node (a quantity).
    pub node_cpu: String,
    /// Allocatable memory per node (a quantity).
    pub node_memory: String,
    /// Maximum pods per node.
    pub node_pods: usize,
    /// Whether RBAC authorizes requests.
    pub rbac: bool,
    /// The admin bearer token (random when not given).
    pub token: Option<String>,
    /// Events kept per resource type for watches resuming from a version.
    pub watch_history: usize,
    /// Seconds between watch bookmarks.
    pub bookmark_seconds: u64,
    /// The process runtime's image table (its built-in one when `None`).
    pub images: Option<PathBuf>,
    /// Where to append the audit log (`--audit-log-path`), if anywhere.
    pub audit_log_path: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:0".into(),
            kubeconfig: None,
            runtime: RuntimeKind::Simulated,
            state_dir: None,
            nodes: 1,
            node_cpu: "16".into(),
            node_memory: "64Gi".into(),
            node_pods: 110,
            rbac: false,
            token: None,
            watch_history: 10_000,
            bookmark_seconds: 60,
            images: None,
            audit_log_path: None,
        }
    }
}

/// Allocates unique addresses for pods and services.
#[derive(Debug, Default)]
pub struct Addresses {
    next_pod: u32,
    next_svc: u32,
    free_pods: Vec<u32>,
}

impl Addresses {
    /// A fresh pod IP in 10.244.0.0/16 (reusing released ones only after the range is spent).
    pub fn pod_ip(&mut self) -> String {
        let n = if self.next_pod < 65_000 {
            self.next_pod += 1;
            self.next_pod
        } else {
            self.free_pods.pop().unwrap_or(1)
        };
        format!("10.244.{}.{}", (n + 1) / 256, (n + 1) % 256)
    }

    /// Gives a pod IP back.
    pub fn release_pod_ip(&mut self, ip: &str) {
        let parts: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
        if parts.len() == 4 && parts[0] == 10 && parts[1] == 244 {
            let n = parts[2] * 256 + parts[3];
            if n > 1 {
                self.free_pods.push(n - 1);
            }
        }
    }

    /// Marks an address loaded from persisted state as taken.
    pub fn reserve(&mut self, ip: &str) {
        let parts: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
        if parts.len() != 4 || parts[0] != 10 {
            return;
        }
        let n = parts[2] * 256 + parts[3];
        match parts[1] {
            244 => self.next_pod = self.next_pod.max(n.saturating_sub(1)),
            96 => self.next_svc = self.next_svc.max(n.saturating_sub(10)),
            _ => {}
        }
    }

    /// A fresh service cluster IP in 10.96.0.0/16.
    pub fn service_ip(&mut self) -> String {
        self.next_svc += 1;
        let n = self.next_svc + 10;
        format!("10.96.{}.{}", n / 256, n % 256)
    }
}

/// The state shared by the API handlers and the controllers.
pub struct Cluster {
    /// Objects.
    pub store: Arc<Store>,
    /// Command-line options.
    pub opts: Options,
    /// Container logs.
    pub logs: LogStore,
    /// Request counters.
    pub metrics: Metrics,
    /// Injected faults.
    pub faults: Faults,
    /// Bearer tokens.
    pub tokens: Tokens,
    /// Pod and service addresses.
    pub addresses: Mutex<Addresses>,
    /// Event aggregation: (involved uid, reason, message) → event name.
    pub event_keys: Mutex<HashMap<(String, String, String), String>>,
    /// Bumped to end every open watch; the flag says whether they end with a 410 ERROR event.
    pub drop_watches: tokio::sync::watch::Sender<(u64, bool)>,
    /// Counter for event names.
    pub event_seq: AtomicU32,
    /// Bumped when a failed node recovers, so its kubelet reports again.
    pub recovered_nodes: tokio::sync::watch::Sender<u64>,
    /// Set when the server is shutting down.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The cluster CA (PEM), published in every namespace's `kube-root-ca.crt`.
    pub ca_pem: String,
    /// The audit log, when `--audit-log-path` is set.
    pub audit: Option<AuditLog>,
    /// The container runtime, for the API's `pods/exec` (weak: the runtime holds the cluster).
    pub runtime: OnceLock<Weak<dyn crate::runtime::Runtime>>,
}

impl Cluster {
    /// A cluster around `store`.
    pub fn new(store: Arc<Store>, opts: Options, tokens: Tokens, ca_pem: String) -> Self {
        Cluster {
            store,
            opts,
            logs: LogStore::default(),
            metrics: Metrics::default(),
            faults: Faults::default(),
            tokens,
            addresses: Mutex::new(Addresses::default()),
            event_keys: Mutex::new(HashMap::new()),
            drop_watches: tokio::sync::watch::channel((0, false)).0,
            event_seq: AtomicU32::new(0),
            recovered_nodes: tokio::sync::watch::channel(0).0,
            shutdown: tokio::sync::watch::channel(false).0,
            ca_pem,
            audit: None,
            runtime: OnceLock::new(),
        }
    }

    /// Ends every open watch (with a 410 ERROR event when `expire`, as after a compaction).
    pub fn drop_all_watches(&self, expire: bool) {
        self.drop_watches.send_modify(|n| *n = (n.0 + 1, expire));
    }

    /// A unique number for event names.
    pub fn next_seq(&self) -> u32 {
        self.event_seq.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_and_skip_reserved_ones() {
        let mut a = Addresses::default();
        let first = a.pod_ip();
        let second = a.pod_ip();
        assert_ne!(first, second);
        a.reserve("10.244.3.7");
        let next = a.pod_ip();
        assert_eq!(next, "10.244.3.8");
        a.reserve("10.96.0.40");
        assert_eq!(a.service_ip(), "10.96.0.41");
    }
}
