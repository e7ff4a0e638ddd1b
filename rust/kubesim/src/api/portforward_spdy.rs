//! `kubectl port-forward`'s protocol: SPDY/3.1 streams ([`super::spdy`]) carried either inside
//! a WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`, KEP-4006, what kubectl 1.31 and
//! later try first) or on the HTTP connection itself after `Upgrade: SPDY/3.1` with
//! `X-Stream-Protocol-Version: portforward.k8s.io` (kubectl's fallback, and older kubectls).
//!
//! For each local connection the client opens two streams with the headers `streamType`
//! (`error`, then `data`), `port` and `requestID`. Once both of a request have arrived, kubesim
//! dials the pod's address at the port, as the WebSocket port-forward does, and relays the
//! data stream; a failed dial is written on the error stream. Either side's end closes both.
//! Flow control is not enforced: kubectl's SPDY library neither sends WINDOW_UPDATE frames nor
//! waits for them, and the relay's bounded channels already limit what is buffered.

use std::collections::HashMap;
use std::net::IpAddr;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::Message;

use super::portforward::dial;
use super::spdy::{self, Codec, FLAG_FIN, Frame};
use super::websocket::Socket;

/// The WebSocket subprotocol of the tunnelled form.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The stream protocol of the upgraded form (`X-Stream-Protocol-Version`).
pub const STREAM_PROTOCOL: &str = "portforward.k8s.io";

/// The largest data frame sent to the client.
const CHUNK: usize = 32 * 1024;

/// Where the session forwards to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The pod's address (none for simulated pods).
    pub ip: Option<IpAddr>,
    /// `namespace/name`, for error messages.
    pub pod: String,
    /// The pod's uid, for error messages.
    pub uid: String,
}

/// Runs a session tunnelled in WebSocket binary messages: the messages are one byte stream
/// each way, not aligned with frames.
pub async fn serve_websocket(ws: Socket, target: Target) {
    let (mut sink, mut stream) = ws.split();
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_session, mut to_session) = tokio::io::split(theirs);
    let inbound = async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if to_session.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = to_session.shutdown().await;
    };
    let outbound = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_session.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::binary(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    };
    let session = serve(ours, target);
    tokio::join!(inbound, outbound, session);
}

/// What a stream's relay tells the frame writer.
type Outbox = mpsc::Sender<Frame>;

/// The streams of one forwarded connection.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
    /// Client data for the pod, once the relay runs.
    to_pod: Option<mpsc::Sender<Option<Vec<u8>>>>,
    /// Data that arrived before the relay started.
    early: Vec<Option<Vec<u8>>>,
}

/// Runs a SPDY port-forward session on a byte stream until the client goes away.
pub async fn serve<S>(io: S, target: Target)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(256);
    let mut codec_out = Codec::new();
    let write_loop = async move {
        while let Some(frame) = out_rx.recv().await {
            let Ok(bytes) = codec_out.encode(&frame) else {
                break;
            };
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let read_loop = async move {
        let mut codec = Codec::new();
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut pairs: HashMap<String, Pair> = HashMap::new();
        // Stream id → request id, and whether it is the data stream.
        let mut streams: HashMap<u32, (String, bool)> = HashMap::new();
        'session: loop {
            loop {
                let frame = match codec.decode(&mut buf) {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("kubesim: port-forward (SPDY): {e}");
                        let _ = out_tx
                            .send(Frame::GoAway {
                                last_good: 0,
                                status: spdy::RST_PROTOCOL_ERROR,
                            })
                            .await;
                        break 'session;
                    }
                };
                if !handle(frame, &mut pairs, &mut streams, &out_tx, &target).await {
                    break 'session;
                }
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        // Dropping the pairs ends their relays; dropping the sender ends the writer.
    };
    tokio::join!(write_loop, read_loop);
}

/// Applies one frame from the client; `false` ends the session.
async fn handle(
    frame: Frame,
    pairs: &mut HashMap<String, Pair>,
    streams: &mut HashMap<u32, (String, bool)>,
    out: &Outbox,
    target: &Target,
) -> bool {
    match frame {
        Frame::SynStream {
            stream_id,
            flags,
            headers,
            ..
        } => {
            let get = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            };
            let kind = get("streamtype").unwrap_or_default().to_string();
            let port = get("port").and_then(|p| p.parse::<u16>().ok());
            let request = get("requestid").unwrap_or_default().to_string();
            let Some(port) = port.filter(|_| kind == "error" || kind == "data") else {
                let _ = out
                    .send(Frame::RstStream {
                        stream_id,
                        status: spdy::RST_PROTOCOL_ERROR,
                    })
                    .await;
                return true;
            };
            let reply = Frame::SynReply {
                stream_id,
                flags: 0,
                headers: Vec::new(),
            };
            if out.send(reply).await.is_err() {
                return false;
            }
            let is_data = kind == "data";
            streams.insert(stream_id, (request.clone(), is_data));
            let pair = pairs.entry(request.clone()).or_default();
            pair.port = port;
            if is_data {
                pair.data = Some(stream_id);
                if flags & FLAG_FIN != 0 {
                    pair.early.push(None);
                }
            } else {
                pair.error = Some(stream_id);
            }
            if let (Some(error), Some(data), None) = (pair.error, pair.data, &pair.to_pod) {
                let (tx, rx) = mpsc::channel(64);
                for early in pair.early.drain(..) {
                    let _ = tx.try_send(early);
                }
                pair.to_pod = Some(tx);
                tokio::spawn(forward(
                    error,
                    data,
                    pair.port,
                    target.clone(),
                    rx,
                    out.clone(),
                ));
            }
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            let Some((request, true)) = streams.get(&stream_id) else {
                return true;
            };
            let Some(pair) = pairs.get_mut(request) else {
                return true;
            };
            let mut items = Vec::new();
            if !data.is_empty() {
                items.push(Some(data));
            }
            if flags & FLAG_FIN != 0 {
                items.push(None);
            }
            for item in items {
                match &pair.to_pod {
                    Some(tx) => {
                        let _ = tx.send(item).await;
                    }
                    None => pair.early.push(item),
                }
            }
        }
        Frame::RstStream { stream_id, .. } => {
            if let Some((request, _)) = streams.remove(&stream_id) {
                // Dropping the pair's sender ends its relay.
                pairs.remove(&request);
                streams.retain(|_, (r, _)| *r != request);
            }
        }
        Frame::Ping { id } => {
            let _ = out.send(Frame::Ping { id }).await;
        }
        Frame::GoAway { .. } => return false,
        Frame::SynReply { .. }
        | Frame::Headers { .. }
        | Frame::Settings { .. }
        | Frame::WindowUpdate { .. }
        | Frame::Unknown { .. } => {}
    }
    true
}

/// One forwarded connection: dials the pod, then relays the data stream both ways; a failed
/// dial goes to the error stream. Both streams are closed when it ends.
async fn forward(
    error_stream: u32,
    data_stream: u32,
    port: u16,
    target: Target,
    mut from_client: mpsc::Receiver<Option<Vec<u8>>>,
    out: Outbox,
) {
    let fin = |stream_id| Frame::Data {
        stream_id,
        flags: FLAG_FIN,
        data: Vec::new(),
    };
    let tcp: TcpStream = match dial(target.ip, port).await {
        Ok(s) => s,
        Err(cause) => {
            let message = format!(
                "error forwarding port {port} to pod {}, uid {}: {cause}",
                target.pod, target.uid
            );
            let _ = out
                .send(Frame::Data {
                    stream_id: error_stream,
                    flags: 0,
                    data: message.into_bytes(),
                })
                .await;
            let _ = out.send(fin(error_stream)).await;
            let _ = out.send(fin(data_stream)).await;
            return;
        }
    };
    let (mut read, mut write) = tcp.into_split();
    // Ends on the client's reset (or the session's end); its half-close only shuts the pod's
    // input, so that the reply still comes back.
    let to_pod = async {
        loop {
            match from_client.recv().await {
                Some(Some(data)) => {
                    if write.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Some(None) => {
                    let _ = write.shutdown().await;
                    std::future::pending::<()>().await;
                }
                None => break,
            }
        }
    };
    let from_pod = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame = Frame::Data {
                        stream_id: data_stream,
                        flags: 0,
                        data: buf[..n].to_vec(),
                    };
                    if out.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // The pod's end of the connection ends the forward (its reply is complete).
    tokio::select! {
        () = from_pod => {}
        () = to_pod => {}
    }
    let _ = out.send(fin(data_stream)).await;
    let _ = out.send(fin(error_stream)).await;
}
