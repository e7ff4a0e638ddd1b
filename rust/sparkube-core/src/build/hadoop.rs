//! Hadoop and Kerberos configuration given as existing ConfigMaps (Spark's Hadoop conf and
//! Kerberos steps): `spark.kubernetes.hadoop.configMapName` is mounted at `/opt/hadoop/conf`
//! (with `HADOOP_CONF_DIR` pointing there) and `spark.kubernetes.kerberos.krb5.configMapName`
//! at `/etc/krb5.conf`. Shipping local files instead (`$HADOOP_CONF_DIR`,
//! `spark.kubernetes.kerberos.krb5.path`, a keytab) would need uploads sparkube does not do.

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, EnvVar, Volume, VolumeMount};

use super::{Context, SparkPod};
use crate::error::{Error, Result};

/// `spark.kubernetes.hadoop.configMapName`.
pub const HADOOP_CONFIG_MAP: &str = "spark.kubernetes.hadoop.configMapName";
/// `spark.kubernetes.kerberos.krb5.configMapName`.
pub const KRB5_CONFIG_MAP: &str = "spark.kubernetes.kerberos.krb5.configMapName";
/// `spark.kubernetes.kerberos.krb5.path`.
pub const KRB5_PATH: &str = "spark.kubernetes.kerberos.krb5.path";
/// Where the Hadoop conf is mounted.
pub const HADOOP_CONF_DIR: &str = "/opt/hadoop/conf";

fn config_map_volume(name: &str, config_map: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Mounts the Hadoop and krb5 ConfigMaps the conf names; refuses local files to ship.
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod) -> Result<()> {
    let conf = ctx.conf;
    if conf.contains(KRB5_PATH) {
        return Err(Error::invalid(
            KRB5_PATH,
            format!(
                "{KRB5_PATH} names a local file that would have to be shipped in a new ConfigMap; sparkube does not upload files: put krb5.conf in a ConfigMap and set {KRB5_CONFIG_MAP}"
            ),
        ));
    }
    if let Some(config_map) = conf.get(HADOOP_CONFIG_MAP) {
        spark_pod.mount(
            config_map_volume("hadoop-properties", config_map),
            VolumeMount {
                name: "hadoop-properties".to_owned(),
                mount_path: HADOOP_CONF_DIR.to_owned(),
                ..Default::default()
            },
        );
        spark_pod
            .container
            .env
            .get_or_insert_with(Vec::new)
            .push(EnvVar {
                name: "HADOOP_CONF_DIR".to_owned(),
                value: Some(HADOOP_CONF_DIR.to_owned()),
                value_from: None,
            });
    }
    if let Some(config_map) = conf.get(KRB5_CONFIG_MAP) {
        spark_pod.mount(
            config_map_volume("krb5-file", config_map),
            VolumeMount {
                name: "krb5-file".to_owned(),
                mount_path: "/etc/krb5.conf".to_owned(),
                sub_path: Some("krb5.conf".to_owned()),
                ..Default::default()
            },
        );
    }
    Ok(())
}
