//! The sums of a preflight: what a whole application (the driver plus its executors) will ask
//! of a namespace, compared with what its ResourceQuotas have left and what its LimitRanges
//! allow, before anything runs. A dry run asks the API server about the driver pod alone; the
//! executors are created later by the driver, so their size comes from Spark's own rule
//! (`BasicExecutorFeatureStep`: memory + overhead + PySpark memory + off-heap, cores or
//! `spark.kubernetes.executor.request.cores`) and their count from `spark.executor.instances`
//! or the dynamic-allocation maximum. No I/O: `sparkube::preflight` reads and sends.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use serde::{Deserialize, Serialize};

use crate::SparkConf;
use crate::build::driver::MIN_MEMORY_OVERHEAD_MIB;
use crate::conf::keys;
use crate::conf::parse_bytes_as_mib;
use crate::error::{Error, Result};
use crate::request::ResourceType;

/// Amounts by quota resource name (`requests.cpu`, `limits.memory`, `pods`, ...), in cores,
/// bytes or counts.
pub type Usage = BTreeMap<String, f64>;

/// What one executor pod asks for, as the driver will create it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorSize {
    /// CPU request in cores (`spark.kubernetes.executor.request.cores`, else `spark.executor.cores`).
    pub cpu_request: f64,
    /// CPU limit in cores (`spark.kubernetes.executor.limit.cores`), when set.
    pub cpu_limit: Option<f64>,
    /// Memory request and limit in MiB: heap, overhead, PySpark memory and off-heap.
    pub memory_mib: u64,
}

/// How many executors the app may run at once: `spark.dynamicAllocation.maxExecutors` when
/// dynamic allocation is on (`None` when unbounded, Spark's default), else
/// `spark.executor.instances` (default 2).
pub fn executor_count(conf: &SparkConf) -> Result<Option<u64>> {
    let count = |key: &str, default: Option<&str>| -> Result<Option<u64>> {
        match conf.get(key).or(default) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                Error::invalid(key, format!("{key}={v:?} is not a number of executors"))
            }),
        }
    };
    if conf.get_bool(keys::DYN_ALLOCATION_ENABLED, false) {
        count(keys::DYN_ALLOCATION_MAX, None)
    } else {
        count(keys::EXECUTOR_INSTANCES, Some("2"))
    }
}

fn mib(conf: &SparkConf, key: &str, default: &str) -> Result<u64> {
    let value = conf.get_or(key, default);
    parse_bytes_as_mib(value).map_err(|why| Error::invalid(key, format!("{key}={value:?}: {why}")))
}

fn cores(conf: &SparkConf, key: &str) -> Result<Option<f64>> {
    conf.get(key)
        .map(|v| {
            parse_quantity(v).ok_or_else(|| {
                Error::invalid(key, format!("{key}={v:?} is not a Kubernetes quantity"))
            })
        })
        .transpose()
}

/// Spark's executor pod size for this conf.
pub fn executor_size(conf: &SparkConf, resource_type: ResourceType) -> Result<ExecutorSize> {
    let memory = mib(conf, keys::EXECUTOR_MEMORY, "1g")?;
    let default_factor = match conf.get(keys::MEMORY_OVERHEAD_FACTOR) {
        Some(v) => v.trim().parse::<f64>().map_err(|_| {
            Error::invalid(
                keys::MEMORY_OVERHEAD_FACTOR,
                format!("{}={v:?} is not a number", keys::MEMORY_OVERHEAD_FACTOR),
            )
        })?,
        None => match resource_type {
            ResourceType::Java => 0.1,
            ResourceType::Python | ResourceType::R => 0.4,
        },
    };
    let factor_key = "spark.executor.memoryOverheadFactor";
    let factor = match conf.get(factor_key) {
        Some(v) => v.trim().parse::<f64>().map_err(|_| {
            Error::invalid(factor_key, format!("{factor_key}={v:?} is not a number"))
        })?,
        None => default_factor,
    };
    let overhead = match conf.get(keys::EXECUTOR_MEMORY_OVERHEAD) {
        Some(_) => mib(conf, keys::EXECUTOR_MEMORY_OVERHEAD, "0")?,
        None => {
            let floor = mib(
                conf,
                "spark.executor.minMemoryOverhead",
                &format!("{MIN_MEMORY_OVERHEAD_MIB}m"),
            )?;
            ((factor * memory as f64) as u64).max(floor)
        }
    };
    let pyspark = match (resource_type, conf.get("spark.executor.pyspark.memory")) {
        (ResourceType::Python, Some(_)) => mib(conf, "spark.executor.pyspark.memory", "0")?,
        _ => 0,
    };
    let off_heap = if conf.get_bool("spark.memory.offHeap.enabled", false) {
        mib(conf, "spark.memory.offHeap.size", "0")?
    } else {
        0
    };
    let cpu_request = match cores(conf, keys::EXECUTOR_REQUEST_CORES)? {
        Some(c) => c,
        None => cores(conf, keys::EXECUTOR_CORES)?.unwrap_or(1.0),
    };
    Ok(ExecutorSize {
        cpu_request,
        cpu_limit: cores(conf, "spark.kubernetes.executor.limit.cores")?,
        memory_mib: memory + overhead + pyspark + off_heap,
    })
}

/// Parses a Kubernetes quantity (`500m`, `2`, `1.5Gi`, `1e3`) into base units.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n * multiplier)
}

/// Formats an amount of a quota resource for people: cores as `12` or `1.5`, memory in GiB or
/// MiB, counts as integers.
pub fn format_amount(resource: &str, v: f64) -> String {
    if resource.ends_with("memory") || resource.ends_with("storage") {
        let gib = v / 1024f64.powi(3);
        return if gib >= 1.0 {
            format!("{} GiB", trim(gib))
        } else {
            format!("{} MiB", trim(v / 1024f64.powi(2)))
        };
    }
    if resource.ends_with("cpu") {
        return format!("{} CPU", trim(v));
    }
    trim(v)
}

fn trim(v: f64) -> String {
    let s = format!("{:.2}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn add(usage: &mut Usage, resource: &str, v: f64) {
    *usage.entry(resource.to_string()).or_insert(0.0) += v;
    if let Some(bare) = resource.strip_prefix("requests.") {
        *usage.entry(bare.to_string()).or_insert(0.0) += v;
    }
}

/// What a pod charges to a quota, from its containers' requests and limits (as kube-apiserver
/// counts it): `pods`, `requests.cpu` (also `cpu`), `requests.memory` (also `memory`),
/// `limits.cpu`, `limits.memory`.
pub fn pod_usage(pod: &Pod) -> Usage {
    let mut usage = Usage::new();
    add(&mut usage, "pods", 1.0);
    add(&mut usage, "count/pods", 1.0);
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    for c in containers {
        let Some(r) = &c.resources else { continue };
        for (kind, map) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (res, q) in map.iter().flatten() {
                if let Some(v) = parse_quantity(&q.0) {
                    add(&mut usage, &format!("{kind}.{res}"), v);
                }
            }
        }
    }
    usage
}

/// What one executor charges, after the namespace's LimitRange defaults fill what Spark leaves
/// unset (a CPU limit, usually).
pub fn executor_usage(size: &ExecutorSize, ranges: &[LimitRange]) -> Usage {
    let mut requests: BTreeMap<&str, f64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, f64> = BTreeMap::new();
    let memory = size.memory_mib as f64 * 1024f64.powi(2);
    requests.insert("cpu", size.cpu_request);
    requests.insert("memory", memory);
    limits.insert("memory", memory);
    if let Some(l) = size.cpu_limit {
        limits.insert("cpu", l);
    }
    for item in container_limits(ranges) {
        for res in ["cpu", "memory"] {
            if !limits.contains_key(res)
                && let Some(v) = item
                    .default
                    .as_ref()
                    .and_then(|d| d.get(res))
                    .and_then(|q| parse_quantity(&q.0))
            {
                limits.insert(res, v);
            }
        }
    }
    let mut usage = Usage::new();
    add(&mut usage, "pods", 1.0);
    add(&mut usage, "count/pods", 1.0);
    for (res, v) in requests {
        add(&mut usage, &format!("requests.{res}"), v);
    }
    for (res, v) in limits {
        add(&mut usage, &format!("limits.{res}"), v);
    }
    usage
}

fn container_limits(
    ranges: &[LimitRange],
) -> impl Iterator<Item = &k8s_openapi::api::core::v1::LimitRangeItem> {
    ranges
        .iter()
        .filter_map(|r| r.spec.as_ref())
        .flat_map(|s| s.limits.iter())
        .filter(|l| l.type_ == "Container")
}

/// One finding of a preflight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked: `Pod spark-pi-driver`, `ResourceQuota compute`, `LimitRange limits`,
    /// `executors`.
    pub subject: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, in one line.
    pub message: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "ok" } else { "FAIL" };
        write!(f, "{mark:>4}  {}: {}", self.subject, self.message)
    }
}

/// Compares the whole app with each quota's remaining amounts: the driver (as the dry run
/// returned it, LimitRange defaults applied) first, then `count` executors of `executor`.
/// A namespace without quota passes with a check that says so.
pub fn check_quotas(
    namespace: &str,
    quotas: &[ResourceQuota],
    driver: &Usage,
    executor: &Usage,
    count: Option<u64>,
) -> Vec<Check> {
    if quotas.is_empty() {
        return vec![Check {
            subject: "ResourceQuota".into(),
            passed: true,
            message: format!(
                "namespace {namespace} has no ResourceQuota: nothing limits the app's total size"
            ),
        }];
    }
    let mut out = Vec::new();
    for q in quotas {
        let name = q.metadata.name.clone().unwrap_or_default();
        let amounts = |m: Option<
            &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        >|
         -> Usage {
            m.into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), parse_quantity(&v.0)?)))
                .collect()
        };
        let hard = amounts(
            q.status
                .as_ref()
                .and_then(|s| s.hard.as_ref())
                .or(q.spec.as_ref().and_then(|s| s.hard.as_ref())),
        );
        let used = amounts(q.status.as_ref().and_then(|s| s.used.as_ref()));
        let mut problems = Vec::new();
        for (res, limit) in &hard {
            let (Some(d), Some(e)) = (driver.get(res), executor.get(res)) else {
                continue;
            };
            let left = limit - used.get(res).copied().unwrap_or(0.0);
            if *d > left + 1e-9 {
                problems.push(format!(
                    "the driver needs {} ({res}), the quota has {} left",
                    format_amount(res, *d),
                    format_amount(res, left.max(0.0))
                ));
                continue;
            }
            let after_driver = left - d;
            let room = if *e > 0.0 {
                ((after_driver + 1e-9) / e).floor() as u64
            } else {
                u64::MAX
            };
            match count {
                Some(n) if (n as f64) * e > after_driver + 1e-9 => problems.push(format!(
                    "driver fits; {n} executors need {} ({res}), the quota has {} left after the driver (room for {room})",
                    format_amount(res, n as f64 * e),
                    format_amount(res, after_driver.max(0.0))
                )),
                None if *e > 0.0 => problems.push(format!(
                    "driver fits; dynamic allocation has no maximum (spark.dynamicAllocation.maxExecutors) and the quota has room for {room} executors ({res}: {} left after the driver)",
                    format_amount(res, after_driver.max(0.0))
                )),
                _ => {}
            }
        }
        let subject = format!("ResourceQuota {name}");
        if problems.is_empty() {
            out.push(Check {
                subject,
                passed: true,
                message: match count {
                    Some(n) => format!(
                        "driver fits; {n} executor{} fit{} ({})",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "s" } else { "" },
                        remaining(&hard, &used)
                    ),
                    None => format!("driver fits ({})", remaining(&hard, &used)),
                },
            });
        } else {
            out.push(Check {
                subject,
                passed: false,
                message: problems.join("; "),
            });
        }
    }
    out
}

fn remaining(hard: &Usage, used: &Usage) -> String {
    hard.iter()
        .map(|(k, h)| {
            format!(
                "{k}: {} of {} left",
                format_amount(k, (h - used.get(k).copied().unwrap_or(0.0)).max(0.0)),
                format_amount(k, *h)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one executor against each LimitRange's `min`/`max` per container, which the API
/// server will apply when the driver creates it (the dry run checks the driver itself).
pub fn check_limit_ranges(ranges: &[LimitRange], executor: &Usage) -> Vec<Check> {
    let mut out = Vec::new();
    for r in ranges {
        let name = r.metadata.name.clone().unwrap_or_default();
        let mut problems = Vec::new();
        for item in r.spec.iter().flat_map(|s| s.limits.iter()) {
            if item.type_ != "Container" && item.type_ != "Pod" {
                continue;
            }
            for res in ["cpu", "memory"] {
                let q = |m: &Option<
                    BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
                >| {
                    m.as_ref()
                        .and_then(|m| m.get(res))
                        .and_then(|q| parse_quantity(&q.0))
                };
                let request = executor.get(&format!("requests.{res}")).copied();
                let limit = executor.get(&format!("limits.{res}")).copied();
                if let (Some(max), Some(limit)) = (q(&item.max), limit)
                    && limit > max + 1e-9
                {
                    problems.push(format!(
                        "an executor's {res} limit is {}, the maximum per {} is {}",
                        format_amount(res, limit),
                        item.type_,
                        format_amount(res, max)
                    ));
                }
                if let (Some(min), Some(request)) = (q(&item.min), request)
                    && request + 1e-9 < min
                {
                    problems.push(format!(
                        "an executor's {res} request is {}, the minimum per {} is {}",
                        format_amount(res, request),
                        item.type_,
                        format_amount(res, min)
                    ));
                }
            }
        }
        out.push(Check {
            subject: format!("LimitRange {name}"),
            passed: problems.is_empty(),
            message: if problems.is_empty() {
                "executors are within its minimum and maximum".into()
            } else {
                problems.join("; ")
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Conf keys and values of a case.
    type Pairs = &'static [(&'static str, &'static str)];

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        let mut c = SparkConf::new();
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    #[test]
    fn executor_sizes_follow_spark() {
        let table: [(Pairs, ResourceType, f64, u64); 5] = [
            (&[], ResourceType::Java, 1.0, 1024 + 384),
            (
                &[("spark.executor.memory", "4g")],
                ResourceType::Java,
                1.0,
                4096 + 409,
            ),
            (
                &[("spark.executor.memory", "4g")],
                ResourceType::Python,
                1.0,
                4096 + 1638,
            ),
            (
                &[
                    ("spark.executor.cores", "4"),
                    ("spark.kubernetes.executor.request.cores", "500m"),
                    ("spark.executor.memoryOverhead", "1g"),
                ],
                ResourceType::Java,
                0.5,
                2048,
            ),
            (
                &[
                    ("spark.memory.offHeap.enabled", "true"),
                    ("spark.memory.offHeap.size", "1g"),
                    ("spark.executor.pyspark.memory", "512m"),
                ],
                ResourceType::Python,
                1.0,
                1024 + 409 + 1024 + 512,
            ),
        ];
        for (pairs, ty, cpu, mem) in table {
            let size = executor_size(&conf(pairs), ty).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((size.cpu_request, size.memory_mib), (cpu, mem), "{pairs:?}");
        }
    }

    #[test]
    fn executor_counts() {
        let table: [(Pairs, Option<u64>); 4] = [
            (&[], Some(2)),
            (&[("spark.executor.instances", "8")], Some(8)),
            (
                &[
                    ("spark.dynamicAllocation.enabled", "true"),
                    ("spark.dynamicAllocation.maxExecutors", "20"),
                ],
                Some(20),
            ),
            (&[("spark.dynamicAllocation.enabled", "true")], None),
        ];
        for (pairs, want) in table {
            assert_eq!(executor_count(&conf(pairs)).ok(), Some(want), "{pairs:?}");
        }
        let bad = executor_count(&conf(&[("spark.executor.instances", "many")]));
        assert!(
            bad.is_err_and(|e| e.to_string().contains("spark.executor.instances")),
            "a bad count names its key"
        );
    }

    #[test]
    fn quantities() {
        for (q, want) in [
            ("500m", Some(0.5)),
            ("2", Some(2.0)),
            ("1Gi", Some(1073741824.0)),
            ("1e3", Some(1000.0)),
            ("1.5", Some(1.5)),
            ("x", None),
            ("1Zi", None),
        ] {
            assert_eq!(parse_quantity(q), want, "{q}");
        }
    }

    fn quota(hard: serde_json::Value, used: serde_json::Value) -> ResourceQuota {
        serde_json::from_value(json!({
            "metadata": {"name": "compute"},
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": used},
        }))
        .unwrap_or_default()
    }

    #[test]
    fn the_whole_app_against_a_quota() {
        let size = ExecutorSize {
            cpu_request: 4.0,
            cpu_limit: None,
            memory_mib: 1024,
        };
        let executor = executor_usage(&size, &[]);
        let mut driver = Usage::new();
        add(&mut driver, "pods", 1.0);
        add(&mut driver, "requests.cpu", 1.0);
        let q = quota(json!({"requests.cpu": "20"}), json!({"requests.cpu": "7"}));
        let checks = check_quotas("ns", std::slice::from_ref(&q), &driver, &executor, Some(8));
        assert_eq!(checks.len(), 1);
        assert!(!checks[0].passed);
        assert_eq!(
            checks[0].message,
            "driver fits; 8 executors need 32 CPU (requests.cpu), the quota has 12 CPU left after the driver (room for 3)"
        );
        let checks = check_quotas("ns", std::slice::from_ref(&q), &driver, &executor, Some(3));
        assert!(checks[0].passed, "{checks:?}");
        let small = quota(
            json!({"requests.cpu": "1"}),
            json!({"requests.cpu": "500m"}),
        );
        let checks = check_quotas("ns", &[small], &driver, &executor, Some(1));
        assert_eq!(
            checks[0].message,
            "the driver needs 1 CPU (requests.cpu), the quota has 0.5 CPU left"
        );
        let none = check_quotas("ns", &[], &driver, &executor, Some(8));
        assert!(none[0].passed && none[0].message.contains("no ResourceQuota"));
    }

    #[test]
    fn limit_range_defaults_and_maximums_apply_to_executors() {
        let range: LimitRange = serde_json::from_value(json!({
            "metadata": {"name": "limits"},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "2"}, "max": {"memory": "1Gi"}}]}
        }))
        .unwrap_or_default();
        let size = ExecutorSize {
            cpu_request: 1.0,
            cpu_limit: None,
            memory_mib: 1408,
        };
        let usage = executor_usage(&size, std::slice::from_ref(&range));
        assert_eq!(usage.get("limits.cpu"), Some(&2.0));
        let checks = check_limit_ranges(&[range], &usage);
        assert!(!checks[0].passed);
        assert_eq!(
            checks[0].message,
            "an executor's memory limit is 1.38 GiB, the maximum per Container is 1 GiB"
        );
    }
}
