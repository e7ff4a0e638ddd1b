//! The `kubesim` binary: serves until SIGTERM/SIGINT, or prints a ServiceAccount token.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;

use kubesim::cli::{self, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kubesim: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match cmd {
        Command::Help => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("kubesim {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Token {
            namespace,
            name,
            kubeconfig,
            seconds,
        } => match token(&namespace, &name, kubeconfig, seconds) {
            Ok(t) => {
                println!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kubesim: failed to get a token for {namespace}/{name}: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(opts) => serve(opts),
    }
}

fn serve(opts: kubesim::Options) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kubesim: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        // Handlers first, so a signal right after the "listening" line is not fatal.
        let signals = Signals::install();
        let server = match kubesim::start(opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kubesim: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("kubesim listening on {}", server.url);
        let _ = std::io::stdout().flush();
        signals.wait().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// SIGTERM and SIGINT streams, installed before the server starts.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn wait(mut self) {
        match (self.term.as_mut(), self.int.as_mut()) {
            (Some(term), Some(int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Asks the kubesim in the kubeconfig for a TokenRequest and returns the token.
fn token(
    ns: &str,
    name: &str,
    kubeconfig: Option<PathBuf>,
    seconds: i64,
) -> anyhow::Result<String> {
    let path = kubeconfig
        .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from))
        .ok_or_else(|| anyhow::anyhow!("no --kubeconfig given and KUBECONFIG is not set"))?;
    let (server, admin) = kubesim::kubeconfig::read(&path)?;
    let hostport = server
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("server {server} is not http://"))?
        .trim_end_matches('/');
    let body = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}).to_string();
    let req = format!(
        "POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(hostport)?;
    stream.write_all(req.as_bytes())?;
    let mut resp = String::new();
    stream.read_to_string(&mut resp)?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("malformed response"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    let json_text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let v: serde_json::Value = serde_json::from_str(&json_text)?;
    if status != "201" {
        anyhow::bail!("{}", v["message"].as_str().unwrap_or(status));
    }
    v["status"]["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("response has no token"))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
