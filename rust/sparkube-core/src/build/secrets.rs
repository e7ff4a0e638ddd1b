//! User secrets in the driver: `spark.kubernetes.driver.secrets.<secret>=<path>` mounts a
//! secret as the volume `<secret>-volume`; `spark.kubernetes.driver.secretKeyRef.<VAR>=<secret>:<key>`
//! sets an environment variable from a secret key.

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
};

use super::names::{is_dns_label, is_dns_subdomain};
use super::{Context, SparkPod};
use crate::conf::keys;
use crate::error::{Error, Result};

/// Secret volumes and mounts, then secret-backed environment variables, each in Spark's
/// order ([`Context::prefixed_pairs`]).
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod) -> Result<()> {
    for (secret, path) in ctx.prefixed_pairs(keys::DRIVER_SECRETS_PREFIX) {
        let option = format!("{}{secret}", keys::DRIVER_SECRETS_PREFIX);
        if !is_dns_subdomain(secret) {
            return Err(Error::invalid(
                &option,
                format!("{option}: {secret:?} is not a valid secret name"),
            ));
        }
        // Spark names the volume after the secret; a volume name is a DNS-1123 label, which a
        // secret name with a '.' or of more than 56 chars does not make.
        let volume = format!("{secret}-volume");
        if !is_dns_label(&volume) {
            return Err(Error::invalid(
                &option,
                format!(
                    "{option}: the secret {secret:?} would be mounted as the volume {volume:?}, \
                     which Kubernetes refuses (a volume name has at most 63 lower-case letters, \
                     digits and '-'); use a secret whose name has no '.' and at most 56 chars"
                ),
            ));
        }
        spark_pod.mount(
            Volume {
                name: volume.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            VolumeMount {
                name: volume,
                mount_path: path.to_owned(),
                ..Default::default()
            },
        );
    }
    for (var, reference) in ctx.prefixed_pairs(keys::DRIVER_SECRET_KEY_REF_PREFIX) {
        let option = format!("{}{var}", keys::DRIVER_SECRET_KEY_REF_PREFIX);
        let Some((secret, key)) = reference
            .split_once(':')
            .filter(|(s, k)| !s.is_empty() && !k.is_empty())
        else {
            return Err(Error::invalid(
                &option,
                format!("{option}={reference:?} must be <secret name>:<key>"),
            ));
        };
        spark_pod
            .container
            .env
            .get_or_insert_with(Vec::new)
            .push(EnvVar {
                name: var.to_owned(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.to_owned(),
                        key: key.to_owned(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            });
    }
    Ok(())
}
