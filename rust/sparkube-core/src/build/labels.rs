//! Labels and annotations: the user's (`spark.kubernetes.{driver,executor}.label.*` and
//! `.annotation.*`, with `{{APP_ID}}` replaced), Spark's bookkeeping labels, and the checks
//! that refuse reserved or malformed keys and values before anything is sent.

use k8s_openapi::api::core::v1::Pod;

use super::names::{app_name_label, is_label_value, is_qualified_name};
use super::{SPARK_VERSION, SUBMISSION_ID_LABEL};
use crate::conf::{SparkConf, keys};
use crate::error::{Error, Result};

/// `spark-app-selector`: the app id.
pub const APP_ID_LABEL: &str = "spark-app-selector";
/// `spark-app-name`: the sanitised app name.
pub const APP_NAME_LABEL: &str = "spark-app-name";
/// `spark-role`: `driver` or `executor`.
pub const ROLE_LABEL: &str = "spark-role";
/// `spark-version`.
pub const VERSION_LABEL: &str = "spark-version";
/// The prefix of sparkube's own label and annotation keys: the submission id, and the task
/// identity the Airflow provider puts on drivers (`sparkube.io/dag-id`, ...).
pub const LABEL_PREFIX: &str = "sparkube.io/";

/// Label keys Spark (or sparkube) sets itself, refused as user labels of either role.
pub const RESERVED_LABELS: [&str; 8] = [
    VERSION_LABEL,
    APP_ID_LABEL,
    APP_NAME_LABEL,
    ROLE_LABEL,
    "spark-exec-id",
    "spark-exec-resourceprofile-id",
    "spark-exec-inactive",
    SUBMISSION_ID_LABEL,
];

/// Spark's `substituteAppNExecIds`: `{{APP_ID}}` becomes the app id, `{{EXECUTOR_ID}}` the
/// executor id (empty for the driver).
pub fn substitute_ids(value: &str, app_id: &str, executor_id: &str) -> String {
    value
        .replace("{{APP_ID}}", app_id)
        .replace("{{EXECUTOR_ID}}", executor_id)
}

/// User labels under `prefix`, checked (key syntax, reserved keys, value syntax after
/// substitution).
fn user_labels(conf: &SparkConf, prefix: &str, app_id: &str) -> Result<Vec<(String, String)>> {
    let mut labels = Vec::new();
    for (key, value) in conf.with_prefix(prefix) {
        let option = format!("{prefix}{key}");
        if RESERVED_LABELS.contains(&key) {
            return Err(Error::invalid(
                option,
                format!(
                    "Label with key {key} is not allowed as it is reserved for Spark bookkeeping operations."
                ),
            ));
        }
        check_key(&option, key, "label")?;
        let value = substitute_ids(value, app_id, "");
        if !is_label_value(&value) {
            return Err(Error::invalid(
                &option,
                format!(
                    "{option}: {value:?} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
                ),
            ));
        }
        labels.push((key.to_owned(), value));
    }
    Ok(labels)
}

fn check_key(option: &str, key: &str, what: &str) -> Result<()> {
    if is_qualified_name(key) {
        return Ok(());
    }
    Err(Error::invalid(
        option,
        format!(
            "{option}: {key:?} is not a valid {what} key ([prefix/]name, the name at most 63 letters, digits, '-', '_' or '.')"
        ),
    ))
}

/// The driver's labels: the user's, then `spark-version`, `spark-app-selector`,
/// `spark-app-name` and `spark-role: driver`.
pub fn driver_labels(
    conf: &SparkConf,
    app_id: &str,
    app_name: &str,
) -> Result<Vec<(String, String)>> {
    let mut labels = user_labels(conf, keys::DRIVER_LABEL_PREFIX, app_id)?;
    labels.push((VERSION_LABEL.to_owned(), SPARK_VERSION.to_owned()));
    labels.push((APP_ID_LABEL.to_owned(), app_id.to_owned()));
    labels.push((APP_NAME_LABEL.to_owned(), app_name_label(app_name)));
    labels.push((ROLE_LABEL.to_owned(), "driver".to_owned()));
    Ok(labels)
}

/// Annotations under `prefix` with `{{APP_ID}}` replaced; keys checked.
pub fn annotations(conf: &SparkConf, prefix: &str, app_id: &str) -> Result<Vec<(String, String)>> {
    conf.with_prefix(prefix)
        .map(|(key, value)| {
            check_key(&format!("{prefix}{key}"), key, "annotation")?;
            Ok((key.to_owned(), substitute_ids(value, app_id, "")))
        })
        .collect()
}

/// Annotations under `prefix` as written (no id substitution); keys checked.
pub fn verbatim_annotations(conf: &SparkConf, prefix: &str) -> Result<Vec<(String, String)>> {
    conf.with_prefix(prefix)
        .map(|(key, value)| {
            check_key(&format!("{prefix}{key}"), key, "annotation")?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Checks the labels and annotations the driver will give its executors, which Spark only
/// checks later, inside the driver.
pub fn validate_executor_conf(conf: &SparkConf, app_id: &str) -> Result<()> {
    user_labels(conf, keys::EXECUTOR_LABEL_PREFIX, app_id)?;
    annotations(conf, keys::EXECUTOR_ANNOTATION_PREFIX, app_id)?;
    Ok(())
}

/// Checks every label and annotation of the finished pod (template ones included).
pub fn validate_pod_metadata(pod: &Pod) -> Result<()> {
    let meta = &pod.metadata;
    for (key, value) in meta.labels.iter().flatten() {
        let option = "driver pod template label";
        check_key(option, key, "label")?;
        if !is_label_value(value) {
            return Err(Error::invalid(
                option,
                format!("{option} {key}: {value:?} is not a valid label value"),
            ));
        }
    }
    for key in meta.annotations.iter().flatten().map(|(k, _)| k) {
        check_key("driver pod template annotation", key, "annotation")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        pairs.iter().copied().collect()
    }

    #[test]
    fn submission_id_label_has_sparkubes_prefix() {
        assert!(SUBMISSION_ID_LABEL.starts_with(LABEL_PREFIX));
    }

    #[test]
    fn user_labels_then_spark_labels_with_app_id_substituted() -> Result<()> {
        let conf = conf(&[
            ("spark.kubernetes.driver.label.team", "data"),
            ("spark.kubernetes.driver.label.app", "{{APP_ID}}"),
            ("spark.kubernetes.driver.label.empty", ""),
        ]);
        let labels = driver_labels(&conf, "spark-abc", "ETL job")?;
        let expected = [
            ("team", "data"),
            ("app", "spark-abc"),
            ("empty", ""),
            ("spark-version", "4.3.0"),
            ("spark-app-selector", "spark-abc"),
            ("spark-app-name", "etl-job"),
            ("spark-role", "driver"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(labels, expected);
        Ok(())
    }

    #[test]
    fn annotations_substitute_ids() -> Result<()> {
        let conf = conf(&[(
            "spark.kubernetes.driver.annotation.id",
            "app={{APP_ID}} exec={{EXECUTOR_ID}}",
        )]);
        let got = annotations(&conf, keys::DRIVER_ANNOTATION_PREFIX, "spark-1")?;
        assert_eq!(got, vec![("id".to_owned(), "app=spark-1 exec=".to_owned())]);
        Ok(())
    }

    #[test]
    fn refused_labels() {
        let table: &[(&str, &str, &str)] = &[
            (
                "spark.kubernetes.driver.label.spark-role",
                "x",
                "Label with key spark-role is not allowed as it is reserved for Spark bookkeeping operations.",
            ),
            (
                "spark.kubernetes.driver.label.spark-app-selector",
                "x",
                "Label with key spark-app-selector is not allowed",
            ),
            (
                "spark.kubernetes.driver.label.spark-app-name",
                "x",
                "Label with key spark-app-name is not allowed",
            ),
            (
                "spark.kubernetes.driver.label.spark-version",
                "x",
                "Label with key spark-version is not allowed",
            ),
            (
                "spark.kubernetes.driver.label.spark-exec-id",
                "x",
                "Label with key spark-exec-id is not allowed",
            ),
            (
                "spark.kubernetes.driver.label.spark-exec-resourceprofile-id",
                "x",
                "Label with key spark-exec-resourceprofile-id is not allowed",
            ),
            (
                "spark.kubernetes.driver.label.sparkube.io/submission-id",
                "x",
                "Label with key sparkube.io/submission-id is not allowed",
            ),
            (
                "spark.kubernetes.driver.label.bad key",
                "x",
                "spark.kubernetes.driver.label.bad key: \"bad key\" is not a valid label key",
            ),
            (
                "spark.kubernetes.driver.label.team",
                "has space",
                "spark.kubernetes.driver.label.team: \"has space\" is not a valid label value",
            ),
            (
                "spark.kubernetes.driver.label.team",
                "-lead",
                "is not a valid label value",
            ),
        ];
        for (key, value, message) in table {
            let conf = conf(&[(key, value)]);
            match driver_labels(&conf, "spark-1", "app") {
                Ok(labels) => panic!("{key}={value} accepted: {labels:?}"),
                Err(err) => {
                    assert_eq!(err.option(), *key);
                    assert!(err.to_string().contains(message), "{key}: {err}");
                }
            }
        }
    }

    #[test]
    fn executor_labels_are_checked_too() {
        let conf = conf(&[("spark.kubernetes.executor.label.spark-exec-id", "1")]);
        let err = validate_executor_conf(&conf, "spark-1").err();
        assert_eq!(
            err.map(|e| e.option().to_owned()).as_deref(),
            Some("spark.kubernetes.executor.label.spark-exec-id")
        );
        let ok = conf_ok();
        assert!(validate_executor_conf(&ok, "spark-1").is_ok());
    }

    fn conf_ok() -> SparkConf {
        conf(&[
            ("spark.kubernetes.executor.label.team", "{{APP_ID}}"),
            ("spark.kubernetes.executor.annotation.a/b", "x y"),
        ])
    }
}
