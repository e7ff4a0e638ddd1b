//! A pod's volumes as directories on the host, and a container's `volumeMounts` as mounts:
//! `configMap` and `secret` (every key or the listed `items`, file modes), `emptyDir` (one
//! directory per pod), `hostPath` (with its `type` checks), `projected` (service-account token,
//! ConfigMaps, Secrets, downward API), `downwardAPI`, and `persistentVolumeClaim` (a directory
//! per claim that outlives its pods). Files are written before the containers start, as the
//! kubelet's volume manager does; a missing ConfigMap or Secret is reported so the caller can
//! wait for it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use thiserror::Error;

use super::env::Sources;
use super::layout::{Mount, Source};

/// Why a volume could not be set up.
#[derive(Debug, Error, PartialEq)]
pub enum Error {
    /// A ConfigMap or Secret it needs does not exist (yet).
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {kind} \"{name}\" not found")]
    Missing {
        /// The volume.
        volume: String,
        /// `configmap` or `secret`.
        kind: &'static str,
        /// The object's name.
        name: String,
    },
    /// A key it names is absent.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    Invalid {
        /// The volume.
        volume: String,
        /// What is wrong.
        message: String,
    },
    /// The volume type cannot be provided on this machine.
    #[error("volume \"{volume}\": {kind} volumes are not supported by the process runtime")]
    Unsupported {
        /// The volume.
        volume: String,
        /// The type.
        kind: String,
    },
    /// Writing the volume's files failed.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    Io {
        /// The volume.
        volume: String,
        /// The I/O error.
        message: String,
    },
}

/// Result alias for volumes.
pub type Result<T> = std::result::Result<T, Error>;

/// What volumes need from the cluster besides ConfigMaps and Secrets.
pub trait Tokens: Sources {
    /// A token for the pod's service account, bound to the pod.
    fn service_account_token(
        &self,
        pod: &Value,
        audience: Option<&str>,
        seconds: i64,
    ) -> Option<String>;
}

/// Where the pod's volumes and per-claim directories live.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The pod's own directory (removed with the sandbox).
    pub pod: PathBuf,
    /// Directories of `persistentVolumeClaim` volumes, by namespace and claim.
    pub claims: PathBuf,
}

/// One prepared volume: its host directory (or file, for `hostPath`) and whether containers
/// always see it read-only.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The volume's name.
    pub name: String,
    /// Where it is on the host.
    pub path: PathBuf,
    /// ConfigMap, Secret, projected and downward-API volumes are read-only.
    pub read_only: bool,
    /// Service-account tokens projected into it, which expire and are rewritten.
    pub tokens: Vec<ProjectedToken>,
}

/// A service-account token file of a projected volume.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectedToken {
    /// Its path inside the volume.
    pub path: String,
    /// The audience it is issued for.
    pub audience: Option<String>,
    /// Its lifetime.
    pub seconds: i64,
    /// Its file mode.
    pub mode: u32,
}

impl ProjectedToken {
    /// Issues a fresh token and replaces the file atomically (a reader sees the old or the new).
    pub fn write(&self, pod: &Value, sources: &dyn Tokens, volume: &str, dir: &Path) -> Result<()> {
        let token = sources
            .service_account_token(pod, self.audience.as_deref(), self.seconds)
            .ok_or_else(|| Error::Invalid {
                volume: volume.into(),
                message: "failed to fetch token: serviceaccount not found".into(),
            })?;
        write_file(volume, dir, &self.path, token.as_bytes(), self.mode)
    }
}

fn io(volume: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        volume: volume.to_string(),
        message: e.to_string(),
    }
}

/// Writes `data` to `dir/rel` with `mode`, creating parents; replaces the file atomically.
fn write_file(volume: &str, dir: &Path, rel: &str, data: &[u8], mode: u32) -> Result<()> {
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(Error::Invalid {
            volume: volume.into(),
            message: format!("invalid path {rel:?}"),
        });
    }
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(volume))?;
    }
    let tmp = path.with_extension("kubesim-tmp");
    std::fs::write(&tmp, data).map_err(io(volume))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io(volume))?;
    std::fs::rename(&tmp, &path).map_err(io(volume))
}

fn mode_of(v: &Value, default: u32) -> u32 {
    v.as_u64().map(|m| m as u32).unwrap_or(default)
}

/// Every key of a ConfigMap or Secret with its decoded bytes.
fn entries(obj: &Value, secret: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let text = |k: &str, v: &Value| {
        (
            k.to_string(),
            v.as_str().unwrap_or_default().as_bytes().to_vec(),
        )
    };
    let binary = |k: &str, v: &Value| {
        (
            k.to_string(),
            B64.decode(v.as_str().unwrap_or_default())
                .unwrap_or_default(),
        )
    };
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        out.push(if secret { binary(k, v) } else { text(k, v) });
    }
    for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
        out.push(binary(k, v));
    }
    out
}

/// Writes a ConfigMap's or Secret's keys (all, or `items`) into `dir`.
fn project_keys(
    sources: &dyn Sources,
    volume: &str,
    ns: &str,
    spec: &Value,
    secret: bool,
    dir: &Path,
    default_mode: u32,
) -> Result<()> {
    let kind = if secret { "secret" } else { "configmap" };
    let name = spec[if secret { "secretName" } else { "name" }]
        .as_str()
        .or_else(|| spec["name"].as_str())
        .unwrap_or_default();
    let optional = spec["optional"] == true;
    let obj = if secret {
        sources.secret(ns, name)
    } else {
        sources.config_map(ns, name)
    };
    let Some(obj) = obj else {
        return if optional {
            Ok(())
        } else {
            Err(Error::Missing {
                volume: volume.into(),
                kind,
                name: name.into(),
            })
        };
    };
    let data = entries(&obj, secret);
    match spec["items"].as_array() {
        Some(items) => {
            for item in items {
                let key = item["key"].as_str().unwrap_or_default();
                let path = item["path"].as_str().unwrap_or(key);
                match data.iter().find(|(k, _)| k == key) {
                    Some((_, bytes)) => write_file(
                        volume,
                        dir,
                        path,
                        bytes,
                        mode_of(&item["mode"], default_mode),
                    )?,
                    None if optional => {}
                    None => {
                        return Err(Error::Invalid {
                            volume: volume.into(),
                            message: format!("configmap references non-existent config key: {key}"),
                        });
                    }
                }
            }
        }
        None => {
            for (key, bytes) in &data {
                write_file(volume, dir, key, bytes, default_mode)?;
            }
        }
    }
    Ok(())
}

/// Writes downward-API `items` into `dir`.
fn project_downward(pod: &Value, volume: &str, items: &Value, dir: &Path, mode: u32) -> Result<()> {
    for item in items.as_array().into_iter().flatten() {
        let path = item["path"].as_str().unwrap_or_default();
        let field = item["fieldRef"]["fieldPath"].as_str().unwrap_or_default();
        if field.is_empty() {
            continue;
        }
        let value =
            super::env::field_ref(pod, &super::env::Context::default(), field).map_err(|e| {
                Error::Invalid {
                    volume: volume.into(),
                    message: e.message,
                }
            })?;
        write_file(
            volume,
            dir,
            path,
            value.as_bytes(),
            mode_of(&item["mode"], mode),
        )?;
    }
    Ok(())
}

/// Prepares every volume of `pod` under `dirs`.
pub fn prepare(pod: &Value, sources: &dyn Tokens, dirs: &Dirs) -> Result<Vec<Prepared>> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut out = Vec::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let dir = dirs.pod.join("volumes").join(&name);
        let fresh = |dir: &Path| -> Result<()> { std::fs::create_dir_all(dir).map_err(io(&name)) };
        let prepared = |path: PathBuf, read_only: bool| Prepared {
            name: name.clone(),
            path,
            read_only,
            tokens: Vec::new(),
        };
        if v["emptyDir"].is_object() {
            fresh(&dir)?;
            out.push(prepared(dir, false));
        } else if v["hostPath"].is_object() {
            let path = PathBuf::from(v["hostPath"]["path"].as_str().unwrap_or_default());
            check_host_path(&name, &path, v["hostPath"]["type"].as_str().unwrap_or(""))?;
            out.push(prepared(path, false));
        } else if v["configMap"].is_object() || v["secret"].is_object() {
            let secret = v["secret"].is_object();
            let spec = if secret {
                &v["secret"]
            } else {
                &v["configMap"]
            };
            fresh(&dir)?;
            project_keys(
                sources,
                &name,
                ns,
                spec,
                secret,
                &dir,
                mode_of(&spec["defaultMode"], 0o644),
            )?;
            out.push(prepared(dir, true));
        } else if v["downwardAPI"].is_object() {
            fresh(&dir)?;
            let mode = mode_of(&v["downwardAPI"]["defaultMode"], 0o644);
            project_downward(pod, &name, &v["downwardAPI"]["items"], &dir, mode)?;
            out.push(prepared(dir, true));
        } else if v["projected"].is_object() {
            fresh(&dir)?;
            let mode = mode_of(&v["projected"]["defaultMode"], 0o644);
            let mut tokens = Vec::new();
            for s in v["projected"]["sources"].as_array().into_iter().flatten() {
                if s["serviceAccountToken"].is_object() {
                    let t = &s["serviceAccountToken"];
                    let token = ProjectedToken {
                        path: t["path"].as_str().unwrap_or("token").to_string(),
                        audience: t["audience"].as_str().map(str::to_string),
                        seconds: t["expirationSeconds"].as_i64().unwrap_or(3607),
                        mode,
                    };
                    token.write(pod, sources, &name, &dir)?;
                    tokens.push(token);
                } else if s["configMap"].is_object() || s["secret"].is_object() {
                    let secret = s["secret"].is_object();
                    let spec = if secret {
                        &s["secret"]
                    } else {
                        &s["configMap"]
                    };
                    project_keys(sources, &name, ns, spec, secret, &dir, mode)?;
                } else if s["downwardAPI"].is_object() {
                    project_downward(pod, &name, &s["downwardAPI"]["items"], &dir, mode)?;
                }
            }
            out.push(Prepared {
                tokens,
                ..prepared(dir, true)
            });
        } else if v["persistentVolumeClaim"].is_object() {
            let claim = v["persistentVolumeClaim"]["claimName"]
                .as_str()
                .unwrap_or_default();
            let path = dirs.claims.join(ns).join(claim);
            fresh(&path)?;
            let read_only = v["persistentVolumeClaim"]["readOnly"] == true;
            out.push(prepared(path, read_only));
        } else {
            let kind = v
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                .unwrap_or_else(|| "unknown".into());
            return Err(Error::Unsupported { volume: name, kind });
        }
    }
    Ok(out)
}

fn check_host_path(volume: &str, path: &Path, ty: &str) -> Result<()> {
    let fail = |what: &str| {
        Err(Error::Invalid {
            volume: volume.into(),
            message: format!(
                "hostPath type check failed: {} is not a {what}",
                path.display()
            ),
        })
    };
    match ty {
        "DirectoryOrCreate" => std::fs::create_dir_all(path).map_err(io(volume)),
        "FileOrCreate" => {
            if !path.exists() {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(volume))?;
                }
                std::fs::write(path, b"").map_err(io(volume))?;
            }
            Ok(())
        }
        "Directory" if !path.is_dir() => fail("directory"),
        "File" if !path.is_file() => fail("file"),
        "" if !path.exists() => {
            // An unchecked hostPath that does not exist is created as a directory, as the
            // kubelet's mount does.
            std::fs::create_dir_all(path).map_err(io(volume))
        }
        _ => Ok(()),
    }
}

/// The mounts of one container: each `volumeMount` over its prepared volume.
pub fn mounts(container: &Value, volumes: &[Prepared]) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap_or_default();
        let Some(v) = volumes.iter().find(|v| v.name == name) else {
            return Err(Error::Invalid {
                volume: name.into(),
                message: "no volume of that name in the pod".into(),
            });
        };
        let mut source = v.path.clone();
        if let Some(sub) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
            if sub.split('/').any(|c| c == "..") || sub.starts_with('/') {
                return Err(Error::Invalid {
                    volume: name.into(),
                    message: format!("invalid subPath {sub:?}"),
                });
            }
            source = source.join(sub);
            if !source.exists() && !v.read_only {
                std::fs::create_dir_all(&source).map_err(io(name))?;
            }
        }
        out.push(Mount {
            target: PathBuf::from(m["mountPath"].as_str().unwrap_or_default()),
            source: Source::Host(source),
            read_only: v.read_only || m["readOnly"] == true,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fake;

    impl Sources for Fake {
        fn config_map(&self, _ns: &str, name: &str) -> Option<Value> {
            (name == "conf").then(|| json!({"data": {"spark.properties": "a=1\n", "other": "x"}}))
        }
        fn secret(&self, _ns: &str, name: &str) -> Option<Value> {
            (name == "creds").then(|| json!({"data": {"key": B64.encode("s3cr3t")}}))
        }
    }

    impl Tokens for Fake {
        fn service_account_token(&self, pod: &Value, _: Option<&str>, _: i64) -> Option<String> {
            Some(format!(
                "token-for-{}",
                pod["spec"]["serviceAccountName"].as_str()?
            ))
        }
    }

    fn scratch(tag: &str) -> Dirs {
        let root = std::env::temp_dir().join(format!("kubesim-vol-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        Dirs {
            pod: root.join("pod"),
            claims: root.join("claims"),
        }
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| format!("<{e}>"))
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn prepares_every_supported_volume() -> Result<()> {
        let dirs = scratch("all");
        let host = dirs
            .pod
            .parent()
            .map(|p| p.join("host"))
            .unwrap_or_default();
        let pod = json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {"serviceAccountName": "spark", "volumes": [
                {"name": "conf", "configMap": {"name": "conf", "items": [{"key": "spark.properties", "path": "spark.properties", "mode": 0o600}]}},
                {"name": "all", "configMap": {"name": "conf", "defaultMode": 0o640}},
                {"name": "creds", "secret": {"secretName": "creds"}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "host", "hostPath": {"path": host, "type": "DirectoryOrCreate"}},
                {"name": "api", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"configMap": {"name": "conf", "items": [{"key": "other", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
                ]}},
                {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
            ]}
        });
        let vols = prepare(&pod, &Fake, &dirs)?;
        let at = |n: &str| dirs.pod.join("volumes").join(n);
        assert_eq!(read(&at("conf").join("spark.properties")), "a=1\n");
        assert_eq!(mode(&at("conf").join("spark.properties")), 0o600);
        assert!(!at("conf").join("other").exists());
        assert_eq!(read(&at("all").join("other")), "x");
        assert_eq!(mode(&at("all").join("other")), 0o640);
        assert_eq!(read(&at("creds").join("key")), "s3cr3t");
        assert!(at("scratch").is_dir());
        assert!(host.is_dir());
        assert_eq!(read(&at("api").join("token")), "token-for-spark");
        let api = vols.iter().find(|v| v.name == "api");
        let tokens: Vec<&ProjectedToken> = api.iter().flat_map(|v| &v.tokens).collect();
        assert_eq!(tokens.len(), 1);
        assert_eq!(
            (tokens[0].path.as_str(), tokens[0].seconds),
            ("token", 3607)
        );
        assert_eq!(read(&at("api").join("ca.crt")), "x");
        assert_eq!(read(&at("api").join("namespace")), "ns");
        assert!(dirs.claims.join("ns").join("data").is_dir());
        let read_only: Vec<(&str, bool)> = vols
            .iter()
            .map(|v| (v.name.as_str(), v.read_only))
            .collect();
        assert_eq!(
            read_only,
            [
                ("conf", true),
                ("all", true),
                ("creds", true),
                ("scratch", false),
                ("host", false),
                ("api", true),
                ("claim", false)
            ]
        );

        let c = json!({"volumeMounts": [
            {"name": "conf", "mountPath": "/opt/spark/conf"},
            {"name": "scratch", "mountPath": "/data", "subPath": "sub/dir"},
            {"name": "host", "mountPath": "/events", "readOnly": true},
        ]});
        let m = mounts(&c, &vols)?;
        assert_eq!(m[0].target, PathBuf::from("/opt/spark/conf"));
        assert!(m[0].read_only);
        assert_eq!(m[1].source, Source::Host(at("scratch").join("sub/dir")));
        assert!(at("scratch").join("sub/dir").is_dir());
        assert!(!m[1].read_only);
        assert!(m[2].read_only);
        let _ = std::fs::remove_dir_all(dirs.pod.parent().unwrap_or(Path::new("/nonexistent")));
        Ok(())
    }

    #[test]
    fn refusals() {
        let dirs = scratch("bad");
        let with = |v: Value| json!({"metadata": {"namespace": "ns"}, "spec": {"volumes": [v]}});
        let cases = [
            (
                json!({"name": "v", "configMap": {"name": "later"}}),
                "MountVolume.SetUp failed for volume \"v\" : configmap \"later\" not found",
            ),
            (
                json!({"name": "v", "secret": {"secretName": "gone"}}),
                "MountVolume.SetUp failed for volume \"v\" : secret \"gone\" not found",
            ),
            (
                json!({"name": "v", "configMap": {"name": "conf", "items": [{"key": "nope", "path": "x"}]}}),
                "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: nope",
            ),
            (
                json!({"name": "v", "configMap": {"name": "conf", "items": [{"key": "other", "path": "../escape"}]}}),
                "MountVolume.SetUp failed for volume \"v\" : invalid path \"../escape\"",
            ),
            (
                json!({"name": "v", "nfs": {"server": "x", "path": "/"}}),
                "volume \"v\": nfs volumes are not supported by the process runtime",
            ),
            (
                json!({"name": "v", "hostPath": {"path": "/nonexistent/kubesim/dir", "type": "Directory"}}),
                "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: /nonexistent/kubesim/dir is not a directory",
            ),
        ];
        for (v, msg) in cases {
            match prepare(&with(v.clone()), &Fake, &dirs) {
                Err(e) => assert_eq!(e.to_string(), msg),
                Ok(_) => panic!("{v} was accepted"),
            }
        }
        assert!(
            prepare(
                &with(json!({"name": "v", "configMap": {"name": "later", "optional": true}})),
                &Fake,
                &dirs
            )
            .is_ok()
        );
        let mount = json!({"volumeMounts": [{"name": "v", "mountPath": "/x", "subPath": "../up"}]});
        let vols = [Prepared {
            name: "v".into(),
            path: "/tmp".into(),
            read_only: false,
            tokens: Vec::new(),
        }];
        assert!(mounts(&mount, &vols).is_err());
        let _ = std::fs::remove_dir_all(dirs.pod.parent().unwrap_or(Path::new("/nonexistent")));
    }
}
