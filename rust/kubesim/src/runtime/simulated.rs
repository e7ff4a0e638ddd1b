//! The simulated runtime: pod annotations decide how long containers take to start and run,
//! how they exit and what they log. Keys (`kubesim.io/…`), each also settable per container as
//! `kubesim.io/<key>.<container>`:
//! `start-delay-seconds`, `run-seconds` (default 1; `inf` or negative: never exits),
//! `exit-code` (default 0), `log` (lines), `log-interval-ms`, `oom` (`"true"`: OOMKilled, 137),
//! `termination-seconds` (time to stop after SIGTERM), `termination-message` (what the
//! container leaves in its termination message file). `kubesim.io/sidecar-run-seconds` sets
//! `run-seconds` for every container but the first. An image reference containing
//! `does-not-exist` fails to pull.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{Container, ContainerSpec, Exit, PullError, Runtime, Sandbox, StartError};
use crate::logs::LogBuffer;

/// Reads a `kubesim.io/<key>` annotation, preferring `kubesim.io/<key>.<container>`.
pub fn annotation<'a>(pod: &'a Value, key: &str, container: Option<&str>) -> Option<&'a str> {
    let ann = &pod["metadata"]["annotations"];
    if let Some(c) = container
        && let Some(v) = ann[format!("kubesim.io/{key}.{c}").as_str()].as_str()
    {
        return Some(v);
    }
    ann[format!("kubesim.io/{key}").as_str()].as_str()
}

/// Parses a seconds value; `None` means forever (`inf`, `forever`, negative).
fn parse_seconds(s: &str) -> Option<f64> {
    match s.trim() {
        "inf" | "infinity" | "forever" | "never" => None,
        other => other
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0),
    }
}

/// How one simulated container behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Seconds before exiting by itself; `None` runs until stopped.
    pub run_seconds: Option<f64>,
    /// Exit code.
    pub exit_code: i32,
    /// Whether it ends OOMKilled.
    pub oom: bool,
    /// Lines to log.
    pub log: Vec<String>,
    /// Pause between log lines.
    pub log_interval: Duration,
    /// Seconds it takes to stop after SIGTERM.
    pub termination_seconds: f64,
    /// The termination message it leaves when it exits by itself.
    pub termination_message: Option<String>,
}

/// Reads a container's behaviour from the pod's annotations.
pub fn behaviour(pod: &Value, container: &str, first_main: bool) -> Behaviour {
    let get = |k: &str| annotation(pod, k, Some(container));
    let ann = &pod["metadata"]["annotations"];
    let own = ann[format!("kubesim.io/run-seconds.{container}").as_str()].as_str();
    let sidecar = if first_main {
        None
    } else {
        ann["kubesim.io/sidecar-run-seconds"].as_str()
    };
    let run = match own.or(sidecar).or(ann["kubesim.io/run-seconds"].as_str()) {
        Some(s) => parse_seconds(s),
        None => Some(1.0),
    };
    let oom = get("oom").is_some_and(|v| v == "true");
    Behaviour {
        run_seconds: run,
        exit_code: if oom {
            137
        } else {
            get("exit-code")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        },
        oom,
        log: get("log")
            .map(|l| l.lines().map(str::to_string).collect())
            .unwrap_or_default(),
        log_interval: Duration::from_millis(
            get("log-interval-ms")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        ),
        termination_seconds: get("termination-seconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
        termination_message: get("termination-message").map(str::to_owned),
    }
}

/// The simulated runtime.
#[derive(Debug, Default)]
pub struct Simulated;

struct SimContainer {
    exit: Option<oneshot::Receiver<Exit>>,
    stop: Option<oneshot::Sender<Duration>>,
    done: Option<Exit>,
}

impl Container for SimContainer {
    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        async move {
            if let Some(e) = &self.done {
                return e.clone();
            }
            let exit = match self.exit.as_mut() {
                Some(rx) => rx.await.unwrap_or_else(|_| Exit::with_code(137)),
                None => futures::future::pending().await,
            };
            self.exit = None;
            self.done = Some(exit.clone());
            exit
        }
        .boxed()
    }

    fn stop(&mut self, grace: Duration) -> BoxFuture<'_, Exit> {
        async move {
            if let Some(e) = &self.done {
                return e.clone();
            }
            if let Some(s) = self.stop.take() {
                let _ = s.send(grace);
            }
            self.wait().await
        }
        .boxed()
    }
}

impl Runtime for Simulated {
    fn name(&self) -> &'static str {
        "kubesim://simulated"
    }

    fn create_sandbox(
        &self,
        pod: Arc<Value>,
        pod_ip: String,
    ) -> BoxFuture<'static, Result<Sandbox, StartError>> {
        async move {
            if let Some(d) = annotation(&pod, "start-delay-seconds", None).and_then(parse_seconds) {
                tokio::time::sleep(Duration::from_secs_f64(d)).await;
            }
            Ok(Sandbox { pod_ip })
        }
        .boxed()
    }

    fn remove_sandbox(&self, _pod: Arc<Value>, _sandbox: Sandbox) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }

    fn pull_image(
        &self,
        _pod: Arc<Value>,
        container: Value,
    ) -> BoxFuture<'static, Result<(), PullError>> {
        async move {
            let image = container["image"].as_str().unwrap_or_default().to_string();
            if image.contains("does-not-exist") {
                let full = normalize_image(&image);
                return Err(PullError {
                    message: format!(
                        "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
                    ),
                });
            }
            Ok(())
        }
        .boxed()
    }

    fn start(
        &self,
        spec: ContainerSpec,
        log: Arc<LogBuffer>,
    ) -> BoxFuture<'static, Result<Box<dyn Container>, StartError>> {
        async move {
            let first_main = !spec.init
                && spec.pod["spec"]["containers"][0]["name"].as_str() == Some(spec.name());
            let b = behaviour(&spec.pod, spec.name(), first_main || spec.init);
            let (exit_tx, exit_rx) = oneshot::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<Duration>();
            let already = spec
                .resumed_from
                .map(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default())
                .unwrap_or_default();
            tokio::spawn(simulate(
                b,
                log,
                exit_tx,
                stop_rx,
                already,
                spec.resumed_from.is_some(),
            ));
            Ok(Box::new(SimContainer {
                exit: Some(exit_rx),
                stop: Some(stop_tx),
                done: None,
            }) as Box<dyn Container>)
        }
        .boxed()
    }
}

async fn simulate(
    b: Behaviour,
    log: Arc<LogBuffer>,
    exit_tx: oneshot::Sender<Exit>,
    mut stop_rx: oneshot::Receiver<Duration>,
    already: Duration,
    resumed: bool,
) {
    let started = tokio::time::Instant::now()
        .checked_sub(already)
        .unwrap_or_else(tokio::time::Instant::now);
    let run = async {
        for (i, line) in b.log.iter().enumerate().filter(|_| !resumed) {
            if i > 0 && !b.log_interval.is_zero() {
                tokio::time::sleep(b.log_interval).await;
            }
            log.push(line);
        }
        match b.run_seconds {
            Some(s) => {
                let total = Duration::from_secs_f64(s);
                let elapsed = started.elapsed();
                if total > elapsed {
                    tokio::time::sleep(total - elapsed).await;
                }
            }
            None => futures::future::pending::<()>().await,
        }
    };
    let exit = tokio::select! {
        _ = run => {
            if b.oom {
                Exit { code: 137, reason: "OOMKilled".into(), message: None }
            } else {
                Exit { message: b.termination_message.clone(), ..Exit::with_code(b.exit_code) }
            }
        }
        grace = &mut stop_rx => {
            let grace = grace.unwrap_or(Duration::ZERO);
            let needed = Duration::from_secs_f64(b.termination_seconds.max(0.0));
            if needed > grace {
                tokio::time::sleep(grace).await;
                Exit { code: 137, reason: "Error".into(), message: None }
            } else {
                tokio::time::sleep(needed).await;
                Exit { code: 143, reason: "Error".into(), message: None }
            }
        }
    };
    let _ = exit_tx.send(exit);
}

/// `busybox` → `docker.io/library/busybox:latest`, as containerd reports image names.
pub fn normalize_image(image: &str) -> String {
    let (name, tag) = if image.contains('@') {
        (image.to_string(), String::new())
    } else {
        let last = image.rsplit('/').next().unwrap_or_default();
        if last.contains(':') {
            (image.to_string(), String::new())
        } else {
            (image.to_string(), ":latest".to_string())
        }
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn behaviour_from_annotations() {
        let pod = json!({"metadata": {"annotations": {
            "kubesim.io/run-seconds": "5",
            "kubesim.io/exit-code": "3",
            "kubesim.io/log": "a\nb",
            "kubesim.io/sidecar-run-seconds": "inf",
            "kubesim.io/exit-code.side2": "0",
        }}});
        let main = behaviour(&pod, "main", true);
        assert_eq!(main.run_seconds, Some(5.0));
        assert_eq!(main.exit_code, 3);
        assert_eq!(main.log, vec!["a", "b"]);
        let side = behaviour(&pod, "side2", false);
        assert_eq!(side.run_seconds, None);
        assert_eq!(side.exit_code, 0);
        let oom = behaviour(
            &json!({"metadata": {"annotations": {"kubesim.io/oom": "true"}}}),
            "c",
            true,
        );
        assert_eq!(
            (oom.exit_code, oom.oom, oom.run_seconds),
            (137, true, Some(1.0))
        );
    }

    #[test]
    fn images_are_normalized() {
        assert_eq!(
            normalize_image("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image("apache/spark:4.0.0"),
            "docker.io/apache/spark:4.0.0"
        );
        assert_eq!(normalize_image("ghcr.io/x/y:1"), "ghcr.io/x/y:1");
    }

    #[tokio::test]
    async fn stop_terminates_with_143() {
        let rt = Simulated;
        let pod = Arc::new(
            json!({"metadata": {"annotations": {"kubesim.io/run-seconds": "inf"}}, "spec": {"containers": [{"name": "c"}]}}),
        );
        let spec = ContainerSpec {
            pod,
            container: json!({"name": "c"}),
            init: false,
            restart_count: 0,
            sandbox: Sandbox {
                pod_ip: "1.2.3.4".into(),
            },
            resumed_from: None,
        };
        let mut c = match rt.start(spec, Arc::new(LogBuffer::default())).await {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let exit = c.stop(Duration::from_secs(30)).await;
        assert_eq!(exit.code, 143);
    }
}
