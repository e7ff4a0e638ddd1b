//! A container's file system as bubblewrap arguments: the host's root read-only, with the
//! image's directories, the pod's volumes and the container's writable directories mounted on
//! top. bubblewrap cannot create a mount point inside a read-only bind, so a directory that must
//! receive a mount point the host lacks is rebuilt instead: an empty directory whose host
//! entries are bound one by one, beside the new mount point. Pure over [`Fs`].

use std::path::{Component, Path, PathBuf};

/// What a host path is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(PathBuf),
    /// Anything else (file, socket, device).
    Other,
}

/// Reads the host's file system.
pub trait Fs {
    /// What `path` is, without following a final symlink; `None` when it does not exist.
    fn kind(&self, path: &Path) -> Option<Kind>;
    /// Names in the directory `path`, sorted.
    fn children(&self, path: &Path) -> Vec<String>;
    /// Whether `path` exists, following symlinks.
    fn exists(&self, path: &Path) -> bool;
}

/// The host's real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostFs;

impl Fs for HostFs {
    fn kind(&self, path: &Path) -> Option<Kind> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(if meta.file_type().is_symlink() {
            Kind::Symlink(std::fs::read_link(path).ok()?)
        } else if meta.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        })
    }

    fn children(&self, path: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A host path (file or directory).
    Host(PathBuf),
    /// A fresh in-memory directory.
    Tmpfs,
}

/// One mount into the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Absolute path inside the container.
    pub target: PathBuf,
    /// What is mounted there.
    pub source: Source,
    /// Whether the container may write through it.
    pub read_only: bool,
}

/// Host top-level entries a container never sees as they are: it gets its own.
const PRIVATE: [&str; 6] = ["proc", "dev", "sys", "tmp", "run", "lost+found"];

fn depth(p: &Path) -> usize {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Builds the file-system part of the bubblewrap command line.
pub fn bwrap_args(fs: &dyn Fs, mounts: &[Mount]) -> Vec<String> {
    let mut mounts: Vec<&Mount> = mounts.iter().collect();
    // Parents before children; among equals, the later mount wins, as in a pod spec.
    mounts.sort_by_key(|m| depth(&m.target));
    let mut out = vec![
        "--proc".to_string(),
        "/proc".into(),
        "--dev".into(),
        "/dev".into(),
        "--ro-bind".into(),
        "/sys".into(),
        "/sys".into(),
        "--tmpfs".into(),
        "/run".into(),
        "--tmpfs".into(),
        "/tmp".into(),
    ];
    let targets: Vec<&Path> = mounts.iter().map(|m| m.target.as_path()).collect();
    mirror(fs, Path::new("/"), Path::new("/"), &targets, true, &mut out);
    for (i, m) in mounts.iter().enumerate() {
        let target = text(&m.target);
        match &m.source {
            Source::Tmpfs => out.extend(["--tmpfs".to_string(), target]),
            Source::Host(src) => {
                let below: Vec<&Path> = targets[i + 1..]
                    .iter()
                    .copied()
                    .filter(|t| t.starts_with(&m.target) && *t != m.target)
                    .collect();
                if fs.kind(src) == Some(Kind::Dir) && needs_rebuild(fs, src, &m.target, &below) {
                    out.extend(["--dir".to_string(), target]);
                    mirror(fs, src, &m.target, &below, m.read_only, &mut out);
                } else {
                    let flag = if m.read_only { "--ro-bind" } else { "--bind" };
                    out.extend([flag.to_string(), text(src), target]);
                }
            }
        }
    }
    out
}

/// Whether a mount below `target` has no existing host path to land on inside `src`.
fn needs_rebuild(fs: &dyn Fs, src: &Path, target: &Path, below: &[&Path]) -> bool {
    below.iter().any(|t| {
        t.strip_prefix(target)
            .map(|rel| !fs.exists(&src.join(rel)))
            .unwrap_or(false)
    })
}

/// Recreates `target` from the host directory `src`: each entry is bound as it is, except
/// entries that are mount targets (mounted later) and directories that must receive a mount
/// point (rebuilt the same way).
fn mirror(
    fs: &dyn Fs,
    src: &Path,
    target: &Path,
    targets: &[&Path],
    read_only: bool,
    out: &mut Vec<String>,
) {
    let at_root = target == Path::new("/");
    for name in fs.children(src) {
        if at_root && PRIVATE.contains(&name.as_str()) {
            continue;
        }
        let s = src.join(&name);
        let t = target.join(&name);
        if targets.contains(&t.as_path()) {
            continue;
        }
        let below: Vec<&Path> = targets
            .iter()
            .copied()
            .filter(|x| x.starts_with(&t) && *x != t)
            .collect();
        let kind = fs.kind(&s);
        if !below.is_empty() && needs_rebuild(fs, &s, &t, &below) {
            out.extend(["--dir".to_string(), text(&t)]);
            if kind == Some(Kind::Dir) {
                mirror(fs, &s, &t, &below, read_only, out);
            }
            continue;
        }
        match kind {
            Some(Kind::Symlink(link)) => {
                out.extend(["--symlink".to_string(), text(&link), text(&t)])
            }
            Some(_) => {
                let flag = if read_only { "--ro-bind" } else { "--bind" };
                out.extend([flag.to_string(), text(&s), text(&t)]);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory tree: path → kind.
    struct Tree(BTreeMap<PathBuf, Kind>);

    impl Tree {
        fn new(entries: &[(&str, Kind)]) -> Self {
            let mut m = BTreeMap::new();
            m.insert(PathBuf::from("/"), Kind::Dir);
            for (p, k) in entries {
                m.insert(PathBuf::from(p), k.clone());
            }
            Tree(m)
        }
    }

    impl Fs for Tree {
        fn kind(&self, path: &Path) -> Option<Kind> {
            self.0.get(path).cloned()
        }
        fn children(&self, path: &Path) -> Vec<String> {
            self.0
                .keys()
                .filter(|p| p.parent() == Some(path))
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect()
        }
        fn exists(&self, path: &Path) -> bool {
            match self.0.get(path) {
                Some(Kind::Symlink(to)) => {
                    let resolved = path.parent().unwrap_or(Path::new("/")).join(to);
                    self.exists(&resolved)
                }
                Some(_) => true,
                None => false,
            }
        }
    }

    fn host() -> Tree {
        Tree::new(&[
            ("/usr", Kind::Dir),
            ("/bin", Kind::Symlink("usr/bin".into())),
            ("/usr/bin", Kind::Dir),
            ("/etc", Kind::Dir),
            ("/etc/hosts", Kind::Other),
            ("/etc/passwd", Kind::Other),
            ("/opt", Kind::Dir),
            ("/opt/tool", Kind::Dir),
            ("/var", Kind::Dir),
            ("/var/lib", Kind::Dir),
            ("/var/run", Kind::Symlink("/run".into())),
            ("/proc", Kind::Dir),
            ("/tmp", Kind::Dir),
            ("/tmp/events", Kind::Dir),
            ("/site", Kind::Dir),
            ("/site/pyspark", Kind::Dir),
            ("/site/pyspark/jars", Kind::Dir),
            ("/site/pyspark/bin", Kind::Dir),
        ])
    }

    fn mount(target: &str, source: Source, read_only: bool) -> Mount {
        Mount {
            target: target.into(),
            source,
            read_only,
        }
    }

    fn after_common(args: &[String]) -> String {
        args[11..].join(" ")
    }

    #[test]
    fn host_root_is_bound_read_only_entry_by_entry() {
        let args = bwrap_args(&host(), &[]);
        assert_eq!(
            args[..11].join(" "),
            "--proc /proc --dev /dev --ro-bind /sys /sys --tmpfs /run --tmpfs /tmp"
        );
        assert_eq!(
            after_common(&args),
            "--symlink usr/bin /bin --ro-bind /etc /etc --ro-bind /opt /opt --ro-bind /site /site \
             --ro-bind /usr /usr --ro-bind /var /var"
        );
    }

    #[test]
    fn existing_mount_points_are_mounted_over() {
        let hosts = Source::Host("/pods/p/hosts".into());
        let events = Source::Host("/tmp/events".into());
        let args = bwrap_args(
            &host(),
            &[
                mount("/etc/hosts", hosts, true),
                mount("/tmp/events", events, false),
            ],
        );
        let tail = after_common(&args);
        assert!(tail.contains("--ro-bind /etc /etc"), "{tail}");
        assert!(
            tail.ends_with("--ro-bind /pods/p/hosts /etc/hosts --bind /tmp/events /tmp/events"),
            "{tail}"
        );
    }

    #[test]
    fn missing_mount_points_rebuild_their_parents() {
        let args = bwrap_args(
            &host(),
            &[
                mount("/opt/spark", Source::Host("/site/pyspark".into()), true),
                mount("/opt/spark/conf", Source::Host("/pods/p/conf".into()), true),
                mount(
                    "/opt/spark/work-dir",
                    Source::Host("/pods/p/c/work".into()),
                    false,
                ),
                mount(
                    "/var/run/secrets/kubernetes.io/serviceaccount",
                    Source::Tmpfs,
                    true,
                ),
            ],
        );
        let tail = after_common(&args);
        // /opt is rebuilt around the new /opt/spark; its other entries are kept.
        assert!(
            tail.contains("--dir /opt --ro-bind /opt/tool /opt/tool"),
            "{tail}"
        );
        // /var/run is a symlink to the private /run: it becomes a directory.
        assert!(
            tail.contains("--dir /var --ro-bind /var/lib /var/lib --dir /var/run"),
            "{tail}"
        );
        // The image directory is rebuilt for the mount points pyspark lacks.
        assert!(
            tail.contains(
                "--dir /opt/spark --ro-bind /site/pyspark/bin /opt/spark/bin \
                 --ro-bind /site/pyspark/jars /opt/spark/jars"
            ),
            "{tail}"
        );
        assert!(
            tail.ends_with(
                "--ro-bind /pods/p/conf /opt/spark/conf --bind /pods/p/c/work /opt/spark/work-dir \
                 --tmpfs /var/run/secrets/kubernetes.io/serviceaccount"
            ),
            "{tail}"
        );
        assert!(!tail.contains("--ro-bind /opt /opt"), "{tail}");
    }
}
