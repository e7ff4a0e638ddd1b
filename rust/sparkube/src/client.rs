//! The connection to a Kubernetes cluster: where the API server is, how to authenticate, which
//! namespace is the default, and the shared state (one tracking watch per namespace) that all
//! handles of one [`Client`] use.
//!
//! A client is made from a kubeconfig (a path, a context, or inline YAML/JSON), from the
//! in-cluster service account, or from spark-submit's `--master k8s://…` plus its
//! `spark.kubernetes.authenticate.submission.*` and `spark.kubernetes.context` confs.
//! Credentials that rotate keep working: token files are re-read (at least once a minute) and
//! exec plugins re-run when their token expires, by kube-rs's auth layer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::RetryPolicy;
use crate::limit::{MAX_SHORT_REQUESTS, ShortRequestLimit};
use crate::track::shared::Tracker;
use crate::unauthorized::NoCredentialsNote;

/// Where the in-cluster service-account files live.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Name of the context sparkube writes into a kubeconfig it synthesises for `--master`.
const SYNTHETIC_CONTEXT: &str = "sparkube";

/// Failure to set up a connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The master URL is not `k8s://[http[s]://]host[:port]`.
    #[error("invalid Kubernetes master URL {master:?}: {reason}")]
    InvalidMaster {
        /// The master URL as given.
        master: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two options that exclude each other were both given.
    #[error("conflicting connection options: {0}")]
    Conflict(String),
    /// A file named by an option could not be read.
    #[error("failed to read {what} {path}: {source}")]
    ReadFile {
        /// What the file was for.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be read or parsed, or is incomplete. The message never
    /// quotes the kubeconfig's content (it holds credentials): a parse error gives only its
    /// position.
    #[error("{}", kubeconfig_message(from.as_deref(), source))]
    Kubeconfig {
        /// Where it was read from, when known.
        from: Option<String>,
        /// The kube-rs error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The requested context is not in the kubeconfig.
    #[error("kubeconfig context {context:?} not found{} (its contexts: {})", from.as_deref().map(|f| format!(" in {f}")).unwrap_or_default(), if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// Where the kubeconfig was read from, when known.
        from: Option<String>,
        /// The contexts the kubeconfig has.
        known: Vec<String>,
    },
    /// The in-cluster service-account configuration could not be loaded.
    #[error("failed to load the in-cluster service account configuration: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    /// Neither a kubeconfig nor an in-cluster configuration was found.
    #[error(
        "no Kubernetes configuration found: no kubeconfig ({kubeconfig}) and not running in a cluster ({in_cluster})"
    )]
    NoConfig {
        /// Why the kubeconfig could not be used.
        kubeconfig: String,
        /// Why the in-cluster configuration could not be used.
        in_cluster: String,
    },
    /// The HTTP client could not be built (TLS material, auth plugin).
    #[error("failed to create the Kubernetes client for {url}: {source}")]
    Build {
        /// The API server URL.
        url: String,
        /// The kube-rs error.
        #[source]
        source: kube::Error,
    },
    /// A synthesised kubeconfig could not be decoded (a bug, reported rather than hidden).
    #[error("failed to assemble a kubeconfig for {master}: {source}")]
    Assemble {
        /// The master URL.
        master: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result of connecting.
pub type Result<T> = std::result::Result<T, ClientError>;

impl ClientError {
    /// The connection option the error is about (a `ConnectOptions` field or a Spark conf
    /// key), when there is one.
    pub fn option(&self) -> Option<&'static str> {
        match self {
            Self::InvalidMaster { .. } | Self::Assemble { .. } => Some("master"),
            Self::ReadFile { what, .. } => Some(match *what {
                "CA certificate file" => conf_keys::CA_CERT_FILE,
                "client certificate file" => conf_keys::CLIENT_CERT_FILE,
                "client key file" => conf_keys::CLIENT_KEY_FILE,
                _ => conf_keys::OAUTH_TOKEN_FILE,
            }),
            Self::Kubeconfig { .. } | Self::NoConfig { .. } => Some("kubeconfig"),
            Self::UnknownContext { .. } => Some("context"),
            Self::InCluster(_) => Some("in_cluster"),
            Self::Conflict(_) | Self::Build { .. } => None,
        }
    }
}

/// What went wrong with a kubeconfig, without quoting its content: YAML parse errors of
/// kube-rs's parser render a snippet of the file, which may hold a token or a key.
fn kubeconfig_message(from: Option<&str>, source: &kube::config::KubeconfigError) -> String {
    use kube::config::KubeconfigError as E;
    let kubeconfig = from.map_or_else(|| "kubeconfig".to_owned(), |f| format!("kubeconfig {f}"));
    match source {
        E::ReadConfig(io, _) => format!("failed to read {kubeconfig}: {io}"),
        E::Parse(error) => {
            let at = error
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            format!("{kubeconfig} is not a valid kubeconfig: YAML parse error{at}")
        }
        E::CurrentContextNotSet => {
            format!("{kubeconfig} has no current-context: name a context to use")
        }
        other => format!("failed to load {kubeconfig}: {other}"),
    }
}

/// How to connect. Every field is optional; with none set, the kubeconfig from `KUBECONFIG`
/// or `~/.kube/config` is used, else the in-cluster service account.
///
/// Deserializable so the Python layer can pass keyword arguments straight through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectOptions {
    /// Path of a kubeconfig file.
    pub kubeconfig: Option<PathBuf>,
    /// A whole kubeconfig as YAML or JSON text (the Python layer serialises dicts to JSON).
    pub kubeconfig_content: Option<String>,
    /// Kubeconfig context (`spark.kubernetes.context`); the current context when unset.
    pub context: Option<String>,
    /// Default namespace (`spark.kubernetes.namespace`); else the context's, else the service
    /// account's, else `default`.
    pub namespace: Option<String>,
    /// `Some(true)`: use only the in-cluster service account; `Some(false)`: never fall back
    /// to it; `None`: fall back to it when no kubeconfig is found.
    pub in_cluster: Option<bool>,
    /// spark-submit's master, `k8s://https://host:port` (`k8s://host:port` means https).
    pub master: Option<String>,
    /// `spark.kubernetes.authenticate.submission.oauthToken`.
    pub oauth_token: Option<String>,
    /// `spark.kubernetes.authenticate.submission.oauthTokenFile` (re-read when it rotates).
    pub oauth_token_file: Option<PathBuf>,
    /// `spark.kubernetes.authenticate.submission.caCertFile`.
    pub ca_cert_file: Option<PathBuf>,
    /// `spark.kubernetes.authenticate.submission.clientCertFile`.
    pub client_cert_file: Option<PathBuf>,
    /// `spark.kubernetes.authenticate.submission.clientKeyFile`.
    pub client_key_file: Option<PathBuf>,
    /// Skip TLS certificate verification (`spark.kubernetes.trust.certificates`). Off unless
    /// set explicitly; a warning is logged when on.
    pub insecure_skip_tls_verify: bool,
    /// Timeout for establishing a TCP/TLS connection (kube-rs's default when unset).
    #[serde(with = "crate::serde_secs::option")]
    pub connect_timeout: Option<Duration>,
}

/// Spark conf keys read by [`ConnectOptions::apply_spark_conf`].
pub mod conf_keys {
    /// The master URL.
    pub const MASTER: &str = "spark.master";
    /// The kubeconfig context.
    pub const CONTEXT: &str = "spark.kubernetes.context";
    /// The namespace.
    pub const NAMESPACE: &str = "spark.kubernetes.namespace";
    /// Trust all server certificates.
    pub const TRUST_CERTIFICATES: &str = "spark.kubernetes.trust.certificates";
    /// Inline OAuth token for submission.
    pub const OAUTH_TOKEN: &str = "spark.kubernetes.authenticate.submission.oauthToken";
    /// OAuth token file for submission.
    pub const OAUTH_TOKEN_FILE: &str = "spark.kubernetes.authenticate.submission.oauthTokenFile";
    /// CA certificate file for submission.
    pub const CA_CERT_FILE: &str = "spark.kubernetes.authenticate.submission.caCertFile";
    /// Client certificate file for submission.
    pub const CLIENT_CERT_FILE: &str = "spark.kubernetes.authenticate.submission.clientCertFile";
    /// Client key file for submission.
    pub const CLIENT_KEY_FILE: &str = "spark.kubernetes.authenticate.submission.clientKeyFile";
    /// Connect timeout in milliseconds.
    pub const CONNECTION_TIMEOUT: &str = "spark.kubernetes.submission.connectionTimeout";
}

impl ConnectOptions {
    /// Fills the fields that are still unset from Spark conf entries, looked up with `get`
    /// (for example `|k| conf.get(k).map(str::to_owned)`). Fields already set win, so explicit
    /// arguments override the conf.
    pub fn apply_spark_conf(&mut self, get: impl Fn(&str) -> Option<String>) {
        let path = |key: &str| get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let text = |key: &str| get(key).filter(|v| !v.is_empty());
        if self.master.is_none() {
            self.master = text(conf_keys::MASTER).filter(|m| m.starts_with("k8s://"));
        }
        if self.context.is_none() {
            self.context = text(conf_keys::CONTEXT);
        }
        if self.namespace.is_none() {
            self.namespace = text(conf_keys::NAMESPACE);
        }
        if self.oauth_token.is_none() {
            self.oauth_token = text(conf_keys::OAUTH_TOKEN);
        }
        if self.oauth_token_file.is_none() {
            self.oauth_token_file = path(conf_keys::OAUTH_TOKEN_FILE);
        }
        if self.ca_cert_file.is_none() {
            self.ca_cert_file = path(conf_keys::CA_CERT_FILE);
        }
        if self.client_cert_file.is_none() {
            self.client_cert_file = path(conf_keys::CLIENT_CERT_FILE);
        }
        if self.client_key_file.is_none() {
            self.client_key_file = path(conf_keys::CLIENT_KEY_FILE);
        }
        if self.connect_timeout.is_none() {
            self.connect_timeout = text(conf_keys::CONNECTION_TIMEOUT)
                .and_then(|ms| ms.trim().parse::<u64>().ok())
                .map(Duration::from_millis);
        }
        if get(conf_keys::TRUST_CERTIFICATES).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            self.insecure_skip_tls_verify = true;
        }
    }

    fn has_submission_auth(&self) -> bool {
        self.oauth_token.is_some()
            || self.oauth_token_file.is_some()
            || self.ca_cert_file.is_some()
            || self.client_cert_file.is_some()
            || self.client_key_file.is_some()
    }
}

/// Turns spark-submit's `k8s://…` master into the API server URL, as spark-submit does:
/// the `k8s://` prefix is required, a missing scheme means `https`, only http(s) is allowed.
pub fn api_server_url(master: &str) -> Result<String> {
    let invalid = |reason: &str| ClientError::InvalidMaster {
        master: master.to_string(),
        reason: reason.to_string(),
    };
    let rest = master
        .strip_prefix("k8s://")
        .ok_or_else(|| invalid("it must start with k8s://"))?;
    let url = if rest.contains("://") {
        rest.to_string()
    } else {
        format!("https://{rest}")
    };
    let (scheme, host) = url
        .split_once("://")
        .ok_or_else(|| invalid("no host after the scheme"))?;
    // Spark takes the scheme in any case, as URLs allow.
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(invalid(&format!(
            "unsupported scheme {scheme:?} (only http and https)"
        )));
    }
    if host.is_empty() || host.starts_with('/') {
        return Err(invalid("no host"));
    }
    Ok(format!("{scheme}://{}", host.trim_end_matches('/')))
}

/// A connection to one Kubernetes cluster, cheap to clone; clones share the HTTP connection
/// pool and the tracking watches.
#[derive(Clone)]
pub struct Client {
    pub(crate) kube: kube::Client,
    /// For port-forwards: the same cluster and credentials, on sockets that send at once.
    pub(crate) streams: kube::Client,
    pub(crate) namespace: Arc<str>,
    pub(crate) cluster_url: Arc<str>,
    pub(crate) retry: RetryPolicy,
    pub(crate) tracker: Arc<Tracker>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cluster_url", &self.cluster_url)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects as described by `options` (see [`ConnectOptions`] for the order of sources).
    pub async fn connect(options: &ConnectOptions) -> Result<Self> {
        let (mut config, skipped) = load_config(options).await?;
        if let Some(ns) = options.namespace.as_deref().filter(|n| !n.is_empty()) {
            config.default_namespace = ns.to_string();
        }
        if options.insecure_skip_tls_verify {
            config.accept_invalid_certs = true;
        }
        if config.accept_invalid_certs {
            log::warn!(
                "TLS certificate verification is disabled for {}",
                config.cluster_url
            );
        }
        if options.connect_timeout.is_some() {
            config.connect_timeout = options.connect_timeout;
        }
        // Retries are done by sparkube itself, so that they are bounded, honour Retry-After
        // and are the same for every call.
        config.default_retry = false;
        let url = config.cluster_url.to_string();
        let namespace = config.default_namespace.clone();
        let identity = cluster_identity(&config);
        let no_credentials = (!has_credentials(&config.auth_info)).then(|| {
            skipped.unwrap_or_else(|| {
                format!(
                    "no token, client certificate or credential plugin is configured for {}",
                    url.trim_end_matches('/')
                )
            })
        });
        let streams = match stream_client(&config) {
            Ok(streams) => Some(streams),
            Err(e) => {
                log::debug!("port-forwards share the API client: {e}");
                None
            }
        };
        let builder = kube::client::ClientBuilder::try_from(config)
            .map_err(|source| ClientError::Build {
                url: url.clone(),
                source,
            })?
            .with_layer(&ShortRequestLimit::new(MAX_SHORT_REQUESTS));
        let note = no_credentials.as_deref().and_then(NoCredentialsNote::new);
        let kube = match note {
            Some(note) => {
                log::debug!("sending no credentials to {url}");
                builder.with_layer(&note).build()
            }
            None => builder.build(),
        };
        let tracker = shared_tracker(identity, &kube);
        let streams = streams.unwrap_or_else(|| kube.clone());
        Ok(Self::from_parts(kube, streams, namespace, url, tracker))
    }

    /// Wraps an existing kube-rs client (with watches of its own, shared by its clones).
    pub fn from_kube(kube: kube::Client) -> Self {
        let namespace = kube.default_namespace().to_string();
        let tracker = Arc::new(Tracker::new(kube.clone()));
        Self::from_parts(kube.clone(), kube, namespace, String::new(), tracker)
    }

    fn from_parts(
        kube: kube::Client,
        streams: kube::Client,
        namespace: String,
        url: String,
        tracker: Arc<Tracker>,
    ) -> Self {
        Self {
            tracker,
            streams,
            kube,
            namespace: namespace.into(),
            cluster_url: url.trim_end_matches('/').into(),
            retry: RetryPolicy::default(),
        }
    }

    /// The same connection with another retry policy for API calls.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy for API calls.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The default namespace.
    pub fn default_namespace(&self) -> &str {
        &self.namespace
    }

    /// The API server URL (empty when made with [`Client::from_kube`]).
    pub fn cluster_url(&self) -> &str {
        &self.cluster_url
    }

    /// The underlying kube-rs client.
    pub fn kube(&self) -> &kube::Client {
        &self.kube
    }

    /// The client port-forwards go through.
    pub(crate) fn streams(&self) -> &kube::Client {
        &self.streams
    }

    /// `namespace`, or the default namespace when `None` or empty.
    pub(crate) fn ns<'a>(&'a self, namespace: Option<&'a str>) -> &'a str {
        namespace
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.namespace)
    }
}

/// Who talks to which API server: clients with the same identity share their watches.
fn cluster_identity(config: &kube::Config) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&config.auth_info)
        .unwrap_or_default()
        .hash(&mut hasher);
    config.accept_invalid_certs.hash(&mut hasher);
    format!("{}#{:016x}", config.cluster_url, hasher.finish())
}

/// The process-wide tracker of one cluster identity: every client connected to the same
/// API server with the same credentials shares one watch per namespace.
fn shared_tracker(identity: String, kube: &kube::Client) -> Arc<Tracker> {
    static TRACKERS: Mutex<Option<HashMap<String, Weak<Tracker>>>> = Mutex::new(None);
    let mut guard = TRACKERS.lock().unwrap_or_else(PoisonError::into_inner);
    let trackers = guard.get_or_insert_with(HashMap::new);
    if let Some(tracker) = trackers.get(&identity).and_then(Weak::upgrade) {
        return tracker;
    }
    trackers.retain(|_, t| t.strong_count() > 0);
    let tracker = Arc::new(Tracker::new(kube.clone()));
    trackers.insert(identity, Arc::downgrade(&tracker));
    tracker
}

/// Chooses the configuration source and loads it.
/// The configuration to connect with and, when a kubeconfig context's credentials were left
/// out because `--master` names another server, why (for a 401's message).
async fn load_config(options: &ConnectOptions) -> Result<(kube::Config, Option<String>)> {
    if options.oauth_token.is_some() && options.oauth_token_file.is_some() {
        return Err(ClientError::Conflict(format!(
            "cannot specify the OAuth token through both a file {} and a value {}",
            conf_keys::OAUTH_TOKEN_FILE,
            conf_keys::OAUTH_TOKEN
        )));
    }
    if options.kubeconfig.is_some() && options.kubeconfig_content.is_some() {
        return Err(ClientError::Conflict(
            "a kubeconfig path and inline kubeconfig content were both given".into(),
        ));
    }
    if let Some(master) = options.master.as_deref() {
        return config_for_master(master, options).await;
    }
    load_kubeconfig(options).await.map(|config| (config, None))
}

/// The configuration from the kubeconfig or the in-cluster service account, without a master.
async fn load_kubeconfig(options: &ConnectOptions) -> Result<kube::Config> {
    if options.has_submission_auth() {
        return Err(ClientError::Conflict(
            "spark.kubernetes.authenticate.submission.* options need a k8s:// master".into(),
        ));
    }
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    if options.in_cluster == Some(true) {
        return kube::Config::incluster().map_err(ClientError::InCluster);
    }
    if let Some(kubeconfig) = explicit_kubeconfig(options)? {
        let from = kubeconfig_origin(options);
        check_context(&kubeconfig, options.context.as_deref(), from.as_deref())?;
        return kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options)
            .await
            .map_err(|source| ClientError::Kubeconfig { from, source });
    }
    let found = match Kubeconfig::read() {
        Ok(kubeconfig) => {
            check_context(&kubeconfig, options.context.as_deref(), None)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options).await
        }
        Err(e) => Err(e),
    };
    match found {
        Ok(config) => Ok(config),
        Err(kubeconfig_error) => {
            // A named context must come from a kubeconfig, and a kubeconfig named by
            // $KUBECONFIG or present but unusable is reported: no silent fallback.
            if options.context.is_some()
                || options.in_cluster == Some(false)
                || kubeconfig_expected(&kubeconfig_error)
            {
                return Err(ClientError::Kubeconfig {
                    from: std::env::var("KUBECONFIG").ok().filter(|k| !k.is_empty()),
                    source: kubeconfig_error,
                });
            }
            kube::Config::incluster().map_err(|in_cluster| ClientError::NoConfig {
                kubeconfig: kubeconfig_message(None, &kubeconfig_error),
                in_cluster: in_cluster.to_string(),
            })
        }
    }
}

/// A client for port-forwards, with `TCP_NODELAY` on its sockets. kube-rs's own connector
/// leaves Nagle's algorithm on, which holds a small write while an earlier one is not yet
/// acknowledged: through a forward, a gRPC request sent as two frames then waits for the
/// server's delayed ACK (40 ms on Linux) on every exchange. With a proxy in the kubeconfig
/// this refuses, and port-forwards keep the API client, whose connector handles the proxy.
fn stream_client(config: &kube::Config) -> std::result::Result<kube::Client, kube::Error> {
    use kube::client::ConfigExt;
    if config.proxy_url.is_some() {
        return Err(kube::Error::Service("the kubeconfig names a proxy".into()));
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(http)?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(https);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(|e: hyper_util::client::legacy::Error| -> tower::BoxError { e.into() })
        .service(client);
    Ok(kube::client::ClientBuilder::new(service, config.default_namespace.clone()).build())
}

/// Whether a kubeconfig that could not be read must be reported rather than done without:
/// when `$KUBECONFIG` names one, or when the default one exists but is unusable. A missing
/// `~/.kube/config` is normal in a pod.
fn kubeconfig_expected(error: &kube::config::KubeconfigError) -> bool {
    use kube::config::KubeconfigError as E;
    if std::env::var_os("KUBECONFIG").is_some_and(|k| !k.is_empty()) {
        return true;
    }
    !matches!(error, E::FindPath)
        && !matches!(error, E::ReadConfig(io, _) if io.kind() == std::io::ErrorKind::NotFound)
}

/// Where an explicit kubeconfig comes from, for messages.
fn kubeconfig_origin(options: &ConnectOptions) -> Option<String> {
    match (&options.kubeconfig, &options.kubeconfig_content) {
        (Some(path), _) => Some(path.display().to_string()),
        (None, Some(_)) => Some("(inline content)".to_owned()),
        (None, None) => None,
    }
}

/// Refuses a `context` the kubeconfig does not have, naming the ones it has.
fn check_context(kubeconfig: &Kubeconfig, context: Option<&str>, from: Option<&str>) -> Result<()> {
    let Some(context) = context else {
        return Ok(());
    };
    if kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Ok(());
    }
    Err(ClientError::UnknownContext {
        context: context.to_owned(),
        from: from.map(str::to_owned),
        known: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
    })
}

/// The kubeconfig given by path or content, if any.
fn explicit_kubeconfig(options: &ConnectOptions) -> Result<Option<Kubeconfig>> {
    if let Some(path) = &options.kubeconfig {
        return Kubeconfig::read_from(path)
            .map(Some)
            .map_err(|source| ClientError::Kubeconfig {
                from: kubeconfig_origin(options),
                source,
            });
    }
    if let Some(content) = &options.kubeconfig_content {
        return Kubeconfig::from_yaml(content).map(Some).map_err(|source| {
            ClientError::Kubeconfig {
                from: kubeconfig_origin(options),
                source,
            }
        });
    }
    Ok(None)
}

/// The cluster, user and namespace of one kubeconfig context, as JSON.
struct ContextParts {
    name: String,
    cluster: Value,
    user: Value,
    namespace: Option<String>,
    server: Option<String>,
}

/// Whether two API server URLs name the same server: the same scheme and host (any case) and
/// port (the scheme's default when absent), and the same path but for trailing slashes.
/// Credentials are sent to the `--master` only when it is the kubeconfig context's server
/// by this rule; a token must never reach another server.
pub fn same_server(a: &str, b: &str) -> bool {
    fn key(url: &str) -> Option<(String, String, u16, String)> {
        let uri: http::Uri = url.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(default_port);
        Some((
            scheme,
            host,
            port,
            uri.path().trim_end_matches('/').to_owned(),
        ))
    }
    matches!((key(a), key(b)), (Some(x), Some(y)) if x == y)
}

/// Whether the client will authenticate at all (a token, a client certificate, a basic-auth
/// user, or a plugin that gives either).
fn has_credentials(auth: &kube::config::AuthInfo) -> bool {
    auth.token.is_some()
        || auth.token_file.is_some()
        || auth.client_certificate.is_some()
        || auth.client_certificate_data.is_some()
        || auth.username.is_some()
        || auth.exec.is_some()
        || auth.auth_provider.is_some()
}

fn context_parts(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<ContextParts> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref());
    let user = ctx
        .user
        .as_deref()
        .and_then(|u| kubeconfig.auth_infos.iter().find(|a| a.name == u))
        .and_then(|a| a.auth_info.as_ref());
    Some(ContextParts {
        name: name.to_owned(),
        server: cluster.and_then(|c| c.server.clone()),
        cluster: cluster
            .and_then(|c| serde_json::to_value(c).ok())
            .unwrap_or_else(|| json!({})),
        user: user
            .and_then(|u| serde_json::to_value(u).ok())
            .unwrap_or_else(|| json!({})),
        namespace: ctx.namespace.clone(),
    })
}

/// Builds the configuration for an explicit `k8s://` master the way spark-submit does: the
/// kubeconfig context (`spark.kubernetes.context`, else the current one) supplies credentials
/// when it was named explicitly or points at the same server ([`same_server`]); otherwise the in-cluster
/// service account does when present. The submission auth confs override both.
async fn config_for_master(
    master: &str,
    options: &ConnectOptions,
) -> Result<(kube::Config, Option<String>)> {
    let url = api_server_url(master)?;
    let base = match explicit_kubeconfig(options)? {
        Some(k) => Some(k),
        None => match Kubeconfig::read() {
            Ok(k) => Some(k),
            Err(source) if options.context.is_some() || kubeconfig_expected(&source) => {
                return Err(ClientError::Kubeconfig {
                    from: std::env::var("KUBECONFIG").ok().filter(|k| !k.is_empty()),
                    source,
                });
            }
            Err(_) => None,
        },
    };
    if let Some(kubeconfig) = &base {
        check_context(
            kubeconfig,
            options.context.as_deref(),
            kubeconfig_origin(options).as_deref(),
        )?;
    }
    let parts = base
        .as_ref()
        .and_then(|k| context_parts(k, options.context.as_deref()));
    if let (Some(context), None) = (&options.context, &parts) {
        return Err(ClientError::UnknownContext {
            context: context.clone(),
            from: kubeconfig_origin(options),
            known: Vec::new(),
        });
    }
    let same_server = |p: &ContextParts| p.server.as_deref().is_some_and(|s| same_server(s, &url));
    let skipped = parts
        .as_ref()
        .filter(|p| options.context.is_none() && !same_server(p))
        .map(|p| {
            format!(
                "--master {url} is not the server of the kubeconfig's context {:?} ({}), and sparkube \
                 sends a context's credentials only to its own server (same scheme, host and port)",
                p.name,
                p.server.as_deref().unwrap_or("no server")
            )
        });
    let sa_dir = Path::new(SERVICE_ACCOUNT_DIR);
    let (mut cluster, mut user, mut namespace) = match parts {
        Some(p) if options.context.is_some() || same_server(&p) => (p.cluster, p.user, p.namespace),
        _ if options.in_cluster != Some(false) && sa_dir.join("token").is_file() => {
            let mut cluster = json!({});
            if sa_dir.join("ca.crt").is_file() {
                cluster["certificate-authority"] =
                    json!(sa_dir.join("ca.crt").display().to_string());
            }
            let namespace = std::fs::read_to_string(sa_dir.join("namespace"))
                .ok()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty());
            (
                cluster,
                json!({"tokenFile": sa_dir.join("token").display().to_string()}),
                namespace,
            )
        }
        _ => (json!({}), json!({}), None),
    };
    cluster["server"] = json!(url);
    if let Some(ca) = &options.ca_cert_file {
        readable(ca, "CA certificate file")?;
        cluster["certificate-authority"] = json!(ca.display().to_string());
        remove(&mut cluster, "certificate-authority-data");
    }
    if options.insecure_skip_tls_verify {
        cluster["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(cert) = &options.client_cert_file {
        readable(cert, "client certificate file")?;
        user["client-certificate"] = json!(cert.display().to_string());
        remove(&mut user, "client-certificate-data");
    }
    if let Some(key) = &options.client_key_file {
        readable(key, "client key file")?;
        user["client-key"] = json!(key.display().to_string());
        remove(&mut user, "client-key-data");
    }
    if let Some(token) = &options.oauth_token {
        set_bearer(&mut user, json!({"token": token.trim()}));
    }
    if let Some(file) = &options.oauth_token_file {
        let content = readable(file, "OAuth token file")?;
        let trimmed = content.trim();
        if trimmed.len() == content.len() {
            // kube-rs re-reads the file at least once a minute: rotated tokens keep working.
            set_bearer(&mut user, json!({"tokenFile": file.display().to_string()}));
        } else {
            // kube-rs would send the surrounding whitespace; use the trimmed value instead.
            log::warn!(
                "OAuth token file {} has surrounding whitespace; its content is read once and not re-read when it rotates",
                file.display()
            );
            set_bearer(&mut user, json!({"token": trimmed}));
        }
    }
    if let Some(ns) = &options.namespace {
        namespace = Some(ns.clone());
    }
    let mut context = json!({"cluster": SYNTHETIC_CONTEXT, "user": SYNTHETIC_CONTEXT});
    if let Some(ns) = namespace {
        context["namespace"] = json!(ns);
    }
    let kubeconfig: Kubeconfig = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": SYNTHETIC_CONTEXT, "cluster": cluster}],
        "users": [{"name": SYNTHETIC_CONTEXT, "user": user}],
        "contexts": [{"name": SYNTHETIC_CONTEXT, "context": context}],
        "current-context": SYNTHETIC_CONTEXT,
    }))
    .map_err(|source| ClientError::Assemble {
        master: master.to_string(),
        source,
    })?;
    let kube_options = KubeConfigOptions {
        context: Some(SYNTHETIC_CONTEXT.to_string()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options)
        .await
        .map_err(|source| ClientError::Kubeconfig {
            from: Some(format!("--master {master}")),
            source,
        })?;
    Ok((config, skipped))
}

/// Replaces every way of authenticating in `user` by the given bearer token settings.
fn set_bearer(user: &mut Value, bearer: Value) {
    for key in [
        "token",
        "tokenFile",
        "exec",
        "auth-provider",
        "username",
        "password",
    ] {
        remove(user, key);
    }
    if let (Some(user), Some(bearer)) = (user.as_object_mut(), bearer.as_object()) {
        for (k, v) in bearer {
            user.insert(k.clone(), v.clone());
        }
    }
}

fn remove(value: &mut Value, key: &str) {
    if let Some(map) = value.as_object_mut() {
        map.remove(key);
    }
}

fn readable(path: &Path, what: &'static str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ClientError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn master_urls_as_spark_submit_reads_them() {
        let table = [
            ("k8s://https://10.0.0.1:6443", Some("https://10.0.0.1:6443")),
            (
                "k8s://http://127.0.0.1:8001/",
                Some("http://127.0.0.1:8001"),
            ),
            (
                "k8s://kube.example.com:443",
                Some("https://kube.example.com:443"),
            ),
            ("k8s://HTTPS://h:6443/", Some("https://h:6443")),
            ("k8s://ftp://x", None),
            ("https://10.0.0.1", None),
            ("k8s://", None),
            ("k8s://https://", None),
        ];
        for (master, expected) in table {
            assert_eq!(api_server_url(master).ok().as_deref(), expected, "{master}");
        }
    }

    #[test]
    fn spark_conf_fills_unset_fields_only() {
        let conf: HashMap<&str, &str> = [
            ("spark.master", "k8s://https://api:6443"),
            ("spark.kubernetes.namespace", "spark-jobs"),
            ("spark.kubernetes.context", "prod"),
            (conf_keys::OAUTH_TOKEN_FILE, "/var/token"),
            (conf_keys::CA_CERT_FILE, "/ca.pem"),
            (conf_keys::TRUST_CERTIFICATES, "false"),
        ]
        .into_iter()
        .collect();
        let mut options = ConnectOptions {
            namespace: Some("explicit".into()),
            ..ConnectOptions::default()
        };
        options.apply_spark_conf(|k| conf.get(k).map(|v| v.to_string()));
        assert_eq!(options.master.as_deref(), Some("k8s://https://api:6443"));
        assert_eq!(options.namespace.as_deref(), Some("explicit"));
        assert_eq!(options.context.as_deref(), Some("prod"));
        assert_eq!(
            options.oauth_token_file.as_deref(),
            Some(Path::new("/var/token"))
        );
        assert_eq!(options.ca_cert_file.as_deref(), Some(Path::new("/ca.pem")));
        assert!(!options.insecure_skip_tls_verify);

        let mut options = ConnectOptions::default();
        options.apply_spark_conf(|k| match k {
            "spark.master" => Some("local[*]".into()),
            "spark.kubernetes.trust.certificates" => Some("TRUE".into()),
            _ => None,
        });
        assert_eq!(options.master, None);
        assert!(options.insecure_skip_tls_verify);
    }

    #[tokio::test]
    async fn token_value_and_file_exclude_each_other() {
        let options = ConnectOptions {
            master: Some("k8s://https://api:6443".into()),
            oauth_token: Some("t".into()),
            oauth_token_file: Some("/t".into()),
            ..ConnectOptions::default()
        };
        let err = Client::connect(&options).await.err();
        assert!(
            matches!(&err, Some(ClientError::Conflict(m)) if m.contains("both a file")),
            "{err:?}"
        );
    }

    fn temp_file(name: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sparkube-client-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(name);
        let _ = std::fs::write(&path, content);
        path
    }

    #[tokio::test]
    async fn master_with_token_file_keeps_the_file_for_rotation() {
        let token = temp_file("token-no-newline", "abc");
        let options = ConnectOptions {
            master: Some("k8s://http://127.0.0.1:1".into()),
            oauth_token_file: Some(token.clone()),
            namespace: Some("jobs".into()),
            in_cluster: Some(false),
            ..ConnectOptions::default()
        };
        let config = config_for_master("k8s://http://127.0.0.1:1", &options).await;
        let config = config.ok().map(|(config, _)| config);
        assert_eq!(
            config.as_ref().map(|c| c.cluster_url.to_string()),
            Some("http://127.0.0.1:1/".to_string())
        );
        assert_eq!(
            config.as_ref().and_then(|c| c.auth_info.token_file.clone()),
            Some(token.display().to_string())
        );
        assert_eq!(
            config.as_ref().map(|c| c.default_namespace.as_str()),
            Some("jobs")
        );

        let token = temp_file("token-newline", "abc\n");
        let options = ConnectOptions {
            oauth_token_file: Some(token),
            in_cluster: Some(false),
            ..options
        };
        let config = config_for_master("k8s://http://127.0.0.1:1", &options)
            .await
            .ok()
            .map(|(config, _)| config);
        let user = config.map(|c| c.auth_info);
        assert_eq!(user.as_ref().and_then(|u| u.token_file.clone()), None);
        assert!(user.and_then(|u| u.token).is_some());
    }

    #[test]
    fn same_server_after_normalisation() {
        let table = [
            ("https://h:6443", "https://h:6443/", true),
            ("HTTPS://H:443", "https://h", true),
            ("http://h", "http://h:80", true),
            ("https://[::1]:6443", "https://[::1]:6443", true),
            ("https://h/base/", "https://h:443/base", true),
            ("http://h:6443", "https://h:6443", false),
            ("https://h:6443", "https://h:6444", false),
            ("https://h", "https://g", false),
            ("https://h/a", "https://h/b", false),
            ("ftp://h", "ftp://h", false),
            ("not a url", "not a url", false),
        ];
        for (a, b, same) in table {
            assert_eq!(same_server(a, b), same, "{a} vs {b}");
            assert_eq!(same_server(b, a), same, "{b} vs {a}");
        }
    }

    #[tokio::test]
    async fn master_reuses_the_kubeconfig_context_only_for_the_same_server() {
        let kubeconfig = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://api.example:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: from-kubeconfig}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team}
current-context: ctx
"#;
        let same = ConnectOptions {
            master: Some("k8s://https://api.example:6443".into()),
            kubeconfig_content: Some(kubeconfig.into()),
            in_cluster: Some(false),
            ..ConnectOptions::default()
        };
        let config = config_for_master("k8s://https://api.example:6443", &same)
            .await
            .ok()
            .map(|(config, _)| config);
        assert_eq!(
            config.as_ref().map(|c| c.default_namespace.as_str()),
            Some("team")
        );
        assert!(config.as_ref().is_some_and(|c| c.auth_info.token.is_some()));

        let other = ConnectOptions {
            master: Some("k8s://https://other:6443".into()),
            ..same.clone()
        };
        let (config, skipped) = match config_for_master("k8s://https://other:6443", &other).await {
            Ok((config, skipped)) => (Some(config), skipped),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            skipped.as_deref(),
            Some(
                "--master https://other:6443 is not the server of the kubeconfig's context \"ctx\" \
                 (https://api.example:6443), and sparkube sends a context's credentials only to \
                 its own server (same scheme, host and port)"
            )
        );
        assert_eq!(
            config.as_ref().map(|c| c.default_namespace.as_str()),
            Some("default")
        );
        assert!(config.as_ref().is_some_and(|c| c.auth_info.token.is_none()));
        assert!(config.is_some_and(|c| !c.accept_invalid_certs));

        let named = ConnectOptions {
            context: Some("missing".into()),
            ..other
        };
        let err = config_for_master("k8s://https://other:6443", &named)
            .await
            .err();
        assert!(
            matches!(&err, Some(ClientError::UnknownContext { context, known, .. })
                if context == "missing" && known == &["ctx"]),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn inline_kubeconfig_and_namespace_override() {
        let kubeconfig = r#"{"apiVersion":"v1","kind":"Config",
            "clusters":[{"name":"c","cluster":{"server":"http://127.0.0.1:9"}}],
            "users":[{"name":"u","user":{}}],
            "contexts":[{"name":"a","context":{"cluster":"c","user":"u","namespace":"ns-a"}},
                        {"name":"b","context":{"cluster":"c","user":"u"}}],
            "current-context":"a"}"#;
        let options = ConnectOptions {
            kubeconfig_content: Some(kubeconfig.into()),
            ..ConnectOptions::default()
        };
        let client = Client::connect(&options).await.ok();
        assert_eq!(client.as_ref().map(|c| c.default_namespace()), Some("ns-a"));
        let options = ConnectOptions {
            context: Some("b".into()),
            ..options
        };
        let client = Client::connect(&options).await.ok();
        assert_eq!(
            client.as_ref().map(|c| c.default_namespace()),
            Some("default")
        );
        let options = ConnectOptions {
            namespace: Some("override".into()),
            ..options
        };
        let client = Client::connect(&options).await.ok();
        assert_eq!(
            client.as_ref().map(|c| c.default_namespace()),
            Some("override")
        );
        let options = ConnectOptions {
            context: Some("nope".into()),
            ..options
        };
        let err = Client::connect(&options).await.err();
        assert_eq!(
            err.as_ref().map(ToString::to_string).as_deref(),
            Some("kubeconfig context \"nope\" not found in (inline content) (its contexts: a, b)")
        );
        assert_eq!(err.and_then(|e| e.option()), Some("context"));
    }

    #[tokio::test]
    async fn kubeconfig_errors_never_quote_the_content() {
        let secret = "tok-8d7e6f";
        let table = [
            format!("apiVersion: v1\nusers:\n- name: u\n  user: {{token: {secret}\nfoo: [\n"),
            format!("{{\"users\": \"{secret}\"}}"),
            format!("users:\n- name: u\n  user:\n    token: [{secret}]\n"),
        ];
        for content in table {
            let options = ConnectOptions {
                kubeconfig_content: Some(content.clone()),
                ..ConnectOptions::default()
            };
            let err = Client::connect(&options).await.err();
            let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
            assert!(message.contains("(inline content)"), "{message}");
            assert!(!message.contains(secret), "{content:?}: {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
            assert_eq!(err.and_then(|e| e.option()), Some("kubeconfig"));
        }
        let options = ConnectOptions {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..ConnectOptions::default()
        };
        let err = Client::connect(&options).await.err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(
                "failed to read kubeconfig /nonexistent/kubeconfig: No such file or directory (os error 2)"
            )
        );
    }
}
