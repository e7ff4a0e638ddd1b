//! The driver's own Kubernetes credentials (Spark's credentials step): an OAuth token given
//! in the conf and CA / client certificate files read at submit time go into a Secret
//! mounted at `/mnt/secrets/spark-kubernetes-credentials`, and the conf points the driver at
//! the mounted files. The driver's service account is set here too.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, SecretVolumeSource, Volume, VolumeMount};

use super::{Context, SparkPod};
use crate::conf::{SparkConf, keys};
use crate::error::{Error, Result};

/// Where the credentials secret is mounted.
pub const CREDENTIALS_DIR: &str = "/mnt/secrets/spark-kubernetes-credentials";
/// The credentials volume's name.
pub const CREDENTIALS_VOLUME: &str = "kubernetes-credentials";

/// (conf suffix of the value, secret key, conf suffix of the mounted file).
const ENTRIES: [(&str, &str, &str); 4] = [
    ("oauthToken", "oauth-token", "oauthTokenFile"),
    ("caCertFile", "ca-cert", "caCertFile"),
    ("clientKeyFile", "client-key", "clientKeyFile"),
    ("clientCertFile", "client-cert", "clientCertFile"),
];

/// The credentials secret (if any credential is given), its volume and mount, the
/// `mounted.*` conf keys, and the service account.
pub fn configure(
    ctx: &Context<'_>,
    spark_pod: &mut SparkPod,
    props: &mut SparkConf,
) -> Result<Option<Secret>> {
    let conf = ctx.conf;
    if let Some(account) = conf.get(keys::DRIVER_SERVICE_ACCOUNT) {
        let spec = spark_pod.pod.spec.get_or_insert_with(Default::default);
        spec.service_account = Some(account.to_owned());
        spec.service_account_name = Some(account.to_owned());
    }
    let files = &ctx.req.driver_credentials;
    let mut data = BTreeMap::new();
    for (value_suffix, secret_key, mounted_suffix) in ENTRIES {
        let value_key = format!("{}{value_suffix}", keys::DRIVER_AUTH_PREFIX);
        let mounted_key = format!("{}{mounted_suffix}", keys::DRIVER_MOUNTED_AUTH_PREFIX);
        let bytes = match secret_key {
            "oauth-token" => conf.get(&value_key).map(|t| t.as_bytes().to_vec()),
            "ca-cert" => files.ca_cert.clone(),
            "client-key" => files.client_key.clone(),
            _ => files.client_cert.clone(),
        };
        let Some(bytes) = bytes else { continue };
        if conf.contains(&mounted_key) {
            return Err(Error::invalid(
                &value_key,
                format!(
                    "Cannot specify both {value_key} and {mounted_key}: the first is sent to the driver, the second says it is already mounted"
                ),
            ));
        }
        data.insert(secret_key.to_owned(), ByteString(bytes));
        props.set(mounted_key, format!("{CREDENTIALS_DIR}/{secret_key}"));
    }
    if data.is_empty() {
        return Ok(None);
    }
    let name = format!("{}-kubernetes-credentials", ctx.prefix);
    let spec = spark_pod.pod.spec.get_or_insert_with(Default::default);
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: CREDENTIALS_VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name.clone()),
            ..Default::default()
        }),
        ..Default::default()
    });
    spark_pod
        .container
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: CREDENTIALS_VOLUME.to_owned(),
            mount_path: CREDENTIALS_DIR.to_owned(),
            ..Default::default()
        });
    Ok(Some(Secret {
        metadata: ctx.owned_meta(name),
        data: Some(data),
        immutable: Some(true),
        ..Default::default()
    }))
}
