//! The kubelet: for every pod bound to one of kubesim's nodes, a worker that creates the sandbox,
//! runs init containers in order and app containers side by side through the runtime, applies
//! the restart policy with back-off, keeps phase, conditions, container statuses, IPs and events
//! as a kubelet does, and terminates gracefully on deletion.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{node, set_condition};
use crate::clock;
use crate::cluster::Cluster;
use crate::registry::DeleteOptions;
use crate::resources::ids;
use crate::runtime::simulated::{annotation, normalize_image};
use crate::runtime::{ContainerSpec, Exit, Runtime, Sandbox};
use crate::store::EventType;

/// What the kubelet tells a pod worker.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    Run,
    /// The pod has a deletionTimestamp.
    Delete,
    /// The pod object is gone.
    Removed,
}

/// Runs the kubelet of every node until shutdown.
pub async fn run(cluster: Arc<Cluster>, runtime: Arc<dyn Runtime>) {
    let nodes: Vec<String> = node::node_names(&cluster);
    let workers: Arc<Mutex<HashMap<String, watch::Sender<Signal>>>> =
        Arc::new(Mutex::new(HashMap::new()));
    let c = cluster.clone();
    super::follow(cluster.clone(), ids::PODS, move |ty, obj, _| {
        if ty == EventType::Deleted {
            if let Some(tx) = workers.lock().remove(&obj.uid) {
                let _ = tx.send(Signal::Removed);
            }
            c.logs.remove_pod(&obj.uid);
            let ip = obj.field("status.podIP");
            if !ip.is_empty() {
                c.addresses.lock().release_pod_ip(&ip);
            }
            return;
        }
        let node = obj.field("spec.nodeName");
        if node.is_empty() || !nodes.contains(&node) {
            return;
        }
        let mut w = workers.lock();
        if let Some(tx) = w.get(&obj.uid) {
            if obj.deleting && *tx.borrow() == Signal::Run {
                let _ = tx.send(Signal::Delete);
            }
            return;
        }
        let phase = obj.field("status.phase");
        if matches!(phase.as_str(), "Succeeded" | "Failed") && !obj.deleting {
            return;
        }
        let (tx, rx) = watch::channel(if obj.deleting {
            Signal::Delete
        } else {
            Signal::Run
        });
        w.insert(obj.uid.clone(), tx);
        let worker = Worker::new(
            c.clone(),
            runtime.clone(),
            obj.ns.clone(),
            obj.name.clone(),
            obj.uid.clone(),
            node,
        );
        let workers = workers.clone();
        let uid = obj.uid.clone();
        tokio::spawn(async move {
            worker.run(rx).await;
            // A finished worker forgets the pod unless it is still being deleted.
            let mut w = workers.lock();
            if w.get(&uid).is_some_and(|tx| *tx.borrow() == Signal::Run) {
                w.remove(&uid);
            }
        });
    })
    .await;
}

/// The kubelet's view of one container.
#[derive(Debug, Clone)]
struct CState {
    name: String,
    image: String,
    state: Value,
    last_state: Value,
    ready: bool,
    started: bool,
    pulled: bool,
    restart_count: u32,
    container_id: String,
    /// The loop ended: no more restarts.
    done: bool,
    exit_code: Option<i32>,
}

impl CState {
    fn new(c: &Value) -> Self {
        CState {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            image: c["image"].as_str().unwrap_or_default().to_string(),
            state: json!({"waiting": {"reason": "ContainerCreating"}}),
            last_state: json!({}),
            ready: false,
            started: false,
            pulled: false,
            restart_count: 0,
            container_id: String::new(),
            done: false,
            exit_code: None,
        }
    }

    fn render(&self) -> Value {
        let full = normalize_image(&self.image);
        let mut v = json!({
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": full,
            "imageID": if self.pulled { format!("{}@sha256:{}", full.rsplit_once(':').map_or(full.as_str(), |(a, _)| a), fake_digest(&full)) } else { String::new() },
            "started": self.started,
        });
        if !self.container_id.is_empty() {
            v["containerID"] = json!(self.container_id);
        }
        v
    }

    fn running(&self) -> bool {
        self.state.get("running").is_some()
    }

    /// Between two runs: exited, or waiting out a back-off, and to start again.
    fn between_runs(&self) -> bool {
        !self.done && (self.restart_count > 0 || self.state.get("terminated").is_some())
    }
}

fn fake_digest(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0..4u8)
        .map(|i| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (i, s).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn container_id() -> String {
    format!(
        "containerd://{}{}",
        crate::auth::random_hex(16),
        crate::auth::random_hex(16)
    )
}

struct Shared {
    cluster: Arc<Cluster>,
    runtime: Arc<dyn Runtime>,
    ns: String,
    name: String,
    uid: String,
    node: String,
}

impl Shared {
    fn pod(&self) -> Option<Value> {
        self.cluster
            .store
            .get(ids::PODS, &self.ns, &self.name)
            .filter(|o| o.uid == self.uid)
            .map(|o| o.value())
    }

    fn event(&self, field: Option<&str>, ty: &str, reason: &str, message: &str) {
        let current = self
            .cluster
            .store
            .get(ids::PODS, &self.ns, &self.name)
            .filter(|o| o.uid == self.uid);
        if let Some(p) = current {
            self.cluster.record_event(
                &p.reference(),
                field,
                ty,
                reason,
                message,
                ("kubelet", &self.node),
            );
        }
    }
}

struct Worker {
    s: Arc<Shared>,
}

/// Seconds of the first back-off (`kubesim.io/restart-backoff-seconds`, default 10): before the
/// second restart of a container, or after a failed image pull.
fn backoff_base(pod: &Value) -> f64 {
    annotation(pod, "restart-backoff-seconds", None)
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(10.0)
        .max(0.0)
}

/// The back-off before attempt `attempt`: doubling from `base`, at most five minutes.
fn backoff(base: f64, attempt: u32) -> Duration {
    let secs = (base * 2f64.powi(attempt.saturating_sub(1).min(10) as i32)).min(300.0);
    Duration::from_secs_f64(secs)
}

/// How long a container runs without crashing for its restart back-off to start over (a kubelet
/// forgets a back-off twice its five-minute cap after raising it).
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// A container's restart back-off, as a kubelet keeps it: the first restart is at once, the
/// next ones wait the base back-off, twice as long each time up to five minutes
/// (CrashLoopBackOff), and a run of ten minutes without a crash starts it over.
#[derive(Debug, Default)]
struct RestartBackoff {
    /// Restarts since the back-off last started over.
    restarts: u32,
}

impl RestartBackoff {
    /// The back-off before restarting a container that exited after running for `ran`; `None`
    /// when it restarts at once.
    fn next(&mut self, base: f64, ran: Duration) -> Option<Duration> {
        if ran >= BACKOFF_RESET {
            self.restarts = 0;
        }
        self.restarts += 1;
        (self.restarts > 1).then(|| backoff(base, self.restarts - 1))
    }
}

/// How a container loop is asked to stop: the grace period.
type StopRx = watch::Receiver<Option<Duration>>;

async fn stopped(stop: &mut StopRx) -> Duration {
    loop {
        if let Some(g) = *stop.borrow_and_update() {
            return g;
        }
        if stop.changed().await.is_err() {
            return Duration::ZERO;
        }
    }
}

/// Which container a loop runs and where.
struct Slot {
    idx: usize,
    spec: Value,
    init: bool,
    sandbox: Sandbox,
}

/// Runs one container through pulls, starts, exits and restarts, reporting every state.
async fn container_loop(
    s: Arc<Shared>,
    slot: Slot,
    mut cs: CState,
    mut stop: StopRx,
    tx: mpsc::UnboundedSender<(usize, Box<CState>)>,
) -> CState {
    let Slot {
        idx,
        spec: spec_c,
        init,
        sandbox,
    } = slot;
    let field = format!(
        "spec.{}{{{}}}",
        if init { "initContainers" } else { "containers" },
        cs.name
    );
    let image = cs.image.clone();
    let mut pull_failures = 0u32;
    let mut restart_backoff = RestartBackoff::default();
    let mut resume = if cs.running() {
        cs.state["running"]["startedAt"]
            .as_str()
            .and_then(clock::parse)
    } else {
        None
    };
    loop {
        let Some(pod) = s.pod() else { return cs };
        let pod = Arc::new(pod);
        let policy = pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_string();
        let restart_base = backoff_base(&pod);
        if resume.is_none() {
            // Image pull.
            loop {
                let always = spec_c["imagePullPolicy"] == "Always";
                if always || pull_failures > 0 {
                    s.event(
                        Some(&field),
                        "Normal",
                        "Pulling",
                        &format!("Pulling image \"{image}\""),
                    );
                }
                let pulled = tokio::select! {
                    r = s.runtime.pull_image(pod.clone(), spec_c.clone()) => r,
                    _ = stopped(&mut stop) => return cs,
                };
                match pulled {
                    Ok(()) => {
                        if always || pull_failures > 0 {
                            s.event(Some(&field), "Normal", "Pulled", &format!("Successfully pulled image \"{image}\" in 12ms (12ms including waiting). Image size: 1048576 bytes."));
                        } else {
                            s.event(
                                Some(&field),
                                "Normal",
                                "Pulled",
                                &format!("Container image \"{image}\" already present on machine"),
                            );
                        }
                        cs.pulled = true;
                        break;
                    }
                    Err(e) => {
                        pull_failures += 1;
                        s.event(
                            Some(&field),
                            "Warning",
                            "Failed",
                            &format!("Failed to pull image \"{image}\": {}", e.message),
                        );
                        s.event(Some(&field), "Warning", "Failed", "Error: ErrImagePull");
                        cs.state =
                            json!({"waiting": {"reason": "ErrImagePull", "message": e.message}});
                        let _ = tx.send((idx, Box::new(cs.clone())));
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                            _ = stopped(&mut stop) => return cs,
                        }
                        s.event(
                            Some(&field),
                            "Normal",
                            "BackOff",
                            &format!("Back-off pulling image \"{image}\""),
                        );
                        s.event(Some(&field), "Warning", "Failed", "Error: ImagePullBackOff");
                        cs.state = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\": ErrImagePull: {}", e.message)}});
                        let _ = tx.send((idx, Box::new(cs.clone())));
                        tokio::select! {
                            _ = tokio::time::sleep(backoff(restart_base, pull_failures)) => {},
                            _ = stopped(&mut stop) => return cs,
                        }
                    }
                }
            }
        }
        // Start.
        let log = if resume.is_some() {
            s.cluster
                .logs
                .get(&s.uid, &cs.name, false)
                .unwrap_or_else(|| s.cluster.logs.start_run(&s.uid, &cs.name))
        } else {
            s.cluster.logs.start_run(&s.uid, &cs.name)
        };
        let spec = ContainerSpec {
            pod: pod.clone(),
            container: spec_c.clone(),
            init,
            restart_count: cs.restart_count,
            sandbox: sandbox.clone(),
            resumed_from: resume,
        };
        let started = tokio::select! {
            r = s.runtime.start(spec, log.clone()) => r,
            _ = stopped(&mut stop) => return cs,
        };
        let mut container = match started {
            Ok(c) => c,
            Err(e) => {
                s.event(
                    Some(&field),
                    "Warning",
                    "Failed",
                    &format!("Error: {}", e.message),
                );
                cs.state = json!({"waiting": {"reason": e.reason, "message": e.message}});
                let _ = tx.send((idx, Box::new(cs.clone())));
                tokio::select! {
                    _ = tokio::time::sleep(backoff(restart_base, 1)) => continue,
                    _ = stopped(&mut stop) => return cs,
                }
            }
        };
        let run_start = resume.unwrap_or_else(Utc::now);
        let started_at = clock::format(run_start);
        if resume.is_none() {
            cs.container_id = container_id();
            s.event(
                Some(&field),
                "Normal",
                "Created",
                &format!("Created container: {}", cs.name),
            );
            s.event(
                Some(&field),
                "Normal",
                "Started",
                &format!("Started container {}", cs.name),
            );
        }
        resume = None;
        cs.state = json!({"running": {"startedAt": started_at}});
        cs.started = true;
        cs.ready = !init;
        let _ = tx.send((idx, Box::new(cs.clone())));
        // Run, without holding the pod: thousands of pods may be running.
        drop(pod);
        let (exit, by_stop): (Exit, bool) = tokio::select! {
            e = container.wait() => (e, false),
            grace = stopped(&mut stop) => {
                s.event(Some(&field), "Normal", "Killing", &format!("Stopping container {}", cs.name));
                (container.stop(grace).await, true)
            }
        };
        log.close();
        let ran = (Utc::now() - run_start).to_std().unwrap_or_default();
        let mut term = json!({"exitCode": exit.code, "reason": exit.reason, "startedAt": started_at, "finishedAt": clock::now(), "containerID": cs.container_id});
        if let Some(m) = &exit.message {
            term["message"] = json!(m);
        }
        cs.state = json!({"terminated": term});
        cs.ready = false;
        cs.started = false;
        cs.exit_code = Some(exit.code);
        let restart = !by_stop
            && match policy.as_str() {
                "Always" => !init || exit.code != 0,
                "OnFailure" => exit.code != 0,
                _ => false,
            };
        if !restart {
            cs.done = true;
            let _ = tx.send((idx, Box::new(cs.clone())));
            return cs;
        }
        let _ = tx.send((idx, Box::new(cs.clone())));
        cs.last_state = cs.state.clone();
        if let Some(wait) = restart_backoff.next(restart_base, ran) {
            cs.state = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {}s restarting failed container={} pod={}_{}({})", wait.as_secs(), cs.name, s.name, s.ns, s.uid)}});
            s.event(
                Some(&field),
                "Warning",
                "BackOff",
                &format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    cs.name, s.name, s.ns, s.uid
                ),
            );
            let _ = tx.send((idx, Box::new(cs.clone())));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {},
                _ = stopped(&mut stop) => return cs,
            }
        }
        // The kubelet counts a restart when the container starts again, not during the back-off.
        cs.restart_count += 1;
    }
}

impl Worker {
    fn new(
        cluster: Arc<Cluster>,
        runtime: Arc<dyn Runtime>,
        ns: String,
        name: String,
        uid: String,
        node: String,
    ) -> Self {
        Worker {
            s: Arc::new(Shared {
                cluster,
                runtime,
                ns,
                name,
                uid,
                node,
            }),
        }
    }

    fn host_ip(&self) -> String {
        self.s
            .cluster
            .store
            .get(ids::NODES, "", &self.s.node)
            .and_then(|n| {
                n.value()["status"]["addresses"][0]["address"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "172.18.0.2".into())
    }

    /// Writes the pod's status from the container states.
    fn publish(
        &self,
        pod_ip: &str,
        inits: &[CState],
        mains: &[CState],
        init_failed: bool,
        initialized: bool,
        sandbox_ready: bool,
    ) -> Option<String> {
        if node::is_failed(&self.s.cluster, &self.s.node) {
            return None;
        }
        let host_ip = self.host_ip();
        let policy_never = |p: &Value| p["spec"]["restartPolicy"] == "Never";
        let mut phase_out = None;
        self.s
            .cluster
            .modify(ids::PODS, &self.s.ns, &self.s.name, |p| {
                if p["metadata"]["uid"] != self.s.uid.as_str() {
                    return false;
                }
                let before = p["status"].clone();
                let running = mains
                    .iter()
                    .filter(|c| c.running() || c.between_runs())
                    .count();
                let all_done = !mains.is_empty() && mains.iter().all(|c| c.done);
                let phase = if init_failed {
                    "Failed"
                } else if !initialized {
                    "Pending"
                } else if all_done {
                    if mains.iter().all(|c| c.exit_code == Some(0)) {
                        "Succeeded"
                    } else {
                        "Failed"
                    }
                } else if running > 0 || mains.iter().any(|c| c.done) {
                    "Running"
                } else {
                    "Pending"
                };
                let _ = policy_never(p);
                let st = &mut p["status"];
                if !st.is_object() {
                    *st = json!({});
                }
                st["phase"] = json!(phase);
                if let Some(m) = st.as_object_mut()
                    && m.get("reason").and_then(Value::as_str) == Some("NodeLost")
                {
                    m.shift_remove("reason");
                    m.shift_remove("message");
                }
                st["hostIP"] = json!(host_ip);
                st["hostIPs"] = json!([{"ip": host_ip}]);
                if !pod_ip.is_empty() {
                    st["podIP"] = json!(pod_ip);
                    st["podIPs"] = json!([{"ip": pod_ip}]);
                }
                if st["startTime"].is_null() {
                    st["startTime"] = json!(clock::now());
                }
                let terminal = phase == "Succeeded" || phase == "Failed";
                set_condition(
                    st,
                    "PodReadyToStartContainers",
                    if sandbox_ready && !terminal {
                        "True"
                    } else {
                        "False"
                    },
                    None,
                    None,
                );
                let pending_inits: Vec<&str> = inits
                    .iter()
                    .filter(|c| c.exit_code != Some(0))
                    .map(|c| c.name.as_str())
                    .collect();
                if pending_inits.is_empty() || terminal && !init_failed {
                    set_condition(st, "Initialized", "True", None, None);
                } else {
                    set_condition(
                        st,
                        "Initialized",
                        "False",
                        Some("ContainersNotInitialized"),
                        Some(&format!(
                            "containers with incomplete status: [{}]",
                            pending_inits.join(" ")
                        )),
                    );
                }
                let unready: Vec<&str> = mains
                    .iter()
                    .filter(|c| !c.ready)
                    .map(|c| c.name.as_str())
                    .collect();
                if terminal {
                    set_condition(st, "Ready", "False", Some("PodCompleted"), None);
                    set_condition(st, "ContainersReady", "False", Some("PodCompleted"), None);
                } else if unready.is_empty() && !mains.is_empty() {
                    set_condition(st, "Ready", "True", None, None);
                    set_condition(st, "ContainersReady", "True", None, None);
                } else {
                    let msg = format!("containers with unready status: [{}]", unready.join(" "));
                    set_condition(st, "Ready", "False", Some("ContainersNotReady"), Some(&msg));
                    set_condition(
                        st,
                        "ContainersReady",
                        "False",
                        Some("ContainersNotReady"),
                        Some(&msg),
                    );
                }
                order_conditions(st);
                if !inits.is_empty() {
                    st["initContainerStatuses"] =
                        json!(inits.iter().map(CState::render).collect::<Vec<_>>());
                }
                st["containerStatuses"] =
                    json!(mains.iter().map(CState::render).collect::<Vec<_>>());
                phase_out = Some(phase.to_string());
                *st != before
            });
        phase_out
    }

    async fn run(self, mut sig: watch::Receiver<Signal>) {
        let Some(pod) = self.s.pod() else { return };
        let spec_mains: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let spec_inits: Vec<Value> = pod["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let statuses = |key: &str| -> Vec<Value> {
            pod["status"][key].as_array().cloned().unwrap_or_default()
        };
        // Resume what a previous kubesim process reported, or start fresh.
        let resume_state = |spec: &Value, prev: &[Value]| -> CState {
            let mut cs = CState::new(spec);
            if let Some(p) = prev.iter().find(|p| p["name"] == spec["name"])
                && (p["state"]["running"].is_object() || p["state"]["terminated"].is_object())
            {
                cs.state = p["state"].clone();
                cs.last_state = p["lastState"].clone();
                cs.restart_count = p["restartCount"].as_u64().unwrap_or(0) as u32;
                cs.container_id = p["containerID"].as_str().unwrap_or_default().to_string();
                cs.pulled = true;
                cs.started = p["started"] == true;
                cs.ready = p["ready"] == true;
                if let Some(code) = p["state"]["terminated"]["exitCode"].as_i64() {
                    cs.exit_code = Some(code as i32);
                }
            }
            cs
        };
        let mut inits: Vec<CState> = spec_inits
            .iter()
            .map(|c| resume_state(c, &statuses("initContainerStatuses")))
            .collect();
        let mut mains: Vec<CState> = spec_mains
            .iter()
            .map(|c| resume_state(c, &statuses("containerStatuses")))
            .collect();
        let pod_ip = match pod["status"]["podIP"].as_str() {
            Some(ip) if !ip.is_empty() => ip.to_string(),
            _ => self.s.cluster.addresses.lock().pod_ip(),
        };
        self.publish("", &inits, &mains, false, inits.is_empty(), false);
        let mut recovered = self.s.cluster.recovered_nodes.subscribe();
        recovered.borrow_and_update();
        let never = pod["spec"]["restartPolicy"] == "Never";
        let pod = Arc::new(pod);

        // Sandbox.
        let created = self.s.runtime.create_sandbox(pod.clone(), pod_ip.clone());
        drop(pod);
        let sandbox = tokio::select! {
            r = created => r,
            _ = wait_signal(&mut sig) => {
                self.finish(&mut sig, None).await;
                return;
            }
        };
        let sandbox = match sandbox {
            Ok(s) => s,
            Err(e) => {
                self.s.event(
                    None,
                    "Warning",
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {e}"),
                );
                let _ = wait_signal(&mut sig).await;
                self.finish(&mut sig, None).await;
                return;
            }
        };
        // The runtime may give the pod its own address (a loopback IP for real processes).
        if !sandbox.pod_ip.is_empty() && sandbox.pod_ip != pod_ip {
            self.s.cluster.addresses.lock().release_pod_ip(&pod_ip);
        }
        let pod_ip = if sandbox.pod_ip.is_empty() {
            pod_ip
        } else {
            sandbox.pod_ip.clone()
        };
        self.publish(&pod_ip, &inits, &mains, false, inits.is_empty(), true);

        let (stop_tx, stop_rx) = watch::channel::<Option<Duration>>(None);
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Box<CState>)>();

        // Init containers, one after the other.
        let mut init_failed = false;
        for i in 0..inits.len() {
            if inits[i].exit_code == Some(0) {
                continue;
            }
            let slot = Slot {
                idx: i,
                spec: spec_inits[i].clone(),
                init: true,
                sandbox: sandbox.clone(),
            };
            let task = tokio::spawn(container_loop(
                self.s.clone(),
                slot,
                inits[i].clone(),
                stop_rx.clone(),
                tx.clone(),
            ));
            tokio::pin!(task);
            loop {
                tokio::select! {
                    r = &mut task => {
                        if let Ok(cs) = r { inits[i] = cs; }
                        break;
                    }
                    Some((idx, cs)) = rx.recv() => {
                        inits[idx] = *cs;
                        self.publish(&pod_ip, &inits, &mains, false, false, true);
                    }
                    _ = wait_signal(&mut sig) => {
                        let grace = self.grace();
                        let _ = stop_tx.send(Some(grace));
                        if let Ok(cs) = (&mut task).await { inits[i] = cs; }
                        self.publish(&pod_ip, &inits, &mains, false, false, true);
                        self.finish(&mut sig, Some(sandbox)).await;
                        return;
                    }
                }
            }
            while let Ok((idx, cs)) = rx.try_recv() {
                inits[idx] = *cs;
            }
            if inits[i].exit_code != Some(0) {
                init_failed = true;
                break;
            }
        }
        if init_failed {
            self.publish(&pod_ip, &inits, &mains, true, false, true);
            self.s
                .runtime
                .remove_sandbox(Arc::new(self.s.pod().unwrap_or_default()), sandbox.clone())
                .await;
            let _ = wait_signal(&mut sig).await;
            self.finish(&mut sig, None).await;
            return;
        }
        self.publish(&pod_ip, &inits, &mains, false, true, true);

        // App containers, side by side.
        let mut tasks = Vec::new();
        for (i, c) in spec_mains.iter().enumerate() {
            if mains[i].done || mains[i].state["terminated"].is_object() && never {
                mains[i].done = true;
                continue;
            }
            let slot = Slot {
                idx: i,
                spec: c.clone(),
                init: false,
                sandbox: sandbox.clone(),
            };
            tasks.push(tokio::spawn(container_loop(
                self.s.clone(),
                slot,
                mains[i].clone(),
                stop_rx.clone(),
                tx.clone(),
            )));
        }
        drop(tx);
        drop(spec_mains);
        drop(spec_inits);
        loop {
            tokio::select! {
                upd = rx.recv() => match upd {
                    Some((idx, cs)) => {
                        mains[idx] = *cs;
                        while let Ok((idx, cs)) = rx.try_recv() {
                            mains[idx] = *cs;
                        }
                        let phase = self.publish(&pod_ip, &inits, &mains, false, true, true);
                        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
                            self.s.runtime.remove_sandbox(Arc::new(self.s.pod().unwrap_or_default()), sandbox.clone()).await;
                            if *sig.borrow() == Signal::Run {
                                return;
                            }
                        }
                    }
                    None => {
                        // Every container loop has ended.
                        self.publish(&pod_ip, &inits, &mains, false, true, true);
                        if *sig.borrow() == Signal::Run {
                            let _ = wait_signal(&mut sig).await;
                        }
                        self.finish(&mut sig, None).await;
                        return;
                    }
                },
                _ = recovered.changed() => {
                    self.publish(&pod_ip, &inits, &mains, false, true, true);
                }
                _ = wait_signal(&mut sig) => {
                    let grace = if *sig.borrow() == Signal::Removed { Duration::ZERO } else { self.grace() };
                    let _ = stop_tx.send(Some(grace));
                    for t in tasks.drain(..) {
                        if let Ok(cs) = t.await {
                            let idx = mains.iter().position(|m| m.name == cs.name).unwrap_or(0);
                            mains[idx] = cs;
                        }
                    }
                    while let Ok((idx, cs)) = rx.try_recv() {
                        mains[idx] = *cs;
                    }
                    for m in mains.iter_mut() {
                        m.done = true;
                        if m.exit_code.is_none() && m.state["terminated"].is_null() {
                            m.exit_code = Some(137);
                        }
                    }
                    if *sig.borrow() != Signal::Removed {
                        self.publish(&pod_ip, &inits, &mains, false, true, true);
                    }
                    self.finish(&mut sig, Some(sandbox)).await;
                    return;
                }
            }
        }
    }

    fn grace(&self) -> Duration {
        let secs = self
            .s
            .pod()
            .and_then(|p| p["metadata"]["deletionGracePeriodSeconds"].as_i64())
            .unwrap_or(30)
            .max(0);
        Duration::from_secs(secs as u64)
    }

    /// After containers stopped: removes the sandbox and completes the deletion.
    async fn finish(&self, sig: &mut watch::Receiver<Signal>, sandbox: Option<Sandbox>) {
        if let (Some(sb), Some(p)) = (sandbox, self.s.pod()) {
            self.s.runtime.remove_sandbox(Arc::new(p), sb).await;
        }
        if *sig.borrow() == Signal::Removed {
            return;
        }
        let opts = DeleteOptions {
            grace: Some(0),
            uid: Some(self.s.uid.clone()),
            ..Default::default()
        };
        let _ = self
            .s
            .cluster
            .delete_object(ids::PODS, &self.s.ns, &self.s.name, &opts);
    }
}

async fn wait_signal(sig: &mut watch::Receiver<Signal>) -> Signal {
    loop {
        let s = *sig.borrow_and_update();
        if s != Signal::Run {
            return s;
        }
        if sig.changed().await.is_err() {
            return Signal::Removed;
        }
    }
}

fn order_conditions(st: &mut Value) {
    const ORDER: [&str; 5] = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ];
    if let Some(c) = st["conditions"].as_array_mut() {
        c.sort_by_key(|x| {
            ORDER
                .iter()
                .position(|o| x["type"] == *o)
                .unwrap_or(ORDER.len())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_at_once_then_backs_off_doubling_to_five_minutes_until_a_long_run() {
        let second = Duration::from_secs(1);
        let mut b = RestartBackoff::default();
        let waits: Vec<Option<u64>> = [second; 8]
            .iter()
            .map(|ran| b.next(10.0, *ran).map(|w| w.as_secs()))
            .collect();
        assert_eq!(
            waits,
            [
                None,
                Some(10),
                Some(20),
                Some(40),
                Some(80),
                Some(160),
                Some(300),
                Some(300)
            ]
        );
        // Nine minutes are not enough to start over; ten are.
        assert_eq!(
            b.next(10.0, Duration::from_secs(540)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(b.next(10.0, BACKOFF_RESET), None);
        assert_eq!(b.next(10.0, second), Some(Duration::from_secs(10)));
        // The base comes from the pod's annotation.
        let mut quick = RestartBackoff::default();
        assert_eq!(quick.next(0.5, second), None);
        assert_eq!(quick.next(0.5, second), Some(Duration::from_millis(500)));
        assert_eq!(quick.next(0.5, second), Some(Duration::from_secs(1)));
    }
}
