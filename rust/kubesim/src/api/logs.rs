//! `pods/{name}/log`: container, follow, timestamps, sinceTime, sinceSeconds, tailLines,
//! limitBytes and previous, with the kubelet's error messages.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Response, header};
use serde_json::Value;
use tokio::sync::mpsc;

use super::status::{ApiError, Result};
use super::{Body, Req, full, stream};
use crate::clock;
use crate::cluster::Cluster;
use crate::resources::ids;

struct LogParams {
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    tail: Option<usize>,
    limit: Option<usize>,
}

fn container_names(pod: &Value) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|l| pod["spec"][*l].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    for list in ["containerStatuses", "initContainerStatuses"] {
        for cs in pod["status"][list].as_array().into_iter().flatten() {
            if cs["name"] == container {
                return cs["state"]["waiting"]["reason"]
                    .as_str()
                    .map(str::to_string);
            }
        }
    }
    Some("ContainerCreating".into())
}

fn restarting(pod: &Value, container: &str) -> bool {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .any(|list| {
            pod["status"][*list]
                .as_array()
                .into_iter()
                .flatten()
                .any(|cs| {
                    cs["name"] == container
                        && cs["state"]["waiting"].is_object()
                        && cs["lastState"]["terminated"].is_object()
                })
        })
}

fn format_line(p: &LogParams, ts: DateTime<Utc>, line: &Bytes) -> Bytes {
    if p.timestamps {
        let mut v = clock::format_nanos(ts).into_bytes();
        v.push(b' ');
        v.extend_from_slice(line);
        Bytes::from(v)
    } else {
        line.clone()
    }
}

/// Serves a container log.
pub async fn pod_log(
    cluster: &Arc<Cluster>,
    req: &Req,
    ns: &str,
    name: &str,
) -> Result<Response<Body>> {
    let pod_obj = cluster
        .store
        .get(ids::PODS, ns, name)
        .ok_or_else(|| ApiError::not_found(ids::PODS, name))?;
    let pod = pod_obj.value();
    let names = container_names(&pod);
    let main: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match req.query.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !names.iter().any(|n| n == c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None => {
            if let Some(def) =
                pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str()
            {
                def.to_string()
            } else if main.len() == 1 {
                main[0].clone()
            } else {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    main.join(" ")
                )));
            }
        }
    };
    let previous = req.query.flag("previous");
    // Between restarts (CrashLoopBackOff) the last run is both the current and the previous log.
    let between_runs = restarting(&pod, &container);
    let buf = match cluster
        .logs
        .get(&pod_obj.uid, &container, previous && !between_runs)
    {
        Some(b) => b,
        None if previous => {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        None => {
            let reason =
                waiting_reason(&pod, &container).unwrap_or_else(|| "ContainerCreating".into());
            let why = if reason == "ErrImagePull" || reason == "ImagePullBackOff" {
                "trying and failing to pull image".to_string()
            } else {
                reason
            };
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: {why}"
            )));
        }
    };
    let since = if let Some(t) = req.query.get("sinceTime").filter(|s| !s.is_empty()) {
        Some(
            clock::parse(t)
                .ok_or_else(|| ApiError::bad_request(format!("invalid sinceTime {t:?}")))?,
        )
    } else {
        req.query
            .int("sinceSeconds")?
            .map(|s| Utc::now() - chrono::Duration::seconds(s))
    };
    let p = LogParams {
        timestamps: req.query.flag("timestamps"),
        since,
        tail: req
            .query
            .int("tailLines")?
            .filter(|t| *t >= 0)
            .map(|t| t as usize),
        limit: req
            .query
            .int("limitBytes")?
            .filter(|l| *l > 0)
            .map(|l| l as usize),
    };
    let (lines, mut next) = buf.lines_from(0);
    let mut selected: Vec<(DateTime<Utc>, Bytes)> = lines
        .into_iter()
        .filter(|(t, _)| p.since.is_none_or(|s| *t >= s))
        .collect();
    if let Some(n) = p.tail
        && selected.len() > n
    {
        selected.drain(..selected.len() - n);
    }
    let follow = req.query.flag("follow") && !previous;
    let mut r = if !follow {
        let mut out = Vec::new();
        for (t, l) in &selected {
            out.extend_from_slice(&format_line(&p, *t, l));
        }
        if let Some(limit) = p.limit {
            out.truncate(limit);
        }
        Response::new(full(out))
    } else {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let mut drop_rx = cluster.drop_watches.subscribe();
        drop_rx.borrow_and_update();
        let cluster = cluster.clone();
        let uid = pod_obj.uid.clone();
        let (ns, name) = (ns.to_string(), name.to_string());
        tokio::spawn(async move {
            let mut sent = 0usize;
            let mut send = |b: Bytes| {
                let tx = tx.clone();
                let limit = p.limit;
                let mut b = b;
                if let Some(l) = limit {
                    if sent >= l {
                        return None;
                    }
                    if sent + b.len() > l {
                        b = b.slice(..l - sent);
                    }
                }
                sent += b.len();
                Some(async move { tx.send(b).await.is_ok() })
            };
            for (t, l) in &selected {
                match send(format_line(&p, *t, l)) {
                    Some(f) => {
                        if !f.await {
                            return;
                        }
                    }
                    None => return,
                }
            }
            let mut sub = buf.subscribe();
            loop {
                let (more, n) = buf.lines_from(next);
                next = n;
                for (t, l) in &more {
                    match send(format_line(&p, *t, l)) {
                        Some(f) => {
                            if !f.await {
                                return;
                            }
                        }
                        None => return,
                    }
                }
                if buf.closed() {
                    let (more, _) = buf.lines_from(next);
                    if more.is_empty() {
                        return;
                    }
                    continue;
                }
                if cluster
                    .store
                    .get(ids::PODS, &ns, &name)
                    .is_none_or(|o| o.uid != uid)
                {
                    return;
                }
                tokio::select! {
                    r = sub.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {},
                    _ = drop_rx.changed() => return,
                    _ = tx.closed() => return,
                }
            }
        });
        Response::new(stream(rx))
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    Ok(r)
}
