//! Killing applications: deleting the driver pod with a grace period (owner garbage collection
//! then removes executors, service, config maps and network policy), optionally waiting until
//! all of it is gone, and spark-submit's `--kill`/`--status` target syntax `[namespace:]pod`
//! with a trailing `*` matching a name prefix.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Preconditions};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError};
use crate::client::Client;
use crate::submit::APP_ID_LABEL;

/// Spark conf key of the grace period used by `--kill`.
pub const GRACE_PERIOD_CONF: &str = "spark.kubernetes.appKillPodDeletionGracePeriod";

/// How often waiting for the deletion looks again.
const GONE_POLL: Duration = Duration::from_millis(500);

/// Failure to kill.
#[derive(Debug, thiserror::Error)]
pub enum KillError {
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The target is not `[namespace:]pod[*]`.
    #[error("invalid submission id {target:?}: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Objects of the application were still there when waiting ended.
    #[error("application of driver pod {namespace}/{pod} not fully deleted after {waited:?}; remaining: {}", remaining.join(", "))]
    WaitTimeout {
        /// Namespace.
        namespace: String,
        /// Driver pod.
        pod: String,
        /// How long was waited.
        waited: Duration,
        /// `kind/name` of the objects still present.
        remaining: Vec<String>,
    },
}

/// Result of killing.
pub type Result<T> = std::result::Result<T, KillError>;

impl KillError {
    /// The HTTP status code when an API call failed.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Api(e) => e.status_code(),
            _ => None,
        }
    }
}

/// How to kill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillOptions {
    /// Deletion grace period (`spark.kubernetes.appKillPodDeletionGracePeriod`); the pod's own
    /// when unset.
    #[serde(with = "crate::serde_secs::option")]
    pub grace_period: Option<Duration>,
    /// Wait until the driver pod and every object it owns are gone.
    pub wait: bool,
    /// Give up waiting after this long (forever when unset).
    #[serde(with = "crate::serde_secs::option")]
    pub wait_timeout: Option<Duration>,
}

impl KillOptions {
    /// Reads the grace period from a Spark conf value (whole seconds).
    pub fn grace_period_from_conf(value: Option<&str>) -> Option<Duration> {
        value
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }
}

/// A `--kill`/`--status` target: `[namespace:]pod`, a trailing `*` matching a name prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    /// The namespace, when given (else the client's default).
    pub namespace: Option<String>,
    /// The pod name, or the prefix for a glob.
    pub name: String,
    /// Whether `name` is a prefix (the target ended with `*`).
    pub glob: bool,
}

impl PodRef {
    /// Parses spark-submit's submission id syntax. An empty namespace (`:pod`) is the
    /// default one, for every command alike.
    pub fn parse(target: &str) -> Result<Self> {
        let invalid = |reason: &str| KillError::InvalidTarget {
            target: target.to_string(),
            reason: reason.to_string(),
        };
        let (namespace, name) = match target.split_once(':') {
            Some((ns, name)) => ((!ns.is_empty()).then_some(ns), name),
            None => (None, target),
        };
        let (name, glob) = match name.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (name, false),
        };
        if name.is_empty() && !glob {
            return Err(invalid("no pod name"));
        }
        if name.contains(['*', ':', '/']) {
            return Err(invalid(
                "a pod name cannot contain '*', ':' or '/' (only a trailing '*' is a glob)",
            ));
        }
        Ok(Self {
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            glob,
        })
    }

    /// Whether a pod name is selected.
    pub fn matches(&self, pod: &str) -> bool {
        if self.glob {
            pod.starts_with(&self.name)
        } else {
            pod == self.name
        }
    }
}

/// A driver pod that was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Killed {
    /// Namespace.
    pub namespace: String,
    /// Driver pod.
    pub driver_pod: String,
    /// Spark application id, when the pod has one.
    pub app_id: Option<String>,
}

/// An object listed only for its metadata: what deciding whether it belongs to an app needs.
#[derive(Deserialize)]
struct Listed {
    metadata: ObjectMeta,
}

/// A list answer of the API server, items reduced to [`Listed`].
#[derive(Deserialize)]
struct ListedItems {
    #[serde(default)]
    items: Vec<Listed>,
}

fn owned_by(meta: &ObjectMeta, uid: &str, app_id: Option<&str>) -> bool {
    let by_owner = meta.owner_references.iter().flatten().any(|r| r.uid == uid);
    let by_label = app_id.is_some_and(|id| {
        meta.labels
            .as_ref()
            .and_then(|l| l.get(APP_ID_LABEL))
            .map(String::as_str)
            == Some(id)
    });
    by_owner || by_label
}

impl Client {
    /// The driver pods a target selects: one pod (when it exists) or, for a glob, every pod
    /// labelled `spark-role=driver` whose name starts with the prefix, in the target's
    /// namespace or the client's default one (as spark-submit does).
    pub async fn find_drivers(&self, target: &PodRef) -> Result<Vec<Pod>> {
        let namespace = self.ns(target.namespace.as_deref()).to_string();
        if !target.glob {
            return match self.driver_pod(&namespace, &target.name).await {
                Ok(Some(p)) => Ok(vec![p]),
                Ok(None) => Ok(Vec::new()),
                Err(crate::track::TrackError::Api(e)) => Err(e.into()),
                Err(e) => Err(api::request_error("get driver pod", e).into()),
            };
        }
        let pods = self
            .list_driver_pods(Some(&namespace), None)
            .await
            .map_err(|e| match e {
                crate::track::TrackError::Api(e) => KillError::Api(e),
                other => KillError::Api(api::request_error("list driver pods", other)),
            })?;
        Ok(pods
            .into_iter()
            .filter(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| target.matches(n))
            })
            .collect())
    }

    /// Kills every driver selected by a spark-submit `--kill` target (`[ns:]pod`, `[ns:]prefix*`).
    /// Returns the pods deleted (empty: "Application not found").
    pub async fn kill_matching(&self, target: &str, options: &KillOptions) -> Result<Vec<Killed>> {
        let target = PodRef::parse(target)?;
        let pods = self.find_drivers(&target).await?;
        let mut killed = Vec::new();
        for pod in pods {
            let (Some(ns), Some(name)) =
                (pod.metadata.namespace.clone(), pod.metadata.name.clone())
            else {
                continue;
            };
            if self.kill_pod(&pod, options).await? {
                killed.push(Killed {
                    namespace: ns,
                    driver_pod: name,
                    app_id: pod
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(APP_ID_LABEL))
                        .cloned(),
                });
            }
        }
        Ok(killed)
    }

    /// Deletes a driver pod; false when it did not exist.
    pub async fn kill(
        &self,
        namespace: Option<&str>,
        driver_pod: &str,
        options: &KillOptions,
    ) -> Result<bool> {
        let namespace = self.ns(namespace).to_string();
        let pod = match self.driver_pod(&namespace, driver_pod).await {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(false),
            Err(crate::track::TrackError::Api(e)) => return Err(e.into()),
            Err(e) => return Err(api::request_error("get driver pod", e).into()),
        };
        self.kill_pod(&pod, options).await
    }

    async fn kill_pod(&self, pod: &Pod, options: &KillOptions) -> Result<bool> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone();
        let operation = format!("delete driver pod {namespace}/{name}");
        let params = DeleteParams {
            grace_period_seconds: options
                .grace_period
                .map(|g| u32::try_from(g.as_secs()).unwrap_or(u32::MAX)),
            // Delete exactly the pod that was looked at, not a newer one of the same name.
            preconditions: uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let deleted = api::call_raw(&self.kube, &self.retry, &operation, || {
            api::namespaced::<Pod>(&namespace)
                .delete(&name, &params)
                .map_err(|e| api::request_error(&operation, e))
        })
        .await;
        match deleted {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(false),
            // 409: the precondition failed, the pod was already replaced by another one.
            Err(e) if e.is_conflict() => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        log::info!("deleted driver pod {namespace}/{name}");
        if options.wait {
            let app_id = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(APP_ID_LABEL))
                .cloned();
            self.wait_deleted(
                &namespace,
                &name,
                uid.as_deref(),
                app_id.as_deref(),
                options.wait_timeout,
            )
            .await?;
        }
        Ok(true)
    }

    /// The `kind/name` of the objects of an application that still exist.
    async fn remaining(
        &self,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        app_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut remaining = Vec::new();
        if let Some(p) = self
            .driver_pod(namespace, pod)
            .await
            .map_err(|e| KillError::Api(api::request_error("get driver pod", e)))?
            && (uid.is_none() || p.metadata.uid.as_deref() == uid)
        {
            remaining.push(format!("pod/{pod}"));
        }
        let Some(uid) = uid else {
            return Ok(remaining);
        };
        let kinds = [
            ("pod", api::namespaced::<Pod>(namespace)),
            ("service", api::namespaced::<Service>(namespace)),
            ("configmap", api::namespaced::<ConfigMap>(namespace)),
            ("networkpolicy", api::namespaced::<NetworkPolicy>(namespace)),
        ];
        for (kind, requests) in kinds {
            let operation = format!("list {kind}s in namespace {namespace}");
            let params = match (kind, app_id) {
                ("pod" | "service", Some(id)) => {
                    ListParams::default().labels(&format!("{APP_ID_LABEL}={id}"))
                }
                _ => ListParams::default(),
            };
            let list: ListedItems = match api::call(&self.kube, &self.retry, &operation, || {
                requests
                    .list(&params)
                    .map_err(|e| api::request_error(&operation, e))
            })
            .await
            {
                Ok(l) => l,
                // A cluster without the resource (or no permission to list it): nothing to wait for.
                Err(e) if matches!(e.status_code(), Some(403 | 404)) => continue,
                Err(e) => return Err(e.into()),
            };
            for item in list.items {
                let name = item.metadata.name.as_deref().unwrap_or_default();
                if kind == "pod" && name == pod {
                    continue;
                }
                if owned_by(&item.metadata, uid, app_id) {
                    remaining.push(format!("{kind}/{name}"));
                }
            }
        }
        Ok(remaining)
    }

    /// Waits until the driver pod and every object of the application are gone.
    pub async fn wait_deleted(
        &self,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        app_id: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let start = tokio::time::Instant::now();
        loop {
            let remaining = self.remaining(namespace, pod, uid, app_id).await?;
            if remaining.is_empty() {
                return Ok(());
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Err(KillError::WaitTimeout {
                    namespace: namespace.to_string(),
                    pod: pod.to_string(),
                    waited: start.elapsed(),
                    remaining,
                });
            }
            tokio::time::sleep(GONE_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_as_spark_submit_reads_them() {
        let table = [
            ("spark-pi-driver", Some((None, "spark-pi-driver", false))),
            (
                "jobs:spark-pi-driver",
                Some((Some("jobs"), "spark-pi-driver", false)),
            ),
            ("jobs:spark-pi*", Some((Some("jobs"), "spark-pi", true))),
            ("spark-*", Some((None, "spark-", true))),
            ("*", Some((None, "", true))),
            ("jobs:*", Some((Some("jobs"), "", true))),
            (":pod", Some((None, "pod", false))),
            (":pod*", Some((None, "pod", true))),
            ("", None),
            ("jobs:", None),
            ("a*b", None),
            ("a:b:c", None),
        ];
        for (target, expected) in table {
            let got = PodRef::parse(target).ok();
            let expected = expected.map(|(ns, name, glob)| PodRef {
                namespace: ns.map(str::to_string),
                name: name.to_string(),
                glob,
            });
            assert_eq!(got, expected, "{target:?}");
        }
    }

    #[test]
    fn glob_matching() {
        let table = [
            ("spark-pi*", "spark-pi-123-driver", true),
            ("spark-pi*", "spark-pi", true),
            ("spark-pi*", "other-spark-pi", false),
            ("spark-pi", "spark-pi-123-driver", false),
            ("spark-pi", "spark-pi", true),
            ("*", "anything", true),
        ];
        for (target, pod, matches) in table {
            let r = PodRef::parse(target).ok();
            assert_eq!(r.map(|r| r.matches(pod)), Some(matches), "{target} {pod}");
        }
    }

    #[test]
    fn ownership_by_reference_or_label() {
        let meta = |value: serde_json::Value| -> ObjectMeta {
            serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
        };
        let owner = |uid: &str| json!({"apiVersion": "v1", "kind": "Pod", "name": "d", "uid": uid});
        let owned = meta(json!({"name": "cm", "ownerReferences": [owner("u1")]}));
        let labelled = meta(json!({"name": "svc", "labels": {"spark-app-selector": "spark-1"}}));
        let other = meta(
            json!({"name": "x", "ownerReferences": [owner("u2")], "labels": {"spark-app-selector": "spark-2"}}),
        );
        assert!(owned_by(&owned, "u1", None));
        assert!(owned_by(&labelled, "u1", Some("spark-1")));
        assert!(!owned_by(&labelled, "u1", None));
        assert!(!owned_by(&other, "u1", Some("spark-1")));
    }

    #[test]
    fn grace_period_from_conf() {
        assert_eq!(
            KillOptions::grace_period_from_conf(Some("5")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(KillOptions::grace_period_from_conf(Some("x")), None);
        assert_eq!(KillOptions::grace_period_from_conf(None), None);
    }
}
