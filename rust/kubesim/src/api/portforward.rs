//! The `portforward` subresource of pods over WebSocket, as kube-apiserver and the kubelet serve
//! it to kube-rs and the Python `kubernetes` client: `GET …/pods/{name}/portforward?ports=P,Q`
//! upgraded with the `v4.channel.k8s.io` subprotocol (or its older unversioned
//! `channel.k8s.io` form, which frames port-forward data the same way).
//!
//! Each asked port has two channels, data `2i` and error `2i+1`; every binary message starts
//! with its channel byte, and the first message on each channel is the port number (two bytes,
//! little-endian). kubesim then dials the pod's IP at that port, as the kubelet dials inside the
//! pod's network namespace: pods of the process runtime listen on their own loopback address,
//! so the relay is a TCP connection from kubesim. A failed dial is reported on the error channel
//! in the kubelet's words; pods of the simulated runtime have no reachable address, which is
//! reported the same way. SPDY (`kubectl port-forward`'s transport) is not spoken.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Message;

use super::path::ResourcePath;
use super::status::{ApiError, Result};
use super::{Body, Query};
use super::{portforward_spdy, websocket};
use crate::cluster::Cluster;

/// The subprotocols served, most preferred first.
pub const PROTOCOLS: [&str; 3] = [
    "v4.channel.k8s.io",
    "channel.k8s.io",
    portforward_spdy::TUNNEL_PROTOCOL,
];

/// How long dialing a pod's port may take before the error channel reports it.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest data message sent to the client.
const CHUNK: usize = 32 * 1024;

/// The ports of `ports=` (comma lists, possibly repeated); 400 for none or a bad one.
pub fn ports(query: &Query) -> Result<Vec<u16>> {
    let mut out = Vec::new();
    for (_, value) in query.0.iter().filter(|(k, _)| k == "ports") {
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => out.push(n),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid port {p:?}: ports must be numbers from 1 to 65535"
                    )));
                }
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "at least one port must be specified with ports=",
        ));
    }
    Ok(out)
}

/// Answers a port-forward request: checks the pod and the handshake, then relays in the
/// background once the connection is upgraded.
pub fn serve(
    cluster: &Arc<Cluster>,
    mut parts: Parts,
    query: &Query,
    rp: &ResourcePath,
) -> Result<Response<Body>> {
    let (ns, name, pod) = websocket::target_pod(cluster, rp)?;
    let is_spdy = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    let protocol = if is_spdy {
        None
    } else if websocket::is_upgrade(&parts.headers) {
        let Some(p) = websocket::negotiate(&parts.headers, &PROTOCOLS) else {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade connection: no supported WebSocket subprotocol offered \
                 (served: {})",
                PROTOCOLS.join(", ")
            )));
        };
        Some(p)
    } else {
        return Err(ApiError::bad_request(
            "port-forward needs a WebSocket upgrade (subprotocol v4.channel.k8s.io or \
             SPDY/3.1+portforward.k8s.io) or Upgrade: SPDY/3.1",
        ));
    };
    // The channel protocols name their ports in the query; SPDY names them per stream.
    let ports = match protocol {
        Some(p) if p != portforward_spdy::TUNNEL_PROTOCOL => ports(query)?,
        _ => Vec::new(),
    };
    if pod["status"]["phase"] != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running (phase {})",
            pod["status"]["phase"].as_str().unwrap_or("Pending")
        )));
    }
    let ip: Option<IpAddr> = pod["status"]["podIP"].as_str().and_then(|s| s.parse().ok());
    let uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pod_id = format!("{ns}/{name}");
    let target = portforward_spdy::Target {
        ip,
        pod: pod_id.clone(),
        uid: uid.clone(),
    };
    match protocol {
        Some(portforward_spdy::TUNNEL_PROTOCOL) => websocket::accept(
            &mut parts,
            portforward_spdy::TUNNEL_PROTOCOL,
            "port-forward",
            move |ws| portforward_spdy::serve_websocket(ws, target),
        ),
        Some(p) => websocket::accept(&mut parts, p, "port-forward", move |ws| {
            relay(ws, ports, ip, pod_id, uid)
        }),
        None => spdy_upgrade(&mut parts, target),
    }
}

/// Answers `Upgrade: SPDY/3.1` (kubectl's fallback from the WebSocket tunnel) and runs the
/// session on the connection itself.
fn spdy_upgrade(parts: &mut Parts, target: portforward_spdy::Target) -> Result<Response<Body>> {
    let offered: Vec<&str> = parts
        .headers
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if !offered.contains(&portforward_spdy::STREAM_PROTOCOL) {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, \
             server supports [{}]",
            portforward_spdy::STREAM_PROTOCOL
        )));
    }
    let Some(upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        return Err(ApiError::bad_request(
            "unable to upgrade connection: the HTTP connection cannot be upgraded",
        ));
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            portforward_spdy::serve(TokioIo::new(upgraded), target).await;
        }
    });
    let mut resp = Response::new(super::full(""));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(portforward_spdy::STREAM_PROTOCOL),
    );
    Ok(resp)
}

/// What the relay tasks tell the WebSocket writer.
enum Out {
    /// A message for the client.
    Send(Vec<u8>),
    /// The pod side of port `index` ended.
    Closed,
}

/// Relays one WebSocket connection: the port headers, one TCP connection per port, data both
/// ways, until the client hangs up or a pod connection ends (v4 has no half-close, so the
/// WebSocket closes with it, as the kubelet's does).
async fn relay<S>(
    ws: WebSocketStream<S>,
    ports: Vec<u16>,
    ip: Option<IpAddr>,
    pod: String,
    uid: String,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    for (i, port) in ports.iter().enumerate() {
        let [lo, hi] = port.to_le_bytes();
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            if sink.send(Message::binary(vec![ch, lo, hi])).await.is_err() {
                return;
            }
        }
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let mut to_pod = Vec::with_capacity(ports.len());
    for (i, port) in ports.iter().copied().enumerate() {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
        to_pod.push(tx);
        tokio::spawn(forward_port(
            i as u8,
            port,
            ip,
            pod.clone(),
            uid.clone(),
            rx,
            out_tx.clone(),
        ));
    }
    drop(out_tx);
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Binary(data))) => {
                    let Some((&ch, rest)) = data.split_first() else { continue };
                    // Data channels are even; what a client writes on an error channel is ignored.
                    let index = usize::from(ch / 2);
                    if ch % 2 == 0
                        && let Some(tx) = to_pod.get(index)
                        && !rest.is_empty()
                        && tx.send(rest.to_vec()).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    let _ = sink.send(Message::Pong(p)).await;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            out = out_rx.recv() => match out {
                Some(Out::Send(bytes)) => {
                    if sink.send(Message::binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Closed) | None => break,
            },
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.flush().await;
    // Read until the client's side of the closing handshake (or its hang-up): closing the TCP
    // connection with its last messages unread would answer them with a reset.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = stream.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    let _ = sink.close().await;
}

/// One port's connection to the pod: dials it, then copies both ways; a failed dial goes to the
/// port's error channel.
async fn forward_port(
    index: u8,
    port: u16,
    ip: Option<IpAddr>,
    pod: String,
    uid: String,
    mut from_client: mpsc::Receiver<Vec<u8>>,
    out: mpsc::Sender<Out>,
) {
    let (data_ch, error_ch) = (2 * index, 2 * index + 1);
    let tcp = match dial(ip, port).await {
        Ok(s) => s,
        Err(cause) => {
            let message = format!("error forwarding port {port} to pod {pod}, uid {uid}: {cause}");
            let mut bytes = vec![error_ch];
            bytes.extend_from_slice(message.as_bytes());
            let _ = out.send(Out::Send(bytes)).await;
            let _ = out.send(Out::Closed).await;
            return;
        }
    };
    let (mut read, mut write) = tcp.into_split();
    let writer = async {
        while let Some(data) = from_client.recv().await {
            if write.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    let reader = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match read.read(&mut buf[1..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf[0] = data_ch;
                    if out.send(Out::Send(buf[..=n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out.send(Out::Closed).await;
    };
    // The pod closing its side ends the forward; so does the client's hanging up, which drops
    // the relay's sender and ends the writer.
    tokio::select! {
        () = reader => {}
        () = writer => {}
    }
}

/// Dials a pod's port as the kubelet does inside the pod's network namespace; the error is in
/// the kubelet's words.
pub async fn dial(ip: Option<IpAddr>, port: u16) -> std::result::Result<TcpStream, String> {
    let cause = match ip {
        Some(ip) if !in_simulated_network(ip) => {
            match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(SocketAddr::new(ip, port)))
                .await
            {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "i/o timeout".to_string(),
            }
        }
        _ => "the pod has no address this host can reach".to_string(),
    };
    Err(format!(
        "failed to connect to localhost:{port} inside namespace: {cause}"
    ))
}

/// Pods of the simulated runtime get addresses in 10.244.0.0/16, which no process listens on.
fn in_simulated_network(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [10, 244])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_from_the_query() {
        let q = |s: &str| Query::parse(Some(s));
        assert_eq!(ports(&q("ports=15002")).ok(), Some(vec![15002]));
        assert_eq!(
            ports(&q("ports=80,4040&ports=7078")).ok(),
            Some(vec![80, 4040, 7078])
        );
        for bad in ["", "ports=", "ports=0", "ports=http", "ports=70000"] {
            assert!(ports(&q(bad)).is_err(), "{bad}");
        }
    }
}
