//! Writing the kubeconfig that points clients at kubesim (cluster, admin user with a bearer
//! token, current context `kubesim`), and reading it back for `kubesim token`.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors from kubeconfig files.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be written or read.
    #[error("failed to {action} kubeconfig {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file does not have the expected server and token.
    #[error("kubeconfig {0} has no kubesim server and token")]
    Malformed(PathBuf),
}

/// Result alias for kubeconfig handling.
pub type Result<T> = std::result::Result<T, Error>;

/// The kubeconfig text for `server` and `token`, trusting the CA `ca_pem` when given.
pub fn render(server: &str, token: &str, ca_pem: Option<&str>) -> String {
    use base64::Engine;
    let ca = ca_pem
        .map(|p| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(p)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n{ca}    server: {server}\ncontexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim-admin\n    namespace: default\ncurrent-context: kubesim\nusers:\n- name: kubesim-admin\n  user:\n    token: {token}\npreferences: {{}}\n"
    )
}

/// Writes the kubeconfig atomically.
pub fn write(path: &Path, server: &str, token: &str, ca_pem: Option<&str>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "create directory for",
            path: path.into(),
            source,
        })?;
    }
    let tmp = path.with_extension("tmp-kubesim");
    std::fs::write(&tmp, render(server, token, ca_pem)).map_err(|source| Error::Io {
        action: "write",
        path: path.into(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        action: "write",
        path: path.into(),
        source,
    })
}

/// Reads the server URL and token back from a kubeconfig kubesim wrote.
pub fn read(path: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.into(),
        source,
    })?;
    let find = |key: &str| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(key)
                .map(|v| v.trim().trim_matches('"').to_string())
        })
    };
    match (find("server:"), find("token:")) {
        // The same port answers plain HTTP.
        (Some(s), Some(t)) => Ok((s.replacen("https://", "http://", 1), t)),
        _ => Err(Error::Malformed(path.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let path =
            std::env::temp_dir().join(format!("kubesim-kc-{}.yaml", crate::auth::random_hex(4)));
        assert!(write(&path, "https://127.0.0.1:1234", "tok", Some("PEM")).is_ok());
        assert_eq!(
            read(&path).ok(),
            Some(("http://127.0.0.1:1234".to_string(), "tok".to_string()))
        );
        let parsed: serde_json::Value =
            serde_norway::from_str(&render("http://x", "t", None)).unwrap_or_default();
        assert_eq!(parsed["current-context"], "kubesim");
        assert_eq!(parsed["users"][0]["user"]["token"], "t");
        let _ = std::fs::remove_file(path);
    }
}
