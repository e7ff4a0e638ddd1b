//! sparkube: submit Apache Spark applications to Kubernetes exactly as
//! `spark-submit --deploy-mode cluster` does, without a JVM, and track them to the end.

/// The sparkube version, shared by the Rust library, the Python package and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
