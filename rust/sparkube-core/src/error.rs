//! The error of everything that turns user input into Kubernetes objects: argument parsing,
//! conf resolution, `SparkApp` specs and the resource builders.
//!
//! Every error is one line that names the offending option (a spark-submit flag, a Spark conf
//! key or a `SparkApp` field) and, where Spark has its own wording for the problem, uses it.

use std::path::PathBuf;

/// Bad input to a submission, found before anything is sent to Kubernetes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option has a value that cannot be used, or a required option is missing.
    #[error("{message}")]
    Invalid {
        /// The offending flag (`--driver-memory`), conf key (`spark.driver.memory`) or spec field.
        option: String,
        /// One line describing the problem, naming the option.
        message: String,
    },
    /// A file named by an option could not be read.
    #[error("could not read {what} {path} given by {option}: {source}")]
    Read {
        /// The flag or conf key that named the file.
        option: String,
        /// What the file was expected to hold (`pod template`, `properties file`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Invalid`] for `option` with `message`.
    pub fn invalid(option: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            option: option.into(),
            message: message.into(),
        }
    }

    /// The error with the values of secret-looking keys of `conf` (see
    /// [`crate::redact::Redactor`]) replaced by [`crate::redact::REDACTED`] wherever the
    /// message quotes them, so that errors never show a secret.
    pub fn redact_values(self, conf: &crate::conf::SparkConf) -> Self {
        let redactor = crate::redact::Redactor::for_conf(conf);
        let secrets: Vec<&str> = conf
            .iter()
            .filter(|(k, v)| v.len() >= 3 && redactor.is_secret(k))
            .map(|(_, v)| v)
            .collect();
        if secrets.is_empty() {
            return self;
        }
        let scrub = |text: &str| {
            secrets.iter().fold(text.to_owned(), |t, s| {
                t.replace(s, crate::redact::REDACTED)
            })
        };
        match self {
            Error::Invalid { option, message } => Error::Invalid {
                option,
                message: scrub(&message),
            },
            read @ Error::Read { .. } => read,
        }
    }

    /// The error about `option` instead, named so in its message too: for a spec field
    /// that set the conf key the error first named.
    pub fn with_option(self, option: &str) -> Self {
        match self {
            Error::Invalid {
                option: old,
                message,
            } => Error::Invalid {
                message: message.replace(&old, option),
                option: option.to_owned(),
            },
            Error::Read {
                what, path, source, ..
            } => Error::Read {
                option: option.to_owned(),
                what,
                path,
                source,
            },
        }
    }

    /// The flag, conf key or spec field the error is about.
    pub fn option(&self) -> &str {
        match self {
            Error::Invalid { option, .. } | Error::Read { option, .. } => option,
        }
    }
}

/// The result of parsing, resolving and building.
pub type Result<T> = std::result::Result<T, Error>;
