//! Remote files spark-submit reads on the submitting side (pod templates given as URIs):
//! the object stores through the upload module's client and credentials
//! (`spark.hadoop.fs.s3a.*`, ..., then each cloud's environment), `http(s)` with a GET.
//!
//! Resolution is synchronous and may run inside an async runtime (the Python API, the
//! Airflow triggerer), where blocking on a future would panic; a read therefore runs on a
//! thread of its own with a one-thread runtime. It happens once per template per submission.

use std::io;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use sparkube_core::SparkConf;

use crate::upload::{https_client, open_store};

/// How long one remote read may take, connection and body included.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects an `http(s)` read follows, as Java's URL connection does.
const MAX_REDIRECTS: usize = 5;

/// Reads `uri` (`s3a://`, `s3://`, `gs://`, `abfs://`, `abfss://`, `http://`, `https://`)
/// with `conf`'s store credentials. The error is one line that never holds a credential.
pub fn fetch(uri: &str, conf: &SparkConf) -> io::Result<Vec<u8>> {
    let uri = uri.to_owned();
    let conf = conf.clone();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    tokio::time::timeout(READ_TIMEOUT, read(&uri, &conf))
                        .await
                        .unwrap_or_else(|_| {
                            Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("no answer in {} s", READ_TIMEOUT.as_secs()),
                            ))
                        })
                })
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread failed")))
    })
}

async fn read(uri: &str, conf: &SparkConf) -> io::Result<Vec<u8>> {
    let scheme = uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "http" | "https" => http_get(uri).await,
        "s3a" | "s3" | "gs" | "abfs" | "abfss" => object_get(uri, conf).await,
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{scheme}:// is not a scheme sparkube reads"),
        )),
    }
}

async fn object_get(uri: &str, conf: &SparkConf) -> io::Result<Vec<u8>> {
    let opened = open_store(conf, uri).map_err(|e| io::Error::other(one_line(&e.to_string())))?;
    let path = ObjectPath::from(opened.key.trim_start_matches('/'));
    let result = match opened.store.get(&path).await {
        Ok(result) => result.bytes().await,
        Err(e) => Err(e),
    };
    result.map(|b| b.to_vec()).map_err(|e| {
        let (status, code) = crate::upload::http_status(&e);
        match (&e, status) {
            (object_store::Error::NotFound { .. }, _) | (_, Some(404)) => io::Error::new(
                io::ErrorKind::NotFound,
                match code.as_deref() {
                    Some("NoSuchBucket") => format!("the bucket {} does not exist", opened.bucket),
                    _ => "no such object (HTTP 404)".to_owned(),
                },
            ),
            (
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. },
                _,
            )
            | (_, Some(401 | 403)) => io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the credentials for bucket {} were refused ({})",
                    opened.bucket,
                    code.unwrap_or_else(|| format!("HTTP {}", status.unwrap_or(403)))
                ),
            ),
            _ => io::Error::other(one_line(&e.to_string())),
        }
    })
}

async fn http_get(uri: &str) -> io::Result<Vec<u8>> {
    let client = https_client();
    let mut target: http::Uri = uri
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("not a URL: {e}")))?;
    for _ in 0..=MAX_REDIRECTS {
        let request = http::Request::get(target.clone())
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| io::Error::other(one_line(&format!("{e:#}"))))?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
        {
            target = redirect_target(&target, location)?;
            continue;
        }
        if !status.is_success() {
            let kind = match status.as_u16() {
                404 => io::ErrorKind::NotFound,
                401 | 403 => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::Other,
            };
            return Err(io::Error::new(kind, format!("HTTP {status}")));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| io::Error::other(one_line(&e.to_string())))?;
        return Ok(body.to_bytes().to_vec());
    }
    Err(io::Error::other(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// The URL a `Location` header points to, relative to `base` when it is a path.
fn redirect_target(base: &http::Uri, location: &str) -> io::Result<http::Uri> {
    let joined = if location.starts_with('/') {
        format!(
            "{}://{}{location}",
            base.scheme_str().unwrap_or("http"),
            base.authority().map_or("", |a| a.as_str())
        )
    } else {
        location.to_owned()
    };
    joined
        .parse()
        .map_err(|e| io::Error::other(format!("bad redirect {location:?}: {e}")))
}

/// The first line of an error message.
fn one_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_base() -> io::Result<()> {
        let base: http::Uri = "http://a.example:8080/x/y.yaml"
            .parse()
            .map_err(io::Error::other)?;
        assert_eq!(
            redirect_target(&base, "/z.yaml")?.to_string(),
            "http://a.example:8080/z.yaml"
        );
        assert_eq!(
            redirect_target(&base, "https://b.example/t.yaml")?.to_string(),
            "https://b.example/t.yaml"
        );
        Ok(())
    }

    /// A one-connection-at-a-time HTTP server on loopback answering `/t.yaml` with `body`
    /// and anything else with 404, for `requests` requests.
    fn serve(body: &'static str, requests: usize) -> io::Result<String> {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let reply = if head.starts_with("GET /t.yaml ") {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Ok(url)
    }

    #[test]
    fn http_templates_are_read_and_404_is_not_found() -> io::Result<()> {
        let url = serve("kind: Pod\n", 2)?;
        assert_eq!(
            fetch(&format!("{url}/t.yaml"), &SparkConf::new())?,
            b"kind: Pod\n"
        );
        let err = fetch(&format!("{url}/nope.yaml"), &SparkConf::new()).err();
        assert_eq!(
            err.as_ref().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("HTTP 404 Not Found")
        );
        Ok(())
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let err = fetch("ftp://h/t.yaml", &SparkConf::new()).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("ftp:// is not a scheme sparkube reads")
        );
    }
}
