//! Sessions: a Spark Connect server as the driver's program, for clients that open a
//! `SparkSession` against the cluster instead of submitting a finished program.
//!
//! spark-submit refuses the Connect server in cluster mode ("Cluster deploy mode is not
//! applicable to Spark Connect server"), because its `start-connect-server.sh` expects the
//! server on the submitting machine. The Kubernetes operators run it as the driver anyway, and so
//! does sparkube, with one difference: Spark's `SparkConnectServer` runs until killed, so a
//! client that goes away (a dead kernel, a sleeping laptop) would leave it and its executors
//! running. The driver's program is therefore [`SERVER_PROGRAM`], a small PySpark program
//! shipped with the submission like any local file (see [`crate::ship`]): it starts the same
//! Connect service in its SparkContext and stops it when Spark's Connect managers report no
//! client request for [`IDLE_TIMEOUT_KEY`]. The pod carries the label [`SESSION_LABEL`] with
//! the session's name, which is how sessions are told apart from batch applications and found
//! again by name.

use crate::error::{Error, Result};
use crate::spec::AppSpec;

/// The Spark Connect server's main class.
pub const CONNECT_SERVER_CLASS: &str = "org.apache.spark.sql.connect.service.SparkConnectServer";

/// Spark's primary resource for a main class found on its own classpath, or for a driver whose
/// JAR spark-submit uploaded and listed in `spark.jars` (`SparkLauncher.NO_RESOURCE`).
pub const NO_RESOURCE: &str = "spark-internal";

/// The driver's program: the Connect server, stopped from inside the cluster once idle.
pub const SERVER_PROGRAM: &str = include_str!("session_server.py");

/// The line [`SERVER_PROGRAM`] prints once the Connect service listens: the client follows
/// the driver log for it and probes at once, instead of finding the server on a polling tick.
pub const READY_LINE: &str = "sparkube: Spark Connect server listening";

/// Where [`SERVER_PROGRAM`] is read from when the submission is resolved: no file of the
/// submitting machine, the resolving environment serves the text above for this path (see
/// `sparkube::local::resolve_session`). Its file name is the program's name in the driver.
pub const SERVER_PROGRAM_PATH: &str = "/sparkube-session/sparkube_session.py";

/// The conf key of the idle timeout (a Spark duration, `30min`, `90s`): no client request for
/// that long ends the server.
pub const IDLE_TIMEOUT_KEY: &str = "spark.sparkube.session.idleTimeout";

/// The idle timeout when the conf sets none.
pub const DEFAULT_IDLE_TIMEOUT: &str = "30min";

/// The driver label naming a session; its value is the session's name.
pub const SESSION_LABEL: &str = "sparkube.io/session";

/// The conf key of the Connect server's gRPC port.
pub const CONNECT_PORT_KEY: &str = "spark.connect.grpc.binding.port";

/// The Connect server's port: Spark's default, and the `spark-connect` port Spark already
/// declares on the driver pod and service.
pub const CONNECT_PORT: u16 = 15002;

/// The driver's Spark application that serves a session named by `spec.name`:
/// [`SERVER_PROGRAM`] (from [`SERVER_PROGRAM_PATH`]), on [`CONNECT_PORT`] unless the conf
/// names another port, idle for at most [`DEFAULT_IDLE_TIMEOUT`] unless the conf sets
/// [`IDLE_TIMEOUT_KEY`], labelled with [`SESSION_LABEL`]. The name must be a DNS label (it is a
/// label value and the prefix of the pod's name); `application` and `main_class` must be empty.
pub fn session_spec(mut spec: AppSpec) -> Result<AppSpec> {
    if !crate::build::names::is_dns_label(&spec.name) {
        return Err(Error::invalid(
            "name",
            format!(
                "session name {:?} must be a DNS label: at most 63 lower-case letters, digits and \
                 '-', starting and ending with a letter or digit",
                spec.name
            ),
        ));
    }
    if !spec.application.is_empty() && spec.application != SERVER_PROGRAM_PATH {
        return Err(Error::invalid(
            "application",
            format!(
                "a session runs the Spark Connect server, not {:?}: leave application empty and \
                 ship code with deps.py_files or deps.jars",
                spec.application
            ),
        ));
    }
    if let Some(class) = spec.main_class.as_deref() {
        return Err(Error::invalid(
            "main_class",
            format!(
                "a session runs the Spark Connect server ({CONNECT_SERVER_CLASS}), not {class}: \
                 leave main_class empty"
            ),
        ));
    }
    spec.application = SERVER_PROGRAM_PATH.to_owned();
    spec.conf
        .entry(IDLE_TIMEOUT_KEY.to_owned())
        .or_insert_with(|| DEFAULT_IDLE_TIMEOUT.to_owned());
    spec.driver
        .labels
        .insert(SESSION_LABEL.to_owned(), spec.name.clone());
    spec.conf
        .entry(CONNECT_PORT_KEY.to_owned())
        .or_insert_with(|| CONNECT_PORT.to_string());
    if let Some(port) = spec.conf.get(CONNECT_PORT_KEY)
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(Error::invalid(
            CONNECT_PORT_KEY,
            format!("{CONNECT_PORT_KEY}={port} is not a port number"),
        ));
    }
    Ok(spec)
}

/// The Connect port a session's conf sets (see [`session_spec`]).
pub fn connect_port(conf: &crate::SparkConf) -> u16 {
    conf.get(CONNECT_PORT_KEY)
        .and_then(|p| p.parse().ok())
        .unwrap_or(CONNECT_PORT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> AppSpec {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("bad spec: {e}"))
    }

    #[test]
    fn a_session_runs_the_connect_server_labelled_with_its_name() {
        let s = session_spec(spec(
            serde_json::json!({"name": "nb", "application": "", "image": "spark:4"}),
        ));
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.application, SERVER_PROGRAM_PATH);
        assert_eq!(s.main_class, None);
        assert_eq!(
            s.conf.get(IDLE_TIMEOUT_KEY).map(String::as_str),
            Some(DEFAULT_IDLE_TIMEOUT)
        );
        assert_eq!(
            s.driver.labels.get(SESSION_LABEL).map(String::as_str),
            Some("nb")
        );
        assert_eq!(
            s.conf.get(CONNECT_PORT_KEY).map(String::as_str),
            Some("15002")
        );
    }

    #[test]
    fn the_server_program_prints_the_ready_line() {
        assert!(SERVER_PROGRAM.contains(&format!("\"{READY_LINE}")));
    }

    #[test]
    fn refuses_what_a_session_cannot_be() {
        let cases = [
            (
                serde_json::json!({"name": "Not A Label", "application": ""}),
                "name",
            ),
            (
                serde_json::json!({"name": "nb", "application": "local:///a.py"}),
                "application",
            ),
            (
                serde_json::json!({"name": "nb", "application": "", "main_class": "Pi"}),
                "main_class",
            ),
            (
                serde_json::json!({"name": "nb", "application": "", "conf": {CONNECT_PORT_KEY: "x"}}),
                CONNECT_PORT_KEY,
            ),
        ];
        for (input, option) in cases {
            match session_spec(spec(input.clone())) {
                Err(Error::Invalid { option: o, .. }) => assert_eq!(o, option, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
