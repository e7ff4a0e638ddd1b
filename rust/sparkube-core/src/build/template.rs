//! Pod templates: the driver template as the starting point of the driver pod (its named
//! container, else its first, becomes the driver; other containers stay as they are), and
//! the executor template shipped to the driver in a ConfigMap mounted at
//! `/opt/spark/pod-template`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, KeyToPath, Volume, VolumeMount,
};

use super::{Context, SparkPod};
use crate::conf::{SparkConf, keys};
use crate::error::Result;

/// The executor template ConfigMap's key.
pub const EXECUTOR_TEMPLATE_KEY: &str = "podspec-configmap-key";
/// The executor template's file name inside the mount.
pub const EXECUTOR_TEMPLATE_FILE: &str = "pod-spec-template.yml";
/// Where the executor template is mounted in the driver.
pub const EXECUTOR_TEMPLATE_DIR: &str = "/opt/spark/pod-template";
/// The executor template volume's name.
pub const EXECUTOR_TEMPLATE_VOLUME: &str = "pod-template-volume";

/// The driver pod before any step: the template (if any) without the container chosen to
/// run the driver, and that container apart.
pub fn initial_driver_pod(ctx: &Context<'_>) -> Result<SparkPod> {
    let Some(template) = &ctx.req.driver_pod_template else {
        return Ok(SparkPod::default());
    };
    let mut pod = template.clone();
    let spec = pod.spec.get_or_insert_with(Default::default);
    let containers = std::mem::take(&mut spec.containers);
    let wanted = ctx.conf.get(keys::DRIVER_POD_TEMPLATE_CONTAINER);
    let index = wanted
        .and_then(|name| {
            let matching: Vec<usize> =
                containers.iter().enumerate().filter(|(_, c)| c.name == name).map(|(i, _)| i).collect();
            if matching.len() == 1 {
                matching.first().copied()
            } else {
                log::warn!("driver pod template has no single container named {name}; using its first container");
                None
            }
        })
        .or(if containers.is_empty() { None } else { Some(0) });
    let mut others = containers;
    let container = match index {
        Some(i) => others.remove(i),
        None => Container::default(),
    };
    spec.containers = others;
    Ok(SparkPod { pod, container })
}

/// The executor template ConfigMap, its volume and mount in the driver, and the conf key
/// that points the driver at it.
pub fn executor_template(
    ctx: &Context<'_>,
    spark_pod: &mut SparkPod,
    props: &mut SparkConf,
) -> Option<ConfigMap> {
    let template = ctx.req.executor_pod_template.as_ref()?;
    let name = format!("{}-driver-podspec-conf-map", ctx.prefix);
    let volume = Volume {
        name: EXECUTOR_TEMPLATE_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: name.clone(),
            items: Some(vec![KeyToPath {
                key: EXECUTOR_TEMPLATE_KEY.to_owned(),
                path: EXECUTOR_TEMPLATE_FILE.to_owned(),
                mode: None,
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    spark_pod.mount(
        volume,
        VolumeMount {
            name: EXECUTOR_TEMPLATE_VOLUME.to_owned(),
            mount_path: EXECUTOR_TEMPLATE_DIR.to_owned(),
            ..Default::default()
        },
    );
    props.set(
        keys::EXECUTOR_POD_TEMPLATE_FILE,
        format!("{EXECUTOR_TEMPLATE_DIR}/{EXECUTOR_TEMPLATE_FILE}"),
    );
    Some(ConfigMap {
        metadata: ctx.owned_meta(name),
        data: Some(BTreeMap::from([(
            EXECUTOR_TEMPLATE_KEY.to_owned(),
            template.text.clone(),
        )])),
        immutable: Some(true),
        ..Default::default()
    })
}
