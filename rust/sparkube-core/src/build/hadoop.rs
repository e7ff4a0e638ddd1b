//! Hadoop and Kerberos configuration given as existing ConfigMaps (Spark's Hadoop conf and
//! Kerberos steps): `spark.kubernetes.hadoop.configMapName` is mounted at `/opt/hadoop/conf`
//! (with `HADOOP_CONF_DIR` pointing there) and `spark.kubernetes.kerberos.krb5.configMapName`
//! at `/etc/krb5.conf`; an existing delegation-token Secret
//! (`spark.kubernetes.kerberos.tokenSecret.{name,itemKey}`) is mounted at
//! `/mnt/secrets/hadoop-credentials` with `HADOOP_TOKEN_FILE_LOCATION` naming the item, as
//! spark-submit's Kerberos step does. Shipping local files instead (`$HADOOP_CONF_DIR`,
//! `spark.kubernetes.kerberos.krb5.path`, a keytab) would need uploads sparkube does not do,
//! so those are refused.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EnvVar, SecretVolumeSource, Volume, VolumeMount,
};

use super::{Context, SparkPod};
use crate::conf::{SparkConf, keys};
use crate::error::{Error, Result};

/// `spark.kubernetes.hadoop.configMapName`.
pub const HADOOP_CONFIG_MAP: &str = "spark.kubernetes.hadoop.configMapName";
/// `spark.kubernetes.kerberos.krb5.configMapName`.
pub const KRB5_CONFIG_MAP: &str = "spark.kubernetes.kerberos.krb5.configMapName";
/// `spark.kubernetes.kerberos.tokenSecret.name`: an existing Secret holding delegation tokens.
pub const TOKEN_SECRET_NAME: &str = "spark.kubernetes.kerberos.tokenSecret.name";
/// `spark.kubernetes.kerberos.tokenSecret.itemKey`: the Secret's item holding the tokens.
pub const TOKEN_SECRET_ITEM_KEY: &str = "spark.kubernetes.kerberos.tokenSecret.itemKey";
/// Where spark-submit mounts the delegation-token Secret.
pub const TOKEN_SECRET_DIR: &str = "/mnt/secrets/hadoop-credentials";
/// `spark.kubernetes.executor.hadoopConfigMapName`: the Hadoop ConfigMap, for the executors.
pub const EXECUTOR_HADOOP_CONFIG_MAP: &str = "spark.kubernetes.executor.hadoopConfigMapName";
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

/// Mounts the Hadoop and krb5 ConfigMaps and the delegation-token Secret the conf names;
/// refuses keytab logins (a local krb5.conf is refused by [`crate::conf::lint`]).
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod, props: &mut SparkConf) -> Result<()> {
    let conf = ctx.conf;
    for key in [keys::PRINCIPAL, keys::KEYTAB] {
        if conf.contains(key) {
            return Err(Error::invalid(
                key,
                format!(
                    "{key} (--principal/--keytab): spark-submit would log in with a keytab on this machine and copy it into a new Secret, which sparkube does not do; give the driver delegation tokens from an existing Secret with {TOKEN_SECRET_NAME} and {TOKEN_SECRET_ITEM_KEY}"
                ),
            ));
        }
    }
    if let Some(config_map) = conf.get(HADOOP_CONFIG_MAP) {
        // The executors mount the same ConfigMap, found under this key.
        props.set(EXECUTOR_HADOOP_CONFIG_MAP, config_map);
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
    match (conf.get(TOKEN_SECRET_NAME), conf.get(TOKEN_SECRET_ITEM_KEY)) {
        (Some(secret), Some(item)) => {
            spark_pod.mount(
                Volume {
                    name: "hadoop-secret".to_owned(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.to_owned()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                VolumeMount {
                    name: "hadoop-secret".to_owned(),
                    mount_path: TOKEN_SECRET_DIR.to_owned(),
                    ..Default::default()
                },
            );
            spark_pod
                .container
                .env
                .get_or_insert_with(Vec::new)
                .push(EnvVar {
                    name: "HADOOP_TOKEN_FILE_LOCATION".to_owned(),
                    value: Some(format!("{TOKEN_SECRET_DIR}/{item}")),
                    value_from: None,
                });
        }
        (Some(_), None) => {
            return Err(Error::invalid(
                TOKEN_SECRET_NAME,
                format!(
                    "{TOKEN_SECRET_NAME}: If a secret storing a Kerberos Delegation Token is specified you must also specify the item-key where the data is stored ({TOKEN_SECRET_ITEM_KEY})"
                ),
            ));
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                TOKEN_SECRET_ITEM_KEY,
                format!(
                    "{TOKEN_SECRET_ITEM_KEY}: If a secret data item-key where the data of the Kerberos Delegation Token is specified you must also specify the name of the secret ({TOKEN_SECRET_NAME})"
                ),
            ));
        }
        (None, None) => {}
    }
    Ok(())
}
