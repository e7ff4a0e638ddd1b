//! The `proxy` subresources of pods and services, served as kube-apiserver serves them:
//! `…/pods/[{scheme}:]{name}[:{port}]/proxy[/{path}]` and
//! `…/services/[{scheme}:]{name}[:{port}]/proxy[/{path}]`.
//!
//! This module owns resolving the target address (the service's port by number or name, one
//! ready endpoint address of it; the pod's IP and port), forwarding the request (method, path,
//! query, body streamed, headers minus hop-by-hop ones and the credentials kubesim consumed),
//! and answering with the target's status, headers and streamed body. Like kube-apiserver it
//! redirects `…/proxy` to `…/proxy/` for GET, rewrites same-host `Location` headers to go back
//! through the proxy, drops the target's CORS headers, tunnels protocol upgrades (WebSockets),
//! speaks TLS to `https:` targets without verifying them, and answers 503 when the target cannot
//! be reached. It does not rewrite links inside HTML bodies.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rand::Rng;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::path::{self, ResourcePath};
use super::status::{self, ApiError};
use super::{Body, full};
use crate::cluster::Cluster;
use crate::resources::ids;

/// How long connecting to a target may take (kube-apiserver's proxy dialer uses 30 s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that describe one connection, never forwarded (Go's `httputil.ReverseProxy` list).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// CORS headers of the target, removed so only kubesim's policy applies (as kube-apiserver).
const CORS: [&str; 4] = [
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
];

/// Failures reaching a proxy target; each becomes a 503 `error trying to reach service: …`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection was refused or failed.
    #[error("dial tcp {addr}: connect: {}", describe(.source))]
    Dial {
        /// The target address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection did not complete in time.
    #[error("dial tcp {addr}: i/o timeout")]
    Timeout {
        /// The target address.
        addr: String,
    },
    /// The address is in kubesim's simulated pod network, where nothing listens.
    #[error("dial tcp {addr}: connect: no route to host")]
    NoRoute {
        /// The target address.
        addr: String,
    },
    /// A port name the pod does not declare, or a port number out of range.
    #[error("dial tcp: lookup tcp/{port}: unknown port")]
    UnknownPort {
        /// The port as given.
        port: String,
    },
    /// The TLS client could not be configured.
    #[error("failed to configure TLS for {addr}: {source}")]
    TlsConfig {
        /// The target address.
        addr: String,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
    /// The TLS handshake failed.
    #[error("tls handshake with {addr} failed: {source}")]
    Tls {
        /// The target address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP/1.1 exchange failed.
    #[error("failed to proxy the request to {addr}: {source}")]
    Http {
        /// The target address.
        addr: String,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
    /// The forwarded request could not be built.
    #[error("failed to build the request for {addr}: {source}")]
    Request {
        /// The target address.
        addr: String,
        /// The cause.
        #[source]
        source: http::Error,
    },
}

/// Result alias for reaching a target.
pub type Result<T> = std::result::Result<T, Error>;

fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::HostUnreachable => "no route to host".into(),
        std::io::ErrorKind::NetworkUnreachable => "network is unreachable".into(),
        _ => e.to_string(),
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::for_code(503, Some(&format!("error trying to reach service: {e}")))
    }
}

/// Where a proxied request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Whether to speak TLS (`https:` in the id).
    pub tls: bool,
    /// The address.
    pub ip: IpAddr,
    /// The port; `None` (a pod declaring no port, no port asked) means 80 or 443.
    pub port: Option<u16>,
}

impl Target {
    /// The socket address to connect to.
    pub fn addr(&self) -> SocketAddr {
        let default = if self.tls { 443 } else { 80 };
        SocketAddr::new(self.ip, self.port.unwrap_or(default))
    }
}

/// The Kubernetes verb (for RBAC) and the metric verb of a proxy request: from the HTTP method
/// alone, as kube-apiserver derives them for connect subresources.
pub fn verbs(method: &Method) -> (&'static str, &'static str) {
    match *method {
        Method::GET | Method::HEAD => ("get", "GET"),
        Method::POST => ("create", "POST"),
        Method::PUT => ("update", "PUT"),
        Method::PATCH => ("patch", "PATCH"),
        Method::DELETE => ("delete", "DELETE"),
        _ => ("", "other"),
    }
}

/// Splits `[scheme:]name[:port]` as kube's `SplitSchemeNamePort`: `None` when there are more
/// parts, the name is empty or the scheme is not `http`/`https`.
pub fn split_id(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [n] => ("", *n, ""),
        [n, p] => ("", *n, *p),
        [s, n, p] => (*s, *n, *p),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some((scheme, name, port))
}

fn unavailable(message: String) -> ApiError {
    ApiError::for_code(503, Some(&message))
}

fn rotated<T>(items: &[T]) -> impl Iterator<Item = &T> {
    let start = if items.is_empty() {
        0
    } else {
        rand::rng().random_range(0..items.len())
    };
    items.iter().cycle().skip(start).take(items.len())
}

/// The endpoint address and port for `port` of service `svc` (a Service port number, a port
/// name, or `""` for the unnamed port), as kube-apiserver's service `ResourceLocation`: a number
/// names the Service port with that number, the name selects the Endpoints port of that name, and
/// one ready address that `valid` accepts is picked at random. `id` is the URL's service id.
pub fn service_endpoint(
    svc: &Value,
    eps: Option<&Value>,
    id: &str,
    port: &str,
    valid: impl Fn(&Value) -> bool,
) -> status::Result<(IpAddr, u16)> {
    let name = svc["metadata"]["name"].as_str().unwrap_or_default();
    let mut port_name = port.to_string();
    if let Ok(n) = port.parse::<i64>() {
        port_name = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["port"].as_i64() == Some(n))
            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
            .ok_or_else(|| {
                unavailable(format!(
                    "no service port {n} found for service {}",
                    json!(name)
                ))
            })?;
    }
    let subsets: Vec<Value> = eps
        .and_then(|e| e["subsets"].as_array().cloned())
        .unwrap_or_default();
    if subsets.is_empty() {
        return Err(unavailable(format!(
            "no endpoints available for service {}",
            json!(name)
        )));
    }
    for subset in rotated(&subsets) {
        let addresses = subset["addresses"].as_array().cloned().unwrap_or_default();
        if addresses.is_empty() {
            continue;
        }
        for p in subset["ports"].as_array().into_iter().flatten() {
            if p["name"].as_str().unwrap_or_default() != port_name {
                continue;
            }
            let Some(number) = p["port"].as_u64().and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            for addr in rotated(&addresses) {
                if let Some(ip) = addr["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok())
                    && valid(addr)
                {
                    return Ok((ip, number));
                }
            }
        }
    }
    Err(unavailable(format!(
        "no endpoints available for service {}",
        json!(id)
    )))
}

/// Whether kube-apiserver would dial this pod address: global unicast only, except that
/// kubesim allows loopback (its process runtime runs pods on 127.x addresses).
fn allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_link_local())
        }
        IpAddr::V6(v6) => {
            !(v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

fn pod_ip(pod: &Value) -> Option<&str> {
    pod["status"]["podIPs"][0]["ip"]
        .as_str()
        .or_else(|| pod["status"]["podIP"].as_str())
        .filter(|s| !s.is_empty())
}

/// The port number `port` means in `pod`: a number, a containerPort name (a kubesim
/// extension), or for `""` the first containerPort declared (`None` when there is none).
fn pod_port(pod: &Value, port: &str) -> Result<Option<u16>> {
    let declared = || {
        pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
    };
    let number = if port.is_empty() {
        match declared().next() {
            None => return Ok(None),
            Some(p) => p["containerPort"].as_u64(),
        }
    } else if let Ok(n) = port.parse::<u64>() {
        Some(n)
    } else {
        declared()
            .find(|p| p["name"] == port)
            .and_then(|p| p["containerPort"].as_u64())
    };
    number
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| Error::UnknownPort {
            port: port.to_string(),
        })
}

/// The address of `pod` for `port`, as kube-apiserver's pod `ResourceLocation`: the pod's IP
/// (400 `address not allowed` without one) and the port given, or the first containerPort
/// declared when none is. A port that cannot be dialled is the inner error (a 503).
pub fn pod_endpoint(pod: &Value, tls: bool, port: &str) -> status::Result<Result<Target>> {
    let ip = pod_ip(pod)
        .and_then(|s| s.parse::<IpAddr>().ok())
        .filter(|ip| allowed(*ip))
        .ok_or_else(|| ApiError::bad_request("address not allowed"))?;
    Ok(pod_port(pod, port).map(|port| Target { tls, ip, port }))
}

/// Whether an Endpoints address may be used: its target pod, when it names one, must be in the
/// namespace and still have that IP (kube-apiserver's check). Addresses without a `targetRef`
/// are accepted, so Endpoints written by hand for a selector-less Service work (kube-apiserver
/// skips them).
fn address_valid(cluster: &Cluster, ns: &str, addr: &Value) -> bool {
    let r = &addr["targetRef"];
    if !r.is_object() {
        return true;
    }
    if r["namespace"].as_str().unwrap_or_default() != ns {
        return false;
    }
    let Some(pod) = cluster
        .store
        .get(ids::PODS, ns, r["name"].as_str().unwrap_or_default())
    else {
        return false;
    };
    let pod = pod.value();
    let ip = addr["ip"].as_str().unwrap_or_default();
    pod["status"]["podIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["ip"] == ip)
        || pod["status"]["podIP"] == ip
}

/// `rest` (a URL path) with empty, `.` and `..` segments resolved as Go's `path.Join` does,
/// keeping a trailing slash; `""` becomes `/`.
pub fn clean(rest: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut p = format!("/{}", out.join("/"));
    if rest.ends_with('/') && !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// A URL split into scheme, authority, path and the rest (`?query#fragment`).
struct UrlParts<'a> {
    scheme: &'a str,
    host: &'a str,
    path: &'a str,
    tail: &'a str,
}

fn split_url(s: &str) -> UrlParts<'_> {
    let (scheme, after) = match s.find(':') {
        Some(i)
            if s.as_bytes()[0].is_ascii_alphabetic()
                && s[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (&s[..i], &s[i + 1..])
        }
        _ => ("", s),
    };
    let (host, rest) = match after.strip_prefix("//") {
        Some(r) => {
            let end = r.find(['/', '?', '#']).unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => ("", after),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    UrlParts {
        scheme,
        host,
        path: &rest[..end],
        tail: &rest[end..],
    }
}

/// Rewrites a `Location` from the target to go back through the proxy, as kube-apiserver's
/// proxy transport does: an absolute path, or a URL on the target's address (`upstream`) or on
/// the host the client asked for (`request_host`), gets `prefix` (the request path up to
/// `/proxy`) in front of its path; other hosts and relative references are left alone.
pub fn rewrite_location(
    location: &str,
    upstream: &str,
    request_host: &str,
    prefix: &str,
) -> String {
    let u = split_url(location);
    let different_host = !u.host.is_empty() && u.host != upstream && u.host != request_host;
    if different_host || !u.path.starts_with('/') {
        return location.to_string();
    }
    let authority = if !u.host.is_empty() && u.host == request_host {
        if u.scheme.is_empty() {
            format!("//{}", u.host)
        } else {
            format!("{}://{}", u.scheme, u.host)
        }
    } else {
        String::new()
    };
    let path = if u.path.starts_with(prefix) {
        u.path.to_string()
    } else {
        clean(&format!("{prefix}{}", u.path))
    };
    format!("{authority}{path}{}", u.tail)
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes the hop-by-hop headers, including those the `Connection` header lists.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<header::HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| header::HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn service_target(cluster: &Cluster, ns: &str, id: &str) -> status::Result<Target> {
    let (scheme, name, port) = split_id(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid service request {}", json!(id))))?;
    let svc = cluster
        .store
        .get(ids::SERVICES, ns, name)
        .ok_or_else(|| ApiError::not_found(ids::SERVICES, name))?;
    let eps = cluster
        .store
        .get(ids::ENDPOINTS, ns, name)
        .map(|e| e.value());
    let (ip, port) = service_endpoint(&svc.value(), eps.as_ref(), id, port, |a| {
        address_valid(cluster, ns, a)
    })?;
    Ok(Target {
        tls: scheme == "https",
        ip,
        port: Some(port),
    })
}

fn pod_target(cluster: &Cluster, ns: &str, id: &str) -> status::Result<Result<Target>> {
    let (scheme, name, port) = split_id(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid pod request {}", json!(id))))?;
    let pod = cluster
        .store
        .get(ids::PODS, ns, name)
        .ok_or_else(|| ApiError::not_found(ids::PODS, name))?;
    pod_endpoint(&pod.value(), scheme == "https", port)
}

fn redirect_to_slash(path: &str, query: Option<&str>) -> Response<Body> {
    let location = match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Answers a `pods/proxy` or `services/proxy` request by forwarding it to the target.
pub async fn serve(
    cluster: &Arc<Cluster>,
    parts: Parts,
    body: Incoming,
    rp: &ResourcePath,
) -> status::Result<Response<Body>> {
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let id = rp.name.as_deref().unwrap_or_default();
    let raw = parts.uri.path().to_string();
    let (prefix, rest) = path::proxy_split(&raw).ok_or_else(ApiError::no_route)?;
    let target = match rp.res {
        ids::SERVICES => service_target(cluster, ns, id)?,
        ids::PODS => pod_target(cluster, ns, id)??,
        _ => return Err(ApiError::no_route()),
    };
    if rest.is_empty() && matches!(parts.method, Method::GET | Method::HEAD) {
        return Ok(redirect_to_slash(&raw, parts.uri.query()));
    }
    let upstream_path = clean(rest);
    Ok(forward(parts, body, &target, prefix, &upstream_path).await?)
}

/// The request headers to send on: hop-by-hop headers and the client's credentials removed,
/// an upgrade kept, `X-Forwarded-Uri` set to the path the client used.
fn request_headers(
    mut headers: HeaderMap,
    target: &Target,
    forwarded_uri: &str,
) -> (HeaderMap, Option<HeaderValue>) {
    let upgrade = has_token(&headers, header::CONNECTION, "upgrade")
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::AUTHORIZATION);
    if let Some(u) = &upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, u.clone());
    }
    if !headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(&target.addr().to_string())
    {
        headers.insert(header::HOST, v);
    }
    if let Ok(v) = HeaderValue::from_str(forwarded_uri) {
        headers.insert("x-forwarded-uri", v);
    }
    (headers, upgrade)
}

async fn forward(
    mut parts: Parts,
    body: Incoming,
    target: &Target,
    prefix: &str,
    upstream_path: &str,
) -> Result<Response<Body>> {
    let addr = target.addr();
    let addr_s = addr.to_string();
    let request_host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let forwarded_uri = clean(&format!("{prefix}{upstream_path}"));
    let (headers, upgrade) = request_headers(parts.headers, target, &forwarded_uri);
    let client_upgrade = upgrade
        .is_some()
        .then(|| parts.extensions.remove::<OnUpgrade>())
        .flatten();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{upstream_path}?{q}"),
        None => upstream_path.to_string(),
    };
    let mut req = Request::builder()
        .method(parts.method)
        .uri(path_and_query)
        .body(body)
        .map_err(|source| Error::Request {
            addr: addr_s.clone(),
            source,
        })?;
    *req.headers_mut() = headers;

    let mut resp = exchange(target, req).await?;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client) = client_upgrade
    {
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(c), Ok(u)) = tokio::join!(client, upstream) {
                let _ =
                    tokio::io::copy_bidirectional(&mut TokioIo::new(c), &mut TokioIo::new(u)).await;
            }
        });
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, full("")));
    }

    let (mut parts, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    for name in CORS {
        parts.headers.remove(name);
    }
    if let Some(loc) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        let rewritten = rewrite_location(loc, &addr_s, &request_host, prefix);
        if let Ok(v) = HeaderValue::from_str(&rewritten) {
            parts.headers.insert(header::LOCATION, v);
        }
    }
    Ok(Response::from_parts(parts, stream_body(incoming)))
}

/// The target's body as kubesim's body type, frame by frame as it arrives. A read error ends the
/// stream; with a `Content-Length` the client then sees the body cut short.
fn stream_body(incoming: Incoming) -> Body {
    let frames = BodyStream::new(incoming)
        .take_while(|f| futures::future::ready(f.is_ok()))
        .filter_map(|f| futures::future::ready(f.ok().map(Ok::<_, Infallible>)));
    StreamBody::new(frames).boxed_unsync()
}

/// Connects to the target (TLS for `https:`) and sends one request over HTTP/1.1.
async fn exchange(target: &Target, req: Request<Incoming>) -> Result<Response<Incoming>> {
    let addr = target.addr();
    let addr_s = addr.to_string();
    if in_simulated_network(addr.ip()) {
        return Err(Error::NoRoute { addr: addr_s });
    }
    let tcp = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => {
            return Err(Error::Dial {
                addr: addr_s,
                source,
            });
        }
        Err(_) => return Err(Error::Timeout { addr: addr_s }),
    };
    let _ = tcp.set_nodelay(true);
    if !target.tls {
        return send(tcp, &addr_s, req).await;
    }
    let connector = tls_connector().map_err(|source| Error::TlsConfig {
        addr: addr_s.clone(),
        source,
    })?;
    let tls = connector
        .connect(ServerName::from(addr.ip()), tcp)
        .await
        .map_err(|source| Error::Tls {
            addr: addr_s.clone(),
            source,
        })?;
    send(tls, &addr_s, req).await
}

/// kubesim's simulated pod network (10.244.0.0/16): its addresses exist only in pod statuses.
fn in_simulated_network(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [10, 244])
}

async fn send<T>(io: T, addr: &str, req: Request<Incoming>) -> Result<Response<Incoming>>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let http_err = |source| Error::Http {
        addr: addr.to_string(),
        source,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(http_err)?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender.send_request(req).await.map_err(http_err)
}

/// A TLS client that accepts any certificate: kube-apiserver's proxy transport does not verify
/// the certificates of pods and services either.
fn tls_connector() -> std::result::Result<TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts every server certificate, still checking handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_like_kube() {
        let cases = [
            ("web", Some(("", "web", ""))),
            ("web:8080", Some(("", "web", "8080"))),
            ("web:http", Some(("", "web", "http"))),
            ("https:web:443", Some(("https", "web", "443"))),
            ("http:web:", Some(("http", "web", ""))),
            ("ftp:web:21", None),
            (":80", None),
            ("a:b:c:d", None),
        ];
        for (id, want) in cases {
            assert_eq!(split_id(id), want, "{id}");
        }
    }

    fn svc() -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "admin", "port": 9000, "targetPort": "admin"}
        ]}})
    }

    fn eps() -> Value {
        json!({"subsets": [{
            "addresses": [{"ip": "127.0.0.1"}],
            "notReadyAddresses": [{"ip": "127.0.0.9"}],
            "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9100}]
        }]})
    }

    #[test]
    fn service_ports_resolve_by_number_or_name_to_endpoint_ports() {
        let ok = |port: &str| service_endpoint(&svc(), Some(&eps()), "web", port, |_| true);
        let local: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(ok("80"), Ok((local, 8080)));
        assert_eq!(ok("http"), Ok((local, 8080)));
        assert_eq!(ok("9000"), Ok((local, 9100)));
        assert_eq!(ok("admin"), Ok((local, 9100)));
        let e = ok("81").err().map(|e| (e.code, e.message));
        assert_eq!(
            e,
            Some((503, "no service port 81 found for service \"web\"".into()))
        );
        // No port: the unnamed port, which this service does not have (as kube-apiserver).
        let e = ok("").err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("no endpoints available for service \"web\"")
        );
    }

    #[test]
    fn a_single_unnamed_port_is_used_without_a_port() {
        let svc = json!({"metadata": {"name": "one"}, "spec": {"ports": [{"port": 80}]}});
        let eps = json!({"subsets": [{"addresses": [{"ip": "::1"}], "ports": [{"port": 8080}]}]});
        let got = service_endpoint(&svc, Some(&eps), "one", "", |_| true);
        assert_eq!(got, Ok((IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 8080)));
        assert!(service_endpoint(&svc, Some(&eps), "one", "80", |_| true).is_ok());
    }

    #[test]
    fn no_ready_or_valid_address_is_503() {
        let none = |eps: Option<&Value>, valid: bool| {
            service_endpoint(&svc(), eps, "web:http", "http", |_| valid)
                .err()
                .map(|e| (e.code, e.reason, e.message))
        };
        let want = |id: &str| {
            Some((
                503,
                "ServiceUnavailable",
                format!("no endpoints available for service \"{id}\""),
            ))
        };
        assert_eq!(none(None, true), want("web"));
        assert_eq!(none(Some(&json!({"subsets": []})), true), want("web"));
        let not_ready = json!({"subsets": [{"notReadyAddresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": 1}]}]});
        assert_eq!(none(Some(&not_ready), true), want("web:http"));
        assert_eq!(none(Some(&eps()), false), want("web:http"));
    }

    fn pod(ip: &str) -> Value {
        json!({"spec": {"containers": [
            {"name": "side"},
            {"name": "main", "ports": [{"name": "ui", "containerPort": 4040}, {"containerPort": 7078}]}
        ]}, "status": {"podIP": ip, "podIPs": [{"ip": ip}]}})
    }

    #[test]
    fn pod_ports_are_numbers_names_or_the_first_declared() {
        let target = |p: &Value, port: &str| pod_endpoint(p, false, port).ok().and_then(|r| r.ok());
        let t = |port| {
            Some(Target {
                tls: false,
                ip: [127, 0, 0, 2].into(),
                port,
            })
        };
        assert_eq!(target(&pod("127.0.0.2"), ""), t(Some(4040)));
        assert_eq!(target(&pod("127.0.0.2"), "7078"), t(Some(7078)));
        assert_eq!(target(&pod("127.0.0.2"), "ui"), t(Some(4040)));
        let bare =
            json!({"spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "127.0.0.2"}});
        assert_eq!(target(&bare, ""), t(None));
        for bad in ["nope", "70000", "0"] {
            assert!(
                matches!(
                    pod_endpoint(&pod("127.0.0.2"), false, bad),
                    Ok(Err(Error::UnknownPort { .. }))
                ),
                "{bad}"
            );
        }
        let https = pod_endpoint(&bare, true, "").ok().and_then(|r| r.ok());
        assert_eq!(https.map(|t| t.addr().port()), Some(443));
    }

    #[test]
    fn pods_without_a_usable_ip_are_refused_like_kube() {
        for ip in [
            "",
            "garbage",
            "0.0.0.0",
            "224.0.0.1",
            "169.254.1.1",
            "fe80::1",
        ] {
            let e = pod_endpoint(&pod(ip), false, "").err();
            assert_eq!(
                e.map(|e| (e.code, e.message)),
                Some((400, "address not allowed".to_string())),
                "{ip:?}"
            );
        }
        let no_status = json!({"spec": {"containers": []}});
        assert!(pod_endpoint(&no_status, false, "").is_err());
    }

    #[test]
    fn paths_are_cleaned_like_go_path_join() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//a//./b/../c", "/a/c"),
            ("/../../etc", "/etc"),
            ("/a%2Fb", "/a%2Fb"),
        ];
        for (rest, want) in cases {
            assert_eq!(clean(rest), want, "{rest}");
        }
    }

    #[test]
    fn locations_are_rewritten_through_the_proxy() {
        let prefix = "/api/v1/namespaces/ns/services/web:80/proxy";
        let rw = |loc| rewrite_location(loc, "127.0.0.1:8080", "kubesim:6443", prefix);
        let cases = [
            ("/login", format!("{prefix}/login")),
            (
                "/login/?next=%2Fa#top",
                format!("{prefix}/login/?next=%2Fa#top"),
            ),
            ("http://127.0.0.1:8080/x?y=1", format!("{prefix}/x?y=1")),
            (
                "https://kubesim:6443/x",
                format!("https://kubesim:6443{prefix}/x"),
            ),
            (
                "https://kubesim:6443/api/v1/namespaces/ns/services/web:80/proxy/x",
                format!("https://kubesim:6443{prefix}/x"),
            ),
            (&format!("{prefix}/already"), format!("{prefix}/already")),
            ("next/page", "next/page".to_string()),
            ("?q=1", "?q=1".to_string()),
            ("http://example.com/x", "http://example.com/x".to_string()),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080".to_string()),
        ];
        for (loc, want) in cases {
            assert_eq!(rw(loc), want, "{loc}");
        }
    }

    #[test]
    fn hop_by_hop_and_listed_headers_are_stripped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("x-kept", "yes"),
            ("content-length", "3"),
        ] {
            h.insert(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn forwarded_requests_lose_credentials_and_keep_upgrades() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::HOST, HeaderValue::from_static("kubesim:6443"));
        let target = Target {
            tls: false,
            ip: [127, 0, 0, 1].into(),
            port: Some(8080),
        };
        let (out, upgrade) = request_headers(h, &target, "/p/proxy/x");
        assert_eq!(upgrade, Some(HeaderValue::from_static("websocket")));
        assert!(out.get(header::AUTHORIZATION).is_none());
        assert_eq!(
            out.get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"Upgrade"[..])
        );
        assert_eq!(
            out.get(header::HOST).map(|v| v.as_bytes()),
            Some(&b"kubesim:6443"[..])
        );
        assert_eq!(
            out.get("x-forwarded-uri").map(|v| v.as_bytes()),
            Some(&b"/p/proxy/x"[..])
        );
        let (out, upgrade) = request_headers(HeaderMap::new(), &target, "/");
        assert_eq!(upgrade, None);
        assert_eq!(
            out.get(header::HOST).map(|v| v.as_bytes()),
            Some(&b"127.0.0.1:8080"[..])
        );
    }

    #[test]
    fn verbs_follow_the_method_only() {
        assert_eq!(verbs(&Method::GET), ("get", "GET"));
        assert_eq!(verbs(&Method::HEAD), ("get", "GET"));
        assert_eq!(verbs(&Method::POST), ("create", "POST"));
        assert_eq!(verbs(&Method::DELETE), ("delete", "DELETE"));
        assert_eq!(verbs(&Method::OPTIONS), ("", "other"));
    }

    #[test]
    fn the_simulated_pod_network_is_unroutable() {
        assert!(in_simulated_network([10, 244, 3, 7].into()));
        assert!(!in_simulated_network([10, 96, 0, 1].into()));
        assert!(!in_simulated_network([127, 0, 0, 1].into()));
        let e = ApiError::from(Error::NoRoute {
            addr: "10.244.0.5:80".into(),
        });
        assert_eq!(e.code, 503);
        assert_eq!(
            e.message,
            "error trying to reach service: dial tcp 10.244.0.5:80: connect: no route to host"
        );
    }
}
