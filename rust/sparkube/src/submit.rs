//! Submitting: the same API calls, in the same order, as `spark-submit --deploy-mode cluster`.
//!
//! The driver pod is created with a POST; every other object (service, network policy,
//! config maps) is then server-side applied with an ownerReference to the driver pod, so that
//! deleting the pod removes everything. If anything fails after the pod exists, the pod is
//! deleted and the original error is returned. Submitting is idempotent by the label
//! `sparkube.io/submission-id`: a 409 on the pod adopts the existing pod when it carries the
//! same submission id, and fails clearly when it does not.

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::client::Client;
use crate::progress::SparkUi;

/// Label that identifies one submission across retries.
pub const SUBMISSION_ID_LABEL: &str = "sparkube.io/submission-id";
/// Label holding the Spark application id.
pub const APP_ID_LABEL: &str = "spark-app-selector";
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

/// The REST path of a namespaced object, for the kinds spark-submit creates.
pub fn object_path(api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<String> {
    let (prefix, plural) = match (api_version, kind) {
        ("v1", "Pod") => ("/api/v1", "pods"),
        ("v1", "Service") => ("/api/v1", "services"),
        ("v1", "ConfigMap") => ("/api/v1", "configmaps"),
        ("v1", "Secret") => ("/api/v1", "secrets"),
        ("v1", "PersistentVolumeClaim") => ("/api/v1", "persistentvolumeclaims"),
        ("networking.k8s.io/v1", "NetworkPolicy") => {
            ("/apis/networking.k8s.io/v1", "networkpolicies")
        }
        _ => return None,
    };
    Some(format!("{prefix}/namespaces/{namespace}/{plural}/{name}"))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Points every ownerReference to the driver pod at its uid, adding one when missing.
pub fn set_owner(object: &mut Value, pod_name: &str, pod_uid: &str) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let refs = meta
        .entry("ownerReferences")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(refs) = refs.as_array_mut() else {
        return;
    };
    let mut found = false;
    for r in refs.iter_mut() {
        if str_at(r, "/kind") == Some("Pod") && str_at(r, "/name") == Some(pod_name) {
            r["uid"] = json!(pod_uid);
            found = true;
        }
    }
    if !found {
        refs.push(json!({
            "apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid, "controller": true,
        }));
    }
}

impl Client {
    /// Submits what [`crate::build`] made: POSTs the driver pod, then applies the other objects.
    pub async fn submit(&self, resources: &crate::Resources) -> Result<AppHandle> {
        self.submit_objects(&resources.in_api_order()).await
    }

    /// Submits the objects of one application, given in API order (the driver pod and then the
    /// objects to apply, as `Resources::in_api_order` returns them). The namespace is the
    /// pod's, else the client's default.
    pub async fn submit_objects(&self, objects: &[Value]) -> Result<AppHandle> {
        let pod_index = objects
            .iter()
            .position(|o| str_at(o, "/kind") == Some("Pod"))
            .ok_or_else(|| SubmitError::Invalid("no driver pod among the objects".into()))?;
        let mut pod = objects[pod_index].clone();
        let name = str_at(&pod, "/metadata/name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SubmitError::Invalid("the driver pod has no name".into()))?
            .to_string();
        let namespace = self.ns(str_at(&pod, "/metadata/namespace")).to_string();
        pod["metadata"]["namespace"] = json!(namespace);
        let labels = pod.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let app_id = label(APP_ID_LABEL)
            .ok_or_else(|| {
                SubmitError::Invalid(format!("driver pod {name} has no {APP_ID_LABEL} label"))
            })?
            .to_string();
        let submission_id = label(SUBMISSION_ID_LABEL).map(str::to_string);

        let (uid, adopted) = self
            .create_driver_pod(&namespace, &name, &pod, &app_id, submission_id.as_deref())
            .await?;
        let handle = AppHandle {
            namespace: namespace.clone(),
            driver_pod: name.clone(),
            app_id,
            submission_id,
            pod_uid: Some(uid.clone()),
            adopted,
            spark_ui: objects
                .iter()
                .filter(|o| str_at(o, "/kind") == Some("Service"))
                .find_map(SparkUi::from_service_object),
        };

        for (index, object) in objects.iter().enumerate() {
            if index == pod_index {
                continue;
            }
            let mut object = object.clone();
            object["metadata"]["namespace"] = json!(namespace);
            set_owner(&mut object, &name, &uid);
            // An adopted driver already has its immutable config maps and secrets; their
            // content may differ in this attempt (the submit time), and the API server refuses
            // to change an immutable object.
            if adopted && object.get("immutable") == Some(&Value::Bool(true)) {
                match self.object_exists(&namespace, &object).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(source) => {
                        let cleanup = self.delete_after_failure(&namespace, &name).await;
                        return Err(SubmitError::Apply {
                            kind: str_at(&object, "/kind").unwrap_or_default().to_string(),
                            namespace,
                            name: str_at(&object, "/metadata/name")
                                .unwrap_or_default()
                                .to_string(),
                            pod: name,
                            source,
                            cleanup,
                        });
                    }
                }
            }
            if let Err((kind, obj_name, source)) = self.apply(&namespace, &object).await {
                let cleanup = self.delete_after_failure(&namespace, &name).await;
                return Err(SubmitError::Apply {
                    kind,
                    namespace,
                    name: obj_name,
                    pod: name,
                    source,
                    cleanup,
                });
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
        pod: &Value,
        app_id: &str,
        submission_id: Option<&str>,
    ) -> Result<(String, bool)> {
        let operation = format!("create driver pod {namespace}/{name}");
        let path = format!("/api/v1/namespaces/{namespace}/pods");
        let body = serde_json::to_vec(pod)
            .map_err(|e| SubmitError::Invalid(format!("driver pod {name}: {e}")))?;
        let created: api::Result<Pod> = api::call(&self.kube, &self.retry, &operation, || {
            http::Request::post(path.as_str())
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::ACCEPT, "application/json")
                .body(body.clone())
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
    async fn object_exists(&self, namespace: &str, object: &Value) -> api::Result<bool> {
        let kind = str_at(object, "/kind").unwrap_or_default();
        let name = str_at(object, "/metadata/name").unwrap_or_default();
        let api_version = str_at(object, "/apiVersion").unwrap_or_default();
        let operation = format!("get {kind} {namespace}/{name}");
        let Some(path) = object_path(api_version, kind, namespace, name) else {
            return Err(api::request_error(&operation, "unsupported object"));
        };
        match api::call_raw(&self.kube, &self.retry, &operation, || {
            api::get_request(&operation, &path, &[])
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Server-side applies one object (force, field manager `sparkube`).
    async fn apply(
        &self,
        namespace: &str,
        object: &Value,
    ) -> std::result::Result<(), (String, String, ApiError)> {
        let kind = str_at(object, "/kind").unwrap_or_default().to_string();
        let name = str_at(object, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        let api_version = str_at(object, "/apiVersion").unwrap_or_default();
        let operation = format!("apply {kind} {namespace}/{name}");
        let Some(path) =
            object_path(api_version, &kind, namespace, &name).filter(|_| !name.is_empty())
        else {
            let e = api::request_error(
                &operation,
                format!("unsupported object {api_version} {kind} or missing name"),
            );
            return Err((kind, name, e));
        };
        let uri = format!("{path}?fieldManager={FIELD_MANAGER}&force=true");
        let body = match serde_json::to_vec(object) {
            Ok(b) => b,
            Err(e) => return Err((kind, name, api::request_error(&operation, e))),
        };
        api::call_raw(&self.kube, &self.retry, &operation, || {
            http::Request::patch(uri.as_str())
                .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
                .header(http::header::ACCEPT, "application/json")
                .body(body.clone())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await
        .map(|_| ())
        .map_err(|e| (kind, name, e))
    }

    /// Deletes the driver pod after a failed submission; returns why that failed, if it did.
    async fn delete_after_failure(&self, namespace: &str, name: &str) -> Option<String> {
        let operation = format!("delete driver pod {namespace}/{name} after a failed submission");
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}");
        let deleted = api::call_raw(&self.kube, &self.retry, &operation, || {
            http::Request::delete(path.as_str())
                .header(http::header::ACCEPT, "application/json")
                .body(Vec::new())
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
    use super::*;

    #[test]
    fn paths_of_the_objects_spark_submit_creates() {
        let table = [
            ("v1", "Pod", Some("/api/v1/namespaces/ns/pods/x")),
            ("v1", "Service", Some("/api/v1/namespaces/ns/services/x")),
            (
                "v1",
                "ConfigMap",
                Some("/api/v1/namespaces/ns/configmaps/x"),
            ),
            (
                "networking.k8s.io/v1",
                "NetworkPolicy",
                Some("/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/x"),
            ),
            ("v1", "NetworkPolicy", None),
            ("apps/v1", "Deployment", None),
        ];
        for (api_version, kind, expected) in table {
            assert_eq!(
                object_path(api_version, kind, "ns", "x").as_deref(),
                expected,
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn owner_references_get_the_pod_uid() {
        let mut svc = json!({"kind": "Service", "metadata": {"name": "s", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "drv", "uid": "", "controller": true},
        ]}});
        set_owner(&mut svc, "drv", "uid-1");
        assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(
            svc["metadata"]["ownerReferences"].as_array().map(Vec::len),
            Some(1)
        );

        let mut cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}});
        set_owner(&mut cm, "drv", "uid-2");
        assert_eq!(cm["metadata"]["ownerReferences"][0]["name"], "drv");
        assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], "uid-2");
        assert_eq!(cm["metadata"]["ownerReferences"][0]["controller"], true);
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
