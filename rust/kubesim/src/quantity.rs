//! Kubernetes resource quantities (`500m`, `2`, `1Gi`, `1e3`) as numbers.

/// Parses a quantity into base units (cores for cpu, bytes for memory); `None` when malformed.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (s, mult) in suffixes {
        if let Some(num) = q.strip_suffix(s) {
            return parse_number(num).map(|n| n * mult);
        }
    }
    for (s, mult) in [("P", 1e15), ("E", 1e18)] {
        if let Some(num) = q.strip_suffix(s) {
            return parse_number(num).map(|n| n * mult);
        }
    }
    parse_number(q)
}

fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'+' | b'-' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Parses a JSON quantity (string or number).
pub fn parse_value(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("500m", Some(0.5)),
            ("1.5", Some(1.5)),
            ("1Gi", Some(1073741824.0)),
            ("512Mi", Some(536870912.0)),
            ("1G", Some(1e9)),
            ("1e3", Some(1000.0)),
            ("", None),
            ("abc", None),
            ("1Zi", None),
        ];
        for (q, want) in cases {
            assert_eq!(parse(q), *want, "{q}");
        }
    }
}
