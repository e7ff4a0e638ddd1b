//! spark-submit's command line: the flags it accepts and how it reads them.
//!
//! The rules are spark-submit's: `--flag value` or `--flag=value`; `--conf`/`-c` take `K=V`;
//! the first argument that is not a flag is the primary resource and everything after it goes
//! to the application untouched, even when it looks like a flag.

use serde::{Deserialize, Serialize};

use super::SparkConf;
use crate::error::{Error, Result};

/// What spark-submit is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Submit an application (the default).
    #[default]
    Submit,
    /// `--kill [ns:]pod`: delete a driver pod (a trailing `*` matches a name prefix).
    Kill(String),
    /// `--status [ns:]pod`: print a driver pod's state.
    Status(String),
    /// `--version`.
    PrintVersion,
    /// `--help` / `-h`.
    PrintUsage,
}

/// A spark-submit command line, as given: flag values are kept verbatim (validated later,
/// when the conf is resolved), `--conf` pairs in order (a later pair for a key wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitArgs {
    /// `--master`.
    pub master: Option<String>,
    /// `--deploy-mode`.
    pub deploy_mode: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--class`.
    pub main_class: Option<String>,
    /// `--properties-file`.
    pub properties_file: Option<String>,
    /// `--load-spark-defaults`: also read spark-defaults.conf when `--properties-file` is given.
    pub load_spark_defaults: bool,
    /// `--jars` (comma list).
    pub jars: Option<String>,
    /// `--py-files` (comma list).
    pub py_files: Option<String>,
    /// `--files` (comma list).
    pub files: Option<String>,
    /// `--archives` (comma list).
    pub archives: Option<String>,
    /// `--packages` (Maven coordinates, comma list).
    pub packages: Option<String>,
    /// `--repositories` (comma list).
    pub repositories: Option<String>,
    /// `--exclude-packages` (comma list of `group:artifact`).
    pub exclude_packages: Option<String>,
    /// `--driver-memory`.
    pub driver_memory: Option<String>,
    /// `--driver-cores`.
    pub driver_cores: Option<String>,
    /// `--driver-java-options`.
    pub driver_java_options: Option<String>,
    /// `--driver-library-path`.
    pub driver_library_path: Option<String>,
    /// `--driver-class-path`.
    pub driver_class_path: Option<String>,
    /// `--executor-memory`.
    pub executor_memory: Option<String>,
    /// `--executor-cores`.
    pub executor_cores: Option<String>,
    /// `--num-executors`.
    pub num_executors: Option<String>,
    /// `--total-executor-cores` (standalone only: validated, then ignored, as spark-submit does).
    pub total_executor_cores: Option<String>,
    /// `--proxy-user`.
    pub proxy_user: Option<String>,
    /// `--principal`.
    pub principal: Option<String>,
    /// `--keytab`.
    pub keytab: Option<String>,
    /// `--queue` (YARN only: ignored).
    pub queue: Option<String>,
    /// `--supervise` (standalone only: ignored).
    pub supervise: bool,
    /// `--verbose` / `-v`.
    pub verbose: bool,
    /// `--conf K=V` / `-c K=V`, in order.
    pub conf: SparkConf,
    /// The primary resource (jar, `.py` or `.R` file), as given.
    pub primary_resource: Option<String>,
    /// Arguments after the primary resource, passed to the application.
    pub app_args: Vec<String>,
    /// What to do.
    pub action: Action,
}

/// Flags that take a value, by every name spark-submit knows them.
const VALUE_FLAGS: &[&str] = &[
    "--master",
    "--deploy-mode",
    "--name",
    "--class",
    "--conf",
    "-c",
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
    "--kill",
    "--status",
    "--remote",
];

/// Flags that take no value.
const SWITCHES: &[&str] = &[
    "--verbose",
    "-v",
    "--version",
    "--help",
    "-h",
    "--supervise",
    "--load-spark-defaults",
    "--usage-error",
];

impl SubmitArgs {
    fn apply(&mut self, flag: &str, value: String) -> Result<()> {
        let slot = match flag {
            "--master" => &mut self.master,
            "--deploy-mode" => &mut self.deploy_mode,
            "--name" => &mut self.name,
            "--class" => &mut self.main_class,
            "--properties-file" => &mut self.properties_file,
            "--jars" => &mut self.jars,
            "--py-files" => &mut self.py_files,
            "--files" => &mut self.files,
            "--archives" => &mut self.archives,
            "--packages" => &mut self.packages,
            "--repositories" => &mut self.repositories,
            "--exclude-packages" => &mut self.exclude_packages,
            "--driver-memory" => &mut self.driver_memory,
            "--driver-cores" => &mut self.driver_cores,
            "--driver-java-options" => &mut self.driver_java_options,
            "--driver-library-path" => &mut self.driver_library_path,
            "--driver-class-path" => &mut self.driver_class_path,
            "--executor-memory" => &mut self.executor_memory,
            "--executor-cores" => &mut self.executor_cores,
            "--num-executors" => &mut self.num_executors,
            "--total-executor-cores" => &mut self.total_executor_cores,
            "--proxy-user" => &mut self.proxy_user,
            "--principal" => &mut self.principal,
            "--keytab" => &mut self.keytab,
            "--queue" => &mut self.queue,
            "--conf" | "-c" => {
                let Some((key, conf_value)) = value.split_once('=') else {
                    return Err(Error::invalid(
                        "--conf",
                        format!("Invalid argument to --conf: {value}"),
                    ));
                };
                self.conf.set(key, conf_value);
                return Ok(());
            }
            "--kill" => {
                self.action = Action::Kill(value);
                return Ok(());
            }
            "--status" => {
                self.action = Action::Status(value);
                return Ok(());
            }
            "--remote" => {
                return Err(Error::invalid(
                    "--remote",
                    "--remote (Spark Connect) cannot be used to submit to Kubernetes; \
                     use --master k8s://...",
                ));
            }
            other => {
                return Err(Error::invalid(
                    other,
                    format!("Unrecognized option: {other}"),
                ));
            }
        };
        *slot = Some(value);
        Ok(())
    }

    fn switch(&mut self, flag: &str) -> Result<()> {
        match flag {
            "--verbose" | "-v" => self.verbose = true,
            "--version" => self.action = Action::PrintVersion,
            "--help" | "-h" => self.action = Action::PrintUsage,
            "--supervise" => self.supervise = true,
            "--load-spark-defaults" => self.load_spark_defaults = true,
            _ => return Err(Error::invalid(flag, format!("Unrecognized option: {flag}"))),
        }
        Ok(())
    }
}

/// Parses spark-submit's arguments (without the program name). Pure: files named by the
/// arguments are read later, by [`crate::SubmitRequest::resolve`].
pub fn parse_submit_args<S: AsRef<str>>(args: &[S]) -> Result<SubmitArgs> {
    let mut parsed = SubmitArgs::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        // `--flag=value` (a non-empty value) for flags that take one.
        if let Some((flag, value)) = arg.split_once('=')
            && flag.starts_with("--")
            && !value.is_empty()
            && VALUE_FLAGS.contains(&flag)
        {
            parsed.apply(flag, value.to_owned())?;
            i += 1;
            continue;
        }
        if VALUE_FLAGS.contains(&arg) {
            let Some(value) = args.get(i + 1) else {
                return Err(Error::invalid(
                    arg,
                    format!("Missing argument for option '{arg}'."),
                ));
            };
            parsed.apply(arg, value.as_ref().to_owned())?;
            i += 2;
            continue;
        }
        if SWITCHES.contains(&arg) {
            parsed.switch(arg)?;
            i += 1;
            continue;
        }
        if arg.starts_with('-') {
            return Err(Error::invalid(arg, format!("Unrecognized option: {arg}")));
        }
        parsed.primary_resource = Some(arg.to_owned());
        parsed.app_args = args[i + 1..]
            .iter()
            .map(|a| a.as_ref().to_owned())
            .collect();
        break;
    }
    Ok(parsed)
}

/// A command line of a tool that wraps spark-submit: the tool's own options (sparkube's
/// `-o yaml`, `--no-wait`), and the spark-submit arguments left for [`parse_submit_args`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolArgs {
    /// The tool's options that take a value, in order (a later one for a name wins).
    pub values: Vec<(String, String)>,
    /// The tool's switches that were given.
    pub switches: Vec<String>,
    /// Everything else, in order.
    pub submit_args: Vec<String>,
}

/// Takes a tool's own options (`value_options` take a value, `switches` none) out of a
/// spark-submit argument list, reading it with spark-submit's grammar so that the two cannot
/// disagree: a flag's value is never mistaken for a tool option (`--name -o`), a switch
/// (`--load-spark-defaults`) never swallows the next argument, and nothing after the primary
/// resource is touched (it belongs to the application). Unknown flags are left in place for
/// [`parse_submit_args`] to report.
pub fn split_tool_args<S: AsRef<str>>(
    args: &[S],
    value_options: &[&str],
    switches: &[&str],
) -> Result<ToolArgs> {
    let mut tool = ToolArgs::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        if let Some((name, value)) = arg.split_once('=')
            && value_options.contains(&name)
        {
            tool.values.push((name.to_owned(), value.to_owned()));
            i += 1;
            continue;
        }
        if value_options.contains(&arg) {
            let Some(value) = args.get(i + 1) else {
                return Err(Error::invalid(
                    arg,
                    format!("Missing argument for option '{arg}'."),
                ));
            };
            tool.values
                .push((arg.to_owned(), value.as_ref().to_owned()));
            i += 2;
            continue;
        }
        if switches.contains(&arg) {
            tool.switches.push(arg.to_owned());
            i += 1;
            continue;
        }
        let taken = if !arg.starts_with('-') {
            args.len() - i
        } else if VALUE_FLAGS.contains(&arg) {
            2.min(args.len() - i)
        } else {
            1
        };
        tool.submit_args
            .extend(args[i..i + taken].iter().map(|a| a.as_ref().to_owned()));
        i += taken;
    }
    Ok(tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> SubmitArgs {
        match parse_submit_args(args) {
            Ok(parsed) => parsed,
            Err(err) => panic!("{args:?} did not parse: {err}"),
        }
    }

    fn error(args: &[&str]) -> Error {
        match parse_submit_args(args) {
            Ok(parsed) => panic!("{args:?} parsed to {parsed:?}"),
            Err(err) => err,
        }
    }

    /// Every value flag, in both spellings, lands in its own field.
    #[test]
    fn every_value_flag_in_both_forms() {
        type Getter = fn(&SubmitArgs) -> Option<&str>;
        let table: &[(&str, Getter)] = &[
            ("--master", |a| a.master.as_deref()),
            ("--deploy-mode", |a| a.deploy_mode.as_deref()),
            ("--name", |a| a.name.as_deref()),
            ("--class", |a| a.main_class.as_deref()),
            ("--properties-file", |a| a.properties_file.as_deref()),
            ("--jars", |a| a.jars.as_deref()),
            ("--py-files", |a| a.py_files.as_deref()),
            ("--files", |a| a.files.as_deref()),
            ("--archives", |a| a.archives.as_deref()),
            ("--packages", |a| a.packages.as_deref()),
            ("--repositories", |a| a.repositories.as_deref()),
            ("--exclude-packages", |a| a.exclude_packages.as_deref()),
            ("--driver-memory", |a| a.driver_memory.as_deref()),
            ("--driver-cores", |a| a.driver_cores.as_deref()),
            ("--driver-java-options", |a| {
                a.driver_java_options.as_deref()
            }),
            ("--driver-library-path", |a| {
                a.driver_library_path.as_deref()
            }),
            ("--driver-class-path", |a| a.driver_class_path.as_deref()),
            ("--executor-memory", |a| a.executor_memory.as_deref()),
            ("--executor-cores", |a| a.executor_cores.as_deref()),
            ("--num-executors", |a| a.num_executors.as_deref()),
            ("--total-executor-cores", |a| {
                a.total_executor_cores.as_deref()
            }),
            ("--proxy-user", |a| a.proxy_user.as_deref()),
            ("--principal", |a| a.principal.as_deref()),
            ("--keytab", |a| a.keytab.as_deref()),
            ("--queue", |a| a.queue.as_deref()),
        ];
        for (flag, get) in table {
            let spaced = parse(&[flag, "v=1,2", "app.jar"]);
            assert_eq!(get(&spaced), Some("v=1,2"), "{flag} VALUE");
            let joined_arg = format!("{flag}=v=1,2");
            let joined = parse(&[&joined_arg, "app.jar"]);
            assert_eq!(get(&joined), Some("v=1,2"), "{flag}=VALUE");
            assert_eq!(joined.primary_resource.as_deref(), Some("app.jar"));
        }
    }

    #[test]
    fn conf_pairs_in_order_with_later_winning() {
        let args = parse(&[
            "--conf",
            "spark.a=1",
            "-c",
            "spark.b=x=y",
            "--conf=spark.a=2",
            "--conf",
            "spark.empty=",
            "app.jar",
        ]);
        assert_eq!(
            args.conf.iter().collect::<Vec<_>>(),
            vec![("spark.a", "2"), ("spark.b", "x=y"), ("spark.empty", "")]
        );
    }

    #[test]
    fn switches() {
        let args = parse(&["-v", "--supervise", "--load-spark-defaults", "app.py"]);
        assert!(args.verbose && args.supervise && args.load_spark_defaults);
        assert!(parse(&["--verbose", "x.jar"]).verbose);
        assert_eq!(parse(&["--version"]).action, Action::PrintVersion);
        assert_eq!(parse(&["-h"]).action, Action::PrintUsage);
        assert_eq!(parse(&["--help"]).action, Action::PrintUsage);
    }

    #[test]
    fn kill_and_status() {
        assert_eq!(
            parse(&["--kill", "ns:pod-*"]).action,
            Action::Kill("ns:pod-*".into())
        );
        assert_eq!(
            parse(&["--status=pod"]).action,
            Action::Status("pod".into())
        );
    }

    #[test]
    fn everything_after_the_primary_resource_goes_to_the_app() {
        let args = parse(&[
            "--class",
            "Main",
            "local:///app.jar",
            "--conf",
            "not=ours",
            "-v",
            "--class",
            "x",
        ]);
        assert_eq!(args.primary_resource.as_deref(), Some("local:///app.jar"));
        assert_eq!(
            args.app_args,
            vec!["--conf", "not=ours", "-v", "--class", "x"]
        );
        assert!(!args.verbose);
        assert!(args.conf.is_empty());
    }

    #[test]
    fn no_primary_resource() {
        let args = parse(&["--class", "Main"]);
        assert_eq!(args.primary_resource, None);
        assert!(args.app_args.is_empty());
    }

    #[test]
    fn errors_name_the_option() {
        let table: &[(&[&str], &str, &str)] = &[
            (
                &["--conf", "foo", "a.jar"],
                "--conf",
                "Invalid argument to --conf: foo",
            ),
            (&["-c", "foo"], "--conf", "Invalid argument to --conf: foo"),
            (
                &["--foo", "bar", "a.jar"],
                "--foo",
                "Unrecognized option: --foo",
            ),
            (
                &["--name=", "a.jar"],
                "--name=",
                "Unrecognized option: --name=",
            ),
            (
                &["--name"],
                "--name",
                "Missing argument for option '--name'.",
            ),
            (
                &["--remote", "sc://h"],
                "--remote",
                "--remote (Spark Connect) cannot be used",
            ),
        ];
        for (args, option, message) in table {
            let err = error(args);
            assert_eq!(err.option(), *option, "{args:?}");
            assert!(err.to_string().starts_with(message), "{args:?}: {err}");
        }
    }

    /// sparkube's own options come out wherever they stand before the primary resource,
    /// read with spark-submit's grammar.
    #[test]
    fn tool_options_split_with_spark_submits_grammar() {
        type Case<'a> = (
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
            &'a [&'a str],
        );
        let table: &[Case<'_>] = &[
            (
                &["-o", "yaml", "app.py"],
                &[("-o", "yaml")],
                &[],
                &["app.py"],
            ),
            (
                &["--output=yaml", "app.py"],
                &[("--output", "yaml")],
                &[],
                &["app.py"],
            ),
            (
                &["--load-spark-defaults", "-o", "yaml", "app.py"],
                &[("-o", "yaml")],
                &[],
                &["--load-spark-defaults", "app.py"],
            ),
            (
                &[
                    "--name",
                    "pi",
                    "-o",
                    "yaml",
                    "--verbose",
                    "app.py",
                    "-o",
                    "x",
                ],
                &[("-o", "yaml")],
                &[],
                &["--name", "pi", "--verbose", "app.py", "-o", "x"],
            ),
            (
                &[
                    "--conf",
                    "a=b",
                    "--no-wait",
                    "--class",
                    "M",
                    "app.jar",
                    "--no-wait",
                ],
                &[],
                &["--no-wait"],
                &["--conf", "a=b", "--class", "M", "app.jar", "--no-wait"],
            ),
            // A value that looks like a tool option belongs to the spark-submit flag.
            (
                &["--name", "-o", "app.py"],
                &[],
                &[],
                &["--name", "-o", "app.py"],
            ),
            (
                &["--conf=x=1", "-v", "app.py"],
                &[],
                &[],
                &["--conf=x=1", "-v", "app.py"],
            ),
            (
                &["--bogus", "-o", "json"],
                &[("-o", "json")],
                &[],
                &["--bogus"],
            ),
        ];
        for (args, values, switches, rest) in table {
            let tool = match split_tool_args(args, &["-o", "--output"], &["--no-wait"]) {
                Ok(tool) => tool,
                Err(err) => panic!("{args:?}: {err}"),
            };
            let values: Vec<(String, String)> = values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(tool.values, values, "{args:?}");
            assert_eq!(tool.switches, *switches, "{args:?}");
            assert_eq!(tool.submit_args, *rest, "{args:?}");
        }
        let err = match split_tool_args(&["--name", "pi", "-o"], &["-o"], &[]) {
            Ok(tool) => panic!("parsed to {tool:?}"),
            Err(err) => err,
        };
        assert_eq!(err.option(), "-o");
    }
}
