//! TLS: a cluster CA and a serving certificate generated at start (kept in `--state-dir`), so
//! clients that only send credentials over TLS (kubectl, client-go) can authenticate. The same
//! port answers plain HTTP and TLS, told apart by the first byte of each connection.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

/// Errors from generating or loading TLS material.
#[derive(Debug, Error)]
pub enum Error {
    /// Certificate generation failed.
    #[error("failed to generate the kubesim certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// The TLS configuration was rejected.
    #[error("failed to configure TLS: {0}")]
    Config(#[from] rustls::Error),
    /// The state directory's TLS file could not be written.
    #[error("failed to write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for TLS setup.
pub type Result<T> = std::result::Result<T, Error>;

/// The CA and serving certificate.
#[derive(Debug, Clone)]
pub struct Material {
    /// The CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The serving certificate, DER.
    pub cert_der: Vec<u8>,
    /// The serving key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

/// Names and addresses the serving certificate is valid for, the process runtime's in-cluster
/// API addresses included.
pub fn server_names() -> Vec<String> {
    let fixed = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
        "::1",
        "10.96.0.1",
    ];
    fixed
        .iter()
        .map(|s| s.to_string())
        .chain(crate::runtime::process::api_addresses())
        .collect()
}

/// Generates a CA and a serving certificate signed by it.
pub fn generate() -> Result<Material> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubesim-ca");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(server_names())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Material {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

/// Loads the material kept in `dir`, or generates it (and keeps it there).
pub fn load_or_generate(dir: Option<&Path>) -> Result<Material> {
    let Some(dir) = dir else { return generate() };
    let path = dir.join("tls.json");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
    {
        let get = |k: &str| v[k].as_str().and_then(|s| B64.decode(s).ok());
        if let (Some(ca_pem), Some(ca_der), Some(cert_der), Some(key_der)) = (
            v["ca_pem"].as_str(),
            get("ca_der"),
            get("cert_der"),
            get("key_der"),
        ) {
            return Ok(Material {
                ca_pem: ca_pem.to_string(),
                ca_der,
                cert_der,
                key_der,
            });
        }
    }
    let m = generate()?;
    let text = json!({"ca_pem": m.ca_pem, "ca_der": B64.encode(&m.ca_der), "cert_der": B64.encode(&m.cert_der), "key_der": B64.encode(&m.key_der)});
    std::fs::write(&path, text.to_string()).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(m)
}

/// A TLS acceptor serving HTTP/1.1 with the material.
pub fn acceptor(m: &Material) -> Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(m.cert_der.clone()),
                CertificateDer::from(m.ca_der.clone()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key_der.clone())),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_material_configures_an_acceptor() {
        let m = generate().unwrap_or_else(|e| panic!("{e}"));
        assert!(m.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(acceptor(&m).is_ok());
    }

    /// In-cluster clients verify the certificate against the address they dial.
    #[tokio::test]
    async fn verifies_for_an_in_cluster_api_address() {
        let m = generate().unwrap_or_else(|e| panic!("{e}"));
        let acceptor = acceptor(&m).unwrap_or_else(|e| panic!("{e}"));
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(m.ca_der.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("{e}"))
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        for (ip, ok) in [
            ("127.45.0.1", true),
            ("127.219.0.1", true),
            ("127.45.0.2", false),
        ] {
            let (client_io, server_io) = tokio::io::duplex(64 * 1024);
            let server = tokio::spawn({
                let acceptor = acceptor.clone();
                async move { acceptor.accept(server_io).await.is_ok() }
            });
            let name = rustls::pki_types::ServerName::try_from(ip.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            let client = connector.connect(name, client_io).await;
            assert_eq!(client.is_ok(), ok, "{ip}: {:?}", client.err());
            drop(client);
            let _ = server.await;
        }
    }
}
