//! Submitting: the same API calls, in the same order, as `spark-submit --deploy-mode cluster`.
//!
//! Objects spark-submit creates before the driver (Volcano's PodGroup) are server-side
//! applied first; the driver pod is created with a POST; every other object (service, network
//! policy, config maps), and the earlier ones again, is then server-side applied with an
//! ownerReference to the driver pod, so that deleting the pod removes everything. If anything fails after the pod exists, the pod is
//! deleted and the original error is returned. Submitting is idempotent by the label
//! `sparkube.io/submission-id`: a 409 on the pod adopts the existing pod when it carries the
//! same submission id, and fails clearly when it does not.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, GetParams, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError};
use crate::build::Object;
pub use crate::build::SUBMISSION_ID_LABEL;
pub use crate::build::labels::APP_ID_LABEL;
use crate::client::Client;
use crate::metrics::{METRICS, Outcome};
use crate::progress::SparkUi;
use sparkube_core::with_object;

/// Field manager of sparkube's server-side applies.
pub const FIELD_MANAGER: &str = "sparkube";

/// A submitted (or attached) Spark application: enough to track, stream logs and kill it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppHandle {
    /// Namespace of the driver pod.
    pub namespace: String,
    /// Name of the driver pod.
    pub driver_pod: String,
    /// Spark application id (`spark-…`).
    pub app_id: String,
    /// The submission id (label `sparkube.io/submission-id`), when the pod carries one.
    pub submission_id: Option<String>,
    /// UID of the driver pod.
    pub pod_uid: Option<String>,
    /// True when the driver already existed from an earlier attempt of the same submission.
    #[serde(default)]
    pub adopted: bool,
    /// The driver service and port of its Spark UI, where progress is read: what was
    /// submitted, or for an attached driver what Spark's naming rule gives (see
    /// [`SparkUi::from_driver_pod`]); `None` when the service must be looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_ui: Option<SparkUi>,
}

impl AppHandle {
    /// The handle of an existing driver pod; `None` when the pod has no Spark app id label.
    pub fn from_pod(pod: &Pod, adopted: bool) -> Option<Self> {
        let labels = pod.metadata.labels.as_ref()?;
        Some(Self {
            namespace: pod.metadata.namespace.clone()?,
            driver_pod: pod.metadata.name.clone()?,
            app_id: labels.get(APP_ID_LABEL)?.clone(),
            submission_id: labels.get(SUBMISSION_ID_LABEL).cloned(),
            pod_uid: pod.metadata.uid.clone(),
            adopted,
            spark_ui: SparkUi::from_driver_pod(pod),
        })
    }
}

/// Failure to submit.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The objects to submit are not usable (no driver pod, missing names or labels).
    #[error("cannot submit: {0}")]
    Invalid(String),
    /// Creating the driver pod failed.
    #[error("failed to create driver pod {namespace}/{pod}: {}", source.outcome())]
    CreatePod {
        /// Namespace.
        namespace: String,
        /// Driver pod name.
        pod: String,
        /// The API error.
        #[source]
        source: ApiError,
    },
    /// A pod of that name exists and belongs to another submission.
    #[error(
        "driver pod {namespace}/{pod} already exists and belongs to another submission \
         (its submission id is {}, this one is {})",
        existing.as_deref().unwrap_or("unset"), ours.as_deref().unwrap_or("unset")
    )]
    Conflict {
        /// Namespace.
        namespace: String,
        /// Driver pod name.
        pod: String,
        /// Submission id of the existing pod.
        existing: Option<String>,
        /// Submission id of this submission.
        ours: Option<String>,
    },
    /// Applying one of the other objects failed; the driver pod was deleted again.
    #[error("failed to apply {kind} {namespace}/{name} for driver pod {pod}: {}{}", source.outcome(), cleanup.as_deref().map(|c| format!(" (and deleting the driver pod failed too: {c})")).unwrap_or_default())]
    Apply {
        /// Kind of the object.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Object name.
        name: String,
        /// Driver pod name.
        pod: String,
        /// The API error.
        #[source]
        source: ApiError,
        /// Why deleting the driver pod afterwards failed, when it did.
        cleanup: Option<String>,
    },
}

/// Result of submitting.
pub type Result<T> = std::result::Result<T, SubmitError>;

impl SubmitError {
    /// The HTTP status code of the failed API call, if any (409 for a conflict).
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::CreatePod { source, .. } | Self::Apply { source, .. } => source.status_code(),
            Self::Conflict { .. } => Some(409),
            Self::Invalid(_) => None,
        }
    }

    /// The reason of the failed API call (`Forbidden`, `Invalid`, `AlreadyExists`, ...).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::CreatePod { source, .. } | Self::Apply { source, .. } => source.reason(),
            Self::Conflict { .. } => Some("AlreadyExists"),
            Self::Invalid(_) => None,
        }
    }

    /// The underlying API error, if any.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::CreatePod { source, .. } | Self::Apply { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The request builder of a namespaced kind spark-submit creates.
pub(crate) fn requests_for(object: &Object, namespace: &str) -> kube::core::Request {
    fn of<K: kube::Resource<DynamicType = ()>>(_: &K, namespace: &str) -> kube::core::Request {
        kube::core::Request::new(K::url_path(&(), Some(namespace)))
    }
    with_object!(object, o => of(o, namespace))
}

impl Client {
    /// Submits what [`crate::build`] made: POSTs the driver pod, then applies the other objects.
    pub async fn submit(&self, resources: &crate::Resources) -> Result<AppHandle> {
        self.submit_objects(&resources.in_api_order()).await
    }

    /// Submits the objects of one application, given in API order (the driver pod and then the
    /// objects to apply, as `Resources::in_api_order` returns them). The namespace is the
    /// pod's, else the client's default.
    pub async fn submit_objects(&self, objects: &[Object]) -> Result<AppHandle> {
        let started = std::time::Instant::now();
        let result = self.send_objects(objects).await;
        let outcome = match &result {
            Ok(handle) if handle.adopted => Outcome::Adopted,
            Ok(_) => Outcome::Created,
            Err(_) => Outcome::Failed,
        };
        METRICS.submission(outcome, started.elapsed());
        result
    }

    /// [`Client::submit_objects`] without its metrics.
    async fn send_objects(&self, objects: &[Object]) -> Result<AppHandle> {
        let (pod_index, mut pod) = objects
            .iter()
            .enumerate()
            .find_map(|(i, o)| match o {
                Object::Pod(pod) => Some((i, pod.clone())),
                _ => None,
            })
            .ok_or_else(|| SubmitError::Invalid("no driver pod among the objects".into()))?;
        let name = pod
            .metadata
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SubmitError::Invalid("the driver pod has no name".into()))?;
        let namespace = self.ns(pod.metadata.namespace.as_deref()).to_string();
        pod.metadata.namespace = Some(namespace.clone());
        let label = |key: &str| {
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(key))
                .cloned()
        };
        let app_id = label(APP_ID_LABEL).ok_or_else(|| {
            SubmitError::Invalid(format!("driver pod {name} has no {APP_ID_LABEL} label"))
        })?;
        let submission_id = label(SUBMISSION_ID_LABEL);

        // Objects before the pod (Volcano's PodGroup) must exist before it, without an owner
        // yet; they are applied again with the owner below, as spark-submit does.
        let pre_resources: Vec<Object> = objects[..pod_index]
            .iter()
            .cloned()
            .map(|mut object| {
                let meta = object.meta_mut();
                meta.namespace = Some(namespace.clone());
                meta.owner_references = None;
                object
            })
            .collect();
        for object in &pre_resources {
            if let Err(source) = self.apply(&namespace, object).await {
                self.delete_pre_resources(&namespace, &pre_resources).await;
                return Err(SubmitError::Apply {
                    kind: object.kind().to_string(),
                    namespace: namespace.clone(),
                    name: object.name().to_string(),
                    pod: name.clone(),
                    source,
                    cleanup: None,
                });
            }
        }
        let created = self
            .create_driver_pod(&namespace, &name, &pod, &app_id, submission_id.as_deref())
            .await;
        let (uid, adopted) = match created {
            Ok(created) => created,
            Err(error) => {
                if !matches!(error, SubmitError::Conflict { .. }) {
                    self.delete_pre_resources(&namespace, &pre_resources).await;
                }
                return Err(error);
            }
        };
        let handle = AppHandle {
            namespace: namespace.clone(),
            driver_pod: name.clone(),
            app_id,
            submission_id,
            pod_uid: Some(uid.clone()),
            adopted,
            spark_ui: objects.iter().find_map(|o| match o {
                Object::Service(service) => SparkUi::from_service(service),
                _ => None,
            }),
        };

        for (index, object) in objects.iter().enumerate() {
            if index == pod_index {
                continue;
            }
            let mut object = object.clone();
            object.meta_mut().namespace = Some(namespace.clone());
            object.set_owner(&name, &uid);
            let failed = |source| SubmitError::Apply {
                kind: object.kind().to_string(),
                namespace: namespace.clone(),
                name: object.name().to_string(),
                pod: name.clone(),
                source,
                cleanup: None,
            };
            // An adopted driver already has its immutable config maps and secrets; their
            // content may differ in this attempt (the submit time), and the API server refuses
            // to change an immutable object.
            let step = if adopted && object.is_immutable() {
                match self.object_exists(&namespace, &object).await {
                    Ok(true) => continue,
                    Ok(false) => self.apply(&namespace, &object).await,
                    Err(source) => Err(source),
                }
            } else {
                self.apply(&namespace, &object).await
            };
            if let Err(source) = step {
                let mut error = failed(source);
                if let SubmitError::Apply { cleanup, .. } = &mut error {
                    *cleanup = self.delete_after_failure(&namespace, &name).await;
                }
                return Err(error);
            }
        }
        log::info!(
            "{} driver pod {namespace}/{name} for application {}",
            if adopted { "adopted" } else { "created" },
            handle.app_id
        );
        Ok(handle)
    }

    /// POSTs the pod, or adopts the existing one of the same submission on 409.
    /// Returns the uid and whether the pod was adopted.
    async fn create_driver_pod(
        &self,
        namespace: &str,
        name: &str,
        pod: &Pod,
        app_id: &str,
        submission_id: Option<&str>,
    ) -> Result<(String, bool)> {
        let operation = format!("create driver pod {namespace}/{name}");
        let body = serde_json::to_vec(pod)
            .map_err(|e| SubmitError::Invalid(format!("driver pod {name}: {e}")))?;
        let created: api::Result<Pod> = api::call(&self.kube, &self.retry, &operation, || {
            api::namespaced::<Pod>(namespace)
                .create(&PostParams::default(), body.clone())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await;
        let create_error = |source| SubmitError::CreatePod {
            namespace: namespace.to_string(),
            pod: name.to_string(),
            source,
        };
        match created {
            Ok(pod) => {
                let uid = pod.metadata.uid.ok_or_else(|| {
                    SubmitError::Invalid(format!(
                        "the API server returned driver pod {namespace}/{name} without a uid"
                    ))
                })?;
                Ok((uid, false))
            }
            Err(e) if e.is_conflict() => {
                let existing = match self.driver_pod(namespace, name).await {
                    Ok(Some(p)) => p,
                    // Deleted in between, or unreadable: report the conflict itself.
                    Ok(None) | Err(_) => return Err(create_error(e)),
                };
                let their_label = |key: &str| {
                    existing
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(key))
                        .cloned()
                };
                let theirs = their_label(SUBMISSION_ID_LABEL);
                // Without a submission id, the random Spark app id identifies the submission.
                let same = match submission_id {
                    Some(ours) => theirs.as_deref() == Some(ours),
                    None => {
                        theirs.is_none() && their_label(APP_ID_LABEL).as_deref() == Some(app_id)
                    }
                };
                match (same, existing.metadata.uid) {
                    (true, Some(uid)) => {
                        log::info!(
                            "driver pod {namespace}/{name} already exists for this submission: adopting it"
                        );
                        Ok((uid, true))
                    }
                    _ => Err(SubmitError::Conflict {
                        namespace: namespace.to_string(),
                        pod: name.to_string(),
                        existing: theirs,
                        ours: submission_id.map(str::to_string),
                    }),
                }
            }
            Err(e) => Err(create_error(e)),
        }
    }

    /// Whether an object exists (one GET).
    async fn object_exists(&self, namespace: &str, object: &Object) -> api::Result<bool> {
        let operation = format!("get {} {namespace}/{}", object.kind(), object.name());
        match api::call_raw(&self.kube, &self.retry, &operation, || {
            requests_for(object, namespace)
                .get(object.name(), &GetParams::default())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Server-side applies one object (force, field manager `sparkube`).
    async fn apply(&self, namespace: &str, object: &Object) -> api::Result<()> {
        let operation = format!("apply {} {namespace}/{}", object.kind(), object.name());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api::call_raw(&self.kube, &self.retry, &operation, || {
            let requests = requests_for(object, namespace);
            with_object!(object, o => requests.patch(object.name(), &params, &Patch::Apply(o)))
                .map_err(|e| api::request_error(&operation, e))
        })
        .await
        .map(|_| ())
    }

    /// Deletes the objects created before a driver pod that could not be created (best
    /// effort, as spark-submit does; a failure is logged).
    async fn delete_pre_resources(&self, namespace: &str, objects: &[Object]) {
        for object in objects {
            let operation = format!(
                "delete {} {namespace}/{} after a failed submission",
                object.kind(),
                object.name()
            );
            let deleted = api::call_raw(&self.kube, &self.retry, &operation, || {
                requests_for(object, namespace)
                    .delete(object.name(), &DeleteParams::default())
                    .map_err(|e| api::request_error(&operation, e))
            })
            .await;
            if let Err(e) = deleted
                && !e.is_not_found()
            {
                log::error!("{e}");
            }
        }
    }

    /// Deletes the driver pod after a failed submission; returns why that failed, if it did.
    async fn delete_after_failure(&self, namespace: &str, name: &str) -> Option<String> {
        let operation = format!("delete driver pod {namespace}/{name} after a failed submission");
        let deleted = api::call_raw(&self.kube, &self.retry, &operation, || {
            api::namespaced::<Pod>(namespace)
                .delete(name, &DeleteParams::default())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await;
        match deleted {
            Ok(_) => None,
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                log::error!("{e}");
                Some(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn applies_go_to_the_paths_of_their_kinds() {
        let table = [
            (
                json!({"apiVersion": "v1", "kind": "Pod"}),
                "/api/v1/namespaces/ns/pods/x",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service"}),
                "/api/v1/namespaces/ns/services/x",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap"}),
                "/api/v1/namespaces/ns/configmaps/x",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Secret"}),
                "/api/v1/namespaces/ns/secrets/x",
            ),
            (
                json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim"}),
                "/api/v1/namespaces/ns/persistentvolumeclaims/x",
            ),
            (
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}),
                "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/x",
            ),
        ];
        let params = PatchParams::apply(FIELD_MANAGER).force();
        for (mut value, path) in table {
            value["metadata"] = json!({"name": "x"});
            let object = match Object::from_json(value.clone()) {
                Some(Ok(o)) => o,
                other => panic!("{value}: {other:?}"),
            };
            let request = with_object!(&object, o => requests_for(&object, "ns").patch("x", &params, &Patch::Apply(o)));
            let request = request.unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(request.uri().path(), path);
            let query = request.uri().query().unwrap_or_default();
            assert!(
                query.contains("fieldManager=sparkube") && query.contains("force=true"),
                "{query}"
            );
            assert_eq!(
                request
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.as_bytes()),
                Some(&b"application/apply-patch+yaml"[..])
            );
        }
    }

    #[test]
    fn handle_from_pod_needs_the_app_id() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "d", "namespace": "n", "uid": "u",
                "labels": {"spark-app-selector": "spark-1", "sparkube.io/submission-id": "s-1"}}
        }))
        .unwrap_or_default();
        let handle = AppHandle::from_pod(&pod, true);
        assert_eq!(
            handle,
            Some(AppHandle {
                namespace: "n".into(),
                driver_pod: "d".into(),
                app_id: "spark-1".into(),
                submission_id: Some("s-1".into()),
                pod_uid: Some("u".into()),
                adopted: true,
                spark_ui: None,
            })
        );
        let mut other = pod.clone();
        other.metadata.labels = None;
        assert_eq!(AppHandle::from_pod(&other, false), None);
    }
}
