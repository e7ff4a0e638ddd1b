//! Preflight: asks the API server about a submission before anything runs. Every object is
//! sent as the submission would send it, with `dryRun=All` (the driver pod with a POST, the
//! others with a server-side apply), so RBAC, admission webhooks, Pod Security, LimitRange
//! defaults and the quota on the driver all answer and nothing is stored. Then the namespace's
//! ResourceQuotas and LimitRanges are read once each and the whole app (driver plus its
//! executors, which the driver creates later and no dry run can ask about) is compared with
//! what they leave (see [`sparkube_core::preflight`]). One round trip per object plus two
//! reads.

use std::fmt;

use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use kube::api::{ListParams, ObjectList, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError};
use crate::build::Object;
use crate::client::Client;
use crate::submit::{FIELD_MANAGER, requests_for};
use sparkube_core::preflight as sums;
pub use sparkube_core::preflight::Check;
use sparkube_core::{SubmitRequest, with_object};

/// The owner uid of the objects sent after a driver pod whose dry run was refused: any
/// non-empty uid passes validation, and nothing is stored.
const PLACEHOLDER_UID: &str = "00000000-0000-0000-0000-000000000000";

/// What a preflight found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// The namespace the app would run in.
    pub namespace: String,
    /// Whether every check passed: the submission should go through and its executors fit.
    pub passed: bool,
    /// Every finding, objects first, then quotas and limit ranges.
    pub checks: Vec<Check>,
    /// API requests sent (retries of one request count once).
    pub round_trips: u32,
}

impl fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "preflight of namespace {}: {} ({} API requests)",
            self.namespace,
            if self.passed { "passed" } else { "FAILED" },
            self.round_trips
        )?;
        for c in &self.checks {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Why a preflight could not be done at all (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The conf cannot size the executors.
    #[error(transparent)]
    Invalid(#[from] sparkube_core::Error),
    /// The objects have no driver pod.
    #[error("cannot preflight: {0}")]
    NoDriver(String),
    /// An API call failed for another reason than a refusal (transport, timeout, 5xx).
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Result of a preflight.
pub type Result<T> = std::result::Result<T, PreflightError>;

/// The verb and resource an RBAC refusal names (`User "u" cannot create resource "pods"`).
fn rbac_refusal(message: &str) -> Option<(String, String)> {
    let rest = message.split(" cannot ").nth(1)?;
    let (verb, rest) = rest.split_once(" resource \"")?;
    let (resource, _) = rest.split_once('"')?;
    Some((verb.to_string(), resource.to_string()))
}

/// A check for an API refusal: RBAC names the missing verb; admission (quota, LimitRange,
/// Pod Security, webhooks) is quoted as the server said it.
fn refusal(subject: String, namespace: &str, error: &ApiError) -> Option<Check> {
    let code = error.status_code()?;
    if !(400..500).contains(&code) {
        return None;
    }
    let message = error.message();
    let text = match (code, rbac_refusal(&message)) {
        (403, Some((verb, resource))) => format!(
            "RBAC refuses the verb `{verb}` on {resource} in namespace {namespace} (a dry run is \
             authorized as the write itself): {message}"
        ),
        _ => format!("the API server refuses it ({code}): {message}"),
    };
    Some(Check {
        subject,
        passed: false,
        message: text,
    })
}

impl Client {
    /// Checks a submission without creating anything: dry runs of its objects, then the whole
    /// app against the namespace's quotas and limit ranges. `objects` are what `submit_objects`
    /// would send for `request`.
    pub async fn preflight(
        &self,
        request: &SubmitRequest,
        objects: &[Object],
    ) -> Result<PreflightReport> {
        let driver = objects
            .iter()
            .find_map(|o| match o {
                Object::Pod(p) => Some(p.clone()),
                _ => None,
            })
            .ok_or_else(|| PreflightError::NoDriver("no driver pod among the objects".into()))?;
        let namespace = self.ns(driver.metadata.namespace.as_deref()).to_string();
        let driver_name = driver.metadata.name.clone().unwrap_or_default();
        let mut checks = Vec::new();
        let mut round_trips = 0u32;

        let subject = format!("Pod {namespace}/{driver_name}");
        let operation = format!("dry-run create driver pod {namespace}/{driver_name}");
        let mut pod = driver.clone();
        pod.metadata.namespace = Some(namespace.clone());
        let body = serde_json::to_vec(&pod)
            .map_err(|e| PreflightError::NoDriver(format!("driver pod {driver_name}: {e}")))?;
        let params = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        round_trips += 1;
        let answered: api::Result<Pod> = api::call(&self.kube, &self.retry, &operation, || {
            api::namespaced::<Pod>(&namespace)
                .create(&params, body.clone())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await;
        let (driver_seen, uid) = match answered {
            Ok(p) => {
                checks.push(Check {
                    subject,
                    passed: true,
                    message: "accepted (dry run)".into(),
                });
                let uid = p.metadata.uid.clone();
                (p, uid)
            }
            Err(e) => {
                checks.push(refusal(subject, &namespace, &e).ok_or(e)?);
                (pod, None)
            }
        };
        let uid = uid.unwrap_or_else(|| PLACEHOLDER_UID.to_string());

        let mut apply = PatchParams::apply(FIELD_MANAGER).force();
        apply.dry_run = true;
        for object in objects.iter().filter(|o| !matches!(o, Object::Pod(_))) {
            let mut object = object.clone();
            object.meta_mut().namespace = Some(namespace.clone());
            object.set_owner(&driver_name, &uid);
            let subject = format!("{} {namespace}/{}", object.kind(), object.name());
            let operation = format!(
                "dry-run apply {} {namespace}/{}",
                object.kind(),
                object.name()
            );
            round_trips += 1;
            let answered = api::call_raw(&self.kube, &self.retry, &operation, || {
                let requests = requests_for(&object, &namespace);
                with_object!(&object, o => requests.patch(object.name(), &apply, &Patch::Apply(o)))
                    .map_err(|e| api::request_error(&operation, e))
            })
            .await;
            match answered {
                Ok(_) => checks.push(Check {
                    subject,
                    passed: true,
                    message: "accepted (dry run)".into(),
                }),
                Err(e) => checks.push(refusal(subject, &namespace, &e).ok_or(e)?),
            }
        }

        round_trips += 2;
        let quotas = self
            .list_all::<ResourceQuota>(&namespace, "ResourceQuotas")
            .await;
        let ranges = self.list_all::<LimitRange>(&namespace, "LimitRanges").await;
        let size = sums::executor_size(&request.conf, request.resource_type)?;
        let count = sums::executor_count(&request.conf)?;
        let ranges = match ranges {
            Ok(r) => r,
            Err(e) => {
                checks.push(refusal("LimitRange".into(), &namespace, &e).ok_or(e)?);
                Vec::new()
            }
        };
        let executor = sums::executor_usage(&size, &ranges);
        match quotas {
            Ok(quotas) => checks.extend(sums::check_quotas(
                &namespace,
                &quotas,
                &sums::pod_usage(&driver_seen),
                &executor,
                count,
            )),
            Err(e) => checks.push(refusal("ResourceQuota".into(), &namespace, &e).ok_or(e)?),
        }
        checks.extend(sums::check_limit_ranges(&ranges, &executor));
        Ok(PreflightReport {
            passed: checks.iter().all(|c| c.passed),
            namespace,
            checks,
            round_trips,
        })
    }

    /// Lists every object of a kind in `namespace` (one request).
    async fn list_all<K>(&self, namespace: &str, what: &str) -> api::Result<Vec<K>>
    where
        K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + Clone,
    {
        let operation = format!("list {what} in namespace {namespace}");
        let list: ObjectList<K> = api::call(&self.kube, &self.retry, &operation, || {
            api::namespaced::<K>(namespace)
                .list(&ListParams::default())
                .map_err(|e| api::request_error(&operation, e))
        })
        .await?;
        Ok(list.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_refusals_name_the_verb() {
        let table = [
            (
                "pods is forbidden: User \"system:serviceaccount:ns:sa\" cannot create resource \"pods\" in API group \"\" in the namespace \"ns\"",
                Some(("create", "pods")),
            ),
            (
                "resourcequotas is forbidden: User \"u\" cannot list resource \"resourcequotas\" in API group \"\" in the namespace \"ns\"",
                Some(("list", "resourcequotas")),
            ),
            (
                "pods \"d\" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1",
                None,
            ),
        ];
        for (message, want) in table {
            let got = rbac_refusal(message);
            assert_eq!(
                got.as_ref().map(|(v, r)| (v.as_str(), r.as_str())),
                want,
                "{message}"
            );
        }
    }
}
