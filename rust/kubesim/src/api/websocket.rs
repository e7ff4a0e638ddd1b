//! The server side of the WebSocket handshake shared by the pod subresources that upgrade
//! (`portforward`, `exec`): checks the request, picks the subprotocol, answers 101, and hands
//! the upgraded connection to a task.

use std::future::Future;

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::Body;
use super::status::{ApiError, Result};

/// An upgraded connection as a server-side WebSocket.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Whether the request asks for a WebSocket upgrade.
pub fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The subprotocols the client offers, in its order.
pub fn offered(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The subprotocol to answer with: the first of the client's offer that is in `served`.
pub fn negotiate(headers: &http::HeaderMap, served: &[&'static str]) -> Option<&'static str> {
    offered(headers).find_map(|offered| served.iter().copied().find(|p| *p == offered))
}

/// Answers the handshake with `protocol` and runs `relay` on the upgraded connection once the
/// 101 has gone out. `what` names the request in errors (`port-forward`, `exec`).
pub fn accept<F, Fut>(
    parts: &mut Parts,
    protocol: &'static str,
    what: &str,
    relay: F,
) -> Result<Response<Body>>
where
    F: FnOnce(Socket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Err(ApiError::bad_request(format!(
            "{what} needs a WebSocket upgrade: the request has no Sec-WebSocket-Key"
        )));
    };
    let Some(upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        return Err(ApiError::bad_request(
            "unable to upgrade connection: the HTTP connection cannot be upgraded",
        ));
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            relay(ws).await;
        }
    });
    let mut resp = Response::new(super::full(""));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol),
    );
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}

/// The pod an exec or port-forward request names, with its namespace and name (404 when it
/// does not exist).
pub fn target_pod<'a>(
    cluster: &crate::cluster::Cluster,
    rp: &'a super::path::ResourcePath,
) -> super::status::Result<(&'a str, &'a str, serde_json::Value)> {
    let ns = rp.namespace.as_deref().unwrap_or_default();
    let name = rp.name.as_deref().unwrap_or_default();
    let pod = cluster
        .store
        .get(crate::resources::ids::PODS, ns, name)
        .ok_or_else(|| super::status::ApiError::not_found(crate::resources::ids::PODS, name))?
        .value();
    Ok((ns, name, pod))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_the_first_served_protocol_of_the_offer() {
        let offer = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
            negotiate(&h, &["v4.channel.k8s.io", "channel.k8s.io"])
        };
        assert_eq!(
            offer("v5.channel.k8s.io, v4.channel.k8s.io"),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(offer("channel.k8s.io"), Some("channel.k8s.io"));
        assert_eq!(offer("base64.channel.k8s.io"), None);
    }
}
