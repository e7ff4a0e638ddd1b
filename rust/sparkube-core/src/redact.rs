//! Which Spark conf keys hold secrets, and how to show a submission without them.
//!
//! What is submitted is never changed: the driver needs the real values, and spark-submit
//! writes them into the driver ConfigMap as they are. What is *shown* (`sparkube render`,
//! `sparkube.render`, warnings, errors) has the value of every key that looks secret replaced
//! by [`REDACTED`], as Spark prints its conf. The rule ([`Redactor`]) is Spark's default
//! `spark.redaction.regex`, `(?i)secret|password|token|access[.]?key`, widened with
//! `passwd`, `api key`, `private key` and any key ending in `key` after a `.`, `_` or `-`
//! (`spark.ssl.key`, `MY_SERVICE_KEY`); a `spark.redaction.regex` set in the conf is applied
//! on top, so it can add keys but never reveal any. Keys whose values name a Kubernetes
//! Secret (`spark.kubernetes.driver.secretKeyRef.*`, `…secrets.*`, pull secrets) are shown:
//! they are where credentials belong, not credentials.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::conf::{SparkConf, keys, parse_properties, write_properties};

/// What replaces a secret value, as Spark's `Utils.redact` prints it.
pub const REDACTED: &str = "*********(redacted)";

/// Spark's default `spark.redaction.regex`.
pub const SPARK_DEFAULT_PATTERN: &str = "(?i)secret|password|token|access[.]?key";

/// The keys sparkube redacts: Spark's default pattern and a few more spellings of credentials.
pub const DEFAULT_PATTERN: &str =
    "(?i)secret|password|passwd|token|access[._-]?key|api[._-]?key|private[._-]?key|[._-]key$";

/// `spark.redaction.regex`.
pub const REDACTION_REGEX_KEY: &str = "spark.redaction.regex";

/// Decides which conf keys (and environment variable names) hold secrets.
#[derive(Debug, Clone)]
pub struct Redactor {
    default: Regex,
    user: Option<Regex>,
}

/// [`DEFAULT_PATTERN`], compiled once.
#[allow(clippy::expect_used)] // A constant pattern, compiled by every test.
static DEFAULT_REGEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DEFAULT_PATTERN).expect("DEFAULT_PATTERN is a valid regex"));

impl Default for Redactor {
    fn default() -> Self {
        Self {
            default: DEFAULT_REGEX.clone(),
            user: None,
        }
    }
}

impl Redactor {
    /// The default rule, plus the conf's own `spark.redaction.regex` when it is a valid
    /// pattern (an invalid one is ignored: the default rule still applies).
    pub fn for_conf(conf: &SparkConf) -> Self {
        let user = conf
            .get(REDACTION_REGEX_KEY)
            .filter(|p| !p.trim().is_empty())
            .and_then(|p| Regex::new(p).ok());
        Self {
            user,
            ..Self::default()
        }
    }

    /// Whether the value of `key` (a conf key or an environment variable name) is secret.
    /// References to Kubernetes Secrets ([`is_secret_reference`]) are not.
    pub fn is_secret(&self, key: &str) -> bool {
        (self.default.is_match(key) || self.user.as_ref().is_some_and(|r| r.is_match(key)))
            && !is_secret_reference(key)
    }

    /// `value`, or [`REDACTED`] when `key` is secret and the value is not empty.
    pub fn show<'a>(&self, key: &str, value: &'a str) -> &'a str {
        if !value.is_empty() && self.is_secret(key) {
            REDACTED
        } else {
            value
        }
    }

    /// The conf with every secret value replaced by [`REDACTED`].
    pub fn conf(&self, conf: &SparkConf) -> SparkConf {
        conf.iter().map(|(k, v)| (k, self.show(k, v))).collect()
    }
}

/// Whether a conf key looks secret under the default rule.
pub fn is_secret_key(key: &str) -> bool {
    Redactor::default().is_secret(key)
}

/// Secret-looking keys whose value names a Kubernetes Secret (an env var's `secretKeyRef`, a
/// mounted Secret, pull secrets, Kerberos' token Secret), not a credential: shown as they are.
pub fn is_secret_reference(key: &str) -> bool {
    const PREFIXES: [&str; 5] = [
        keys::DRIVER_SECRET_KEY_REF_PREFIX,
        keys::EXECUTOR_SECRET_KEY_REF_PREFIX,
        "spark.kubernetes.driver.secrets.",
        "spark.kubernetes.executor.secrets.",
        "spark.kubernetes.kerberos.tokenSecret.",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || key == keys::IMAGE_PULL_SECRETS
}

/// Secret-looking keys that are no credential in plain text: Secret references, files
/// holding credentials, the OAuth tokens spark-submit moves into a Secret itself (their
/// `spark.properties` value is a placeholder), and the redaction pattern.
fn is_not_plain_credential(key: &str) -> bool {
    is_secret_reference(key)
        || key.ends_with("File")
        || key.ends_with(".oauthToken")
        || key == REDACTION_REGEX_KEY
}

/// The keys of `conf` whose secret-looking values spark-submit would write in plain text
/// into the driver ConfigMap (`spark.properties`) or into the driver pod's environment.
pub fn plain_credentials(conf: &SparkConf) -> Vec<String> {
    let redactor = Redactor::for_conf(conf);
    conf.iter()
        .filter(|(k, v)| !v.is_empty() && !is_not_plain_credential(k) && redactor.is_secret(k))
        .map(|(k, _)| k.to_owned())
        .collect()
}

/// The warning for [`plain_credentials`], or `None` when there are none.
pub fn plain_credentials_warning(conf: &SparkConf) -> Option<String> {
    let found = plain_credentials(conf);
    if found.is_empty() {
        return None;
    }
    Some(format!(
        "{} {} plain Spark conf: spark-submit writes {} in plain text into the driver's \
         ConfigMap (and the driver's environment), readable by anyone who can read ConfigMaps \
         or pods in its namespace; keep credentials in a Kubernetes Secret and pass \
         them with spark.kubernetes.driver.secretKeyRef.<ENV_VAR>=<secret>:<key> (and \
         spark.kubernetes.executor.secretKeyRef.*) or mount them with \
         spark.kubernetes.driver.secrets.<secret>=<path>",
        found.join(", "),
        if found.len() == 1 { "is" } else { "are" },
        if found.len() == 1 { "it" } else { "them" },
    ))
}

/// Replaces, for display, the secrets in objects built for a submission: the secret-looking
/// entries of `spark.properties` in ConfigMaps, the values of secret-looking environment
/// variables of pod containers, and the data of Secrets. The objects are then no longer
/// what is submitted; `sparkube render --show-secrets` shows those.
pub fn redact_objects(objects: &mut [Value], conf: &SparkConf) {
    let redactor = Redactor::for_conf(conf);
    for object in objects.iter_mut() {
        match object.get("kind").and_then(Value::as_str) {
            Some("ConfigMap") => redact_properties(object, &redactor),
            Some("Pod") => redact_env(object, &redactor),
            Some("Secret") => redact_secret(object),
            _ => {}
        }
    }
}

fn redact_properties(config_map: &mut Value, redactor: &Redactor) {
    let Some(text) = config_map.pointer_mut("/data/spark.properties") else {
        return;
    };
    let Some(original) = text.as_str() else {
        return;
    };
    let entries = parse_properties(original);
    // spark-submit's own placeholder for the OAuth tokens it moved into a Secret stays.
    let show = |k: &str, v: &'_ str| -> String {
        if v == crate::build::config_map::REDACTED {
            v.to_owned()
        } else {
            redactor.show(k, v).to_owned()
        }
    };
    if !entries.iter().any(|(k, v)| show(k, v) != *v) {
        return;
    }
    let comments: Vec<&str> = original
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| &l[1..])
        .collect();
    let shown_values: Vec<String> = entries.iter().map(|(k, v)| show(k, v)).collect();
    let shown = write_properties(
        &comments,
        entries
            .iter()
            .zip(&shown_values)
            .map(|((k, _), v)| (k.as_str(), v.as_str())),
    );
    *text = Value::String(shown);
}

fn redact_env(pod: &mut Value, redactor: &Redactor) {
    let Some(spec) = pod.get_mut("spec") else {
        return;
    };
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) else {
                continue;
            };
            for var in env {
                let secret = var
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| redactor.is_secret(n));
                if let (true, Some(value)) = (secret, var.get_mut("value"))
                    && value.as_str().is_some_and(|v| !v.is_empty())
                {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
        }
    }
}

fn redact_secret(secret: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(map) = secret.get_mut(field).and_then(Value::as_object_mut) {
            for value in map.values_mut() {
                *value = Value::String(REDACTED.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_spark_redacts_and_more() {
        let table = [
            // Spark's default pattern.
            ("spark.hadoop.fs.s3a.secret.key", true),
            ("spark.hadoop.fs.s3a.access.key", true),
            ("spark.hadoop.fs.s3a.accesskey", true),
            ("spark.ssl.keyPassword", true),
            ("spark.authenticate.secret", true),
            ("spark.kubernetes.authenticate.submission.oauthToken", true),
            ("SPARK.X.PASSWORD", true),
            // Wider than Spark.
            ("spark.ssl.key", true),
            ("spark.kubernetes.driverEnv.STRIPE_KEY", true),
            ("spark.executorEnv.API-KEY", true),
            ("spark.x.apiKey", true),
            ("spark.x.private_key", true),
            ("spark.x.passwd", true),
            ("DB_PASSWORD", true),
            // Not secret.
            ("spark.driver.memory", false),
            ("spark.kubernetes.container.image", false),
            ("spark.io.encryption.keySizeBits", false),
            ("spark.sql.shuffle.partitions", false),
            ("spark.kubernetes.driver.label.keyring", false),
            // References to Kubernetes Secrets are shown.
            ("spark.kubernetes.driver.secretKeyRef.DB_PASSWORD", false),
            ("spark.kubernetes.executor.secrets.creds", false),
            ("spark.kubernetes.container.image.pullSecrets", false),
        ];
        for (key, secret) in table {
            assert_eq!(is_secret_key(key), secret, "{key}");
        }
        // Everything Spark's own default redacts is redacted, but Secret references.
        let spark = Regex::new(SPARK_DEFAULT_PATTERN).ok();
        for (key, _) in table {
            if spark.as_ref().is_some_and(|r| r.is_match(key)) && !is_secret_reference(key) {
                assert!(is_secret_key(key), "{key}");
            }
        }
    }

    #[test]
    fn the_conf_redaction_regex_adds_keys_but_never_reveals() {
        let conf: SparkConf = [
            (REDACTION_REGEX_KEY, "(?i)endpoint"),
            ("spark.hadoop.fs.s3a.endpoint", "http://minio:9000"),
            ("spark.hadoop.fs.s3a.secret.key", "s3cr3t"),
            ("spark.app.name", "pi"),
        ]
        .into_iter()
        .collect();
        let shown = Redactor::for_conf(&conf).conf(&conf);
        assert_eq!(shown.get("spark.hadoop.fs.s3a.endpoint"), Some(REDACTED));
        assert_eq!(shown.get("spark.hadoop.fs.s3a.secret.key"), Some(REDACTED));
        assert_eq!(shown.get("spark.app.name"), Some("pi"));
        let invalid: SparkConf = [(REDACTION_REGEX_KEY, "("), ("spark.x.token", "t")]
            .into_iter()
            .collect();
        assert_eq!(
            Redactor::for_conf(&invalid)
                .conf(&invalid)
                .get("spark.x.token"),
            Some(REDACTED)
        );
    }

    #[test]
    fn plain_credentials_leave_out_references_and_files() {
        let conf: SparkConf = [
            ("spark.hadoop.fs.s3a.secret.key", "s3cr3t"),
            ("spark.kubernetes.driverEnv.DB_PASSWORD", "pw"),
            (
                "spark.kubernetes.driver.secretKeyRef.DB_PASSWORD",
                "db:password",
            ),
            ("spark.kubernetes.executor.secretKeyRef.TOKEN", "api:token"),
            ("spark.kubernetes.driver.secrets.creds", "/etc/creds"),
            ("spark.kubernetes.container.image.pullSecrets", "reg"),
            (
                "spark.kubernetes.authenticate.submission.oauthTokenFile",
                "/t",
            ),
            ("spark.kubernetes.authenticate.driver.oauthToken", "t"),
            ("spark.x.password", ""),
            ("spark.driver.memory", "1g"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            plain_credentials(&conf),
            vec![
                "spark.hadoop.fs.s3a.secret.key",
                "spark.kubernetes.driverEnv.DB_PASSWORD"
            ]
        );
        let warning = plain_credentials_warning(&conf).unwrap_or_default();
        assert!(
            warning.contains("spark.kubernetes.driver.secretKeyRef."),
            "{warning}"
        );
        assert!(
            warning.contains("spark.kubernetes.driver.secrets."),
            "{warning}"
        );
        assert!(!warning.contains("s3cr3t"), "{warning}");
        let clean: SparkConf = [("spark.driver.memory", "1g")].into_iter().collect();
        assert_eq!(plain_credentials_warning(&clean), None);
    }

    #[test]
    fn objects_are_redacted_for_display_only_where_secret() {
        let properties = write_properties(
            &["header", "date"],
            [
                ("spark.app.name", "pi"),
                ("spark.hadoop.fs.s3a.secret.key", "s3cr3t"),
                ("spark.kubernetes.driverEnv.DB_PASSWORD", "pw"),
            ],
        );
        let mut objects = vec![
            json!({"kind": "Pod", "spec": {"containers": [{"name": "spark", "env": [
                {"name": "DB_PASSWORD", "value": "pw"},
                {"name": "SPARK_USER", "value": "me"},
                {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            ]}]}}),
            json!({"kind": "Secret", "data": {"oauth-token": "czNjcjN0"}}),
            json!({"kind": "ConfigMap", "data": {"spark.properties": properties}}),
            json!({"kind": "Service", "spec": {"clusterIP": "None"}}),
        ];
        let untouched = objects[3].clone();
        redact_objects(&mut objects, &SparkConf::new());
        let env = &objects[0]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], json!(REDACTED));
        assert_eq!(env[1]["value"], json!("me"));
        assert_eq!(env[2]["valueFrom"]["secretKeyRef"]["name"], json!("api"));
        assert_eq!(objects[1]["data"]["oauth-token"], json!(REDACTED));
        let shown = objects[2]["data"]["spark.properties"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            shown,
            format!(
                "#header\n#date\nspark.app.name=pi\nspark.hadoop.fs.s3a.secret.key={REDACTED}\n\
                 spark.kubernetes.driverEnv.DB_PASSWORD={REDACTED}\n"
            )
        );
        assert_eq!(objects[3], untouched);
    }

    #[test]
    fn properties_without_secrets_are_left_as_written() {
        let text = "#h\nspark.master=k8s\\://https\\://h\\:443\n".to_owned();
        let mut objects = vec![json!({"kind": "ConfigMap", "data": {"spark.properties": text}})];
        redact_objects(&mut objects, &SparkConf::new());
        assert_eq!(objects[0]["data"]["spark.properties"], json!(text));
    }
}
