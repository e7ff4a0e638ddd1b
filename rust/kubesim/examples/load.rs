//! A load generator for kubesim, so that what is measured is kubesim and not its client: pod
//! creates over N keep-alive HTTP/1.1 connections at once, and watch fan-out (W watches on one
//! namespace, then probe pods created one at a time; the latency is from sending each probe's
//! create request to each watch receiving its ADDED event). Prints one JSON document per phase
//! on stdout.
//!
//! ```text
//! cargo run --release -p kubesim --example load -- --url http://127.0.0.1:PORT --token TOKEN \
//!     creates --namespace cap --pods 10000 --connections 8
//! cargo run --release -p kubesim --example load -- --url ... --token ... \
//!     fanout --namespace fanout --watches 1000 --probes 10 [--interval-ms 250] [--settle-ms 1000]
//! ```
//!
//! `fanout` prints `{"phase":"watches_open",…}` once every watch has its response headers (kubesim
//! has subscribed it by then), waits `--settle-ms`, sends the probes and prints the results. The
//! namespace is created when missing. Pods never exit (`kubesim.io/run-seconds: inf`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Where kubesim listens and how to authenticate.
#[derive(Clone)]
struct Target {
    /// `host:port` of the plain-HTTP listener.
    addr: String,
    token: String,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    tx: SendRequest<Full<Bytes>>,
    addr: String,
    token: String,
}

impl Conn {
    async fn open(target: &Target) -> Result<Conn> {
        let stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("failed to connect to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let (tx, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .context("failed to start an HTTP/1.1 connection")?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the server closes it.
            let _ = conn.await;
        });
        Ok(Conn {
            tx,
            addr: target.addr.clone(),
            token: target.token.clone(),
        })
    }

    fn request(&self, method: Method, path: &str, body: Bytes) -> Result<Request<Full<Bytes>>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.addr)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::ACCEPT, "application/json");
        if !body.is_empty() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        Ok(b.body(Full::new(body))?)
    }

    /// Sends a request and reads the whole response; returns its status.
    async fn call(&mut self, method: Method, path: &str, body: Bytes) -> Result<StatusCode> {
        let req = self.request(method, path, body)?;
        self.tx.ready().await.context("connection closed")?;
        let resp = self.tx.send_request(req).await.context("request failed")?;
        let status = resp.status();
        resp.into_body()
            .collect()
            .await
            .context("failed to read the response")?;
        Ok(status)
    }
}

/// The pod every create sends: a Spark driver as spark-submit labels it, one that never exits.
fn pod(namespace: &str, name: Option<&str>) -> Bytes {
    let mut meta = json!({
        "namespace": namespace,
        "labels": {"spark-role": "driver", "spark-app-selector": "spark-load"},
        "annotations": {"kubesim.io/run-seconds": "inf"},
    });
    match name {
        Some(n) => meta["name"] = json!(n),
        None => meta["generateName"] = json!("load-"),
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "spark-kubernetes-driver", "image": "apache/spark:4.0.0"}],
        },
    });
    Bytes::from(pod.to_string())
}

async fn ensure_namespace(target: &Target, namespace: &str) -> Result<()> {
    let mut conn = Conn::open(target).await?;
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    let status = conn
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Bytes::from(body.to_string()),
        )
        .await?;
    if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
        bail!("failed to create namespace {namespace}: HTTP {status}");
    }
    Ok(())
}

/// The `q`-th percentile (0-100) with linear interpolation, as bench/common.py computes it.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    match sorted.len() {
        0 => None,
        1 => Some(sorted[0]),
        n => {
            let pos = (n - 1) as f64 * q / 100.0;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
        }
    }
}

fn stats_ms(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    json!({
        "n": values.len(),
        "p50": percentile(&values, 50.0),
        "p90": percentile(&values, 90.0),
        "p99": percentile(&values, 99.0),
        "max": values.last(),
    })
}

/// `pods` creates shared out over `connections` connections, each sending its next request as
/// soon as the previous response has been read.
async fn creates(
    target: &Target,
    namespace: &str,
    pods: usize,
    connections: usize,
) -> Result<Value> {
    ensure_namespace(target, namespace).await?;
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(target).await?);
    }
    let body = pod(namespace, None);
    let path = Arc::new(format!("/api/v1/namespaces/{namespace}/pods"));
    let left = Arc::new(AtomicUsize::new(pods));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (body, path, left) = (body.clone(), path.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            let (mut created, mut failed, mut latencies) = (0usize, HashMap::new(), Vec::new());
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                match conn.call(Method::POST, &path, body.clone()).await {
                    Ok(StatusCode::CREATED) => created += 1,
                    Ok(other) => *failed.entry(other.as_u16()).or_insert(0usize) += 1,
                    Err(e) => return Err(e),
                }
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, anyhow::Error>((created, failed, latencies))
        }));
    }
    let (mut created, mut failed, mut latencies) = (0, HashMap::<u16, usize>::new(), Vec::new());
    for t in tasks {
        let (c, f, l) = t.await??;
        created += c;
        for (status, n) in f {
            *failed.entry(status).or_default() += n;
        }
        latencies.extend(l);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({
        "phase": "creates",
        "client": format!("Rust load generator (hyper), {connections} keep-alive connection(s)"),
        "connections": connections,
        "requests": pods,
        "created": created,
        // generateName's five random characters collide now and then (409), as in Kubernetes.
        "failed_by_status": failed,
        "seconds": seconds,
        "creates_per_s": created as f64 / seconds,
        "latency_ms": stats_ms(latencies),
    }))
}

/// The probe a watch-stream line announces as ADDED, if any: the number after `prefix` in
/// `"name":"<prefix>NNN"`.
fn added_probe(line: &[u8], needle: &[u8]) -> Option<usize> {
    if !line.starts_with(br#"{"type":"ADDED""#) {
        return None;
    }
    let at = line.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Reads one watch until `stop` fires; returns when each probe's ADDED event arrived.
async fn read_watch(
    (_sender, mut body): Watch,
    needle: Arc<Vec<u8>>,
    probes: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Option<Instant>> {
    let mut seen = vec![None; probes];
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = stop.changed() => return seen,
        };
        let Some(Ok(frame)) = frame else {
            return seen;
        };
        let now = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        let mut consumed = 0;
        while let Some(nl) = buf[consumed..].iter().position(|b| *b == b'\n') {
            let line = &buf[consumed..consumed + nl];
            if let Some(i) = added_probe(line, &needle)
                && i < probes
                && seen[i].is_none()
            {
                seen[i] = Some(now);
            }
            consumed += nl + 1;
        }
        buf.drain(..consumed);
    }
}

/// A watch's response body, and the connection's sender, kept as long as the body is read.
type Watch = (SendRequest<Full<Bytes>>, hyper::body::Incoming);

async fn open_watch(target: &Target, path: &str) -> Result<Watch> {
    let conn = Conn::open(target).await?;
    let req = conn.request(Method::GET, path, Bytes::new())?;
    let mut tx = conn.tx;
    tx.ready().await.context("connection closed")?;
    let resp = tx.send_request(req).await.context("watch request failed")?;
    if resp.status() != StatusCode::OK {
        bail!("watch answered HTTP {}", resp.status());
    }
    Ok((tx, resp.into_body()))
}

struct Fanout {
    namespace: String,
    watches: usize,
    probes: usize,
    interval: Duration,
    settle: Duration,
}

async fn fanout(target: &Target, f: &Fanout) -> Result<Value> {
    ensure_namespace(target, &f.namespace).await?;
    let prefix = format!("probe-{}-", std::process::id());
    let needle = Arc::new(format!("\"name\":\"{prefix}").into_bytes());
    let path = format!(
        "/api/v1/namespaces/{}/pods?watch=1&timeoutSeconds=3600",
        f.namespace
    );
    let opening = Instant::now();
    let mut opened = Vec::with_capacity(f.watches);
    for _ in 0..f.watches {
        let (target, path) = (target.clone(), path.clone());
        opened.push(tokio::spawn(
            async move { open_watch(&target, &path).await },
        ));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    let mut open_errors: HashMap<String, usize> = HashMap::new();
    for o in opened {
        match o.await? {
            Ok(watch) => readers.push(tokio::spawn(read_watch(
                watch,
                needle.clone(),
                f.probes,
                stop_rx.clone(),
            ))),
            Err(e) => *open_errors.entry(format!("{e:#}")).or_default() += 1,
        }
    }
    let open_s = opening.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"phase": "watches_open", "watches": readers.len(), "seconds": open_s})
    );
    tokio::time::sleep(f.settle).await;

    let mut conn = Conn::open(target).await?;
    let pods_path = format!("/api/v1/namespaces/{}/pods", f.namespace);
    let mut sent = Vec::with_capacity(f.probes);
    let mut create_ms = Vec::with_capacity(f.probes);
    for i in 0..f.probes {
        let body = pod(&f.namespace, Some(&format!("{prefix}{i:03}")));
        let t = Instant::now();
        let status = conn.call(Method::POST, &pods_path, body).await?;
        if status != StatusCode::CREATED {
            bail!("creating probe {i}: HTTP {status}");
        }
        create_ms.push(t.elapsed().as_secs_f64() * 1e3);
        sent.push(t);
        tokio::time::sleep(f.interval).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);

    let mut latencies = Vec::with_capacity(readers.len() * f.probes);
    let mut spread = vec![(f64::INFINITY, 0.0f64); f.probes];
    for r in readers {
        for (i, at) in r.await?.into_iter().enumerate() {
            if let Some(at) = at {
                let ms = at.saturating_duration_since(sent[i]).as_secs_f64() * 1e3;
                latencies.push(ms);
                spread[i] = (spread[i].0.min(ms), spread[i].1.max(ms));
            }
        }
    }
    let delivered = latencies.len();
    Ok(json!({
        "phase": "fanout",
        "client": "Rust load generator (hyper), one connection per watch",
        "watches": f.watches - open_errors.values().sum::<usize>(),
        "watch_open_errors": open_errors,
        "watches_open_s": open_s,
        "probes": f.probes,
        "deliveries": delivered,
        "expected_deliveries": (f.watches - open_errors.values().sum::<usize>()) * f.probes,
        "latency_ms": stats_ms(latencies),
        "first_delivery_ms": stats_ms(spread.iter().filter(|s| s.0.is_finite()).map(|s| s.0).collect()),
        "last_delivery_ms": stats_ms(spread.iter().filter(|s| s.0.is_finite()).map(|s| s.1).collect()),
        "probe_create_ms": stats_ms(create_ms),
    }))
}

/// `--key value` options after the global ones and the phase name.
struct Args {
    target: Target,
    phase: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut global = HashMap::new();
        let mut opts = HashMap::new();
        let mut phase = None;
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if let Some(key) = a.strip_prefix("--") {
                let value = it.next().ok_or_else(|| anyhow!("--{key} needs a value"))?;
                match phase {
                    None => global.insert(key.to_string(), value),
                    Some(_) => opts.insert(key.to_string(), value),
                };
            } else if phase.is_none() {
                phase = Some(a);
            } else {
                bail!("unexpected argument {a:?}");
            }
        }
        let url = global
            .remove("url")
            .ok_or_else(|| anyhow!("--url is required"))?;
        let addr = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must be kubesim's plain-HTTP address (http://…)"))?
            .trim_end_matches('/')
            .to_string();
        let token = global
            .remove("token")
            .ok_or_else(|| anyhow!("--token is required"))?;
        let phase = phase.ok_or_else(|| anyhow!("say which phase: creates or fanout"))?;
        Ok(Args {
            target: Target { addr, token },
            phase,
            opts,
        })
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.opts.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| anyhow!("--{key}: cannot parse {v:?}")),
        }
    }

    fn namespace(&self, default: &str) -> String {
        self.opts
            .get("namespace")
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let out = match args.phase.as_str() {
        "creates" => {
            creates(
                &args.target,
                &args.namespace("load"),
                args.get("pods", 10_000)?,
                args.get::<usize>("connections", 8)?.max(1),
            )
            .await?
        }
        "fanout" => {
            let f = Fanout {
                namespace: args.namespace("fanout"),
                watches: args.get("watches", 1000)?,
                probes: args.get("probes", 10)?,
                interval: Duration::from_millis(args.get("interval-ms", 250)?),
                settle: Duration::from_millis(args.get("settle-ms", 1000)?),
            };
            fanout(&args.target, &f).await?
        }
        other => bail!("unknown phase {other:?}: creates or fanout"),
    };
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_added_probes_only() {
        let needle = br#""name":"probe-1-"#;
        let added = br#"{"type":"ADDED","object":{"metadata":{"name":"probe-1-007","labels":{}}}}"#;
        let modified = br#"{"type":"MODIFIED","object":{"metadata":{"name":"probe-1-007"}}}"#;
        let other = br#"{"type":"ADDED","object":{"metadata":{"name":"load-x"}}}"#;
        assert_eq!(added_probe(added, needle), Some(7));
        assert_eq!(added_probe(modified, needle), None);
        assert_eq!(added_probe(other, needle), None);
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[0.0, 10.0], 99.0), Some(9.9));
    }
}
