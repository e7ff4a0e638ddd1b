//! What the HTTP-level kubesim tests share: one request on a connection of its own, and a
//! watch's events read line by line.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How long a test waits for an answer or an event.
pub const WAIT: Duration = Duration::from_secs(20);

/// One request on a connection of its own; the connection lives as long as its task.
pub async fn request(
    server: &kubesim::Server,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Incoming, JoinHandle<()>) {
    let stream = TcpStream::connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut tx, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}"));
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, server.addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {}", server.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let resp = tokio::time::timeout(WAIT, tx.send_request(req))
        .await
        .unwrap_or_else(|_| panic!("no answer in time to {path}"))
        .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
    let status = resp.status();
    (status, resp.into_body(), task)
}

/// The events of a watch's response body, one JSON line at a time.
pub struct EventLines {
    body: Incoming,
    buf: Vec<u8>,
}

impl EventLines {
    pub fn new(body: Incoming) -> Self {
        Self {
            body,
            buf: Vec::new(),
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                return Some(
                    serde_json::from_slice(&line).unwrap_or_else(|e| panic!("bad line: {e}")),
                );
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("no watch event in time"));
            match frame {
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => panic!("watch stream failed: {e}"),
                None => return None,
            }
        }
    }
}
