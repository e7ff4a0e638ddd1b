//! Watches: chunked HTTP streams of ADDED/MODIFIED/DELETED events from a resourceVersion, with
//! selector transitions, bookmarks, timeouts, 410 ERROR events for compacted versions, and
//! endings on `drop-watches`, compaction and shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, header};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::handlers::selectors;
use super::path::ResourcePath;
use super::status::{ApiError, Result};
use super::{Body, Req, stream, table};
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

/// How events are written to one watcher.
struct Writer {
    tx: mpsc::Sender<Bytes>,
    table: bool,
    include_object: Option<String>,
    res: ResId,
}

impl Writer {
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

    async fn send(&self, ty: &str, obj: &Obj, shared: Option<Bytes>) -> bool {
        self.tx.send(self.render(ty, obj, shared)).await.is_ok()
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

    async fn event(&self, f: &Filter, ev: &Event) -> bool {
        match self.line(f, ev) {
            Some(l) => self.tx.send(l).await.is_ok(),
            None => true,
        }
    }

    /// Sends several lines as one chunk (one write for a burst of events).
    async fn lines(&self, mut lines: Vec<Bytes>) -> bool {
        match lines.len() {
            0 => true,
            1 => self.tx.send(lines.remove(0)).await.is_ok(),
            _ => {
                let mut all = Vec::with_capacity(lines.iter().map(Bytes::len).sum());
                for l in &lines {
                    all.extend_from_slice(l);
                }
                self.tx.send(Bytes::from(all)).await.is_ok()
            }
        }
    }

    async fn raw(&self, v: &Value) -> bool {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
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

fn streaming_response(rx: mpsc::Receiver<Bytes>, table: bool) -> Response<Body> {
    let mut r = Response::new(stream(rx));
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

/// Starts a watch and returns the streaming response.
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
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let writer = Writer {
        tx,
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
            let w = writer;
            tokio::spawn(async move {
                w.raw(&expired_event(&format!(
                    "too old resource version: {asked} ({oldest})"
                )))
                .await;
            });
            return Ok(streaming_response(rx, table));
        }
        Err(e) => return Err(e.into()),
    };
    let cluster = cluster.clone();
    let res = rp.res;
    tokio::spawn(async move {
        let session = Session {
            w: writer,
            f: filter,
            start,
            drop_rx,
            bookmarks,
            send_initial,
            timeout,
            res,
        };
        run(cluster, session).await;
    });
    Ok(streaming_response(rx, table))
}

/// One open watch.
struct Session {
    w: Writer,
    f: Filter,
    start: store::WatchStart,
    drop_rx: tokio::sync::watch::Receiver<(u64, bool)>,
    bookmarks: bool,
    send_initial: bool,
    timeout: Duration,
    res: ResId,
}

async fn run(cluster: Arc<Cluster>, session: Session) {
    let Session {
        w,
        f,
        start,
        mut drop_rx,
        bookmarks,
        send_initial,
        timeout,
        res,
    } = session;
    let mut shutdown = cluster.shutdown.subscribe();
    let mut rx = start.rx;
    let mut last_rv = start.rv;
    // Consumed as sent, so that a long-lived watch does not keep the objects it started from.
    for o in start.initial {
        if f.matches(&o) && !w.send("ADDED", &o, None).await {
            return;
        }
    }
    if send_initial && bookmarks && !w.raw(&bookmark(res, start.rv, true)).await {
        return;
    }
    for ev in start.backlog {
        last_rv = last_rv.max(ev.obj.rv);
        if !w.event(&f, &ev).await {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let period = Duration::from_secs(cluster.opts.bookmark_seconds.max(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    last_rv = last_rv.max(ev.obj.rv);
                    let mut burst: Vec<Bytes> = w.line(&f, &ev).into_iter().collect();
                    for _ in 0..256 {
                        match rx.try_recv() {
                            Ok(ev) => {
                                last_rv = last_rv.max(ev.obj.rv);
                                burst.extend(w.line(&f, &ev));
                            }
                            Err(broadcast::error::TryRecvError::Empty) => break,
                            Err(_) => {
                                w.lines(burst).await;
                                return;
                            }
                        }
                    }
                    if !w.lines(burst).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if bookmarks => {
                let rv = cluster.store.rv();
                loop {
                    match rx.try_recv() {
                        Ok(ev) => {
                            last_rv = last_rv.max(ev.obj.rv);
                            if !w.event(&f, &ev).await {
                                return;
                            }
                        }
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(_) => return,
                    }
                }
                if !w.raw(&bookmark(res, rv.max(last_rv), false)).await {
                    return;
                }
            },
            changed = drop_rx.changed() => {
                if changed.is_ok() {
                    let (_, expire) = *drop_rx.borrow();
                    if expire {
                        let oldest = cluster.store.horizon(res);
                        w.raw(&expired_event(&format!("too old resource version: {last_rv} ({oldest})"))).await;
                    }
                }
                return;
            },
            _ = shutdown.changed() => return,
            _ = &mut deadline => return,
            _ = w.tx.closed() => return,
        }
    }
}
