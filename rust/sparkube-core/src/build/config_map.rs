//! The driver ConfigMap: `spark.properties` (the request's conf plus the keys every step
//! added, OAuth tokens redacted), the files of the submitting machine's Spark conf dir, and
//! `spark.kubernetes.namespace`; mounted at `/opt/spark/conf`.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, EnvVar, KeyToPath, Volume, VolumeMount,
};

use super::driver::SPARK_CONF_DIR;
use super::{Context, SparkPod};
use crate::conf::{SparkConf, keys, write_properties};

/// The key (and file name) of the properties in the ConfigMap.
pub const PROPERTIES_KEY: &str = "spark.properties";
/// The conf volume's name.
pub const CONF_VOLUME: &str = "spark-conf-volume-driver";
/// What replaces OAuth token values in `spark.properties`.
pub const REDACTED: &str = "<present_but_redacted>";

/// The driver's final conf: the request's conf, `spark.app.submitTime` unless given, then
/// the keys added by the steps; OAuth tokens redacted.
pub fn driver_properties(ctx: &Context<'_>, props: &SparkConf) -> SparkConf {
    let mut conf = ctx.conf.clone();
    conf.set_if_missing(
        keys::APP_SUBMIT_TIME,
        ctx.ids.submit_time_millis.to_string(),
    );
    conf.extend(props.iter());
    let tokens: Vec<String> = conf
        .iter()
        .filter(|(k, _)| k.ends_with(".oauthToken"))
        .map(|(k, _)| k.to_owned())
        .collect();
    for key in tokens {
        conf.set(key, REDACTED);
    }
    conf
}

/// `spark.properties` text, as `java.util.Properties.store` writes it.
pub fn properties_text(name: &str, submit_time_millis: i64, conf: &SparkConf) -> String {
    let date = Utc
        .timestamp_millis_opt(submit_time_millis)
        .single()
        .map(|t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string())
        .unwrap_or_default();
    let header = format!("Java properties built from Kubernetes config map with name: {name}");
    write_properties(&[&header, &date], conf.iter())
}

/// The ConfigMap, its volume and mount, and `SPARK_CONF_DIR`.
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod, props: &SparkConf) -> ConfigMap {
    let name = format!("spark-drv-{}-conf-map", ctx.ids.conf_map_unique_id);
    let conf = driver_properties(ctx, props);
    let mut files: BTreeMap<String, String> = ctx.req.conf_dir_files.iter().cloned().collect();
    files.insert(
        PROPERTIES_KEY.to_owned(),
        properties_text(&name, ctx.ids.submit_time_millis, &conf),
    );
    let items = files
        .keys()
        .map(|key| KeyToPath {
            key: key.clone(),
            path: key.clone(),
            mode: Some(420),
        })
        .collect();
    spark_pod.mount(
        Volume {
            name: CONF_VOLUME.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                items: Some(items),
                ..Default::default()
            }),
            ..Default::default()
        },
        VolumeMount {
            name: CONF_VOLUME.to_owned(),
            mount_path: SPARK_CONF_DIR.to_owned(),
            ..Default::default()
        },
    );
    spark_pod
        .container
        .env
        .get_or_insert_with(Vec::new)
        .push(EnvVar {
            name: "SPARK_CONF_DIR".to_owned(),
            value: Some(SPARK_CONF_DIR.to_owned()),
            value_from: None,
        });
    let mut data = files;
    data.insert(keys::NAMESPACE.to_owned(), ctx.namespace.clone());
    ConfigMap {
        metadata: ctx.owned_meta(name),
        data: Some(data),
        immutable: Some(true),
        ..Default::default()
    }
}
