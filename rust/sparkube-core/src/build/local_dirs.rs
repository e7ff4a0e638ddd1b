//! Local dirs (Spark's local dirs step): scratch space for shuffle and spills. A mounted
//! volume named `spark-local-dir-*` (from a template or user volumes) is used as is;
//! otherwise `$SPARK_LOCAL_DIRS` of the submitting machine, `spark.local.dir`, or
//! `/var/data/spark-<uuid>` become `emptyDir` volumes (in memory with
//! `spark.kubernetes.local.dirs.tmpfs`), listed in `SPARK_LOCAL_DIRS`.

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, EnvVar, Volume, VolumeMount};

use super::{Context, SparkPod};
use crate::conf::keys;

/// The name prefix of local dir volumes.
pub const LOCAL_DIR_VOLUME_PREFIX: &str = "spark-local-dir-";

/// The directories the driver will use, before any volume is added.
pub fn resolved_local_dirs(ctx: &Context<'_>) -> Vec<String> {
    let configured = ctx
        .req
        .env_local_dirs
        .clone()
        .or_else(|| ctx.conf.get(keys::LOCAL_DIR).map(str::to_owned));
    let dirs: Vec<String> = configured
        .map(|list| {
            list.split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if dirs.is_empty() {
        vec![format!("/var/data/spark-{}", ctx.ids.local_dir_uuid)]
    } else {
        dirs
    }
}

/// Adds the local dir volumes and mounts (unless the pod already mounts some) and `SPARK_LOCAL_DIRS`.
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod) {
    let mounts = spark_pod
        .container
        .volume_mounts
        .get_or_insert_with(Vec::new);
    let mut dirs: Vec<String> = mounts
        .iter()
        .filter(|m| m.name.starts_with(LOCAL_DIR_VOLUME_PREFIX))
        .map(|m| m.mount_path.clone())
        .collect();
    if dirs.is_empty() {
        dirs = resolved_local_dirs(ctx);
        let medium = ctx
            .conf
            .get_bool(keys::LOCAL_DIRS_TMPFS, false)
            .then(|| "Memory".to_owned());
        let volumes = spark_pod
            .pod
            .spec
            .get_or_insert_with(Default::default)
            .volumes
            .get_or_insert_with(Vec::new);
        for (index, dir) in dirs.iter().enumerate() {
            let name = format!("{LOCAL_DIR_VOLUME_PREFIX}{}", index + 1);
            volumes.push(Volume {
                name: name.clone(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: medium.clone(),
                    size_limit: None,
                }),
                ..Default::default()
            });
            mounts.push(VolumeMount {
                name,
                mount_path: dir.clone(),
                ..Default::default()
            });
        }
    }
    spark_pod
        .container
        .env
        .get_or_insert_with(Vec::new)
        .push(EnvVar {
            name: "SPARK_LOCAL_DIRS".to_owned(),
            value: Some(dirs.join(",")),
            value_from: None,
        });
}
