//! Label and field selectors: parsing the query-string syntax and matching objects.

use thiserror::Error;

/// Errors from parsing a selector.
#[derive(Debug, Error, PartialEq)]
pub enum Error {
    /// The label selector text is not valid.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// The field selector text is not valid.
    #[error("invalid field selector: {0}")]
    Field(String),
    /// The field selector names a field the resource cannot be selected by.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// Result alias for selector parsing.
pub type Result<T> = std::result::Result<T, Error>;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>n`.
    Gt(String, i64),
    /// `key<n`.
    Lt(String, i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    /// The requirements, ANDed.
    pub requirements: Vec<Requirement>,
}

fn lookup<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Requirement {
    fn matches(&self, labels: &[(String, String)]) -> bool {
        match self {
            Requirement::Equals(k, v) => lookup(labels, k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => lookup(labels, k) != Some(v.as_str()),
            Requirement::In(k, vs) => lookup(labels, k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => {
                lookup(labels, k).is_none_or(|x| !vs.iter().any(|v| v == x))
            }
            Requirement::Exists(k) => lookup(labels, k).is_some(),
            Requirement::DoesNotExist(k) => lookup(labels, k).is_none(),
            Requirement::Gt(k, n) => lookup(labels, k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::Lt(k, n) => lookup(labels, k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        }
    }
}

impl LabelSelector {
    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Parses the `labelSelector` query parameter syntax.
    pub fn parse(text: &str) -> Result<Self> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(Error::Label(format!(
                    "found '', expected: identifier in {text:?}"
                )));
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON object (matchLabels, matchExpressions).
    pub fn from_json(sel: &serde_json::Value) -> Result<Self> {
        let mut requirements = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(|m| m.as_object()) {
            for (k, v) in m {
                requirements.push(Requirement::Equals(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(|m| m.as_array()) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(|k| k.as_str())
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = e
                    .get("operator")
                    .and_then(|o| o.as_str())
                    .unwrap_or_default();
                requirements.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => {
                        return Err(Error::Label(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                });
            }
        }
        Ok(LabelSelector { requirements })
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn check_key(key: &str) -> Result<()> {
    crate::registry::validation::label_key_errors(key)
        .first()
        .map_or(Ok(()), |e| {
            Err(Error::Label(format!("key: Invalid value: {key:?}: {e}")))
        })
}

fn check_value(key: &str, value: &str) -> Result<()> {
    crate::registry::validation::label_value_errors(value)
        .first()
        .map_or(Ok(()), |e| {
            Err(Error::Label(format!(
                "values[0][{key}]: Invalid value: {value:?}: {e}"
            )))
        })
}

fn parse_set(key: &str, rest: &str) -> Result<Vec<String>> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            Error::Label(format!(
                "found '{rest}', expected: '(' for the values of {key}"
            ))
        })?;
    let mut values = Vec::new();
    for v in inner.split(',') {
        let v = v.trim();
        check_value(key, v)?;
        values.push(v.to_string());
    }
    Ok(values)
}

fn parse_requirement(part: &str) -> Result<Requirement> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement::DoesNotExist(key.to_string()));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim_start();
        for (op, neg) in [("notin", true), ("in", false)] {
            if let Some(r) = rest.strip_prefix(op)
                && (r.starts_with(char::is_whitespace) || r.starts_with('('))
            {
                let key = words[0];
                check_key(key)?;
                let values = parse_set(key, r)?;
                return Ok(if neg {
                    Requirement::NotIn(key.to_string(), values)
                } else {
                    Requirement::In(key.to_string(), values)
                });
            }
        }
    }
    for (op, kind) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            check_key(k)?;
            return match kind {
                0 | 1 => {
                    check_value(k, v)?;
                    Ok(if kind == 0 {
                        Requirement::NotEquals(k.into(), v.into())
                    } else {
                        Requirement::Equals(k.into(), v.into())
                    })
                }
                _ => {
                    let n = v.parse::<i64>().map_err(|_| {
                        Error::Label(format!(
                            "for 'Gt', 'Lt' operators, the value must be an integer: {v:?}"
                        ))
                    })?;
                    Ok(if kind == 2 {
                        Requirement::Gt(k.into(), n)
                    } else {
                        Requirement::Lt(k.into(), n)
                    })
                }
            };
        }
    }
    let key = part.trim();
    check_key(key)?;
    Ok(Requirement::Exists(key.to_string()))
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTerm {
    /// The field path (`status.phase`).
    pub field: String,
    /// The value compared with.
    pub value: String,
    /// Whether the term is `!=`.
    pub negated: bool,
}

/// A parsed field selector: all terms must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    /// The terms, ANDed.
    pub terms: Vec<FieldTerm>,
}

fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl FieldSelector {
    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Parses the `fieldSelector` syntax, accepting only `metadata.name`, `metadata.namespace`
    /// and the resource's own selectable `fields`.
    pub fn parse(text: &str, fields: &[&str]) -> Result<Self> {
        let mut terms = Vec::new();
        if text.trim().is_empty() {
            return Ok(FieldSelector::default());
        }
        for part in split_unescaped(text, ',') {
            let (field, value, negated) = if let Some(i) = find_unescaped(&part, "!=") {
                (&part[..i], &part[i + 2..], true)
            } else if let Some(i) = find_unescaped(&part, "==") {
                (&part[..i], &part[i + 2..], false)
            } else if let Some(i) = find_unescaped(&part, "=") {
                (&part[..i], &part[i + 1..], false)
            } else {
                return Err(Error::Field(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            let field = field.trim().to_string();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !fields.contains(&field.as_str())
            {
                return Err(Error::UnsupportedField(field));
            }
            terms.push(FieldTerm {
                field,
                value: unescape(value.trim()),
                negated,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether an object whose selectable fields are given by `get` is selected.
    pub fn matches(&self, get: impl Fn(&str) -> String) -> bool {
        self.terms
            .iter()
            .all(|t| (get(&t.field) == t.value) != t.negated)
    }
}

fn find_unescaped(text: &str, pat: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if text[i..].starts_with(pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_table() {
        let l = labels(&[("app", "spark"), ("role", "driver"), ("n", "5")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=spark", true),
            ("app==spark", true),
            ("app!=spark", false),
            ("app=spark,role=driver", true),
            ("app=spark,role=executor", false),
            ("role in (driver, executor)", true),
            ("role in (executor)", false),
            ("role notin (executor)", true),
            ("missing notin (x)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing", false),
            ("n>4", true),
            ("n<4", false),
            ("app in (spark),role notin (x,y),!z", true),
            ("spark-role=driver", false),
        ];
        for (text, want) in cases {
            let s = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(&l), *want, "{text}");
        }
    }

    #[test]
    fn label_selector_rejects_bad_syntax() {
        for text in ["app=a b", "a in b", "-bad=1", "x=,", "a b c", "n>x"] {
            assert!(LabelSelector::parse(text).is_err(), "{text} should fail");
        }
    }

    #[test]
    fn label_selector_from_json() {
        let sel = serde_json::json!({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "In", "values": ["2", "3"]}]});
        let s = LabelSelector::from_json(&sel).unwrap_or_default();
        assert!(s.matches(&labels(&[("a", "1"), ("b", "3")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "4")])));
    }

    #[test]
    fn field_selector_table() {
        let fields = ["status.phase", "spec.nodeName"];
        let get = |f: &str| match f {
            "metadata.name" => "p1".to_string(),
            "status.phase" => "Running".to_string(),
            _ => String::new(),
        };
        let cases: &[(&str, bool)] = &[
            ("metadata.name=p1", true),
            ("metadata.name==p1", true),
            ("metadata.name!=p1", false),
            ("status.phase=Running,metadata.name=p1", true),
            ("status.phase!=Running", false),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
        ];
        for (text, want) in cases {
            let s = FieldSelector::parse(text, &fields).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(get), *want, "{text}");
        }
        assert_eq!(
            FieldSelector::parse("spec.foo=x", &fields),
            Err(Error::UnsupportedField("spec.foo".into()))
        );
        assert!(FieldSelector::parse("nonsense", &fields).is_err());
    }
}
