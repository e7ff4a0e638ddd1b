//! The submitting machine as spark-submit consults it: this process's environment variables
//! and file system, handed to the pure resolution of `sparkube-core`.

use std::io;
use std::path::{Path, PathBuf};

use crate::conf::SubmitArgs;
use crate::error::Result;
use crate::request::{Environment, SubmitRequest};
use crate::spec::AppSpec;

fn read_from_disk(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}

fn list_from_disk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect()
}

/// This process's environment variables and file system.
pub fn environment() -> Environment<'static> {
    Environment {
        vars: std::env::vars().collect(),
        read: &read_from_disk,
        list: &list_from_disk,
        cwd: std::env::current_dir().unwrap_or_default(),
    }
}

/// Resolves parsed spark-submit arguments here, as spark-submit would on this machine (see
/// [`SubmitRequest::resolve`]).
pub fn resolve_args(args: SubmitArgs) -> Result<SubmitRequest> {
    SubmitRequest::resolve(args, &environment())
}

/// Resolves a `SparkApp` spec here (see [`SubmitRequest::from_spec`]).
pub fn resolve_spec(spec: AppSpec) -> Result<SubmitRequest> {
    SubmitRequest::from_spec(spec, &environment())
}
