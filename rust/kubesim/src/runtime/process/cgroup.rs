//! Memory limits through a memory cgroup per container, below kubesim's own cgroup: cgroup v2
//! (`memory.max`, `memory.events`) or the v1 memory controller (`memory.limit_in_bytes`,
//! `memory.oom_control`). Where neither can be created (no permission, no controller), limits
//! are not enforced and [`Root::create`] returns `None`.

use std::path::{Path, PathBuf};

/// Which cgroup interface is in use.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Version {
    V1,
    V2,
}

/// kubesim's parent cgroup for containers.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    version: Version,
}

/// One container's cgroup.
#[derive(Debug)]
pub struct Group {
    path: PathBuf,
    version: Version,
}

/// kubesim's own cgroup of `controller` (v1) or of the unified hierarchy (v2), from
/// `/proc/self/cgroup` text.
fn own_path(proc_cgroup: &str, v1_controller: Option<&str>) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match v1_controller {
            Some(c) => controllers.split(',').any(|x| x == c),
            None => controllers.is_empty(),
        };
        matches.then(|| path.to_string())
    })
}

impl Root {
    /// Creates `name` below kubesim's cgroup, preferring cgroup v2.
    pub fn create(name: &str) -> Option<Root> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let candidates = [
            (
                Version::V2,
                own_path(&own, None)
                    .map(|p| Path::new("/sys/fs/cgroup").join(p.trim_start_matches('/'))),
            ),
            (
                Version::V1,
                own_path(&own, Some("memory"))
                    .map(|p| Path::new("/sys/fs/cgroup/memory").join(p.trim_start_matches('/'))),
            ),
        ];
        for (version, base) in candidates {
            let Some(base) = base else { continue };
            let limit_file = match version {
                Version::V1 => "memory.limit_in_bytes",
                Version::V2 => "memory.max",
            };
            if version == Version::V2 {
                let controllers =
                    std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
                if !controllers.split_whitespace().any(|c| c == "memory") {
                    continue;
                }
            }
            let path = base.join(name);
            if std::fs::create_dir_all(&path).is_err() {
                continue;
            }
            if version == Version::V2 {
                let _ = std::fs::write(path.join("cgroup.subtree_control"), "+memory");
            }
            let probe = path.join("probe");
            let usable = std::fs::create_dir(&probe).is_ok() && probe.join(limit_file).exists();
            let _ = std::fs::remove_dir(&probe);
            if usable {
                return Some(Root { path, version });
            }
            let _ = std::fs::remove_dir(&path);
        }
        None
    }

    /// A cgroup limited to `bytes`, or `None` if it cannot be set up.
    pub fn group(&self, name: &str, bytes: u64) -> Option<Group> {
        let path = self.path.join(name);
        std::fs::create_dir_all(&path).ok()?;
        let ok = match self.version {
            Version::V1 => {
                let set =
                    std::fs::write(path.join("memory.limit_in_bytes"), bytes.to_string()).is_ok();
                // Without swap accounting the file is absent; with it, swap counts too.
                let _ = std::fs::write(path.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                set
            }
            Version::V2 => {
                let set = std::fs::write(path.join("memory.max"), bytes.to_string()).is_ok();
                let _ = std::fs::write(path.join("memory.swap.max"), "0");
                set
            }
        };
        if !ok {
            let _ = std::fs::remove_dir(&path);
            return None;
        }
        Some(Group {
            path,
            version: self.version,
        })
    }

    /// Removes kubesim's cgroup (once its containers are gone).
    pub fn remove(&self) {
        for entry in std::fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().is_dir() {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Reads `key N` from a flat keyed cgroup file.
fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

impl Group {
    /// The file a process writes its PID to in order to join.
    pub fn procs_file(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    /// Whether the kernel's OOM killer ended a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let (file, key) = match self.version {
            Version::V1 => ("memory.oom_control", "oom_kill "),
            Version::V2 => ("memory.events", "oom_kill "),
        };
        let text = std::fs::read_to_string(self.path.join(file)).unwrap_or_default();
        if counter(&text, key) > 0 {
            return true;
        }
        self.version == Version::V1
            && counter(
                &std::fs::read_to_string(self.path.join("memory.failcnt")).unwrap_or_default(),
                "",
            ) > 0
            && !text.contains("oom_kill ")
    }

    /// Removes the cgroup (its processes have exited).
    pub fn remove(self) {
        for _ in 0..20 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_cgroup_paths() {
        let text = "12:pids:/a\n4:memory,foo:/process_api/x\n0::/unified/y\n";
        assert_eq!(
            own_path(text, Some("memory")).as_deref(),
            Some("/process_api/x")
        );
        assert_eq!(own_path(text, None).as_deref(), Some("/unified/y"));
        assert_eq!(own_path(text, Some("cpu")), None);
    }

    #[test]
    fn reads_counters() {
        assert_eq!(
            counter("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill "),
            2
        );
        assert_eq!(counter("low 0\nhigh 0\n", "oom_kill "), 0);
        assert_eq!(counter("3\n", ""), 3);
    }
}
