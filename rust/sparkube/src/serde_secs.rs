//! Serde helpers that write durations as seconds (a float), the form Python and the CLI use.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// `Duration` as float seconds.
pub mod required {
    use super::*;

    /// Writes the duration as float seconds.
    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    /// Reads float seconds (negative or non-finite values are refused).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// `Option<Duration>` as float seconds or null.
pub mod option {
    use super::*;

    /// Writes the duration as float seconds, `None` as null.
    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    /// Reads float seconds or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use std::time::Duration;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super::required")]
        a: Duration,
        #[serde(with = "super::option", default)]
        b: Option<Duration>,
    }

    #[test]
    fn round_trip_and_refusals() {
        let t = T {
            a: Duration::from_millis(1500),
            b: None,
        };
        let text = serde_json::to_string(&t).ok();
        assert_eq!(text.as_deref(), Some(r#"{"a":1.5,"b":null}"#));
        let back: Option<T> = serde_json::from_str(r#"{"a":2,"b":0.25}"#).ok();
        assert_eq!(
            back,
            Some(T {
                a: Duration::from_secs(2),
                b: Some(Duration::from_millis(250))
            })
        );
        assert!(serde_json::from_str::<T>(r#"{"a":-1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a":1}"#).is_ok());
    }
}
