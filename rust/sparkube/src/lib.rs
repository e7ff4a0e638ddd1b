//! sparkube: submit Apache Spark applications to Kubernetes exactly as
//! `spark-submit --deploy-mode cluster` does, without a JVM, and track them to the end.

/// The sparkube version, shared by the Rust library, the Python package and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod api;
pub mod build;
pub mod client;
pub mod conf;
pub mod error;
pub mod ids;
pub mod kill;
mod limit;
pub mod logs;
pub mod progress;
pub mod redact;
pub mod request;
mod serde_secs;
pub mod spec;
pub mod submit;
pub mod track;

pub use api::{ApiError, RetryPolicy};
pub use build::{Resources, build};
pub use client::{Client, ClientError, ConnectOptions};
pub use conf::{SparkConf, SubmitArgs, parse_submit_args};
pub use error::{Error, Result};
pub use ids::Ids;
pub use kill::{KillError, KillOptions, Killed, PodRef};
pub use logs::{LogError, LogOptions, LogStream};
pub use progress::{Progress, SparkUi};
pub use redact::{REDACTED, Redactor};
pub use request::{ResourceType, SubmitRequest};
pub use spec::AppSpec;
pub use submit::{AppHandle, SubmitError};
pub use track::state::{AppState, AppStatus};
pub use track::{AppWatch, TrackError, WaitOptions};
