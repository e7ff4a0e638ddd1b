//! Java properties text, as `java.util.Properties` reads (`load`) and writes (`store`) it:
//! spark-defaults.conf and `--properties-file` on the way in, `spark.properties` on the way out.

/// Parses Java properties text into (key, value) pairs in file order.
///
/// Follows `Properties.load`: `#`/`!` comments, `=`, `:` or whitespace separators, backslash
/// line continuations and escapes (`\t`, `\n`, `\uXXXX`). Values are trimmed with Java's
/// `String.trim`, as Spark does when it reads a properties file. A key given twice keeps its
/// last value.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for logical in logical_lines(text) {
        let (key, value) = split_entry(&logical);
        let value = super::java_trim(&value).to_owned();
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    entries
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Logical lines, with continuations joined and still escaped; comments and blank lines dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        for natural in raw.split('\r') {
            let trimmed = natural.trim_start_matches(is_blank);
            let mut line = match current.take() {
                Some(mut pending) => {
                    pending.push_str(trimmed);
                    pending
                }
                None => {
                    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                        continue;
                    }
                    trimmed.to_owned()
                }
            };
            let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
            if trailing % 2 == 1 {
                line.pop();
                current = Some(line);
            } else {
                lines.push(line);
            }
        }
    }
    if let Some(pending) = current {
        lines.push(pending);
    }
    lines
}

fn split_entry(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key_end = chars.len();
    let mut has_separator = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if c == '=' || c == ':' {
            key_end = i;
            has_separator = true;
            break;
        }
        if is_blank(c) {
            key_end = i;
            break;
        }
        i += 1;
    }
    let key_end = key_end.min(chars.len());
    let mut j = if has_separator { key_end + 1 } else { key_end };
    while j < chars.len() && is_blank(chars[j]) {
        j += 1;
    }
    if !has_separator && j < chars.len() && (chars[j] == '=' || chars[j] == ':') {
        j += 1;
        while j < chars.len() && is_blank(chars[j]) {
            j += 1;
        }
    }
    let key: String = chars[..key_end].iter().collect();
    let value: String = chars[j.min(chars.len())..].iter().collect();
    (unescape(&key), unescape(&value))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) if hex.len() == 4 => out.push(decoded),
                    _ => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn escape(text: &str, is_key: bool, out: &mut String) {
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' if i == 0 || is_key => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '\\' => out.push_str("\\\\"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
}

/// Writes entries as `Properties.store` does to a `Writer`: `#comment` lines, then one
/// escaped `key=value` line per entry, in the given order.
pub fn write_properties<'a>(
    comments: &[&str],
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut out = String::new();
    for comment in comments {
        for line in comment.lines() {
            out.push('#');
            out.push_str(line);
            out.push('\n');
        }
    }
    for (key, value) in entries {
        escape(key, true, &mut out);
        out.push('=');
        escape(value, false, &mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_properties(text)
    }

    #[test]
    fn separators_comments_and_whitespace() {
        let table: &[(&str, &[(&str, &str)])] = &[
            ("a=1", &[("a", "1")]),
            ("a = 1", &[("a", "1")]),
            ("a:1", &[("a", "1")]),
            ("a 1", &[("a", "1")]),
            (
                "spark.executor.instances   5",
                &[("spark.executor.instances", "5")],
            ),
            ("  a\t=\t1  ", &[("a", "1")]),
            ("# comment\n! other\n\na=1", &[("a", "1")]),
            ("a", &[("a", "")]),
            ("a=", &[("a", "")]),
            ("a=b=c", &[("a", "b=c")]),
            ("a\\ b=c", &[("a b", "c")]),
            ("a\\:b=c", &[("a:b", "c")]),
            ("a=1\\\n    2", &[("a", "12")]),
            ("a=x\\\\\nb=y", &[("a", "x\\"), ("b", "y")]),
            ("a=\\u00e9t\\u00E9", &[("a", "été")]),
            ("a=line\\nbreak", &[("a", "line\nbreak")]),
            ("a=1\r\nb=2\rc=3", &[("a", "1"), ("b", "2"), ("c", "3")]),
            ("a=1\na=2", &[("a", "2")]),
            (
                "k8s=k8s\\://https\\://h\\:443",
                &[("k8s", "k8s://https://h:443")],
            ),
        ];
        for (text, expected) in table {
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs(text), expected, "text {text:?}");
        }
    }

    #[test]
    fn written_entries_escape_like_java() {
        let text = write_properties(
            &["header", "date"],
            [
                ("spark.master", "k8s://https://h:443"),
                ("spark.archives", "local:///a.tgz#a"),
                ("a key", " lead and trail "),
                ("t", "tab\there\\"),
                ("bang", "!x"),
            ],
        );
        assert_eq!(
            text,
            "#header\n#date\nspark.master=k8s\\://https\\://h\\:443\n\
             spark.archives=local\\:///a.tgz\\#a\na\\ key=\\ lead and trail \n\
             t=tab\\there\\\\\nbang=\\!x\n"
        );
    }

    #[test]
    fn write_then_parse_round_trips() {
        let entries = [
            ("spark.app.name", "ETL_job.v2 (daily)"),
            ("spark.kubernetes.driver.label.app", "{{APP_ID}}"),
            ("weird", "a=b:c#d!e\\f\tg"),
            ("unicode", "naïve"),
        ];
        let text = write_properties(&["c"], entries);
        let parsed = parse_properties(&text);
        let expected: Vec<(String, String)> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(parsed, expected);
    }
}
