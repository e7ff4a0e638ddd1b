//! [`SubmitRequest`]: a submission with everything resolved, as spark-submit hands it to its
//! Kubernetes client: the conf after flags, properties files and defaults are merged (with
//! spark-submit's precedence and checks), the main resource and class, and the contents of
//! the files the conf names (pod templates, driver credentials).
//!
//! Reading files and the environment happens here, in small edge functions; the resolution
//! itself ([`SubmitRequest::resolve`]) takes them as inputs and is pure.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::conf::{
    Action, ByteUnit, SparkConf, SubmitArgs, keys, parse_bytes, parse_properties, split_list,
};
use crate::error::{Error, Result};
use crate::session::NO_RESOURCE;
use crate::ship::{LocalFile, Shipment, Upload};

/// The kind of the main resource, which decides the runner class and the memory overhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// A jar: the main class runs on the JVM.
    Java,
    /// A `.py` file, run by `org.apache.spark.deploy.PythonRunner`.
    Python,
    /// An `.R` file, run by `org.apache.spark.deploy.RRunner`.
    R,
}

impl ResourceType {
    /// Spark's rule: `.py` is Python, `.R`/`.r` is R, anything else a JVM resource.
    pub fn of(resource: &str) -> Self {
        if resource.ends_with(".py") {
            ResourceType::Python
        } else if resource.ends_with(".R") || resource.ends_with(".r") {
            ResourceType::R
        } else {
            ResourceType::Java
        }
    }

    /// The value of `spark.kubernetes.resource.type`.
    pub fn conf_value(self) -> &'static str {
        match self {
            ResourceType::Java => "java",
            ResourceType::Python => "python",
            ResourceType::R => "r",
        }
    }
}

/// A pod template: the parsed Pod and the text it came from (the executor template is
/// shipped to the driver verbatim).
#[derive(Debug, Clone, PartialEq)]
pub struct PodTemplate {
    /// The template, parsed.
    pub pod: Pod,
    /// The template as written (YAML or JSON).
    pub text: String,
}

/// Files the driver's Kubernetes credentials are read from
/// (`spark.kubernetes.authenticate.driver.{caCertFile,clientKeyFile,clientCertFile}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverCredentialFiles {
    /// Contents of `caCertFile`.
    pub ca_cert: Option<Vec<u8>>,
    /// Contents of `clientKeyFile`.
    pub client_key: Option<Vec<u8>>,
    /// Contents of `clientCertFile`.
    pub client_cert: Option<Vec<u8>>,
}

/// A submission with everything resolved; the input of [`crate::build()`].
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitRequest {
    /// The conf spark-submit passes to its Kubernetes client: user `--conf`s, then the
    /// properties file and spark-defaults.conf for keys not given, then the keys the flags
    /// set (`spark.master`, `spark.app.name`, `spark.jars`, `spark.driver.memory`, ...).
    pub conf: SparkConf,
    /// The primary resource (jar, `.py` or `.R`), as given.
    pub main_resource: String,
    /// What kind of application the primary resource is.
    pub resource_type: ResourceType,
    /// `--class`; always set for JVM applications.
    pub main_class: Option<String>,
    /// Arguments to the application.
    pub app_args: Vec<String>,
    /// `--proxy-user`.
    pub proxy_user: Option<String>,
    /// The driver pod template (`spark.kubernetes.driver.podTemplateFile` or inline).
    pub driver_pod_template: Option<Pod>,
    /// The executor pod template (`spark.kubernetes.executor.podTemplateFile` or inline).
    pub executor_pod_template: Option<PodTemplate>,
    /// Credential files for the driver, read from the paths the conf names.
    pub driver_credentials: DriverCredentialFiles,
    /// `$SPARK_LOCAL_DIRS` of the submitting environment, which spark-submit gives the
    /// driver as its local dirs ahead of `spark.local.dir`.
    pub env_local_dirs: Option<String>,
    /// Files of the submitting machine's Spark conf dir (`$SPARK_CONF_DIR`, else
    /// `$SPARK_HOME/conf`) that spark-submit ships in the driver ConfigMap: (name, text).
    pub conf_dir_files: Vec<(String, String)>,
    /// sparkube's submission id (`--conf sparkube.submission.id=…` or `SparkApp.submission_id`).
    pub submission_id: Option<String>,
    /// Files of the submitting machine shipped with the application (see [`crate::ship`]);
    /// the conf and the primary resource name them by their path in the driver.
    pub local_files: Vec<LocalFile>,
    /// Files of the submitting machine to upload to `spark.kubernetes.file.upload.path`
    /// before the driver is created (see [`crate::ship::Upload`]); the conf and the primary
    /// resource already name them by their URI there.
    pub uploads: Vec<Upload>,
    /// `--verbose`.
    pub verbose: bool,
    /// The spec of Volcano's PodGroup, from
    /// `spark.kubernetes.scheduler.volcano.podGroupTemplateFile` (read here) or
    /// `...podGroupTemplateJson`, when Volcano's feature step is asked for and a template given.
    pub volcano_pod_group_spec: Option<serde_json::Map<String, Value>>,
    /// What spark-submit would warn about (ignored keys, files not shipped, credentials in
    /// plain conf), for the caller to show once; see [`SubmitRequest::log_notices`].
    /// They name keys, never values.
    pub warnings: Vec<String>,
}

/// The submitting environment spark-submit consults: variables and files.
pub struct Environment<'a> {
    /// Environment variables (`SPARK_CONF_DIR`, `SPARK_HOME`, `MASTER`, `KUBECONFIG`, `HOME`, ...).
    pub vars: HashMap<String, String>,
    /// Reads a file.
    pub read: &'a dyn Fn(&Path) -> io::Result<Vec<u8>>,
    /// Opens a file for reading as a stream (for files that may not fit in memory).
    pub open: &'a dyn Fn(&Path) -> io::Result<Box<dyn io::Read>>,
    /// Lists the regular files of a directory (empty when it does not exist).
    pub list: &'a dyn Fn(&Path) -> Vec<PathBuf>,
    /// Lists the regular files anywhere under a directory, sorted.
    pub files_under: &'a dyn Fn(&Path) -> Vec<PathBuf>,
    /// The working directory, against which relative paths of local files resolve.
    pub cwd: PathBuf,
    /// Reads a remote file named by a URI with one of [`REMOTE_SCHEMES`] (a pod template
    /// spark-submit would read through Hadoop's file systems), with the conf that configures
    /// the object stores' credentials; `None` where this side cannot.
    pub fetch: Option<&'a Fetch<'a>>,
}

/// Reads the file named by a remote URI (see [`Environment::fetch`]) with the request's conf.
pub type Fetch<'a> = dyn Fn(&str, &SparkConf) -> io::Result<Vec<u8>> + 'a;

/// URI schemes of files spark-submit reads on the submitting side through Hadoop's file
/// systems, as pod templates may be.
pub const REMOTE_SCHEMES: &[&str] = &["http", "https", "s3a", "s3", "gs", "abfs", "abfss"];

/// The largest total size of conf dir files shipped to the driver (`spark.kubernetes.configMap.maxSize`).
const CONF_DIR_MAX_BYTES: u64 = 1_048_576;

impl Environment<'_> {
    fn conf_dir(&self) -> Option<PathBuf> {
        self.var("SPARK_CONF_DIR")
            .map(PathBuf::from)
            .or_else(|| self.var("SPARK_HOME").map(|h| Path::new(h).join("conf")))
    }

    /// The conf dir files spark-submit puts in the driver ConfigMap: every file but
    /// templates and spark-defaults.conf, smallest first, within the size limit.
    fn conf_dir_files(
        &self,
        conf: &SparkConf,
        warnings: &mut Vec<String>,
    ) -> Vec<(String, String)> {
        let Some(dir) = self.conf_dir() else {
            return Vec::new();
        };
        let mut files: Vec<(String, String)> = (self.list)(&dir)
            .into_iter()
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?.to_owned();
                if name.ends_with("template") || name == "spark-defaults.conf" {
                    return None;
                }
                let text = String::from_utf8((self.read)(&path).ok()?).ok()?;
                Some((name, text))
            })
            .collect();
        files.sort_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| a.0.cmp(&b.0)));
        let limit = conf
            .get("spark.kubernetes.configMap.maxSize")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(CONF_DIR_MAX_BYTES);
        let mut total = 0u64;
        files.retain(|(name, text)| {
            total += (name.len() + text.len()) as u64;
            let keep = total <= limit;
            if !keep {
                warnings.push(format!("not shipping {name} from the Spark conf dir: the driver ConfigMap would exceed {limit} bytes"));
            }
            keep
        });
        files.sort();
        files
    }
}

impl Environment<'_> {
    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The text of a file named by a conf value as spark-submit reads it: a local path (or
    /// `file:` URI) from disk, a [`REMOTE_SCHEMES`] URI through [`Environment::fetch`]; any
    /// other scheme is refused by name rather than looked for as a local path.
    fn read_location(
        &self,
        location: &str,
        conf: &SparkConf,
        option: &str,
        what: &'static str,
    ) -> Result<String> {
        let scheme = location
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some(scheme) if REMOTE_SCHEMES.contains(&scheme) => {
                let fetch = self.fetch.ok_or_else(|| {
                    Error::invalid(
                        option,
                        format!(
                            "{option}={location}: sparkube cannot read {scheme}:// files on the submitting side yet; give a local file"
                        ),
                    )
                })?;
                let bytes = fetch(location, conf).map_err(|source| Error::Read {
                    option: option.to_owned(),
                    what,
                    path: PathBuf::from(location),
                    source,
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    Error::invalid(option, format!("{what} {location} is not UTF-8 text"))
                })
            }
            Some("file") => {
                let path = location.split_once("://").map_or(location, |(_, p)| p);
                self.read_text(Path::new(path), option, what)
            }
            Some(scheme) => Err(Error::invalid(
                option,
                format!(
                    "{option}={location}: sparkube cannot read {scheme}:// files on the submitting \
                     side; give a local path or a file://, {} URI",
                    REMOTE_SCHEMES
                        .iter()
                        .map(|s| format!("{s}://"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            None => self.read_text(Path::new(location), option, what),
        }
    }

    fn read_text(&self, path: &Path, option: &str, what: &'static str) -> Result<String> {
        let bytes = (self.read)(path).map_err(|source| Error::Read {
            option: option.to_owned(),
            what,
            path: path.to_owned(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|_| {
            Error::invalid(
                option,
                format!("{what} {} is not UTF-8 text", path.display()),
            )
        })
    }

    /// Reads a file that may be absent: `Ok(None)` when it does not exist.
    fn read_optional(
        &self,
        path: &Path,
        option: &str,
        what: &'static str,
    ) -> Result<Option<String>> {
        match (self.read)(path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) if err.raw_os_error() == Some(21) => Ok(None),
            _ => self.read_text(path, option, what).map(Some),
        }
    }
}

/// The master used when none is given: the server of the current kubeconfig context
/// (`$KUBECONFIG`, else `~/.kube/config`), else the in-cluster API server.
pub const IN_CLUSTER_MASTER: &str = "https://kubernetes.default.svc";

/// The server of the current context of a kubeconfig text, if it names one.
pub fn kubeconfig_server(text: &str) -> Option<String> {
    let config: Value = serde_norway::from_str(text).ok()?;
    let context_name = config.get("current-context")?.as_str()?;
    let by_name = |list: &str, name: &str| -> Option<Value> {
        config
            .get(list)?
            .as_array()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let context = by_name("contexts", context_name)?;
    let cluster_name = context.get("context")?.get("cluster")?.as_str()?.to_owned();
    let cluster = by_name("clusters", &cluster_name)?;
    cluster
        .get("cluster")?
        .get("server")?
        .as_str()
        .map(str::to_owned)
}

fn default_master(env: &Environment<'_>) -> String {
    let paths: Vec<PathBuf> = match env.var("KUBECONFIG") {
        Some(list) => std::env::split_paths(list).collect(),
        None => env
            .var("HOME")
            .map(|h| Path::new(h).join(".kube/config"))
            .into_iter()
            .collect(),
    };
    let texts = paths
        .iter()
        .filter_map(|p| (env.read)(p).ok())
        .filter_map(|b| String::from_utf8(b).ok());
    texts
        .into_iter()
        .find_map(|t| kubeconfig_server(&t))
        .unwrap_or_else(|| IN_CLUSTER_MASTER.to_owned())
}

/// spark-submit's `checkAndGetK8sMasterUrl`: `k8s://host:port` gets `https://`; only
/// `http` and `https` schemes are accepted.
pub fn normalize_master(master: &str, option: &str) -> Result<String> {
    let Some(rest) = master.strip_prefix("k8s://") else {
        return Err(Error::invalid(
            option,
            format!(
                "sparkube submits to Kubernetes only: the master must start with k8s:// (got {master})"
            ),
        ));
    };
    let Some((scheme, _)) = rest.split_once("://") else {
        return Ok(format!("k8s://https://{rest}"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => Ok(master.to_owned()),
        _ => Err(Error::invalid(
            option,
            format!("Invalid Kubernetes master scheme: {scheme} found in URL: {rest}"),
        )),
    }
}

/// A value from a flag, else from the conf, else from an environment variable, with the
/// name of whichever option gave it.
struct Pick {
    value: Option<String>,
    option: String,
}

fn pick(
    flag: (&str, &Option<String>),
    conf: &SparkConf,
    key: &str,
    env: Option<(&str, &Environment<'_>)>,
) -> Pick {
    if let Some(value) = flag.1 {
        return Pick {
            value: Some(value.clone()),
            option: flag.0.to_owned(),
        };
    }
    if let Some(value) = conf.get(key) {
        return Pick {
            value: Some(value.to_owned()),
            option: key.to_owned(),
        };
    }
    if let Some((var, env)) = env
        && let Some(value) = env.var(var)
    {
        return Pick {
            value: Some(value.to_owned()),
            option: format!("${var}"),
        };
    }
    Pick {
        value: None,
        option: key.to_owned(),
    }
}

fn positive_memory(pick: &Pick, what: &str) -> Result<()> {
    if let Some(value) = &pick.value
        && !matches!(parse_bytes(value, ByteUnit::Byte, ByteUnit::Byte), Ok(bytes) if bytes > 0)
    {
        return Err(Error::invalid(
            &pick.option,
            format!(
                "{what} must be a positive number ({} = {value:?})",
                pick.option
            ),
        ));
    }
    Ok(())
}

fn positive_int(pick: &Pick, what: &str) -> Result<()> {
    if let Some(value) = &pick.value
        && !matches!(value.trim().parse::<i32>(), Ok(n) if n > 0)
    {
        return Err(Error::invalid(
            &pick.option,
            format!(
                "{what} must be a positive number ({} = {value:?})",
                pick.option
            ),
        ));
    }
    Ok(())
}

/// Parses a pod template (YAML or JSON) into a Pod; the error names `option`.
pub fn parse_pod_template(text: &str, option: &str, origin: &str) -> Result<Pod> {
    let invalid = |why: String| {
        Error::invalid(
            option,
            format!("Could not load pod from template file {origin} ({option}): {why}"),
        )
    };
    let mut value: Value = serde_norway::from_str(text).map_err(|e| invalid(e.to_string()))?;
    pod_from_value(&mut value).map_err(invalid)
}

/// A Pod from a JSON value; `apiVersion: v1` and `kind: Pod` are assumed when absent.
pub(crate) fn pod_from_value(value: &mut Value) -> std::result::Result<Pod, String> {
    let Some(object) = value.as_object_mut() else {
        return Err("it is not a mapping".to_owned());
    };
    match object.get("kind").and_then(Value::as_str) {
        None => {
            object.insert("kind".into(), "Pod".into());
        }
        Some("Pod") => {}
        Some(other) => return Err(format!("it is a {other}, not a Pod")),
    }
    if object.get("apiVersion").and_then(Value::as_str).is_none() {
        object.insert("apiVersion".into(), "v1".into());
    }
    serde_json::from_value(value.clone()).map_err(|e| e.to_string())
}

/// `--kill`, `--status`, `--version` and `--help` are actions, not submissions.
fn refuse_actions(args: &SubmitArgs) -> Result<()> {
    match &args.action {
        Action::Submit => Ok(()),
        Action::Kill(_) | Action::Status(_) | Action::PrintVersion | Action::PrintUsage => {
            Err(Error::invalid(
                "--kill/--status/--version/--help",
                "these arguments ask for an action, not a submission",
            ))
        }
    }
}

/// The `--conf` keys, filled in by the properties file and then by spark-defaults.conf
/// (read unless a properties file replaces it, or with `--load-spark-defaults`).
fn merged_conf(args: &SubmitArgs, env: &Environment<'_>) -> Result<SparkConf> {
    let mut conf = args.conf.clone();
    if let Some(path) = &args.properties_file {
        let text = env.read_text(Path::new(path), "--properties-file", "properties file")?;
        for (k, v) in parse_properties(&text) {
            conf.set_if_missing(k, v);
        }
    }
    let defaults_dir = (args.properties_file.is_none() || args.load_spark_defaults)
        .then(|| env.conf_dir())
        .flatten();
    if let Some(dir) = defaults_dir {
        let path = dir.join("spark-defaults.conf");
        if let Some(text) = env.read_optional(&path, "spark-defaults.conf", "properties file")? {
            for (k, v) in parse_properties(&text) {
                conf.set_if_missing(k, v);
            }
        }
    }
    Ok(conf)
}

/// spark-submit ignores (with a warning) every key outside `spark.`.
fn drop_non_spark_keys(conf: &mut SparkConf, warnings: &mut Vec<String>) {
    let ignored: Vec<String> = conf
        .iter()
        .filter(|(k, _)| !k.starts_with("spark."))
        .map(|(k, _)| k.to_owned())
        .collect();
    for key in ignored {
        warnings.push(format!("Ignoring non-Spark config property: {key}"));
        conf.remove(&key);
    }
}

/// The master, `k8s://` and normalised; the kubeconfig's server when none is given.
fn master(args: &SubmitArgs, conf: &SparkConf, env: &Environment<'_>) -> Result<String> {
    let master = pick(
        ("--master", &args.master),
        conf,
        keys::MASTER,
        Some(("MASTER", env)),
    );
    match master.value {
        Some(value) => normalize_master(&value, &master.option),
        None => Ok(format!("k8s://{}", default_master(env))),
    }
}

/// Only cluster mode is submitted.
fn check_deploy_mode(args: &SubmitArgs, conf: &SparkConf, env: &Environment<'_>) -> Result<()> {
    let deploy = pick(
        ("--deploy-mode", &args.deploy_mode),
        conf,
        keys::DEPLOY_MODE,
        Some(("DEPLOY_MODE", env)),
    );
    match deploy.value.as_deref() {
        None | Some("cluster") => Ok(()),
        Some("client") => Err(Error::invalid(
            &deploy.option,
            format!(
                "{}: client deploy mode is not supported: sparkube submits in cluster mode",
                deploy.option
            ),
        )),
        Some(other) => Err(Error::invalid(
            &deploy.option,
            format!(
                "Deploy mode must be either client or cluster ({} = {other:?})",
                deploy.option
            ),
        )),
    }
}

/// Memory, cores and executor counts, each from its flag, conf key or variable, checked as
/// spark-submit checks them.
struct Sizes {
    driver_memory: Pick,
    executor_memory: Pick,
    driver_cores: Pick,
    executor_cores: Pick,
    num_executors: Pick,
}

impl Sizes {
    fn checked(args: &SubmitArgs, conf: &SparkConf, env: &Environment<'_>) -> Result<Sizes> {
        let driver_memory = pick(
            ("--driver-memory", &args.driver_memory),
            conf,
            keys::DRIVER_MEMORY,
            Some(("SPARK_DRIVER_MEMORY", env)),
        );
        positive_memory(&driver_memory, "Driver memory")?;
        let executor_memory = pick(
            ("--executor-memory", &args.executor_memory),
            conf,
            keys::EXECUTOR_MEMORY,
            Some(("SPARK_EXECUTOR_MEMORY", env)),
        );
        positive_memory(&executor_memory, "Executor memory")?;
        let driver_cores = pick(
            ("--driver-cores", &args.driver_cores),
            conf,
            keys::DRIVER_CORES,
            None,
        );
        positive_int(&driver_cores, "Driver cores")?;
        let executor_cores = pick(
            ("--executor-cores", &args.executor_cores),
            conf,
            keys::EXECUTOR_CORES,
            Some(("SPARK_EXECUTOR_CORES", env)),
        );
        positive_int(&executor_cores, "Executor cores")?;
        let total_cores = pick(
            ("--total-executor-cores", &args.total_executor_cores),
            conf,
            keys::CORES_MAX,
            None,
        );
        positive_int(&total_cores, "Total executor cores")?;
        let num_executors = pick(
            ("--num-executors", &args.num_executors),
            conf,
            keys::EXECUTOR_INSTANCES,
            None,
        );
        if !conf.get_bool(keys::DYN_ALLOCATION_ENABLED, false) {
            positive_int(&num_executors, "Number of executors")?;
        } else if let Some(value) = &num_executors.value
            && value.trim().parse::<u32>().is_err()
        {
            return Err(Error::invalid(
                &num_executors.option,
                format!(
                    "Number of executors must be a non-negative number ({} = {value:?})",
                    num_executors.option
                ),
            ));
        }
        if args.proxy_user.is_some() && args.principal.is_some() {
            return Err(Error::invalid(
                "--proxy-user",
                "Only one of --proxy-user or --principal can be provided.",
            ));
        }
        Ok(Sizes {
            driver_memory,
            executor_memory,
            driver_cores,
            executor_cores,
            num_executors,
        })
    }
}

/// The name: `--name`, `spark.app.name`, the main class, else the resource's file name.
fn app_name(args: &SubmitArgs, conf: &SparkConf, primary: &str) -> String {
    args.name
        .clone()
        .or_else(|| conf.get(keys::APP_NAME).map(str::to_owned))
        .or_else(|| args.main_class.clone())
        .unwrap_or_else(|| primary.rsplit('/').next().unwrap_or(primary).to_owned())
}

/// The main class, required for a JAR.
fn main_class(
    args: &SubmitArgs,
    resource_type: ResourceType,
    primary: &str,
) -> Result<Option<String>> {
    match resource_type {
        ResourceType::Java => args.main_class.clone().map(Some).ok_or_else(|| {
            Error::invalid(
                "--class",
                format!(
                    "Failed to get main class in JAR {primary}. Please specify one with --class."
                ),
            )
        }),
        ResourceType::Python | ResourceType::R => Ok(args.main_class.clone()),
    }
}

/// What resolution settles before it ships local files: the merged conf, checked, and the
/// values read from it and the flags.
struct Settled {
    conf: SparkConf,
    warnings: Vec<String>,
    submission_id: Option<String>,
    primary: String,
    resource_type: ResourceType,
    master: String,
    sizes: Sizes,
    name: String,
    main_class: Option<String>,
}

impl Settled {
    fn of(args: &SubmitArgs, env: &Environment<'_>) -> Result<Settled> {
        refuse_actions(args)?;
        let mut warnings = Vec::new();
        let mut conf = merged_conf(args, env)?;
        let submission_id = conf.remove(keys::SUBMISSION_ID);
        drop_non_spark_keys(&mut conf, &mut warnings);
        warnings.extend(crate::conf::lint::check(&conf)?);
        let primary = args
            .primary_resource
            .clone()
            .ok_or_else(|| Error::invalid("primary resource", "Missing application resource."))?;
        let resource_type = ResourceType::of(&primary);
        let master = master(args, &conf, env)?;
        check_deploy_mode(args, &conf, env)?;
        let sizes = Sizes::checked(args, &conf, env)?;
        let name = app_name(args, &conf, &primary);
        let main_class = main_class(args, resource_type, &primary)?;
        Ok(Settled {
            conf,
            warnings,
            submission_id,
            primary,
            resource_type,
            master,
            sizes,
            name,
            main_class,
        })
    }
}

/// The application's dependencies: a flag replaces the conf key; files of the submitting
/// machine are shipped (see [`crate::ship`]) and named by their path in the driver, or
/// uploaded and named by their URI in the upload path.
struct Dependencies {
    primary: String,
    /// Whether the primary resource was uploaded.
    primary_uploaded: bool,
    jars: Vec<String>,
    files: Vec<String>,
    py_files: Vec<String>,
    archives: Vec<String>,
    local_files: Vec<LocalFile>,
    uploads: Vec<Upload>,
}

impl Dependencies {
    fn of(
        args: &SubmitArgs,
        conf: &SparkConf,
        primary: &str,
        env: &Environment<'_>,
    ) -> Result<Dependencies> {
        let mut shipment = Shipment::new(env, conf.get(keys::FILE_UPLOAD_PATH).map(str::to_owned))?;
        // Spark's placeholder for a main class on its own classpath names no file.
        let (primary, primary_uploaded) = if primary == NO_RESOURCE {
            (primary.to_owned(), false)
        } else {
            let primary = shipment.uri("primary resource", primary)?;
            (primary.uri, primary.local && shipment.uploading())
        };
        let mut list = |flag: (&str, &Option<String>), key: &str| -> Result<Vec<String>> {
            let p = pick(flag, conf, key, None);
            let uris = p.value.map(|v| split_list(&v)).unwrap_or_default();
            let mut shipped = uris
                .iter()
                .map(|uri| shipment.uri(&p.option, uri))
                .collect::<Result<Vec<_>>>()?;
            // spark-submit's upload lists the uploaded URIs of a key first, then the others.
            if shipment.uploading() {
                shipped.sort_by_key(|s| !s.local);
            }
            Ok(shipped.into_iter().map(|s| s.uri).collect())
        };
        let jars = list(("--jars", &args.jars), keys::JARS)?;
        let files = list(("--files", &args.files), keys::FILES)?;
        let py_files = list(("--py-files", &args.py_files), keys::PY_FILES)?;
        let archives = list(("--archives", &args.archives), keys::ARCHIVES)?;
        Ok(Dependencies {
            primary,
            primary_uploaded,
            jars,
            files,
            py_files,
            archives,
            local_files: shipment.files,
            uploads: shipment.uploads,
        })
    }

    /// Sets the conf keys as spark-submit does: a JAR application joins `spark.jars` (an
    /// uploaded one among the uploaded jars, and the driver runs it from there, as
    /// spark-submit's `spark-internal` resource).
    fn assign(&mut self, conf: &mut SparkConf, resource_type: ResourceType) {
        conf.set(keys::PY_FILES, self.py_files.join(","));
        if !self.files.is_empty() {
            conf.set(keys::FILES, self.files.join(","));
        }
        if !self.archives.is_empty() {
            conf.set(keys::ARCHIVES, self.archives.join(","));
        }
        if resource_type == ResourceType::Java && self.primary_uploaded {
            let first_remote = self
                .jars
                .iter()
                .position(|j| !self.uploads.iter().any(|u| j == &u.target))
                .unwrap_or(self.jars.len());
            self.jars.insert(first_remote, self.primary.clone());
            self.primary = NO_RESOURCE.to_owned();
        } else if resource_type == ResourceType::Java && self.primary != NO_RESOURCE {
            self.jars.push(self.primary.clone());
        }
        if self.jars.is_empty() {
            conf.remove(keys::JARS);
        } else {
            conf.set(keys::JARS, self.jars.join(","));
        }
    }
}

/// The keys spark-submit sets from its flags (OptionAssigner, Kubernetes cluster mode).
fn assign_flags(conf: &mut SparkConf, args: &SubmitArgs, sizes: &Sizes) {
    let mut assign = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            conf.set(key, value.clone());
        }
    };
    assign(keys::DRIVER_CLASS_PATH, &args.driver_class_path);
    assign(keys::DRIVER_JAVA_OPTIONS, &args.driver_java_options);
    assign(keys::DRIVER_LIBRARY_PATH, &args.driver_library_path);
    assign(keys::PRINCIPAL, &args.principal);
    assign(keys::KEYTAB, &args.keytab);
    assign(keys::PACKAGES, &args.packages);
    assign(keys::REPOSITORIES, &args.repositories);
    assign(keys::PACKAGES_EXCLUDES, &args.exclude_packages);
    assign(keys::EXECUTOR_INSTANCES, &sizes.num_executors.value);
    assign(keys::EXECUTOR_CORES, &sizes.executor_cores.value);
    assign(keys::EXECUTOR_MEMORY, &sizes.executor_memory.value);
    assign(keys::DRIVER_MEMORY, &sizes.driver_memory.value);
    assign(keys::DRIVER_CORES, &sizes.driver_cores.value);
}

/// The files the conf names, read on the submitting machine: pod templates and the driver's
/// credential files.
struct ConfFiles {
    driver_pod_template: Option<Pod>,
    executor_pod_template: Option<PodTemplate>,
    driver_credentials: DriverCredentialFiles,
    volcano_pod_group_spec: Option<serde_json::Map<String, Value>>,
}

use crate::build::volcano;

impl ConfFiles {
    fn read(conf: &SparkConf, env: &Environment<'_>) -> Result<ConfFiles> {
        let template = |key: &str| -> Result<Option<(Pod, String)>> {
            let Some(path) = conf.get(key) else {
                return Ok(None);
            };
            let text = env.read_location(path, conf, key, "pod template")?;
            let pod = parse_pod_template(&text, key, path)?;
            Ok(Some((pod, text)))
        };
        let credential = |suffix: &str| -> Result<Option<Vec<u8>>> {
            let key = format!("{}{suffix}", keys::DRIVER_AUTH_PREFIX);
            match conf.get(&key) {
                Some(path) => (env.read)(Path::new(path))
                    .map(Some)
                    .map_err(|source| Error::Read {
                        option: key.clone(),
                        what: "credentials file",
                        path: PathBuf::from(path),
                        source,
                    }),
                None => Ok(None),
            }
        };
        let volcano_pod_group_spec = if !crate::build::volcano::enabled(conf) {
            None
        } else if let Some(path) = conf.get(volcano::TEMPLATE_FILE) {
            let text =
                env.read_text(Path::new(path), volcano::TEMPLATE_FILE, "PodGroup template")?;
            Some(volcano::template_spec(
                &text,
                volcano::TEMPLATE_FILE,
                &format!("file {path}"),
            )?)
        } else if let Some(json) = conf.get(volcano::TEMPLATE_JSON) {
            Some(volcano::template_spec(
                json,
                volcano::TEMPLATE_JSON,
                "JSON",
            )?)
        } else {
            None
        };
        Ok(ConfFiles {
            volcano_pod_group_spec,
            driver_pod_template: template(keys::DRIVER_POD_TEMPLATE_FILE)?.map(|(pod, _)| pod),
            executor_pod_template: template(keys::EXECUTOR_POD_TEMPLATE_FILE)?
                .map(|(pod, text)| PodTemplate { pod, text }),
            driver_credentials: DriverCredentialFiles {
                ca_cert: credential("caCertFile")?,
                client_key: credential("clientKeyFile")?,
                client_cert: credential("clientCertFile")?,
            },
        })
    }
}

impl SubmitRequest {
    /// Resolves parsed spark-submit arguments against the submitting environment `env`: reads
    /// `--properties-file` (else spark-defaults.conf from `$SPARK_CONF_DIR` or
    /// `$SPARK_HOME/conf`), the pod template and credential files the conf names, and the
    /// kubeconfig when `--master` is omitted.
    pub fn resolve(args: SubmitArgs, env: &Environment<'_>) -> Result<SubmitRequest> {
        let given = args.conf.clone();
        Self::resolve_conf(args, env).map_err(|e| e.redact_values(&given))
    }

    /// The steps of resolution, in spark-submit's order: each reads what the ones before it
    /// settled and refuses bad input with one error naming the option.
    fn resolve_conf(args: SubmitArgs, env: &Environment<'_>) -> Result<SubmitRequest> {
        let Settled {
            mut conf,
            mut warnings,
            submission_id,
            primary,
            resource_type,
            master,
            sizes,
            name,
            main_class,
        } = Settled::of(&args, env)?;
        let mut dependencies = Dependencies::of(&args, &conf, &primary, env)?;

        conf.set(keys::MASTER, master);
        conf.set(keys::DEPLOY_MODE, "cluster");
        conf.set(keys::APP_NAME, name);
        assign_flags(&mut conf, &args, &sizes);
        dependencies.assign(&mut conf, resource_type);

        let files = ConfFiles::read(&conf, env)?;
        if env.var("HADOOP_CONF_DIR").is_some()
            && !conf.contains("spark.kubernetes.hadoop.configMapName")
        {
            warnings.push(
                "not shipping $HADOOP_CONF_DIR to the driver (spark-submit would copy it into a \
                 ConfigMap); put it in a ConfigMap and set spark.kubernetes.hadoop.configMapName"
                    .to_owned(),
            );
        }
        let conf_dir_files = env.conf_dir_files(&conf, &mut warnings);
        warnings.extend(crate::redact::plain_credentials_warning(&conf));
        Ok(SubmitRequest {
            conf,
            main_resource: dependencies.primary,
            resource_type,
            main_class,
            app_args: args.app_args,
            proxy_user: args.proxy_user,
            driver_pod_template: files.driver_pod_template,
            executor_pod_template: files.executor_pod_template,
            driver_credentials: files.driver_credentials,
            volcano_pod_group_spec: files.volcano_pod_group_spec,
            env_local_dirs: env.var("SPARK_LOCAL_DIRS").map(str::to_owned),
            conf_dir_files,
            submission_id,
            local_files: dependencies.local_files,
            uploads: dependencies.uploads,
            verbose: args.verbose,
            warnings,
        })
    }

    /// The conf a submission of `args` runs with, checked as [`SubmitRequest::resolve`]
    /// checks it except for its local files, which are not read: the settings a caller needs
    /// before submitting (the master, the client's credentials, waiting). The file lists keep
    /// their local paths. Submitting resolves again, and reads each file once.
    pub fn settings(args: &SubmitArgs, env: &Environment<'_>) -> Result<SparkConf> {
        let given = args.conf.clone();
        let settled = Settled::of(args, env).map_err(|e| e.redact_values(&given))?;
        let mut conf = settled.conf;
        conf.set(keys::MASTER, settled.master);
        conf.set(keys::DEPLOY_MODE, "cluster");
        conf.set(keys::APP_NAME, settled.name);
        assign_flags(&mut conf, args, &settled.sizes);
        Ok(conf)
    }

    /// The request with its uploads named by other URIs (presigned `https` URLs of the same
    /// objects): `urls` maps an upload's URI to the one the driver should use, in the
    /// primary resource and the dependency lists, keeping `#alias` fragments.
    pub fn rename_uploads(&mut self, urls: &HashMap<String, String>) {
        let rename = |uri: &str| -> String {
            let (body, fragment) = match uri.split_once('#') {
                Some((body, fragment)) => (body, Some(fragment)),
                None => (uri, None),
            };
            match (urls.get(body), fragment) {
                (Some(url), Some(f)) => format!("{url}#{f}"),
                (Some(url), None) => url.clone(),
                (None, _) => uri.to_owned(),
            }
        };
        let renamed = rename(&self.main_resource);
        // The driver tells a Python or R application by the resource's suffix, which a URL's
        // query hides: a fragment with the file name puts it back at the end (HTTP clients do
        // not send fragments, and Spark names the download after the path).
        self.main_resource = match (self.resource_type, renamed != self.main_resource) {
            (ResourceType::Python | ResourceType::R, true) if !renamed.contains('#') => {
                let name = self.main_resource.rsplit('/').next().unwrap_or_default();
                format!("{renamed}#{name}")
            }
            _ => renamed,
        };
        for key in [keys::JARS, keys::FILES, keys::PY_FILES, keys::ARCHIVES] {
            if let Some(value) = self.conf.get(key) {
                let renamed: Vec<String> = split_list(value).iter().map(|u| rename(u)).collect();
                self.conf.set(key, renamed.join(","));
            }
        }
    }

    /// Logs [`SubmitRequest::warnings`] (once per submission or render), and which local
    /// files ship with the application.
    pub fn log_notices(&self) {
        for warning in &self.warnings {
            log::warn!("{warning}");
        }
        for (index, file) in self.local_files.iter().enumerate() {
            log::info!(
                "shipping {} ({} bytes, {}) as {}",
                file.path.display(),
                file.contents.len(),
                file.option,
                file.driver_path(index)
            );
        }
        for upload in &self.uploads {
            log::info!(
                "uploading {} ({} bytes, {}) to {}",
                upload.path.display(),
                upload.size,
                upload.option,
                upload.target
            );
        }
    }
}

/// Helpers for tests: resolution against an in-memory environment.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;
    use std::io;
    use std::path::{Path, PathBuf};

    use super::{Environment, SubmitRequest};
    use crate::conf::parse_submit_args;
    use crate::error::Result;

    /// Files and variables of a pretend submitting machine.
    #[derive(Default)]
    pub struct FakeEnv {
        pub files: HashMap<PathBuf, Vec<u8>>,
        pub vars: HashMap<String, String>,
        /// Whether remote URIs can be fetched (from `files`, by the whole URI).
        pub remote: bool,
    }

    impl FakeEnv {
        pub fn file(mut self, path: &str, text: &str) -> Self {
            self.files
                .insert(PathBuf::from(path), text.as_bytes().to_vec());
            self
        }

        /// The environment with remote files: `file` entries named by a URI are fetched.
        pub fn remote(mut self) -> Self {
            self.remote = true;
            self
        }

        pub fn var(mut self, name: &str, value: &str) -> Self {
            self.vars.insert(name.to_owned(), value.to_owned());
            self
        }

        pub fn with<T>(&self, f: impl FnOnce(&Environment<'_>) -> T) -> T {
            let read = |path: &Path| -> io::Result<Vec<u8>> {
                match self.files.get(path) {
                    Some(contents) => Ok(contents.clone()),
                    // EISDIR, as reading a directory gives.
                    None if self.files.keys().any(|p| p.starts_with(path)) => {
                        Err(io::Error::from_raw_os_error(21))
                    }
                    None => Err(io::Error::from(io::ErrorKind::NotFound)),
                }
            };
            let list = |dir: &Path| -> Vec<PathBuf> {
                let mut found: Vec<PathBuf> = self
                    .files
                    .keys()
                    .filter(|p| p.parent() == Some(dir))
                    .cloned()
                    .collect();
                found.sort();
                found
            };
            let files_under = |dir: &Path| -> Vec<PathBuf> {
                let mut found: Vec<PathBuf> = self
                    .files
                    .keys()
                    .filter(|p| p.starts_with(dir) && p.as_path() != dir)
                    .cloned()
                    .collect();
                found.sort();
                found
            };
            let fetch = |uri: &str, _conf: &crate::SparkConf| -> io::Result<Vec<u8>> {
                self.files
                    .get(Path::new(uri))
                    .cloned()
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
            };
            let open = |path: &Path| -> io::Result<Box<dyn io::Read>> {
                read(path).map(|bytes| Box::new(io::Cursor::new(bytes)) as Box<dyn io::Read>)
            };
            f(&Environment {
                vars: self.vars.clone(),
                read: &read,
                open: &open,
                list: &list,
                files_under: &files_under,
                cwd: PathBuf::from("/home/user"),
                fetch: self.remote.then_some(&fetch),
            })
        }

        pub fn resolve(&self, args: &[&str]) -> Result<SubmitRequest> {
            let parsed = parse_submit_args(args)?;
            self.with(|env| SubmitRequest::resolve(parsed, env))
        }
    }

    /// `args` resolved with no files and no environment.
    pub fn request(args: &[&str]) -> SubmitRequest {
        match FakeEnv::default().resolve(args) {
            Ok(request) => request,
            Err(err) => panic!("{args:?}: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{FakeEnv, request};
    use super::*;

    const IMAGE: &str = "spark.kubernetes.container.image=spark:4.3.0";

    fn conf_of(req: &SubmitRequest) -> Vec<(String, String)> {
        req.conf
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn resource_types() {
        let table = [
            ("local:///a.jar", ResourceType::Java),
            ("local:///a.py", ResourceType::Python),
            ("local:///a.R", ResourceType::R),
            ("local:///a.r", ResourceType::R),
            ("s3a://b/a.zip", ResourceType::Java),
        ];
        for (resource, kind) in table {
            assert_eq!(ResourceType::of(resource), kind, "{resource}");
        }
    }

    #[test]
    fn flags_set_spark_keys() {
        let req = request(&[
            "--master",
            "k8s://https://h:6443",
            "--name",
            "pi",
            "--class",
            "Main",
            "--conf",
            IMAGE,
            "--jars",
            "local:///a.jar,https://x/b.jar",
            "--files",
            "local:///f",
            "--archives",
            "local:///z.tgz#z",
            "--packages",
            "g:a:1",
            "--repositories",
            "https://repo",
            "--exclude-packages",
            "g:x",
            "--driver-memory",
            "2g",
            "--driver-cores",
            "2",
            "--executor-memory",
            "3g",
            "--executor-cores",
            "3",
            "--num-executors",
            "4",
            "--total-executor-cores",
            "9",
            "--driver-java-options",
            "-Dx=1",
            "--driver-library-path",
            "/lib",
            "--driver-class-path",
            "/cp",
            "--proxy-user",
            "alice",
            "local:///app.jar",
            "a1",
        ]);
        let conf = conf_of(&req);
        let get = |k: &str| {
            conf.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let expected = [
            ("spark.kubernetes.container.image", Some("spark:4.3.0")),
            ("spark.master", Some("k8s://https://h:6443")),
            ("spark.submit.deployMode", Some("cluster")),
            ("spark.app.name", Some("pi")),
            (
                "spark.jars",
                Some("local:///a.jar,https://x/b.jar,local:///app.jar"),
            ),
            ("spark.files", Some("local:///f")),
            ("spark.archives", Some("local:///z.tgz#z")),
            ("spark.submit.pyFiles", Some("")),
            ("spark.jars.packages", Some("g:a:1")),
            ("spark.jars.repositories", Some("https://repo")),
            ("spark.jars.excludes", Some("g:x")),
            ("spark.driver.memory", Some("2g")),
            ("spark.driver.cores", Some("2")),
            ("spark.executor.memory", Some("3g")),
            ("spark.executor.cores", Some("3")),
            ("spark.executor.instances", Some("4")),
            ("spark.cores.max", None),
            ("spark.driver.extraJavaOptions", Some("-Dx=1")),
            ("spark.driver.extraLibraryPath", Some("/lib")),
            ("spark.driver.extraClassPath", Some("/cp")),
        ];
        for (key, value) in expected {
            assert_eq!(get(key), value, "{key}");
        }
        assert_eq!(req.proxy_user.as_deref(), Some("alice"));
        assert_eq!(req.main_class.as_deref(), Some("Main"));
        assert_eq!(req.app_args, vec!["a1"]);
    }

    #[test]
    fn python_and_r_apps_get_no_primary_in_jars() {
        let py = request(&[
            "--conf",
            IMAGE,
            "--py-files",
            "local:///a.py",
            "local:///main.py",
        ]);
        assert_eq!(py.resource_type, ResourceType::Python);
        assert_eq!(py.conf.get("spark.jars"), None);
        assert_eq!(py.conf.get("spark.submit.pyFiles"), Some("local:///a.py"));
        assert_eq!(py.conf.get("spark.app.name"), Some("main.py"));
        let r = request(&[
            "--conf",
            IMAGE,
            "--jars",
            "local:///x.jar",
            "local:///main.R",
        ]);
        assert_eq!(r.conf.get("spark.jars"), Some("local:///x.jar"));
    }

    #[test]
    fn remote_pod_templates_are_fetched_where_this_side_can() {
        let template = "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {team: t}\n";
        let uri = "https://templates.example/driver.yaml";
        let args = [
            "--conf",
            "spark.kubernetes.driver.podTemplateFile=https://templates.example/driver.yaml",
            "--conf",
            "spark.kubernetes.executor.podTemplateFile=file:///e.yaml",
            "--class",
            "X",
            "local:///a.jar",
        ];
        let env = FakeEnv::default()
            .file(uri, template)
            .file("/e.yaml", template);
        match env.remote().resolve(&args) {
            Ok(req) => {
                let labels = req.driver_pod_template.and_then(|p| p.metadata.labels);
                assert_eq!(
                    labels.and_then(|l| l.get("team").cloned()).as_deref(),
                    Some("t")
                );
                assert!(req.executor_pod_template.is_some());
            }
            Err(e) => panic!("{e}"),
        }
        let env = FakeEnv::default()
            .file(uri, template)
            .file("/e.yaml", template);
        match env.resolve(&args) {
            Err(e) => {
                assert_eq!(e.option(), "spark.kubernetes.driver.podTemplateFile");
                assert!(
                    e.to_string()
                        .contains("cannot read https:// files on the submitting side"),
                    "{e}"
                );
            }
            Ok(_) => panic!("fetched without a fetcher"),
        }
        let args = [
            "--conf",
            "spark.kubernetes.executor.podTemplateFile=hdfs://nn/e.yaml",
            "--class",
            "X",
            "local:///a.jar",
        ];
        match FakeEnv::default().remote().resolve(&args) {
            Err(e) => {
                assert_eq!(e.option(), "spark.kubernetes.executor.podTemplateFile");
                assert!(
                    e.to_string().contains("cannot read hdfs:// files")
                        && !e.to_string().contains('\n'),
                    "{e}"
                );
            }
            Ok(_) => panic!("read an hdfs:// template"),
        }
    }

    #[test]
    fn app_name_falls_back_to_class_then_file() {
        assert_eq!(
            request(&["--class", "a.B", "local:///x.jar"])
                .conf
                .get("spark.app.name"),
            Some("a.B")
        );
        let named = request(&[
            "--conf",
            "spark.app.name=conf",
            "--class",
            "a.B",
            "local:///x.jar",
        ]);
        assert_eq!(named.conf.get("spark.app.name"), Some("conf"));
        assert_eq!(
            request(&["local:///x/job.py"]).conf.get("spark.app.name"),
            Some("job.py")
        );
    }

    #[test]
    fn masters() {
        let table = [
            ("k8s://https://h:443", Ok("k8s://https://h:443")),
            (
                "k8s://http://127.0.0.1:8080",
                Ok("k8s://http://127.0.0.1:8080"),
            ),
            ("k8s://h:6443", Ok("k8s://https://h:6443")),
            ("k8s://HTTPS://h", Ok("k8s://HTTPS://h")),
            (
                "k8s://ftp://h",
                Err("Invalid Kubernetes master scheme: ftp found in URL: ftp://h"),
            ),
            (
                "yarn",
                Err(
                    "sparkube submits to Kubernetes only: the master must start with k8s:// (got yarn)",
                ),
            ),
            ("local[*]", Err("sparkube submits to Kubernetes only")),
        ];
        for (master, expected) in table {
            let got = normalize_master(master, "--master").map_err(|e| e.to_string());
            match (got, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{master}: {got}"),
                (got, want) => panic!("{master}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn default_master_from_kubeconfig() -> Result<()> {
        let kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: b\n\
            clusters:\n- name: c1\n  cluster: {server: 'https://one:6443'}\n- name: c2\n  cluster: {server: 'https://two:6443'}\n\
            contexts:\n- name: a\n  context: {cluster: c1}\n- name: b\n  context: {cluster: c2, namespace: x}\n";
        let args = ["--class", "A", "local:///a.jar"];
        let via_home = FakeEnv::default()
            .var("HOME", "/home/u")
            .file("/home/u/.kube/config", kubeconfig);
        assert_eq!(
            via_home.resolve(&args)?.conf.get("spark.master"),
            Some("k8s://https://two:6443")
        );
        let via_var = FakeEnv::default()
            .var("KUBECONFIG", "/missing:/k")
            .file("/k", kubeconfig);
        assert_eq!(
            via_var.resolve(&args)?.conf.get("spark.master"),
            Some("k8s://https://two:6443")
        );
        let none = FakeEnv::default();
        assert_eq!(
            none.resolve(&args)?.conf.get("spark.master"),
            Some("k8s://https://kubernetes.default.svc")
        );
        let from_env = FakeEnv::default().var("MASTER", "k8s://env:1");
        assert_eq!(
            from_env.resolve(&args)?.conf.get("spark.master"),
            Some("k8s://https://env:1")
        );
        Ok(())
    }

    #[test]
    fn precedence_flags_then_conf_then_properties_file_then_defaults() -> Result<()> {
        let env = FakeEnv::default()
            .var("SPARK_CONF_DIR", "/conf")
            .file("/conf/spark-defaults.conf", "spark.a defaults\nspark.b defaults\nspark.c defaults\n")
            .file("/props", "spark.a props\nspark.b=props\nspark.driver.memory 3g\nspark.app.name props\nnot.spark x\n");
        let with_file = env.resolve(&[
            "--properties-file",
            "/props",
            "--conf",
            "spark.a=conf",
            "--driver-memory",
            "1g",
            "--class",
            "A",
            "local:///a.jar",
        ])?;
        assert_eq!(with_file.conf.get("spark.a"), Some("conf"));
        assert_eq!(with_file.conf.get("spark.b"), Some("props"));
        assert_eq!(
            with_file.conf.get("spark.c"),
            None,
            "defaults are not read with --properties-file"
        );
        assert_eq!(with_file.conf.get("spark.driver.memory"), Some("1g"));
        assert_eq!(with_file.conf.get("spark.app.name"), Some("props"));
        assert_eq!(with_file.conf.get("not.spark"), None);

        let both = env.resolve(&[
            "--properties-file",
            "/props",
            "--load-spark-defaults",
            "--class",
            "A",
            "local:///a.jar",
        ])?;
        assert_eq!(both.conf.get("spark.a"), Some("props"));
        assert_eq!(both.conf.get("spark.c"), Some("defaults"));

        let defaults_only =
            env.resolve(&["--conf", "spark.b=conf", "--class", "A", "local:///a.jar"])?;
        assert_eq!(defaults_only.conf.get("spark.a"), Some("defaults"));
        assert_eq!(defaults_only.conf.get("spark.b"), Some("conf"));

        let home = FakeEnv::default()
            .var("SPARK_HOME", "/spark")
            .file("/spark/conf/spark-defaults.conf", "spark.a home");
        assert_eq!(
            home.resolve(&["--class", "A", "local:///a.jar"])?
                .conf
                .get("spark.a"),
            Some("home")
        );
        Ok(())
    }

    #[test]
    fn environment_fallbacks() -> Result<()> {
        let env = FakeEnv::default()
            .var("SPARK_DRIVER_MEMORY", "5g")
            .var("SPARK_EXECUTOR_MEMORY", "6g")
            .var("SPARK_EXECUTOR_CORES", "7")
            .var("SPARK_LOCAL_DIRS", "/x,/y");
        let req = env.resolve(&["--class", "A", "local:///a.jar"])?;
        assert_eq!(req.conf.get("spark.driver.memory"), Some("5g"));
        assert_eq!(req.conf.get("spark.executor.memory"), Some("6g"));
        assert_eq!(req.conf.get("spark.executor.cores"), Some("7"));
        assert_eq!(req.env_local_dirs.as_deref(), Some("/x,/y"));
        Ok(())
    }

    #[test]
    fn memory_checks_count_bytes_as_spark_submit_does() {
        let req = request(&["--driver-memory", "1k", "--class", "A", "local:///a.jar"]);
        assert_eq!(req.conf.get("spark.driver.memory"), Some("1k"));
    }

    #[test]
    fn submission_id_from_conf_is_not_a_spark_key() {
        let req = request(&[
            "--conf",
            "sparkube.submission.id=abc",
            "--class",
            "A",
            "local:///a.jar",
        ]);
        assert_eq!(req.submission_id.as_deref(), Some("abc"));
        assert!(!req.conf.contains("sparkube.submission.id"));
    }

    #[test]
    fn warnings_name_keys_never_values() {
        let req = request(&[
            "--conf",
            "other.key=1",
            "--conf",
            "spark.hadoop.fs.s3a.secret.key=s3cr3t",
            "--conf",
            "spark.kubernetes.driver.secretKeyRef.DB_PASSWORD=db:password",
            "--class",
            "A",
            "local:///a.jar",
        ]);
        assert_eq!(req.warnings.len(), 2, "{:?}", req.warnings);
        assert_eq!(
            req.warnings[0],
            "Ignoring non-Spark config property: other.key"
        );
        assert!(req.warnings[1].starts_with("spark.hadoop.fs.s3a.secret.key is plain Spark conf"));
        assert!(req.warnings.iter().all(|w| !w.contains("s3cr3t")));
        // What is submitted keeps the value.
        assert_eq!(
            req.conf.get("spark.hadoop.fs.s3a.secret.key"),
            Some("s3cr3t")
        );
    }

    #[test]
    fn conf_dir_files_ship_except_defaults_and_templates() -> Result<()> {
        let env = FakeEnv::default()
            .var("SPARK_CONF_DIR", "/conf")
            .file("/conf/spark-defaults.conf", "spark.x 1")
            .file("/conf/log4j2.properties", "rootLogger.level = info\n")
            .file("/conf/foo.template", "t")
            .file("/conf/spark-env.sh", "x\n");
        let req = env.resolve(&["--class", "A", "local:///a.jar"])?;
        let names: Vec<&str> = req.conf_dir_files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["log4j2.properties", "spark-env.sh"]);
        Ok(())
    }

    #[test]
    fn templates_and_credentials_are_read() -> Result<()> {
        let template = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: main\n";
        let env = FakeEnv::default()
            .file("/d.yaml", template)
            .file("/e.yaml", template)
            .file("/ca", "CA");
        let req = env.resolve(&[
            "--conf",
            "spark.kubernetes.driver.podTemplateFile=/d.yaml",
            "--conf",
            "spark.kubernetes.executor.podTemplateFile=/e.yaml",
            "--conf",
            "spark.kubernetes.authenticate.driver.caCertFile=/ca",
            "--class",
            "A",
            "local:///a.jar",
        ])?;
        let containers = req
            .driver_pod_template
            .and_then(|p| p.spec)
            .map(|s| s.containers.len());
        assert_eq!(containers, Some(1));
        assert_eq!(
            req.executor_pod_template.map(|t| t.text).as_deref(),
            Some(template)
        );
        assert_eq!(req.driver_credentials.ca_cert.as_deref(), Some(&b"CA"[..]));
        Ok(())
    }

    #[test]
    fn local_files_are_shipped_and_named_by_their_driver_path() -> Result<()> {
        let env = FakeEnv::default()
            .file("/home/user/job.py", "import util\n")
            .file("/home/user/lib/util.py", "X = 1\n")
            .file("/data/util.py", "Y = 2\n")
            .file("/home/user/env.tar.gz", "gz");
        let req = env.resolve(&[
            "--py-files",
            "lib/util.py,file:///data/util.py,s3a://b/remote.zip",
            "--archives",
            "env.tar.gz#environment",
            "--files",
            "local:///etc/in-image.txt",
            "job.py",
        ])?;
        let dir = crate::ship::LOCAL_FILES_DIR;
        assert_eq!(req.main_resource, format!("file://{dir}/0/job.py"));
        assert_eq!(
            req.conf.get(keys::PY_FILES),
            Some(
                format!("file://{dir}/1/util.py,file://{dir}/2/util.py,s3a://b/remote.zip")
                    .as_str()
            )
        );
        assert_eq!(
            req.conf.get(keys::ARCHIVES),
            Some(format!("file://{dir}/3/env.tar.gz#environment").as_str())
        );
        assert_eq!(req.conf.get(keys::FILES), Some("local:///etc/in-image.txt"));
        let shipped: Vec<(&str, &str, &[u8])> = req
            .local_files
            .iter()
            .map(|f| (f.option.as_str(), f.name.as_str(), f.contents.as_slice()))
            .collect();
        assert_eq!(
            shipped,
            [
                ("primary resource", "job.py", &b"import util\n"[..]),
                ("--py-files", "util.py", b"X = 1\n"),
                ("--py-files", "util.py", b"Y = 2\n"),
                ("--archives", "env.tar.gz", b"gz"),
            ]
        );

        // A JAR application's shipped primary resource joins spark.jars under its new name.
        let env = FakeEnv::default().file("/home/user/app.jar", "PK");
        let req = env.resolve(&["--class", "A", "app.jar"])?;
        assert_eq!(
            req.conf.get(keys::JARS),
            Some(format!("file://{dir}/0/app.jar").as_str())
        );
        Ok(())
    }

    #[test]
    fn a_directory_of_python_code_ships_as_a_reproducible_zip() -> Result<()> {
        let env = FakeEnv::default()
            .file(
                "/home/user/shapes/__init__.py",
                "from .square import square\n",
            )
            .file(
                "/home/user/shapes/square.py",
                "def square(x):\n    return x * x\n",
            )
            .file(
                "/home/user/shapes/__pycache__/square.cpython-311.pyc",
                "bytecode",
            )
            .file("/home/user/shapes/.hidden", "x")
            .file("/home/user/src/tool.py", "T = 1\n")
            .file("/home/user/job.py", "import shapes\n");
        let args = ["--py-files", "./shapes/,src", "job.py"];
        let req = env.resolve(&args)?;
        let dir = crate::ship::LOCAL_FILES_DIR;
        assert_eq!(
            req.conf.get(keys::PY_FILES),
            Some(format!("file://{dir}/1/shapes.zip,file://{dir}/2/src.zip").as_str())
        );
        let entries = |bytes: &[u8]| -> Vec<String> {
            let archive = zip::ZipArchive::new(io::Cursor::new(bytes.to_vec()));
            let archive = archive.unwrap_or_else(|e| panic!("not a zip: {e}"));
            archive
                .file_names()
                .map(|n| n.map(|n| n.into_owned()).unwrap_or_else(|e| panic!("{e}")))
                .collect()
        };
        let mut package = entries(&req.local_files[1].contents);
        package.sort();
        // A package keeps its name; a source root's files go to the top.
        assert_eq!(package, ["shapes/__init__.py", "shapes/square.py"]);
        assert_eq!(entries(&req.local_files[2].contents), ["tool.py"]);
        // The same tree gives the same bytes.
        let again = env.resolve(&args)?;
        assert_eq!(again.local_files[1].contents, req.local_files[1].contents);
        Ok(())
    }

    #[test]
    fn settings_check_the_conf_without_reading_local_files() -> Result<()> {
        let args = [
            "--master",
            "k8s://https://api:6443",
            "--conf",
            "spark.kubernetes.file.upload.path=s3a://bucket/up",
            "--driver-memory",
            "2g",
            "--archives",
            "env.tar.gz#environment",
            "job.py",
        ];
        let env = FakeEnv::default().file("/home/user/job.py", "print(1)\n");
        let parsed = crate::parse_submit_args(&args)?;
        let conf = env.with(|e| SubmitRequest::settings(&parsed, e))?;
        assert_eq!(conf.get(keys::MASTER), Some("k8s://https://api:6443"));
        assert_eq!(conf.get(keys::APP_NAME), Some("job.py"));
        assert_eq!(conf.get("spark.driver.memory"), Some("2g"));
        // Resolving reads the files: the missing one is refused there.
        let missing = env.resolve(&args).err().map(|e| e.to_string());
        assert!(
            missing.as_deref().is_some_and(|m| m.contains("env.tar.gz")),
            "{missing:?}"
        );
        // What the conf itself gets wrong, settings refuse as resolving does.
        let bad = crate::parse_submit_args(&["--driver-memory", "lots", "job.py"])?;
        assert!(env.with(|e| SubmitRequest::settings(&bad, e)).is_err());
        Ok(())
    }

    #[test]
    fn uploads_are_planned_as_spark_submit_names_them() -> Result<()> {
        let env = FakeEnv::default()
            .file("/home/user/job.py", "import util\n")
            .file("/home/user/lib/util.py", "X = 1\n")
            .file("/home/user/shapes/__init__.py", "S = 1\n")
            .file("/home/user/env.tar.gz", "gz")
            .file("/home/user/dep.jar", "PK");
        let args = [
            "--conf",
            "spark.kubernetes.file.upload.path=s3a://bucket/up",
            "--py-files",
            "local:///opt/x.zip,lib/util.py,shapes",
            "--archives",
            "env.tar.gz#environment",
            "--files",
            "https://h/remote.txt,lib/util.py",
            "job.py",
        ];
        let req = env.resolve(&args)?;
        let id = |text: &str| {
            let (sha, _) = crate::ship::digest(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            crate::ship::upload_id(&sha)
        };
        let (util, job, env_id) = (id("X = 1\n"), id("import util\n"), id("gz"));
        assert_eq!(req.main_resource, format!("s3a://bucket/up/{job}/job.py"));
        let py_files = req.conf.get(keys::PY_FILES).unwrap_or_default();
        let py_files: Vec<&str> = py_files.split(',').collect();
        // Uploaded URIs first, then the others, as spark-submit lists them.
        assert_eq!(py_files[0], format!("s3a://bucket/up/{util}/util.py"));
        assert!(py_files[1].ends_with("/shapes.zip"), "{py_files:?}");
        assert_eq!(py_files[2], "local:///opt/x.zip");
        assert_eq!(
            req.conf.get(keys::FILES),
            Some(format!("s3a://bucket/up/{util}/util.py,https://h/remote.txt").as_str())
        );
        assert_eq!(
            req.conf.get(keys::ARCHIVES),
            Some(format!("s3a://bucket/up/{env_id}/env.tar.gz#environment").as_str())
        );
        // Nothing in the ConfigMap; util.py once although named twice; the zip made here.
        assert!(req.local_files.is_empty());
        let planned: Vec<(&str, u64, bool)> = req
            .uploads
            .iter()
            .map(|u| (u.option.as_str(), u.size, u.contents.is_some()))
            .collect();
        assert_eq!(
            planned,
            [
                ("primary resource", 12, false),
                ("--files", 6, false),
                ("--py-files", req.uploads[2].size, true),
                ("--archives", 2, false),
            ]
        );
        // The same contents, the same URIs.
        assert_eq!(env.resolve(&args)?.conf, req.conf);

        // A JAR application's uploaded JAR is among the uploaded jars; the driver runs
        // spark-submit's `spark-internal`. A file: upload path writes archives as `file:/`.
        let req = env.resolve(&[
            "--conf",
            "spark.kubernetes.file.upload.path=file:///store",
            "--jars",
            "https://h/r.jar",
            "--archives",
            "env.tar.gz#e",
            "--class",
            "A",
            "dep.jar",
        ])?;
        let dep = id("PK");
        assert_eq!(req.main_resource, NO_RESOURCE);
        assert_eq!(
            req.conf.get(keys::JARS),
            Some(format!("file:///store/{dep}/dep.jar,https://h/r.jar").as_str())
        );
        assert_eq!(
            req.conf.get(keys::ARCHIVES),
            Some(format!("file:/store/{env_id}/env.tar.gz#e").as_str())
        );
        Ok(())
    }

    #[test]
    fn local_files_that_cannot_ship_are_refused() {
        let big = "x".repeat(crate::ship::CONFIG_MAP_LIMIT / 2 + 1);
        let env = FakeEnv::default()
            .file("/home/user/a.py", &big)
            .file("/home/user/b.py", &big);
        let table: [(&[&str], &str, &str); 2] = [
            (
                &["--py-files", "b.py", "a.py"],
                "--py-files",
                "--py-files: the local files of this submission take 1025 KiB, more than the 1024 KiB",
            ),
            (
                &[
                    "--conf",
                    "spark.kubernetes.file.upload.path=hdfs://nn/up",
                    "a.py",
                ],
                "spark.kubernetes.file.upload.path",
                "spark.kubernetes.file.upload.path: sparkube cannot upload to hdfs://nn/up (scheme hdfs://)",
            ),
        ];
        for (args, option, message) in table {
            match env.resolve(args) {
                Ok(_) => panic!("{args:?} accepted"),
                Err(err) => {
                    assert_eq!(err.option(), option, "{args:?}: {err}");
                    assert!(err.to_string().starts_with(message), "{args:?}: {err}");
                }
            }
        }
    }

    /// Every refusal of the resolution step, with the option it names and its message.
    #[test]
    fn errors() {
        let env = FakeEnv::default()
            .file(
                "/svc.yaml",
                "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
            )
            .file("/bad.yaml", "{not yaml: [")
            .file("/list.yaml", "- a\n");
        let cls = ["--class", "A", "local:///a.jar"];
        let table: &[(&[&str], &str, &str)] = &[
            (
                &["--driver-memory", "2 GB"],
                "--driver-memory",
                "Driver memory must be a positive number (--driver-memory = \"2 GB\")",
            ),
            (
                &["--driver-memory", "-1g"],
                "--driver-memory",
                "Driver memory must be a positive number",
            ),
            (
                &["--conf", "spark.driver.memory=abc"],
                "spark.driver.memory",
                "Driver memory must be a positive number",
            ),
            (
                &["--driver-memory", "0"],
                "--driver-memory",
                "Driver memory must be a positive number",
            ),
            (
                &["--executor-memory", "1.5g"],
                "--executor-memory",
                "Executor memory must be a positive number",
            ),
            (
                &["--driver-cores", "0"],
                "--driver-cores",
                "Driver cores must be a positive number",
            ),
            (
                &["--driver-cores", "1.5"],
                "--driver-cores",
                "Driver cores must be a positive number",
            ),
            (
                &["--executor-cores", "-1"],
                "--executor-cores",
                "Executor cores must be a positive number",
            ),
            (
                &["--conf", "spark.executor.cores=x"],
                "spark.executor.cores",
                "Executor cores must be a positive number",
            ),
            (
                &["--num-executors", "0"],
                "--num-executors",
                "Number of executors must be a positive number",
            ),
            (
                &["--conf", "spark.executor.instances=-2"],
                "spark.executor.instances",
                "Number of executors must be a positive number",
            ),
            (
                &[
                    "--conf",
                    "spark.dynamicAllocation.enabled=true",
                    "--num-executors",
                    "-1",
                ],
                "--num-executors",
                "Number of executors must be a non-negative number",
            ),
            (
                &["--total-executor-cores", "0"],
                "--total-executor-cores",
                "Total executor cores must be a positive number",
            ),
            (
                &["--deploy-mode", "client"],
                "--deploy-mode",
                "--deploy-mode: client deploy mode is not supported",
            ),
            (
                &["--deploy-mode", "both"],
                "--deploy-mode",
                "Deploy mode must be either client or cluster",
            ),
            (
                &["--driver-memory", "0k"],
                "--driver-memory",
                "Driver memory must be a positive number",
            ),
            (
                &["--master", "yarn"],
                "--master",
                "sparkube submits to Kubernetes only",
            ),
            (
                &["--conf", "spark.master=spark://h:7077"],
                "spark.master",
                "sparkube submits to Kubernetes only",
            ),
            (
                &["--proxy-user", "a", "--principal", "p"],
                "--proxy-user",
                "Only one of --proxy-user or --principal can be provided.",
            ),
            (
                &["--properties-file", "/nope"],
                "--properties-file",
                "could not read properties file /nope given by --properties-file",
            ),
            (
                &[
                    "--conf",
                    "spark.kubernetes.driver.podTemplateFile=/nope.yaml",
                ],
                "spark.kubernetes.driver.podTemplateFile",
                "could not read pod template /nope.yaml",
            ),
            (
                &[
                    "--conf",
                    "spark.kubernetes.executor.podTemplateFile=/svc.yaml",
                ],
                "spark.kubernetes.executor.podTemplateFile",
                "Could not load pod from template file /svc.yaml (spark.kubernetes.executor.podTemplateFile): it is a Service, not a Pod",
            ),
            (
                &[
                    "--conf",
                    "spark.kubernetes.driver.podTemplateFile=/bad.yaml",
                ],
                "spark.kubernetes.driver.podTemplateFile",
                "Could not load pod from template file /bad.yaml",
            ),
            (
                &[
                    "--conf",
                    "spark.kubernetes.driver.podTemplateFile=/list.yaml",
                ],
                "spark.kubernetes.driver.podTemplateFile",
                "it is not a mapping",
            ),
            (
                &[
                    "--conf",
                    "spark.kubernetes.authenticate.driver.clientKeyFile=/nope",
                ],
                "spark.kubernetes.authenticate.driver.clientKeyFile",
                "could not read credentials file /nope",
            ),
            (
                &["--jars", "/home/me/dep.jar"],
                "--jars",
                "could not read local file /home/me/dep.jar given by --jars",
            ),
            (
                &["--files", "file:///etc/x"],
                "--files",
                "could not read local file /etc/x given by --files",
            ),
            (
                &["--conf", "spark.submit.pyFiles=deps.zip"],
                "spark.submit.pyFiles",
                "could not read local file /home/user/deps.zip given by spark.submit.pyFiles",
            ),
        ];
        for (extra, option, message) in table {
            let args: Vec<&str> = extra.iter().chain(cls.iter()).copied().collect();
            match env.resolve(&args) {
                Ok(_) => panic!("{args:?} accepted"),
                Err(err) => {
                    assert_eq!(err.option(), *option, "{args:?}: {err}");
                    assert!(err.to_string().contains(message), "{args:?}: {err}");
                    assert!(!err.to_string().contains('\n'), "one line: {err}");
                }
            }
        }
        let resource_table: &[(&[&str], &str, &str)] = &[
            (
                &["--class", "A"],
                "primary resource",
                "Missing application resource.",
            ),
            (
                &["local:///a.jar"],
                "--class",
                "Failed to get main class in JAR local:///a.jar. Please specify one with --class.",
            ),
            (
                &["--class", "A", "app.jar"],
                "primary resource",
                "could not read local file /home/user/app.jar given by primary resource",
            ),
            (
                &["--kill", "pod"],
                "--kill/--status/--version/--help",
                "these arguments ask for an action",
            ),
        ];
        for (args, option, message) in resource_table {
            match env.resolve(args) {
                Ok(_) => panic!("{args:?} accepted"),
                Err(err) => {
                    assert_eq!(err.option(), *option, "{args:?}: {err}");
                    assert!(err.to_string().starts_with(message), "{args:?}: {err}");
                }
            }
        }
    }
}
