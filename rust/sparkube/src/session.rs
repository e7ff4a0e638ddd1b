//! Sessions: a Spark Connect server submitted as the driver (see
//! [`sparkube_core::session`]), waited for until it answers, and reached through a
//! port-forward of the API server, so a notebook needs no network route to the pods and no
//! credentials beyond its kubeconfig.
//!
//! The forward is a local TCP listener; every connection accepted (gRPC opens a few, and
//! reopens them after an error) gets its own WebSocket port-forward to the driver's Connect port
//! (`pods/portforward`, kube-rs's `Api::portforward`). A dropped forward so ends one TCP
//! connection, which the client's gRPC channel reopens; the session on the server is untouched.
//! "Answers" means the server speaks HTTP/2: through a forward, the connection preface and an
//! empty SETTINGS frame are sent and the server's SETTINGS frame is awaited, which a gRPC
//! server sends only once it is serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

pub use sparkube_core::session::{
    CONNECT_PORT, CONNECT_PORT_KEY, CONNECT_SERVER_CLASS, DEFAULT_IDLE_TIMEOUT, IDLE_TIMEOUT_KEY,
    NO_RESOURCE, READY_LINE, SERVER_PROGRAM, SERVER_PROGRAM_PATH, SESSION_LABEL, connect_port,
    session_spec,
};

use crate::client::Client;
use crate::kill::KillOptions;
use crate::logs::{LogOptions, LogStream};
use crate::submit::{AppHandle, SubmitError};
use crate::track::state::AppStatus;
use crate::track::{TrackError, WaitOptions};
use crate::{Ids, SubmitRequest};

/// Failure to open, reach or close a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session's settings are not usable.
    #[error(transparent)]
    Config(#[from] sparkube_core::Error),
    /// Submitting the server failed.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// Following the server's driver pod failed, or the server ended (`AppFailed`, with the
    /// reason and the end of its log, as for a batch application).
    #[error(transparent)]
    Track(#[from] TrackError),
    /// Deleting the server failed.
    #[error(transparent)]
    Kill(#[from] crate::kill::KillError),
    /// A session of that name runs another image.
    #[error(
        "session {name} already exists in namespace {namespace} (driver pod {pod}) with image \
         {existing}, not {requested}: close it first, or choose another name"
    )]
    ImageMismatch {
        /// Session name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The existing driver pod.
        pod: String,
        /// Its image.
        existing: String,
        /// The image asked for.
        requested: String,
    },
    /// The local address could not be listened on (a port already in use).
    #[error("cannot listen on {addr} for the port-forward: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server did not answer in time; the driver was deleted.
    #[error(
        "the Spark Connect server of session {name} (driver pod {}/{}) did not answer within \
         {waited:?}: {}{} (the driver pod was deleted)",
        status.namespace, status.driver_pod, status.summary(),
        last_error.as_deref().map(|e| format!("; last attempt: {e}")).unwrap_or_default()
    )]
    NotReady {
        /// Session name.
        name: String,
        /// The driver's last status.
        status: Box<AppStatus>,
        /// How long it was waited for.
        waited: Duration,
        /// What the last attempt to reach the server said.
        last_error: Option<String>,
    },
}

impl SessionError {
    /// The driver's status when the error is about the server (it failed or never answered).
    pub fn app_status(&self) -> Option<&AppStatus> {
        match self {
            Self::Track(e) => e.app_status(),
            Self::NotReady { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// Result of session operations.
pub type Result<T> = std::result::Result<T, SessionError>;

/// How to open a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// How long the server may take to answer (pod start, JVM, Spark, executors' request).
    pub ready_timeout: Duration,
    /// Where the forward listens; port 0 picks a free one.
    pub local_addr: SocketAddr,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            ready_timeout: Duration::from_secs(300),
            local_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// An open session: the server's driver, and the forward to its Connect port.
#[derive(Debug)]
pub struct Session {
    /// The session's name.
    pub name: String,
    /// The server's driver.
    pub handle: AppHandle,
    /// Whether the server already ran (the session was attached by name, not started).
    pub attached: bool,
    /// The Connect port in the driver.
    pub port: u16,
    forward: PortForward,
}

impl Session {
    /// The local address of the forward.
    pub fn local_addr(&self) -> SocketAddr {
        self.forward.local_addr
    }

    /// The Spark Connect URL for any client: `sc://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("sc://{}", self.forward.local_addr)
    }

    /// The forward's counters.
    pub fn forward_stats(&self) -> ForwardStats {
        self.forward.stats()
    }

    /// Stops forwarding, leaving the server running (it can be attached again by name).
    pub fn detach(self) {}
}

/// The image of a driver pod's first container.
fn pod_image(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.containers.first()?.image.clone()
}

/// Whether a pod is still a live server (not ended, not being deleted).
fn is_live(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

impl Client {
    /// The live driver of session `name` in `namespace` (the default one when `None`).
    pub async fn find_session(&self, namespace: Option<&str>, name: &str) -> Result<Option<Pod>> {
        let selector = format!("{SESSION_LABEL}={name}");
        let pods = self.list_driver_pods(namespace, Some(&selector)).await?;
        Ok(pods.into_iter().find(is_live))
    }

    /// The statuses of the sessions' drivers (label [`SESSION_LABEL`]) of `namespace`.
    pub async fn list_sessions(&self, namespace: Option<&str>) -> Result<Vec<AppStatus>> {
        Ok(self.list(namespace, Some(SESSION_LABEL)).await?)
    }

    /// Opens the session `request` describes (made by [`session_spec`]): attaches to the live
    /// server of the same name when there is one (refusing another image), else submits it;
    /// waits until it answers, then forwards a local port to it. A server that ends or does
    /// not answer in time fails with its reason, and a server started here is deleted again.
    pub async fn open_session(
        &self,
        request: &SubmitRequest,
        options: &SessionOptions,
    ) -> Result<Session> {
        let name = request
            .conf
            .get(&format!("spark.kubernetes.driver.label.{SESSION_LABEL}"))
            .map(str::to_owned)
            .ok_or_else(|| {
                sparkube_core::Error::invalid("name", "not a session: no session label")
            })?;
        let port = connect_port(&request.conf);
        let namespace = request.conf.get("spark.kubernetes.namespace");
        // Listen first: a port in use fails before anything is created.
        let listener = TcpListener::bind(options.local_addr)
            .await
            .map_err(|source| SessionError::Listen {
                addr: options.local_addr,
                source,
            })?;
        let (handle, attached) = match self.find_session(namespace, &name).await? {
            Some(pod) => {
                let requested = request
                    .conf
                    .get("spark.kubernetes.driver.container.image")
                    .or_else(|| request.conf.get("spark.kubernetes.container.image"))
                    .map(str::to_owned);
                let existing = pod_image(&pod).unwrap_or_default();
                if let Some(requested) = requested
                    && requested != existing
                {
                    return Err(SessionError::ImageMismatch {
                        name,
                        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                        pod: pod.metadata.name.clone().unwrap_or_default(),
                        existing,
                        requested,
                    });
                }
                let handle =
                    AppHandle::from_pod(&pod, true).ok_or_else(|| TrackError::NotADriver {
                        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                        pod: pod.metadata.name.clone().unwrap_or_default(),
                    })?;
                (handle, true)
            }
            None => {
                let ids = Ids::for_submission(request.submission_id.as_deref());
                let resources = crate::build(request, &ids)?;
                (self.submit(&resources).await?, false)
            }
        };
        match self
            .wait_until_answering(&name, &handle, port, options.ready_timeout)
            .await
        {
            Ok(()) => {}
            Err(e) => {
                if !attached {
                    let _ = self.close_session(&handle, false).await;
                }
                return Err(e);
            }
        }
        let forward = PortForward::start(
            self.streams().clone(),
            &handle.namespace,
            &handle.driver_pod,
            port,
            listener,
        );
        Ok(Session {
            name,
            handle,
            attached,
            port,
            forward,
        })
    }

    /// Waits until the server of `handle` answers on `port`: the driver running, then an HTTP/2
    /// exchange through a forward. Fails as a batch app fails when the driver ends (its status
    /// with the log tail and root cause), and with [`SessionError::NotReady`] (deleting
    /// nothing) after `timeout`, or once its image could not be pulled for a batch app's
    /// image-pull grace.
    pub async fn wait_until_answering(
        &self,
        name: &str,
        handle: &AppHandle,
        port: u16,
        timeout: Duration,
    ) -> Result<()> {
        let start = Instant::now();
        let mut last_error = None;
        let mut pull_failing_since: Option<Instant> = None;
        // The driver log, followed for the server's ready line between polls.
        let mut ready_lines: Option<LogStream> = None;
        let mut followed_log = false;
        loop {
            let status = self.status(&handle.namespace, &handle.driver_pod).await?;
            if status.is_final() {
                // The log tail and the root cause (OOM, exception, executors...) a failed
                // batch app's wait attaches.
                let status = self.with_log_tail(status, &WaitOptions::default()).await;
                return Err(TrackError::AppFailed {
                    status: Box::new(status),
                }
                .into());
            }
            // An image that cannot be pulled will not be after the pull grace a batch app's
            // wait gives it either: no need to wait out the whole timeout.
            if status.is_image_pull_failure() {
                let since = *pull_failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= WaitOptions::default().image_pull_grace {
                    return Err(SessionError::NotReady {
                        name: name.to_owned(),
                        status: Box::new(status),
                        waited: start.elapsed(),
                        last_error,
                    });
                }
            } else {
                pull_failing_since = None;
            }
            if status.state.has_started() {
                match probe(self.streams(), &handle.namespace, &handle.driver_pod, port).await {
                    Ok(()) => {
                        log::debug!("{}: the server answered", handle.driver_pod);
                        return Ok(());
                    }
                    Err(e) => {
                        log::debug!("{}: probe: {e}", handle.driver_pod);
                        last_error = Some(e);
                    }
                }
                if !followed_log {
                    // Best effort: without the log, the polling below still finds the server.
                    followed_log = true;
                    let options = LogOptions {
                        follow: true,
                        ..LogOptions::default()
                    };
                    ready_lines = self
                        .logs(Some(&handle.namespace), &handle.driver_pod, &options)
                        .await
                        .ok();
                }
            }
            if start.elapsed() >= timeout {
                return Err(SessionError::NotReady {
                    name: name.to_owned(),
                    status: Box::new(status),
                    waited: start.elapsed(),
                    last_error,
                });
            }
            let ready_line_ended = match ready_lines.as_mut() {
                Some(lines) => {
                    let ready_line = async {
                        while let Some(Ok(line)) = lines.next_line().await {
                            if line.contains(READY_LINE) {
                                log::debug!("{}: the server's ready line came", handle.driver_pod);
                                return false;
                            }
                        }
                        true
                    };
                    tokio::select! {
                        () = tokio::time::sleep(READY_POLL) => false,
                        ended = ready_line => ended,
                    }
                }
                None => {
                    tokio::time::sleep(READY_POLL).await;
                    false
                }
            };
            if ready_line_ended {
                ready_lines = None;
            }
        }
    }

    /// Deletes a session's driver, and with it the executors, service and config maps it owns.
    pub async fn close_session(&self, handle: &AppHandle, wait: bool) -> Result<bool> {
        let options = KillOptions {
            grace_period: Some(Duration::from_secs(0)),
            wait,
            wait_timeout: Some(Duration::from_secs(60)),
        };
        Ok(self
            .kill(Some(&handle.namespace), &handle.driver_pod, &options)
            .await?)
    }
}

/// The HTTP/2 client connection preface followed by an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// How often a starting server is polled when its ready line has not come.
const READY_POLL: Duration = Duration::from_millis(250);

/// How long one probe waits for the server's SETTINGS frame.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a forward to `pod:port` and checks that an HTTP/2 server answers there.
pub async fn probe(
    kube: &kube::Client,
    namespace: &str,
    pod: &str,
    port: u16,
) -> std::result::Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(kube.clone(), namespace);
    let mut forwarder = pods
        .portforward(pod, &[port])
        .await
        .map_err(|e| format!("port-forward: {e}"))?;
    let mut stream = forwarder
        .take_stream(port)
        .ok_or_else(|| "port-forward gave no stream".to_string())?;
    let error = forwarder.take_error(port);
    let exchange = async {
        stream
            .write_all(H2_PREFACE)
            .await
            .map_err(|e| e.to_string())?;
        let mut header = [0u8; 9];
        stream
            .read_exact(&mut header)
            .await
            .map_err(|_| "the connection closed before the server answered".to_string())?;
        // A frame header: 3 bytes of length, then the type; 4 is SETTINGS.
        if header[3] == 4 {
            Ok(())
        } else {
            Err(format!(
                "port {port} answered, but not with HTTP/2 (first bytes {:02x?})",
                &header[..4]
            ))
        }
    };
    let result = tokio::select! {
        r = tokio::time::timeout(PROBE_TIMEOUT, exchange) => {
            r.unwrap_or_else(|_| Err(format!("no answer on port {port} within {PROBE_TIMEOUT:?}")))
        }
        Some(message) = async {
            match error {
                Some(e) => e.await,
                None => std::future::pending().await,
            }
        } => Err(message),
    };
    forwarder.abort();
    result
}

/// Counters of a forward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Local connections accepted.
    pub connections: u64,
    /// Port-forwards that could not be opened or ended with an error.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    failures: AtomicU64,
}

/// A local listener forwarding each connection to a pod's port through the API server.
#[derive(Debug)]
pub struct PortForward {
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

/// How often opening a forward is tried for one connection before it is dropped.
const OPEN_ATTEMPTS: u32 = 4;

impl PortForward {
    /// Serves `listener`: each accepted connection is relayed to `pod:port`.
    pub fn start(
        kube: kube::Client,
        namespace: &str,
        pod: &str,
        port: u16,
        listener: TcpListener,
    ) -> Self {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let counters = Arc::new(Counters::default());
        let pods: Api<Pod> = Api::namespaced(kube, namespace);
        let pod = pod.to_owned();
        let c = counters.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                c.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(relay(pods.clone(), pod.clone(), port, conn, c.clone()));
            }
        });
        Self {
            local_addr,
            counters,
            task,
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters so far.
    pub fn stats(&self) -> ForwardStats {
        ForwardStats {
            connections: self.counters.connections.load(Ordering::Relaxed),
            failures: self.counters.failures.load(Ordering::Relaxed),
        }
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one local connection through its own port-forward, opened again (with a short
/// backoff) when the API server refuses or drops the upgrade.
async fn relay(
    pods: Api<Pod>,
    pod: String,
    port: u16,
    mut conn: TcpStream,
    counters: Arc<Counters>,
) {
    let _ = conn.set_nodelay(true);
    let mut attempt = 0;
    let mut forwarder = loop {
        match pods.portforward(&pod, &[port]).await {
            Ok(f) => break f,
            Err(e) => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                if attempt >= OPEN_ATTEMPTS {
                    log::warn!("port-forward to {pod}:{port} failed: {e}");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    };
    let Some(mut upstream) = forwarder.take_stream(port) else {
        return;
    };
    let error = forwarder.take_error(port);
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut conn, &mut upstream) => {
            if let Err(e) = r {
                log::debug!("port-forward connection to {pod}:{port} ended: {e}");
            }
        }
        Some(message) = async {
            match error {
                Some(e) => e.await,
                None => std::future::pending().await,
            }
        } => {
            counters.failures.fetch_add(1, Ordering::Relaxed);
            log::warn!("port-forward to {pod}:{port}: {message}");
        }
    }
    forwarder.abort();
}
