//! sparkube: submit Apache Spark applications to Kubernetes exactly as
//! `spark-submit --deploy-mode cluster` does, without a JVM, and track them to the end.
//!
//! The objects of a submission are computed by `sparkube-core` (re-exported here as `conf`,
//! `build`, `spec`, ...), which does no I/O; this crate sends them, watches the apps, reads
//! logs and progress, and kills.

/// The sparkube version, shared by the Rust library, the Python package and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use sparkube_core::{build, conf, error, ids, redact, request, spec};

pub mod api;
pub mod cause;
pub mod client;
pub mod kill;
mod limit;
pub mod local;
pub mod logs;
pub mod metrics;
pub mod preflight;
pub mod progress;
pub mod remote;
pub mod report;
mod serde_secs;
pub mod session;
pub mod submit;
pub mod track;
mod unauthorized;
pub mod upload;

pub use api::{ApiError, RetryPolicy};
pub use build::Resources;
pub use client::{Client, ClientError, ConnectOptions};
pub use conf::{SparkConf, SubmitArgs, parse_submit_args};
pub use error::{Error, Result};
pub use ids::Ids;
pub use kill::{KillError, KillOptions, Killed, PodRef};
pub use logs::{LogError, LogOptions, LogStream};
pub use preflight::{PreflightError, PreflightReport};
pub use progress::{Progress, SparkUi};
pub use redact::{REDACTED, Redactor};
pub use report::Report;
pub use request::{ResourceType, SubmitRequest};
pub use session::{Session, SessionError, SessionOptions};
pub use spec::AppSpec;
pub use submit::{AppHandle, SubmitError};
pub use track::state::{AppState, AppStatus};
pub use track::{AppWatch, TrackError, WaitOptions};
