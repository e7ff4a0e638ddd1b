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

fn open_on_disk(path: &Path) -> io::Result<Box<dyn io::Read>> {
    Ok(Box::new(io::BufReader::new(std::fs::File::open(path)?)))
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

fn files_under_on_disk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// This process's environment variables and file system, with relative paths of local files
/// resolving against `base_dir`, else the working directory.
pub fn environment(base_dir: Option<&Path>) -> Environment<'static> {
    let cwd = std::env::current_dir().unwrap_or_default();
    Environment {
        vars: std::env::vars().collect(),
        read: &read_from_disk,
        open: &open_on_disk,
        list: &list_from_disk,
        files_under: &files_under_on_disk,
        cwd: base_dir.map_or(cwd.clone(), |dir| cwd.join(dir)),
        // Pod templates in object stores or on web servers, read as spark-submit reads them.
        fetch: Some(&crate::remote::fetch),
    }
}

/// Resolves parsed spark-submit arguments here, as spark-submit would on this machine (see
/// [`SubmitRequest::resolve`]); relative local paths resolve against `base_dir`, else the
/// working directory.
pub fn resolve_args(args: SubmitArgs, base_dir: Option<&Path>) -> Result<SubmitRequest> {
    SubmitRequest::resolve(args, &environment(base_dir))
}

/// The conf a submission of `args` runs with here, checked but without reading its local
/// files (see [`SubmitRequest::settings`]).
pub fn settings_of_args(args: &SubmitArgs) -> Result<sparkube_core::SparkConf> {
    SubmitRequest::settings(args, &environment(None))
}

/// Resolves a `SparkApp` spec here (see [`SubmitRequest::from_spec`]), relative local paths
/// against `base_dir`, else the working directory.
pub fn resolve_spec(spec: AppSpec, base_dir: Option<&Path>) -> Result<SubmitRequest> {
    SubmitRequest::from_spec(spec, &environment(base_dir))
}

/// Resolves a session's spec (see [`crate::session::session_spec`]) here, as
/// [`resolve_spec`] does, with the session's server program served for its path
/// ([`crate::session::SERVER_PROGRAM_PATH`]) from the text compiled in, so it ships with the
/// submission like any local file and the installed program always matches this client.
pub fn resolve_session(spec: AppSpec, base_dir: Option<&Path>) -> Result<SubmitRequest> {
    use crate::session::{SERVER_PROGRAM, SERVER_PROGRAM_PATH, session_spec};
    let spec = session_spec(spec)?;
    let read = |path: &Path| {
        if path == Path::new(SERVER_PROGRAM_PATH) {
            Ok(SERVER_PROGRAM.as_bytes().to_vec())
        } else {
            read_from_disk(path)
        }
    };
    let env = Environment {
        read: &read,
        ..environment(base_dir)
    };
    SubmitRequest::from_spec(spec, &env)
}
