//! sparkube-core: what `spark-submit --deploy-mode cluster` would create, computed without I/O.
//!
//! Everything here is a function of its input: a spark-submit argument list or a `SparkApp`
//! spec is parsed and resolved into a [`SubmitRequest`] (the submitting environment, its
//! variables and files, is passed in as an [`request::Environment`]), and [`build`] turns a
//! request and its [`Ids`] into the Kubernetes objects of the submission. No network, no
//! clock, no async runtime: the `sparkube` crate sends what this crate builds.

pub mod build;
pub mod conf;
pub mod error;
pub mod ids;
pub mod preflight;
pub mod redact;
pub mod request;
pub mod session;
pub mod ship;
pub mod spec;

pub use build::{Resources, build};
pub use conf::{SparkConf, SubmitArgs, parse_submit_args};
pub use error::{Error, Result};
pub use ids::Ids;
pub use redact::{REDACTED, Redactor};
pub use request::{ResourceType, SubmitRequest};
pub use spec::AppSpec;
