//! User volumes (Spark's volumes step): `spark.kubernetes.{driver,executor}.volumes.<type>.<name>.*`
//! for the four kinds Spark supports (`hostPath`, `emptyDir`, `nfs`, `persistentVolumeClaim`),
//! their mounts, and the claims Spark creates for `persistentVolumeClaim` volumes that give a
//! `storageClass` and a `sizeLimit` (`claimName=OnDemand` names the claim after the pod).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, HostPathVolumeSource, NFSVolumeSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::jvm_order;
use super::labels::APP_ID_LABEL;
use super::names::is_dns_label;
use super::{Context, SparkPod};
use crate::conf::{SparkConf, is_kubernetes_quantity, keys};
use crate::error::{Error, Result};

/// The claim name placeholder that makes Spark name (and create) the claim itself.
pub const ON_DEMAND: &str = "OnDemand";

/// The kinds of user volume Spark supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// `hostPath`: options `path`, `type`.
    HostPath,
    /// `emptyDir`: options `medium`, `sizeLimit`.
    EmptyDir,
    /// `nfs`: options `server`, `path`.
    Nfs,
    /// `persistentVolumeClaim`: options `claimName`, `storageClass`, `sizeLimit`.
    PersistentVolumeClaim,
}

impl VolumeKind {
    /// The kind named as in the conf key, if Spark supports it.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hostPath" => VolumeKind::HostPath,
            "emptyDir" => VolumeKind::EmptyDir,
            "nfs" => VolumeKind::Nfs,
            "persistentVolumeClaim" => VolumeKind::PersistentVolumeClaim,
            _ => return None,
        })
    }
}

/// One user volume as the conf describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeSpec {
    /// The kind.
    pub kind: VolumeKind,
    /// The volume's name.
    pub name: String,
    /// `mount.path`.
    pub mount_path: String,
    /// `mount.subPath` (empty when unset).
    pub sub_path: String,
    /// `mount.subPathExpr` (empty when unset).
    pub sub_path_expr: String,
    /// `mount.readOnly`.
    pub read_only: bool,
    /// `options.*`, in order.
    pub options: Vec<(String, String)>,
    /// `label.*` (claims only).
    pub labels: Vec<(String, String)>,
    /// `annotation.*` (claims only).
    pub annotations: Vec<(String, String)>,
}

impl VolumeSpec {
    /// The hash of the `KubernetesVolumeSpec` (and its kind's volume conf) Spark makes of this
    /// volume, which orders more than four volumes.
    pub fn spark_hash(&self) -> i32 {
        use jvm_order::{
            java_string_hash as h, map_hash, option_hash, option_string_hash, product_hash,
        };
        let conf = match self.kind {
            VolumeKind::HostPath => product_hash(
                "KubernetesHostPathVolumeConf",
                &[
                    h(self.option("path").unwrap_or_default()),
                    h(self.option("type").unwrap_or_default()),
                ],
            ),
            VolumeKind::PersistentVolumeClaim => product_hash(
                "KubernetesPVCVolumeConf",
                &[
                    h(self.option("claimName").unwrap_or_default()),
                    option_string_hash(self.option("storageClass")),
                    option_string_hash(self.option("sizeLimit")),
                    option_hash(Some(map_hash(&self.labels))),
                    option_hash(Some(map_hash(&self.annotations))),
                ],
            ),
            VolumeKind::EmptyDir => product_hash(
                "KubernetesEmptyDirVolumeConf",
                &[
                    option_string_hash(self.option("medium")),
                    option_string_hash(self.option("sizeLimit")),
                ],
            ),
            VolumeKind::Nfs => product_hash(
                "KubernetesNFSVolumeConf",
                &[
                    h(self.option("path").unwrap_or_default()),
                    h(self.option("server").unwrap_or_default()),
                ],
            ),
        };
        product_hash(
            "KubernetesVolumeSpec",
            &[
                h(&self.name),
                h(&self.mount_path),
                h(&self.sub_path),
                h(&self.sub_path_expr),
                jvm_order::java_bool_hash(self.read_only),
                conf,
            ],
        )
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every volume under `prefix` (`spark.kubernetes.driver.volumes.` or the executor's)
/// of a conf that spark-submit would hold with `conf_entries` entries, in the order Spark
/// lists them ([`spark_order`]), refusing what Spark would refuse.
pub fn parse_volumes(
    conf: &SparkConf,
    prefix: &str,
    conf_entries: usize,
) -> Result<Vec<VolumeSpec>> {
    // `getAllWithPrefix(prefix).toMap`, then its keys' distinct `(type, name)` pairs.
    let properties = jvm_order::immutable_order(
        jvm_order::get_all_with_prefix(conf, prefix, conf_entries),
        |(k, _)| jvm_order::java_string_hash(k),
    );
    let mut order: Vec<(String, String)> = Vec::new();
    for (rest, _) in properties {
        let mut parts = rest.splitn(3, '.');
        let (Some(kind), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let pair = (kind.to_owned(), name.to_owned());
        if !order.contains(&pair) {
            order.push(pair);
        }
    }
    let mut specs = Vec::new();
    for (kind_name, name) in order {
        let base = format!("{prefix}{kind_name}.{name}.");
        let kind = VolumeKind::parse(&kind_name).ok_or_else(|| {
            Error::invalid(format!("{base}mount.path"), format!("Kubernetes Volume type `{kind_name}` is not supported ({prefix}{kind_name}.{name}.*)"))
        })?;
        if !is_dns_label(&name) {
            return Err(Error::invalid(
                format!("{base}mount.path"),
                format!(
                    "{prefix}{kind_name}.{name}: {name:?} is not a valid volume name (a DNS-1123 label)"
                ),
            ));
        }
        let get = |key: &str| conf.get(&format!("{base}{key}"));
        let required = |key: &str| {
            get(key)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::invalid(
                        format!("{base}{key}"),
                        format!("{base}{key} must be set for the {kind_name} volume {name}"),
                    )
                })
        };
        let read_only = match get("mount.readOnly").map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                return Err(Error::invalid(
                    format!("{base}mount.readOnly"),
                    format!("{base}mount.readOnly={v:?} must be true or false"),
                ));
            }
        };
        let spec = VolumeSpec {
            kind,
            mount_path: required("mount.path")?,
            sub_path: get("mount.subPath").unwrap_or_default().to_owned(),
            sub_path_expr: get("mount.subPathExpr").unwrap_or_default().to_owned(),
            read_only,
            options: conf
                .with_prefix(&format!("{base}options."))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            labels: conf
                .with_prefix(&format!("{base}label."))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: conf
                .with_prefix(&format!("{base}annotation."))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            name: name.clone(),
        };
        if !spec.sub_path.is_empty() && !spec.sub_path_expr.is_empty() {
            return Err(Error::invalid(
                format!("{base}mount.subPathExpr"),
                format!("{base}mount.subPath and {base}mount.subPathExpr cannot both be set"),
            ));
        }
        let needed: &[&str] = match kind {
            VolumeKind::HostPath => &["path"],
            VolumeKind::EmptyDir => &[],
            VolumeKind::Nfs => &["server", "path"],
            VolumeKind::PersistentVolumeClaim => &["claimName"],
        };
        for option in needed {
            required(&format!("options.{option}"))?;
        }
        if let Some(size) = get("options.sizeLimit")
            && !is_kubernetes_quantity(size)
        {
            return Err(Error::invalid(
                format!("{base}options.sizeLimit"),
                format!(
                    "{base}options.sizeLimit={size:?} is not a Kubernetes quantity (such as 500Mi or 10Gi)"
                ),
            ));
        }
        specs.push(spec);
    }
    let mut seen: Vec<&str> = Vec::new();
    for spec in &specs {
        if seen.contains(&spec.mount_path.as_str()) {
            return Err(Error::invalid(
                format!("{prefix}*.mount.path"),
                format!(
                    "Found duplicated mountPath: '{}' ({prefix}*.mount.path)",
                    spec.mount_path
                ),
            ));
        }
        seen.push(&spec.mount_path);
    }
    Ok(spark_order(specs))
}

/// The order of Spark's `Set` of `KubernetesVolumeSpec`s built from `specs` in the order of
/// their `(type, name)` pairs: kept up to four, by the specs' case class hashes beyond.
pub fn spark_order(specs: Vec<VolumeSpec>) -> Vec<VolumeSpec> {
    jvm_order::immutable_order(specs, VolumeSpec::spark_hash)
}

/// The driver's user volumes and mounts; the claims to create. Executor volumes are checked
/// too, since the driver would only fail on them later.
pub fn configure(
    ctx: &Context<'_>,
    spark_pod: &mut SparkPod,
) -> Result<Vec<PersistentVolumeClaim>> {
    let entries = ctx.jvm_conf_entries();
    parse_volumes(ctx.conf, keys::EXECUTOR_VOLUMES_PREFIX, entries)?;
    let specs = parse_volumes(ctx.conf, keys::DRIVER_VOLUMES_PREFIX, entries)?;
    let access_mode = if ctx
        .conf
        .get_bool("spark.kubernetes.legacy.useReadWriteOnceAccessMode", false)
    {
        "ReadWriteOnce"
    } else {
        "ReadWriteOncePod"
    };
    let mut claims = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let mut volume = Volume {
            name: spec.name.clone(),
            ..Default::default()
        };
        let option = |name: &str| spec.option(name).map(str::to_owned);
        match spec.kind {
            VolumeKind::HostPath => {
                volume.host_path = Some(HostPathVolumeSource {
                    path: option("path").unwrap_or_default(),
                    type_: Some(option("type").unwrap_or_default()),
                });
            }
            VolumeKind::EmptyDir => {
                volume.empty_dir = Some(EmptyDirVolumeSource {
                    medium: Some(option("medium").unwrap_or_default()),
                    size_limit: option("sizeLimit").map(Quantity),
                });
            }
            VolumeKind::Nfs => {
                volume.nfs = Some(NFSVolumeSource {
                    server: option("server").unwrap_or_default(),
                    path: option("path").unwrap_or_default(),
                    read_only: None,
                });
            }
            VolumeKind::PersistentVolumeClaim => {
                let claim_name = option("claimName")
                    .unwrap_or_default()
                    .replace(ON_DEMAND, &format!("{}-driver-pvc-{index}", ctx.prefix));
                if let (Some(storage_class), Some(size)) =
                    (option("storageClass"), option("sizeLimit"))
                {
                    let mut metadata = ctx.owned_meta(claim_name.clone());
                    let mut labels =
                        BTreeMap::from([(APP_ID_LABEL.to_owned(), ctx.ids.app_id.clone())]);
                    labels.extend(spec.labels.iter().cloned());
                    metadata.labels = Some(labels);
                    if !spec.annotations.is_empty() {
                        metadata.annotations = Some(spec.annotations.iter().cloned().collect());
                    }
                    claims.push(PersistentVolumeClaim {
                        metadata,
                        spec: Some(PersistentVolumeClaimSpec {
                            access_modes: Some(vec![access_mode.to_owned()]),
                            storage_class_name: Some(storage_class),
                            resources: Some(VolumeResourceRequirements {
                                requests: Some(BTreeMap::from([(
                                    "storage".to_owned(),
                                    Quantity(size),
                                )])),
                                limits: None,
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name,
                    read_only: Some(spec.read_only),
                });
            }
        }
        spark_pod.mount(
            volume,
            VolumeMount {
                name: spec.name.clone(),
                mount_path: spec.mount_path.clone(),
                read_only: Some(spec.read_only),
                sub_path: Some(spec.sub_path.clone()),
                sub_path_expr: Some(spec.sub_path_expr.clone()),
                ..Default::default()
            },
        );
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        pairs.iter().copied().collect()
    }

    const P: &str = "spark.kubernetes.driver.volumes.";

    #[test]
    fn parses_all_four_kinds_in_sparks_order() -> Result<()> {
        let c = conf(&[
            ("spark.kubernetes.driver.volumes.nfs.n.mount.path", "/n"),
            ("spark.kubernetes.driver.volumes.nfs.n.options.server", "s"),
            ("spark.kubernetes.driver.volumes.nfs.n.options.path", "/p"),
            (
                "spark.kubernetes.driver.volumes.hostPath.hp.mount.path",
                "/hp",
            ),
            (
                "spark.kubernetes.driver.volumes.hostPath.hp.options.path",
                "/host",
            ),
            (
                "spark.kubernetes.driver.volumes.hostPath.hp.mount.readOnly",
                "TRUE",
            ),
            (
                "spark.kubernetes.driver.volumes.emptyDir.ed.mount.path",
                "/ed",
            ),
            (
                "spark.kubernetes.driver.volumes.emptyDir.ed.mount.subPath",
                "sub",
            ),
            (
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.pv.mount.path",
                "/pv",
            ),
            (
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.pv.options.claimName",
                "OnDemand",
            ),
        ]);
        let specs = parse_volumes(&c, P, c.len())?;
        let summary: Vec<_> = specs
            .iter()
            .map(|s| {
                (
                    s.kind,
                    s.name.as_str(),
                    s.mount_path.as_str(),
                    s.read_only,
                    s.sub_path.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            // Spark's order (the JVM lists these four the same way), not the conf's.
            vec![
                (VolumeKind::EmptyDir, "ed", "/ed", false, "sub"),
                (VolumeKind::PersistentVolumeClaim, "pv", "/pv", false, ""),
                (VolumeKind::HostPath, "hp", "/hp", true, ""),
                (VolumeKind::Nfs, "n", "/n", false, ""),
            ]
        );
        Ok(())
    }

    /// A conf with `pairs` and `spark.filler.k<i>=v<i>` up to `entries` entries.
    fn filled(pairs: &[(&str, &str)], entries: usize) -> SparkConf {
        let mut c = conf(pairs);
        for i in 0..entries - pairs.len() {
            c.set(format!("spark.filler.k{i}"), format!("v{i}"));
        }
        c
    }

    const SIX: &[(&str, &str)] = &[
        (
            "spark.kubernetes.driver.volumes.hostPath.data.mount.path",
            "/data",
        ),
        (
            "spark.kubernetes.driver.volumes.hostPath.data.options.path",
            "/mnt",
        ),
        (
            "spark.kubernetes.driver.volumes.emptyDir.tmp.mount.path",
            "/tmp2",
        ),
        (
            "spark.kubernetes.driver.volumes.emptyDir.tmp.options.medium",
            "Memory",
        ),
        (
            "spark.kubernetes.driver.volumes.nfs.share.mount.path",
            "/nfs",
        ),
        (
            "spark.kubernetes.driver.volumes.nfs.share.options.server",
            "nfs.example.com",
        ),
        (
            "spark.kubernetes.driver.volumes.nfs.share.options.path",
            "/exports",
        ),
        (
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.ckpt.mount.path",
            "/ckpt",
        ),
        (
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.ckpt.options.claimName",
            "OnDemand",
        ),
        (
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.ckpt.options.storageClass",
            "gp3",
        ),
        (
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.ckpt.options.sizeLimit",
            "5Gi",
        ),
        (
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.ckpt.label.team",
            "data",
        ),
        (
            "spark.kubernetes.driver.volumes.persistentVolumeClaim.ckpt.annotation.note",
            "x",
        ),
        (
            "spark.kubernetes.driver.volumes.emptyDir.cache.mount.path",
            "/cache",
        ),
        (
            "spark.kubernetes.driver.volumes.emptyDir.cache.mount.readOnly",
            "true",
        ),
        (
            "spark.kubernetes.driver.volumes.emptyDir.cache.options.sizeLimit",
            "1Gi",
        ),
        (
            "spark.kubernetes.driver.volumes.hostPath.logs.mount.path",
            "/logs",
        ),
        (
            "spark.kubernetes.driver.volumes.hostPath.logs.mount.subPath",
            "app",
        ),
        (
            "spark.kubernetes.driver.volumes.hostPath.logs.options.path",
            "/var/log",
        ),
        (
            "spark.kubernetes.driver.volumes.hostPath.logs.options.type",
            "Directory",
        ),
    ];

    fn names(specs: &[VolumeSpec]) -> Vec<&str> {
        specs.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn volume_hashes_are_sparks() -> Result<()> {
        // KubernetesVolumeSpec.hashCode of each volume, printed by the JVM.
        let c = conf(SIX);
        let specs = parse_volumes(&c, P, c.len())?;
        let mut hashes: Vec<(&str, i32)> = specs
            .iter()
            .map(|s| (s.name.as_str(), s.spark_hash()))
            .collect();
        hashes.sort();
        assert_eq!(
            hashes,
            [
                ("cache", 1_935_050_085),
                ("ckpt", 71_908_371),
                ("data", -1_490_900_957),
                ("logs", 2_123_915_383),
                ("share", -299_017_976),
                ("tmp", 132_285_497),
            ]
        );
        Ok(())
    }

    #[test]
    fn volumes_come_in_sparks_order() -> Result<()> {
        // KubernetesVolumeUtils.parseVolumesWithPrefix's order on the same confs in the JVM:
        // 4 properties (kept in getAll's order), 7 (a hash map of properties, 3 volumes in
        // the order of their first key), 5 volumes (a hash set of specs).
        for entries in [4, 12, 24] {
            let c = filled(&SIX[..4], entries);
            assert_eq!(names(&parse_volumes(&c, P, c.len())?), ["data", "tmp"]);
        }
        let c = filled(&SIX[..7], 20);
        assert_eq!(
            names(&parse_volumes(&c, P, c.len())?),
            ["data", "tmp", "share"]
        );
        let c = filled(&SIX[..16], 30);
        assert_eq!(
            names(&parse_volumes(&c, P, c.len())?),
            ["ckpt", "data", "share", "tmp", "cache"]
        );
        Ok(())
    }

    #[test]
    fn refused_volumes() {
        type Row = (
            &'static [(&'static str, &'static str)],
            &'static str,
            &'static str,
        );
        let table: &[Row] = &[
            (
                &[("spark.kubernetes.driver.volumes.foo.v.mount.path", "/x")],
                "spark.kubernetes.driver.volumes.foo.v.mount.path",
                "Kubernetes Volume type `foo` is not supported",
            ),
            (
                &[(
                    "spark.kubernetes.driver.volumes.emptyDir.v.options.medium",
                    "Memory",
                )],
                "spark.kubernetes.driver.volumes.emptyDir.v.mount.path",
                "must be set",
            ),
            (
                &[(
                    "spark.kubernetes.driver.volumes.hostPath.v.mount.path",
                    "/x",
                )],
                "spark.kubernetes.driver.volumes.hostPath.v.options.path",
                "must be set",
            ),
            (
                &[
                    ("spark.kubernetes.driver.volumes.nfs.v.mount.path", "/x"),
                    ("spark.kubernetes.driver.volumes.nfs.v.options.path", "/p"),
                ],
                "spark.kubernetes.driver.volumes.nfs.v.options.server",
                "must be set",
            ),
            (
                &[(
                    "spark.kubernetes.driver.volumes.persistentVolumeClaim.v.mount.path",
                    "/x",
                )],
                "spark.kubernetes.driver.volumes.persistentVolumeClaim.v.options.claimName",
                "must be set",
            ),
            (
                &[
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.v.mount.path",
                        "/x",
                    ),
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.v.mount.readOnly",
                        "yes",
                    ),
                ],
                "spark.kubernetes.driver.volumes.emptyDir.v.mount.readOnly",
                "must be true or false",
            ),
            (
                &[(
                    "spark.kubernetes.driver.volumes.emptyDir.V_1.mount.path",
                    "/x",
                )],
                "spark.kubernetes.driver.volumes.emptyDir.V_1.mount.path",
                "is not a valid volume name",
            ),
            (
                &[
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.a.mount.path",
                        "/x",
                    ),
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.b.mount.path",
                        "/x",
                    ),
                ],
                "spark.kubernetes.driver.volumes.*.mount.path",
                "Found duplicated mountPath: '/x'",
            ),
            (
                &[
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.a.mount.path",
                        "/x",
                    ),
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.a.mount.subPath",
                        "s",
                    ),
                    (
                        "spark.kubernetes.driver.volumes.emptyDir.a.mount.subPathExpr",
                        "$(X)",
                    ),
                ],
                "spark.kubernetes.driver.volumes.emptyDir.a.mount.subPathExpr",
                "cannot both be set",
            ),
        ];
        for (pairs, option, message) in table {
            match parse_volumes(&conf(pairs), P, pairs.len()) {
                Ok(specs) => panic!("{pairs:?} accepted: {specs:?}"),
                Err(err) => {
                    assert_eq!(err.option(), *option, "{pairs:?}");
                    assert!(err.to_string().contains(message), "{pairs:?}: {err}");
                }
            }
        }
    }
}
