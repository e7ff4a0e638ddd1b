//! The resource builder: a [`SubmitRequest`] and [`Ids`] in, the Kubernetes objects
//! spark-submit 4.3.0 would send out ([`Resources`]). Pure: no I/O, no clock, no randomness.
//!
//! Like Spark's driver feature steps, each submodule owns one family of objects or pod
//! fields, and the steps run in Spark's order, so volumes, mounts and env vars come out in
//! the order spark-submit produces them:
//! basic driver pod ([`driver`]) → credentials → service → network policy → secrets →
//! user volumes → command → executor pod template → local dirs → driver ConfigMap.

pub mod config_map;
pub mod credentials;
pub mod driver;
pub mod labels;
pub mod local_dirs;
pub mod names;
pub mod network_policy;
pub mod secrets;
pub mod service;
pub mod template;
pub mod volumes;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use crate::conf::{SparkConf, keys};
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::request::SubmitRequest;

/// The Spark version spark-submit stamps on the driver (`spark-version` label).
pub const SPARK_VERSION: &str = "4.3.0";
/// The label sparkube adds to the driver pod to find a submission again.
pub const SUBMISSION_ID_LABEL: &str = "sparkube.io/submission-id";

/// The objects of one submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    /// The driver pod (created first; every other object is owned by it).
    pub driver_pod: Pod,
    /// The driver's Kubernetes credentials, when the conf gives any
    /// (`spark.kubernetes.authenticate.driver.{oauthToken,caCertFile,clientKeyFile,clientCertFile}`).
    pub credentials_secret: Option<Secret>,
    /// The headless driver service.
    pub service: Service,
    /// The NetworkPolicy letting only the app's own pods reach its executors.
    pub network_policy: NetworkPolicy,
    /// Claims for `persistentVolumeClaim` volumes with `storageClass` and `sizeLimit`.
    pub volume_claims: Vec<PersistentVolumeClaim>,
    /// The executor pod template, shipped to the driver, when one is given.
    pub executor_pod_template: Option<ConfigMap>,
    /// The driver ConfigMap holding `spark.properties`.
    pub driver_conf_map: ConfigMap,
}

impl Resources {
    /// Every object as JSON (with `apiVersion` and `kind`), in the order spark-submit sends
    /// them: pod, credentials secret, service, network policy, volume claims, executor template
    /// ConfigMap, driver ConfigMap. Objects after the pod carry an ownerReference to it whose
    /// uid is empty, to be filled in once the pod exists.
    pub fn in_api_order(&self) -> Vec<Value> {
        let mut out = vec![to_json(&self.driver_pod)];
        if let Some(secret) = &self.credentials_secret {
            out.push(to_json(secret));
        }
        out.push(to_json(&self.service));
        out.push(to_json(&self.network_policy));
        out.extend(self.volume_claims.iter().map(to_json));
        if let Some(template) = &self.executor_pod_template {
            out.push(to_json(template));
        }
        out.push(to_json(&self.driver_conf_map));
        out
    }

    /// A `v1` `List` whose items are [`Resources::in_api_order`].
    pub fn to_list(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": self.in_api_order()})
    }

    /// The driver pod's name.
    pub fn driver_pod_name(&self) -> &str {
        self.driver_pod.metadata.name.as_deref().unwrap_or_default()
    }
}

fn to_json<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The driver pod under construction: the pod and, apart, the container that will run the
/// driver (appended after the pod's other containers at the end), as in Spark's `SparkPod`.
#[derive(Debug, Clone, Default)]
pub struct SparkPod {
    /// The pod, without the driver container.
    pub pod: Pod,
    /// The driver container.
    pub container: Container,
}

/// What every step needs: the request, the ids, and the names derived from them.
#[derive(Debug)]
pub struct Context<'a> {
    /// The request.
    pub req: &'a SubmitRequest,
    /// The request's conf.
    pub conf: &'a SparkConf,
    /// The submission's ids.
    pub ids: &'a Ids,
    /// `spark.kubernetes.namespace`, default `default`.
    pub namespace: String,
    /// `spark.app.name`, default `spark`.
    pub app_name: String,
    /// `{app name}-{unique id}`, sanitised.
    pub prefix: String,
    /// The driver pod's name.
    pub driver_pod_name: String,
    /// Spark's driver labels (user labels then Spark's own), without sparkube's.
    pub driver_labels: Vec<(String, String)>,
    /// The submission id put on the driver pod.
    pub submission_id: String,
}

impl<'a> Context<'a> {
    /// Derives names and labels, refusing invalid ones.
    pub fn new(req: &'a SubmitRequest, ids: &'a Ids) -> Result<Self> {
        let conf = &req.conf;
        let namespace = conf.get_or(keys::NAMESPACE, "default").to_owned();
        if !names::is_dns_label(&namespace) {
            return Err(Error::invalid(
                keys::NAMESPACE,
                format!(
                    "{}={namespace:?} is not a valid namespace name (a DNS-1123 label)",
                    keys::NAMESPACE
                ),
            ));
        }
        let app_name = conf.get_or(keys::APP_NAME, "spark").to_owned();
        let prefix = names::resource_name_prefix(&app_name, &ids.pod_unique_id);
        let driver_pod_name = match conf.get(keys::DRIVER_POD_NAME) {
            Some(name) => {
                if !names::is_dns_subdomain(name) {
                    return Err(Error::invalid(
                        keys::DRIVER_POD_NAME,
                        format!(
                            "{}={name:?} is not a valid pod name: use lower-case letters, digits, \
                             '-' and '.', starting and ending with a letter or digit, at most 253 chars",
                            keys::DRIVER_POD_NAME
                        ),
                    ));
                }
                name.to_owned()
            }
            None => {
                let name = format!("{prefix}-driver");
                if !names::is_dns_subdomain(&name) {
                    return Err(Error::invalid(
                        keys::APP_NAME,
                        format!(
                            "the driver pod name {name} made from the application name is longer than 253 chars; use a shorter --name or set {}",
                            keys::DRIVER_POD_NAME
                        ),
                    ));
                }
                name
            }
        };
        let driver_labels = labels::driver_labels(conf, &ids.app_id, &app_name)?;
        let submission_id = req
            .submission_id
            .clone()
            .unwrap_or_else(|| ids.submission_id.clone());
        if !names::is_label_value(&submission_id) {
            return Err(Error::invalid(
                keys::SUBMISSION_ID,
                format!("submission id {submission_id:?} is not a valid label value"),
            ));
        }
        Ok(Context {
            req,
            conf,
            ids,
            namespace,
            app_name,
            prefix,
            driver_pod_name,
            driver_labels,
            submission_id,
        })
    }

    /// Metadata of an object the driver pod owns: name, namespace, and an ownerReference to
    /// the pod with an empty uid.
    pub fn owned_meta(&self, name: String) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Pod".to_owned(),
                name: self.driver_pod_name.clone(),
                uid: String::new(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        }
    }
}

/// Builds the objects spark-submit would send for `req`, with `ids` for every random part.
pub fn build(req: &SubmitRequest, ids: &Ids) -> Result<Resources> {
    let ctx = Context::new(req, ids)?;
    let mut props = SparkConf::new();

    let mut spark_pod = template::initial_driver_pod(&ctx)?;
    driver::configure(&ctx, &mut spark_pod, &mut props)?;
    let credentials_secret = credentials::configure(&ctx, &mut spark_pod, &mut props)?;
    let service = service::build(&ctx, &mut props)?;
    let network_policy = network_policy::build(&ctx);
    secrets::configure(&ctx, &mut spark_pod)?;
    let volume_claims = volumes::configure(&ctx, &mut spark_pod)?;
    driver::configure_command(&ctx, &mut spark_pod, &mut props);
    let executor_pod_template = template::executor_template(&ctx, &mut spark_pod, &mut props);
    local_dirs::configure(&ctx, &mut spark_pod);
    let driver_conf_map = config_map::configure(&ctx, &mut spark_pod, &props);

    labels::validate_pod_metadata(&spark_pod.pod)?;
    let SparkPod { mut pod, container } = spark_pod;
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.containers.push(container);

    Ok(Resources {
        driver_pod: pod,
        credentials_secret,
        service,
        network_policy,
        volume_claims,
        executor_pod_template,
        driver_conf_map,
    })
}
