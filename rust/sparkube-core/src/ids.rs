//! The random and environmental parts of one submission, drawn once and passed to the
//! builders, so that building is a pure function and tests can fix every id.

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Everything about a submission that is neither in the request nor derived from it.
///
/// Formats are Spark's: `app_id` is `spark-` + 32 hex digits; unique ids are 16 hex digits
/// (3 random bytes, then the submit time in milliseconds masked to 40 bits, in hex). Each
/// object family draws its own unique id, as spark-submit does. Fields missing when
/// deserialized take the values of [`Ids::default`] (fixed, for reproducible output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ids {
    /// `spark.app.id` and the `spark-app-selector` label.
    pub app_id: String,
    /// The `sparkube.io/submission-id` label (unless the request names one).
    pub submission_id: String,
    /// The unique id in the resource prefix `{app name}-{id}` (pod, service, policy names).
    pub pod_unique_id: String,
    /// The unique id of the fallback service name `spark-{id}-driver-svc`.
    pub service_unique_id: String,
    /// The unique id of the driver ConfigMap `spark-drv-{id}-conf-map`.
    pub conf_map_unique_id: String,
    /// The UUID of the default local dir `/var/data/spark-{uuid}`.
    pub local_dir_uuid: String,
    /// `spark.app.submitTime`, milliseconds since the epoch.
    pub submit_time_millis: i64,
    /// `SPARK_USER` of the driver when there is no proxy user.
    pub spark_user: String,
}

/// Spark's `KubernetesUtils.uniqueID`: 3 random bytes in hex, then the time in hex.
pub fn unique_id(random: [u8; 3], time_millis: i64) -> String {
    let masked = (time_millis as u64) & 0xFF_FFFF_FFFF;
    format!(
        "{:02x}{:02x}{:02x}{masked:x}",
        random[0], random[1], random[2]
    )
}

impl Ids {
    /// Fresh ids: random ids, the current time, and the submitting user
    /// (`$SPARK_USER`, `$HADOOP_USER_NAME`, else the account running this process).
    pub fn random() -> Ids {
        let mut rng = rand::rng();
        let now = chrono::Utc::now().timestamp_millis();
        let mut draw = || {
            let mut bytes = [0u8; 3];
            rng.fill_bytes(&mut bytes);
            unique_id(bytes, now)
        };
        let (pod_unique_id, service_unique_id, conf_map_unique_id) = (draw(), draw(), draw());
        Ids {
            app_id: format!("spark-{}", uuid::Uuid::new_v4().simple()),
            submission_id: uuid::Uuid::new_v4().to_string(),
            pod_unique_id,
            service_unique_id,
            conf_map_unique_id,
            local_dir_uuid: uuid::Uuid::new_v4().to_string(),
            submit_time_millis: now,
            spark_user: current_user(),
        }
    }

    /// Ids for one submission: random, except when the caller names the submission. Then the
    /// app id and the object names derive from that name, so that submitting the same
    /// submission again (a retried task, a restarted Job pod) meets the driver pod it already
    /// created (409 AlreadyExists) and adopts it instead of starting a second driver.
    pub fn for_submission(submission_id: Option<&str>) -> Ids {
        let mut ids = Ids::random();
        if let Some(name) = submission_id {
            let hash = |salt: u8| stable_hash(name.as_bytes(), salt);
            let unique = |salt: u8| {
                let h = hash(salt).to_le_bytes();
                unique_id([h[0], h[1], h[2]], (hash(salt) >> 24) as i64)
            };
            ids.app_id = format!(
                "spark-{}",
                uuid::Uuid::from_u64_pair(hash(1), hash(2)).simple()
            );
            ids.submission_id = name.to_owned();
            ids.pod_unique_id = unique(3);
            ids.service_unique_id = unique(4);
            ids.conf_map_unique_id = unique(5);
        }
        ids
    }

    /// Deterministic ids in Spark's formats, all derived from `seed`: for tests and
    /// reproducible rendering.
    pub fn seeded(seed: u64) -> Ids {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let submit_time_millis = 1_795_000_000_000;
        let mut unique = || {
            let bytes = next().to_le_bytes();
            unique_id([bytes[0], bytes[1], bytes[2]], submit_time_millis)
        };
        let (pod_unique_id, service_unique_id, conf_map_unique_id) = (unique(), unique(), unique());
        let uuid = |a: u64, b: u64| uuid::Uuid::from_u64_pair(a, b);
        let (a, b, c, d, e, f) = (next(), next(), next(), next(), next(), next());
        Ids {
            app_id: format!("spark-{}", uuid(a, b).simple()),
            submission_id: uuid(c, d).to_string(),
            pod_unique_id,
            service_unique_id,
            conf_map_unique_id,
            local_dir_uuid: uuid(e, f).to_string(),
            submit_time_millis,
            spark_user: "spark".to_owned(),
        }
    }
}

impl Default for Ids {
    /// [`Ids::seeded`] with seed 0.
    fn default() -> Self {
        Ids::seeded(0)
    }
}

/// FNV-1a over `salt` and `bytes`: stable across builds and platforms, unlike std's hasher.
fn stable_hash(bytes: &[u8], salt: u8) -> u64 {
    std::iter::once(salt)
        .chain(bytes.iter().copied())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// The submitting user as Spark names it: `$SPARK_USER`, else Hadoop's `$HADOOP_USER_NAME`,
/// else the login name of this process's account.
fn current_user() -> String {
    for var in ["SPARK_USER", "HADOOP_USER_NAME"] {
        if let Ok(value) = std::env::var(var)
            && !value.is_empty()
        {
            return value;
        }
    }
    account_name()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "spark".to_owned())
}

/// The account name of this process's real uid, from `/proc/self/status` and `/etc/passwd`.
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?;
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid_field = fields.nth(1)?;
        (uid_field == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_hex(s: &str) -> bool {
        s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }

    #[test]
    fn a_named_submission_gets_the_same_names_every_time() {
        let first = Ids::for_submission(Some("dag.task.run-1"));
        let again = Ids::for_submission(Some("dag.task.run-1"));
        let other = Ids::for_submission(Some("dag.task.run-2"));
        assert_formats(&first);
        assert_eq!(first.submission_id, "dag.task.run-1");
        for (a, b) in [
            (&first.app_id, &again.app_id),
            (&first.pod_unique_id, &again.pod_unique_id),
            (&first.service_unique_id, &again.service_unique_id),
            (&first.conf_map_unique_id, &again.conf_map_unique_id),
        ] {
            assert_eq!(a, b);
        }
        assert_ne!(first.pod_unique_id, other.pod_unique_id);
        assert_ne!(first.app_id, other.app_id);
    }

    #[test]
    fn an_unnamed_submission_is_random() {
        let a = Ids::for_submission(None);
        let b = Ids::for_submission(None);
        assert_formats(&a);
        assert_ne!(a.pod_unique_id, b.pod_unique_id);
        assert_ne!(a.submission_id, b.submission_id);
    }

    fn assert_formats(ids: &Ids) {
        let hex = ids.app_id.strip_prefix("spark-").unwrap_or_default();
        assert_eq!(hex.len(), 32, "{}", ids.app_id);
        assert!(is_hex(hex));
        for id in [
            &ids.pod_unique_id,
            &ids.service_unique_id,
            &ids.conf_map_unique_id,
        ] {
            assert_eq!(id.len(), 16, "{id}");
            assert!(is_hex(id), "{id}");
        }
        assert!(uuid::Uuid::parse_str(&ids.local_dir_uuid).is_ok());
        assert!(!ids.spark_user.is_empty());
    }

    #[test]
    fn unique_id_is_random_bytes_then_masked_millis() {
        assert_eq!(
            unique_id([0x8f, 0xe5, 0x76], 1_795_469_825_547),
            "8fe576a20a57560b"
        );
        assert_eq!(unique_id([0, 0, 1], 0x123_0000_0001), "0000012300000001");
    }

    #[test]
    fn random_ids_have_spark_formats_and_differ() {
        let (a, b) = (Ids::random(), Ids::random());
        assert_formats(&a);
        assert_formats(&b);
        assert_ne!(a.app_id, b.app_id);
        assert_ne!(a.pod_unique_id, a.conf_map_unique_id);
    }

    #[test]
    fn seeded_ids_are_reproducible_and_well_formed() {
        assert_eq!(Ids::seeded(7), Ids::seeded(7));
        assert_ne!(Ids::seeded(7).app_id, Ids::seeded(8).app_id);
        assert_formats(&Ids::seeded(7));
    }

    #[test]
    fn missing_fields_take_the_default() -> Result<(), serde_json::Error> {
        let ids: Ids = serde_json::from_value(serde_json::json!({"app_id": "spark-x"}))?;
        assert_eq!(ids.app_id, "spark-x");
        assert_eq!(ids.pod_unique_id, Ids::default().pod_unique_id);
        Ok(())
    }
}
