//! Starting and stopping a kubesim: state loading, the listener, the kubeconfig, the
//! controllers, the HTTP/1.1 accept loop, and a clean shutdown that snapshots state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::auth::{Tokens, random_hex};
use crate::cluster::{Cluster, Options, RuntimeKind};
use crate::runtime::Runtime;
use crate::runtime::process::{Config as ProcessConfig, ProcessRuntime};
use crate::runtime::simulated::Simulated;
use crate::store::Store;
use crate::{api, controllers, kubeconfig, persist, tls};
use tokio_rustls::TlsAcceptor;

/// Errors from starting a server.
#[derive(Debug, Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state directory could not be used.
    #[error(transparent)]
    Persist(#[from] persist::Error),
    /// The kubeconfig could not be written.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
    /// The certificates could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::Error),
    /// The process runtime could not be set up.
    #[error(transparent)]
    Process(#[from] crate::runtime::process::Error),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
    /// The in-cluster listener could not be used.
    #[error("failed to serve the in-cluster API address: {0}")]
    InCluster(std::io::Error),
}

/// Result alias for the server.
pub type Result<T> = std::result::Result<T, Error>;

/// A running kubesim.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://HOST:PORT`.
    pub url: String,
    /// The admin bearer token.
    pub token: String,
    /// The CA that signed the serving certificate (PEM), for HTTPS clients.
    pub ca_pem: String,
    /// The shared state (for in-process tests).
    pub cluster: Arc<Cluster>,
    tls: tls::Material,
    state_dir: Option<PathBuf>,
    persist_stop: Option<(
        std::sync::mpsc::Sender<Option<crate::store::Change>>,
        std::thread::JoinHandle<()>,
    )>,
    accept: Vec<tokio::task::JoinHandle<()>>,
    controllers: Option<std::thread::JoinHandle<()>>,
    runtime: Arc<dyn Runtime>,
}

/// Runs the controllers on their own thread and runtime, so a backlog of controller work
/// (thousands of pods starting) never delays API requests; returns once bootstrap objects exist.
async fn spawn_controllers(
    cluster: Arc<Cluster>,
    runtime: Arc<dyn Runtime>,
) -> Option<std::thread::JoinHandle<()>> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("kubesim-controllers".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let mut shutdown = cluster.shutdown.subscribe();
                controllers::start_all(&cluster, runtime);
                let _ = ready_tx.send(());
                while !*shutdown.borrow_and_update() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
            });
        });
    let _ = ready_rx.await;
    spawned.ok()
}

/// Starts kubesim with `opts` and a runtime chosen by `opts.runtime`.
pub async fn start(opts: Options) -> Result<Server> {
    match opts.runtime {
        RuntimeKind::Simulated => start_with_runtime(opts, Arc::new(Simulated)).await,
        RuntimeKind::Process => {
            let config = ProcessConfig {
                dir: opts.state_dir.as_ref().map(|d| d.join("runtime")),
                images: opts.images.clone(),
            };
            let process = ProcessRuntime::new(config)?;
            let in_cluster = process.take_api_listener();
            let mut server = start_with_runtime(opts, Arc::new(process)).await?;
            // Pods reach the API server as `kubernetes.default.svc` on their loopback network.
            if let Some(l) = in_cluster {
                l.set_nonblocking(true).map_err(Error::InCluster)?;
                let listener = TcpListener::from_std(l).map_err(Error::InCluster)?;
                let acceptor = tls::acceptor(&server.tls)?;
                server.accept.push(tokio::spawn(accept_loop(
                    listener,
                    server.cluster.clone(),
                    acceptor,
                )));
            }
            Ok(server)
        }
    }
}

/// Starts kubesim with a given container runtime.
pub async fn start_with_runtime(opts: Options, runtime: Arc<dyn Runtime>) -> Result<Server> {
    let (store, tokens, persist_stop) = match &opts.state_dir {
        Some(dir) => {
            let loaded = persist::load(dir)?;
            let (admin, secret) = persist::auth_secrets(dir, opts.token.as_deref())?;
            let (sink, handle, tx) = persist::writer(dir)?;
            let store = Store::new(loaded.rv, opts.watch_history, Some(sink));
            for ((res, _, _), v) in &loaded.objects {
                let _ = store.load(*res, v);
            }
            (store, Tokens::new(admin, secret), Some((tx, handle)))
        }
        None => (
            Store::new(0, opts.watch_history, None),
            Tokens::new(
                opts.token.clone().unwrap_or_else(|| random_hex(24)),
                random_hex(32),
            ),
            None,
        ),
    };
    let listener = listen(&opts.listen).await.map_err(|source| Error::Bind {
        addr: opts.listen.clone(),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: opts.listen.clone(),
        source,
    })?;
    let url = format!("http://{addr}");
    let token = tokens.admin_token().to_string();
    let material = tls::load_or_generate(opts.state_dir.as_deref())?;
    let acceptor = tls::acceptor(&material)?;
    if let Some(path) = &opts.kubeconfig {
        kubeconfig::write(
            path,
            &format!("https://{addr}"),
            &token,
            Some(&material.ca_pem),
        )?;
    }
    let state_dir = opts.state_dir.clone();
    let audit = opts
        .audit_log_path
        .as_deref()
        .map(crate::audit::AuditLog::open)
        .transpose()?;
    let mut cluster = Cluster::new(Arc::new(store), opts, tokens, material.ca_pem.clone());
    cluster.audit = audit;
    let cluster = Arc::new(cluster);
    {
        let mut addresses = cluster.addresses.lock();
        for p in cluster.store.all(crate::resources::ids::PODS, None) {
            addresses.reserve(&p.field("status.podIP"));
        }
        for s in cluster.store.all(crate::resources::ids::SERVICES, None) {
            addresses.reserve(s.value()["spec"]["clusterIP"].as_str().unwrap_or_default());
        }
    }
    runtime.clone().attach(&cluster);
    let _ = cluster.runtime.set(Arc::downgrade(&runtime));
    let controllers = spawn_controllers(cluster.clone(), runtime.clone()).await;
    let accept = vec![tokio::spawn(accept_loop(
        listener,
        cluster.clone(),
        acceptor,
    ))];
    Ok(Server {
        controllers,
        addr,
        url,
        token,
        ca_pem: material.ca_pem.clone(),
        tls: material,
        cluster,
        state_dir,
        persist_stop,
        accept,
        runtime,
    })
}

/// Binds with a deep accept backlog: a thousand watchers may connect at once.
async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a) {
            Ok(()) => return socket.listen(4096),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("no address for {addr}"),
        )
    }))
}

async fn accept_loop(listener: TcpListener, cluster: Arc<Cluster>, acceptor: TlsAcceptor) {
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let cluster = cluster.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| api::handle(cluster.clone(), req));
            let mut first = [0u8; 1];
            let is_tls = matches!(stream.peek(&mut first).await, Ok(1)) && first[0] == 0x16;
            if is_tls {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(tls), svc)
                        .with_upgrades()
                        .await;
                }
            } else {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            }
        });
    }
}

impl Server {
    /// Stops accepting, ends watches and controllers, and snapshots the state directory.
    pub async fn shutdown(mut self) {
        self.stop().await;
        if let Some(dir) = &self.state_dir {
            let _ = persist::snapshot(dir, &self.cluster.store);
        }
    }

    /// Stops the way a killed API server does, for tests of clients that must survive one:
    /// no snapshot is written, so a restart on the same state directory replays only the
    /// change log. Streams still open end when the runtime that served them goes.
    pub async fn crash(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        for a in &self.accept {
            a.abort();
        }
        // Containers stop while the controllers still track them.
        self.runtime.shutdown().await;
        self.cluster.shutdown.send_replace(true);
        if let Some(handle) = self.controllers.take() {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        if let Some((tx, handle)) = self.persist_stop.take() {
            let _ = tx.send(None);
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}
