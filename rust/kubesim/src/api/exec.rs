//! The `exec` subresource of pods over WebSocket, as kube-apiserver serves it to
//! `kubectl exec` (1.30 and later) and the Python `kubernetes` client's `stream`:
//! `GET|POST …/pods/{name}/exec?command=…&command=…&stdin=&stdout=&stderr=&container=`
//! upgraded with the subprotocol `v5.channel.k8s.io`, `v4.channel.k8s.io` or the older
//! `v3`/`v2`/unversioned `channel.k8s.io`.
//!
//! Every binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the error
//! channel, 4 terminal resizes (ignored: no terminal is served). When the command ends, v4 and
//! v5 send a `metav1.Status` on channel 3 (`Success`, or `Failure` with reason
//! `NonZeroExitCode` and an `ExitCode` cause, from which kubectl takes its own exit code); the
//! older protocols send only a failure, as text. v5 adds the client's half-close: a message
//! `[255, 0]` closes the command's stdin, so `kubectl exec -i … -- cat` ends.
//!
//! The command runs through the container runtime ([`crate::runtime::Runtime::exec`]): the
//! process runtime starts it with the container's environment, mounts and working directory;
//! the simulated runtime has no processes and refuses with a 400 before the upgrade.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::Response;
use http::request::Parts;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message};

use super::path::ResourcePath;
use super::status::{ApiError, Result};
use super::websocket::{self, Socket};
use super::{Body, Query};
use crate::cluster::Cluster;

/// The subprotocols served, most preferred first.
pub const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// v5's stream-close message: `[CLOSE, channel]`.
const CLOSE: u8 = 255;

/// The largest output message sent to the client.
const CHUNK: usize = 32 * 1024;

/// What an exec request asks for, from its query.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The command and its arguments (`command=`, repeated).
    pub command: Vec<String>,
    /// The container (`container=`), if named.
    pub container: Option<String>,
    /// Which streams the client attaches.
    pub stdin: bool,
    /// Whether the client reads the command's stdout.
    pub stdout: bool,
    /// Whether the client reads the command's stderr.
    pub stderr: bool,
}

impl Options {
    /// Reads the query, with kube-apiserver's errors for no command and no stream; `tty=true`
    /// is refused, as no terminal is served.
    pub fn parse(query: &Query) -> Result<Self> {
        let command: Vec<String> = query
            .0
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .collect();
        if command.is_empty() {
            return Err(ApiError::bad_request(
                "you must specify at least 1 command (command=)",
            ));
        }
        let (stdin, stdout, stderr) = (
            query.flag("stdin"),
            query.flag("stdout"),
            query.flag("stderr"),
        );
        if !(stdin || stdout || stderr) {
            return Err(ApiError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        if query.flag("tty") {
            return Err(ApiError::bad_request(
                "tty=true is not supported: kubesim runs exec commands without a terminal \
                 (drop -t from kubectl exec)",
            ));
        }
        Ok(Options {
            command,
            container: query
                .get("container")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            stdin,
            stdout,
            stderr,
        })
    }
}

/// The container to run in: the one named, or the pod's only one.
fn container_of(pod: &serde_json::Value, asked: Option<&str>) -> Result<String> {
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    match asked {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {pod_name}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}

/// Answers an exec request: checks the pod and the query, starts the command (so that a
/// refusal is an HTTP error the client shows), then relays once the connection is upgraded.
pub fn serve(
    cluster: &Arc<Cluster>,
    mut parts: Parts,
    query: &Query,
    rp: &ResourcePath,
) -> Result<Response<Body>> {
    let (_, name, pod) = websocket::target_pod(cluster, rp)?;
    let opts = Options::parse(query)?;
    let container = container_of(&pod, opts.container.as_deref())?;
    if pod["status"]["phase"] != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running (phase {})",
            pod["status"]["phase"].as_str().unwrap_or("Pending")
        )));
    }
    let runtime = cluster
        .runtime
        .get()
        .and_then(std::sync::Weak::upgrade)
        .ok_or_else(|| ApiError::internal("the container runtime is not running"))?;
    let mut child = runtime
        .exec(Arc::new(pod), &container, &opts.command)
        .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))?;
    // The runtime answers first: a client that falls back to SPDY after a refused WebSocket
    // (kubectl does) then shows the runtime's reason, not SPDY's absence.
    let protocol = if websocket::is_upgrade(&parts.headers) {
        websocket::negotiate(&parts.headers, &PROTOCOLS).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to upgrade connection: no supported WebSocket subprotocol offered \
                 (served: {})",
                PROTOCOLS.join(", ")
            ))
        })
    } else {
        Err(ApiError::bad_request(format!(
            "exec needs a WebSocket upgrade (subprotocols {}); SPDY is not served",
            PROTOCOLS.join(", ")
        )))
    };
    let protocol = match protocol {
        Ok(p) => p,
        Err(e) => {
            kill(&mut child);
            return Err(e);
        }
    };
    if !opts.stdin {
        drop(child.stdin.take());
    }
    let command = opts.command.clone();
    websocket::accept(&mut parts, protocol, "exec", move |ws| async move {
        relay(ws, child, protocol, command, opts).await;
    })
}

/// What the output pumps tell the WebSocket writer.
enum Out {
    /// A message for the client.
    Send(Vec<u8>),
    /// One output stream ended.
    Eof,
}

/// Relays one exec session until the command ends (or the client hangs up, which kills it).
async fn relay(
    ws: Socket,
    mut child: tokio::process::Child,
    protocol: &'static str,
    command: Vec<String>,
    opts: Options,
) {
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let mut open_outputs = 0;
    for (ch, pipe, wanted) in [
        (
            STDOUT,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn AsyncRead + Send + Unpin>),
            opts.stdout,
        ),
        (
            STDERR,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn AsyncRead + Send + Unpin>),
            opts.stderr,
        ),
    ] {
        if let Some(pipe) = pipe {
            open_outputs += 1;
            tokio::spawn(pump(ch, pipe, wanted, out_tx.clone()));
        }
    }
    drop(out_tx);
    let mut stdin = child.stdin.take();
    let supports_close = protocol == PROTOCOLS[0];
    let mut hung_up = false;
    while open_outputs > 0 {
        tokio::select! {
            incoming = stream.next(), if !hung_up => match incoming {
                Some(Ok(Message::Binary(data))) => {
                    handle_input(&data, &mut stdin, supports_close).await;
                }
                Some(Ok(Message::Text(text))) => {
                    handle_input(text.as_bytes(), &mut stdin, supports_close).await;
                }
                Some(Ok(Message::Ping(p))) => {
                    let _ = sink.send(Message::Pong(p)).await;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => hung_up = true,
                Some(Ok(_)) => {}
            },
            out = out_rx.recv() => match out {
                Some(Out::Send(bytes)) => {
                    if sink.send(Message::binary(bytes)).await.is_err() {
                        hung_up = true;
                    }
                }
                Some(Out::Eof) => open_outputs -= 1,
                None => open_outputs = 0,
            },
        }
        if hung_up {
            // Nobody reads the output any more: the command goes, as when the kubelet's
            // stream closes.
            kill(&mut child);
            break;
        }
    }
    drop(stdin);
    let status = child.wait().await;
    if !hung_up {
        use std::os::unix::process::ExitStatusExt;
        let code = match status {
            Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)),
            Err(_) => 137,
        };
        if let Some(message) = status_message(protocol, &command, code) {
            let mut bytes = vec![ERROR];
            bytes.extend_from_slice(&message);
            let _ = sink.send(Message::binary(bytes)).await;
        }
        // A normal closure: clients read a close without a code (1005) as a broken stream.
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.flush().await;
        // Read until the client's side of the closing handshake, so the last messages are not
        // answered with a reset.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while let Some(Ok(m)) = stream.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
    }
    let _ = sink.close().await;
}

/// Kills a command and what it started (its process group: nsenter's child is in it too).
fn kill(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.start_kill();
}

/// Applies one client message: stdin data, or v5's close of stdin.
async fn handle_input(
    data: &[u8],
    stdin: &mut Option<tokio::process::ChildStdin>,
    supports_close: bool,
) {
    let Some((&ch, rest)) = data.split_first() else {
        return;
    };
    match ch {
        STDIN if !rest.is_empty() => {
            if let Some(pipe) = stdin.as_mut()
                && pipe.write_all(rest).await.is_err()
            {
                *stdin = None;
            }
        }
        CLOSE if supports_close && rest.first() == Some(&STDIN) => {
            if let Some(mut pipe) = stdin.take() {
                let _ = pipe.shutdown().await;
            }
        }
        _ => {}
    }
}

/// Copies one output of the command to the client (or drops it when the client did not ask
/// for it, so the command never blocks on a full pipe).
async fn pump(
    ch: u8,
    mut pipe: Box<dyn AsyncRead + Send + Unpin>,
    wanted: bool,
    out: mpsc::Sender<Out>,
) {
    let mut buf = vec![0u8; CHUNK + 1];
    loop {
        match pipe.read(&mut buf[1..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) if wanted => {
                buf[0] = ch;
                if out.send(Out::Send(buf[..=n].to_vec())).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
    let _ = out.send(Out::Eof).await;
}

/// What the error channel carries when the command exits with `code`: a `metav1.Status` for
/// v4 and v5 (also on success), the failure's text alone for the older protocols.
pub fn status_message(protocol: &str, command: &[String], code: i32) -> Option<Vec<u8>> {
    let failure = format!(
        "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
        command.join(" ")
    );
    let structured = protocol == PROTOCOLS[0] || protocol == PROTOCOLS[1];
    match (structured, code) {
        (true, 0) => Some(
            json!({"metadata": {}, "status": "Success"})
                .to_string()
                .into_bytes(),
        ),
        (true, _) => Some(
            json!({
                "metadata": {},
                "status": "Failure",
                "message": failure,
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
            .to_string()
            .into_bytes(),
        ),
        (false, 0) => None,
        (false, _) => Some(failure.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_the_query() {
        let q = |s: &str| Options::parse(&Query::parse(Some(s)));
        let o = q("command=sh&command=-c&command=echo+hi&stdout=true&stderr=true&container=main");
        assert_eq!(
            o.ok(),
            Some(Options {
                command: vec!["sh".into(), "-c".into(), "echo hi".into()],
                container: Some("main".into()),
                stdin: false,
                stdout: true,
                stderr: true,
            })
        );
        for bad in [
            "stdout=true",
            "command=ls",
            "command=ls&stdout=true&tty=true",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn picks_the_named_or_only_container() {
        let pod = |names: &[&str]| {
            json!({"metadata": {"name": "p"}, "spec": {"containers":
                names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}})
        };
        assert_eq!(container_of(&pod(&["a"]), None).ok(), Some("a".into()));
        assert_eq!(
            container_of(&pod(&["a", "b"]), Some("b")).ok(),
            Some("b".into())
        );
        assert!(container_of(&pod(&["a", "b"]), None).is_err());
        assert!(container_of(&pod(&["a"]), Some("c")).is_err());
    }

    #[test]
    fn exit_status_per_protocol() {
        let cmd = ["sh".to_string(), "-c".into(), "exit 3".into()];
        let parsed = |p: &str, code| {
            status_message(p, &cmd, code)
                .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default())
        };
        assert_eq!(
            parsed("v5.channel.k8s.io", 0),
            Some(json!({"metadata": {}, "status": "Success"}))
        );
        let failure = parsed("v4.channel.k8s.io", 3).unwrap_or_default();
        assert_eq!(failure["reason"], "NonZeroExitCode");
        assert_eq!(
            failure["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
        assert_eq!(status_message("channel.k8s.io", &cmd, 0), None);
        assert!(
            status_message("v2.channel.k8s.io", &cmd, 3)
                .is_some_and(|t| t.ends_with(b"exit code 3"))
        );
    }
}
