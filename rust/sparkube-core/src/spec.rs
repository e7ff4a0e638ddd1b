//! [`AppSpec`]: the typed application description behind Python's `sparkube.SparkApp`.
//!
//! A spec compiles into the Spark conf keys spark-submit would receive (typed fields applied
//! on top of `conf`, as spark-submit's flags are applied on top of `--conf`) and then goes
//! through the same resolution and builder as a command line. Inline pod templates are kept
//! as data; `tolerations` and `affinity` are merged into both pod templates.
//!
//! Mapping of the fields that need one:
//! - `labels`/`annotations` → `spark.kubernetes.{driver,executor}.{label,annotation}.K`;
//!   `node_selector` → `spark.kubernetes.node.selector.K` (both roles).
//! - `service_account` → `spark.kubernetes.authenticate.driver.serviceAccountName`.
//! - `driver.cores`/`executor.cores`: a whole number sets `spark.{driver,executor}.cores`; a
//!   fraction sets `spark.kubernetes.{driver,executor}.request.cores` to it and the Spark cores
//!   to the fraction rounded up.
//! - `driver.env` → `spark.kubernetes.driverEnv.K`; `executor.env` → `spark.executorEnv.K`.
//! - `executor.instances` → `spark.executor.instances` (the executor's count lives on the
//!   executor role spec; `driver.instances` is refused).
//! - `submission_id` → the `sparkube.io/submission-id` label (random when absent); from a
//!   command line the same id is given with `--conf sparkube.submission.id=…`.

use indexmap::IndexMap;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::conf::{SparkConf, SubmitArgs, keys};
use crate::error::{Error, Result};
use crate::request::{Environment, PodTemplate, SubmitRequest, pod_from_value};

/// A user volume of a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// `hostPath`, `emptyDir`, `nfs` or `persistentVolumeClaim`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The volume's name.
    pub name: String,
    /// Where it is mounted.
    pub mount_path: String,
    /// `mount.subPath`.
    #[serde(default)]
    pub sub_path: Option<String>,
    /// `mount.readOnly`.
    #[serde(default)]
    pub read_only: bool,
    /// `options.*` (`path`, `type`, `medium`, `sizeLimit`, `server`, `claimName`, `storageClass`).
    #[serde(default, deserialize_with = "string_map")]
    pub options: IndexMap<String, String>,
}

/// Settings of the driver or of the executors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleSpec {
    /// CPU cores (fractions become a CPU request).
    pub cores: Option<f64>,
    /// Memory, as a Spark size (`512m`, `4g`).
    pub memory: Option<String>,
    /// Memory overhead, as a Spark size.
    pub memory_overhead: Option<String>,
    /// Environment variables.
    #[serde(deserialize_with = "string_map")]
    pub env: IndexMap<String, String>,
    /// Labels of this role's pods.
    #[serde(deserialize_with = "string_map")]
    pub labels: IndexMap<String, String>,
    /// Annotations of this role's pods.
    #[serde(deserialize_with = "string_map")]
    pub annotations: IndexMap<String, String>,
    /// Node selector of this role's pods.
    #[serde(deserialize_with = "string_map")]
    pub node_selector: IndexMap<String, String>,
    /// Environment variable → `secret-name:key`.
    #[serde(deserialize_with = "string_map")]
    pub secret_env: IndexMap<String, String>,
    /// Secret name → mount path.
    #[serde(deserialize_with = "string_map")]
    pub secret_mounts: IndexMap<String, String>,
    /// User volumes.
    pub volumes: Vec<VolumeSpec>,
    /// An inline Pod to start this role's pods from.
    pub pod_template: Option<Value>,
    /// `spark.executor.instances` (executor only).
    pub instances: Option<i64>,
}

/// `spark.dynamicAllocation.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicAllocation {
    /// `spark.dynamicAllocation.enabled` (default true).
    pub enabled: bool,
    /// `spark.dynamicAllocation.minExecutors`.
    pub min_executors: Option<i64>,
    /// `spark.dynamicAllocation.maxExecutors`.
    pub max_executors: Option<i64>,
    /// `spark.dynamicAllocation.initialExecutors`.
    pub initial_executors: Option<i64>,
    /// `spark.dynamicAllocation.shuffleTracking.enabled` (default true: there is no external
    /// shuffle service on Kubernetes).
    pub shuffle_tracking: bool,
}

impl Default for DynamicAllocation {
    fn default() -> Self {
        DynamicAllocation {
            enabled: true,
            min_executors: None,
            max_executors: None,
            initial_executors: None,
            shuffle_tracking: true,
        }
    }
}

/// Dependencies (`--jars`, `--py-files`, `--files`, `--archives`, Maven packages).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deps {
    /// `spark.jars`.
    pub jars: Vec<String>,
    /// `spark.submit.pyFiles`.
    pub py_files: Vec<String>,
    /// `spark.files`.
    pub files: Vec<String>,
    /// `spark.archives`.
    pub archives: Vec<String>,
    /// `spark.jars.packages` (resolved by the driver, never on the submitting machine).
    pub packages: Vec<String>,
    /// `spark.jars.repositories`.
    pub repositories: Vec<String>,
    /// `spark.jars.excludes`.
    pub exclude_packages: Vec<String>,
}

/// A Spark application, as Python's `SparkApp.to_dict()` describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// `spark.app.name`.
    pub name: String,
    /// The primary resource (jar, `.py`, `.R`).
    pub application: String,
    /// The main class (JVM apps).
    #[serde(default)]
    pub main_class: Option<String>,
    /// Application arguments.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// `spark.kubernetes.container.image`.
    #[serde(default)]
    pub image: Option<String>,
    /// `spark.kubernetes.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `k8s://…` master (default: the current kubeconfig context's server).
    #[serde(default)]
    pub master: Option<String>,
    /// The driver's service account.
    #[serde(default)]
    pub service_account: Option<String>,
    /// `--proxy-user`.
    #[serde(default)]
    pub proxy_user: Option<String>,
    /// Any Spark conf; the typed fields win over it.
    #[serde(default, deserialize_with = "string_map")]
    pub conf: IndexMap<String, String>,
    /// Labels of the driver and executors.
    #[serde(default, deserialize_with = "string_map")]
    pub labels: IndexMap<String, String>,
    /// Annotations of the driver and executors.
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: IndexMap<String, String>,
    /// Node selector of the driver and executors.
    #[serde(default, deserialize_with = "string_map")]
    pub node_selector: IndexMap<String, String>,
    /// `spark.kubernetes.container.image.pullSecrets`.
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// `spark.kubernetes.container.image.pullPolicy`.
    #[serde(default)]
    pub image_pull_policy: Option<String>,
    /// Driver settings.
    #[serde(default)]
    pub driver: RoleSpec,
    /// Executor settings (with `instances`).
    #[serde(default)]
    pub executor: RoleSpec,
    /// Dynamic allocation, when wanted.
    #[serde(default)]
    pub dynamic_allocation: Option<DynamicAllocation>,
    /// Dependencies.
    #[serde(default)]
    pub deps: Deps,
    /// Tolerations of both pods (merged into their templates).
    #[serde(default)]
    pub tolerations: Vec<Value>,
    /// Affinity of both pods (set in their templates).
    #[serde(default)]
    pub affinity: Option<Value>,
    /// The submission id (`sparkube.io/submission-id` label); random when absent.
    #[serde(default)]
    pub submission_id: Option<String>,
}

/// A string map whose values may also be numbers or booleans (written as Spark would read them).
fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<IndexMap<String, String>, D::Error> {
    let raw: Option<IndexMap<String, Value>> = Option::deserialize(deserializer)?;
    raw.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "the value of {k:?} must be a string, not {other}"
                    )));
                }
            };
            Ok((k, text))
        })
        .collect()
}

/// The spec's roles: (field name, Spark conf role word, env prefix).
struct Role<'a> {
    spec: &'a RoleSpec,
    field: &'static str,
    role: &'static str,
    env_prefix: &'static str,
    secret_ref_prefix: &'static str,
}

fn cores(
    conf: &mut SparkConf,
    field: &str,
    value: f64,
    cores_key: &str,
    request_key: &str,
) -> Result<()> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::invalid(
            format!("{field}.cores"),
            format!("{field}.cores must be a positive number (got {value})"),
        ));
    }
    if value.fract() == 0.0 {
        conf.set(cores_key, format!("{}", value as u64));
    } else {
        conf.set(request_key, format!("{value}"));
        conf.set(cores_key, format!("{}", value.ceil() as u64));
    }
    Ok(())
}

fn compile_role(conf: &mut SparkConf, r: &Role<'_>) -> Result<()> {
    let spec = r.spec;
    let role = r.role;
    if let Some(value) = spec.cores {
        cores(
            conf,
            r.field,
            value,
            &format!("spark.{role}.cores"),
            &format!("spark.kubernetes.{role}.request.cores"),
        )?;
    }
    if let Some(memory) = &spec.memory {
        conf.set(format!("spark.{role}.memory"), memory.clone());
    }
    if let Some(overhead) = &spec.memory_overhead {
        conf.set(format!("spark.{role}.memoryOverhead"), overhead.clone());
    }
    for (k, v) in &spec.env {
        conf.set(format!("{}{k}", r.env_prefix), v.clone());
    }
    for (k, v) in &spec.labels {
        conf.set(format!("spark.kubernetes.{role}.label.{k}"), v.clone());
    }
    for (k, v) in &spec.annotations {
        conf.set(format!("spark.kubernetes.{role}.annotation.{k}"), v.clone());
    }
    for (k, v) in &spec.node_selector {
        conf.set(
            format!("spark.kubernetes.{role}.node.selector.{k}"),
            v.clone(),
        );
    }
    for (k, v) in &spec.secret_env {
        conf.set(format!("{}{k}", r.secret_ref_prefix), v.clone());
    }
    for (k, v) in &spec.secret_mounts {
        conf.set(format!("spark.kubernetes.{role}.secrets.{k}"), v.clone());
    }
    for volume in &spec.volumes {
        let base = format!(
            "spark.kubernetes.{role}.volumes.{}.{}.",
            volume.kind, volume.name
        );
        conf.set(format!("{base}mount.path"), volume.mount_path.clone());
        if let Some(sub_path) = &volume.sub_path {
            conf.set(format!("{base}mount.subPath"), sub_path.clone());
        }
        if volume.read_only {
            conf.set(format!("{base}mount.readOnly"), "true");
        }
        for (k, v) in &volume.options {
            conf.set(format!("{base}options.{k}"), v.clone());
        }
    }
    Ok(())
}

/// A role's inline template with the spec's tolerations and affinity merged in.
fn role_template(spec: &AppSpec, role: &RoleSpec) -> Option<Value> {
    if role.pod_template.is_none() && spec.tolerations.is_empty() && spec.affinity.is_none() {
        return None;
    }
    let mut template = role
        .pod_template
        .clone()
        .unwrap_or_else(|| json!({"apiVersion": "v1", "kind": "Pod"}));
    if let Some(object) = template.as_object_mut() {
        let pod_spec = object.entry("spec").or_insert_with(|| json!({}));
        if let Some(pod_spec) = pod_spec.as_object_mut() {
            if !spec.tolerations.is_empty() {
                let tolerations = pod_spec.entry("tolerations").or_insert_with(|| json!([]));
                if let Some(list) = tolerations.as_array_mut() {
                    list.extend(spec.tolerations.iter().cloned());
                }
            }
            if let Some(affinity) = &spec.affinity {
                pod_spec.insert("affinity".into(), affinity.clone());
            }
        }
    }
    Some(template)
}

fn join(values: &[String]) -> Option<String> {
    (!values.is_empty()).then(|| values.join(","))
}

impl AppSpec {
    /// The spark-submit arguments this spec stands for (inline templates aside).
    pub fn to_submit_args(&self) -> Result<SubmitArgs> {
        if self.driver.instances.is_some() {
            return Err(Error::invalid(
                "driver.instances",
                "driver.instances is not a setting: the executor count is executor.instances",
            ));
        }
        let mut conf: SparkConf = self
            .conf
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut set = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                conf.set(key, value);
            }
        };
        set(keys::NAMESPACE, self.namespace.clone());
        set(keys::CONTAINER_IMAGE, self.image.clone());
        set(keys::DRIVER_SERVICE_ACCOUNT, self.service_account.clone());
        set(keys::IMAGE_PULL_SECRETS, join(&self.image_pull_secrets));
        set(keys::IMAGE_PULL_POLICY, self.image_pull_policy.clone());
        set(keys::JARS, join(&self.deps.jars));
        set(keys::PY_FILES, join(&self.deps.py_files));
        set(keys::FILES, join(&self.deps.files));
        set(keys::ARCHIVES, join(&self.deps.archives));
        set(keys::PACKAGES, join(&self.deps.packages));
        set(keys::REPOSITORIES, join(&self.deps.repositories));
        set(keys::PACKAGES_EXCLUDES, join(&self.deps.exclude_packages));
        set(
            keys::EXECUTOR_INSTANCES,
            self.executor.instances.map(|n| n.to_string()),
        );
        if let Some(dynamic) = &self.dynamic_allocation {
            set(
                keys::DYN_ALLOCATION_ENABLED,
                Some(dynamic.enabled.to_string()),
            );
            set(
                keys::DYN_ALLOCATION_MIN,
                dynamic.min_executors.map(|n| n.to_string()),
            );
            set(
                keys::DYN_ALLOCATION_MAX,
                dynamic.max_executors.map(|n| n.to_string()),
            );
            set(
                keys::DYN_ALLOCATION_INITIAL,
                dynamic.initial_executors.map(|n| n.to_string()),
            );
            set(
                keys::DYN_ALLOCATION_SHUFFLE_TRACKING,
                Some(dynamic.shuffle_tracking.to_string()),
            );
        }
        for (k, v) in &self.labels {
            conf.set(format!("{}{k}", keys::DRIVER_LABEL_PREFIX), v.clone());
            conf.set(format!("{}{k}", keys::EXECUTOR_LABEL_PREFIX), v.clone());
        }
        for (k, v) in &self.annotations {
            conf.set(format!("{}{k}", keys::DRIVER_ANNOTATION_PREFIX), v.clone());
            conf.set(
                format!("{}{k}", keys::EXECUTOR_ANNOTATION_PREFIX),
                v.clone(),
            );
        }
        for (k, v) in &self.node_selector {
            conf.set(format!("{}{k}", keys::NODE_SELECTOR_PREFIX), v.clone());
        }
        compile_role(
            &mut conf,
            &Role {
                spec: &self.driver,
                field: "driver",
                role: "driver",
                env_prefix: keys::DRIVER_ENV_PREFIX,
                secret_ref_prefix: keys::DRIVER_SECRET_KEY_REF_PREFIX,
            },
        )?;
        compile_role(
            &mut conf,
            &Role {
                spec: &self.executor,
                field: "executor",
                role: "executor",
                env_prefix: "spark.executorEnv.",
                secret_ref_prefix: keys::EXECUTOR_SECRET_KEY_REF_PREFIX,
            },
        )?;
        Ok(SubmitArgs {
            master: self.master.clone(),
            name: Some(self.name.clone()),
            main_class: self.main_class.clone(),
            proxy_user: self.proxy_user.clone(),
            conf,
            primary_resource: Some(self.application.clone()),
            app_args: self.arguments.clone(),
            ..SubmitArgs::default()
        })
    }
}

/// The options that name local files, and the spec field each comes from.
const SPEC_FILE_FIELDS: [(&str, &str); 5] = [
    ("primary resource", "application"),
    (keys::JARS, "deps.jars"),
    (keys::PY_FILES, "deps.py_files"),
    (keys::FILES, "deps.files"),
    (keys::ARCHIVES, "deps.archives"),
];

impl SubmitRequest {
    /// Resolves a `SparkApp` spec against the submitting environment `env`: compiles it to
    /// spark-submit arguments, resolves them like a command line (same precedence, checks and
    /// environment), then puts in the inline pod templates.
    pub fn from_spec(spec: AppSpec, env: &Environment<'_>) -> Result<SubmitRequest> {
        let args = spec.to_submit_args()?;
        let mut request = SubmitRequest::resolve(args, env).map_err(|e| {
            // Local files are named as the spec names them, not by the conf keys they fill.
            match SPEC_FILE_FIELDS
                .iter()
                .find(|(option, _)| e.option() == *option)
            {
                Some((_, field)) => e.with_option(field),
                None => e,
            }
        })?;
        request.submission_id = spec.submission_id.clone().or(request.submission_id);
        let templates = [
            (
                "driver.pod_template",
                keys::DRIVER_POD_TEMPLATE_FILE,
                role_template(&spec, &spec.driver),
            ),
            (
                "executor.pod_template",
                keys::EXECUTOR_POD_TEMPLATE_FILE,
                role_template(&spec, &spec.executor),
            ),
        ];
        for (field, key, template) in templates {
            let Some(mut value) = template else { continue };
            if request.conf.contains(key) {
                return Err(Error::invalid(
                    field,
                    format!("{field} and {key} both give a pod template: keep one"),
                ));
            }
            let pod = pod_from_value(&mut value).map_err(|why| {
                Error::invalid(
                    field,
                    format!("Could not load pod from template {field}: {why}"),
                )
            })?;
            if field.starts_with("driver") {
                request.driver_pod_template = Some(pod);
            } else {
                let text = serde_norway::to_string(&value).map_err(|e| {
                    Error::invalid(field, format!("{field} cannot be written as YAML: {e}"))
                })?;
                request.executor_pod_template = Some(PodTemplate { pod, text });
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::build::build;
    use crate::ids::Ids;
    use crate::request::testing::FakeEnv;

    /// What Python's `SparkApp(...).to_dict()` sends: every field, `null` when unset.
    fn python_dict() -> Value {
        json!({"name": "etl", "application": "local:///opt/app/job.py", "main_class": null, "arguments": ["--day", "1"],
          "image": "spark:4.3.0", "namespace": "jobs", "master": "k8s://https://h:6443", "service_account": "spark",
          "proxy_user": null, "conf": {"spark.sql.shuffle.partitions": 8, "spark.executor.instances": "1"},
          "labels": {"team": "data"}, "annotations": {"owner": "me"}, "node_selector": {"disk": "ssd"},
          "image_pull_secrets": ["reg1", "reg2"], "image_pull_policy": "Always",
          "driver": {"cores": 0.5, "memory": "2g", "memory_overhead": "512m", "env": {"A": "1"}, "labels": {"role": "d"},
                     "annotations": {}, "node_selector": {"zone": "z1"}, "secret_env": {"PASS": "db:password"},
                     "secret_mounts": {"creds": "/etc/creds"},
                     "volumes": [{"type": "emptyDir", "name": "scratch", "mount_path": "/scratch", "sub_path": null,
                                  "read_only": false, "options": {"medium": "Memory"}}],
                     "pod_template": null},
          "executor": {"cores": 2, "memory": "4g", "memory_overhead": null, "env": {"B": "2"}, "labels": {}, "annotations": {},
                       "node_selector": {}, "secret_env": {}, "secret_mounts": {},
                       "volumes": [{"type": "persistentVolumeClaim", "name": "data", "mount_path": "/data", "sub_path": "x",
                                    "read_only": true, "options": {"claimName": "OnDemand", "storageClass": "gp2", "sizeLimit": "5Gi"}}],
                       "pod_template": null, "instances": 3},
          "dynamic_allocation": {"enabled": true, "min_executors": 1, "max_executors": 10, "initial_executors": null, "shuffle_tracking": true},
          "deps": {"jars": [], "py_files": ["local:///opt/lib.zip"], "files": [], "archives": [], "packages": ["g:a:1"],
                   "repositories": [], "exclude_packages": []},
          "tolerations": [{"key": "gpu", "operator": "Exists"}], "affinity": null, "submission_id": "run-7"})
    }

    fn spec(value: Value) -> AppSpec {
        match serde_json::from_value(value) {
            Ok(spec) => spec,
            Err(err) => panic!("spec did not deserialize: {err}"),
        }
    }

    #[test]
    fn compiles_to_spark_conf_keys() -> Result<()> {
        let args = spec(python_dict()).to_submit_args()?;
        let expected = [
            ("spark.sql.shuffle.partitions", "8"),
            ("spark.executor.instances", "3"),
            ("spark.kubernetes.namespace", "jobs"),
            ("spark.kubernetes.container.image", "spark:4.3.0"),
            (
                "spark.kubernetes.authenticate.driver.serviceAccountName",
                "spark",
            ),
            ("spark.kubernetes.container.image.pullSecrets", "reg1,reg2"),
            ("spark.kubernetes.container.image.pullPolicy", "Always"),
            ("spark.submit.pyFiles", "local:///opt/lib.zip"),
            ("spark.jars.packages", "g:a:1"),
            ("spark.dynamicAllocation.enabled", "true"),
            ("spark.dynamicAllocation.minExecutors", "1"),
            ("spark.dynamicAllocation.maxExecutors", "10"),
            ("spark.dynamicAllocation.shuffleTracking.enabled", "true"),
            ("spark.kubernetes.driver.label.team", "data"),
            ("spark.kubernetes.executor.label.team", "data"),
            ("spark.kubernetes.driver.annotation.owner", "me"),
            ("spark.kubernetes.executor.annotation.owner", "me"),
            ("spark.kubernetes.node.selector.disk", "ssd"),
            ("spark.kubernetes.driver.request.cores", "0.5"),
            ("spark.driver.cores", "1"),
            ("spark.driver.memory", "2g"),
            ("spark.driver.memoryOverhead", "512m"),
            ("spark.kubernetes.driverEnv.A", "1"),
            ("spark.kubernetes.driver.label.role", "d"),
            ("spark.kubernetes.driver.node.selector.zone", "z1"),
            ("spark.kubernetes.driver.secretKeyRef.PASS", "db:password"),
            ("spark.kubernetes.driver.secrets.creds", "/etc/creds"),
            (
                "spark.kubernetes.driver.volumes.emptyDir.scratch.mount.path",
                "/scratch",
            ),
            (
                "spark.kubernetes.driver.volumes.emptyDir.scratch.options.medium",
                "Memory",
            ),
            ("spark.executor.cores", "2"),
            ("spark.executor.memory", "4g"),
            ("spark.executorEnv.B", "2"),
            (
                "spark.kubernetes.executor.volumes.persistentVolumeClaim.data.mount.path",
                "/data",
            ),
            (
                "spark.kubernetes.executor.volumes.persistentVolumeClaim.data.mount.subPath",
                "x",
            ),
            (
                "spark.kubernetes.executor.volumes.persistentVolumeClaim.data.mount.readOnly",
                "true",
            ),
            (
                "spark.kubernetes.executor.volumes.persistentVolumeClaim.data.options.claimName",
                "OnDemand",
            ),
        ];
        for (key, value) in expected {
            assert_eq!(args.conf.get(key), Some(value), "{key}");
        }
        assert_eq!(args.conf.len(), expected.len() + 2, "{:?}", args.conf);
        assert_eq!(args.name.as_deref(), Some("etl"));
        assert_eq!(args.master.as_deref(), Some("k8s://https://h:6443"));
        assert_eq!(
            args.primary_resource.as_deref(),
            Some("local:///opt/app/job.py")
        );
        assert_eq!(args.app_args, vec!["--day", "1"]);
        Ok(())
    }

    #[test]
    fn a_spec_builds_like_the_same_command_line() -> Result<()> {
        let env = FakeEnv::default();
        let from_spec = env.with(|e| SubmitRequest::from_spec(spec(python_dict()), e))?;
        assert_eq!(from_spec.submission_id.as_deref(), Some("run-7"));
        let tolerations = from_spec
            .driver_pod_template
            .as_ref()
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.tolerations.clone());
        assert_eq!(tolerations.map(|t| t.len()), Some(1));
        let executor_text = from_spec
            .executor_pod_template
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default();
        assert!(executor_text.contains("tolerations"), "{executor_text}");

        let mut plain = python_dict();
        plain["tolerations"] = json!([]);
        let spec_request = env.with(|e| SubmitRequest::from_spec(spec(plain.clone()), e))?;
        let args = spec(plain).to_submit_args()?;
        let mut cli: Vec<String> = vec![
            "--master".into(),
            "k8s://https://h:6443".into(),
            "--name".into(),
            "etl".into(),
        ];
        for (k, v) in args.conf.iter() {
            cli.extend(["--conf".to_owned(), format!("{k}={v}")]);
        }
        cli.extend([
            "local:///opt/app/job.py".to_owned(),
            "--day".to_owned(),
            "1".to_owned(),
        ]);
        let cli: Vec<&str> = cli.iter().map(String::as_str).collect();
        let cli_request = env.resolve(&cli)?;
        let ids = Ids::seeded(3);
        let mut from_cli = build(&cli_request, &ids)?.in_api_order();
        let from_spec = build(&spec_request, &ids)?.in_api_order();
        // The spec's submission id is the only difference.
        if let Some(labels) = from_cli[0].meta_mut().labels.as_mut() {
            labels.insert("sparkube.io/submission-id".into(), "run-7".into());
        }
        assert_eq!(from_spec, from_cli);
        Ok(())
    }

    #[test]
    fn inline_templates_are_used_as_data() -> Result<()> {
        let mut value = python_dict();
        value["driver"]["pod_template"] = json!({"spec": {"containers": [{"name": "main"}, {"name": "sidecar", "image": "busybox"}],
                                                          "tolerations": [{"key": "own"}]}});
        value["affinity"] = json!({"nodeAffinity": {}});
        let request = FakeEnv::default().with(|e| SubmitRequest::from_spec(spec(value), e))?;
        let pod = build(&request, &Ids::seeded(1))?.driver_pod;
        let pod_spec = pod.spec.unwrap_or_default();
        let names: Vec<&str> = pod_spec
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, vec!["sidecar", "main"]);
        let keys: Vec<Option<String>> = pod_spec
            .tolerations
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(keys, vec![Some("own".to_owned()), Some("gpu".to_owned())]);
        assert!(pod_spec.affinity.is_some());
        Ok(())
    }

    #[test]
    fn minimal_spec_uses_defaults() -> Result<()> {
        let spec = spec(
            json!({"name": "pi", "application": "local:///a.jar", "main_class": "Pi", "image": "spark:4.3.0"}),
        );
        assert_eq!(spec.dynamic_allocation, None);
        let request = FakeEnv::default().with(|e| SubmitRequest::from_spec(spec, e))?;
        assert!(request.driver_pod_template.is_none() && request.executor_pod_template.is_none());
        assert_eq!(request.conf.get("spark.jars"), Some("local:///a.jar"));
        Ok(())
    }

    #[test]
    fn errors() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                {
                    let mut v = python_dict();
                    v["driver"]["cores"] = json!(0);
                    v
                },
                "driver.cores",
                "driver.cores must be a positive number",
            ),
            (
                {
                    let mut v = python_dict();
                    v["executor"]["cores"] = json!(-1.5);
                    v
                },
                "executor.cores",
                "executor.cores must be a positive number",
            ),
            (
                {
                    let mut v = python_dict();
                    v["driver"]["instances"] = json!(2);
                    v
                },
                "driver.instances",
                "driver.instances is not a setting",
            ),
            (
                {
                    let mut v = python_dict();
                    v["executor"]["instances"] = json!(0);
                    v["dynamic_allocation"] = Value::Null;
                    v
                },
                "spark.executor.instances",
                "Number of executors must be a positive number",
            ),
            (
                {
                    let mut v = python_dict();
                    v["driver"]["memory"] = json!("2 GB");
                    v
                },
                "spark.driver.memory",
                "Driver memory must be a positive number",
            ),
            (
                {
                    let mut v = python_dict();
                    v["image"] = Value::Null;
                    v
                },
                "spark.kubernetes.container.image",
                "Must specify the driver container image",
            ),
            (
                {
                    let mut v = python_dict();
                    v["labels"] = json!({"spark-role": "x"});
                    v
                },
                "spark.kubernetes.driver.label.spark-role",
                "reserved for Spark bookkeeping",
            ),
            (
                {
                    let mut v = python_dict();
                    v["driver"]["volumes"][0]["type"] = json!("configMap");
                    v
                },
                "spark.kubernetes.driver.volumes.configMap.scratch.mount.path",
                "Kubernetes Volume type `configMap` is not supported",
            ),
            (
                {
                    let mut v = python_dict();
                    v["driver"]["pod_template"] = json!({"kind": "Service"});
                    v
                },
                "driver.pod_template",
                "it is a Service, not a Pod",
            ),
            (
                {
                    let mut v = python_dict();
                    v["conf"]["spark.kubernetes.driver.podTemplateFile"] = json!("/t.yaml");
                    v["driver"]["pod_template"] = json!({});
                    v
                },
                "driver.pod_template",
                "both give a pod template",
            ),
            (
                {
                    let mut v = python_dict();
                    v["submission_id"] = json!("not valid!");
                    v
                },
                "sparkube.submission.id",
                "is not a valid label value",
            ),
        ];
        let env = FakeEnv::default().file("/t.yaml", "kind: Pod\n");
        for (value, option, message) in cases {
            let result = env
                .with(|e| SubmitRequest::from_spec(spec(value.clone()), e))
                .and_then(|r| build(&r, &Ids::seeded(1)));
            match result {
                Ok(_) => panic!("accepted: {value}"),
                Err(err) => {
                    assert_eq!(err.option(), option, "{err}");
                    assert!(err.to_string().contains(message), "{err}");
                }
            }
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = python_dict();
        value["executor"]["replicas"] = json!(3);
        let err = serde_json::from_value::<AppSpec>(value)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown field `replicas`"), "{err}");
        let err = serde_json::from_value::<AppSpec>(json!({"name": "x"}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing field `application`"), "{err}");
        let err = serde_json::from_value::<AppSpec>(
            json!({"name": "x", "application": "a", "conf": {"k": [1]}}),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("must be a string"), "{err}");
    }
}
