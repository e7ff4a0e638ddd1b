//! `--state-dir` persistence: a snapshot plus an append-only log of changes, replayed at start
//! so objects survive a restart and resourceVersions keep increasing; and the auth secrets.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use thiserror::Error;

use crate::resources::{self, RESOURCES, ResId};
use crate::store::{Change, Store};

/// Errors from reading or writing the state directory.
#[derive(Debug, Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for persistence.
pub type Result<T> = std::result::Result<T, Error>;

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn res_key(res: ResId) -> String {
    let r = resources::get(res);
    format!("{}/{}", r.api_version(), r.plural)
}

fn res_from_key(key: &str) -> Option<ResId> {
    RESOURCES
        .iter()
        .position(|r| format!("{}/{}", r.api_version(), r.plural) == key)
}

/// What was loaded from a state directory.
pub struct Loaded {
    /// Objects by type, keyed by (type, namespace, name).
    pub objects: std::collections::BTreeMap<(ResId, String, String), Value>,
    /// The highest resourceVersion seen.
    pub rv: u64,
}

/// Reads the snapshot and replays the change log.
pub fn load(dir: &Path) -> Result<Loaded> {
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut objects = std::collections::BTreeMap::new();
    let mut rv = 0u64;
    let mut apply = |line: &Value, rv: &mut u64| {
        let Some(res) = line["r"].as_str().and_then(res_from_key) else {
            return;
        };
        match line["op"].as_str() {
            Some("put") => {
                let o = &line["o"];
                let v = o["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                *rv = (*rv).max(v);
                let ns = o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                objects.insert((res, ns, name), o.clone());
            }
            Some("del") => {
                *rv = (*rv).max(line["rv"].as_u64().unwrap_or(0));
                objects.remove(&(
                    res,
                    line["ns"].as_str().unwrap_or_default().to_string(),
                    line["n"].as_str().unwrap_or_default().to_string(),
                ));
            }
            _ => {}
        }
    };
    let snap = dir.join("snapshot.jsonl");
    for file in [snap, dir.join("changes.jsonl")] {
        if !file.exists() {
            continue;
        }
        let f = File::open(&file).map_err(io("open", &file))?;
        for line in BufReader::new(f).lines() {
            let line = line.map_err(io("read", &file))?;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(r) = v["rv"].as_u64().filter(|_| v["op"] == "rv") {
                    rv = rv.max(r);
                    continue;
                }
                apply(&v, &mut rv);
            }
        }
    }
    Ok(Loaded { objects, rv })
}

/// Writes a snapshot of the store and empties the change log.
pub fn snapshot(dir: &Path, store: &Store) -> Result<()> {
    let (rv, objs) = store.snapshot();
    let tmp = dir.join("snapshot.jsonl.tmp");
    {
        let f = File::create(&tmp).map_err(io("create", &tmp))?;
        let mut w = BufWriter::new(f);
        writeln!(w, "{}", json!({"op": "rv", "rv": rv})).map_err(io("write", &tmp))?;
        for o in objs {
            let line = format!("{{\"op\":\"put\",\"r\":\"{}\",\"o\":", res_key(o.res));
            w.write_all(line.as_bytes()).map_err(io("write", &tmp))?;
            w.write_all(&o.json).map_err(io("write", &tmp))?;
            w.write_all(b"}\n").map_err(io("write", &tmp))?;
        }
        w.flush().map_err(io("write", &tmp))?;
    }
    let snap = dir.join("snapshot.jsonl");
    fs::rename(&tmp, &snap).map_err(io("rename", &snap))?;
    let log = dir.join("changes.jsonl");
    File::create(&log).map_err(io("truncate", &log))?;
    Ok(())
}

/// The change-log writer: the sink to give the store, the thread, and the channel that stops
/// it (send `None`).
pub type Writer = (
    Box<dyn Fn(Change) + Send + Sync>,
    std::thread::JoinHandle<()>,
    mpsc::Sender<Option<Change>>,
);

/// Starts the change-log writer thread.
pub fn writer(dir: &Path) -> Result<Writer> {
    let log = dir.join("changes.jsonl");
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io("open", &log))?;
    let (tx, rx) = mpsc::channel::<Option<Change>>();
    let handle = std::thread::spawn(move || {
        let mut w = BufWriter::new(f);
        loop {
            let item = match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(i) => i,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = w.flush();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            };
            let Some(change) = item else {
                let _ = w.flush();
                return;
            };
            let _ = match change {
                Change::Put(res, json) => {
                    let head = format!("{{\"op\":\"put\",\"r\":\"{}\",\"o\":", res_key(res));
                    w.write_all(head.as_bytes())
                        .and_then(|_| w.write_all(&json))
                        .and_then(|_| w.write_all(b"}\n"))
                }
                Change::Delete(res, ns, name, rv) => {
                    writeln!(
                        w,
                        "{}",
                        json!({"op": "del", "r": res_key(res), "ns": ns, "n": name, "rv": rv})
                    )
                }
            };
        }
    });
    let sink_tx = std::sync::Mutex::new(tx.clone());
    let sink = Box::new(move |c: Change| {
        if let Ok(t) = sink_tx.lock() {
            let _ = t.send(Some(c));
        }
    });
    Ok((sink, handle, tx))
}

/// Reads (or creates) the admin token and signing secret kept in the state directory.
pub fn auth_secrets(dir: &Path, token: Option<&str>) -> Result<(String, String)> {
    let path = dir.join("auth.json");
    if let Ok(text) = fs::read_to_string(&path)
        && let Ok(v) = serde_json::from_str::<Value>(&text)
        && let (Some(t), Some(s)) = (v["token"].as_str(), v["secret"].as_str())
        && token.is_none_or(|want| want == t)
    {
        return Ok((t.to_string(), s.to_string()));
    }
    let t = token
        .map(str::to_string)
        .unwrap_or_else(|| crate::auth::random_hex(24));
    let s = crate::auth::random_hex(32);
    fs::write(&path, json!({"token": t, "secret": s}).to_string()).map_err(io("write", &path))?;
    Ok((t, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ids;

    #[test]
    fn snapshot_and_log_round_trip() {
        let dir =
            std::env::temp_dir().join(format!("kubesim-persist-{}", crate::auth::random_hex(6)));
        let _ = fs::create_dir_all(&dir);
        let (sink, handle, tx) = match writer(&dir) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let store = Store::new(0, 10, Some(sink));
        let _ = store.create(
            ids::CONFIGMAPS,
            json!({"metadata": {"name": "a", "namespace": "n"}}),
        );
        let _ = store.create(
            ids::CONFIGMAPS,
            json!({"metadata": {"name": "b", "namespace": "n"}}),
        );
        let _ = store.delete(ids::CONFIGMAPS, "n", "a", None, None);
        let _ = tx.send(None);
        let _ = handle.join();
        let loaded = load(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.rv, 3);
        assert_eq!(loaded.objects.len(), 1);
        assert!(snapshot(&dir, &store).is_ok());
        let again = load(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.rv, 3);
        assert_eq!(again.objects.len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
