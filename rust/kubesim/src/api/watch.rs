//! Watches: chunked HTTP streams of ADDED/MODIFIED/DELETED events from a resourceVersion, with
//! selector transitions, bookmarks, timeouts, 410 ERROR events for compacted versions, and
//! endings on `drop-watches`, compaction and shutdown.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::{Interval, Sleep};

use super::handlers::selectors;
use super::path::ResourcePath;
use super::status::{ApiError, Result};
use super::{Body, Req, table};
use crate::cluster::Cluster;
use crate::resources::{self, ResId};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{self, Event, EventType, Obj};

struct Filter {
    ns: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, o: &Obj) -> bool {
        self.ns.as_deref().is_none_or(|n| n == o.ns)
            && self.name.as_deref().is_none_or(|n| n == o.name)
            && self.labels.matches(&o.labels)
            && self.fields.matches(|f| o.field(f))
    }
}

/// How events are rendered for one watcher.
struct Renderer {
    table: bool,
    include_object: Option<String>,
    res: ResId,
}

impl Renderer {
    fn render(&self, ty: &str, obj: &Obj, shared: Option<Bytes>) -> Bytes {
        if self.table {
            let t = table::table(
                self.res,
                &[obj.value()],
                obj.rv,
                self.include_object.as_deref(),
            );
            store::watch_line(ty, &serde_json::to_vec(&t).unwrap_or_default())
        } else {
            shared.unwrap_or_else(|| store::watch_line(ty, &obj.json))
        }
    }

    /// The line this watcher gets for an event, if any (selector transitions become ADDED or
    /// DELETED).
    fn line(&self, f: &Filter, ev: &Event) -> Option<Bytes> {
        let now = f.matches(&ev.obj);
        let before = ev.prev.as_ref().is_some_and(|p| f.matches(p));
        match ev.ty {
            EventType::Added if now => Some(self.render("ADDED", &ev.obj, Some(ev.line()))),
            EventType::Modified if now && before => {
                Some(self.render("MODIFIED", &ev.obj, Some(ev.line())))
            }
            EventType::Modified if now => Some(self.render("ADDED", &ev.obj, None)),
            EventType::Modified if before => Some(self.render("DELETED", &ev.obj, None)),
            EventType::Deleted if now || before => {
                Some(self.render("DELETED", &ev.obj, Some(ev.line())))
            }
            _ => None,
        }
    }
}

/// A JSON value as one line of the stream.
fn raw(v: &Value) -> Bytes {
    let mut line = serde_json::to_vec(v).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Events a watcher takes from the channel at once, to write them as one chunk.
const BURST: usize = 256;

/// The lines in `lines` as one chunk, leaving it empty: one write for a burst of events, and one
/// chunk for the client to read.
fn concat(lines: &mut Vec<Bytes>) -> Option<Bytes> {
    match lines.len() {
        0 => None,
        1 => lines.pop(),
        _ => {
            let mut all = Vec::with_capacity(lines.iter().map(Bytes::len).sum());
            for l in lines.drain(..) {
                all.extend_from_slice(&l);
            }
            Some(Bytes::from(all))
        }
    }
}

fn bookmark(res: ResId, rv: u64, initial_end: bool) -> Value {
    let rt = resources::get(res);
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta}})
}

fn expired_event(message: &str) -> Value {
    json!({"type": "ERROR", "object": ApiError::expired(message).to_status()})
}

/// The response of a watch: chunks from `chunks` until it ends, as a chunked stream.
fn streaming_response(
    chunks: impl Stream<Item = Bytes> + Send + 'static,
    table: bool,
) -> Response<Body> {
    let frames = chunks.map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
    let ct = if table {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    r
}

/// The answer to a WebSocket upgrade on a watch: a complete 200 without an upgrade, which
/// WebSocket clients (fabric8) take as "no WebSocket here" and retry as a chunked HTTP watch.
pub fn websocket_refusal() -> Response<Body> {
    let mut r = Response::new(super::full(Bytes::new()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Starts a watch and returns the streaming response. The response body is the watch itself:
/// hyper polls it on the connection's task, so an event goes from the store's broadcast channel
/// to the socket without another task or channel in between, and the watch ends when hyper
/// drops the body (the client went away).
pub async fn watch(cluster: &Arc<Cluster>, req: &Req, rp: &ResourcePath) -> Result<Response<Body>> {
    let (labels, fields) = selectors(req, rp.res)?;
    let filter = Filter {
        ns: rp.namespace.clone(),
        name: rp.name.clone(),
        labels,
        fields,
    };
    let from = match req.query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))?,
        ),
    };
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let send_initial = req.query.flag("sendInitialEvents");
    let timeout = match req.query.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    let table = req.wants_table();
    let render = Renderer {
        table,
        include_object: req.query.get("includeObject").map(str::to_string),
        res: rp.res,
    };
    // Subscribed before the response goes out, so a drop or compaction right after it counts.
    let mut drop_rx = cluster.drop_watches.subscribe();
    drop_rx.borrow_and_update();
    let start = match cluster.store.watch(
        rp.res,
        rp.namespace.as_deref(),
        if send_initial { None } else { from },
    ) {
        Ok(s) => s,
        Err(store::Error::Expired { asked, oldest }) => {
            let line = raw(&expired_event(&format!(
                "too old resource version: {asked} ({oldest})"
            )));
            return Ok(streaming_response(stream::iter([line]), table));
        }
        Err(e) => return Err(e.into()),
    };
    let period = Duration::from_secs(cluster.opts.bookmark_seconds.max(1));
    let session = Session {
        shutdown: cluster.shutdown.subscribe(),
        cluster: cluster.clone(),
        w: render,
        f: filter,
        initial: start.initial.into_iter(),
        initial_end: send_initial && bookmarks,
        backlog: start.backlog.into_iter(),
        rx: start.rx,
        start_rv: start.rv,
        last_rv: start.rv,
        drop_rx,
        bookmarks,
        timeout,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        ticker: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        live: false,
        ended: false,
        burst: Vec::new(),
    };
    let chunks = stream::unfold(session, |mut s| async move {
        let chunk = s.next().await?;
        Some((chunk, s))
    });
    Ok(streaming_response(chunks, table))
}

/// One open watch: what is left of its initial objects and backlog, then the live events.
struct Session {
    cluster: Arc<Cluster>,
    w: Renderer,
    f: Filter,
    /// Consumed as sent, so that a long-lived watch does not keep the objects it started from.
    initial: std::vec::IntoIter<Arc<Obj>>,
    /// The initial-events-end bookmark is still to be sent after the initial objects.
    initial_end: bool,
    backlog: std::vec::IntoIter<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    start_rv: u64,
    last_rv: u64,
    drop_rx: tokio::sync::watch::Receiver<(u64, bool)>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    bookmarks: bool,
    timeout: Duration,
    /// The timeout and the bookmark ticker, started again once the initial objects and the
    /// backlog are out.
    deadline: Pin<Box<Sleep>>,
    ticker: Interval,
    /// Whether the initial objects and the backlog are out.
    live: bool,
    /// The last chunk was sent: the stream ends at the next poll.
    ended: bool,
    /// Lines gathered for the next chunk (kept to reuse its allocation).
    burst: Vec<Bytes>,
}

impl Session {
    /// The next chunk of the stream; `None` when the watch ends.
    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        if let Some(line) = self.catch_up() {
            return Some(line);
        }
        self.live().await
    }

    /// The next line of the initial objects, the initial-events-end bookmark or the backlog.
    fn catch_up(&mut self) -> Option<Bytes> {
        for o in self.initial.by_ref() {
            if self.f.matches(&o) {
                return Some(self.w.render("ADDED", &o, None));
            }
        }
        if std::mem::take(&mut self.initial_end) {
            return Some(raw(&bookmark(self.w.res, self.start_rv, true)));
        }
        for ev in self.backlog.by_ref() {
            self.last_rv = self.last_rv.max(ev.obj.rv);
            if let Some(line) = self.w.line(&self.f, &ev) {
                return Some(line);
            }
        }
        None
    }

    /// Adds the lines of up to `limit` events already in the channel to the burst; false when
    /// the channel lagged or closed, which ends the watch.
    fn take_ready(&mut self, limit: usize) -> bool {
        for _ in 0..limit {
            match self.rx.try_recv() {
                Ok(ev) => {
                    self.last_rv = self.last_rv.max(ev.obj.rv);
                    self.burst.extend(self.w.line(&self.f, &ev));
                }
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(_) => return false,
            }
        }
        true
    }

    /// Waits for the next live events this watcher gets (with those right behind them, as one
    /// chunk), a bookmark, or the end.
    async fn live(&mut self) -> Option<Bytes> {
        if !self.live {
            self.live = true;
            let now = tokio::time::Instant::now();
            self.deadline.as_mut().reset(now + self.timeout);
            self.ticker.reset();
        }
        loop {
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(ev) => {
                        self.last_rv = self.last_rv.max(ev.obj.rv);
                        self.burst.extend(self.w.line(&self.f, &ev));
                        self.ended = !self.take_ready(BURST);
                        if let Some(chunk) = concat(&mut self.burst) {
                            return Some(chunk);
                        }
                        if self.ended {
                            return None;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.ticker.tick(), if self.bookmarks => {
                    // Events already in the channel go out before the bookmark that covers them.
                    let rv = self.cluster.store.rv();
                    if !self.take_ready(usize::MAX) {
                        self.ended = true;
                        return concat(&mut self.burst);
                    }
                    self.burst.push(raw(&bookmark(self.w.res, rv.max(self.last_rv), false)));
                    return concat(&mut self.burst);
                },
                changed = self.drop_rx.changed() => {
                    self.ended = true;
                    if changed.is_ok() && self.drop_rx.borrow().1 {
                        let oldest = self.cluster.store.horizon(self.w.res);
                        let message = format!("too old resource version: {} ({oldest})", self.last_rv);
                        return Some(raw(&expired_event(&message)));
                    }
                    return None;
                },
                _ = self.shutdown.changed() => return None,
                _ = &mut self.deadline => return None,
            }
        }
    }
}
