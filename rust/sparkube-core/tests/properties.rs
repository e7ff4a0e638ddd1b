//! Property tests (proptest) of what turns user input into names and numbers: the
//! spark-submit argument parser, Spark's byte strings and the quantities sparkube writes, and
//! the name sanitiser, from argv to the objects `build` returns.
//!
//! Each property runs 256 cases (proptest's default); `PROPTEST_CASES=10000 cargo nextest run
//! -p sparkube-core --test properties` runs longer on demand. The Kubernetes name rules here are
//! written out from apimachinery's validators, independently of `sparkube_core::build::names`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;
use sparkube_core::build::names;
use sparkube_core::conf::write_properties;
use sparkube_core::conf::{
    Action, ByteUnit, SparkConf, SubmitArgs, parse_bytes, parse_submit_args,
};
use sparkube_core::conf::{is_kubernetes_quantity, java_double_string, parse_properties};
use sparkube_core::request::Environment;
use sparkube_core::{Ids, SubmitRequest, build};

// --- Kubernetes' name rules (k8s.io/apimachinery/pkg/util/validation) ----------------------

fn alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
fn dns1123_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(alnum_lower)
        && s.ends_with(alnum_lower)
        && s.chars().all(|c| alnum_lower(c) || c == '-')
}

/// Dot-separated DNS-1123 labels, at most 253.
fn dns1123_subdomain(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.starts_with(alnum_lower)
                && part.ends_with(alnum_lower)
                && part.chars().all(|c| alnum_lower(c) || c == '-')
        })
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63: Service names.
fn dns1035_label(s: &str) -> bool {
    dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63.
fn qualified_part(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A label or annotation key: `[DNS-1123 subdomain/]name`.
fn qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => dns1123_subdomain(prefix) && qualified_part(name),
        None => qualified_part(s),
    }
}

fn label_value(s: &str) -> bool {
    s.is_empty() || qualified_part(s)
}

/// IANA_SVC_NAME: container and service port names.
fn port_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.chars().all(|c| alnum_lower(c) || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// ConfigMap data keys: `[-._a-zA-Z0-9]+`, at most 253.
fn config_map_key(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

// --- spark-submit's command line -----------------------------------------------------------

/// spark-submit's flags that take a value (`--conf`/`-c` and `--kill`/`--status` apart).
const VALUE_FLAGS: &[&str] = &[
    "--master",
    "--deploy-mode",
    "--name",
    "--class",
    "--properties-file",
    "--jars",
    "--py-files",
    "--files",
    "--archives",
    "--packages",
    "--repositories",
    "--exclude-packages",
    "--driver-memory",
    "--driver-cores",
    "--driver-java-options",
    "--driver-library-path",
    "--driver-class-path",
    "--executor-memory",
    "--executor-cores",
    "--num-executors",
    "--total-executor-cores",
    "--proxy-user",
    "--principal",
    "--keytab",
    "--queue",
];
const OTHER_FLAGS: &[&str] = &[
    "--conf",
    "-c",
    "--kill",
    "--status",
    "--remote",
    "--verbose",
    "-v",
    "--version",
    "--help",
    "-h",
    "--supervise",
    "--load-spark-defaults",
    "--usage-error",
];

/// Text as people and programs type it: plain, with `=`, `,`, leading dashes, spaces,
/// control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9._:/=,-]{0,16}",
        2 => "\\PC{0,16}",
        1 => any::<String>(),
        1 => "-{1,2}[a-z-]{0,10}(=[a-z]{0,4})?",
        1 => Just(String::new()),
    ]
}

/// One argument of an arbitrary command line: flags, `--flag=value`, anything.
fn arg() -> impl Strategy<Value = String> {
    let flag = select([VALUE_FLAGS, OTHER_FLAGS].concat());
    prop_oneof![
        3 => flag.clone().prop_map(str::to_owned),
        2 => (flag, text()).prop_map(|(f, v)| format!("{f}={v}")),
        3 => text(),
    ]
}

fn field<'a>(args: &'a mut SubmitArgs, flag: &str) -> Option<&'a mut Option<String>> {
    Some(match flag {
        "--master" => &mut args.master,
        "--deploy-mode" => &mut args.deploy_mode,
        "--name" => &mut args.name,
        "--class" => &mut args.main_class,
        "--properties-file" => &mut args.properties_file,
        "--jars" => &mut args.jars,
        "--py-files" => &mut args.py_files,
        "--files" => &mut args.files,
        "--archives" => &mut args.archives,
        "--packages" => &mut args.packages,
        "--repositories" => &mut args.repositories,
        "--exclude-packages" => &mut args.exclude_packages,
        "--driver-memory" => &mut args.driver_memory,
        "--driver-cores" => &mut args.driver_cores,
        "--driver-java-options" => &mut args.driver_java_options,
        "--driver-library-path" => &mut args.driver_library_path,
        "--driver-class-path" => &mut args.driver_class_path,
        "--executor-memory" => &mut args.executor_memory,
        "--executor-cores" => &mut args.executor_cores,
        "--num-executors" => &mut args.num_executors,
        "--total-executor-cores" => &mut args.total_executor_cores,
        "--proxy-user" => &mut args.proxy_user,
        "--principal" => &mut args.principal,
        "--keytab" => &mut args.keytab,
        "--queue" => &mut args.queue,
        _ => return None,
    })
}

/// Parsed arguments as spark-submit would hold them: values, conf pairs (keys without `=`),
/// switches, an action, and a primary resource (not a flag) with the app's own arguments.
fn submit_args() -> impl Strategy<Value = SubmitArgs> {
    let values = proptest::collection::vec((select(VALUE_FLAGS), text()), 0..8);
    let confs = proptest::collection::vec(("[^=]{0,12}", text()), 0..6);
    let action = prop_oneof![
        6 => Just(Action::Submit),
        1 => text().prop_map(Action::Kill),
        1 => text().prop_map(Action::Status),
        1 => Just(Action::PrintVersion),
        1 => Just(Action::PrintUsage),
    ];
    let primary = proptest::option::of(text().prop_filter("not a flag", |p| !p.starts_with('-')));
    let app_args = proptest::collection::vec(prop_oneof![text(), arg()], 0..5);
    (values, confs, any::<[bool; 3]>(), action, primary, app_args).prop_map(
        |(values, confs, switches, action, primary, app_args)| {
            let mut args = SubmitArgs::default();
            for (flag, value) in values {
                if let Some(slot) = field(&mut args, flag) {
                    *slot = Some(value);
                }
            }
            let mut conf = SparkConf::new();
            for (k, v) in confs {
                conf.set(k, v);
            }
            args.conf = conf;
            [args.verbose, args.supervise, args.load_spark_defaults] = switches;
            args.action = action;
            args.app_args = if primary.is_some() {
                app_args
            } else {
                Vec::new()
            };
            args.primary_resource = primary;
            args
        },
    )
}

/// Writes `args` as a spark-submit command line (sparkube has no such printer of its own),
/// each value as `--flag value`, or as `--flag=value` when it is not empty and `joined` says so.
fn print(args: &SubmitArgs, joined: &[bool]) -> Vec<String> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut push = |flag: &str, value: &str| {
        let join = joined.get(n % joined.len().max(1)) == Some(&true) && !value.is_empty();
        n += 1;
        if join {
            out.push(format!("{flag}={value}"));
        } else {
            out.push(flag.to_owned());
            out.push(value.to_owned());
        }
    };
    let mut copy = args.clone();
    for flag in VALUE_FLAGS {
        if let Some(value) = field(&mut copy, flag).and_then(Option::take) {
            push(flag, &value);
        }
    }
    for (k, v) in args.conf.iter() {
        push("--conf", &format!("{k}={v}"));
    }
    match &args.action {
        Action::Submit => {}
        Action::Kill(target) => push("--kill", target),
        Action::Status(target) => push("--status", target),
        Action::PrintVersion => out.push("--version".into()),
        Action::PrintUsage => out.push("--help".into()),
    }
    for (on, switch) in [
        (args.verbose, "--verbose"),
        (args.supervise, "--supervise"),
        (args.load_spark_defaults, "--load-spark-defaults"),
    ] {
        if on {
            out.push(switch.into());
        }
    }
    if let Some(primary) = &args.primary_resource {
        out.push(primary.clone());
        out.extend(args.app_args.iter().cloned());
    }
    out
}

proptest! {
    /// Any command line parses or is refused with an error naming an option; on success the
    /// application's arguments are exactly what followed the primary resource.
    #[test]
    fn any_command_line_parses_or_names_the_bad_option(argv in proptest::collection::vec(arg(), 0..12)) {
        match parse_submit_args(&argv) {
            Ok(parsed) => match &parsed.primary_resource {
                Some(primary) => {
                    let rest = parsed.app_args.len();
                    prop_assert!(argv.len() > rest);
                    prop_assert_eq!(&argv[argv.len() - rest - 1], primary);
                    prop_assert_eq!(&argv[argv.len() - rest..], &parsed.app_args[..]);
                }
                None => prop_assert!(parsed.app_args.is_empty()),
            },
            Err(err) => {
                prop_assert!(!err.option().is_empty(), "{err}");
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    /// Printing parsed arguments as a command line and parsing that gives them back, whichever
    /// of `--flag value` and `--flag=value` is used.
    #[test]
    fn printed_arguments_parse_back(args in submit_args(), joined in proptest::collection::vec(any::<bool>(), 1..8)) {
        let argv = print(&args, &joined);
        match parse_submit_args(&argv) {
            Ok(parsed) => prop_assert_eq!(parsed, args, "argv {:?}", argv),
            Err(err) => prop_assert!(false, "{:?} was refused: {}", argv, err),
        }
    }

    /// Java properties: what `write_properties` writes, `parse_properties` reads back (values
    /// trimmed, as Spark trims them; a key given twice keeps its last value).
    #[test]
    fn written_properties_parse_back(entries in proptest::collection::vec((any::<String>(), any::<String>()), 0..8)) {
        let text = write_properties(&["comment"], entries.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut expected: Vec<(String, String)> = Vec::new();
        for (k, v) in &entries {
            let v = java_trim(v).to_owned();
            match expected.iter_mut().find(|(key, _)| key == k) {
                Some(entry) => entry.1 = v,
                None => expected.push((k.clone(), v)),
            }
        }
        prop_assert_eq!(parse_properties(&text), expected, "text {:?}", text);
    }
}

// --- Spark's byte strings and the quantities sparkube writes -------------------------------

const UNITS: [ByteUnit; 6] = [
    ByteUnit::Byte,
    ByteUnit::KiB,
    ByteUnit::MiB,
    ByteUnit::GiB,
    ByteUnit::TiB,
    ByteUnit::PiB,
];

fn multiplier(unit: ByteUnit) -> i64 {
    match unit {
        ByteUnit::Byte => 1,
        ByteUnit::KiB => 1 << 10,
        ByteUnit::MiB => 1 << 20,
        ByteUnit::GiB => 1 << 30,
        ByteUnit::TiB => 1 << 40,
        ByteUnit::PiB => 1 << 50,
    }
}

/// Java's `String.trim`: strips every char up to U+0020 at both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Spark's `JavaUtils.byteStringAs(str, unit)` with `default` for a bare number, transcribed:
/// `toLowerCase(Locale.ROOT).trim()`, `([0-9]+)([a-z]+)?`, `Long.parseLong`, a known suffix,
/// then `ByteUnit.convertFrom`, which refuses results past `Long.MAX_VALUE`. `None` when Spark
/// throws.
fn spark_byte_string_as(s: &str, default: ByteUnit, unit: ByteUnit) -> Option<u64> {
    let lower = s.to_lowercase();
    let lower = java_trim(&lower);
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    if digits.is_empty() || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    let from = match suffix {
        "" => default,
        "b" => ByteUnit::Byte,
        "k" | "kb" => ByteUnit::KiB,
        "m" | "mb" => ByteUnit::MiB,
        "g" | "gb" => ByteUnit::GiB,
        "t" | "tb" => ByteUnit::TiB,
        "p" | "pb" => ByteUnit::PiB,
        _ => return None,
    };
    let (from, to) = (multiplier(from), multiplier(unit));
    let converted = if from > to {
        let ratio = from / to;
        if i64::MAX / ratio < value {
            return None;
        }
        value * ratio
    } else {
        value / (to / from)
    };
    u64::try_from(converted).ok()
}

/// Byte strings near Spark's grammar: blanks, digits (up to past `Long.MAX_VALUE`), a suffix
/// in any case (valid or not), fractions, signs, Unicode look-alikes.
fn byte_string() -> impl Strategy<Value = String> {
    let blank = prop_oneof![
        Just(""),
        Just(" "),
        Just("\t"),
        Just("\u{1}"),
        Just("\u{a0}"),
        Just("\n")
    ];
    let digits = prop_oneof![
        "[0-9]{1,4}",
        "[0-9]{15,21}",
        Just("9223372036854775807".to_owned()),
        Just("9223372036854775808".to_owned()),
        Just(String::new()),
        Just("1.5".to_owned()),
        Just("-1".to_owned()),
    ];
    let suffix = prop_oneof![
        Just(""),
        Just("b"),
        Just("k"),
        Just("kb"),
        Just("M"),
        Just("mb"),
        Just("G"),
        Just("gB"),
        Just("t"),
        Just("TB"),
        Just("p"),
        Just("pb"),
        Just("x"),
        Just("mib"),
        Just("\u{212a}"),
        Just(" g"),
    ];
    (blank.clone(), digits, suffix, blank).prop_map(|(a, d, s, b)| format!("{a}{d}{s}{b}"))
}

proptest! {
    /// No input makes the byte-string parser panic, in any pair of units.
    #[test]
    fn byte_strings_never_panic(s in any::<String>(), default in select(&UNITS[..]), unit in select(&UNITS[..])) {
        let _ = parse_bytes(&s, default, unit);
    }

    /// sparkube accepts exactly the byte strings Spark accepts, with the same value.
    #[test]
    fn byte_strings_agree_with_spark(s in byte_string(), default in select(&UNITS[..]), unit in select(&UNITS[..])) {
        let ours = parse_bytes(&s, default, unit).ok();
        prop_assert_eq!(ours, spark_byte_string_as(&s, default, unit), "{:?} as {:?} (default {:?})", s, unit, default);
    }

    /// What a size prints as in its own unit reads back as the same size.
    #[test]
    fn printed_sizes_parse_back(value in 0u64..(1 << 40), unit in select(&UNITS[..])) {
        let suffix = ["b", "k", "m", "g", "t", "p"][UNITS.iter().position(|u| *u == unit).unwrap_or(0)];
        prop_assert_eq!(parse_bytes(&format!("{value}{suffix}"), ByteUnit::Byte, unit), Ok(value));
    }

    /// Java's rendering of a double reads back as the same double, and looks like Java's
    /// (a `.`, scientific notation below 10^-3 and from 10^7).
    #[test]
    fn java_doubles_parse_back(value in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
        let text = java_double_string(value);
        prop_assert_eq!(text.parse::<f64>().ok(), Some(value), "{}", text);
        let magnitude = value.abs();
        let scientific = magnitude != 0.0 && !(1e-3..1e7).contains(&magnitude);
        prop_assert_eq!(text.contains('E'), scientific, "{}", text);
        prop_assert!(text.split('E').next().is_some_and(|m| m.contains('.')), "{}", text);
    }

    /// The quantity check never panics and agrees with Kubernetes' grammar for non-negative
    /// quantities: a number with at least one digit and one `.` at most, then a binary SI,
    /// decimal SI or exponent suffix.
    #[test]
    fn quantities_agree_with_kubernetes(q in quantity()) {
        prop_assert_eq!(is_kubernetes_quantity(&q), kubernetes_quantity(&q), "{:?}", q);
    }
}

fn quantity() -> impl Strategy<Value = String> {
    let number = prop_oneof!["[0-9]{0,4}", "[0-9]{0,3}\\.[0-9]{0,3}", "[+-]?[0-9.]{0,5}"];
    let suffix = prop_oneof![
        Just("".to_owned()),
        select(vec![
            "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E", "K",
            "ki", "mi", "e", "E", "g", "Gb", " ",
        ])
        .prop_map(str::to_owned),
        "[eE][+-]?[0-9]{0,3}",
        any::<String>(),
    ];
    prop_oneof![
        8 => (number, suffix).prop_map(|(n, s)| format!("{n}{s}")),
        1 => any::<String>(),
    ]
}

/// `resource.ParseQuantity`'s grammar, for quantities that are not negative.
fn kubernetes_quantity(q: &str) -> bool {
    let q = q.strip_prefix('+').unwrap_or(q);
    let end = q
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(end);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let dots = number.chars().filter(|c| *c == '.').count();
    if digits == 0 || dots > 1 {
        return false;
    }
    const SUFFIXES: [&str; 16] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    let Some(exponent) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
}

// --- names, from argv to objects -----------------------------------------------------------

/// What an app may be called: ordinary names, Unicode and symbols, and names long enough to
/// push the derived names past 63 and 253 characters.
fn app_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ._-]{1,40}",
        2 => "\\PC{1,60}",
        2 => "[a-z0-9-]{180,260}",
        1 => "[A-Z_.]{1,300}",
    ]
}

/// A Spark conf entry to add to a submission: keys that name objects or set numbers, with
/// values from ordinary to hostile.
fn conf_entry() -> impl Strategy<Value = (String, String)> {
    fn keys(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
        select(keys).prop_map(str::to_owned)
    }
    fn under(prefixes: &'static [&'static str]) -> impl Strategy<Value = String> {
        let name = prop_oneof![3 => "[a-zA-Z0-9./_-]{1,20}", 1 => text()];
        (select(prefixes), name).prop_map(|(p, n)| format!("{p}{n}"))
    }
    let memory = prop_oneof![byte_string(), text()];
    let object = prop_oneof![3 => "[a-z0-9.-]{1,20}", 1 => text()];
    let path = "/[a-z/]{1,10}";
    prop_oneof![
        (
            keys(&[
                "spark.driver.memory",
                "spark.driver.memoryOverhead",
                "spark.driver.minMemoryOverhead",
                "spark.executor.memory",
            ]),
            memory
        ),
        (
            keys(&[
                "spark.driver.memoryOverheadFactor",
                "spark.kubernetes.memoryOverheadFactor"
            ]),
            prop_oneof!["0\\.[0-9]{1,3}", "[0-9]{1,3}", text()]
        ),
        (
            keys(&[
                "spark.driver.cores",
                "spark.kubernetes.driver.request.cores",
                "spark.kubernetes.driver.limit.cores",
            ]),
            prop_oneof!["[0-9]{1,3}m?", quantity()]
        ),
        (
            keys(&["spark.kubernetes.namespace"]),
            prop_oneof![Just("default".to_owned()), "[a-z0-9-]{1,70}", text()]
        ),
        (
            keys(&[
                "spark.kubernetes.driver.pod.name",
                "spark.kubernetes.executor.podNamePrefix"
            ]),
            prop_oneof!["[a-z0-9.-]{1,70}", text()]
        ),
        (
            keys(&["sparkube.submission.id"]),
            prop_oneof!["[a-zA-Z0-9._-]{1,70}", text()]
        ),
        (
            under(&[
                "spark.kubernetes.driver.label.",
                "spark.kubernetes.executor.label.",
                "spark.kubernetes.driver.annotation.",
                "spark.kubernetes.driver.service.label.",
                "spark.kubernetes.driver.service.annotation.",
                "spark.kubernetes.node.selector.",
                "spark.kubernetes.driver.node.selector.",
                "spark.kubernetes.driverEnv.",
            ]),
            text()
        ),
        (
            object
                .clone()
                .prop_map(|n| format!("spark.kubernetes.driver.secrets.{n}")),
            path
        ),
        (
            object
                .clone()
                .prop_map(|n| format!("spark.kubernetes.driver.volumes.emptyDir.{n}.mount.path")),
            path
        ),
        (
            object.prop_map(|n| {
                format!(
                    "spark.kubernetes.driver.volumes.persistentVolumeClaim.{n}.options.claimName"
                )
            }),
            "(OnDemand|[a-z-]{1,10})"
        ),
        (
            keys(&[
                "spark.driver.port",
                "spark.driver.blockManager.port",
                "spark.ui.port"
            ]),
            prop_oneof!["[0-9]{1,6}", text()]
        ),
        (
            keys(&["spark.driver.resource.gpu.amount"]),
            prop_oneof!["[0-9]{1,3}", text()]
        ),
        (keys(&["spark.local.dir"]), "(/[a-z]{1,6},?){1,3}"),
        (
            keys(&["spark.kubernetes.local.dirs.tmpfs"]),
            "(true|false|x)"
        ),
    ]
}

/// An executor pod template, for the template ConfigMap named after the app.
const TEMPLATE: &str = "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: executor}]\n";

/// `argv` resolved on a machine with no environment and one file, `/template.yaml`.
fn resolve(argv: &[String]) -> sparkube_core::Result<SubmitRequest> {
    let args = parse_submit_args(argv)?;
    let read = |path: &Path| -> io::Result<Vec<u8>> {
        if path == Path::new("/template.yaml") {
            Ok(TEMPLATE.as_bytes().to_vec())
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    };
    let list = |_: &Path| -> Vec<PathBuf> { Vec::new() };
    let open = |path: &Path| -> io::Result<Box<dyn io::Read>> {
        read(path).map(|bytes| Box::new(io::Cursor::new(bytes)) as Box<dyn io::Read>)
    };
    let env = Environment {
        vars: HashMap::new(),
        read: &read,
        open: &open,
        list: &list,
        files_under: &list,
        cwd: PathBuf::from("/"),
        fetch: None,
    };
    SubmitRequest::resolve(args, &env)
}

fn metadata_problems(object: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = object["kind"].as_str().unwrap_or_default();
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    let valid = match kind {
        "Service" => dns1035_label(name),
        _ => dns1123_subdomain(name),
    };
    if !valid {
        problems.push(format!("{kind} name {name:?}"));
    }
    if !dns1123_label(meta["namespace"].as_str().unwrap_or_default()) {
        problems.push(format!("{kind} namespace {:?}", meta["namespace"]));
    }
    for (what, map) in [
        ("label", &meta["labels"]),
        ("annotation", &meta["annotations"]),
    ] {
        for (k, v) in map.as_object().into_iter().flatten() {
            if !qualified_name(k) || (what == "label" && !label_value(v.as_str().unwrap_or("?"))) {
                problems.push(format!("{kind} {what} {k:?}: {v}"));
            }
        }
    }
    for owner in meta["ownerReferences"].as_array().into_iter().flatten() {
        if !dns1123_subdomain(owner["name"].as_str().unwrap_or_default()) {
            problems.push(format!("{kind} owner {owner}"));
        }
    }
    problems
}

/// Every name in the objects that Kubernetes validates, with what it requires.
fn name_problems(objects: &[Value]) -> Vec<String> {
    let mut problems: Vec<String> = objects.iter().flat_map(metadata_problems).collect();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let spec = &object["spec"];
        let containers = ["initContainers", "containers"]
            .iter()
            .flat_map(|k| spec[*k].as_array().into_iter().flatten());
        for c in containers {
            let name = c["name"].as_str().unwrap_or_default();
            if !dns1123_label(name) {
                problems.push(format!("{kind} container {name:?}"));
            }
            for p in c["ports"].as_array().into_iter().flatten() {
                if let Some(port) = p["name"].as_str().filter(|n| !port_name(n)) {
                    problems.push(format!("{kind} container port {port:?}"));
                }
            }
            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                if !dns1123_label(m["name"].as_str().unwrap_or_default()) {
                    problems.push(format!("{kind} volume mount {m}"));
                }
            }
        }
        for v in spec["volumes"].as_array().into_iter().flatten() {
            if !dns1123_label(v["name"].as_str().unwrap_or_default()) {
                problems.push(format!("{kind} volume {v}"));
            }
            for source in ["configMap", "secret", "persistentVolumeClaim"] {
                let key = if source == "persistentVolumeClaim" {
                    "claimName"
                } else if source == "secret" {
                    "secretName"
                } else {
                    "name"
                };
                if let Some(n) = v[source][key].as_str().filter(|n| !dns1123_subdomain(n)) {
                    problems.push(format!("{kind} volume {source} {n:?}"));
                }
            }
        }
        for p in spec["ports"].as_array().into_iter().flatten() {
            if let Some(port) = p["name"].as_str().filter(|n| !port_name(n)) {
                problems.push(format!("{kind} port {port:?}"));
            }
        }
        for k in object["data"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if !config_map_key(k) {
                problems.push(format!("{kind} key {k:?}"));
            }
        }
    }
    problems
}

/// Every resource quantity of every container, checked against Kubernetes' grammar.
fn quantity_problems(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for object in objects {
        let containers = ["initContainers", "containers"]
            .iter()
            .flat_map(|k| object["spec"][*k].as_array().into_iter().flatten());
        for c in containers {
            for kind in ["requests", "limits"] {
                for (resource, q) in c["resources"][kind].as_object().into_iter().flatten() {
                    if !q.as_str().is_some_and(kubernetes_quantity) {
                        problems.push(format!("{} {kind}.{resource}: {q}", c["name"]));
                    }
                }
            }
        }
    }
    problems
}

fn base_argv(name: &str, template: bool) -> Vec<String> {
    let mut argv: Vec<String> = [
        "--master",
        "k8s://https://k8s.example.com:6443",
        "--deploy-mode",
        "cluster",
        "--name",
        name,
        "--conf",
        "spark.kubernetes.container.image=apache/spark:4.0.1",
    ]
    .map(str::to_owned)
    .to_vec();
    if template {
        argv.extend([
            "--conf".into(),
            "spark.kubernetes.executor.podTemplateFile=/template.yaml".into(),
        ]);
    }
    argv
}

/// Builds `argv`'s objects with `ids`, or the error.
fn objects(argv: &[String], ids: &Ids) -> sparkube_core::Result<Vec<Value>> {
    let req = resolve(argv)?;
    let resources = build(&req, ids)?;
    resources
        .to_json()
        .map_err(|e| sparkube_core::Error::invalid("objects", e.to_string()))
}

proptest! {
    /// The sanitiser's pieces: a deterministic prefix of `[a-z0-9-]` that starts with a letter,
    /// a label value of at most 63, a Service name that is a DNS-1035 label.
    #[test]
    fn sanitised_names(name in app_name(), random in any::<[u8; 3]>(), millis in 0i64..i64::MAX) {
        let id = sparkube_core::ids::unique_id(random, millis);
        let prefix = names::resource_name_prefix(&name, &id);
        prop_assert_eq!(&prefix, &names::resource_name_prefix(&name, &id));
        prop_assert!(prefix.starts_with(|c: char| c.is_ascii_lowercase()), "{:?} → {}", name, prefix);
        prop_assert!(prefix.chars().all(|c| alnum_lower(c) || c == '-') && !prefix.contains("--"), "{}", prefix);
        prop_assert!(prefix.ends_with(&id[id.len() - 1..]));
        let label = names::app_name_label(&name);
        prop_assert!(label_value(&label) && label.len() <= 63, "{:?} → {:?}", name, label);
        prop_assert_eq!(&label, &names::app_name_label(&name));
        let service = names::service_name(&prefix, &id);
        prop_assert!(dns1035_label(&service), "{}", service);
    }

    /// Whatever the app is called and whatever the conf says, building either refuses the
    /// submission with an error naming an option, or makes objects whose every name
    /// Kubernetes accepts; the same ids always give the same objects.
    #[test]
    fn built_objects_have_valid_names(
        name in app_name(),
        template in any::<bool>(),
        extra in proptest::collection::vec(conf_entry(), 0..6),
        seed in any::<u64>(),
    ) {
        let mut argv = base_argv(&name, template);
        for (k, v) in &extra {
            argv.push("--conf".into());
            argv.push(format!("{k}={v}"));
        }
        argv.push("local:///opt/spark/app.py".into());
        let ids = Ids::seeded(seed);
        match objects(&argv, &ids) {
            Ok(objects) => {
                let mut problems = name_problems(&objects);
                problems.extend(quantity_problems(&objects));
                prop_assert!(problems.is_empty(), "{:?}\n→ {:?}", argv, problems);
                let again = objects_or_panic(&argv, &ids);
                prop_assert_eq!(objects, again);
            }
            Err(err) => {
                prop_assert!(!err.option().is_empty(), "{}", err);
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    /// A named submission gets the same object names every time it is built (what lets a
    /// retried submission find its driver), whatever the random parts of its ids.
    #[test]
    fn named_submissions_get_the_same_names(name in "[a-zA-Z0-9][a-zA-Z0-9 ._-]{0,39}", submission in "[a-zA-Z0-9]([a-zA-Z0-9._-]{0,58}[a-zA-Z0-9])?") {
        let argv: Vec<String> = base_argv(&name, true)
            .into_iter()
            .chain(["local:///opt/spark/app.py".to_owned()])
            .collect();
        let names_of = |ids: &Ids| -> Vec<String> {
            objects_or_panic(&argv, ids)
                .iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let first = names_of(&Ids::for_submission(Some(&submission)));
        prop_assert_eq!(&first, &names_of(&Ids::for_submission(Some(&submission))));
    }
}

proptest! {
    /// The driver's memory quantity is Spark's rule applied to what Spark reads from the byte
    /// strings: `{memory + overhead}Mi`, the overhead given or max(0.4 × memory, 384 MiB) for
    /// a Python app; it reads back as that number of MiB. Memory that is not a positive number
    /// of bytes is refused, as spark-submit refuses it.
    #[test]
    fn driver_memory_is_sparks_rule(memory in byte_string(), overhead in proptest::option::of(byte_string())) {
        let mut argv = base_argv("mem", false);
        argv.extend(["--driver-memory".to_owned(), memory.clone()]);
        if let Some(overhead) = &overhead {
            argv.extend(["--conf".to_owned(), format!("spark.driver.memoryOverhead={overhead}")]);
        }
        argv.push("local:///opt/spark/app.py".into());
        let mib = |s: &str| spark_byte_string_as(s, ByteUnit::MiB, ByteUnit::MiB);
        // spark-submit first wants the driver memory to be a positive number of bytes.
        let positive = spark_byte_string_as(&memory, ByteUnit::Byte, ByteUnit::Byte).is_some_and(|b| b > 0);
        let expected = mib(&memory).filter(|_| positive).and_then(|m| {
            let extra = match &overhead {
                Some(o) => mib(o)?,
                None => ((0.4 * m as f64) as u64).max(384),
            };
            m.checked_add(extra)
        });
        match (objects(&argv, &Ids::default()), expected) {
            (Ok(objects), Some(expected)) => {
                let resources = &objects[0]["spec"]["containers"][0]["resources"];
                let quantity = resources["limits"]["memory"].as_str().unwrap_or_default();
                prop_assert_eq!(&resources["requests"]["memory"], &resources["limits"]["memory"]);
                prop_assert!(kubernetes_quantity(quantity), "{}", quantity);
                let read_back = quantity.strip_suffix("Mi").and_then(|n| n.parse::<u64>().ok());
                prop_assert_eq!(read_back, Some(expected), "{}", quantity);
            }
            (Err(err), None) => {
                prop_assert!(err.option() == "--driver-memory" || err.option().starts_with("spark.driver.memory"), "{}", err);
            }
            (got, expected) => prop_assert!(false, "{:?}: got {:?}, Spark's rule gives {:?}", argv, got.map(|_| "objects"), expected),
        }
    }
}

fn objects_or_panic(argv: &[String], ids: &Ids) -> Vec<Value> {
    match objects(argv, ids) {
        Ok(objects) => objects,
        Err(err) => panic!("{argv:?}: {err}"),
    }
}
