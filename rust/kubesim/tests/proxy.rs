//! The `services/proxy` and `pods/proxy` subresources against real local HTTP servers: what the
//! target receives (method, path, query, headers, body), what the client gets back (status,
//! headers, streamed body, rewritten redirects, upgrades), the errors when there is no target,
//! and RBAC and metrics for proxy requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const SVC: &str = "/api/v1/namespaces/default/services";
const PODS: &str = "/api/v1/namespaces/default/pods";

type UpBody = BoxBody<Bytes, Infallible>;

fn up_full(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).boxed()
}

/// A target HTTP server: echoes requests as JSON, and serves a few special paths.
struct Upstream {
    addr: SocketAddr,
    /// Lets `/stream` send its second chunk.
    release: Arc<Notify>,
}

async fn answer(
    req: Request<Incoming>,
    me: SocketAddr,
    release: Arc<Notify>,
) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_string();
    let reply = |code: u16, headers: &[(&str, &str)], body: UpBody| {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                header::HeaderValue::from_str(v),
            ) {
                r.headers_mut().append(k, v);
            }
        }
        Ok(r)
    };
    match path.as_str() {
        "/redirect" => return reply(302, &[("location", "/login?from=redirect")], up_full("")),
        "/redirect-abs" => {
            let loc = format!("http://{me}/abs/");
            return reply(302, &[("location", &loc)], up_full(""));
        }
        "/redirect-rel" => return reply(302, &[("location", "login")], up_full("")),
        "/redirect-away" => {
            return reply(302, &[("location", "http://example.com/x")], up_full(""));
        }
        "/status/418" => {
            return reply(418, &[("content-type", "text/plain")], up_full("teapot"));
        }
        "/stream" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"first\n")).await;
                release.notified().await;
                let _ = tx.send(Bytes::from_static(b"second\n")).await;
            });
            let frames = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            return reply(200, &[], StreamBody::new(frames).boxed());
        }
        "/upgrade" => {
            let on = hyper::upgrade::on(req);
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let mut io = TokioIo::new(up);
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            return reply(
                101,
                &[("connection", "Upgrade"), ("upgrade", "echo")],
                up_full(""),
            );
        }
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if path == "/echo" {
        return reply(
            200,
            &[("content-type", "application/octet-stream")],
            up_full(body),
        );
    }
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                json!(v.to_str().unwrap_or_default()),
            )
        })
        .collect();
    let out = json!({
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    reply(
        200,
        &[
            ("content-type", "application/json"),
            ("x-upstream", "yes"),
            ("access-control-allow-origin", "*"),
            ("keep-alive", "timeout=5"),
        ],
        up_full(out.to_string()),
    )
}

async fn upstream(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let release = Arc::new(Notify::new());
    let rel = release.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let rel = rel.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| answer(req, addr, rel.clone()));
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(s), svc)
                                .with_upgrades()
                                .await;
                        }
                    }
                    None => {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .with_upgrades()
                            .await;
                    }
                }
            });
        }
    });
    Upstream { addr, release }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().map(|a| a.port()).unwrap_or(1)
}

struct Kube {
    server: kubesim::Server,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Kube {
    async fn start(rbac: bool) -> Kube {
        let server = kubesim::start(kubesim::Options {
            rbac,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("kubesim did not start: {e}"));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Kube { server, client }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> http::request::Builder {
        let token = token.unwrap_or(&self.server.token);
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.url))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Answer {
        let resp = tokio::time::timeout(Duration::from_secs(20), self.client.request(req))
            .await
            .unwrap_or_else(|_| panic!("no answer in time"))
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_else(|e| panic!("body: {e}"));
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_as(None, method, path, body).await
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let req = self
            .request(method, path, token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .unwrap_or_else(|e| panic!("request: {e}"));
        self.send(req).await
    }

    async fn create(&self, path: &str, obj: Value) {
        let a = self.call(Method::POST, path, Some(obj)).await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "create {path}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }

    async fn merge_patch(&self, path: &str, patch: Value) {
        let req = self
            .request(Method::PATCH, path, None)
            .header(header::CONTENT_TYPE, "application/merge-patch+json")
            .body(Full::new(Bytes::from(patch.to_string())))
            .unwrap_or_else(|e| panic!("{e}"));
        let a = self.send(req).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "patch {path}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }

    /// A selector-less Service `name` with port 80 (`http`) → 8080 and Endpoints to `port`.
    async fn service_to(&self, name: &str, port: u16) {
        self.create(
            SVC,
            json!({"metadata": {"name": name}, "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "metrics", "port": 9090}
            ]}}),
        )
        .await;
        self.create(
            "/api/v1/namespaces/default/endpoints",
            json!({"metadata": {"name": name}, "subsets": [{
                "addresses": [{"ip": "127.0.0.1"}],
                "ports": [{"name": "http", "port": port}, {"name": "metrics", "port": port}]
            }]}),
        )
        .await;
    }
}

#[tokio::test]
async fn service_proxy_forwards_method_path_query_headers_and_body() {
    let up = upstream(None).await;
    let k = Kube::start(false).await;
    k.service_to("web", up.addr.port()).await;

    for id in ["web:80", "web:http", "http:web:80", "web:9090"] {
        let path = format!("{SVC}/{id}/proxy/some/path?a=1&b=two%20words");
        let req = k
            .request(Method::GET, &path, None)
            .header("x-custom", "kept")
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|e| panic!("{e}"));
        let a = k.send(req).await;
        assert_eq!(a.status, StatusCode::OK, "{id}");
        let seen = a.json();
        assert_eq!(seen["method"], "GET");
        assert_eq!(seen["path"], "/some/path");
        assert_eq!(seen["query"], "a=1&b=two%20words");
        assert_eq!(seen["headers"]["x-custom"], "kept");
        assert!(
            seen["headers"].get("authorization").is_none(),
            "the client's token is not passed on: {seen}"
        );
        assert_eq!(
            seen["headers"]["x-forwarded-uri"],
            format!("{SVC}/{id}/proxy/some/path")
        );
        // The target's headers come back, minus CORS and hop-by-hop ones.
        assert_eq!(a.headers["x-upstream"], "yes");
        assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
        assert!(a.headers.get("access-control-allow-origin").is_none());
        assert!(a.headers.get("keep-alive").is_none());
    }

    let a = k
        .call(
            Method::POST,
            &format!("{SVC}/web:80/proxy/submit/"),
            Some(json!({"x": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let seen = a.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/submit/");
    assert_eq!(seen["body"], r#"{"x":1}"#);
    assert_eq!(seen["headers"]["content-type"], "application/json");

    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let a = k
            .call(method.clone(), &format!("{SVC}/web:80/proxy/obj"), None)
            .await;
        assert_eq!(a.json()["method"], method.as_str());
    }

    // The target's status and body pass through unchanged.
    let a = k
        .call(Method::GET, &format!("{SVC}/web:80/proxy/status/418"), None)
        .await;
    assert_eq!(a.status.as_u16(), 418);
    assert_eq!(&a.body[..], b"teapot");

    // `…/proxy` without a slash is redirected to `…/proxy/`, the query kept.
    let a = k
        .call(Method::GET, &format!("{SVC}/web:80/proxy?x=1"), None)
        .await;
    assert_eq!(a.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        a.headers[header::LOCATION],
        format!("{SVC}/web:80/proxy/?x=1").as_str()
    );
    let a = k
        .call(Method::GET, &format!("{SVC}/web:80/proxy/"), None)
        .await;
    assert_eq!(a.json()["path"], "/");
    k.server.shutdown().await;
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let up = upstream(None).await;
    let k = Kube::start(false).await;
    k.service_to("web", up.addr.port()).await;

    // A request body past kubesim's 3 MiB API limit goes through whole.
    let big: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let req = k
        .request(Method::POST, &format!("{SVC}/web:80/proxy/echo"), None)
        .body(Full::new(Bytes::from(big.clone())))
        .unwrap_or_else(|e| panic!("{e}"));
    let a = k.send(req).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body.len(), big.len());
    assert!(a.body[..] == big[..], "the echoed body differs");

    // The first chunk arrives while the target still holds back the second.
    let req = k
        .request(Method::GET, &format!("{SVC}/web:80/proxy/stream"), None)
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = tokio::time::timeout(Duration::from_secs(10), k.client.request(req))
        .await
        .unwrap_or_else(|_| panic!("no response headers in time"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap_or_else(|_| panic!("the first chunk was not streamed"));
    let first = first
        .and_then(|f| f.ok())
        .and_then(|f| f.into_data().ok())
        .unwrap_or_default();
    assert_eq!(&first[..], b"first\n");
    up.release.notify_one();
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .unwrap_or_else(|_| panic!("the stream did not end"))
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    assert_eq!(&rest[..], b"second\n");
    k.server.shutdown().await;
}

#[tokio::test]
async fn redirects_to_the_target_come_back_through_the_proxy() {
    let up = upstream(None).await;
    let k = Kube::start(false).await;
    k.service_to("web", up.addr.port()).await;
    let prefix = format!("{SVC}/web:80/proxy");
    let cases = [
        ("redirect", format!("{prefix}/login?from=redirect")),
        ("redirect-abs", format!("{prefix}/abs/")),
        ("redirect-rel", "login".to_string()),
        ("redirect-away", "http://example.com/x".to_string()),
    ];
    for (path, want) in cases {
        let a = k.call(Method::GET, &format!("{prefix}/{path}"), None).await;
        assert_eq!(a.status, StatusCode::FOUND, "{path}");
        assert_eq!(a.headers[header::LOCATION], want.as_str(), "{path}");
    }
    k.server.shutdown().await;
}

#[tokio::test]
async fn missing_targets_are_404_or_503_with_kube_messages() {
    let k = Kube::start(false).await;
    let status = |a: &Answer| {
        let v = a.json();
        (
            a.status.as_u16(),
            v["reason"].as_str().unwrap_or_default().to_string(),
            v["message"].as_str().unwrap_or_default().to_string(),
        )
    };

    let a = k
        .call(Method::GET, &format!("{SVC}/nope:80/proxy/"), None)
        .await;
    assert_eq!(
        status(&a),
        (404, "NotFound".into(), "services \"nope\" not found".into())
    );
    assert_eq!(a.json()["kind"], "Status");

    k.create(
        SVC,
        json!({"metadata": {"name": "empty"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let a = k
        .call(Method::GET, &format!("{SVC}/empty/proxy/"), None)
        .await;
    assert_eq!(
        status(&a),
        (
            503,
            "ServiceUnavailable".into(),
            "no endpoints available for service \"empty\"".into()
        )
    );

    let closed = closed_port().await;
    k.service_to("down", closed).await;
    let a = k
        .call(Method::GET, &format!("{SVC}/down:80/proxy/"), None)
        .await;
    assert_eq!(
        status(&a),
        (
            503,
            "ServiceUnavailable".into(),
            format!(
                "error trying to reach service: dial tcp 127.0.0.1:{closed}: connect: connection refused"
            )
        )
    );
    let a = k
        .call(Method::GET, &format!("{SVC}/down:81/proxy/"), None)
        .await;
    assert_eq!(
        status(&a).2,
        "no service port 81 found for service \"down\""
    );
    let a = k
        .call(Method::GET, &format!("{SVC}/ftp:down:80/proxy/"), None)
        .await;
    assert_eq!(
        status(&a),
        (
            400,
            "BadRequest".into(),
            "invalid service request \"ftp:down:80\"".into()
        )
    );
    k.server.shutdown().await;
}

async fn wait_pod_ip(k: &Kube, name: &str) -> String {
    for _ in 0..200 {
        let a = k.call(Method::GET, &format!("{PODS}/{name}"), None).await;
        if let Some(ip) = a.json()["status"]["podIP"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            return ip.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pod {name} got no IP");
}

#[tokio::test]
async fn pod_proxy_reaches_the_pod_ip_and_port() {
    let up = upstream(None).await;
    let k = Kube::start(false).await;
    let port = up.addr.port();
    // Never scheduled, so no kubelet assigns it an address; the test gives it 127.0.0.1.
    k.create(
        PODS,
        json!({"metadata": {"name": "local"}, "spec": {"schedulerName": "none", "containers": [
            {"name": "main", "image": "busybox:1.36", "ports": [{"name": "ui", "containerPort": port}]}
        ]}}),
    )
    .await;
    let a = k
        .call(Method::GET, &format!("{PODS}/local/proxy/"), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "a pod without an IP");
    assert_eq!(a.json()["message"], "address not allowed");

    k.merge_patch(
        &format!("{PODS}/local/status"),
        json!({"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}),
    )
    .await;

    for id in [format!("local:{port}"), "local:ui".into(), "local".into()] {
        let a = k
            .call(
                Method::GET,
                &format!("{PODS}/{id}/proxy/ui/jobs/?id=3"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{id}: {:?}", a.body);
        let seen = a.json();
        assert_eq!(seen["path"], "/ui/jobs/");
        assert_eq!(seen["query"], "id=3");
    }
    let a = k
        .call(Method::GET, &format!("{PODS}/local:nope/proxy/"), None)
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        a.json()["message"],
        "error trying to reach service: dial tcp: lookup tcp/nope: unknown port"
    );

    // An Endpoints address naming a pod is used only while the pod has that IP.
    k.create(
        SVC,
        json!({"metadata": {"name": "to-pod"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let eps = |ip: &str| {
        json!({"metadata": {"name": "to-pod"}, "subsets": [{
            "addresses": [{"ip": ip, "targetRef": {"kind": "Pod", "namespace": "default", "name": "local"}}],
            "ports": [{"port": port}]
        }]})
    };
    k.create("/api/v1/namespaces/default/endpoints", eps("127.0.0.1"))
        .await;
    let a = k
        .call(Method::GET, &format!("{SVC}/to-pod/proxy/x"), None)
        .await;
    assert_eq!(a.json()["path"], "/x");
    k.merge_patch(
        "/api/v1/namespaces/default/endpoints/to-pod",
        eps("127.0.0.2"),
    )
    .await;
    let a = k
        .call(Method::GET, &format!("{SVC}/to-pod/proxy/x"), None)
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        a.json()["message"],
        "no endpoints available for service \"to-pod\""
    );
    k.server.shutdown().await;
}

#[tokio::test]
async fn simulated_pods_are_unreachable_at_once() {
    let k = Kube::start(false).await;
    k.create(
        PODS,
        json!({"metadata": {"name": "sim", "annotations": {"kubesim.io/run-seconds": "inf"}},
               "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 4040}]}]}}),
    )
    .await;
    let ip = wait_pod_ip(&k, "sim").await;
    assert!(ip.starts_with("10.244."), "{ip}");
    let started = std::time::Instant::now();
    let a = k
        .call(Method::GET, &format!("{PODS}/sim/proxy/"), None)
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        a.json()["message"],
        format!("error trying to reach service: dial tcp {ip}:4040: connect: no route to host")
    );
    k.server.shutdown().await;
}

#[tokio::test]
async fn upgrades_are_tunnelled() {
    let up = upstream(None).await;
    let k = Kube::start(false).await;
    k.service_to("web", up.addr.port()).await;
    let mut s = TcpStream::connect(k.server.addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let req = format!(
        "GET {SVC}/web:80/proxy/upgrade HTTP/1.1\r\nHost: kubesim\r\nAuthorization: Bearer {}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        k.server.token
    );
    s.write_all(req.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte))
            .await
            .unwrap_or_else(|_| panic!("no 101 in time"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            n,
            1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    s.write_all(b"ping").await.unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no echo in time"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&buf, b"ping");
    k.server.shutdown().await;
}

#[tokio::test]
async fn https_targets_are_reached_with_tls() {
    let material = kubesim::tls::generate().unwrap_or_else(|e| panic!("{e}"));
    let acceptor = kubesim::tls::acceptor(&material).unwrap_or_else(|e| panic!("{e}"));
    let up = upstream(Some(acceptor)).await;
    let k = Kube::start(false).await;
    k.service_to("secure", up.addr.port()).await;
    let a = k
        .call(
            Method::GET,
            &format!("{SVC}/https:secure:80/proxy/tls?x=1"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.json()["path"], "/tls");
    // Plain HTTP to a TLS port fails like any broken target.
    let a = k
        .call(Method::GET, &format!("{SVC}/secure:80/proxy/tls"), None)
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    k.server.shutdown().await;
}

#[tokio::test]
async fn rbac_authorizes_proxy_subresources_and_metrics_count_them() {
    let up = upstream(None).await;
    let k = Kube::start(true).await;
    k.service_to("web", up.addr.port()).await;
    k.create(
        "/api/v1/namespaces/default/serviceaccounts",
        json!({"metadata": {"name": "viewer"}}),
    )
    .await;
    k.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
        json!({"metadata": {"name": "proxy-get"}, "rules": [
            {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]}
        ]}),
    )
    .await;
    k.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        json!({"metadata": {"name": "viewer-proxy"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "proxy-get"},
               "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "default"}]}),
    )
    .await;
    let tok = k
        .call(Method::POST, "/kubesim/token/default/viewer", None)
        .await
        .json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!tok.is_empty());
    let user = "system:serviceaccount:default:viewer";

    let a = k
        .call_as(
            Some(&tok),
            Method::GET,
            &format!("{SVC}/web:80/proxy/ok"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["path"], "/ok");

    let a = k
        .call_as(
            Some(&tok),
            Method::POST,
            &format!("{SVC}/web:80/proxy/ok"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.json()["message"],
        format!(
            "services \"web:80\" is forbidden: User \"{user}\" cannot create resource \"services/proxy\" in API group \"\" in the namespace \"default\""
        )
    );
    let a = k
        .call_as(Some(&tok), Method::GET, &format!("{PODS}/p/proxy/"), None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.json()["message"],
        format!(
            "pods \"p\" is forbidden: User \"{user}\" cannot get resource \"pods/proxy\" in API group \"\" in the namespace \"default\""
        )
    );
    // A `services/proxy` grant does not cover the Service itself.
    let a = k
        .call_as(Some(&tok), Method::GET, &format!("{SVC}/web"), None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let review = |verb: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": "services", "subresource": "proxy"}}})
    };
    for (verb, allowed) in [("get", true), ("create", false)] {
        let a = k
            .call_as(
                Some(&tok),
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                Some(review(verb)),
            )
            .await;
        assert_eq!(a.json()["status"]["allowed"], allowed, "{verb}");
    }

    let metrics = k.call(Method::GET, "/metrics", None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    let line = |code: u16, verb: &str| {
        format!(
            "apiserver_request_total{{code=\"{code}\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"services\",scope=\"resource\",subresource=\"proxy\",verb=\"{verb}\",version=\"v1\"}} 1"
        )
    };
    assert!(text.contains(&line(200, "GET")), "{text}");
    assert!(text.contains(&line(403, "POST")), "{text}");
    assert!(text.contains(
        "apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"services\",scope=\"resource\",subresource=\"proxy\",verb=\"GET\",version=\"v1\"} 0"
    ));
    k.server.shutdown().await;
}
