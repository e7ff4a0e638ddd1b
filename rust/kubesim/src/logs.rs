//! Container logs as the kubelet keeps them: one buffer per container run (so `previous` works),
//! timestamped lines, followers woken as lines arrive, removed with the pod.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::watch;

/// Most bytes kept per container run; older lines are dropped past it.
const MAX_BYTES: usize = 10 * 1024 * 1024;

/// Timestamped lines.
type Lines = Vec<(DateTime<Utc>, Bytes)>;

/// The log of one run of one container.
pub struct LogBuffer {
    /// Lines kept, lines dropped from the front, bytes kept.
    lines: Mutex<(Lines, usize, usize)>,
    state: watch::Sender<(usize, bool)>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer {
            lines: Mutex::new((Vec::new(), 0, 0)),
            state: watch::channel((0, false)).0,
        }
    }
}

impl LogBuffer {
    /// Appends one line (a trailing newline is added when missing).
    pub fn push(&self, line: &str) {
        let mut text = line.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let total = {
            let mut g = self.lines.lock();
            g.2 += text.len();
            g.0.push((Utc::now(), Bytes::from(text)));
            while g.2 > MAX_BYTES && !g.0.is_empty() {
                let (_, first) = g.0.remove(0);
                g.2 -= first.len();
                g.1 += 1;
            }
            g.0.len() + g.1
        };
        self.state.send_modify(|s| s.0 = total);
    }

    /// Marks the run as finished: followers stop after the last line.
    pub fn close(&self) {
        self.state.send_modify(|s| s.1 = true);
    }

    /// Whether the run has finished.
    pub fn closed(&self) -> bool {
        self.state.borrow().1
    }

    /// Lines with absolute index ≥ `from`, and the absolute index after the last one returned.
    pub fn lines_from(&self, from: usize) -> (Vec<(DateTime<Utc>, Bytes)>, usize) {
        let g = self.lines.lock();
        let dropped = g.1;
        let start = from.saturating_sub(dropped).min(g.0.len());
        (g.0[start..].to_vec(), dropped + g.0.len())
    }

    /// A receiver woken whenever lines are added or the run finishes.
    pub fn subscribe(&self) -> watch::Receiver<(usize, bool)> {
        self.state.subscribe()
    }
}

/// (pod uid, container name)
type RunKey = (String, String);

/// All container logs, by pod uid and container name.
#[derive(Default)]
pub struct LogStore {
    runs: Mutex<HashMap<RunKey, Vec<Arc<LogBuffer>>>>,
}

impl LogStore {
    /// Starts a new run of a container and returns its buffer.
    pub fn start_run(&self, pod_uid: &str, container: &str) -> Arc<LogBuffer> {
        let buf = Arc::new(LogBuffer::default());
        let mut runs = self.runs.lock();
        let list = runs
            .entry((pod_uid.to_string(), container.to_string()))
            .or_default();
        list.push(buf.clone());
        if list.len() > 2 {
            list.remove(0);
        }
        buf
    }

    /// The current (or, with `previous`, the previous) run's log.
    pub fn get(&self, pod_uid: &str, container: &str, previous: bool) -> Option<Arc<LogBuffer>> {
        let runs = self.runs.lock();
        let list = runs.get(&(pod_uid.to_string(), container.to_string()))?;
        if previous {
            if list.len() >= 2 {
                list.get(list.len() - 2).cloned()
            } else {
                None
            }
        } else {
            list.last().cloned()
        }
    }

    /// Forgets a pod's logs.
    pub fn remove_pod(&self, pod_uid: &str) {
        let mut runs = self.runs.lock();
        runs.retain(|(uid, _), bufs| {
            if uid == pod_uid {
                for b in bufs.iter() {
                    b.close();
                }
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_previous() {
        let s = LogStore::default();
        let a = s.start_run("u", "c");
        a.push("one");
        a.close();
        let b = s.start_run("u", "c");
        b.push("two\n");
        let prev = s.get("u", "c", true).map(|b| b.lines_from(0).0.len());
        assert_eq!(prev, Some(1));
        let cur = s
            .get("u", "c", false)
            .map(|b| b.lines_from(0).0[0].1.clone());
        assert_eq!(cur.as_deref(), Some(&b"two\n"[..]));
        s.remove_pod("u");
        assert!(s.get("u", "c", false).is_none());
    }
}
