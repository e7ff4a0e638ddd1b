//! Cluster DNS as a hosts file: every pod gets its own `/etc/hosts` mapping its hostname to its
//! IP, `kubernetes.default.svc` to the API server's in-cluster address, and
//! `<service>.<namespace>.svc[.cluster.local]` to the ready addresses of each Service's
//! endpoints (there is no kube-proxy, so a ClusterIP service resolves to its pods as a headless
//! one does). Files are rewritten in place when endpoints change, so a bind mount sees the new
//! content.

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The cluster-wide part of every hosts file.
pub fn cluster_entries(api_ip: &str, endpoints: &[Value]) -> String {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |ip: &str, name: String| names.entry(ip.to_string()).or_default().push(name);
    for svc in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        add(api_ip, svc.to_string());
    }
    for ep in endpoints {
        let name = ep["metadata"]["name"].as_str().unwrap_or_default();
        let ns = ep["metadata"]["namespace"].as_str().unwrap_or_default();
        if name.is_empty() || (ns == "default" && name == "kubernetes") {
            continue;
        }
        for subset in ep["subsets"].as_array().into_iter().flatten() {
            for addr in subset["addresses"].as_array().into_iter().flatten() {
                let Some(ip) = addr["ip"].as_str() else {
                    continue;
                };
                add(ip, format!("{name}.{ns}.svc"));
                add(ip, format!("{name}.{ns}.svc.cluster.local"));
                if let Some(host) = addr["hostname"].as_str() {
                    add(ip, format!("{host}.{name}.{ns}.svc.cluster.local"));
                }
            }
        }
    }
    let mut out = String::new();
    for (ip, names) in names {
        out.push_str(&ip);
        for n in names {
            out.push(' ');
            out.push_str(&n);
        }
        out.push('\n');
    }
    out
}

/// One pod's hosts file: localhost, its own name, then the cluster's entries.
pub fn pod_hosts(pod_ip: &str, hostname: &str, cluster: &str) -> String {
    format!(
        "# Kubernetes-managed hosts file (kubesim).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{pod_ip}\t{hostname}\n{cluster}"
    )
}

/// Replaces a file's content without replacing the file, so bind mounts of it follow.
pub fn rewrite_in_place(path: &Path, content: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.seek(std::io::SeekFrom::Start(0))?;
    f.write_all(content.as_bytes())?;
    f.set_len(content.len() as u64)?;
    Ok(())
}

/// A pod whose hosts file follows the cluster.
#[derive(Debug, Clone)]
pub struct PodHosts {
    /// The file.
    pub path: PathBuf,
    /// The pod's IP.
    pub ip: String,
    /// The pod's hostname.
    pub hostname: String,
}

impl PodHosts {
    /// Writes the file for the current cluster entries.
    pub fn write(&self, cluster: &str) -> std::io::Result<()> {
        rewrite_in_place(&self.path, &pod_hosts(&self.ip, &self.hostname, cluster))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_resolve_to_ready_addresses() {
        let endpoints = [
            json!({"metadata": {"name": "spark-pi-driver-svc", "namespace": "default"},
                   "subsets": [{"addresses": [{"ip": "127.7.0.9"}], "notReadyAddresses": [{"ip": "127.7.0.10"}]}]}),
            json!({"metadata": {"name": "kubernetes", "namespace": "default"},
                   "subsets": [{"addresses": [{"ip": "10.96.0.1"}]}]}),
            json!({"metadata": {"name": "empty", "namespace": "apps"}}),
        ];
        let text = cluster_entries("127.7.0.1", &endpoints);
        assert_eq!(
            text,
            "127.7.0.1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local\n\
             127.7.0.9 spark-pi-driver-svc.default.svc spark-pi-driver-svc.default.svc.cluster.local\n"
        );
        let hosts = pod_hosts("127.7.0.12", "spark-pi-exec-1", &text);
        assert!(hosts.contains("\n127.7.0.12\tspark-pi-exec-1\n"));
        assert!(hosts.ends_with(&text));
    }

    #[test]
    fn rewriting_keeps_the_inode() -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let path = std::env::temp_dir().join(format!("kubesim-hosts-{}", std::process::id()));
        rewrite_in_place(&path, "a long first version\n")?;
        let inode = std::fs::metadata(&path)?.ino();
        rewrite_in_place(&path, "short\n")?;
        assert_eq!(std::fs::read_to_string(&path)?, "short\n");
        assert_eq!(std::fs::metadata(&path)?.ino(), inode);
        std::fs::remove_file(&path)
    }
}
