//! Timestamps in the formats the API uses.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, as RFC 3339 with seconds precision (`metadata.creationTimestamp`, condition times).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A time as RFC 3339 with seconds precision.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now, as RFC 3339 with microseconds (`eventTime`, managedFields use seconds; MicroTime fields).
pub fn now_micro() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A time as RFC 3339 with nanoseconds, as the kubelet prefixes log lines.
pub fn format_nanos(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parses an RFC 3339 timestamp.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
