//! A keyed work queue for controllers that own other objects: an object of the primary type is
//! synced when it changes, when one of the objects it owns changes, and on a periodic resync.
//! Keys are deduplicated, so a burst of pod events costs one sync of their owner.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cluster::Cluster;
use crate::resources::ResId;
use crate::store::EventType;

/// Runs `sync(cluster, namespace, name)` for objects of `primary` until shutdown, waking on
/// changes of `primary` objects and of the objects of `owned` types they own, and every
/// `resync` for all of them.
pub async fn run(
    cluster: Arc<Cluster>,
    primary: ResId,
    owned: &[ResId],
    resync: Duration,
    sync: fn(&Cluster, &str, &str),
) {
    let dirty: Arc<Mutex<HashSet<(String, String)>>> = Arc::new(Mutex::new(HashSet::new()));
    let wake = Arc::new(Notify::new());
    {
        let (d, w) = (dirty.clone(), wake.clone());
        tokio::spawn(super::follow(
            cluster.clone(),
            primary,
            move |ty, obj, _| {
                if ty != EventType::Deleted {
                    d.lock().insert(obj.key());
                    w.notify_one();
                }
            },
        ));
    }
    for &res in owned {
        let (d, w, c) = (dirty.clone(), wake.clone(), cluster.clone());
        tokio::spawn(super::follow(cluster.clone(), res, move |_, obj, _| {
            for uid in &obj.owners {
                if let Some(owner) = c.store.get_by_uid(uid)
                    && owner.res == primary
                {
                    d.lock().insert(owner.key());
                    w.notify_one();
                }
            }
        }));
    }
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = wake.notified() => {},
            _ = tokio::time::sleep(resync) => {
                dirty.lock().extend(cluster.store.all(primary, None).iter().map(|o| o.key()));
            },
            _ = shutdown.changed() => return,
        }
        let keys: Vec<(String, String)> = dirty.lock().drain().collect();
        for (ns, name) in keys {
            sync(&cluster, &ns, &name);
        }
    }
}
