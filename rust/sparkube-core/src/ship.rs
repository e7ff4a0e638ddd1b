//! Local code shipped with a submission: files of the submitting machine named as the primary
//! resource or in `spark.jars`, `spark.files`, `spark.submit.pyFiles` and `spark.archives`.
//!
//! spark-submit uploads such files to `spark.kubernetes.file.upload.path` and refuses them
//! without one. sparkube carries small ones (up to [`CONFIG_MAP_LIMIT`] in all) in a ConfigMap
//! owned by the driver pod, mounted in the driver under [`LOCAL_FILES_DIR`], and rewrites their
//! URIs to `file://` paths there: the driver runs its primary resource from that path and
//! serves the rest to its executors, as it serves any `file:` dependency.
//!
//! With an upload path, this module plans spark-submit's upload instead ([`Upload`]): which
//! files go where and the URIs that name them; the `sparkube` crate sends them. The directory
//! of each file is named after its contents ([`upload_id`]), where spark-submit draws a
//! random UUID, so that an unchanged file has an address that is already there.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::conf::keys;
use crate::error::{Error, Result};
use crate::request::Environment;

/// Where the driver finds the shipped files, one directory per file.
pub const LOCAL_FILES_DIR: &str = "/var/sparkube/files";
/// The most bytes of local files one submission carries in its ConfigMap.
pub const CONFIG_MAP_LIMIT: usize = 1_048_576;

/// A file of the submitting machine that travels with the application.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFile {
    /// The option that named it (`--py-files`, `spark.jars`, `primary resource`, ...).
    pub option: String,
    /// Its path on the submitting machine.
    pub path: PathBuf,
    /// Its file name, kept in the driver.
    pub name: String,
    /// Its contents.
    pub contents: Vec<u8>,
}

impl LocalFile {
    /// The file's path in the driver: its own directory under [`LOCAL_FILES_DIR`].
    pub fn driver_path(&self, index: usize) -> String {
        format!("{LOCAL_FILES_DIR}/{index}/{}", self.name)
    }
}

/// A file of the submitting machine that spark-submit would upload to
/// `spark.kubernetes.file.upload.path`, and the URI it gets there.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The option that named it (`--py-files`, `spark.jars`, `primary resource`, ...).
    pub option: String,
    /// Its path on the submitting machine.
    pub path: PathBuf,
    /// The bytes to send when they were made here (a zipped directory); `None` when they
    /// are the file at `path`, streamed from disk when sent (it may be larger than memory).
    pub contents: Option<Vec<u8>>,
    /// Its size in bytes.
    pub size: u64,
    /// Where it goes: `<upload path>/spark-upload-<id>/<file name>`, as spark-submit names
    /// it, with an `<id>` of the contents ([`upload_id`]).
    pub target: String,
}

/// The schemes sparkube uploads to, as `spark.kubernetes.file.upload.path` names them.
pub const UPLOAD_SCHEMES: [&str; 6] = ["s3a", "s3", "gs", "abfs", "abfss", "file"];

/// The directory name of an upload: `spark-upload-` and the first 128 bits of the BLAKE3 hash
/// of its contents in hex. spark-submit uses a random UUID; a name derived from the contents
/// lets a second submission of the same file find it already uploaded (one HEAD request)
/// and different files never share a name.
pub fn upload_id(hash: &[u8]) -> String {
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("spark-upload-{hex}")
}

/// The BLAKE3 hash and length of everything `reader` yields, read 256 KiB at a time. BLAKE3
/// hashes the chunks of a buffer side by side in SIMD lanes: about twice SHA-256's speed with
/// the CPU's SHA extensions, and the hash is most of what a second submission costs.
pub fn digest(mut reader: impl Read) -> io::Result<([u8; 32], u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hasher.finalize().into(), size))
}

/// The scheme of an upload path, if sparkube can upload there; else the error naming it.
pub fn upload_scheme(upload_path: &str) -> Result<&'static str> {
    let scheme = upload_path
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme
        .as_deref()
        .and_then(|s| UPLOAD_SCHEMES.iter().find(|known| **known == s))
    {
        Some(known) => Ok(known),
        None => Err(Error::invalid(
            keys::FILE_UPLOAD_PATH,
            format!(
                "{}: sparkube cannot upload to {} (scheme {}); use one of s3a://, s3://, gs://, \
                 abfs://, abfss:// or file://",
                keys::FILE_UPLOAD_PATH,
                upload_path,
                scheme.map_or_else(|| "missing".to_owned(), |s| format!("{s}://")),
            ),
        )),
    }
}

/// The path a URI names on the submitting machine (with its `#fragment`), as Spark resolves
/// it: no scheme, or `file:`; `None` for anything else (`local:`, `https:`, `s3a:`, ...).
pub fn submitter_path(uri: &str, cwd: &Path) -> Option<(PathBuf, Option<String>)> {
    let (body, fragment) = match uri.split_once('#') {
        Some((body, fragment)) => (body, Some(fragment.to_owned())),
        None => (uri, None),
    };
    let path = match body.split_once(':') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => {
            // file:/p, file:///p and file://localhost/p name the same path.
            let rest = rest.strip_prefix("//localhost").unwrap_or(rest);
            let rest = match rest.strip_prefix("//") {
                Some(r) if r.starts_with('/') => r,
                _ => rest,
            };
            PathBuf::from(rest)
        }
        Some((scheme, _))
            if scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            return None;
        }
        _ => PathBuf::from(body),
    };
    Some((cwd.join(path), fragment))
}

/// Collects the local files of one submission and gives each its URI in the driver: shipped
/// in a ConfigMap, or uploaded when there is an upload path.
pub(crate) struct Shipment<'e> {
    env: &'e Environment<'e>,
    upload_path: Option<String>,
    /// The files to ship in the ConfigMap, in the order they were named.
    pub(crate) files: Vec<LocalFile>,
    /// The files to upload, each once, in the order they were named.
    pub(crate) uploads: Vec<Upload>,
}

/// A URI as the driver will see it, and whether it named a file of the submitting machine.
pub(crate) struct Shipped {
    pub(crate) uri: String,
    pub(crate) local: bool,
}

impl<'e> Shipment<'e> {
    pub(crate) fn new(env: &'e Environment<'e>, upload_path: Option<String>) -> Result<Self> {
        Ok(Shipment {
            env,
            upload_path,
            files: Vec::new(),
            uploads: Vec::new(),
        })
    }

    /// Whether local files are uploaded rather than shipped in the ConfigMap.
    pub(crate) fn uploading(&self) -> bool {
        self.upload_path.is_some()
    }

    /// `uri` as the driver will see it: unchanged unless it names a local file, which is
    /// read and shipped, or planned for upload.
    pub(crate) fn uri(&mut self, option: &str, uri: &str) -> Result<Shipped> {
        let Some((path, fragment)) = submitter_path(uri, &self.env.cwd) else {
            return Ok(Shipped {
                uri: uri.to_owned(),
                local: false,
            });
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .map(str::to_owned);
        if let Some(upload_path) = self.upload_path.clone() {
            let target = self.plan_upload(option, uri, &upload_path, path, name)?;
            // spark-submit re-attaches an archive's fragment through java's UriBuilder, which
            // writes an empty authority as `file:/`.
            let target = match (option.contains("archives"), target.strip_prefix("file:///")) {
                (true, Some(rest)) => format!("file:/{rest}"),
                _ => target,
            };
            return Ok(Shipped {
                uri: match fragment {
                    Some(f) => format!("{target}#{f}"),
                    None => target,
                },
                local: true,
            });
        }
        let (name, contents) = match (self.env.read)(&path) {
            Ok(contents) => (name, contents),
            Err(e) if is_directory(&e) && PY_FILES_OPTIONS.contains(&option) => (
                name.map(|n| format!("{n}.zip")),
                zip_package(&path, self.env).map_err(|e| read_error(option, &path, e))?,
            ),
            Err(source) => return Err(read_error(option, &path, source)),
        };
        let name = name.ok_or_else(|| {
            Error::invalid(option, format!("{option}: {uri} does not name a file"))
        })?;
        let file = LocalFile {
            option: option.to_owned(),
            path,
            name,
            contents,
        };
        let shipped = file.driver_path(self.files.len());
        self.files.push(file);
        let total: usize = self.files.iter().map(|f| f.contents.len()).sum();
        if total > CONFIG_MAP_LIMIT {
            return Err(Error::invalid(
                option,
                format!(
                    "{option}: the local files of this submission take {} KiB, more than the \
                     {} KiB sparkube carries in a ConfigMap: put the larger ones in the image \
                     (local://) or at a remote URL (https://, s3a://)",
                    total.div_ceil(1024),
                    CONFIG_MAP_LIMIT / 1024
                ),
            ));
        }
        Ok(Shipped {
            uri: match fragment {
                Some(f) => format!("file://{shipped}#{f}"),
                None => format!("file://{shipped}"),
            },
            local: true,
        })
    }

    /// Plans the upload of the file at `path` (a directory of Python code is zipped first)
    /// and returns its URI there. The file is read once here, streamed, for its digest.
    fn plan_upload(
        &mut self,
        option: &str,
        uri: &str,
        upload_path: &str,
        path: PathBuf,
        name: Option<String>,
    ) -> Result<String> {
        // Checked here, not up front: spark-submit takes any upload path while nothing is
        // local (it is often set for every app in spark-defaults.conf).
        upload_scheme(upload_path)?;
        let streamed = (self.env.open)(&path).and_then(digest);
        let (name, contents, (sha, size)) = match streamed {
            Ok(found) => (name, None, found),
            Err(e) if is_directory(&e) && PY_FILES_OPTIONS.contains(&option) => {
                let zipped =
                    zip_package(&path, self.env).map_err(|e| read_error(option, &path, e))?;
                let found = digest(zipped.as_slice()).map_err(|e| read_error(option, &path, e))?;
                (name.map(|n| format!("{n}.zip")), Some(zipped), found)
            }
            Err(source) => return Err(read_error(option, &path, source)),
        };
        let name = name.ok_or_else(|| {
            Error::invalid(option, format!("{option}: {uri} does not name a file"))
        })?;
        let target = format!("{upload_path}/{}/{name}", upload_id(&sha));
        if !self.uploads.iter().any(|u| u.target == target) {
            self.uploads.push(Upload {
                option: option.to_owned(),
                path,
                contents,
                size,
                target: target.clone(),
            });
        }
        Ok(target)
    }
}

/// The options whose directories are zipped: Python puts a zip on its path as it would the
/// directory.
const PY_FILES_OPTIONS: [&str; 2] = ["--py-files", keys::PY_FILES];

/// Whether reading failed on a directory (EISDIR).
fn is_directory(error: &io::Error) -> bool {
    error.raw_os_error() == Some(21)
}

/// A directory of Python code as a zip, the same bytes for the same tree (sorted entries, no
/// timestamps, fixed permissions), so that an unchanged package is an unchanged file. A
/// package (a directory with `__init__.py`) keeps its name inside the zip, so that
/// `import <name>` works; any other directory is a source root and its contents go to the
/// top. Bytecode caches and hidden files are left out.
pub fn zip_package(dir: &Path, env: &Environment<'_>) -> io::Result<Vec<u8>> {
    use std::io::Write;

    let is_package = (env.read)(&dir.join("__init__.py")).is_ok();
    let prefix = match (is_package, dir.file_name().and_then(|n| n.to_str())) {
        (true, Some(name)) => format!("{name}/"),
        _ => String::new(),
    };
    let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut files: Vec<(String, PathBuf)> = (env.files_under)(dir)
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(dir).ok()?;
            let parts: Vec<&str> = relative.iter().map(|p| p.to_str()).collect::<Option<_>>()?;
            let skipped = parts
                .iter()
                .any(|p| p.starts_with('.') || *p == "__pycache__")
                || relative.extension().is_some_and(|e| e == "pyc");
            let entry = format!("{prefix}{}", parts.join("/"));
            (!skipped).then_some((entry, path))
        })
        .collect();
    files.sort();
    for (entry, path) in files {
        zip.start_file(entry, options).map_err(io::Error::other)?;
        zip.write_all(&(env.read)(&path)?)?;
    }
    Ok(zip.finish().map_err(io::Error::other)?.into_inner())
}

fn read_error(option: &str, path: &Path, source: io::Error) -> Error {
    // EISDIR: a directory where a file is needed.
    if is_directory(&source) {
        return Error::invalid(
            option,
            format!(
                "{option}: {} is a directory; give a file (a directory of Python code can be \
                 given as --py-files, which zips it)",
                path.display()
            ),
        );
    }
    Error::Read {
        option: option.to_owned(),
        what: "local file",
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitter_paths_as_spark_resolves_them() {
        let cwd = Path::new("/work/dags");
        /// A URI and the path and fragment it names, if any.
        type Row<'a> = (&'a str, Option<(&'a str, Option<&'a str>)>);
        let table: [Row<'_>; 10] = [
            ("job.py", Some(("/work/dags/job.py", None))),
            ("./lib/util.py", Some(("/work/dags/./lib/util.py", None))),
            ("/abs/app.jar", Some(("/abs/app.jar", None))),
            ("file:/abs/a.py", Some(("/abs/a.py", None))),
            ("file:///abs/a.py", Some(("/abs/a.py", None))),
            ("file://localhost/abs/a.py", Some(("/abs/a.py", None))),
            (
                "env.tar.gz#environment",
                Some(("/work/dags/env.tar.gz", Some("environment"))),
            ),
            ("local:///opt/app.py", None),
            ("s3a://bucket/app.py", None),
            ("https://host/app.py#x", None),
        ];
        for (uri, expected) in table {
            let got = submitter_path(uri, cwd);
            let expected = expected.map(|(p, f)| (PathBuf::from(p), f.map(str::to_owned)));
            assert_eq!(got, expected, "{uri}");
        }
    }
}
