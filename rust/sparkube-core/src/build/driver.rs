//! The driver pod's own fields (Spark's basic driver step and command step): name, labels,
//! annotations, restart policy, node selector, pull secrets, scheduler; the driver
//! container's image, ports, environment, resources (memory with overhead, cores,
//! `spark.driver.resource.*`) and arguments.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, EnvVarSource, LocalObjectReference, ObjectFieldSelector,
    ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::labels;
use super::{Context, SUBMISSION_ID_LABEL, SparkPod};
use crate::conf::{
    SparkConf, is_kubernetes_quantity, java_double_string, keys, parse_bytes_as_mib, split_list,
};
use crate::error::{Error, Result};
use crate::request::ResourceType;

/// The driver container's name when the template does not name one.
pub const DRIVER_CONTAINER_NAME: &str = "spark-kubernetes-driver";
/// Where the driver reads its `spark.properties`.
pub const SPARK_CONF_DIR: &str = "/opt/spark/conf";
/// The floor of the memory overhead, in MiB (`spark.driver.minMemoryOverhead`).
pub const MIN_MEMORY_OVERHEAD_MIB: u64 = 384;

/// The driver's ports: (name, conf key, default).
pub const DRIVER_PORTS: [(&str, &str, i32); 4] = [
    ("driver-rpc-port", keys::DRIVER_PORT, 7078),
    ("blockmanager", keys::DRIVER_BLOCK_MANAGER_PORT, 7079),
    ("spark-ui", keys::UI_PORT, 4040),
    ("spark-connect", keys::CONNECT_PORT, 15002),
];

/// A port from its conf key, else its default.
pub fn port(conf: &SparkConf, key: &str, default: i32) -> Result<i32> {
    match conf.get(key) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|p| (0..=65535).contains(p))
            .ok_or_else(|| Error::invalid(key, format!("{key}={value:?} is not a port number"))),
    }
}

/// The driver's memory: the pod's request and limit in MiB, and the overhead factor
/// written back as `spark.kubernetes.memoryOverheadFactor`.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverMemory {
    /// `spark.driver.memory` in MiB.
    pub memory_mib: u64,
    /// The overhead added to it, in MiB.
    pub overhead_mib: u64,
    /// The factor written back to the conf.
    pub written_factor: f64,
}

fn factor(conf: &SparkConf, key: &str) -> Result<Option<f64>> {
    match conf.get(key) {
        None => Ok(None),
        Some(value) => match value.trim().parse::<f64>() {
            Ok(f) if f > 0.0 && f.is_finite() => Ok(Some(f)),
            _ => Err(Error::invalid(
                key,
                format!("{key}={value:?}: Ensure that memory overhead is a double greater than 0"),
            )),
        },
    }
}

fn mib(conf: &SparkConf, key: &str, default: &str) -> Result<u64> {
    let value = conf.get_or(key, default);
    parse_bytes_as_mib(value).map_err(|why| Error::invalid(key, format!("{key}={value:?}: {why}")))
}

/// Spark's driver memory rule: overhead = `spark.driver.memoryOverhead`, else
/// max(factor × memory, `spark.driver.minMemoryOverhead` (384 MiB)); factor =
/// `spark.driver.memoryOverheadFactor`, else `spark.kubernetes.memoryOverheadFactor`, else
/// 0.4 for Python/R and 0.1 for JVM apps.
pub fn driver_memory(conf: &SparkConf, resource_type: ResourceType) -> Result<DriverMemory> {
    let memory_mib = mib(conf, keys::DRIVER_MEMORY, "1g")?;
    let legacy = factor(conf, keys::MEMORY_OVERHEAD_FACTOR)?;
    let default_factor = legacy.unwrap_or(match resource_type {
        ResourceType::Java => 0.1,
        ResourceType::Python | ResourceType::R => 0.4,
    });
    let driver_factor =
        factor(conf, keys::DRIVER_MEMORY_OVERHEAD_FACTOR)?.unwrap_or(default_factor);
    let overhead_mib = match conf.get(keys::DRIVER_MEMORY_OVERHEAD) {
        Some(_) => mib(conf, keys::DRIVER_MEMORY_OVERHEAD, "0")?,
        None => {
            let floor = if conf.contains(keys::DRIVER_MIN_MEMORY_OVERHEAD) {
                mib(conf, keys::DRIVER_MIN_MEMORY_OVERHEAD, "384m")?
            } else {
                MIN_MEMORY_OVERHEAD_MIB
            };
            ((driver_factor * memory_mib as f64) as u64).max(floor)
        }
    };
    Ok(DriverMemory {
        memory_mib,
        overhead_mib,
        written_factor: default_factor,
    })
}

/// Confs passed through as Kubernetes quantities to the driver's (or, by the driver, the
/// executors') CPU request and limit; the API server would refuse anything else.
const QUANTITY_KEYS: [&str; 4] = [
    keys::DRIVER_REQUEST_CORES,
    keys::DRIVER_LIMIT_CORES,
    keys::EXECUTOR_REQUEST_CORES,
    "spark.kubernetes.executor.limit.cores",
];

/// Refuses a [`QUANTITY_KEYS`] value that is not a Kubernetes quantity.
pub fn check_quantities(conf: &SparkConf) -> Result<()> {
    for key in QUANTITY_KEYS {
        if let Some(value) = conf.get(key)
            && !is_kubernetes_quantity(value)
        {
            return Err(Error::invalid(
                key,
                format!("{key}={value:?} is not a Kubernetes quantity (such as 500m, 1 or 1.5)"),
            ));
        }
    }
    Ok(())
}

/// `spark.driver.resource.X.amount` with `.vendor` → limits `{vendor}/X: amount`, in conf order.
pub fn resource_limits(conf: &SparkConf) -> Result<Vec<(String, String)>> {
    let mut limits = Vec::new();
    for (rest, amount) in conf.with_prefix(keys::DRIVER_RESOURCE_PREFIX) {
        let Some(resource) = rest.strip_suffix(".amount") else {
            continue;
        };
        let key = format!("{}{rest}", keys::DRIVER_RESOURCE_PREFIX);
        let amount: u64 = amount
            .trim()
            .parse()
            .map_err(|_| Error::invalid(&key, format!("{key}={amount:?} is not a whole number")))?;
        let vendor_key = format!("{}{resource}.vendor", keys::DRIVER_RESOURCE_PREFIX);
        let vendor = conf.get(&vendor_key).filter(|v| !v.is_empty()).ok_or_else(|| {
            Error::invalid(&vendor_key, format!("Resource: {resource} was requested, but vendor was not specified. Set {vendor_key}."))
        })?;
        limits.push((format!("{vendor}/{resource}"), amount.to_string()));
    }
    Ok(limits)
}

/// A boolean conf value as Spark's `booleanConf` reads it (trimmed, any case), `None` when
/// unset.
pub(crate) fn boolean(conf: &SparkConf, key: &str) -> Result<Option<bool>> {
    let Some(value) = conf.get(key) else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(Error::invalid(
            key,
            format!("{key} should be boolean, but was {value}"),
        )),
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// The driver's image, pull policy, ports, environment, resources, labels, annotations and
/// pod-level settings; the conf keys spark-submit adds at this step.
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod, props: &mut SparkConf) -> Result<()> {
    let conf = ctx.conf;
    let image = conf
        .get(keys::DRIVER_CONTAINER_IMAGE)
        .or_else(|| conf.get(keys::CONTAINER_IMAGE))
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| {
            Error::invalid(
                keys::CONTAINER_IMAGE,
                format!(
                    "Must specify the driver container image (set {} or {})",
                    keys::CONTAINER_IMAGE,
                    keys::DRIVER_CONTAINER_IMAGE
                ),
            )
        })?;
    let memory = driver_memory(conf, ctx.req.resource_type)?;
    let total = Quantity(format!("{}Mi", memory.memory_mib + memory.overhead_mib));
    let cores = conf
        .get(keys::DRIVER_REQUEST_CORES)
        .or_else(|| conf.get(keys::DRIVER_CORES))
        .unwrap_or("1");
    let resource_limits = resource_limits(conf)?;
    check_quantities(conf)?;
    labels::validate_executor_conf(conf, &ctx.ids.app_id)?;

    let container = &mut spark_pod.container;
    if container.name.is_empty() {
        container.name = DRIVER_CONTAINER_NAME.to_owned();
    }
    container.image = Some(image.to_owned());
    container.image_pull_policy = Some(
        conf.get_or(keys::IMAGE_PULL_POLICY, "IfNotPresent")
            .to_owned(),
    );
    let ports = container.ports.get_or_insert_with(Vec::new);
    for (name, key, default) in DRIVER_PORTS {
        ports.push(ContainerPort {
            name: Some(name.to_owned()),
            container_port: port(conf, key, default)?,
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        });
    }
    let spark_user = ctx
        .req
        .proxy_user
        .clone()
        .unwrap_or_else(|| ctx.ids.spark_user.clone());
    let envs = container.env.get_or_insert_with(Vec::new);
    envs.push(env("SPARK_USER", spark_user));
    envs.push(env("SPARK_APPLICATION_ID", ctx.ids.app_id.clone()));
    for (name, value) in ctx.prefixed_pairs(keys::DRIVER_ENV_PREFIX) {
        envs.push(env(name, value));
    }
    envs.push(EnvVar {
        name: "SPARK_DRIVER_BIND_ADDRESS".to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_owned()),
                field_path: "status.podIP".to_owned(),
            }),
            ..Default::default()
        }),
    });
    let resources = container
        .resources
        .get_or_insert_with(ResourceRequirements::default);
    let requests = resources.requests.get_or_insert_with(BTreeMap::new);
    requests.insert("cpu".to_owned(), Quantity(cores.to_owned()));
    requests.insert("memory".to_owned(), total.clone());
    let limits = resources.limits.get_or_insert_with(BTreeMap::new);
    if let Some(limit) = conf.get(keys::DRIVER_LIMIT_CORES) {
        limits.insert("cpu".to_owned(), Quantity(limit.to_owned()));
    }
    limits.insert("memory".to_owned(), total);
    for (name, amount) in resource_limits {
        limits.insert(name, Quantity(amount));
    }
    let escalation = boolean(conf, keys::DRIVER_ALLOW_PRIVILEGE_ESCALATION)?
        .or(boolean(conf, keys::ALLOW_PRIVILEGE_ESCALATION)?)
        .unwrap_or(false);
    container
        .security_context
        .get_or_insert_with(SecurityContext::default)
        .allow_privilege_escalation = Some(escalation);

    let meta = &mut spark_pod.pod.metadata;
    meta.name = Some(ctx.driver_pod_name.clone());
    meta.namespace = Some(ctx.namespace.clone());
    let pod_labels = meta.labels.get_or_insert_with(BTreeMap::new);
    pod_labels.extend(ctx.driver_labels.iter().cloned());
    pod_labels.insert(SUBMISSION_ID_LABEL.to_owned(), ctx.submission_id.clone());
    let annotations = labels::annotations(conf, keys::DRIVER_ANNOTATION_PREFIX, &ctx.ids.app_id)?;
    if !annotations.is_empty() {
        meta.annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(annotations);
    }

    let spec = spark_pod.pod.spec.get_or_insert_with(Default::default);
    spec.restart_policy = Some("Never".to_owned());
    let selectors: Vec<(String, String)> = conf
        .with_prefix(keys::NODE_SELECTOR_PREFIX)
        .chain(conf.with_prefix(keys::DRIVER_NODE_SELECTOR_PREFIX))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if !selectors.is_empty() {
        spec.node_selector
            .get_or_insert_with(BTreeMap::new)
            .extend(selectors);
    }
    let pull_secrets = split_list(conf.get_or(keys::IMAGE_PULL_SECRETS, ""));
    if !pull_secrets.is_empty() {
        spec.image_pull_secrets.get_or_insert_with(Vec::new).extend(
            pull_secrets
                .into_iter()
                .map(|name| LocalObjectReference { name }),
        );
    }
    if let Some(scheduler) = conf
        .get(keys::DRIVER_SCHEDULER_NAME)
        .or_else(|| conf.get(keys::SCHEDULER_NAME))
    {
        spec.scheduler_name = Some(scheduler.to_owned());
    }

    props.set(keys::DRIVER_POD_NAME, ctx.driver_pod_name.clone());
    props.set(keys::APP_ID, ctx.ids.app_id.clone());
    props.set(keys::SUBMIT_IN_DRIVER, "true");
    props.set(
        keys::MEMORY_OVERHEAD_FACTOR,
        java_double_string(memory.written_factor),
    );
    Ok(())
}

/// The runner class spark-submit passes for the resource type.
pub fn main_class(ctx: &Context<'_>) -> String {
    match ctx.req.resource_type {
        ResourceType::Java => ctx.req.main_class.clone().unwrap_or_default(),
        ResourceType::Python => "org.apache.spark.deploy.PythonRunner".to_owned(),
        ResourceType::R => "org.apache.spark.deploy.RRunner".to_owned(),
    }
}

/// The container's arguments (appended to a template's): `driver [--proxy-user U]
/// --properties-file … --class C <resource> <args…>`, and `spark.kubernetes.resource.type`.
pub fn configure_command(ctx: &Context<'_>, spark_pod: &mut SparkPod, props: &mut SparkConf) {
    let args = spark_pod.container.args.get_or_insert_with(Vec::new);
    args.push("driver".to_owned());
    if let Some(user) = &ctx.req.proxy_user {
        args.extend(["--proxy-user".to_owned(), user.clone()]);
    }
    args.extend([
        "--properties-file".to_owned(),
        format!("{SPARK_CONF_DIR}/spark.properties"),
        "--class".to_owned(),
        main_class(ctx),
        ctx.req.main_resource.clone(),
    ]);
    args.extend(ctx.req.app_args.iter().cloned());
    props.set(keys::RESOURCE_TYPE, ctx.req.resource_type.conf_value());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        pairs.iter().copied().collect()
    }

    /// The observed spark-submit 4.3.0 values.
    #[test]
    fn memory_overhead_table() {
        use ResourceType::{Java, Python, R};
        type Row = (
            &'static [(&'static str, &'static str)],
            ResourceType,
            u64,
            &'static str,
        );
        let table: &[Row] = &[
            (&[], Java, 1408, "0.1"),
            (&[], Python, 1433, "0.4"),
            (&[], R, 1433, "0.4"),
            (&[("spark.driver.memory", "4g")], Java, 4505, "0.1"),
            (
                &[
                    ("spark.driver.memory", "4g"),
                    ("spark.driver.memoryOverheadFactor", "0.2"),
                ],
                Java,
                4915,
                "0.1",
            ),
            (
                &[
                    ("spark.driver.memory", "8g"),
                    ("spark.driver.memoryOverheadFactor", "0.2"),
                ],
                Java,
                9830,
                "0.1",
            ),
            (&[("spark.driver.memory", "512m")], Java, 896, "0.1"),
            (&[("spark.driver.memory", "2g")], Python, 2867, "0.4"),
            (
                &[
                    ("spark.driver.memory", "2g"),
                    ("spark.driver.memoryOverhead", "500m"),
                ],
                Python,
                2548,
                "0.4",
            ),
            (
                &[
                    ("spark.driver.memory", "2048m"),
                    ("spark.driver.memoryOverhead", "1g"),
                ],
                Java,
                3072,
                "0.1",
            ),
            (
                &[
                    ("spark.driver.memory", "3g"),
                    ("spark.kubernetes.memoryOverheadFactor", "0.3"),
                ],
                Python,
                3993,
                "0.3",
            ),
            (
                &[
                    ("spark.driver.memory", "4g"),
                    ("spark.kubernetes.memoryOverheadFactor", "0.25"),
                ],
                Java,
                5120,
                "0.25",
            ),
            (
                &[
                    ("spark.driver.memory", "1500m"),
                    ("spark.kubernetes.memoryOverheadFactor", "0.25"),
                    ("spark.driver.minMemoryOverhead", "500m"),
                ],
                Python,
                2000,
                "0.25",
            ),
            (&[("spark.driver.memory", "1000")], Java, 1384, "0.1"),
        ];
        for (pairs, kind, total, written) in table {
            let memory = match driver_memory(&conf(pairs), *kind) {
                Ok(m) => m,
                Err(err) => panic!("{pairs:?}: {err}"),
            };
            assert_eq!(
                memory.memory_mib + memory.overhead_mib,
                *total,
                "{pairs:?} {kind:?}"
            );
            assert_eq!(
                java_double_string(memory.written_factor),
                *written,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn memory_errors_name_the_key() {
        let table: &[(&str, &str)] = &[
            ("spark.driver.memory", "2 GB"),
            ("spark.driver.memoryOverhead", "-1g"),
            ("spark.driver.memoryOverheadFactor", "abc"),
            ("spark.kubernetes.memoryOverheadFactor", "0"),
            ("spark.driver.minMemoryOverhead", "1.5g"),
        ];
        for (key, value) in table {
            let err = driver_memory(&conf(&[(key, value)]), ResourceType::Java).err();
            assert_eq!(
                err.as_ref().map(|e| e.option()),
                Some(*key),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn resource_limits_need_a_vendor() -> Result<()> {
        let ok = conf(&[
            ("spark.driver.resource.gpu.amount", "1"),
            ("spark.driver.resource.gpu.vendor", "nvidia.com"),
            ("spark.driver.resource.fpga.vendor", "xilinx.com"),
        ]);
        assert_eq!(
            resource_limits(&ok)?,
            vec![("nvidia.com/gpu".to_owned(), "1".to_owned())]
        );
        let missing = conf(&[("spark.driver.resource.gpu.amount", "1")]);
        let err = resource_limits(&missing)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("Resource: gpu was requested, but vendor was not specified."),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn ports_default_and_override() -> Result<()> {
        let c = conf(&[("spark.driver.port", "7000")]);
        assert_eq!(port(&c, keys::DRIVER_PORT, 7078)?, 7000);
        assert_eq!(port(&c, keys::UI_PORT, 4040)?, 4040);
        assert!(port(&conf(&[("spark.ui.port", "x")]), keys::UI_PORT, 4040).is_err());
        Ok(())
    }
}
