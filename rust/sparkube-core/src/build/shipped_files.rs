//! The ConfigMap of the local files shipped with the application (see [`crate::ship`]):
//! owned by the driver pod like the driver ConfigMap, and mounted read-only at
//! [`LOCAL_FILES_DIR`] with one directory per file, so that two files of the same name from
//! different folders stay apart.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, KeyToPath, Volume, VolumeMount,
};

use super::{Context, SparkPod};
use crate::ship::LOCAL_FILES_DIR;

/// The volume's name.
pub const VOLUME: &str = "sparkube-local-files";

/// The ConfigMap and its mount, when the request ships files.
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod) -> Option<ConfigMap> {
    let files = &ctx.req.local_files;
    if files.is_empty() {
        return None;
    }
    let name = format!("spark-drv-{}-local-files", ctx.ids.conf_map_unique_id);
    let key = |index: usize| format!("file-{index}");
    let items = files
        .iter()
        .enumerate()
        .map(|(index, file)| KeyToPath {
            key: key(index),
            path: format!("{index}/{}", file.name),
            mode: Some(0o644),
        })
        .collect();
    let data: BTreeMap<String, ByteString> = files
        .iter()
        .enumerate()
        .map(|(index, file)| (key(index), ByteString(file.contents.clone())))
        .collect();
    spark_pod.mount(
        Volume {
            name: VOLUME.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                items: Some(items),
                ..Default::default()
            }),
            ..Default::default()
        },
        VolumeMount {
            name: VOLUME.to_owned(),
            mount_path: LOCAL_FILES_DIR.to_owned(),
            read_only: Some(true),
            ..Default::default()
        },
    );
    Some(ConfigMap {
        metadata: ctx.owned_meta(name),
        binary_data: Some(data),
        immutable: Some(true),
        ..Default::default()
    })
}
