//! Which local file system and entrypoint stand in for an image reference. `--images FILE`
//! (YAML or JSON) lists them; the built-in default maps Spark's images to the Spark
//! distribution inside the PyPI `pyspark` package, run by kubesim's own implementation of the
//! official image's entrypoint, MinIO's image to an S3 server on the host (see [`s3_server`]),
//! and a few general-purpose images to the host's root.
//!
//! ```yaml
//! images:
//!   - match: ["apache/spark:*", "spark:*"]      # glob over the reference as written or normalized
//!     mounts: [{source: /path/to/pyspark, target: /opt/spark}]
//!     entrypoint: [/opt/entrypoint.sh]
//!     args: []
//!     workingDir: /opt/spark/work-dir
//!     writable: [/opt/spark/work-dir]           # a fresh directory per container
//!     env: {SPARK_HOME: /opt/spark}
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::runtime::simulated::normalize_image;

/// Errors reading an images file or preparing the default.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be read.
    #[error("failed to read images file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid images file.
    #[error("invalid images file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The entrypoint script could not be written.
    #[error("failed to write the Spark entrypoint to {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for images.
pub type Result<T> = std::result::Result<T, Error>;

/// A host path mounted into every container of an image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageMount {
    /// Host path.
    pub source: PathBuf,
    /// Path in the container.
    pub target: PathBuf,
}

/// What stands in for one image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Reference patterns (`*` matches anything).
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    /// Mounted read-only over the host's root.
    #[serde(default)]
    pub mounts: Vec<ImageMount>,
    /// The image's ENTRYPOINT.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The image's CMD.
    #[serde(default)]
    pub args: Vec<String>,
    /// The image's WORKDIR.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Directories each container gets fresh and writable.
    #[serde(default)]
    pub writable: Vec<PathBuf>,
    /// The image's ENV, in order.
    #[serde(default)]
    pub env: OrderedEnv,
}

/// Environment variables in the file's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderedEnv(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedEnv {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = OrderedEnv;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of variable names to string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<OrderedEnv, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(OrderedEnv(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

#[derive(Debug, Deserialize)]
struct File {
    images: Vec<Image>,
}

/// Whether `reference` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, reference: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == reference;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !reference.starts_with(first) || reference.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &reference[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The references an image is known by: as written, normalized, and short (`apache/spark:4`).
fn spellings(reference: &str) -> Vec<String> {
    let full = normalize_image(reference);
    let short = full
        .strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(&full)
        .to_string();
    vec![reference.to_string(), full, short]
}

/// The image table.
#[derive(Debug, Clone, Default)]
pub struct Images(pub Vec<Image>);

impl Images {
    /// Reads an images file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file: File = serde_norway::from_str(&text).map_err(|e| Error::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Images(file.images))
    }

    /// What stands in for `reference`, if anything.
    pub fn find(&self, reference: &str) -> Option<&Image> {
        let names = spellings(reference);
        self.0.iter().find(|img| {
            img.patterns
                .iter()
                .any(|p| names.iter().any(|n| glob(p, n)))
        })
    }
}

/// kubesim's implementation of the official Spark image's entrypoint contract.
pub const SPARK_ENTRYPOINT: &str = include_str!("spark-entrypoint.sh");

/// kubesim's stand-in for MinIO's image: an S3 server on MinIO's port.
pub const MINIO_ENTRYPOINT: &str = include_str!("minio-entrypoint.sh");

/// The S3 server that stands in for MinIO: `$KUBESIM_S3_SERVER`, else a `moto_server` on
/// `PATH` (moto in server mode, the S3 server of sparkube's tests).
pub fn s3_server() -> Option<PathBuf> {
    if let Some(server) = std::env::var_os("KUBESIM_S3_SERVER").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(server));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
}

/// Where the host keeps Java: `$JAVA_HOME`, else the directory above the `java` on `PATH`.
pub fn java_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("java"))
        .find(|j| j.is_file())
        .and_then(|j| std::fs::canonicalize(j).ok())
        .and_then(|j| j.parent()?.parent().map(Path::to_path_buf))
}

/// The Spark distribution to run: `$SPARK_HOME`, else the `pyspark` package that the `python3`
/// on `PATH` imports.
pub fn spark_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("SPARK_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(os.path.realpath(pyspark.__file__)))",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The built-in table. `runtime_dir` receives the entrypoint script; without a Spark
/// distribution or Java, Spark images are left out (and fail to pull, as unknown images do).
pub fn default_images(
    runtime_dir: &Path,
    spark: Option<PathBuf>,
    java: Option<PathBuf>,
    s3: Option<PathBuf>,
) -> Result<Images> {
    let host_path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let mut images = vec![Image {
        patterns: [
            "busybox*",
            "debian:*",
            "ubuntu:*",
            "alpine*",
            "python:*",
            "kubesim/host*",
        ]
        .map(String::from)
        .to_vec(),
        mounts: Vec::new(),
        entrypoint: Vec::new(),
        args: vec!["sh".into()],
        working_dir: None,
        writable: Vec::new(),
        env: OrderedEnv(vec![("PATH".into(), host_path.clone())]),
    }];
    if let (Some(spark), Some(java)) = (spark, java) {
        let script = runtime_dir.join("spark-entrypoint.sh");
        write_script(&script, SPARK_ENTRYPOINT)?;
        images.push(Image {
            patterns: [
                "apache/spark:*",
                "apache/spark-py:*",
                "spark:*",
                "*/apache/spark:*",
                "*/spark:*",
            ]
            .map(String::from)
            .to_vec(),
            mounts: vec![
                ImageMount {
                    source: spark,
                    target: "/opt/spark".into(),
                },
                ImageMount {
                    source: script,
                    target: "/opt/entrypoint.sh".into(),
                },
            ],
            entrypoint: vec!["/opt/entrypoint.sh".into()],
            args: Vec::new(),
            working_dir: Some("/opt/spark/work-dir".into()),
            writable: vec!["/opt/spark/work-dir".into()],
            env: OrderedEnv(vec![
                ("JAVA_HOME".into(), java.display().to_string()),
                ("SPARK_HOME".into(), "/opt/spark".into()),
                (
                    "PATH".into(),
                    format!("{}/bin:/opt/spark/bin:{host_path}", java.display()),
                ),
                ("HOME".into(), "/opt/spark/work-dir".into()),
                ("LANG".into(), "C.UTF-8".into()),
            ]),
        });
    }
    if let Some(server) = s3 {
        let script = runtime_dir.join("minio-entrypoint.sh");
        write_script(&script, MINIO_ENTRYPOINT)?;
        images.push(Image {
            patterns: ["quay.io/minio/minio:*", "minio/minio:*", "*/minio/minio:*"]
                .map(String::from)
                .to_vec(),
            mounts: vec![ImageMount {
                source: script,
                target: "/opt/minio-entrypoint.sh".into(),
            }],
            entrypoint: vec!["/opt/minio-entrypoint.sh".into()],
            args: Vec::new(),
            working_dir: None,
            writable: Vec::new(),
            env: OrderedEnv(vec![
                ("S3_SERVER".into(), server.display().to_string()),
                ("PATH".into(), host_path.clone()),
            ]),
        });
    }
    Ok(Images(images))
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(path, text).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("apache/spark:*", "apache/spark:4.0.1", true),
            ("apache/spark:*", "apache/spark-py:4.0.1", false),
            ("*/spark:*", "registry.example.com/team/spark:1", true),
            ("busybox*", "busybox", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("ab*ba", "aba", false),
        ];
        for (p, r, want) in cases {
            assert_eq!(glob(p, r), want, "{p} ~ {r}");
        }
    }

    #[test]
    fn finds_images_by_any_spelling() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("kubesim-images-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let images = default_images(
            &dir,
            Some("/spark".into()),
            Some("/jvm".into()),
            Some("/usr/bin/moto_server".into()),
        )?;
        for reference in [
            "apache/spark:4.0.1",
            "docker.io/apache/spark:4.0.1",
            "spark:4.0.1-python3",
            "docker.io/library/spark:4.0.1",
            "ghcr.io/acme/spark:v1",
        ] {
            let img = images.find(reference);
            assert_eq!(
                img.map(|i| i.entrypoint.clone()),
                Some(vec!["/opt/entrypoint.sh".to_string()]),
                "{reference}"
            );
        }
        assert!(
            images
                .find("busybox:1.36")
                .is_some_and(|i| i.entrypoint.is_empty())
        );
        assert!(images.find("nginx:1.27").is_none());
        // The dev overlay's MinIO runs as the S3 server.
        let minio = images.find("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z");
        assert_eq!(
            minio.map(|i| i.env.0[0].clone()),
            Some(("S3_SERVER".to_owned(), "/usr/bin/moto_server".to_owned()))
        );
        let without_spark = default_images(&dir, None, Some("/jvm".into()), None)?;
        assert!(without_spark.find("apache/spark:4.0.1").is_none());
        assert!(without_spark.find("quay.io/minio/minio:latest").is_none());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn reads_an_images_file() -> Result<()> {
        let path = std::env::temp_dir().join(format!("kubesim-images-{}.yaml", std::process::id()));
        let _ = std::fs::write(
            &path,
            "images:\n- match: [\"acme/app:*\"]\n  entrypoint: [/app/run]\n  workingDir: /app\n  env: {B: '2', A: '1'}\n  mounts: [{source: /srv/app, target: /app}]\n",
        );
        let images = Images::load(&path)?;
        let img = images.find("acme/app:3");
        assert_eq!(
            img.map(|i| i.env.0.clone()),
            Some(vec![("B".into(), "2".into()), ("A".into(), "1".into())])
        );
        assert_eq!(
            img.and_then(|i| i.working_dir.clone()),
            Some(PathBuf::from("/app"))
        );
        let _ = std::fs::write(&path, "images: [{entrypoint: 3}]");
        assert!(matches!(Images::load(&path), Err(Error::Parse { .. })));
        let _ = std::fs::remove_file(&path);
        Ok(())
    }
}
