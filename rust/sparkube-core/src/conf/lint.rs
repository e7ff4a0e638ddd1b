//! The conf lint. Spark ignores conf keys it does not know, so a typo such as
//! `spark.kubernetes.executor.limit.core` silently does nothing; and a few keys only have an
//! effect inside spark-submit's JVM, so passing them through would silently do nothing too.
//!
//! [`check`] warns about unknown keys under the prefixes in [`LINTED_PREFIXES`], naming the
//! closest key Spark knows, from [`spark_keys`](super::spark_keys) (generated from Spark's own
//! config definitions by `scripts/spark_conf_keys.py`); and refuses the keys in [`REFUSED`].
//!
//! Every `spark.kubernetes.*` key of Spark is in exactly one of [`SUBMIT_SIDE`] (sparkube acts
//! on it when submitting, as spark-submit does), [`DRIVER_SIDE`] (only the driver and its
//! executors read it: it reaches them in `spark.properties`), [`REFUSED`] or [`NOT_APPLIED`]
//! (warned about); a test checks
//! this against the generated table, so a Spark upgrade cannot add a key that is silently
//! dropped.

use super::SparkConf;
use super::spark_keys::{ALTERNATIVES, KEYS, PREFIXES};
use crate::error::{Error, Result};

/// Key families whose unknown keys are reported: the ones whose typos cost the most.
pub const LINTED_PREFIXES: &[&str] = &[
    "spark.kubernetes.",
    "spark.driver.",
    "spark.executor.",
    "spark.dynamicAllocation.",
];

/// Keys (or, ending in `.`, key families) whose effect is spark-submit's own: sparkube does
/// the same when it submits.
pub const SUBMIT_SIDE: &[&str] = &[
    "spark.kubernetes.appKillPodDeletionGracePeriod",
    "spark.kubernetes.authenticate.caCertFile",
    "spark.kubernetes.authenticate.clientCertFile",
    "spark.kubernetes.authenticate.clientKeyFile",
    "spark.kubernetes.authenticate.driver.",
    "spark.kubernetes.authenticate.executor.",
    "spark.kubernetes.authenticate.oauthToken",
    "spark.kubernetes.authenticate.oauthTokenFile",
    "spark.kubernetes.authenticate.submission.",
    "spark.kubernetes.configMap.maxSize",
    "spark.kubernetes.container.image",
    "spark.kubernetes.container.image.pullPolicy",
    "spark.kubernetes.container.image.pullSecrets",
    "spark.kubernetes.context",
    "spark.kubernetes.driver.annotation.",
    "spark.kubernetes.driver.container.image",
    "spark.kubernetes.driver.label.",
    "spark.kubernetes.driver.limit.cores",
    "spark.kubernetes.driver.node.selector.",
    // Volcano's step is run (build::volcano); any other class is refused.
    "spark.kubernetes.driver.pod.featureSteps",
    "spark.kubernetes.driver.pod.name",
    "spark.kubernetes.driver.podTemplateContainerName",
    "spark.kubernetes.driver.podTemplateFile",
    "spark.kubernetes.driver.request.cores",
    "spark.kubernetes.driver.scheduler.name",
    "spark.kubernetes.driver.secretKeyRef.",
    "spark.kubernetes.driver.secrets.",
    "spark.kubernetes.driver.securityContext.allowPrivilegeEscalation",
    "spark.kubernetes.driver.service.annotation.",
    "spark.kubernetes.driver.service.ipFamilies",
    "spark.kubernetes.driver.service.ipFamilyPolicy",
    "spark.kubernetes.driver.service.label.",
    "spark.kubernetes.driver.service.publishNotReadyAddresses",
    "spark.kubernetes.driver.volumes.",
    "spark.kubernetes.driverEnv.",
    "spark.kubernetes.executor.annotation.",
    "spark.kubernetes.executor.label.",
    "spark.kubernetes.executor.podNamePrefix",
    "spark.kubernetes.executor.podTemplateFile",
    "spark.kubernetes.file.upload.path",
    "spark.kubernetes.hadoop.configMapName",
    "spark.kubernetes.kerberos.krb5.configMapName",
    "spark.kubernetes.kerberos.tokenSecret.itemKey",
    "spark.kubernetes.kerberos.tokenSecret.name",
    "spark.kubernetes.local.dirs.tmpfs",
    "spark.kubernetes.memoryOverheadFactor",
    "spark.kubernetes.namespace",
    "spark.kubernetes.node.selector.",
    "spark.kubernetes.report.interval",
    "spark.kubernetes.resource.type",
    "spark.kubernetes.scheduler.name",
    "spark.kubernetes.scheduler.volcano.podGroupTemplateFile",
    "spark.kubernetes.scheduler.volcano.podGroupTemplateJson",
    "spark.kubernetes.securityContext.allowPrivilegeEscalation",
    "spark.kubernetes.submission.connectionTimeout",
    "spark.kubernetes.submission.waitAppCompletion",
    "spark.kubernetes.submitInDriver",
    "spark.kubernetes.trust.certificates",
];

/// Keys (or families) that only the driver and its executors read; they reach them unchanged
/// in `spark.properties`, as with spark-submit.
pub const DRIVER_SIDE: &[&str] = &[
    "spark.kubernetes.allocation.batch.delay",
    "spark.kubernetes.allocation.batch.size",
    "spark.kubernetes.allocation.driver.readinessTimeout",
    "spark.kubernetes.allocation.executor.timeout",
    "spark.kubernetes.allocation.maxPendingPods",
    "spark.kubernetes.allocation.maxPendingPodsPerRp",
    "spark.kubernetes.allocation.maximum",
    "spark.kubernetes.allocation.pods.allocator",
    "spark.kubernetes.allocation.recoveryMode.enabled",
    "spark.kubernetes.decommission.script",
    "spark.kubernetes.driver.annotateExitException",
    "spark.kubernetes.driver.connectionTimeout",
    "spark.kubernetes.driver.master",
    "spark.kubernetes.driver.ownPersistentVolumeClaim",
    // Read by spark-submit only under Spark's own tests (`spark.testing`).
    "spark.kubernetes.driver.resourceNamePrefix",
    "spark.kubernetes.driver.requestTimeout",
    "spark.kubernetes.driver.reusePersistentVolumeClaim",
    "spark.kubernetes.driver.service.deleteOnTermination",
    "spark.kubernetes.driver.waitToReusePersistentVolumeClaim",
    "spark.kubernetes.dynamicAllocation.deleteGracePeriod",
    "spark.kubernetes.executor.apiPollingInterval",
    "spark.kubernetes.executor.checkAllContainers",
    "spark.kubernetes.executor.container.image",
    "spark.kubernetes.executor.decommissionLabel",
    "spark.kubernetes.executor.decommissionLabelValue",
    "spark.kubernetes.executor.deleteOnTermination",
    "spark.kubernetes.executor.deletedExecutorsCacheTimeout",
    "spark.kubernetes.executor.disableConfigMap",
    "spark.kubernetes.executor.enableApiPolling",
    "spark.kubernetes.executor.enableApiWatcher",
    "spark.kubernetes.executor.enablePollingWithResourceVersion",
    "spark.kubernetes.executor.eventProcessingInterval",
    // Written by sparkube from spark.kubernetes.hadoop.configMapName, as spark-submit does.
    "spark.kubernetes.executor.hadoopConfigMapName",
    "spark.kubernetes.executor.limit.cores",
    "spark.kubernetes.executor.minTasksPerExecutorBeforeRolling",
    "spark.kubernetes.executor.missingPodDetectDelta",
    "spark.kubernetes.executor.node.selector.",
    // The executors' feature steps run in the driver's JVM, which has Spark's classes.
    "spark.kubernetes.executor.pod.excludedFeatureSteps",
    "spark.kubernetes.executor.pod.featureSteps",
    "spark.kubernetes.executor.podDeletionCost",
    "spark.kubernetes.executor.podTemplateContainerName",
    "spark.kubernetes.executor.pvc.resizeFactor",
    "spark.kubernetes.executor.pvc.resizeInterval",
    "spark.kubernetes.executor.pvc.resizeThreshold",
    "spark.kubernetes.executor.request.cores",
    "spark.kubernetes.executor.resizeFactor",
    "spark.kubernetes.executor.resizeInterval",
    "spark.kubernetes.executor.resizeThreshold",
    "spark.kubernetes.executor.rollInterval",
    "spark.kubernetes.executor.rollPolicy",
    "spark.kubernetes.executor.scheduler.name",
    "spark.kubernetes.executor.secretKeyRef.",
    "spark.kubernetes.executor.secrets.",
    "spark.kubernetes.executor.securityContext.allowPrivilegeEscalation",
    "spark.kubernetes.executor.terminationGracePeriodSeconds",
    "spark.kubernetes.executor.useDriverPodIP",
    "spark.kubernetes.executor.volumes.",
    "spark.kubernetes.executorSnapshotsSubscribersShutdownGracePeriod",
    "spark.kubernetes.jars.avoidDownloadSchemes",
    // Set by spark-submit's Kerberos step for the driver to find the tokens it created.
    "spark.kubernetes.kerberos.dt-secret-key",
    "spark.kubernetes.kerberos.dt-secret-name",
    "spark.kubernetes.legacy.useReadWriteOnceAccessMode",
];

/// Keys whose effect only spark-submit's JVM could have, refused when set (to a non-empty
/// value), with why.
pub const REFUSED: &[(&str, &str)] = &[
    (
        "spark.kubernetes.driver.pod.excludedFeatureSteps",
        "removes steps of spark-submit's JVM driver pod builder; sparkube's steps are not JVM classes",
    ),
    (
        "spark.kubernetes.kerberos.krb5.path",
        "names a local file that would have to be shipped in a new ConfigMap; sparkube does not upload files: put krb5.conf in a ConfigMap and set spark.kubernetes.kerberos.krb5.configMapName",
    ),
];

/// Keys spark-submit acts on that sparkube does not apply, with the warning it logs when
/// one is set: harmless to go without, so not refused.
pub const NOT_APPLIED: &[(&str, &str)] = &[(
    "spark.kubernetes.submission.requestTimeout",
    "is not applied: sparkube bounds each API request with its own retry policy, and a request timeout would cut its watches short",
)];

/// Whether `key` is one Spark defines, or belongs to a family of keys Spark defines.
pub fn is_known(key: &str) -> bool {
    KEYS.binary_search(&key).is_ok()
        || ALTERNATIVES.binary_search(&key).is_ok()
        || PREFIXES
            .iter()
            .any(|p| key.starts_with(p) && key.len() > p.len())
}

/// The closest key Spark knows to the unknown `key`, if one is close enough to be a typo:
/// an edit distance of at most a tenth of the key's length (and at least 2).
pub fn closest(key: &str) -> Option<String> {
    let parts = key.split('.').count();
    let family_members = PREFIXES.iter().filter_map(|prefix| {
        // The family member with the key's own tail: `...driver.lable.team` → `...driver.label.team`.
        let depth = prefix.matches('.').count();
        (parts > depth).then(|| {
            let tail: Vec<&str> = key.split('.').skip(depth).collect();
            format!("{prefix}{}", tail.join("."))
        })
    });
    let limit = (key.len() / 10).max(2);
    KEYS.iter()
        .map(|k| (*k).to_owned())
        .chain(family_members)
        .map(|candidate| (edit_distance(key, &candidate), candidate))
        .filter(|(distance, candidate)| *distance <= limit && candidate != key)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars: the number of single-char insertions, deletions and
/// substitutions from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Refuses the keys of `conf` in [`REFUSED`] (one error naming the key), and returns a
/// warning for every unknown key under [`LINTED_PREFIXES`], with the closest known key.
pub fn check(conf: &SparkConf) -> Result<Vec<String>> {
    crate::build::volcano::refuse_other_steps(conf)?;
    for (key, why) in REFUSED {
        if conf.get(key).is_some_and(|v| !v.trim().is_empty()) {
            return Err(Error::invalid(*key, format!("{key} {why}")));
        }
    }
    let mut warnings: Vec<String> = NOT_APPLIED
        .iter()
        .filter(|(key, _)| conf.contains(key))
        .map(|(key, why)| format!("{key} {why}"))
        .collect();
    for (key, _) in conf.iter() {
        if !LINTED_PREFIXES.iter().any(|p| key.starts_with(p)) || is_known(key) {
            continue;
        }
        let hint = closest(key)
            .map(|k| format!("; did you mean {k}?"))
            .unwrap_or_default();
        warnings.push(format!(
            "{key} is not a Spark {} conf key, so Spark ignores it{hint}",
            super::spark_keys::SPARK_VERSION
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        let mut conf = SparkConf::new();
        for (k, v) in pairs {
            conf.set(*k, *v);
        }
        conf
    }

    #[test]
    fn typos_get_the_closest_key() {
        let table = [
            (
                "spark.kubernetes.executor.limit.core",
                Some("spark.kubernetes.executor.limit.cores"),
            ),
            (
                "spark.kubernetes.driver.lable.team",
                Some("spark.kubernetes.driver.label.team"),
            ),
            ("spark.executor.memroy", Some("spark.executor.memory")),
            (
                "spark.dynamicAllocation.maxExecutor",
                Some("spark.dynamicAllocation.maxExecutors"),
            ),
            (
                "spark.driver.resources.gpu.amount",
                Some("spark.driver.resource.gpu.amount"),
            ),
            ("spark.kubernetes.completely.different.thing", None),
        ];
        for (key, want) in table {
            assert!(!is_known(key), "{key}");
            assert_eq!(closest(key).as_deref(), want, "{key}");
        }
    }

    #[test]
    fn known_keys_and_families_pass() -> Result<()> {
        let given = conf(&[
            ("spark.kubernetes.executor.limit.cores", "1"),
            ("spark.kubernetes.driver.label.team", "a"),
            (
                "spark.kubernetes.driver.volumes.hostPath.x.mount.path",
                "/x",
            ),
            ("spark.executor.resource.gpu.amount", "1"),
            ("spark.driver.defaultJavaOptions", "-Da"),
            ("spark.dynamicAllocation.enabled", "true"),
            ("spark.sql.shuffle.partitions", "8"),
            ("spark.sql.not.linted", "8"),
        ]);
        assert_eq!(check(&given)?, Vec::<String>::new());
        Ok(())
    }

    #[test]
    fn unknown_keys_warn_once_each() -> Result<()> {
        let given = conf(&[
            ("spark.kubernetes.executor.limit.core", "1"),
            ("spark.executor.frobnicate", "1"),
        ]);
        assert_eq!(
            check(&given)?,
            [
                "spark.kubernetes.executor.limit.core is not a Spark 4.3.0 conf key, so Spark ignores it; did you mean spark.kubernetes.executor.limit.cores?",
                "spark.executor.frobnicate is not a Spark 4.3.0 conf key, so Spark ignores it",
            ]
        );
        Ok(())
    }

    #[test]
    fn refused_keys_name_themselves() {
        let refused = REFUSED
            .iter()
            .map(|(k, _)| *k)
            .chain(["spark.kubernetes.driver.pod.featureSteps"]);
        for key in refused {
            match check(&conf(&[(key, "org.example.Step")])) {
                Err(err) => {
                    assert_eq!(err.option(), key);
                    assert!(err.to_string().starts_with(key), "{err}");
                    assert!(!err.to_string().contains('\n'), "{err}");
                }
                Ok(w) => panic!("{key} was not refused: {w:?}"),
            }
        }
        assert!(check(&conf(&[("spark.kubernetes.driver.pod.featureSteps", "")])).is_ok());
    }

    fn covers(list: &[&str], key: &str) -> bool {
        list.iter()
            .any(|k| *k == key || (k.ends_with('.') && key.starts_with(k)))
    }

    /// Every `spark.kubernetes.*` key and family Spark 4.3.0 defines is honoured at submission,
    /// passed through to the driver, or refused; and the three lists name only Spark's keys.
    #[test]
    fn every_kubernetes_key_of_spark_is_classified_once() {
        let refused: Vec<&str> = REFUSED.iter().chain(NOT_APPLIED).map(|(k, _)| *k).collect();
        let spark: Vec<&str> = KEYS
            .iter()
            .chain(PREFIXES)
            .copied()
            .filter(|k| k.starts_with("spark.kubernetes."))
            .collect();
        for key in &spark {
            let homes = [
                covers(SUBMIT_SIDE, key),
                covers(DRIVER_SIDE, key),
                covers(&refused, key),
            ];
            assert_eq!(
                homes.iter().filter(|h| **h).count(),
                1,
                "{key}: submit side, driver side, refused = {homes:?}"
            );
        }
        for key in SUBMIT_SIDE.iter().chain(DRIVER_SIDE).chain(&refused) {
            assert!(
                spark.iter().any(|k| k == key || k.starts_with(key)) || is_known(key),
                "{key} is not a Spark key"
            );
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
