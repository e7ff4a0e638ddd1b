//! The resource builder: a [`SubmitRequest`] and [`Ids`] in, the Kubernetes objects
//! spark-submit 4.3.0 would send out ([`Resources`]). Pure: no I/O, no clock, no randomness.
//!
//! Like Spark's driver feature steps, each submodule owns one family of objects or pod
//! fields, and the steps run in Spark's order, so volumes, mounts and env vars come out in
//! the order spark-submit produces them:
//! basic driver pod ([`driver`]) → credentials → service → network policy → secrets →
//! user volumes → command → Hadoop/Kerberos ConfigMaps → executor pod template → local dirs →
//! driver ConfigMap.

pub mod config_map;
pub mod credentials;
pub mod driver;
pub mod hadoop;
pub mod jvm_order;
pub mod labels;
pub mod local_dirs;
pub mod names;
pub mod network_policy;
mod object;
pub mod secrets;
pub mod service;
pub mod shipped_files;
pub mod template;
pub mod volcano;
pub mod volumes;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolumeClaim, Pod, Secret, Service, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use crate::conf::{SparkConf, keys};
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::request::SubmitRequest;

pub use object::Object;

/// The Spark version spark-submit stamps on the driver (`spark-version` label).
pub const SPARK_VERSION: &str = "4.3.0";
/// `spark.kubernetes.executor.podNamePrefix`: the executors' name prefix, checked here
/// because the driver would only refuse it once running.
const EXECUTOR_POD_NAME_PREFIX: &str = "spark.kubernetes.executor.podNamePrefix";
/// The label sparkube adds to the driver pod to find a submission again.
pub const SUBMISSION_ID_LABEL: &str = "sparkube.io/submission-id";

/// The objects of one submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    /// Volcano's PodGroup (created before the driver pod), with Volcano's feature step.
    pub pod_group: Option<volcano::PodGroup>,
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
    /// The local files shipped with the application, when there are any.
    pub local_files: Option<ConfigMap>,
    /// The driver ConfigMap holding `spark.properties`.
    pub driver_conf_map: ConfigMap,
}

impl Resources {
    /// Every object in the order spark-submit sends them: Volcano's PodGroup (the one object
    /// created before the pod, and applied again with its owner once the pod exists), pod,
    /// credentials secret, service, network policy, volume claims, executor template
    /// ConfigMap, local files ConfigMap, driver ConfigMap. Objects after the pod carry an
    /// ownerReference to it whose uid is empty, to be filled in once the pod exists.
    pub fn in_api_order(&self) -> Vec<Object> {
        let mut out: Vec<Object> = self
            .pod_group
            .clone()
            .map(Object::PodGroup)
            .into_iter()
            .collect();
        out.push(Object::Pod(self.driver_pod.clone()));
        out.extend(self.credentials_secret.clone().map(Object::Secret));
        out.push(Object::Service(self.service.clone()));
        out.push(Object::NetworkPolicy(self.network_policy.clone()));
        out.extend(
            self.volume_claims
                .iter()
                .cloned()
                .map(Object::PersistentVolumeClaim),
        );
        out.extend(self.executor_pod_template.clone().map(Object::ConfigMap));
        out.extend(self.local_files.clone().map(Object::ConfigMap));
        out.push(Object::ConfigMap(self.driver_conf_map.clone()));
        out
    }

    /// [`Resources::in_api_order`] as JSON, each object with `apiVersion` and `kind`.
    pub fn to_json(&self) -> serde_json::Result<Vec<Value>> {
        self.in_api_order().iter().map(Object::to_json).collect()
    }

    /// A `v1` `List` whose items are [`Resources::to_json`].
    pub fn to_list(&self) -> serde_json::Result<Value> {
        Ok(json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": self.to_json()?}))
    }

    /// The driver pod's name.
    pub fn driver_pod_name(&self) -> &str {
        self.driver_pod.metadata.name.as_deref().unwrap_or_default()
    }
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

impl SparkPod {
    /// Adds a volume to the pod and mounts it in the driver container.
    pub fn mount(&mut self, volume: Volume, mount: VolumeMount) {
        self.pod
            .spec
            .get_or_insert_with(Default::default)
            .volumes
            .get_or_insert_with(Vec::new)
            .push(volume);
        self.container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(mount);
    }
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
        if !app_name.chars().any(|c| c.is_ascii_alphanumeric()) {
            // Spark would name every object after the unique id alone.
            return Err(Error::invalid(
                keys::APP_NAME,
                format!(
                    "the application name {app_name:?} ({} / --name) has no letter or digit \
                     to name the driver pod and its objects after",
                    keys::APP_NAME
                ),
            ));
        }
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
        if let Some(exec_prefix) = conf.get(EXECUTOR_POD_NAME_PREFIX) {
            let valid = exec_prefix.len() <= 237
                && exec_prefix.starts_with(|c: char| c.is_ascii_lowercase())
                && names::is_dns_subdomain(exec_prefix)
                && !exec_prefix.contains('.');
            if !valid {
                return Err(Error::invalid(
                    EXECUTOR_POD_NAME_PREFIX,
                    format!(
                        "'{exec_prefix}' in {EXECUTOR_POD_NAME_PREFIX} is invalid. must conform \
                         https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names \
                         and the value length <= 237"
                    ),
                ));
            }
        }
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

    /// How many entries spark-submit's conf holds when its feature steps read it: the
    /// request's conf and `spark.app.submitTime`. The order in which Spark lists prefixed
    /// entries depends on it ([`jvm_order`]).
    pub fn jvm_conf_entries(&self) -> usize {
        self.conf.len() + usize::from(self.conf.get(keys::APP_SUBMIT_TIME).is_none())
    }

    /// `spark.kubernetes.*` entries under `prefix` as `(rest of the key, value)`, in the order
    /// spark-submit iterates them (`KubernetesUtils.parsePrefixedKeyValuePairs`).
    pub fn prefixed_pairs(&self, prefix: &str) -> Vec<(&'a str, &'a str)> {
        jvm_order::prefixed_pairs(self.conf, prefix, self.jvm_conf_entries())
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
/// Errors never quote the value of a secret-looking conf key.
pub fn build(req: &SubmitRequest, ids: &Ids) -> Result<Resources> {
    build_objects(req, ids).map_err(|e| e.redact_values(&req.conf))
}

fn build_objects(req: &SubmitRequest, ids: &Ids) -> Result<Resources> {
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
    hadoop::configure(&ctx, &mut spark_pod, &mut props)?;
    let executor_pod_template = template::executor_template(&ctx, &mut spark_pod, &mut props);
    local_dirs::configure(&ctx, &mut spark_pod);
    let local_files = shipped_files::configure(&ctx, &mut spark_pod);
    // User feature steps run after Spark's own.
    let pod_group = volcano::configure(&ctx, &mut spark_pod);
    let driver_conf_map = config_map::configure(&ctx, &mut spark_pod, &props);

    labels::validate_pod_metadata(&spark_pod.pod)?;
    let SparkPod { mut pod, container } = spark_pod;
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.containers.push(container);

    let resources = Resources {
        pod_group,
        driver_pod: pod,
        credentials_secret,
        service,
        network_policy,
        volume_claims,
        executor_pod_template,
        local_files,
        driver_conf_map,
    };
    check_names_from_prefix(&ctx, &resources)?;
    Ok(resources)
}

/// Refuses names made from the resource prefix that Kubernetes would refuse: the prefix is as
/// long as the application name, and the longest suffixes (`-driver-podspec-conf-map`,
/// `-kubernetes-credentials`, `-driver-pvc-N`) can take a name that fits the driver pod past
/// 253 characters. Spark sends them and the API server refuses the object halfway through.
fn check_names_from_prefix(ctx: &Context<'_>, res: &Resources) -> Result<()> {
    let name = |meta: &ObjectMeta| meta.name.clone().unwrap_or_default();
    let mut derived = vec![
        ("NetworkPolicy", name(&res.network_policy.metadata)),
        ("ConfigMap", name(&res.driver_conf_map.metadata)),
    ];
    if let Some(secret) = &res.credentials_secret {
        derived.push(("Secret", name(&secret.metadata)));
    }
    if let Some(template) = &res.executor_pod_template {
        derived.push(("ConfigMap", name(&template.metadata)));
    }
    derived.extend(
        res.volume_claims
            .iter()
            .map(|c| ("PersistentVolumeClaim", name(&c.metadata))),
    );
    let volumes = res
        .driver_pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref());
    derived.extend(
        volumes
            .into_iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|claim| ("PersistentVolumeClaim", claim.claim_name.clone())),
    );
    for (kind, object) in derived {
        if object.starts_with(&ctx.prefix) && !names::is_dns_subdomain(&object) {
            return Err(Error::invalid(
                keys::APP_NAME,
                format!(
                    "the {kind} name {object} made from the application name is longer than \
                     253 chars; use a shorter --name"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::conf::parse_properties;
    use crate::request::testing::{FakeEnv, request};

    const IMAGE: &str = "spark.kubernetes.container.image=spark:4.3.0";

    fn objects(req: &SubmitRequest) -> Vec<Value> {
        match build(req, &Ids::seeded(1)) {
            Ok(resources) => match resources.to_json() {
                Ok(objects) => objects,
                Err(err) => panic!("objects are not JSON: {err}"),
            },
            Err(err) => panic!("build failed: {err}"),
        }
    }

    fn render(args: &[&str]) -> Vec<Value> {
        objects(&request(args))
    }

    fn kinds(objects: &[Value]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or_default())
            .collect()
    }

    fn container(pod: &Value) -> &Value {
        pod.pointer("/spec/containers")
            .and_then(Value::as_array)
            .and_then(|c| c.last())
            .unwrap_or(&Value::Null)
    }

    fn env_names(pod: &Value) -> Vec<&str> {
        container(pod)["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .collect()
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .collect()
    }

    fn properties(objects: &[Value]) -> Vec<(String, String)> {
        let cm = objects.last().unwrap_or(&Value::Null);
        parse_properties(
            cm.pointer("/data/spark.properties")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    }

    fn property<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn jvm_pi_matches_spark_submit() {
        let ids = Ids::seeded(1);
        let prefix = format!("spark-pi-{}", ids.pod_unique_id);
        let objects = render(&[
            "--master",
            "k8s://https://h:443",
            "--name",
            "spark-pi",
            "--class",
            "org.apache.spark.examples.SparkPi",
            "--conf",
            IMAGE,
            "local:///opt/spark/examples/jars/spark-examples.jar",
            "100",
        ]);
        assert_eq!(
            kinds(&objects),
            vec!["Pod", "Service", "NetworkPolicy", "ConfigMap"]
        );
        let pod = &objects[0];
        assert_eq!(pod["metadata"]["name"], json!(format!("{prefix}-driver")));
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"spark-version": "4.3.0", "spark-app-selector": ids.app_id, "spark-app-name": "spark-pi",
                   "spark-role": "driver", "sparkube.io/submission-id": ids.submission_id})
        );
        let local_dir = format!("/var/data/spark-{}", ids.local_dir_uuid);
        let conf_map = format!("spark-drv-{}-conf-map", ids.conf_map_unique_id);
        assert_eq!(
            pod["spec"],
            json!({
                "containers": [{
                    "args": ["driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class",
                             "org.apache.spark.examples.SparkPi", "local:///opt/spark/examples/jars/spark-examples.jar", "100"],
                    "env": [
                        {"name": "SPARK_USER", "value": "spark"},
                        {"name": "SPARK_APPLICATION_ID", "value": ids.app_id},
                        {"name": "SPARK_DRIVER_BIND_ADDRESS", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                        {"name": "SPARK_LOCAL_DIRS", "value": local_dir},
                        {"name": "SPARK_CONF_DIR", "value": "/opt/spark/conf"}
                    ],
                    "image": "spark:4.3.0",
                    "imagePullPolicy": "IfNotPresent",
                    "name": "spark-kubernetes-driver",
                    "ports": [
                        {"containerPort": 7078, "name": "driver-rpc-port", "protocol": "TCP"},
                        {"containerPort": 7079, "name": "blockmanager", "protocol": "TCP"},
                        {"containerPort": 4040, "name": "spark-ui", "protocol": "TCP"},
                        {"containerPort": 15002, "name": "spark-connect", "protocol": "TCP"}
                    ],
                    "resources": {"limits": {"memory": "1408Mi"}, "requests": {"cpu": "1", "memory": "1408Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": false},
                    "volumeMounts": [
                        {"mountPath": local_dir, "name": "spark-local-dir-1"},
                        {"mountPath": "/opt/spark/conf", "name": "spark-conf-volume-driver"}
                    ]
                }],
                "restartPolicy": "Never",
                "volumes": [
                    {"emptyDir": {}, "name": "spark-local-dir-1"},
                    {"configMap": {"items": [{"key": "spark.properties", "mode": 420, "path": "spark.properties"}], "name": conf_map},
                     "name": "spark-conf-volume-driver"}
                ]
            })
        );
        let owner = json!([{"apiVersion": "v1", "kind": "Pod", "controller": true, "name": format!("{prefix}-driver"), "uid": ""}]);
        let service = &objects[1];
        assert_eq!(
            service["metadata"]["name"],
            json!(format!("{prefix}-driver-svc"))
        );
        assert_eq!(service["metadata"]["ownerReferences"], owner);
        assert_eq!(service["spec"]["clusterIP"], json!("None"));
        assert_eq!(service["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(service["spec"]["ipFamilyPolicy"], json!("SingleStack"));
        assert_eq!(
            service["spec"]["ports"][3],
            json!({"appProtocol": "grpc", "name": "spark-connect", "port": 15002, "targetPort": 15002})
        );
        assert_eq!(service["spec"]["selector"]["spark-role"], json!("driver"));
        assert!(
            service["spec"]["selector"]
                .get("sparkube.io/submission-id")
                .is_none()
        );
        let policy = &objects[2];
        assert_eq!(
            policy["metadata"]["name"],
            json!(format!("{prefix}-policy"))
        );
        assert_eq!(
            policy["spec"],
            json!({"ingress": [{"from": [{"podSelector": {"matchLabels": {"spark-app-selector": ids.app_id}}}]}],
                   "podSelector": {"matchLabels": {"spark-role": "executor", "spark-app-selector": ids.app_id}}})
        );
        let cm = &objects[3];
        assert_eq!(cm["metadata"]["name"], json!(conf_map));
        assert_eq!(cm["immutable"], json!(true));
        assert_eq!(cm["data"]["spark.kubernetes.namespace"], json!("default"));
        let props = properties(&objects);
        let expected = [
            ("spark.master", "k8s://https://h:443"),
            ("spark.app.name", "spark-pi"),
            ("spark.submit.deployMode", "cluster"),
            ("spark.submit.pyFiles", ""),
            (
                "spark.jars",
                "local:///opt/spark/examples/jars/spark-examples.jar",
            ),
            ("spark.app.id", &ids.app_id),
            ("spark.app.submitTime", &ids.submit_time_millis.to_string()),
            (
                "spark.kubernetes.driver.pod.name",
                &format!("{prefix}-driver"),
            ),
            ("spark.kubernetes.submitInDriver", "true"),
            ("spark.kubernetes.memoryOverheadFactor", "0.1"),
            ("spark.kubernetes.resource.type", "java"),
            (
                "spark.driver.host",
                &format!("{prefix}-driver-svc.default.svc"),
            ),
            ("spark.driver.port", "7078"),
            ("spark.driver.blockManager.port", "7079"),
            ("spark.kubernetes.container.image", "spark:4.3.0"),
        ];
        for (key, value) in expected {
            assert_eq!(property(&props, key), Some(value), "{key}");
        }
        assert_eq!(props.len(), expected.len(), "{props:?}");
    }

    #[test]
    fn every_object_carries_the_namespace_and_the_list_wraps_them() -> Result<()> {
        let resources = build(
            &request(&[
                "--conf",
                IMAGE,
                "--conf",
                "spark.kubernetes.namespace=jobs",
                "local:///a.py",
            ]),
            &Ids::seeded(2),
        )?;
        let list = resources
            .to_list()
            .map_err(|e| Error::invalid("list", e.to_string()))?;
        assert_eq!(list["kind"], json!("List"));
        let items = list["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 4);
        for item in &items {
            assert_eq!(
                item["metadata"]["namespace"],
                json!("jobs"),
                "{}",
                item["kind"]
            );
        }
        assert_eq!(
            items[3]["data"]["spark.kubernetes.namespace"],
            json!("jobs")
        );
        Ok(())
    }

    #[test]
    fn python_app_runner_overhead_and_deps() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--name",
            "ETL_job.v2 (daily)",
            "--py-files",
            "local:///a.py,local:///b.zip",
            "--files",
            "local:///f.txt",
            "--archives",
            "local:///ar.tgz#ar",
            "local:///opt/app/main.py",
            "arg1",
            "--arg2",
        ]);
        let pod = &objects[0];
        let args = &container(pod)["args"];
        assert_eq!(
            args,
            &json!([
                "driver",
                "--properties-file",
                "/opt/spark/conf/spark.properties",
                "--class",
                "org.apache.spark.deploy.PythonRunner",
                "local:///opt/app/main.py",
                "arg1",
                "--arg2"
            ])
        );
        assert_eq!(
            container(pod)["resources"]["limits"]["memory"],
            json!("1433Mi")
        );
        assert!(
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("etl-job-v2-daily-")
        );
        assert_eq!(
            pod["metadata"]["labels"]["spark-app-name"],
            json!("etl-job-v2-daily")
        );
        let props = properties(&objects);
        assert_eq!(
            property(&props, "spark.submit.pyFiles"),
            Some("local:///a.py,local:///b.zip")
        );
        assert_eq!(property(&props, "spark.files"), Some("local:///f.txt"));
        assert_eq!(
            property(&props, "spark.archives"),
            Some("local:///ar.tgz#ar")
        );
        assert_eq!(property(&props, "spark.jars"), None);
        assert_eq!(
            property(&props, "spark.kubernetes.resource.type"),
            Some("python")
        );
        assert_eq!(
            property(&props, "spark.kubernetes.memoryOverheadFactor"),
            Some("0.4")
        );
    }

    #[test]
    fn r_app_and_proxy_user() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--proxy-user",
            "alice",
            "local:///opt/app/main.R",
            "x",
        ]);
        let c = container(&objects[0]);
        assert_eq!(
            c["args"],
            json!([
                "driver",
                "--proxy-user",
                "alice",
                "--properties-file",
                "/opt/spark/conf/spark.properties",
                "--class",
                "org.apache.spark.deploy.RRunner",
                "local:///opt/app/main.R",
                "x"
            ])
        );
        assert_eq!(c["env"][0], json!({"name": "SPARK_USER", "value": "alice"}));
        assert_eq!(
            property(&properties(&objects), "spark.kubernetes.resource.type"),
            Some("r")
        );
    }

    #[test]
    fn the_full_driver_conf() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--name",
            "full-app",
            "--driver-memory",
            "4g",
            "--driver-cores",
            "2",
            "--conf",
            "spark.kubernetes.namespace=ns1",
            "--conf",
            "spark.kubernetes.driver.label.team=data",
            "--conf",
            "spark.kubernetes.driver.label.app={{APP_ID}}",
            "--conf",
            "spark.kubernetes.driver.annotation.id={{APP_ID}}",
            "--conf",
            "spark.kubernetes.driverEnv.ZED=1",
            "--conf",
            "spark.kubernetes.driverEnv.ALPHA=2",
            "--conf",
            "spark.kubernetes.driver.secretKeyRef.DB_PASS=dbsecret:password",
            "--conf",
            "spark.kubernetes.driver.secrets.mysecret=/etc/mysecret",
            "--conf",
            "spark.kubernetes.node.selector.disk=ssd",
            "--conf",
            "spark.kubernetes.driver.node.selector.disk=nvme",
            "--conf",
            "spark.kubernetes.driver.node.selector.zone=z1",
            "--conf",
            "spark.kubernetes.container.image.pullSecrets=reg1, reg2",
            "--conf",
            "spark.kubernetes.container.image.pullPolicy=Always",
            "--conf",
            "spark.kubernetes.scheduler.name=generic",
            "--conf",
            "spark.kubernetes.driver.scheduler.name=volcano",
            "--conf",
            "spark.kubernetes.authenticate.driver.serviceAccountName=spark-sa",
            "--conf",
            "spark.kubernetes.driver.request.cores=500m",
            "--conf",
            "spark.kubernetes.driver.limit.cores=3",
            "--conf",
            "spark.driver.resource.gpu.amount=1",
            "--conf",
            "spark.driver.resource.gpu.vendor=nvidia.com",
            "--conf",
            "spark.driver.port=7000",
            "--conf",
            "spark.ui.port=4444",
            "--conf",
            "spark.connect.grpc.binding.port=15010",
            "--conf",
            "spark.kubernetes.driver.service.label.svc=yes",
            "--conf",
            "spark.kubernetes.driver.service.annotation.sann=1",
            "--conf",
            "spark.kubernetes.driver.service.ipFamilyPolicy=PreferDualStack",
            "--conf",
            "spark.kubernetes.driver.service.ipFamilies=IPv6,IPv4",
            "--conf",
            "spark.kubernetes.local.dirs.tmpfs=true",
            "--conf",
            "spark.local.dir=/tmp/a,/tmp/b",
            "--conf",
            "spark.kubernetes.authenticate.submission.oauthToken=SUBTOK",
            "--class",
            "com.example.Main",
            "local:///opt/app.jar",
        ]);
        let ids = Ids::seeded(1);
        let pod = &objects[0];
        let c = container(pod);
        assert_eq!(pod["metadata"]["labels"]["team"], json!("data"));
        assert_eq!(pod["metadata"]["labels"]["app"], json!(ids.app_id));
        assert_eq!(pod["metadata"]["annotations"], json!({"id": ids.app_id}));
        assert_eq!(
            env_names(pod),
            vec![
                "SPARK_USER",
                "SPARK_APPLICATION_ID",
                "ZED",
                "ALPHA",
                "SPARK_DRIVER_BIND_ADDRESS",
                "DB_PASS",
                "SPARK_LOCAL_DIRS",
                "SPARK_CONF_DIR"
            ]
        );
        assert_eq!(
            c["env"][5],
            json!({"name": "DB_PASS", "valueFrom": {"secretKeyRef": {"key": "password", "name": "dbsecret"}}})
        );
        assert_eq!(
            c["env"][6],
            json!({"name": "SPARK_LOCAL_DIRS", "value": "/tmp/a,/tmp/b"})
        );
        assert_eq!(c["image"], json!("spark:4.3.0"));
        assert_eq!(c["imagePullPolicy"], json!("Always"));
        assert_eq!(
            c["resources"],
            json!({"limits": {"cpu": "3", "memory": "4505Mi", "nvidia.com/gpu": "1"},
            "requests": {"cpu": "500m", "memory": "4505Mi"}})
        );
        assert_eq!(c["ports"][0]["containerPort"], json!(7000));
        assert_eq!(c["ports"][2]["containerPort"], json!(4444));
        assert_eq!(c["ports"][3]["containerPort"], json!(15010));
        let spec = &pod["spec"];
        assert_eq!(spec["nodeSelector"], json!({"disk": "nvme", "zone": "z1"}));
        assert_eq!(
            spec["imagePullSecrets"],
            json!([{"name": "reg1"}, {"name": "reg2"}])
        );
        assert_eq!(spec["schedulerName"], json!("volcano"));
        assert_eq!(spec["serviceAccount"], json!("spark-sa"));
        assert_eq!(spec["serviceAccountName"], json!("spark-sa"));
        assert_eq!(
            names(&spec["volumes"]),
            vec![
                "mysecret-volume",
                "spark-local-dir-1",
                "spark-local-dir-2",
                "spark-conf-volume-driver"
            ]
        );
        assert_eq!(
            spec["volumes"][0],
            json!({"name": "mysecret-volume", "secret": {"secretName": "mysecret"}})
        );
        assert_eq!(
            spec["volumes"][1],
            json!({"emptyDir": {"medium": "Memory"}, "name": "spark-local-dir-1"})
        );
        assert_eq!(
            c["volumeMounts"][0],
            json!({"mountPath": "/etc/mysecret", "name": "mysecret-volume"})
        );
        let service = &objects[1];
        assert_eq!(
            service["metadata"]["labels"],
            json!({"spark-app-selector": ids.app_id, "svc": "yes"})
        );
        assert_eq!(service["metadata"]["annotations"], json!({"sann": "1"}));
        assert_eq!(service["spec"]["ipFamilies"], json!(["IPv6", "IPv4"]));
        assert_eq!(service["spec"]["ipFamilyPolicy"], json!("PreferDualStack"));
        assert_eq!(
            service["spec"]["ports"][0],
            json!({"name": "driver-rpc-port", "port": 7000, "targetPort": 7000})
        );
        let props = properties(&objects);
        assert_eq!(
            property(
                &props,
                "spark.kubernetes.authenticate.submission.oauthToken"
            ),
            Some("<present_but_redacted>")
        );
        assert_eq!(property(&props, "spark.driver.port"), Some("7000"));
        assert!(
            property(&props, "spark.driver.host")
                .unwrap_or_default()
                .ends_with("-driver-svc.ns1.svc")
        );
    }

    #[test]
    fn long_names_fall_back_for_the_service_only() {
        let ids = Ids::seeded(1);
        let objects = render(&[
            "--conf",
            IMAGE,
            "--name",
            "this-is-a-very-long-application-name-that-goes-on-and-on",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let prefix = format!(
            "this-is-a-very-long-application-name-that-goes-on-and-on-{}",
            ids.pod_unique_id
        );
        assert_eq!(
            objects[0]["metadata"]["name"],
            json!(format!("{prefix}-driver"))
        );
        assert_eq!(
            objects[1]["metadata"]["name"],
            json!(format!("spark-{}-driver-svc", ids.service_unique_id))
        );
        assert_eq!(
            objects[2]["metadata"]["name"],
            json!(format!("{prefix}-policy"))
        );
        let host = format!("spark-{}-driver-svc.default.svc", ids.service_unique_id);
        assert_eq!(
            property(&properties(&objects), "spark.driver.host"),
            Some(host.as_str())
        );
    }

    #[test]
    fn names_from_a_long_app_name_that_outgrow_253_chars_are_refused() {
        // 16-char unique id: the prefix is 230 chars, the driver pod 237, the policy 237, but
        // the executor template ConfigMap 254.
        let name = "a".repeat(230 - 17);
        let env = FakeEnv::default().file("/e.yaml", "apiVersion: v1\nkind: Pod\n");
        let args = |template: bool| {
            let mut args = vec!["--conf", IMAGE, "--name", &name];
            if template {
                args.extend([
                    "--conf",
                    "spark.kubernetes.executor.podTemplateFile=/e.yaml",
                ]);
            }
            args.extend(["--class", "X", "local:///a.jar"]);
            args
        };
        let without = env
            .resolve(&args(false))
            .and_then(|r| build(&r, &Ids::seeded(1)));
        assert!(without.is_ok(), "{without:?}");
        let with = env
            .resolve(&args(true))
            .and_then(|r| build(&r, &Ids::seeded(1)));
        match with {
            Err(err) => {
                assert_eq!(err.option(), "spark.app.name");
                assert!(
                    err.to_string().starts_with("the ConfigMap name aaaa"),
                    "{err}"
                );
                assert!(
                    err.to_string()
                        .contains("-driver-podspec-conf-map made from")
                );
            }
            Ok(_) => panic!("a 254-char ConfigMap name was built"),
        }
        // a driver pod name of one's own does not shorten the other names
        let long = "b".repeat(260);
        let override_pod = env
            .resolve(&[
                "--conf",
                IMAGE,
                "--name",
                &long,
                "--conf",
                "spark.kubernetes.driver.pod.name=short-driver",
                "--class",
                "X",
                "local:///a.jar",
            ])
            .and_then(|r| build(&r, &Ids::seeded(1)));
        assert!(
            override_pod.is_err_and(|e| e.to_string().starts_with("the NetworkPolicy name bbbb"))
        );
    }

    #[test]
    fn service_annotations_keep_app_id_placeholders_as_spark_does() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.service.annotation.a={{APP_ID}}",
            "--conf",
            "spark.kubernetes.driver.annotation.a={{APP_ID}}",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        assert_eq!(
            objects[1]["metadata"]["annotations"],
            json!({"a": "{{APP_ID}}"})
        );
        assert_eq!(
            objects[0]["metadata"]["annotations"],
            json!({"a": Ids::seeded(1).app_id})
        );
    }

    #[test]
    fn hadoop_and_krb5_config_maps_are_mounted() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.hadoop.configMapName=hcm",
            "--conf",
            "spark.kubernetes.kerberos.krb5.configMapName=kcm",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let pod = &objects[0];
        assert_eq!(
            pod["spec"]["volumes"][0],
            json!({"configMap": {"name": "hcm"}, "name": "hadoop-properties"})
        );
        assert_eq!(
            pod["spec"]["volumes"][1],
            json!({"configMap": {"name": "kcm"}, "name": "krb5-file"})
        );
        let c = container(pod);
        assert_eq!(
            c["volumeMounts"][0],
            json!({"mountPath": "/opt/hadoop/conf", "name": "hadoop-properties"})
        );
        assert_eq!(
            c["volumeMounts"][1],
            json!({"mountPath": "/etc/krb5.conf", "name": "krb5-file", "subPath": "krb5.conf"})
        );
        assert_eq!(env_names(pod)[3], "HADOOP_CONF_DIR");
        assert_eq!(
            property(
                &properties(&objects),
                "spark.kubernetes.executor.hadoopConfigMapName"
            ),
            Some("hcm")
        );
    }

    #[test]
    fn kerberos_token_secret_is_mounted_as_spark_submit_does() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.kerberos.krb5.configMapName=kcm",
            "--conf",
            "spark.kubernetes.kerberos.tokenSecret.name=tok",
            "--conf",
            "spark.kubernetes.kerberos.tokenSecret.itemKey=dt",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let pod = &objects[0];
        assert_eq!(
            names(&pod["spec"]["volumes"]),
            [
                "krb5-file",
                "hadoop-secret",
                "spark-local-dir-1",
                "spark-conf-volume-driver"
            ]
        );
        assert_eq!(
            pod["spec"]["volumes"][1],
            json!({"name": "hadoop-secret", "secret": {"secretName": "tok"}})
        );
        assert_eq!(
            container(pod)["volumeMounts"][1],
            json!({"mountPath": "/mnt/secrets/hadoop-credentials", "name": "hadoop-secret"})
        );
        let env = &container(pod)["env"];
        let token = env
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == "HADOOP_TOKEN_FILE_LOCATION");
        assert_eq!(
            token.map(|e| &e["value"]),
            Some(&json!("/mnt/secrets/hadoop-credentials/dt"))
        );
        assert_eq!(
            env_names(pod)[3..5],
            ["HADOOP_TOKEN_FILE_LOCATION", "SPARK_LOCAL_DIRS"]
        );
    }

    fn pod_name(objects: &[Value]) -> &str {
        objects
            .iter()
            .find(|o| o["kind"] == "Pod")
            .and_then(|p| p["metadata"]["name"].as_str())
            .unwrap_or_default()
    }

    #[test]
    fn volcano_pod_group_comes_first_and_names_the_app() -> Result<()> {
        let env = FakeEnv::default().file(
            "/pg.yaml",
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\nmetadata:\n  name: ignored\nspec:\n  queue: q1\n  minMember: 1\n",
        );
        let req = env.resolve(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.pod.featureSteps=org.apache.spark.deploy.k8s.features.VolcanoFeatureStep",
            "--conf",
            "spark.kubernetes.scheduler.volcano.podGroupTemplateFile=/pg.yaml",
            "--conf",
            "spark.kubernetes.scheduler.name=volcano",
            "--class",
            "X",
            "local:///a.jar",
        ])?;
        let ids = Ids::seeded(1);
        let objects = objects(&req);
        assert_eq!(kinds(&objects)[..2], ["PodGroup", "Pod"]);
        let group_name = format!("{}-podgroup", ids.app_id);
        assert_eq!(
            objects[0],
            json!({
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {
                    "name": group_name,
                    "namespace": "default",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "controller": true, "name": pod_name(&objects), "uid": ""}],
                },
                "spec": {"queue": "q1", "minMember": 1},
            })
        );
        let pod = &objects[1];
        assert_eq!(
            pod["metadata"]["annotations"]["scheduling.k8s.io/group-name"],
            json!(group_name)
        );
        assert_eq!(pod["spec"]["schedulerName"], json!("volcano"));
        // The executors' step runs in the driver: the keys reach it.
        let props = properties(&objects);
        assert!(property(&props, "spark.kubernetes.driver.pod.featureSteps").is_some());
        // Without a template the group's spec is empty; the inline JSON is read too.
        let inline = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.pod.featureSteps=org.apache.spark.deploy.k8s.features.VolcanoFeatureStep",
            "--conf",
            r#"spark.kubernetes.scheduler.volcano.podGroupTemplateJson={"spec": {"queue": "q2"}}"#,
            "--class",
            "X",
            "local:///a.jar",
        ]);
        assert_eq!(inline[0]["spec"], json!({"queue": "q2"}));
        Ok(())
    }

    #[test]
    fn privilege_escalation_and_not_ready_addresses_follow_the_conf() {
        let table = [
            (&[][..], false, false),
            (
                &["spark.kubernetes.securityContext.allowPrivilegeEscalation=TRUE"][..],
                true,
                false,
            ),
            (
                &[
                    "spark.kubernetes.securityContext.allowPrivilegeEscalation=true",
                    "spark.kubernetes.driver.securityContext.allowPrivilegeEscalation=false",
                    "spark.kubernetes.driver.service.publishNotReadyAddresses=true",
                ][..],
                false,
                true,
            ),
        ];
        for (confs, escalation, not_ready) in table {
            let mut args = vec!["--conf", IMAGE];
            for c in confs {
                args.extend(["--conf", c]);
            }
            args.extend(["--class", "X", "local:///a.jar"]);
            let objects = render(&args);
            assert_eq!(
                container(&objects[0])["securityContext"]["allowPrivilegeEscalation"],
                json!(escalation),
                "{confs:?}"
            );
            assert_eq!(
                objects[1]["spec"]["publishNotReadyAddresses"],
                json!(not_ready),
                "{confs:?}"
            );
        }
    }

    #[test]
    fn driver_pod_name_override() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.pod.name=my-driver",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        assert_eq!(objects[0]["metadata"]["name"], json!("my-driver"));
        assert_eq!(
            objects[1]["metadata"]["ownerReferences"][0]["name"],
            json!("my-driver")
        );
        assert_eq!(
            property(&properties(&objects), "spark.kubernetes.driver.pod.name"),
            Some("my-driver")
        );
    }

    #[test]
    fn user_volumes_of_every_kind_and_on_demand_claims() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.volumes.hostPath.hp.mount.path=/hp",
            "--conf",
            "spark.kubernetes.driver.volumes.hostPath.hp.options.path=/host",
            "--conf",
            "spark.kubernetes.driver.volumes.emptyDir.ed.mount.path=/ed",
            "--conf",
            "spark.kubernetes.driver.volumes.emptyDir.ed.options.sizeLimit=1Gi",
            "--conf",
            "spark.kubernetes.driver.volumes.nfs.nf.mount.path=/nfs",
            "--conf",
            "spark.kubernetes.driver.volumes.nfs.nf.options.server=nfs.example.com",
            "--conf",
            "spark.kubernetes.driver.volumes.nfs.nf.options.path=/export",
            "--conf",
            "spark.kubernetes.driver.volumes.nfs.nf.mount.readOnly=true",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.mount.path=/data",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.mount.subPathExpr=$(POD)",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.options.claimName=OnDemand",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.options.storageClass=gp2",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.data.options.sizeLimit=5Gi",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.old.mount.path=/old",
            "--conf",
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.old.options.claimName=existing",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let ids = Ids::seeded(1);
        let claim = format!("x-{}-driver-pvc-1", ids.pod_unique_id);
        assert_eq!(
            kinds(&objects),
            vec![
                "Pod",
                "Service",
                "NetworkPolicy",
                "PersistentVolumeClaim",
                "ConfigMap"
            ]
        );
        let pod = &objects[0];
        let volumes = &pod["spec"]["volumes"];
        assert_eq!(
            names(volumes),
            // Spark's order of five volumes (by the hash of its volume specs); the claim's
            // index in its name follows it.
            vec![
                "old",
                "data",
                "nf",
                "hp",
                "ed",
                "spark-local-dir-1",
                "spark-conf-volume-driver"
            ]
        );
        assert_eq!(
            volumes[3],
            json!({"hostPath": {"path": "/host", "type": ""}, "name": "hp"})
        );
        assert_eq!(
            volumes[4],
            json!({"emptyDir": {"medium": "", "sizeLimit": "1Gi"}, "name": "ed"})
        );
        assert_eq!(
            volumes[2],
            json!({"name": "nf", "nfs": {"path": "/export", "server": "nfs.example.com"}})
        );
        assert_eq!(
            volumes[1],
            json!({"name": "data", "persistentVolumeClaim": {"claimName": claim, "readOnly": false}})
        );
        assert_eq!(
            volumes[0],
            json!({"name": "old", "persistentVolumeClaim": {"claimName": "existing", "readOnly": false}})
        );
        let mounts = &container(pod)["volumeMounts"];
        assert_eq!(
            mounts[2],
            json!({"mountPath": "/nfs", "name": "nf", "readOnly": true, "subPath": "", "subPathExpr": ""})
        );
        assert_eq!(
            mounts[1],
            json!({"mountPath": "/data", "name": "data", "readOnly": false, "subPath": "", "subPathExpr": "$(POD)"})
        );
        let pvc = &objects[3];
        assert_eq!(pvc["metadata"]["name"], json!(claim));
        assert_eq!(
            pvc["metadata"]["labels"],
            json!({"spark-app-selector": ids.app_id})
        );
        assert_eq!(
            pvc["spec"],
            json!({"accessModes": ["ReadWriteOncePod"], "resources": {"requests": {"storage": "5Gi"}}, "storageClassName": "gp2"})
        );
    }

    #[test]
    fn a_mounted_local_dir_volume_replaces_the_default() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.volumes.emptyDir.spark-local-dir-1.mount.path=/mine",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let pod = &objects[0];
        assert_eq!(
            names(&pod["spec"]["volumes"]),
            vec!["spark-local-dir-1", "spark-conf-volume-driver"]
        );
        assert_eq!(
            container(pod)["env"][3],
            json!({"name": "SPARK_LOCAL_DIRS", "value": "/mine"})
        );
    }

    #[test]
    fn local_dirs_from_the_submitting_environment_win() -> Result<()> {
        let req = FakeEnv::default()
            .var("SPARK_LOCAL_DIRS", "/env/a,/env/b")
            .resolve(&[
                "--conf",
                IMAGE,
                "--conf",
                "spark.local.dir=/conf",
                "--class",
                "X",
                "local:///a.jar",
            ])?;
        let objects = objects(&req);
        let mounts = &container(&objects[0])["volumeMounts"];
        assert_eq!(
            mounts[0],
            json!({"mountPath": "/env/a", "name": "spark-local-dir-1"})
        );
        assert_eq!(
            mounts[1],
            json!({"mountPath": "/env/b", "name": "spark-local-dir-2"})
        );
        Ok(())
    }

    const DRIVER_TEMPLATE: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: ignored
  labels: {tpl-label: a}
  annotations: {tpl-ann: b}
spec:
  priorityClassName: high
  restartPolicy: Always
  serviceAccountName: tplsa
  nodeSelector: {tplnode: "1"}
  imagePullSecrets: [{name: tplsecret}]
  tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
  containers:
  - name: sidecar
    image: busybox
    args: ["sleep", "1000"]
  - name: main
    image: tplimage
    imagePullPolicy: Never
    args: ["-x"]
    env: [{name: TPL_ENV, value: x}]
    ports: [{containerPort: 9999, name: metrics}]
    securityContext: {runAsUser: 1000, allowPrivilegeEscalation: true}
    volumeMounts: [{name: tplvol, mountPath: /tpl}]
    resources:
      requests: {ephemeral-storage: 1Gi, cpu: "9"}
      limits: {cpu: "7", memory: 1Gi}
  volumes: [{name: tplvol, emptyDir: {}}]
"#;

    fn with_templates(extra: &[&str]) -> Vec<Value> {
        let env = FakeEnv::default().file("/d.yaml", DRIVER_TEMPLATE).file(
            "/e.yaml",
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: executor\n    image: foo\n",
        );
        let mut args = vec![
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.podTemplateFile=/d.yaml",
            "--conf",
            "spark.kubernetes.node.selector.disk=ssd",
            "--conf",
            "spark.kubernetes.container.image.pullSecrets=reg",
            "--conf",
            "spark.kubernetes.authenticate.driver.serviceAccountName=sa",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--class", "X", "local:///a.jar"]);
        match env.resolve(&args) {
            Ok(req) => objects(&req),
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn driver_template_named_container_becomes_the_driver() {
        let objects = with_templates(&[
            "--conf",
            "spark.kubernetes.driver.podTemplateContainerName=main",
        ]);
        let pod = &objects[0];
        assert_eq!(names(&pod["spec"]["containers"]), vec!["sidecar", "main"]);
        assert_eq!(
            pod["spec"]["containers"][0],
            json!({"args": ["sleep", "1000"], "image": "busybox", "name": "sidecar"})
        );
        let c = container(pod);
        assert_eq!(c["image"], json!("spark:4.3.0"));
        assert_eq!(c["imagePullPolicy"], json!("IfNotPresent"));
        assert_eq!(c["args"][0], json!("-x"));
        assert_eq!(c["args"][1], json!("driver"));
        assert_eq!(env_names(pod)[..2], ["TPL_ENV", "SPARK_USER"]);
        assert_eq!(
            names(&c["ports"]),
            vec![
                "metrics",
                "driver-rpc-port",
                "blockmanager",
                "spark-ui",
                "spark-connect"
            ]
        );
        assert_eq!(
            c["securityContext"],
            json!({"allowPrivilegeEscalation": false, "runAsUser": 1000})
        );
        assert_eq!(
            c["resources"],
            json!({"limits": {"cpu": "7", "memory": "1408Mi"}, "requests": {"cpu": "1", "ephemeral-storage": "1Gi", "memory": "1408Mi"}})
        );
        assert_eq!(
            c["volumeMounts"][0],
            json!({"mountPath": "/tpl", "name": "tplvol"})
        );
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], json!("Never"));
        assert_eq!(spec["priorityClassName"], json!("high"));
        assert_eq!(spec["serviceAccountName"], json!("sa"));
        assert_eq!(spec["nodeSelector"], json!({"disk": "ssd", "tplnode": "1"}));
        assert_eq!(
            spec["imagePullSecrets"],
            json!([{"name": "tplsecret"}, {"name": "reg"}])
        );
        assert_eq!(spec["tolerations"][0]["key"], json!("gpu"));
        assert_eq!(names(&spec["volumes"])[0], "tplvol");
        assert_eq!(pod["metadata"]["labels"]["tpl-label"], json!("a"));
        assert_eq!(pod["metadata"]["annotations"], json!({"tpl-ann": "b"}));
        assert!(
            objects[1]["spec"]["selector"].get("tpl-label").is_none(),
            "the selector has Spark's labels only"
        );
    }

    #[test]
    fn driver_template_first_container_when_no_name_matches() {
        for extra in [
            &[][..],
            &[
                "--conf",
                "spark.kubernetes.driver.podTemplateContainerName=nothere",
            ][..],
        ] {
            let objects = with_templates(extra);
            let pod = &objects[0];
            assert_eq!(
                names(&pod["spec"]["containers"]),
                vec!["main", "sidecar"],
                "{extra:?}"
            );
            assert_eq!(
                container(pod)["args"],
                json!([
                    "sleep",
                    "1000",
                    "driver",
                    "--properties-file",
                    "/opt/spark/conf/spark.properties",
                    "--class",
                    "X",
                    "local:///a.jar"
                ])
            );
        }
    }

    #[test]
    fn executor_template_config_map_volume_and_conf_key() {
        let objects = with_templates(&[
            "--conf",
            "spark.kubernetes.executor.podTemplateFile=/e.yaml",
        ]);
        let ids = Ids::seeded(1);
        assert_eq!(
            kinds(&objects),
            vec!["Pod", "Service", "NetworkPolicy", "ConfigMap", "ConfigMap"]
        );
        let cm_name = format!("x-{}-driver-podspec-conf-map", ids.pod_unique_id);
        let template_cm = &objects[3];
        assert_eq!(template_cm["metadata"]["name"], json!(cm_name));
        assert_eq!(template_cm["immutable"], json!(true));
        assert_eq!(
            template_cm["data"],
            json!({"podspec-configmap-key": "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: executor\n    image: foo\n"})
        );
        let pod = &objects[0];
        let volume_names = names(&pod["spec"]["volumes"]);
        assert_eq!(
            volume_names,
            vec![
                "tplvol",
                "pod-template-volume",
                "spark-local-dir-1",
                "spark-conf-volume-driver"
            ]
        );
        assert_eq!(
            pod["spec"]["volumes"][1]["configMap"],
            json!({"items": [{"key": "podspec-configmap-key", "path": "pod-spec-template.yml"}], "name": cm_name})
        );
        assert_eq!(
            container(pod)["volumeMounts"][0],
            json!({"mountPath": "/opt/spark/pod-template", "name": "pod-template-volume"})
        );
        let props = properties(&objects);
        assert_eq!(
            property(&props, "spark.kubernetes.executor.podTemplateFile"),
            Some("/opt/spark/pod-template/pod-spec-template.yml")
        );
        assert_eq!(
            property(&props, "spark.kubernetes.driver.podTemplateFile"),
            Some("/d.yaml")
        );
    }

    #[test]
    fn errors_never_quote_secret_looking_values() {
        let req = request(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.driver.label.api-token=s3cr3t value!",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let message = build(&req, &Ids::seeded(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("is not a valid label value"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(message.contains(crate::redact::REDACTED), "{message}");
    }

    #[test]
    fn driver_credentials_secret() -> Result<()> {
        let req = FakeEnv::default().file("/ca", "CA").resolve(&[
            "--conf",
            IMAGE,
            "--conf",
            "spark.kubernetes.authenticate.driver.oauthToken=SECRET",
            "--conf",
            "spark.kubernetes.authenticate.driver.caCertFile=/ca",
            "--class",
            "X",
            "local:///a.jar",
        ])?;
        let objects = objects(&req);
        assert_eq!(
            kinds(&objects),
            vec!["Pod", "Secret", "Service", "NetworkPolicy", "ConfigMap"]
        );
        let secret = &objects[1];
        assert_eq!(
            secret["metadata"]["name"],
            json!(format!(
                "x-{}-kubernetes-credentials",
                Ids::seeded(1).pod_unique_id
            ))
        );
        assert_eq!(
            secret["data"],
            json!({"ca-cert": "Q0E=", "oauth-token": "U0VDUkVU"})
        );
        assert_eq!(secret["immutable"], json!(true));
        let pod = &objects[0];
        assert_eq!(
            pod["spec"]["volumes"][0]["name"],
            json!("kubernetes-credentials")
        );
        assert_eq!(
            container(pod)["volumeMounts"][0],
            json!({"mountPath": "/mnt/secrets/spark-kubernetes-credentials", "name": "kubernetes-credentials"})
        );
        let props = properties(&objects);
        assert_eq!(
            property(&props, "spark.kubernetes.authenticate.driver.oauthToken"),
            Some("<present_but_redacted>")
        );
        assert_eq!(
            property(
                &props,
                "spark.kubernetes.authenticate.driver.mounted.oauthTokenFile"
            ),
            Some("/mnt/secrets/spark-kubernetes-credentials/oauth-token")
        );
        assert_eq!(
            property(
                &props,
                "spark.kubernetes.authenticate.driver.mounted.caCertFile"
            ),
            Some("/mnt/secrets/spark-kubernetes-credentials/ca-cert")
        );
        Ok(())
    }

    #[test]
    fn conf_dir_files_join_the_driver_config_map() -> Result<()> {
        let req = FakeEnv::default()
            .var("SPARK_CONF_DIR", "/c")
            .file("/c/log4j2.properties", "x=1\n")
            .resolve(&["--conf", IMAGE, "--class", "X", "local:///a.jar"])?;
        let objects = objects(&req);
        let pod = &objects[0];
        let items = &pod["spec"]["volumes"][1]["configMap"]["items"];
        assert_eq!(
            items,
            &json!([{"key": "log4j2.properties", "mode": 420, "path": "log4j2.properties"}, {"key": "spark.properties", "mode": 420, "path": "spark.properties"}])
        );
        assert_eq!(objects[3]["data"]["log4j2.properties"], json!("x=1\n"));
        Ok(())
    }

    #[test]
    fn packages_pass_through_unresolved() {
        let objects = render(&[
            "--conf",
            IMAGE,
            "--packages",
            "org.example:foo:1.0",
            "--repositories",
            "https://repo.example.com",
            "--exclude-packages",
            "a:b",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        let props = properties(&objects);
        assert_eq!(
            property(&props, "spark.jars.packages"),
            Some("org.example:foo:1.0")
        );
        assert_eq!(
            property(&props, "spark.jars.repositories"),
            Some("https://repo.example.com")
        );
        assert_eq!(property(&props, "spark.jars.excludes"), Some("a:b"));
        assert_eq!(property(&props, "spark.jars"), Some("local:///a.jar"));
    }

    #[test]
    fn submission_id_label() {
        let given = render(&[
            "--conf",
            IMAGE,
            "--conf",
            "sparkube.submission.id=nightly-42",
            "--class",
            "X",
            "local:///a.jar",
        ]);
        assert_eq!(
            given[0]["metadata"]["labels"]["sparkube.io/submission-id"],
            json!("nightly-42")
        );
        assert_eq!(
            property(&properties(&given), "sparkube.submission.id"),
            None
        );
    }

    /// Every refusal of the builder, naming the option.
    #[test]
    fn errors() {
        let long_secret = format!("spark.kubernetes.driver.secrets.{}=/s", "s".repeat(57));
        let table: &[(&[&str], &str, &str)] = &[
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.secrets.tls.example.com=/tls",
                ],
                "spark.kubernetes.driver.secrets.tls.example.com",
                "spark.kubernetes.driver.secrets.tls.example.com: the secret \"tls.example.com\" would be mounted as the volume \"tls.example.com-volume\", which Kubernetes refuses",
            ),
            (
                &["--conf", IMAGE, "--conf", &long_secret],
                long_secret.split('=').next().unwrap_or_default(),
                "use a secret whose name has no '.' and at most 56 chars",
            ),
            (
                &[],
                "spark.kubernetes.container.image",
                "Must specify the driver container image",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.label.spark-role=x",
                ],
                "spark.kubernetes.driver.label.spark-role",
                "Label with key spark-role is not allowed as it is reserved for Spark bookkeeping operations.",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.executor.label.spark-exec-id=1",
                ],
                "spark.kubernetes.executor.label.spark-exec-id",
                "Label with key spark-exec-id is not allowed",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.label.team=a b",
                ],
                "spark.kubernetes.driver.label.team",
                "is not a valid label value",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.label.a b=x",
                ],
                "spark.kubernetes.driver.label.a b",
                "is not a valid label key",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.annotation.a b=x",
                ],
                "spark.kubernetes.driver.annotation.a b",
                "is not a valid annotation key",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.pod.name=My_Driver",
                ],
                "spark.kubernetes.driver.pod.name",
                "is not a valid pod name",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.namespace=Bad_NS",
                ],
                "spark.kubernetes.namespace",
                "is not a valid namespace name",
            ),
            (
                &["--conf", IMAGE, "--conf", "sparkube.submission.id=a b"],
                "sparkube.submission.id",
                "is not a valid label value",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.volumes.foo.v.mount.path=/x",
                ],
                "spark.kubernetes.driver.volumes.foo.v.mount.path",
                "Kubernetes Volume type `foo` is not supported",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.executor.volumes.bar.v.mount.path=/x",
                ],
                "spark.kubernetes.executor.volumes.bar.v.mount.path",
                "Kubernetes Volume type `bar` is not supported",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.driver.resource.gpu.amount=1",
                ],
                "spark.driver.resource.gpu.vendor",
                "Resource: gpu was requested, but vendor was not specified.",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.secretKeyRef.X=nokey",
                ],
                "spark.kubernetes.driver.secretKeyRef.X",
                "must be <secret name>:<key>",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.executor.podNamePrefix=Exec_",
                ],
                "spark.kubernetes.executor.podNamePrefix",
                "'Exec_' in spark.kubernetes.executor.podNamePrefix is invalid.",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.kerberos.krb5.path=/etc/krb5.conf",
                ],
                "spark.kubernetes.kerberos.krb5.path",
                "sparkube does not upload files",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--principal",
                    "a@B",
                    "--keytab",
                    "/k.keytab",
                ],
                "spark.kerberos.principal",
                "spark-submit would log in with a keytab on this machine",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.kerberos.tokenSecret.name=t",
                ],
                "spark.kubernetes.kerberos.tokenSecret.name",
                "you must also specify the item-key",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.kerberos.tokenSecret.itemKey=k",
                ],
                "spark.kubernetes.kerberos.tokenSecret.itemKey",
                "you must also specify the name of the secret",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.pod.featureSteps=a.B",
                ],
                "spark.kubernetes.driver.pod.featureSteps",
                "sparkube cannot run a JVM class",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.service.publishNotReadyAddresses=yes",
                ],
                "spark.kubernetes.driver.service.publishNotReadyAddresses",
                "should be boolean, but was yes",
            ),
            (
                &["--conf", IMAGE, "--conf", "spark.driver.port=http"],
                "spark.driver.port",
                "is not a port number",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.driver.memoryOverhead=lots",
                ],
                "spark.driver.memoryOverhead",
                "spark.driver.memoryOverhead=\"lots\"",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.service.label.spark-app-selector=x",
                ],
                "spark.kubernetes.driver.service.label.spark-app-selector",
                "is reserved",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.authenticate.driver.oauthToken=t",
                    "--conf",
                    "spark.kubernetes.authenticate.driver.mounted.oauthTokenFile=/f",
                ],
                "spark.kubernetes.authenticate.driver.oauthToken",
                "Cannot specify both",
            ),
        ];
        let more: &[(&[&str], &str, &str)] = &[
            (
                &["--conf", IMAGE, "--name", "---"],
                "spark.app.name",
                "has no letter or digit",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.limit.cores=abc",
                ],
                "spark.kubernetes.driver.limit.cores",
                "is not a Kubernetes quantity",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.executor.request.cores=-1",
                ],
                "spark.kubernetes.executor.request.cores",
                "is not a Kubernetes quantity",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.volumes.emptyDir.v.mount.path=",
                ],
                "spark.kubernetes.driver.volumes.emptyDir.v.mount.path",
                "must be set for the emptyDir volume v",
            ),
            (
                &[
                    "--conf",
                    IMAGE,
                    "--conf",
                    "spark.kubernetes.driver.volumes.emptyDir.v.mount.path=/v",
                    "--conf",
                    "spark.kubernetes.driver.volumes.emptyDir.v.options.sizeLimit=lots",
                ],
                "spark.kubernetes.driver.volumes.emptyDir.v.options.sizeLimit",
                "is not a Kubernetes quantity",
            ),
        ];
        for (extra, option, message) in table.iter().chain(more) {
            let mut args = extra.to_vec();
            args.extend_from_slice(&["--class", "X", "local:///a.jar"]);
            // Resolution refuses some keys already (the conf lint), building the rest.
            match FakeEnv::default()
                .resolve(&args)
                .and_then(|req| build(&req, &Ids::seeded(1)))
            {
                Ok(_) => panic!("{args:?} accepted"),
                Err(err) => {
                    assert_eq!(err.option(), *option, "{args:?}: {err}");
                    assert!(err.to_string().contains(message), "{args:?}: {err}");
                    assert!(!err.to_string().contains('\n'), "{err}");
                }
            }
        }
        let long_name = "a".repeat(260);
        let err = build(
            &request(&[
                "--conf",
                IMAGE,
                "--name",
                &long_name,
                "--class",
                "X",
                "local:///a.jar",
            ]),
            &Ids::seeded(1),
        )
        .err();
        assert_eq!(err.as_ref().map(Error::option), Some("spark.app.name"));
    }

    #[test]
    fn building_is_deterministic_given_ids() -> Result<()> {
        let req = request(&["--conf", IMAGE, "--class", "X", "local:///a.jar"]);
        assert_eq!(build(&req, &Ids::seeded(5))?, build(&req, &Ids::seeded(5))?);
        assert_ne!(build(&req, &Ids::seeded(5))?, build(&req, &Ids::seeded(6))?);
        Ok(())
    }
}
