//! Spark's size strings (`512m`, `4g`, `1500k`), Java's rendering of doubles, and the
//! Kubernetes quantities (`500m`, `1.5`, `2Gi`) some confs are passed through as.

/// A unit of Spark's size strings, each 1024 times the previous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteUnit {
    /// Bytes (`b`).
    Byte,
    /// Kibibytes (`k`, `kb`).
    KiB,
    /// Mebibytes (`m`, `mb`).
    MiB,
    /// Gibibytes (`g`, `gb`).
    GiB,
    /// Tebibytes (`t`, `tb`).
    TiB,
    /// Pebibytes (`p`, `pb`).
    PiB,
}

impl ByteUnit {
    fn power(self) -> u32 {
        match self {
            ByteUnit::Byte => 0,
            ByteUnit::KiB => 1,
            ByteUnit::MiB => 2,
            ByteUnit::GiB => 3,
            ByteUnit::TiB => 4,
            ByteUnit::PiB => 5,
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "b" => ByteUnit::Byte,
            "k" | "kb" => ByteUnit::KiB,
            "m" | "mb" => ByteUnit::MiB,
            "g" | "gb" => ByteUnit::GiB,
            "t" | "tb" => ByteUnit::TiB,
            "p" | "pb" => ByteUnit::PiB,
            _ => return None,
        })
    }
}

const SIZE_FORMAT: &str = "Size must be specified as bytes (b), kibibytes (k), mebibytes (m), \
gibibytes (g), tebibytes (t), or pebibytes(p). E.g. 50b, 100k, or 250m.";

/// Parses a Spark size string into `unit`s, as Spark's `JavaUtils.byteStringAs` does:
/// lower-cased (Unicode, as `toLowerCase(Locale.ROOT)`), trimmed (as Java's `trim`), digits
/// then an optional suffix, `default` when there is none; the result is truncated to whole
/// `unit`s. Numbers and results past `Long.MAX_VALUE` are refused, as Spark refuses them. The
/// error is Spark's message.
pub fn parse_bytes(value: &str, default: ByteUnit, unit: ByteUnit) -> Result<u64, String> {
    let lowered = value.to_lowercase();
    let lower = super::java_trim(&lowered);
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    if digits.is_empty() || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
        if is_fractional(lower) {
            return Err(format!(
                "Fractional values are not supported. Input was: {lower}"
            ));
        }
        return Err(SIZE_FORMAT.to_owned());
    }
    // `Long.parseLong`: at most i64::MAX.
    let number: i64 = digits.parse().map_err(|_| SIZE_FORMAT.to_owned())?;
    let from = if suffix.is_empty() {
        default
    } else {
        ByteUnit::from_suffix(suffix).ok_or_else(|| format!("Invalid suffix: \"{suffix}\""))?
    };
    let (from_power, to_power) = (from.power(), unit.power());
    let converted = if from_power >= to_power {
        let factor = 1i64 << (10 * (from_power - to_power));
        number
            .checked_mul(factor)
            .ok_or_else(|| format!("Size {value} is too large"))?
    } else {
        number >> (10 * (to_power - from_power))
    };
    u64::try_from(converted).map_err(|_| SIZE_FORMAT.to_owned())
}

fn is_fractional(lower: &str) -> bool {
    let Some((int, rest)) = lower.split_once('.') else {
        return false;
    };
    let frac_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (frac, suffix) = rest.split_at(frac_end);
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && !frac.is_empty()
        && suffix.chars().all(|c| c.is_ascii_lowercase())
}

/// A memory size in MiB, with MiB as the unit of a bare number (`spark.driver.memory`).
pub fn parse_bytes_as_mib(value: &str) -> Result<u64, String> {
    parse_bytes(value, ByteUnit::MiB, ByteUnit::MiB)
}

const TIME_FORMAT: &str = "Time must be specified as seconds (s), milliseconds (ms), \
microseconds (us), minutes (m or min), hour (h), or day (d). E.g. 50s, 100ms, or 250us.";

/// The unit a Spark time conf is declared in (`timeConf(TimeUnit.…)`): a bare number is read
/// in it, and the value is given in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (`spark.kubernetes.report.interval`, ...).
    Millis,
    /// Seconds (`spark.kubernetes.appKillPodDeletionGracePeriod`, ...).
    Seconds,
}

impl TimeUnit {
    fn micros(self) -> i64 {
        match self {
            TimeUnit::Millis => 1_000,
            TimeUnit::Seconds => 1_000_000,
        }
    }
}

/// Parses a Spark time string into milliseconds, with milliseconds as the unit of a bare
/// number: [`parse_time`] in [`TimeUnit::Millis`].
pub fn parse_time_ms(value: &str) -> Result<i64, String> {
    parse_time(value, TimeUnit::Millis)
}

/// Parses a Spark time string into `unit`s, with `unit` as the unit of a bare number, as
/// Spark's `JavaUtils.timeStringAs(value, unit)` does: lower-cased, trimmed, an optionally
/// negative integer and an optional suffix (`us`, `ms`, `s`, `m`, `min`, `h`, `d`), truncated
/// to whole `unit`s. The error is Spark's message, on one line.
pub fn parse_time(value: &str, unit: TimeUnit) -> Result<i64, String> {
    let lowered = value.to_lowercase();
    let lower = super::java_trim(&lowered);
    let sign_len = usize::from(lower.starts_with('-'));
    let digits_end = lower[sign_len..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(lower.len(), |i| i + sign_len);
    let (number, suffix) = lower.split_at(digits_end);
    let fail = |why: String| format!("{TIME_FORMAT} {why}");
    if number.len() == sign_len || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(fail(format!("Failed to parse time string: {value}")));
    }
    let number: i64 = number
        .parse()
        .map_err(|_| fail(format!("For input string: \"{number}\"")))?;
    let micros: i64 = match suffix {
        "" => unit.micros(),
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        other => return Err(fail(format!("Invalid suffix: \"{other}\""))),
    };
    let converted = i128::from(number) * i128::from(micros) / i128::from(unit.micros());
    Ok(i64::try_from(converted).unwrap_or(if converted < 0 { i64::MIN } else { i64::MAX }))
}

/// A double as Java's `Double.toString` writes it (`0.1`, `1.0`, `1.0E7`), for values
/// spark-submit writes back into the conf.
pub fn java_double_string(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = format!("{value}");
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// Whether `value` is a non-negative Kubernetes quantity, as the API server accepts for
/// resources: a decimal number with an optional binary (`Ki` … `Ei`), decimal (`n u m k M G
/// T P E`) or exponent (`e3`, `E-2`) suffix.
pub fn is_kubernetes_quantity(value: &str) -> bool {
    let value = value.strip_prefix('+').unwrap_or(value);
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    let valid_number =
        number.chars().any(|c| c.is_ascii_digit()) && number.matches('.').count() <= 1;
    let valid_suffix = match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        _ => suffix
            .strip_prefix(['e', 'E'])
            .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
            .is_some_and(|exp| !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())),
    };
    valid_number && valid_suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_strings_in_mib() {
        let table: &[(&str, Result<u64, &str>)] = &[
            ("1g", Ok(1024)),
            ("1G", Ok(1024)),
            (" 4g ", Ok(4096)),
            ("512m", Ok(512)),
            ("512mb", Ok(512)),
            ("512", Ok(512)),
            ("1500k", Ok(1)),
            ("1048576b", Ok(1)),
            ("1t", Ok(1024 * 1024)),
            ("2gb", Ok(2048)),
            ("0", Ok(0)),
            ("2 GB", Err(SIZE_FORMAT)),
            ("-1g", Err(SIZE_FORMAT)),
            ("abc", Err(SIZE_FORMAT)),
            ("", Err(SIZE_FORMAT)),
            (
                "1.5g",
                Err("Fractional values are not supported. Input was: 1.5g"),
            ),
            ("3x", Err("Invalid suffix: \"x\"")),
            ("99999999999999999999g", Err(SIZE_FORMAT)),
            // Java's trim and lower-casing, Long's range
            ("\u{1}2g\u{7f}", Err(SIZE_FORMAT)),
            ("\u{1}2g\n", Ok(2048)),
            ("\u{a0}2g", Err(SIZE_FORMAT)),
            ("1\u{212a}", Ok(0)),
            ("9223372036854775807b", Ok(8_796_093_022_207)),
            ("9223372036854775808b", Err(SIZE_FORMAT)),
        ];
        for (input, expected) in table {
            let got = parse_bytes_as_mib(input);
            assert_eq!(got, expected.map_err(str::to_owned), "input {input:?}");
        }
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(parse_bytes("9999999999999p", ByteUnit::MiB, ByteUnit::Byte).is_err());
        // past Long.MAX_VALUE bytes, as Spark's ByteUnit.convertTo refuses
        assert!(parse_bytes("8192p", ByteUnit::MiB, ByteUnit::Byte).is_err());
        assert_eq!(
            parse_bytes("8191p", ByteUnit::MiB, ByteUnit::Byte),
            Ok(8191 << 50)
        );
    }

    #[test]
    fn java_doubles() {
        let table = [
            (0.1, "0.1"),
            (0.4, "0.4"),
            (1.0, "1.0"),
            (0.25, "0.25"),
            (0.0, "0.0"),
            (12.5, "12.5"),
            (1e7, "1.0E7"),
            (0.0001, "1.0E-4"),
        ];
        for (value, expected) in table {
            assert_eq!(java_double_string(value), expected, "value {value}");
        }
    }

    #[test]
    fn kubernetes_quantities() {
        let table = [
            ("1", true),
            ("0.5", true),
            ("500m", true),
            ("+2", true),
            ("2Gi", true),
            ("1e3", true),
            ("1E-2", true),
            (".5", true),
            ("abc", false),
            ("-1", false),
            ("", false),
            ("1.2.3", false),
            ("2 GB", false),
            ("2GB", false),
            ("1e", false),
            ("m", false),
        ];
        for (value, valid) in table {
            assert_eq!(is_kubernetes_quantity(value), valid, "{value:?}");
        }
    }

    /// Spark's `timeStringAs(_, MILLISECONDS)`, case by case.
    #[test]
    fn time_strings_in_milliseconds() {
        let table: &[(&str, Option<i64>)] = &[
            ("1s", Some(1_000)),
            ("500", Some(500)),
            ("500ms", Some(500)),
            (" 2M ", Some(120_000)),
            ("2min", Some(120_000)),
            ("1h", Some(3_600_000)),
            ("1d", Some(86_400_000)),
            ("1500us", Some(1)),
            ("-1s", Some(-1_000)),
            ("0", Some(0)),
            ("1.5s", None),
            ("s", None),
            ("", None),
            ("1x", None),
            ("1 s", None),
            ("99999999999999999999", None),
        ];
        for (value, expected) in table {
            assert_eq!(parse_time_ms(value).ok(), *expected, "{value:?}");
        }
        assert_eq!(parse_time("5", TimeUnit::Seconds), Ok(5));
        assert_eq!(parse_time("1500ms", TimeUnit::Seconds), Ok(1));
        assert_eq!(parse_time("2m", TimeUnit::Seconds), Ok(120));
        let err = parse_time_ms("1y").err().unwrap_or_default();
        assert!(err.starts_with("Time must be specified"), "{err}");
        assert!(err.ends_with("Invalid suffix: \"y\""), "{err}");
    }
}
