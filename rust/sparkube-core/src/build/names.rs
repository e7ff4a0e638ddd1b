//! Object names and Kubernetes name rules: Spark's sanitising of the app name into a
//! resource prefix and a label value, and the DNS-1123 / label syntax checks that let bad
//! names be refused before anything is sent.

/// Longest DNS-1123 label (service names, label values, label name parts).
pub const DNS_LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (pod, ConfigMap, NetworkPolicy names).
pub const DNS_SUBDOMAIN_MAX: usize = 253;

/// Lower-cases, replaces every char outside `[a-z0-9-]` with `-` and collapses runs of `-`.
fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Spark's resource name prefix `{app name}-{unique id}`: sanitised, no leading `-`, and a
/// leading digit replaced by `x` (`42-answers` → `x2-answers-…`).
pub fn resource_name_prefix(app_name: &str, unique_id: &str) -> String {
    let squashed = squash(&format!("{app_name}-{unique_id}"));
    let trimmed = squashed.strip_prefix('-').unwrap_or(&squashed);
    match trimmed.chars().next() {
        Some(c) if c.is_ascii_digit() => format!("x{}", &trimmed[1..]),
        _ => trimmed.to_owned(),
    }
}

/// The `spark-app-name` label: the app name sanitised like the prefix (but a leading digit
/// kept), cut to 63 chars, without a leading or trailing `-`.
pub fn app_name_label(app_name: &str) -> String {
    let squashed: String = squash(app_name).chars().take(DNS_LABEL_MAX).collect();
    let trimmed = squashed.strip_prefix('-').unwrap_or(&squashed);
    trimmed.strip_suffix('-').unwrap_or(trimmed).to_owned()
}

/// The driver service name: `{prefix}-driver-svc` when it fits in a DNS label, else
/// `spark-{service unique id}-driver-svc`.
pub fn service_name(prefix: &str, service_unique_id: &str) -> String {
    let preferred = format!("{prefix}-driver-svc");
    if preferred.len() <= DNS_LABEL_MAX {
        preferred
    } else {
        format!("spark-{service_unique_id}-driver-svc")
    }
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Whether `name` is a DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 chars.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= DNS_LABEL_MAX
        && name.starts_with(is_alnum_lower)
        && name.ends_with(is_alnum_lower)
        && name.chars().all(|c| is_alnum_lower(c) || c == '-')
}

/// Whether `name` is a DNS-1123 subdomain: dot-separated labels, at most 253 chars.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= DNS_SUBDOMAIN_MAX
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.starts_with(is_alnum_lower)
                && part.ends_with(is_alnum_lower)
                && part.chars().all(|c| is_alnum_lower(c) || c == '-')
        })
}

fn is_qualified_part(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= DNS_LABEL_MAX
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether `key` is a valid label or annotation key: `[prefix/]name`, the prefix a DNS
/// subdomain, the name at most 63 alphanumerics, `-`, `_` or `.`, alphanumeric at both ends.
pub fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_qualified_part(name),
        None => is_qualified_part(key),
    }
}

/// Whether `value` is a valid label value: empty, or a name part as in [`is_qualified_name`].
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_qualified_part(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefixes_from_the_contract() {
        let table = [
            ("spark-pi", "8fe576a20a575640", "spark-pi-8fe576a20a575640"),
            (
                "42-answers",
                "ef421ea20a57ee13",
                "x2-answers-ef421ea20a57ee13",
            ),
            (
                "ETL_job.v2 (daily)",
                "73bef6a20a57de60",
                "etl-job-v2-daily-73bef6a20a57de60",
            ),
            ("  Spaces  ", "0a", "spaces-0a"),
            ("--lead", "0a", "lead-0a"),
            ("", "1a", "xa"),
            ("Ünïcode", "0a", "n-code-0a"),
        ];
        for (name, id, expected) in table {
            assert_eq!(resource_name_prefix(name, id), expected, "{name}");
        }
    }

    #[test]
    fn app_name_labels() {
        let table = [
            ("spark-pi", "spark-pi"),
            ("42-answers", "42-answers"),
            ("ETL_job.v2 (daily)", "etl-job-v2-daily"),
            ("X", "x"),
            ("main.py", "main-py"),
            ("-trailing-", "trailing"),
            (
                "a-very-long-application-name-that-does-not-fit-into-a-service-name-at-all",
                "a-very-long-application-name-that-does-not-fit-into-a-service-n",
            ),
            (
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
        ];
        for (name, expected) in table {
            assert_eq!(app_name_label(name), expected, "{name}");
        }
    }

    #[test]
    fn service_name_falls_back_past_63_chars() {
        let short = resource_name_prefix("spark-pi", "8fe576a20a575640");
        assert_eq!(
            service_name(&short, "d3c2fca20a583222"),
            "spark-pi-8fe576a20a575640-driver-svc"
        );
        let long = resource_name_prefix(
            "this-is-a-very-long-application-name-that-goes-on-and-on",
            "f1f8f4a20a58303d",
        );
        assert_eq!(
            service_name(&long, "d3c2fca20a583222"),
            "spark-d3c2fca20a583222-driver-svc"
        );
        // Exactly 63 chars still fits.
        let prefix = "a".repeat(63 - "-driver-svc".len());
        assert_eq!(service_name(&prefix, "x"), format!("{prefix}-driver-svc"));
    }

    #[test]
    fn syntax_checks() {
        let labels = [
            ("a", true),
            ("a-b", true),
            ("-a", false),
            ("a-", false),
            ("A", false),
            ("a.b", false),
            ("", false),
        ];
        for (name, ok) in labels {
            assert_eq!(is_dns_label(name), ok, "label {name:?}");
        }
        let subdomains = [
            ("a.b-c", true),
            ("My_Driver", false),
            ("a..b", false),
            ("x2-answers-ef421ea20a57ee13-driver", true),
        ];
        for (name, ok) in subdomains {
            assert_eq!(is_dns_subdomain(name), ok, "subdomain {name:?}");
        }
        assert!(!is_dns_subdomain(&"a".repeat(254)));
        let keys = [
            ("team", true),
            ("example.com/team", true),
            ("app.kubernetes.io/name", true),
            ("Team_1.x", true),
            ("bad key", false),
            ("/x", false),
            ("a/b/c", false),
            ("UPPER.com/x", false),
        ];
        for (key, ok) in keys {
            assert_eq!(is_qualified_name(key), ok, "key {key:?}");
        }
        let values = [
            ("", true),
            ("v1.2_x-y", true),
            ("-x", false),
            ("has space", false),
            ("{{APP_ID}}", false),
        ];
        for (value, ok) in values {
            assert_eq!(is_label_value(value), ok, "value {value:?}");
        }
        assert!(!is_label_value(&"a".repeat(64)));
    }

    proptest! {
        #[test]
        fn sanitised_names_are_always_valid(name in "\\PC{0,80}", random in any::<[u8; 3]>(), millis in 0i64..i64::MAX) {
            let id = crate::ids::unique_id(random, millis);
            let prefix = resource_name_prefix(&name, &id);
            prop_assert!(is_dns_subdomain(&format!("{prefix}-driver")), "pod name from {name:?}: {prefix}");
            let policy = format!("{prefix}-policy");
            prop_assert!(is_dns_subdomain(&policy));
            prop_assert!(is_dns_label(&service_name(&prefix, &id)));
            prop_assert!(is_label_value(&app_name_label(&name)), "label from {name:?}");
        }
    }
}
