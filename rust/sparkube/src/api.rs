//! Single calls to the Kubernetes API: sending a request, turning the answer into a typed value
//! or a structured [`ApiError`], and retrying transient failures with bounded exponential
//! backoff, jitter and the server's `Retry-After`.
//!
//! Every module that talks to the API server goes through [`call`], so retries, timeouts and
//! error classification are the same for submitting, tracking, logs and kill.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use kube::client::Body;
use serde::de::DeserializeOwned;

use crate::metrics::{METRICS, RetryReason};

/// A failed call to the Kubernetes API, with the HTTP status and reason when the server answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API server answered with an error status (a `metav1.Status` body when it sent one).
    #[error("{operation}: the API server answered {code} {reason}: {message}")]
    Status {
        /// What was attempted, e.g. `create pod spark/pi-driver`.
        operation: String,
        /// HTTP status code.
        code: u16,
        /// Machine-readable reason from the `Status` body (`AlreadyExists`, `NotFound`, ...).
        reason: String,
        /// Human-readable message from the `Status` body.
        message: String,
        /// How long the server asked the client to wait before retrying.
        retry_after: Option<Duration>,
    },
    /// The request did not get an answer: connection refused or reset, TLS or auth failure.
    #[error(
        "{operation}: could not reach the API server: {}",
        transport_cause(source)
    )]
    Transport {
        /// What was attempted.
        operation: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// No answer arrived within the per-attempt timeout.
    #[error("{operation}: no answer from the API server within {timeout:?}")]
    Timeout {
        /// What was attempted.
        operation: String,
        /// The per-attempt timeout that expired.
        timeout: Duration,
    },
    /// The answer was not the JSON that was expected.
    #[error("{operation}: could not decode the answer of the API server: {source}")]
    Decode {
        /// What was attempted.
        operation: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The request could not be built (an invalid name or parameter).
    #[error("{operation}: could not build the request: {message}")]
    Request {
        /// What was attempted.
        operation: String,
        /// Why the request is invalid.
        message: String,
    },
}

/// Result of an API call.
pub type Result<T> = std::result::Result<T, ApiError>;

impl ApiError {
    /// The HTTP status code, when the server answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The `Status` reason (`NotFound`, `AlreadyExists`, `Forbidden`, ...), when the server sent one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Status { reason, .. } if !reason.is_empty() => Some(reason),
            _ => None,
        }
    }

    /// What happened, without the operation: `the API server answered 403 Forbidden: …`,
    /// `could not reach the API server: …`, for messages that name the operation themselves.
    pub fn outcome(&self) -> String {
        let full = self.to_string();
        let operation = match self {
            Self::Status { operation, .. }
            | Self::Transport { operation, .. }
            | Self::Timeout { operation, .. }
            | Self::Decode { operation, .. }
            | Self::Request { operation, .. } => operation,
        };
        full.strip_prefix(operation.as_str())
            .and_then(|rest| rest.strip_prefix(": "))
            .map_or(full.clone(), str::to_owned)
    }

    /// The message of the server, or the description of the local failure.
    pub fn message(&self) -> String {
        match self {
            Self::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// True for 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status_code() == Some(404)
    }

    /// True for 409 Conflict (`AlreadyExists` on create).
    pub fn is_conflict(&self) -> bool {
        self.status_code() == Some(409)
    }

    /// True when trying again may succeed: 429, 500, 502, 503, 504, a reset or refused
    /// connection, or a timeout. Other 4xx answers and TLS or authentication failures are final.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { code, .. } => is_transient_status(*code),
            Self::Timeout { .. } => true,
            Self::Transport { source, .. } => is_transient_transport(source),
            Self::Decode { .. } | Self::Request { .. } => false,
        }
    }

    /// The delay the server asked for (`Retry-After` header or `details.retryAfterSeconds`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A transport failure and its causes in one line (`client error (Connect): tcp connect
/// error: Connection refused (os error 111)`), each cause once.
fn transport_cause(error: &kube::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// HTTP statuses worth retrying.
pub(crate) fn is_transient_status(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

/// Whether a client-side failure is a connection problem that may go away.
fn is_transient_transport(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => is_transient_status(status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            chain_is_transient(error)
        }
        _ => false,
    }
}

/// Walks the source chain looking for an I/O or hyper error that describes a dropped,
/// refused or timed-out connection. TLS failures surface as `InvalidData` and are final.
fn chain_is_transient(error: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut transient = false;
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::BrokenPipe
                | K::TimedOut
                | K::UnexpectedEof
                | K::NotConnected
                | K::Interrupted => transient = true,
                K::InvalidData | K::PermissionDenied => return false,
                _ => {}
            }
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled() || h.is_timeout())
        {
            transient = true;
        }
        current = err.source();
    }
    transient
}

/// How failed calls are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (1 disables retries).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles for every further one.
    pub initial_delay: Duration,
    /// Upper bound of the exponential delay.
    pub max_delay: Duration,
    /// Upper bound of a server-requested `Retry-After` delay.
    pub max_retry_after: Duration,
    /// Time allowed for one attempt (request and whole answer); `None` waits forever.
    pub attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            attempt_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (0 for the first retry).
    ///
    /// The exponential delay `initial × 2^retry`, capped at `max_delay`, is jittered into
    /// `[delay/2, delay]` by `unit` (a number in `[0, 1)`). A server-requested `retry_after`
    /// is honoured (capped at `max_retry_after`) when it is longer than the computed delay.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let exp = self
            .initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jittered = exp.mul_f64(0.5 + 0.5 * unit);
        match retry_after {
            Some(server) => jittered.max(server.min(self.max_retry_after)),
            None => jittered,
        }
    }

    /// Whether `error` on attempt number `attempt` (1-based) should be retried.
    pub fn should_retry(&self, attempt: u32, error: &ApiError) -> bool {
        attempt < self.max_attempts && error.is_transient()
    }
}

/// Parses a `Retry-After` header given in seconds (the form the API server uses).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Builds the error for a non-success answer from its status, headers and body.
pub(crate) fn status_error(
    operation: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiError {
    let parsed: Option<kube::core::Status> = serde_json::from_slice(body).ok();
    let header_delay = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body_delay = parsed
        .as_ref()
        .and_then(|s| s.details.as_ref())
        .map(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)));
    let (reason, message) = match parsed {
        Some(s) => (s.reason, s.message),
        None => (
            status
                .canonical_reason()
                .unwrap_or_default()
                .replace(' ', ""),
            String::from_utf8_lossy(body).trim().to_string(),
        ),
    };
    let no_credentials = headers
        .get(crate::unauthorized::NO_CREDENTIALS_HEADER)
        .and_then(|v| v.to_str().ok());
    let message = if let (StatusCode::UNAUTHORIZED, Some(why)) = (status, no_credentials) {
        format!("{message} (sparkube sent no credentials: {why})")
    } else if status == StatusCode::UNAUTHORIZED {
        format!("{message} ({UNAUTHORIZED_HINT})")
    } else {
        message
    };
    ApiError::Status {
        operation: operation.to_string(),
        code: status.as_u16(),
        reason,
        message,
        retry_after: header_delay.or(body_delay),
    }
}

/// What a 401 means for the caller.
pub(crate) const UNAUTHORIZED_HINT: &str =
    "the API server refused the credentials: the token or client certificate is invalid or expired";

/// Builds the error for a request that could not be constructed.
pub(crate) fn request_error(operation: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::Request {
        operation: operation.to_string(),
        message: error.to_string(),
    }
}

/// Sends one request and returns the status and the whole body.
async fn send_once(
    client: &kube::Client,
    operation: &str,
    request: http::Request<Vec<u8>>,
    timeout: Option<Duration>,
) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
    let exchange = async {
        let response = client
            .send(request.map(Body::from))
            .await
            .map_err(|source| ApiError::Transport {
                operation: operation.to_string(),
                source,
            })?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect_bytes()
            .await
            .map_err(|source| ApiError::Transport {
                operation: operation.to_string(),
                source,
            })?;
        Ok((parts.status, parts.headers, bytes.to_vec()))
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, exchange)
            .await
            .map_err(|_| ApiError::Timeout {
                operation: operation.to_string(),
                timeout: t,
            })?,
        None => exchange.await,
    }
}

/// Sends a request built by `make` (called again for every attempt), retrying transient
/// failures under `policy`, and decodes a success answer as `T`.
pub(crate) async fn call<T, F>(
    client: &kube::Client,
    policy: &RetryPolicy,
    operation: &str,
    make: F,
) -> Result<T>
where
    T: DeserializeOwned,
    F: Fn() -> std::result::Result<http::Request<Vec<u8>>, ApiError>,
{
    let body = call_raw(client, policy, operation, make).await?;
    serde_json::from_slice(&body).map_err(|source| ApiError::Decode {
        operation: operation.to_string(),
        source,
    })
}

/// Like [`call`] but returns the raw body of the success answer.
pub(crate) async fn call_raw<F>(
    client: &kube::Client,
    policy: &RetryPolicy,
    operation: &str,
    make: F,
) -> Result<Vec<u8>>
where
    F: Fn() -> std::result::Result<http::Request<Vec<u8>>, ApiError>,
{
    retrying(policy, operation, || async {
        let request = make()?;
        let (status, headers, body) =
            send_once(client, operation, request, policy.attempt_timeout).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(status_error(operation, status, &headers, &body))
        }
    })
    .await
}

/// Runs `attempt` until it succeeds, fails with a final error, or the policy gives up.
pub(crate) async fn retrying<T, F, Fut>(
    policy: &RetryPolicy,
    operation: &str,
    attempt: F,
) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut number = 1u32;
    loop {
        METRICS.api_requests.inc();
        let result = attempt().await;
        if let Err(error) = &result
            && error.status_code() == Some(429)
        {
            METRICS.api_throttled.inc();
        }
        match result {
            Ok(value) => return Ok(value),
            Err(error) if policy.should_retry(number, &error) => {
                METRICS.retry(retry_reason(&error));
                let delay = policy.delay(number - 1, error.retry_after(), rand::random::<f64>());
                log::debug!(
                    "{operation}: attempt {number} failed ({error}); retrying in {delay:?}"
                );
                tokio::time::sleep(delay).await;
                number += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The metrics' word for why a transient error is retried.
fn retry_reason(error: &ApiError) -> RetryReason {
    match error {
        ApiError::Status { code: 429, .. } => RetryReason::Throttled,
        ApiError::Status { .. } => RetryReason::ServerError,
        ApiError::Timeout { .. } => RetryReason::Timeout,
        _ => RetryReason::Transport,
    }
}

/// kube-rs's request builder for objects of kind `K` in `namespace`: every request sparkube
/// sends is built by it (paths, query parameters, bodies), and sent through [`call`].
pub(crate) fn namespaced<K: kube::Resource<DynamicType = ()>>(
    namespace: &str,
) -> kube::core::Request {
    kube::core::Request::new(K::url_path(&(), Some(namespace)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> ApiError {
        ApiError::Status {
            operation: "op".into(),
            code,
            reason: String::new(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn transient_statuses() {
        let table = [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (409, false),
            (410, false),
            (422, false),
            (429, true),
            (500, true),
            (501, false),
            (502, true),
            (503, true),
            (504, true),
        ];
        for (code, transient) in table {
            assert_eq!(status(code).is_transient(), transient, "status {code}");
        }
    }

    #[test]
    fn io_errors_in_the_chain_decide_transport_retries() {
        use std::io::{Error, ErrorKind};
        let table = [
            (ErrorKind::ConnectionReset, true),
            (ErrorKind::ConnectionRefused, true),
            (ErrorKind::TimedOut, true),
            (ErrorKind::UnexpectedEof, true),
            (ErrorKind::InvalidData, false),
            (ErrorKind::PermissionDenied, false),
            (ErrorKind::NotFound, false),
        ];
        for (kind, transient) in table {
            let err = kube::Error::Service(Box::new(Error::new(kind, "x")));
            let api = ApiError::Transport {
                operation: "op".into(),
                source: err,
            };
            assert_eq!(api.is_transient(), transient, "{kind:?}");
        }
        let timeout = ApiError::Timeout {
            operation: "op".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
        if let Err(source) = serde_json::from_str::<u8>("x") {
            let decode = ApiError::Decode {
                operation: "op".into(),
                source,
            };
            assert!(!decode.is_transient());
        }
    }

    #[test]
    fn messages_say_the_operation_once_and_the_cause_in_full() {
        use std::io::{Error, ErrorKind};
        let refused = Error::new(ErrorKind::ConnectionRefused, "Connection refused");
        let api = ApiError::Transport {
            operation: "create driver pod ns/p".into(),
            source: kube::Error::Service(Box::new(refused)),
        };
        assert_eq!(
            api.to_string(),
            "create driver pod ns/p: could not reach the API server: ServiceError: Connection refused"
        );
        assert_eq!(
            api.outcome(),
            "could not reach the API server: ServiceError: Connection refused"
        );
        let denied = status_error(
            "get pod ns/p",
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#,
        );
        assert_eq!(
            denied.outcome(),
            format!("the API server answered 401 Unauthorized: Unauthorized ({UNAUTHORIZED_HINT})")
        );
    }

    #[test]
    fn delay_grows_exponentially_within_jitter_and_cap() {
        let p = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        // (retry, unit, expected)
        let table = [
            (0, 1.0, 100),
            (0, 0.0, 50),
            (1, 1.0, 200),
            (2, 1.0, 400),
            (3, 0.5, 600),
            (4, 1.0, 1600),
            (5, 1.0, 2000),
            (40, 1.0, 2000),
            (40, 0.0, 1000),
        ];
        for (retry, unit, ms) in table {
            assert_eq!(
                p.delay(retry, None, unit),
                Duration::from_millis(ms),
                "retry {retry} unit {unit}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3)), 1.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600)), 1.0),
            Duration::from_secs(30)
        );
        // a server delay shorter than the backoff does not shorten it
        assert_eq!(
            p.delay(4, Some(Duration::from_millis(1)), 1.0),
            Duration::from_millis(1600)
        );
    }

    #[test]
    fn attempts_are_bounded_and_final_errors_not_retried() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.should_retry(1, &status(503)));
        assert!(p.should_retry(2, &status(429)));
        assert!(!p.should_retry(3, &status(503)));
        assert!(!p.should_retry(1, &status(409)));
        assert!(!RetryPolicy::no_retries().should_retry(1, &status(503)));
    }

    #[test]
    fn retry_after_header_and_status_body() {
        let table = [
            ("5", Some(5000)),
            (" 2 ", Some(2000)),
            ("0.5", Some(500)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("-1", None),
        ];
        for (value, ms) in table {
            assert_eq!(
                parse_retry_after(value),
                ms.map(Duration::from_millis),
                "{value}"
            );
        }

        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("4"),
        );
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests, please try again later","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}"#;
        let err = status_error(
            "create pod a/b",
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            body,
        );
        assert_eq!(err.status_code(), Some(429));
        assert_eq!(err.reason(), Some("TooManyRequests"));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
        let err = status_error(
            "create pod a/b",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            body,
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
        let err = status_error(
            "get pod a/b",
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"upstream down",
        );
        assert_eq!(err.reason(), Some("BadGateway"));
        assert_eq!(err.message(), "upstream down");
        assert!(err.to_string().contains("get pod a/b"));
    }

    #[tokio::test(start_paused = true)]
    async fn retrying_stops_at_success_and_at_final_errors() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let p = RetryPolicy {
            max_attempts: 5,
            ..RetryPolicy::default()
        };
        let calls = AtomicU32::new(0);
        let out = retrying(&p, "op", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 { Err(status(503)) } else { Ok(n) }
        })
        .await;
        assert_eq!(out.ok(), Some(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let out: Result<()> = retrying(&p, "op", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status(403))
        })
        .await;
        assert_eq!(out.err().and_then(|e| e.status_code()), Some(403));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let out: Result<()> = retrying(&p, "op", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status(500))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }
}
