//! User secrets in the driver: `spark.kubernetes.driver.secrets.<secret>=<path>` mounts a
//! secret as the volume `<secret>-volume`; `spark.kubernetes.driver.secretKeyRef.<VAR>=<secret>:<key>`
//! sets an environment variable from a secret key.

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
};

use super::jvm_order;
use super::names::{is_dns_label, is_dns_subdomain};
use super::{Context, SparkPod};
use crate::conf::keys;
use crate::error::{Error, Result};

/// Secret volumes and mounts, then secret-backed environment variables, each in Spark's
/// order ([`Context::prefixed_pairs`]).
pub fn configure(ctx: &Context<'_>, spark_pod: &mut SparkPod) -> Result<()> {
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
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
        volumes.push(Volume {
            name: volume.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: volume,
            mount_path: path.to_owned(),
            ..Default::default()
        });
    }
    // Spark maps the secrets' names to a Set of fabric8 Volumes (ordered by their hash beyond
    // four) and the (name, path) map to a list of mounts (in the map's order).
    let volumes = jvm_order::immutable_order(volumes, |v| {
        let secret = v
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
            .unwrap_or_default();
        fabric8_secret_volume_hash(&v.name, secret)
    });
    spark_pod
        .pod
        .spec
        .get_or_insert_with(Default::default)
        .volumes
        .get_or_insert_with(Vec::new)
        .extend(volumes);
    spark_pod
        .container
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .extend(mounts);
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

/// The `hashCode` of the fabric8 (kubernetes-model 7.6.1) `Volume` Spark builds for a secret:
/// Lombok's field-by-field `result * 59 + hash`, where only the name and the secret's name
/// vary; the rest (31 other fields, `null` or empty) add up to the constant.
fn fabric8_secret_volume_hash(volume: &str, secret: &str) -> i32 {
    // The hash with both names empty, printed by the JVM.
    const EMPTY: i32 = 699_682_650;
    // The name is followed by 12 fields of `Volume`; the secret's name by 1 field of
    // `SecretVolumeSource`, which is followed by 3 fields of `Volume`.
    let (name_factor, secret_factor) = (59i32.wrapping_pow(12), 59i32.wrapping_pow(4));
    EMPTY
        .wrapping_add(name_factor.wrapping_mul(jvm_order::java_string_hash(volume)))
        .wrapping_add(secret_factor.wrapping_mul(jvm_order::java_string_hash(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_volume_hashes_are_fabric8s() {
        // Volume.hashCode() of VolumeBuilder().withName(v).withNewSecret().withSecretName(s),
        // printed by the JVM.
        for (volume, secret, want) in [
            ("", "", 699_682_650),
            ("a", "", 2_023_186_699),
            ("", "a", 1_875_066_667),
            ("tls-volume", "tls", -424_089_839),
            ("gcp-sa-volume", "gcp-sa", 799_589_137),
            ("db-creds-volume", "db-creds", -40_251_887),
        ] {
            assert_eq!(fabric8_secret_volume_hash(volume, secret), want, "{volume}");
        }
    }

    #[test]
    fn more_than_four_secret_volumes_follow_their_hash() {
        // The volume order spark-submit 4.3.0 sent for these five secrets; the mounts keep the
        // order of Spark's map of secrets.
        let names = ["api-keys", "ssh", "tls", "db-creds", "gcp-sa"];
        let volumes: Vec<Volume> = names
            .iter()
            .map(|n| Volume {
                name: format!("{n}-volume"),
                secret: Some(SecretVolumeSource {
                    secret_name: Some((*n).to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let ordered = jvm_order::immutable_order(volumes, |v| {
            fabric8_secret_volume_hash(
                &v.name,
                v.secret
                    .as_ref()
                    .and_then(|s| s.secret_name.as_deref())
                    .unwrap_or_default(),
            )
        });
        let got: Vec<&str> = ordered.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            got,
            [
                "api-keys-volume",
                "ssh-volume",
                "gcp-sa-volume",
                "tls-volume",
                "db-creds-volume"
            ]
        );
    }
}
