//! The Spark conf model ([`SparkConf`]), spark-submit's command line ([`SubmitArgs`],
//! [`parse_submit_args`]), Java properties files, and Spark's size and number formats.
//!
//! Keys are Spark's own (`spark.driver.memory`, `spark.kubernetes.driver.label.team`), so a
//! reader can follow one key from the command line to the field of the object it sets.

mod args;
pub mod keys;
pub mod lint;
mod properties;
pub mod spark_keys;
mod units;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use args::{Action, SubmitArgs, ToolArgs, parse_submit_args, split_tool_args};
pub use properties::{parse_properties, write_properties};
pub use units::{
    ByteUnit, TimeUnit, is_kubernetes_quantity, java_double_string, parse_bytes,
    parse_bytes_as_mib, parse_time, parse_time_ms,
};

/// An ordered Spark configuration: key → value, with Spark's own keys.
///
/// Insertion order is kept (a later `set` of an existing key keeps its place), so rendered
/// output is stable and follows the order options were given in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SparkConf {
    entries: IndexMap<String, String>,
}

impl SparkConf {
    /// An empty conf.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// The value of `key`, or `default` when it is not set.
    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Sets `key` to `value`, replacing (in place) any earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Sets `key` to `value` only when `key` is not set yet.
    pub fn set_if_missing(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries
            .entry(key.into())
            .or_insert_with(|| value.into());
    }

    /// Removes `key`, keeping the order of the other entries; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.shift_remove(key)
    }

    /// Whether `key` is set to `true` (case-insensitive), else `default` when unset.
    pub fn get_bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(value) => java_trim(value).eq_ignore_ascii_case("true"),
            None => default,
        }
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Entries whose key starts with `prefix`, as (rest of the key, value), in order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v)))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the conf has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for SparkConf {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut conf = SparkConf::new();
        for (k, v) in iter {
            conf.set(k, v);
        }
        conf
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for SparkConf {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.set(k, v);
        }
    }
}

/// Java's `String.trim`, which Spark applies to conf values: strips every char up to U+0020
/// (space and ASCII control characters) at both ends, and nothing else (unlike `str::trim`,
/// which strips Unicode spaces such as U+00A0 and keeps control characters).
pub fn java_trim(value: &str) -> &str {
    value.trim_matches(|c: char| c <= ' ')
}

/// Splits a comma-separated list as Spark does: entries trimmed, empty entries dropped.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(java_trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_first_position_and_replaces_value() {
        let mut conf = SparkConf::new();
        conf.set("a", "1");
        conf.set("b", "2");
        conf.set("a", "3");
        assert_eq!(
            conf.iter().collect::<Vec<_>>(),
            vec![("a", "3"), ("b", "2")]
        );
    }

    #[test]
    fn set_if_missing_does_not_override() {
        let mut conf: SparkConf = [("a", "1")].into_iter().collect();
        conf.set_if_missing("a", "2");
        conf.set_if_missing("b", "3");
        assert_eq!(conf.get("a"), Some("1"));
        assert_eq!(conf.get("b"), Some("3"));
    }

    #[test]
    fn with_prefix_strips_the_prefix_in_order() {
        let conf: SparkConf = [
            ("spark.kubernetes.driver.label.z", "1"),
            ("spark.other", "x"),
            ("spark.kubernetes.driver.label.a", "2"),
        ]
        .into_iter()
        .collect();
        let labels: Vec<_> = conf.with_prefix("spark.kubernetes.driver.label.").collect();
        assert_eq!(labels, vec![("z", "1"), ("a", "2")]);
    }

    #[test]
    fn get_bool_is_case_insensitive() {
        let conf: SparkConf = [("t", "TRUE"), ("f", "no")].into_iter().collect();
        assert!(conf.get_bool("t", false));
        assert!(!conf.get_bool("f", true));
        assert!(conf.get_bool("missing", true));
    }

    #[test]
    fn split_list_drops_empty_entries() {
        assert_eq!(split_list(" a, ,b,"), vec!["a", "b"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn java_trim_strips_controls_and_spaces_only() {
        let table = [
            (" a ", "a"),
            ("\t\r\na\n", "a"),
            ("\u{1}a\u{1f}", "a"),
            ("\u{a0}a\u{2000}", "\u{a0}a\u{2000}"),
            ("", ""),
        ];
        for (input, expected) in table {
            assert_eq!(java_trim(input), expected, "{input:?}");
        }
    }

    #[test]
    fn remove_keeps_order() {
        let mut conf: SparkConf = [("a", "1"), ("b", "2"), ("c", "3")].into_iter().collect();
        assert_eq!(conf.remove("b").as_deref(), Some("2"));
        assert_eq!(
            conf.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            vec!["a", "c"]
        );
    }
}
