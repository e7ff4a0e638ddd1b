//! The container runtime interface the kubelet drives: pod sandboxes, image pulls, and
//! containers that can be waited on and stopped. `simulated` is driven by pod annotations;
//! `process` runs containers as local processes.

pub mod process;
pub mod simulated;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::logs::LogBuffer;

/// How a container ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// Exit code (128 + signal for signals).
    pub code: i32,
    /// `Completed`, `Error`, `OOMKilled`, …
    pub reason: String,
    /// Optional termination message.
    pub message: Option<String>,
}

impl Exit {
    /// An exit with the reason the kubelet reports for `code`.
    pub fn with_code(code: i32) -> Self {
        Exit {
            code,
            reason: if code == 0 {
                "Completed".into()
            } else {
                "Error".into()
            },
            message: None,
        }
    }
}

/// Why an image could not be pulled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PullError {
    /// The runtime's message (`rpc error: code = NotFound desc = …`).
    pub message: String,
}

/// Why a sandbox or container could not be created or started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct StartError {
    /// Waiting reason (`CreateContainerConfigError`, `RunContainerError`, …).
    pub reason: String,
    /// Message.
    pub message: String,
}

/// Why a command could not be run in a container (`pods/exec`): the message a client shows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// A pod's sandbox: its network identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    /// The pod IP.
    pub pod_ip: String,
}

/// One container to start.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The whole pod, as last seen (annotations, volumes, env sources).
    pub pod: Arc<Value>,
    /// The container's spec.
    pub container: Value,
    /// Whether it is an init container.
    pub init: bool,
    /// How many times it has been restarted.
    pub restart_count: u32,
    /// The sandbox it runs in.
    pub sandbox: Sandbox,
    /// When it started, if it is being resumed after a kubesim restart.
    pub resumed_from: Option<chrono::DateTime<chrono::Utc>>,
}

impl ContainerSpec {
    /// The container's name.
    pub fn name(&self) -> &str {
        self.container["name"].as_str().unwrap_or_default()
    }
}

/// A started container.
pub trait Container: Send {
    /// Resolves when the container exits by itself.
    fn wait(&mut self) -> BoxFuture<'_, Exit>;
    /// Asks the container to stop (SIGTERM), killing it after `grace`; resolves with its exit.
    fn stop(&mut self, grace: Duration) -> BoxFuture<'_, Exit>;
}

/// A container runtime.
pub trait Runtime: Send + Sync + 'static {
    /// Name shown in `nodeInfo.containerRuntimeVersion`.
    fn name(&self) -> &'static str;
    /// Gives the runtime the cluster it serves, before any pod starts (for ConfigMaps,
    /// Secrets, tokens and endpoints).
    fn attach(self: Arc<Self>, _cluster: &Arc<Cluster>) {}
    /// Stops every container still running, as the server shuts down.
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    /// Creates the pod's sandbox; `pod_ip` is the address the cluster allocated. The returned
    /// sandbox's `pod_ip` becomes `status.podIP` (a runtime may choose its own address).
    fn create_sandbox(
        &self,
        pod: Arc<Value>,
        pod_ip: String,
    ) -> BoxFuture<'static, Result<Sandbox, StartError>>;
    /// Removes the pod's sandbox.
    fn remove_sandbox(&self, pod: Arc<Value>, sandbox: Sandbox) -> BoxFuture<'static, ()>;
    /// Pulls (or checks) a container's image.
    fn pull_image(
        &self,
        pod: Arc<Value>,
        container: Value,
    ) -> BoxFuture<'static, Result<(), PullError>>;
    /// Starts `command` in the environment of the running container `container` of `pod`, for
    /// `pods/exec`, with its standard streams piped and in a process group of its own (so that
    /// a hung-up client can end it). Runtimes without processes refuse.
    fn exec(
        &self,
        _pod: Arc<Value>,
        _container: &str,
        _command: &[String],
    ) -> Result<tokio::process::Child, ExecError> {
        Err(ExecError(format!(
            "the {} container runtime runs no processes, so it cannot execute commands in \
             containers: start kubesim with --runtime process",
            self.name()
        )))
    }
    /// Starts a container, writing its output to `log`.
    fn start(
        &self,
        spec: ContainerSpec,
        log: Arc<LogBuffer>,
    ) -> BoxFuture<'static, Result<Box<dyn Container>, StartError>>;
}
