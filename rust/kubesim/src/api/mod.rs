//! The HTTP API: request decoding, authentication, fault injection, authorization, dispatch to
//! the verb handlers, and metrics. Everything a client sees goes through [`handle`].

pub mod admin;
pub mod discovery;
pub mod exec;
pub mod handlers;
pub mod logs;
pub mod patch;
pub mod path;
pub mod portforward;
pub mod portforward_spdy;
pub mod proto;
pub mod proxy;
pub mod spdy;
pub mod status;
pub mod subresources;
pub mod table;
pub mod watch;
pub mod websocket;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::audit;
use crate::auth::UserInfo;
use crate::cluster::Cluster;
use crate::faults::RequestFacts;
use crate::metrics::{RequestKey, static_subresource};
use crate::rbac;
use crate::resources;
use path::{ResourcePath, Route};
use status::ApiError;

/// Largest request body accepted, as kube-apiserver's limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The response body type: a full buffer or a stream of chunks.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A streamed body fed by a channel; the stream ends when the sender is dropped.
pub fn stream(rx: mpsc::Receiver<Bytes>) -> Body {
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    StreamBody::new(s).boxed_unsync()
}

/// The request was answered by dropping the connection (an injected reset).
#[derive(Debug, thiserror::Error)]
#[error("connection reset by injected fault")]
pub struct Reset;

/// Query parameters in order.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses a query string.
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is set to a true value (`1`, `true`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "True"))
    }

    /// `key` as an integer; 400 when present and malformed.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {s:?}"))),
        }
    }
}

/// A decoded request, handed to the handlers.
pub struct Req {
    /// HTTP method.
    pub method: Method,
    /// URL path.
    pub path: String,
    /// Query parameters.
    pub query: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
    /// Authenticated user.
    pub user: UserInfo,
}

impl Req {
    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Whether the client asked for a `Table` rendering.
    pub fn wants_table(&self) -> bool {
        self.header("accept")
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
    }

    /// Whether `dryRun=All` was asked.
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| !v.is_empty())
    }

    /// Decodes the body as JSON (or YAML when the content type says so).
    pub fn json_body(&self) -> Result<Value, ApiError> {
        let ct = self.header("content-type");
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the body of the request was empty"));
        }
        if ct.contains("protobuf") || self.body.starts_with(proto::MAGIC) {
            return proto::decode(&self.body).map_err(|e| ApiError::bad_request(e.to_string()));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) => Ok(v),
            Err(e) => {
                if ct.contains("yaml") || !ct.contains("json") {
                    serde_norway::from_slice::<Value>(&self.body)
                        .map_err(|y| ApiError::bad_request(format!("error decoding YAML: {y}")))
                } else {
                    Err(ApiError::bad_request(format!(
                        "the object provided is unrecognized: couldn't get version/kind; json parse error: {e}"
                    )))
                }
            }
        }
    }
}

/// Builds a JSON response.
pub fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Builds a JSON response from a value.
pub fn value_response(code: u16, v: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

/// The response for an error.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = value_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = header::HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The Kubernetes verb and the metric verb of a resource request.
pub fn verbs(
    method: &Method,
    rp: &ResourcePath,
    query: &Query,
    content_type: &str,
) -> (&'static str, &'static str) {
    if rp.subresource.as_deref() == Some("proxy") {
        // The query string belongs to the proxied service: `watch` is not ours.
        return proxy::verbs(method);
    }
    let watch = rp.legacy_watch || query.flag("watch");
    let sub = rp.subresource.is_some();
    match *method {
        Method::GET | Method::HEAD if rp.name.is_none() && !sub => {
            if watch {
                ("watch", "WATCH")
            } else {
                ("list", "LIST")
            }
        }
        Method::GET | Method::HEAD => {
            if watch {
                ("watch", "WATCH")
            } else {
                ("get", "GET")
            }
        }
        Method::POST => ("create", "POST"),
        Method::PUT => ("update", "PUT"),
        Method::PATCH => {
            if content_type.starts_with("application/apply-patch") {
                ("patch", "APPLY")
            } else {
                ("patch", "PATCH")
            }
        }
        Method::DELETE if rp.name.is_none() => ("deletecollection", "DELETECOLLECTION"),
        Method::DELETE => ("delete", "DELETE"),
        _ => ("", "CONNECT"),
    }
}

fn is_public(route: &Route) -> bool {
    matches!(
        route,
        Route::Health | Route::Metrics | Route::Admin(_) | Route::Version
    )
}

/// Answers one HTTP request, and writes its audit event when `--audit-log-path` is set.
pub async fn handle(
    cluster: Arc<Cluster>,
    req: http::Request<Incoming>,
) -> Result<Response<Body>, Reset> {
    if cluster.audit.is_none() {
        return serve(cluster, req).await;
    }
    let request = audit_request(&cluster, &req);
    let resp = serve(cluster.clone(), req).await;
    if let (Some(log), Ok(r)) = (&cluster.audit, &resp) {
        log.write(&audit::event(&request, r.status().as_u16()));
    }
    resp
}

/// What the audit log records of a request, decided as [`serve`] decides it (route, verb,
/// user); computed only when the log is on.
fn audit_request<B>(cluster: &Cluster, req: &http::Request<B>) -> audit::Request {
    let uri = req.uri();
    let query = Query::parse(uri.query());
    let route = path::parse(uri.path());
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let user = cluster
        .tokens
        .authenticate(
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        )
        .or_else(|| {
            is_public(&route).then(|| UserInfo {
                username: "system:anonymous".into(),
                groups: vec!["system:unauthenticated".into()],
                uid: String::new(),
            })
        });
    let (verb, object, long_running) = match &route {
        Route::Resource(rp) => {
            let (verb, _) = verbs(req.method(), rp, &query, header(header::CONTENT_TYPE));
            let rt = resources::get(rp.res);
            let sub = rp.subresource.clone().unwrap_or_default();
            let long = verb == "watch" || sub == "proxy" || (sub == "log" && query.flag("follow"));
            let object = audit::ObjectRef {
                resource: rt.plural.to_string(),
                namespace: rp.namespace.clone().unwrap_or_default(),
                name: rp.name.clone().unwrap_or_default(),
                api_group: rt.group.to_string(),
                api_version: rt.version.to_string(),
                subresource: sub,
            };
            (verb.to_string(), Some(object), long)
        }
        _ => (req.method().as_str().to_lowercase(), None, false),
    };
    audit::Request {
        uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        verb,
        user,
        user_agent: header(header::USER_AGENT).to_string(),
        object,
        long_running,
        received: crate::clock::now_micro(),
    }
}

/// Serves one request: faults, authentication, authorization, then the handlers.
async fn serve(
    cluster: Arc<Cluster>,
    req: http::Request<Incoming>,
) -> Result<Response<Body>, Reset> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    let route = path::parse(&path);
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();

    // Facts for faults and metrics.
    let (verb, metric_verb, res, sub, scope, ns, name) = match &route {
        Route::Resource(rp) => {
            let (v, mv) = verbs(&parts.method, rp, &query, &ct);
            let scope = if rp.name.is_some() {
                "resource"
            } else if rp.namespace.is_some() {
                "namespace"
            } else {
                "cluster"
            };
            (
                v,
                mv,
                Some(rp.res),
                rp.subresource
                    .as_deref()
                    .map(static_subresource)
                    .unwrap_or(""),
                scope,
                rp.namespace.clone().unwrap_or_default(),
                rp.name.clone().unwrap_or_default(),
            )
        }
        _ => ("get", "GET", None, "", "", String::new(), String::new()),
    };
    let metric = RequestMetric {
        verb: metric_verb,
        res,
        sub,
        scope,
        dry_run: query.get("dryRun").is_some_and(|v| !v.is_empty()),
    };

    if !matches!(route, Route::Admin(_) | Route::Health | Route::Metrics) {
        let resource = res.map(|r| resources::get(r).plural).unwrap_or_default();
        let facts = RequestFacts {
            verb,
            metric_verb,
            resource,
            subresource: sub,
            namespace: &ns,
            name: &name,
        };
        if let Some(effect) = cluster.faults.check(&facts) {
            if effect.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(effect.delay_ms)).await;
            }
            if effect.reset {
                return Err(Reset);
            }
            if let Some((code, message, retry)) = effect.status {
                let mut e = ApiError::for_code(code, message.as_deref());
                e.retry_after = retry;
                return Ok(metric.finish(&cluster, Err(e), false));
            }
        }
    }

    let auth_header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match cluster.tokens.authenticate(auth_header) {
        Some(u) => u,
        None if is_public(&route) => UserInfo {
            username: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            uid: String::new(),
        },
        None => return Ok(metric.finish(&cluster, Err(ApiError::unauthorized()), false)),
    };

    if cluster.opts.rbac
        && !is_public(&route)
        && let Some(e) = forbidden(&cluster, &route, verb, &parts.method, &path, &user)
    {
        return Ok(metric.finish(&cluster, Err(e), false));
    }

    if let Route::Resource(rp) = &route
        && matches!(rp.subresource.as_deref(), Some("portforward" | "exec"))
        && rp.name.is_some()
    {
        if cluster.opts.rbac
            && parts.method == Method::GET
            && let Some(e) = forbidden(&cluster, &route, "create", &parts.method, &path, &user)
        {
            // A WebSocket upgrade is a GET, authorized as `get`; kube-apiserver (1.30 and
            // later) also asks for `create`, the verb of the POST these connections once were.
            return Ok(metric.finish(&cluster, Err(e), false));
        }
        let resp = match (parts.method.clone(), rp.subresource.as_deref()) {
            (Method::GET | Method::POST, Some("exec")) => exec::serve(&cluster, parts, &query, rp),
            (Method::GET | Method::POST, _) => portforward::serve(&cluster, parts, &query, rp),
            _ => Err(ApiError::method_not_allowed()),
        };
        return Ok(metric.finish(&cluster, resp, true));
    }

    if let Route::Resource(rp) = &route
        && rp.subresource.as_deref() == Some("proxy")
    {
        // Proxied bodies stream both ways: nothing is buffered or size-limited here.
        let resp = proxy::serve(&cluster, parts, body, rp).await;
        return Ok(metric.finish(&cluster, resp, true));
    }

    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Ok(metric.finish(&cluster, Err(ApiError::too_large(MAX_BODY)), false)),
    };
    let req = Req {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body,
        user,
    };

    let long = verb == "watch" || (sub == "log" && req.query.flag("follow"));
    let resp = match route {
        Route::Resource(rp) => handlers::dispatch(&cluster, &req, &rp, verb).await,
        Route::Version => Ok(discovery::version()),
        Route::CoreVersions => Ok(discovery::core_versions(&req)),
        Route::Groups => Ok(discovery::groups()),
        Route::Group(g) => discovery::group(&g),
        Route::ResourceList(g, v) => Ok(discovery::resource_list(&g, &v)),
        Route::OpenApiV2 => Ok(discovery::openapi_v2()),
        Route::OpenApiV3(rest) => discovery::openapi_v3(&rest),
        Route::Health => Ok(health(&req)),
        Route::Metrics => Ok(metrics(&cluster)),
        Route::Admin(rest) => admin::handle(&cluster, &req, &rest).await,
        Route::NotFound => Err(ApiError::no_route()),
    };
    Ok(metric.finish(&cluster, resp, long))
}

/// The error for a request RBAC denies, checked before the body is read (as kube-apiserver's
/// authorization filter does).
fn forbidden(
    cluster: &Cluster,
    route: &Route,
    verb: &str,
    method: &Method,
    path: &str,
    user: &UserInfo,
) -> Option<ApiError> {
    let attrs = match route {
        Route::Resource(rp) => {
            let rt = resources::get(rp.res);
            rbac::Attributes {
                verb: verb.to_string(),
                group: rt.group.to_string(),
                resource: rt.plural.to_string(),
                subresource: rp.subresource.clone().unwrap_or_default(),
                name: rp.name.clone().unwrap_or_default(),
                namespace: rp.namespace.clone().unwrap_or_default(),
                path: path.to_string(),
                resource_request: true,
            }
        }
        _ => rbac::Attributes {
            verb: method.as_str().to_lowercase(),
            path: path.to_string(),
            ..Default::default()
        },
    };
    if rbac::authorize(&cluster.store, user, &attrs).0 {
        return None;
    }
    Some(ApiError::forbidden(
        rbac::forbidden_message(user, &attrs),
        forbidden_details(&attrs),
    ))
}

/// The `create` check of an apply that creates its object. kube-apiserver's patch handler
/// authorizes such a request as `create` too (its filter already allowed `patch`), with the
/// object's name; the denial is `NewForbidden` with the authorizer's reason, which RBAC leaves
/// empty. `Ok` when RBAC is off.
pub fn authorize_create_on_patch(
    cluster: &Cluster,
    user: &UserInfo,
    rp: &ResourcePath,
) -> Result<(), ApiError> {
    if !cluster.opts.rbac {
        return Ok(());
    }
    let rt = resources::get(rp.res);
    let attrs = rbac::Attributes {
        verb: "create".to_string(),
        group: rt.group.to_string(),
        resource: rt.plural.to_string(),
        subresource: rp.subresource.clone().unwrap_or_default(),
        name: rp.name.clone().unwrap_or_default(),
        namespace: rp.namespace.clone().unwrap_or_default(),
        path: String::new(),
        resource_request: true,
    };
    if rbac::authorize(&cluster.store, user, &attrs).0 {
        return Ok(());
    }
    Err(ApiError::forbidden(
        rbac::create_on_patch_forbidden_message(&attrs),
        forbidden_details(&attrs),
    ))
}

/// The `details` of a 403 `Status`: name, group and kind (the resource) of what was refused.
fn forbidden_details(attrs: &rbac::Attributes) -> Option<Value> {
    if attrs.resource_request {
        let mut d = serde_json::json!({"name": attrs.name});
        if !attrs.group.is_empty() {
            d["group"] = serde_json::json!(attrs.group);
        }
        d["kind"] = serde_json::json!(attrs.resource);
        if attrs.name.is_empty()
            && let Some(m) = d.as_object_mut()
        {
            m.shift_remove("name");
        }
        Some(d)
    } else {
        None
    }
}

/// What the metrics record of a request, known before it is answered: the metric verb, the
/// resource type (for resource requests only), the subresource and the scope.
#[derive(Clone, Copy)]
struct RequestMetric {
    verb: &'static str,
    res: Option<resources::ResId>,
    sub: &'static str,
    scope: &'static str,
    dry_run: bool,
}

impl RequestMetric {
    /// The response to send for `result`: counts a resource request with its code (that of the
    /// error, for an error) and, when `long` (watch, followed log, proxy), keeps the
    /// long-running gauge up for as long as the response streams.
    fn finish(
        self,
        cluster: &Arc<Cluster>,
        result: Result<Response<Body>, ApiError>,
        long: bool,
    ) -> Response<Body> {
        let (code, resp) = match result {
            Ok(r) => (r.status().as_u16(), r),
            Err(e) => (e.code, error_response(&e)),
        };
        if self.res.is_some() {
            cluster.metrics.count(RequestKey {
                verb: self.verb,
                res: self.res,
                subresource: self.sub,
                scope: self.scope,
                code,
                dry_run: self.dry_run,
            });
        }
        if !long {
            return resp;
        }
        let (parts, body) = resp.into_parts();
        let guard = GaugeGuard::new(cluster.clone(), self);
        let body = body
            .map_frame(move |f| {
                let _keep = &guard;
                f
            })
            .boxed_unsync();
        Response::from_parts(parts, body)
    }
}

/// One open long-running request in the gauge, for as long as it lives.
struct GaugeGuard {
    cluster: Arc<Cluster>,
    metric: RequestMetric,
}

impl GaugeGuard {
    fn new(cluster: Arc<Cluster>, metric: RequestMetric) -> Self {
        let RequestMetric {
            verb,
            res,
            sub,
            scope,
            ..
        } = metric;
        cluster.metrics.add_long_running(verb, res, sub, scope, 1);
        GaugeGuard { cluster, metric }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        let RequestMetric {
            verb,
            res,
            sub,
            scope,
            ..
        } = self.metric;
        self.cluster
            .metrics
            .add_long_running(verb, res, sub, scope, -1);
    }
}

fn health(req: &Req) -> Response<Body> {
    let mut r = Response::new(full(if req.query.flag("verbose") {
        "[+]ping ok\n[+]etcd ok\nhealthz check passed\n"
    } else {
        "ok"
    }));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn metrics(cluster: &Cluster) -> Response<Body> {
    let text = cluster.metrics.render(&cluster.store.counts());
    let mut r = Response::new(full(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
