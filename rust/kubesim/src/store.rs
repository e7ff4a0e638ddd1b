//! The object store: every object of every resource type as serialized JSON, one cluster-wide
//! resourceVersion counter, per-type bounded event histories and broadcast channels for watches,
//! and the uid and owner indexes the garbage collector needs.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{RwLock, RwLockUpgradableReadGuard};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::broadcast;

use crate::resources::{self, RESOURCES, ResId};

/// Errors from store operations; the API layer maps them to `Status` bodies.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// No object with that name.
    #[error("{name} not found")]
    NotFound {
        /// Resource type.
        res: ResId,
        /// Object name.
        name: String,
    },
    /// An object with that name exists already.
    #[error("{name} already exists")]
    AlreadyExists {
        /// Resource type.
        res: ResId,
        /// Object name.
        name: String,
    },
    /// The resourceVersion precondition did not hold.
    #[error(
        "the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// Resource type.
        res: ResId,
        /// Object name.
        name: String,
    },
    /// The uid precondition did not hold.
    #[error("Precondition failed: UID in precondition: {want}, UID in object meta: {have}")]
    UidMismatch {
        /// Resource type.
        res: ResId,
        /// Object name.
        name: String,
        /// The uid the caller expected.
        want: String,
        /// The uid the object has.
        have: String,
    },
    /// The object could not be serialized.
    #[error("failed to serialize object: {0}")]
    Serialize(String),
    /// A watch asked for a resourceVersion older than the history kept.
    #[error("too old resource version: {asked} ({oldest})")]
    Expired {
        /// The version asked for.
        asked: u64,
        /// The oldest version still served.
        oldest: u64,
    },
}

/// Events a live watcher may fall behind by before it is cut off (and re-lists or resumes from
/// the history).
const BROADCAST_CAPACITY: usize = 4096;

/// Result alias for store operations.
pub type Result<T> = std::result::Result<T, Error>;

/// `(namespace, name)`; namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// One stored version of one object.
#[derive(Debug)]
pub struct Obj {
    /// Resource type.
    pub res: ResId,
    /// Namespace ("" for cluster-scoped).
    pub ns: String,
    /// Name.
    pub name: String,
    /// metadata.uid
    pub uid: String,
    /// metadata.resourceVersion
    pub rv: u64,
    /// The object serialized as JSON, resourceVersion included.
    pub json: Bytes,
    /// metadata.labels, in object order.
    pub labels: Vec<(String, String)>,
    /// The resource type's selectable fields that are set (see
    /// [`resources::ResourceType::fields`]); absent ones read as "".
    pub fields: Vec<(&'static str, String)>,
    /// uids from metadata.ownerReferences.
    pub owners: Vec<String>,
    /// Whether metadata.deletionTimestamp is set.
    pub deleting: bool,
}

impl Obj {
    /// Parses the stored JSON back into a value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The value of a selectable field (`metadata.name`, `status.phase`, …), "" when absent.
    pub fn field(&self, path: &str) -> String {
        match path {
            "metadata.name" => self.name.clone(),
            "metadata.namespace" => self.ns.clone(),
            _ => self
                .fields
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        }
    }

    /// A minimal object naming this one (kind, apiVersion, name, namespace, uid,
    /// resourceVersion), enough for events and references, without parsing the JSON.
    pub fn reference(&self) -> Value {
        let rt = resources::get(self.res);
        let mut meta = serde_json::json!({"name": self.name, "uid": self.uid, "resourceVersion": self.rv.to_string()});
        if !self.ns.is_empty() {
            meta["namespace"] = Value::String(self.ns.clone());
        }
        serde_json::json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta})
    }

    /// The store key.
    pub fn key(&self) -> Key {
        (self.ns.clone(), self.name.clone())
    }
}

/// The kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub ty: EventType,
    /// The object after the change (its last state for a deletion, with the deletion's version).
    pub obj: Arc<Obj>,
    /// The object before the change, for selector transitions.
    pub prev: Option<Arc<Obj>>,
    line: std::sync::OnceLock<Bytes>,
}

impl Event {
    /// A new event.
    pub fn new(ty: EventType, obj: Arc<Obj>, prev: Option<Arc<Obj>>) -> Self {
        Event {
            ty,
            obj,
            prev,
            line: std::sync::OnceLock::new(),
        }
    }

    /// The watch-stream line for this event (`{"type":…,"object":…}` and a newline), built once
    /// and shared by every watcher.
    pub fn line(&self) -> Bytes {
        self.line
            .get_or_init(|| watch_line(self.ty.as_str(), &self.obj.json))
            .clone()
    }
}

/// A watch-stream line for an event of type `ty` about the serialized object `json`.
pub fn watch_line(ty: &str, json: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(json.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(ty.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(json);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

/// A record of one change, handed to the persistence writer.
#[derive(Debug, Clone)]
pub enum Change {
    /// The object now has this content.
    Put(ResId, Bytes),
    /// The object was removed at this version.
    Delete(ResId, String, String, u64),
}

/// What a watch starts from: the events after its version (or the current objects) and a live
/// receiver subscribed atomically with them.
pub struct WatchStart {
    /// Current objects, when the watch started without a version.
    pub initial: Vec<Arc<Obj>>,
    /// Events after the requested version, oldest first.
    pub backlog: Vec<Arc<Event>>,
    /// Live events after `rv`.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The store version at subscription time.
    pub rv: u64,
}

struct Table {
    objects: BTreeMap<Key, Arc<Obj>>,
    history: VecDeque<Arc<Event>>,
    /// Events with a version above this are all in `history`.
    horizon: u64,
    /// Every event of the type, for watches of all namespaces.
    tx: broadcast::Sender<Arc<Event>>,
    /// The events of one namespace, for the watches of that namespace, so that a busy namespace
    /// does not wake the watches of the others. Made by the first watch of the namespace and
    /// dropped at the first event sent when no watch is left.
    ns_tx: HashMap<String, broadcast::Sender<Arc<Event>>>,
}

struct Inner {
    rv: u64,
    tables: Vec<Table>,
    by_uid: HashMap<String, (ResId, Key)>,
    dependents: HashMap<String, BTreeSet<(ResId, Key)>>,
}

/// The store; cheap to share behind an `Arc`.
pub struct Store {
    inner: RwLock<Inner>,
    history_limit: usize,
    sink: Option<Box<dyn Fn(Change) + Send + Sync>>,
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for p in path.split('.') {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Builds the stored form of `value` (which must already carry its resourceVersion).
pub fn make_obj(res: ResId, value: &Value, rv: u64) -> Result<Obj> {
    let meta = &value["metadata"];
    let name = meta["name"].as_str().unwrap_or_default().to_string();
    let ns = meta["namespace"].as_str().unwrap_or_default().to_string();
    let uid = meta["uid"].as_str().unwrap_or_default().to_string();
    let labels = meta["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), scalar_string(v)))
                .collect()
        })
        .unwrap_or_default();
    let owners = meta["ownerReferences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let deleting = !meta["deletionTimestamp"].is_null();
    let rt = resources::get(res);
    let fields = rt
        .fields
        .iter()
        .map(|f| {
            let v = match *f {
                "source" => str_at(value, "source.component")
                    .map(scalar_string)
                    .unwrap_or_default(),
                _ => str_at(value, f).map(scalar_string).unwrap_or_default(),
            };
            (*f, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let json = serde_json::to_vec(value).map_err(|e| Error::Serialize(e.to_string()))?;
    Ok(Obj {
        res,
        ns,
        name,
        uid,
        rv,
        json: Bytes::from(json),
        labels,
        fields,
        owners,
        deleting,
    })
}

fn set_rv(value: &mut Value, rv: u64) {
    if !value["metadata"].is_object() {
        value["metadata"] = Value::Object(Default::default());
    }
    value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
}

impl Store {
    /// An empty store whose versions continue after `rv` and which keeps at most `history_limit`
    /// events per resource type for watches that resume from a version.
    pub fn new(
        rv: u64,
        history_limit: usize,
        sink: Option<Box<dyn Fn(Change) + Send + Sync>>,
    ) -> Self {
        let tables = RESOURCES
            .iter()
            .map(|_| Table {
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                horizon: rv,
                tx: broadcast::channel(BROADCAST_CAPACITY).0,
                ns_tx: HashMap::new(),
            })
            .collect();
        Store {
            inner: RwLock::new(Inner {
                rv,
                tables,
                by_uid: HashMap::new(),
                dependents: HashMap::new(),
            }),
            history_limit: history_limit.max(1),
            sink,
        }
    }

    /// Inserts an object loaded from persistence, without events.
    pub fn load(&self, res: ResId, value: &Value) -> Result<()> {
        let rv = value["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let obj = Arc::new(make_obj(res, value, rv)?);
        let mut inner = self.inner.write();
        inner.index(&obj, None);
        inner.tables[res].objects.insert(obj.key(), obj);
        Ok(())
    }

    /// The current cluster-wide resourceVersion.
    pub fn rv(&self) -> u64 {
        self.inner.read().rv
    }

    /// One object.
    pub fn get(&self, res: ResId, ns: &str, name: &str) -> Option<Arc<Obj>> {
        let inner = self.inner.read();
        inner.tables[res]
            .objects
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// The object with this uid, if any.
    pub fn get_by_uid(&self, uid: &str) -> Option<Arc<Obj>> {
        let inner = self.inner.read();
        let (res, key) = inner.by_uid.get(uid)?;
        inner.tables[*res].objects.get(key).cloned()
    }

    /// Objects whose ownerReferences name `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<Arc<Obj>> {
        let inner = self.inner.read();
        inner
            .dependents
            .get(uid)
            .map(|set| {
                set.iter()
                    .filter_map(|(r, k)| inner.tables[*r].objects.get(k).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Lists objects in key order, in one namespace or all, starting after `after`, keeping those
    /// `keep` accepts, at most `limit` of them. Returns the objects, how many accepted ones remain
    /// after them (only counted when the limit was hit) and the store version.
    pub fn list(
        &self,
        res: ResId,
        ns: Option<&str>,
        after: Option<&Key>,
        limit: usize,
        keep: impl Fn(&Obj) -> bool,
    ) -> (Vec<Arc<Obj>>, Option<usize>, u64) {
        use std::ops::Bound;
        let inner = self.inner.read();
        let table = &inner.tables[res].objects;
        let lower = match (after, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut out = Vec::new();
        let mut remaining = None;
        for (key, obj) in table.range((lower, Bound::Unbounded)) {
            if let Some(ns) = ns
                && key.0 != ns
            {
                break;
            }
            if !keep(obj) {
                continue;
            }
            if out.len() >= limit {
                *remaining.get_or_insert(0) += 1;
                continue;
            }
            out.push(obj.clone());
        }
        (out, remaining, inner.rv)
    }

    /// [`Store::list`] as the store was at version `at`: the continuation of a paginated list,
    /// which the API server serves from the snapshot of its first page, so that a watch started
    /// from the list's version misses no change made while the pages were read. The snapshot is
    /// the current objects with the events after `at` undone; `Expired` once those events are
    /// no longer all kept (the API server's "continue token expired").
    pub fn list_at(
        &self,
        res: ResId,
        ns: Option<&str>,
        after: &Key,
        limit: usize,
        keep: impl Fn(&Obj) -> bool,
        at: u64,
    ) -> Result<(Vec<Arc<Obj>>, Option<usize>, u64)> {
        let inner = self.inner.read();
        let table = &inner.tables[res];
        if at < table.horizon {
            return Err(Error::Expired {
                asked: at,
                oldest: table.horizon,
            });
        }
        let in_range = |key: &Key| key > after && ns.is_none_or(|ns| key.0 == ns);
        let mut view: BTreeMap<Key, Arc<Obj>> = table
            .objects
            .range((
                std::ops::Bound::Excluded(after.clone()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| ns.is_none_or(|ns| k.0 == ns))
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        let start = table.history.partition_point(|e| e.obj.rv <= at);
        for event in table.history.range(start..).rev() {
            let key = event.obj.key();
            if !in_range(&key) {
                continue;
            }
            match (&event.ty, &event.prev) {
                (EventType::Added, _) | (_, None) => view.remove(&key),
                (_, Some(prev)) => view.insert(key, prev.clone()),
            };
        }
        let mut out = Vec::new();
        let mut remaining = None;
        for obj in view.into_values().filter(|o| keep(o)) {
            if out.len() >= limit {
                *remaining.get_or_insert(0) += 1;
                continue;
            }
            out.push(obj);
        }
        Ok((out, remaining, at))
    }

    /// All objects of a type in one namespace (or all), unfiltered.
    pub fn all(&self, res: ResId, ns: Option<&str>) -> Vec<Arc<Obj>> {
        self.list(res, ns, None, usize::MAX, |_| true).0
    }

    /// Creates an object; fails if one with the same key exists.
    pub fn create(&self, res: ResId, mut value: Value) -> Result<Arc<Obj>> {
        let mut inner = self.inner.write();
        let key = key_of(&value);
        if inner.tables[res].objects.contains_key(&key) {
            return Err(Error::AlreadyExists { res, name: key.1 });
        }
        let rv = inner.rv + 1;
        set_rv(&mut value, rv);
        let obj = Arc::new(make_obj(res, &value, rv)?);
        inner.rv = rv;
        inner.index(&obj, None);
        inner.tables[res].objects.insert(key, obj.clone());
        self.emit(&mut inner, EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Replaces an object; `expect_rv` is the optimistic-concurrency precondition.
    pub fn update(&self, res: ResId, mut value: Value, expect_rv: Option<u64>) -> Result<Arc<Obj>> {
        let mut inner = self.inner.write();
        let key = key_of(&value);
        let Some(prev) = inner.tables[res].objects.get(&key).cloned() else {
            return Err(Error::NotFound { res, name: key.1 });
        };
        if let Some(want) = expect_rv
            && want != prev.rv
        {
            return Err(Error::Conflict { res, name: key.1 });
        }
        let rv = inner.rv + 1;
        set_rv(&mut value, rv);
        let obj = Arc::new(make_obj(res, &value, rv)?);
        inner.rv = rv;
        inner.index(&obj, Some(&prev));
        inner.tables[res].objects.insert(key, obj.clone());
        self.emit(&mut inner, EventType::Modified, obj.clone(), Some(prev));
        Ok(obj)
    }

    /// Removes an object now, with optional version and uid preconditions; returns its last state.
    pub fn delete(
        &self,
        res: ResId,
        ns: &str,
        name: &str,
        expect_rv: Option<u64>,
        expect_uid: Option<&str>,
    ) -> Result<Arc<Obj>> {
        let mut inner = self.inner.write();
        let key = (ns.to_string(), name.to_string());
        let Some(prev) = inner.tables[res].objects.get(&key).cloned() else {
            return Err(Error::NotFound {
                res,
                name: name.to_string(),
            });
        };
        if let Some(want) = expect_rv
            && want != prev.rv
        {
            return Err(Error::Conflict {
                res,
                name: name.to_string(),
            });
        }
        if let Some(want) = expect_uid
            && want != prev.uid
        {
            return Err(Error::UidMismatch {
                res,
                name: name.to_string(),
                want: want.to_string(),
                have: prev.uid.clone(),
            });
        }
        let rv = inner.rv + 1;
        let mut value = prev.value();
        set_rv(&mut value, rv);
        let obj = Arc::new(make_obj(res, &value, rv)?);
        inner.rv = rv;
        inner.tables[res].objects.remove(&key);
        inner.unindex(&prev);
        self.emit(&mut inner, EventType::Deleted, obj.clone(), Some(prev));
        Ok(obj)
    }

    fn emit(&self, inner: &mut Inner, ty: EventType, obj: Arc<Obj>, prev: Option<Arc<Obj>>) {
        if let Some(sink) = &self.sink {
            sink(match ty {
                EventType::Deleted => {
                    Change::Delete(obj.res, obj.ns.clone(), obj.name.clone(), obj.rv)
                }
                _ => Change::Put(obj.res, obj.json.clone()),
            });
        }
        let table = &mut inner.tables[obj.res];
        let ev = Arc::new(Event::new(ty, obj, prev));
        if table.history.len() >= self.history_limit
            && let Some(old) = table.history.pop_front()
        {
            table.horizon = table.horizon.max(old.obj.rv);
        }
        table.history.push_back(ev.clone());
        if let Some(tx) = table.ns_tx.get(&ev.obj.ns)
            && tx.send(ev.clone()).is_err()
        {
            table.ns_tx.remove(&ev.obj.ns);
        }
        // No receivers is fine: nobody watches this type.
        let _ = table.tx.send(ev);
    }

    /// Subscribes to a type's events after `from` (or from the current objects, of namespace
    /// `ns` or all, when `None`). Live events are those of namespace `ns` when given; the backlog
    /// is not filtered by namespace: the watcher does that.
    pub fn watch(&self, res: ResId, ns: Option<&str>, from: Option<u64>) -> Result<WatchStart> {
        let inner = self.inner.upgradable_read();
        let table = &inner.tables[res];
        let rx = match ns {
            None => table.tx.subscribe(),
            Some(ns) => match table.ns_tx.get(ns) {
                Some(tx) => tx.subscribe(),
                None => {
                    // The namespace's first watch; nothing is sent while the lock is held.
                    let mut inner = RwLockUpgradableReadGuard::upgrade(inner);
                    let (tx, rx) = broadcast::channel(BROADCAST_CAPACITY);
                    inner.tables[res].ns_tx.insert(ns.to_string(), tx);
                    return inner.watch_start(res, Some(ns), from, rx);
                }
            },
        };
        inner.watch_start(res, ns, from, rx)
    }

    /// The oldest version a watch of `res` may resume from.
    pub fn horizon(&self, res: ResId) -> u64 {
        self.inner.read().tables[res].horizon
    }

    /// Forgets all event history: watches resuming from any earlier version get 410 Gone.
    pub fn compact(&self) -> u64 {
        let mut inner = self.inner.write();
        let rv = inner.rv;
        for t in &mut inner.tables {
            t.history.clear();
            t.horizon = rv;
        }
        rv
    }

    /// Every object of every type, for snapshots.
    pub fn snapshot(&self) -> (u64, Vec<Arc<Obj>>) {
        let inner = self.inner.read();
        let objs = inner
            .tables
            .iter()
            .flat_map(|t| t.objects.values().cloned())
            .collect();
        (inner.rv, objs)
    }

    /// Counts of stored objects per type, for metrics.
    pub fn counts(&self) -> Vec<(ResId, usize)> {
        let inner = self.inner.read();
        inner
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.objects.len()))
            .collect()
    }
}

impl Inner {
    /// What a watch of `res` starts from, for a receiver just subscribed under the same lock.
    fn watch_start(
        &self,
        res: ResId,
        ns: Option<&str>,
        from: Option<u64>,
        rx: broadcast::Receiver<Arc<Event>>,
    ) -> Result<WatchStart> {
        let table = &self.tables[res];
        match from {
            None => Ok(WatchStart {
                initial: match ns {
                    // Keys sort by namespace first: one range instead of every object.
                    Some(ns) => table
                        .objects
                        .range((ns.to_string(), String::new())..)
                        .take_while(|(k, _)| k.0 == ns)
                        .map(|(_, o)| o.clone())
                        .collect(),
                    None => table.objects.values().cloned().collect(),
                },
                backlog: Vec::new(),
                rx,
                rv: self.rv,
            }),
            Some(from) => {
                if from < table.horizon {
                    return Err(Error::Expired {
                        asked: from,
                        oldest: table.horizon,
                    });
                }
                let start = table.history.partition_point(|e| e.obj.rv <= from);
                Ok(WatchStart {
                    initial: Vec::new(),
                    backlog: table.history.range(start..).cloned().collect(),
                    rx,
                    rv: self.rv,
                })
            }
        }
    }

    fn index(&mut self, obj: &Arc<Obj>, prev: Option<&Arc<Obj>>) {
        if let Some(prev) = prev {
            if prev.owners == obj.owners && prev.uid == obj.uid {
                return;
            }
            self.unindex(prev);
        }
        let key = obj.key();
        if !obj.uid.is_empty() {
            self.by_uid.insert(obj.uid.clone(), (obj.res, key.clone()));
        }
        for o in &obj.owners {
            self.dependents
                .entry(o.clone())
                .or_default()
                .insert((obj.res, key.clone()));
        }
    }

    fn unindex(&mut self, obj: &Obj) {
        let key = obj.key();
        if self
            .by_uid
            .get(&obj.uid)
            .is_some_and(|(r, k)| *r == obj.res && *k == key)
        {
            self.by_uid.remove(&obj.uid);
        }
        for o in &obj.owners {
            if let Some(set) = self.dependents.get_mut(o) {
                set.remove(&(obj.res, key.clone()));
                if set.is_empty() {
                    self.dependents.remove(o);
                }
            }
        }
    }
}

fn key_of(value: &Value) -> Key {
    let meta = &value["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ids::PODS;
    use serde_json::json;

    fn pod(name: &str, uid: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns", "uid": uid, "labels": {"a": "b"}}, "status": {"phase": "Pending"}})
    }

    #[test]
    fn later_pages_come_from_the_first_pages_snapshot() {
        let s = Store::new(0, 100, None);
        for name in ["a", "b", "c", "d"] {
            let _ = s.create(PODS, pod(name, &format!("u{name}")));
        }
        let (first, remaining, at) = s.list(PODS, Some("ns"), None, 2, |_| true);
        assert_eq!((first.len(), remaining, at), (2, Some(2), 4));
        // While the first page is read: c changes, d goes, e comes.
        let mut running = pod("c", "uc");
        running["status"]["phase"] = json!("Running");
        let _ = s.update(PODS, running, None);
        let _ = s.delete(PODS, "ns", "d", None, None);
        let _ = s.create(PODS, pod("e", "ue"));
        let after = ("ns".to_string(), "b".to_string());
        let (rest, remaining, rv) = s
            .list_at(PODS, Some("ns"), &after, 10, |_| true, at)
            .unwrap_or_else(|e| panic!("{e}"));
        let seen: Vec<(&str, u64, String)> = rest
            .iter()
            .map(|o| (o.name.as_str(), o.rv, o.field("status.phase")))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("c", 3, "Pending".to_string()),
                ("d", 4, "Pending".to_string())
            ]
        );
        assert_eq!((remaining, rv), (None, at));
        s.compact();
        assert!(matches!(
            s.list_at(PODS, Some("ns"), &after, 10, |_| true, at),
            Err(Error::Expired { .. })
        ));
    }

    #[test]
    fn versions_increase_and_conflicts_are_detected() {
        let s = Store::new(0, 10, None);
        let a = s
            .create(PODS, pod("a", "u1"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.rv, 1);
        assert_eq!(a.field("status.phase"), "Pending");
        assert!(matches!(
            s.create(PODS, pod("a", "u1")),
            Err(Error::AlreadyExists { .. })
        ));
        let b = s
            .update(PODS, pod("a", "u1"), Some(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.rv, 2);
        assert!(matches!(
            s.update(PODS, pod("a", "u1"), Some(1)),
            Err(Error::Conflict { .. })
        ));
        let v = b.value();
        assert_eq!(v["metadata"]["resourceVersion"], "2");
        assert!(matches!(
            s.delete(PODS, "ns", "a", None, Some("other")),
            Err(Error::UidMismatch { .. })
        ));
        let d = s
            .delete(PODS, "ns", "a", None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.rv, 3);
        assert!(s.get(PODS, "ns", "a").is_none());
    }

    #[test]
    fn watch_replays_history_and_expires_after_compaction() {
        let s = Store::new(0, 3, None);
        for i in 0..5 {
            let _ = s.create(PODS, pod(&format!("p{i}"), &format!("u{i}")));
        }
        // Only the last three events are kept.
        assert!(matches!(
            s.watch(PODS, None, Some(1)),
            Err(Error::Expired { .. })
        ));
        let w = s
            .watch(PODS, None, Some(3))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            w.backlog.iter().map(|e| e.obj.rv).collect::<Vec<_>>(),
            vec![4, 5]
        );
        s.compact();
        assert!(matches!(
            s.watch(PODS, None, Some(4)),
            Err(Error::Expired { .. })
        ));
        assert!(s.watch(PODS, None, Some(5)).is_ok());
        let w = s.watch(PODS, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.initial.len(), 5);
    }

    #[test]
    fn watch_starts_from_one_namespace() {
        let s = Store::new(0, 10, None);
        for ns in ["a", "b", "c"] {
            for i in 0..3 {
                let mut p = pod(&format!("p{i}"), &format!("{ns}{i}"));
                p["metadata"]["namespace"] = json!(ns);
                let _ = s.create(PODS, p);
            }
        }
        let w = s
            .watch(PODS, Some("b"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            w.initial.iter().map(|o| o.uid.as_str()).collect::<Vec<_>>(),
            vec!["b0", "b1", "b2"]
        );
        let all = s.watch(PODS, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.initial.len(), 9);
        assert!(
            s.watch(PODS, Some("d"), None)
                .is_ok_and(|w| w.initial.is_empty())
        );
    }

    #[test]
    fn a_namespace_watch_gets_live_events_of_its_namespace_only() {
        let s = Store::new(0, 10, None);
        let in_pod = |ns: &str, name: &str| {
            let mut p = pod(name, &format!("{ns}-{name}"));
            p["metadata"]["namespace"] = json!(ns);
            p
        };
        let mut in_b = s
            .watch(PODS, Some("b"), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .rx;
        let mut all = s
            .watch(PODS, None, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .rx;
        let _ = s.create(PODS, in_pod("a", "p"));
        let _ = s.create(PODS, in_pod("b", "p"));
        assert_eq!(in_b.try_recv().map(|e| e.obj.ns.clone()), Ok("b".into()));
        assert!(in_b.try_recv().is_err());
        let names: Vec<String> = std::iter::from_fn(|| all.try_recv().ok())
            .map(|e| e.obj.uid.clone())
            .collect();
        assert_eq!(names, vec!["a-p", "b-p"]);
        // The namespace's channel goes at its first event after its last watch.
        drop(in_b);
        let _ = s.create(PODS, in_pod("b", "q"));
        assert!(s.inner.read().tables[PODS].ns_tx.is_empty());
        let mut again = s
            .watch(PODS, Some("b"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.initial.len(), 2);
        let _ = s.create(PODS, in_pod("b", "r"));
        assert!(again.rx.try_recv().is_ok_and(|e| e.obj.name == "r"));
    }

    #[test]
    fn owner_index_follows_updates() {
        let s = Store::new(0, 10, None);
        let mut child = pod("c", "uc");
        child["metadata"]["ownerReferences"] = json!([{"uid": "owner"}]);
        let _ = s.create(PODS, child.clone());
        assert_eq!(s.dependents("owner").len(), 1);
        child["metadata"]["ownerReferences"] = json!([]);
        let _ = s.update(PODS, child, None);
        assert!(s.dependents("owner").is_empty());
        assert!(s.get_by_uid("uc").is_some());
    }

    #[test]
    fn list_pages_within_a_namespace() {
        let s = Store::new(0, 10, None);
        for i in 0..5 {
            let _ = s.create(PODS, pod(&format!("p{i}"), &format!("u{i}")));
        }
        let (page, rest, _) = s.list(PODS, Some("ns"), None, 2, |_| true);
        assert_eq!(page.len(), 2);
        assert_eq!(rest, Some(3));
        let (page2, rest2, _) = s.list(PODS, Some("ns"), Some(&page[1].key()), 10, |_| true);
        assert_eq!(page2.len(), 3);
        assert_eq!(rest2, None);
        assert!(s.list(PODS, Some("other"), None, 10, |_| true).0.is_empty());
    }
}
