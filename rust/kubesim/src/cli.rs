//! Command-line parsing for the `kubesim` binary (pure: arguments in, a command out).

use std::path::PathBuf;

use thiserror::Error;

use crate::cluster::{Options, RuntimeKind};

/// Errors in the command line.
#[derive(Debug, Error, PartialEq)]
pub enum Error {
    /// An option needs a value.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// An option's value is not valid.
    #[error("invalid value {value:?} for {option}: {why}")]
    Invalid {
        /// The option.
        option: String,
        /// The value.
        value: String,
        /// Why.
        why: String,
    },
    /// An option nobody knows.
    #[error("unknown option {0} (see --help)")]
    Unknown(String),
}

/// Result alias for parsing.
pub type Result<T> = std::result::Result<T, Error>;

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Run the server.
    Serve(Options),
    /// Print a ServiceAccount token obtained from a running kubesim.
    Token {
        /// Namespace.
        namespace: String,
        /// ServiceAccount name.
        name: String,
        /// Kubeconfig of the running kubesim.
        kubeconfig: Option<PathBuf>,
        /// Token lifetime in seconds.
        seconds: i64,
    },
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// Usage text.
pub const USAGE: &str = "usage: kubesim [--listen ADDR] [--kubeconfig PATH] [--runtime simulated|process] [--images FILE]
               [--state-dir DIR] [--nodes N] [--node-cpu QTY] [--node-memory QTY] [--node-pods N] [--rbac] [--token TOKEN]
               [--watch-history N] [--bookmark-seconds N] [--audit-log-path FILE]
       kubesim token NAMESPACE/SERVICEACCOUNT [--kubeconfig PATH] [--duration SECONDS]
";

fn parse_num<T: std::str::FromStr>(option: &str, value: &str) -> Result<T> {
    value.parse().map_err(|_| Error::Invalid {
        option: option.into(),
        value: value.into(),
        why: "not a number".into(),
    })
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command> {
    let mut it = args.iter().peekable();
    let take = |it: &mut std::iter::Peekable<std::slice::Iter<'_, String>>,
                opt: &str,
                inline: Option<String>|
     -> Result<String> {
        match inline {
            Some(v) => Ok(v),
            None => it
                .next()
                .cloned()
                .ok_or_else(|| Error::MissingValue(opt.into())),
        }
    };
    if args.first().map(String::as_str) == Some("token") {
        it.next();
        let target = it
            .next()
            .ok_or_else(|| Error::MissingValue("token".into()))?;
        let (ns, name) = target.split_once('/').ok_or_else(|| Error::Invalid {
            option: "token".into(),
            value: target.clone(),
            why: "expected NAMESPACE/SERVICEACCOUNT".into(),
        })?;
        let mut kubeconfig = None;
        let mut seconds = 3600;
        while let Some(a) = it.next() {
            let (opt, inline) = match a.split_once('=') {
                Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            match opt.as_str() {
                "--kubeconfig" => kubeconfig = Some(PathBuf::from(take(&mut it, &opt, inline)?)),
                "--duration" => seconds = parse_num(&opt, &take(&mut it, &opt, inline)?)?,
                _ => return Err(Error::Unknown(opt)),
            }
        }
        return Ok(Command::Token {
            namespace: ns.into(),
            name: name.into(),
            kubeconfig,
            seconds,
        });
    }
    let mut o = Options::default();
    while let Some(a) = it.next() {
        let (opt, inline) = match a.split_once('=') {
            Some((opt, v)) if opt.starts_with("--") => (opt.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        match opt.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--listen" => o.listen = take(&mut it, &opt, inline)?,
            "--kubeconfig" => o.kubeconfig = Some(PathBuf::from(take(&mut it, &opt, inline)?)),
            "--state-dir" => o.state_dir = Some(PathBuf::from(take(&mut it, &opt, inline)?)),
            "--runtime" => {
                let v = take(&mut it, &opt, inline)?;
                o.runtime = match v.as_str() {
                    "simulated" => RuntimeKind::Simulated,
                    "process" => RuntimeKind::Process,
                    _ => {
                        return Err(Error::Invalid {
                            option: opt,
                            value: v,
                            why: "expected simulated or process".into(),
                        });
                    }
                };
            }
            "--images" => o.images = Some(PathBuf::from(take(&mut it, &opt, inline)?)),
            "--nodes" => o.nodes = parse_num(&opt, &take(&mut it, &opt, inline)?)?,
            "--node-cpu" | "--node-memory" => {
                let v = take(&mut it, &opt, inline)?;
                if crate::quantity::parse(&v).is_none() {
                    return Err(Error::Invalid {
                        option: opt,
                        value: v,
                        why: "not a quantity".into(),
                    });
                }
                if opt == "--node-cpu" {
                    o.node_cpu = v
                } else {
                    o.node_memory = v
                }
            }
            "--node-pods" => o.node_pods = parse_num(&opt, &take(&mut it, &opt, inline)?)?,
            "--rbac" => o.rbac = true,
            "--audit-log-path" => {
                o.audit_log_path = Some(PathBuf::from(take(&mut it, &opt, inline)?))
            }
            "--token" => o.token = Some(take(&mut it, &opt, inline)?),
            "--watch-history" => o.watch_history = parse_num(&opt, &take(&mut it, &opt, inline)?)?,
            "--bookmark-seconds" => {
                o.bookmark_seconds = parse_num(&opt, &take(&mut it, &opt, inline)?)?
            }
            _ => return Err(Error::Unknown(opt)),
        }
    }
    Ok(Command::Serve(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn serve_options() {
        let Ok(Command::Serve(o)) = parse(&args(
            "--listen 127.0.0.1:0 --kubeconfig /tmp/k --nodes=3 --node-memory 8Gi --rbac --state-dir /s --audit-log-path /a.log",
        )) else {
            panic!("expected serve");
        };
        assert_eq!(o.listen, "127.0.0.1:0");
        assert_eq!(o.nodes, 3);
        assert_eq!(o.node_memory, "8Gi");
        assert!(o.rbac);
        assert_eq!(o.state_dir, Some(PathBuf::from("/s")));
        assert_eq!(o.audit_log_path, Some(PathBuf::from("/a.log")));
    }

    #[test]
    fn errors_and_token() {
        assert_eq!(
            parse(&args("--nodes")),
            Err(Error::MissingValue("--nodes".into()))
        );
        assert!(matches!(
            parse(&args("--node-cpu lots")),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(
            parse(&args("--bogus")),
            Err(Error::Unknown("--bogus".into()))
        );
        assert_eq!(
            parse(&args("token ns/sa --duration 60")),
            Ok(Command::Token {
                namespace: "ns".into(),
                name: "sa".into(),
                kubeconfig: None,
                seconds: 60
            })
        );
        assert!(parse(&args("token nope")).is_err());
    }
}
