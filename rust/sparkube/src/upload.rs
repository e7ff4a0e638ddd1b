//! spark-submit's upload of local files to `spark.kubernetes.file.upload.path`, through the
//! `object_store` crate: S3 and S3-compatible servers (`s3a://`, `s3://`), Google Cloud
//! Storage (`gs://`), Azure (`abfs://`, `abfss://`) and shared volumes (`file://`).
//!
//! `sparkube-core` plans what goes where ([`Upload`]: the URIs in the conf are already
//! final). This module opens the store the upload path names, with the credentials
//! spark-submit's Hadoop file systems read (`spark.hadoop.fs.s3a.*`, ...), else the standard
//! environment of each cloud; checks the bucket once and asks (HEAD) for every object before
//! sending anything, so that a missing bucket or refused credentials leave nothing behind;
//! then sends the objects that are not there yet. The object names are derived from the
//! contents, so an unchanged file is found and not sent again. Large files go in parallel
//! parts of [`PART_SIZE`], read from disk as they are sent: memory stays at a few parts
//! whatever the file size.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sparkube_core::SparkConf;
use sparkube_core::conf::keys;
use sparkube_core::ship::{Upload, upload_scheme};
use tokio::io::AsyncReadExt;

/// The size of one part of a multipart upload; files up to this size go in one request.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one file in flight at once.
pub const PARALLEL_PARTS: usize = 4;
/// Small files sent at once.
const PARALLEL_FILES: usize = 8;
/// `true`: the conf names uploads by presigned `https`/`http` URLs, which Spark fetches
/// without the store's file system (the pyspark distribution has no `hadoop-aws`).
pub const PRESIGN: &str = "spark.sparkube.upload.presign";
/// How long presigned URLs stay valid: seven days, the most S3's signature allows.
pub const PRESIGN_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why local files could not be uploaded. Messages name the bucket or file and never a key.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The upload path or the conf that configures its store cannot be used.
    #[error("{option}: {message}")]
    Config {
        /// The conf key at fault.
        option: String,
        /// One line saying why.
        message: String,
    },
    /// The bucket (or container) the upload path names does not exist.
    #[error(
        "{}: bucket {bucket} of {upload_path} does not exist",
        keys::FILE_UPLOAD_PATH
    )]
    NoBucket {
        /// The bucket.
        bucket: String,
        /// The upload path.
        upload_path: String,
    },
    /// The store refused the credentials for the bucket.
    #[error(
        "{}: the credentials for bucket {bucket} were refused ({reason})",
        keys::FILE_UPLOAD_PATH
    )]
    Refused {
        /// The bucket.
        bucket: String,
        /// The store's reason, without credentials.
        reason: String,
    },
    /// A local file could not be read while sending it.
    #[error("could not read {path} given by {option}: {source}")]
    Read {
        /// The option that named it.
        option: String,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed while sending or removing an object.
    #[error("failed to {action} {target}: {source}")]
    Store {
        /// `upload to`, `remove`, ...
        action: &'static str,
        /// The object's URI.
        target: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
}

impl UploadError {
    /// Whether the error is bad input (no bucket, refused credentials, bad conf, unreadable
    /// file), which the caller reports as such, rather than a failure of the store.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, UploadError::Store { .. })
    }
}

/// The result of this module.
pub type Result<T> = std::result::Result<T, UploadError>;

/// What one submission's upload did.
#[derive(Debug, Clone, Default)]
pub struct Uploaded {
    /// The objects this submission wrote (those already there are not listed): the ones to
    /// remove if the submission fails.
    pub written: Vec<String>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Files found already uploaded.
    pub already_there: usize,
    /// The presigned URL of every upload, by its URI, with [`PRESIGN`].
    pub presigned: HashMap<String, String>,
}

/// The store an upload path names, opened with the conf's credentials.
pub struct Uploader {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    /// `<scheme>://<authority>`: the prefix of every URI in this store.
    root: String,
    /// The bucket, container or (for `file://`) directory, for messages.
    bucket: String,
    upload_path: String,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("upload_path", &self.upload_path)
            .finish_non_exhaustive()
    }
}

/// `scheme://authority/rest` split into its three parts.
fn split_uri(uri: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = uri.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    Some((scheme, authority, path))
}

/// The store holding `uri`, opened with `conf`'s credentials, and where `uri` is in it.
pub(crate) struct OpenedStore {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Its URL signer, for the clouds.
    pub signer: Option<Arc<dyn Signer>>,
    /// `<scheme>://<authority>`: the prefix of every URI in this store.
    pub root: String,
    /// The bucket, container or (for `file://`) directory, for messages.
    pub bucket: String,
    /// The object's key: the rest of `uri` after the root.
    pub key: String,
}

/// Opens the store `uri` (`s3a://`, `s3://`, `gs://`, `abfs://`, `abfss://`, `file://`) is
/// in, with the credentials spark-submit's Hadoop file systems read from `conf`
/// (`spark.hadoop.fs.s3a.*`, ...), else the standard environment of each cloud. Errors name
/// [`keys::FILE_UPLOAD_PATH`]; other callers rename them.
pub(crate) fn open_store(conf: &SparkConf, uri: &str) -> Result<OpenedStore> {
    let config = |message: String| UploadError::Config {
        option: keys::FILE_UPLOAD_PATH.to_owned(),
        message,
    };
    let scheme = upload_scheme(uri).map_err(|e| config(e.to_string()))?;
    let (_, authority, key) =
        split_uri(uri).ok_or_else(|| config(format!("{uri} is not a URI")))?;
    let root = format!("{scheme}://{authority}");
    let store_error = |e: object_store::Error| config(format!("{uri}: {e}"));
    let (store, signer, bucket): (Arc<dyn ObjectStore>, Option<Arc<dyn Signer>>, String) =
        match scheme {
            "s3a" | "s3" => {
                let s3 = Arc::new(s3_store(conf, authority).map_err(store_error)?);
                (
                    s3.clone(),
                    Some(s3 as Arc<dyn Signer>),
                    authority.to_owned(),
                )
            }
            "gs" => {
                let mut builder = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(authority)
                    .with_http_connector(HyperConnector);
                if let Some(path) =
                    conf.get("spark.hadoop.google.cloud.auth.service.account.json.keyfile")
                {
                    builder = builder.with_service_account_path(path);
                }
                let gcs = Arc::new(builder.build().map_err(store_error)?);
                (
                    gcs.clone(),
                    Some(gcs as Arc<dyn Signer>),
                    authority.to_owned(),
                )
            }
            "abfs" | "abfss" => {
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_url(uri)
                    .with_http_connector(HyperConnector);
                let account_host = authority.split_once('@').map_or(authority, |(_, h)| h);
                if let Some(key) =
                    conf.get(&format!("spark.hadoop.fs.azure.account.key.{account_host}"))
                {
                    builder = builder.with_access_key(key);
                }
                let azure = Arc::new(builder.build().map_err(store_error)?);
                (
                    azure.clone(),
                    Some(azure as Arc<dyn Signer>),
                    authority.to_owned(),
                )
            }
            _ => (Arc::new(LocalFileSystem::new()), None, format!("/{key}")),
        };
    Ok(OpenedStore {
        store,
        signer,
        root,
        bucket,
        key: key.to_owned(),
    })
}

/// The Hadoop-style boolean of `key`, if set.
fn conf_bool(conf: &SparkConf, key: &str) -> Option<bool> {
    conf.get(key).map(|v| v.trim().eq_ignore_ascii_case("true"))
}

impl Uploader {
    /// Opens the store of `conf`'s upload path.
    pub fn open(conf: &SparkConf) -> Result<Uploader> {
        let config = |message: String| UploadError::Config {
            option: keys::FILE_UPLOAD_PATH.to_owned(),
            message,
        };
        let upload_path = conf
            .get(keys::FILE_UPLOAD_PATH)
            .ok_or_else(|| config("not set".to_owned()))?
            .trim_end_matches('/')
            .to_owned();
        let presign = conf_bool(conf, PRESIGN).unwrap_or(false);
        let OpenedStore {
            store,
            signer,
            root,
            bucket,
            ..
        } = open_store(conf, &upload_path)?;
        if presign && signer.is_none() {
            return Err(UploadError::Config {
                option: PRESIGN.to_owned(),
                message: format!(
                    "{PRESIGN}: {upload_path} has no presigned URLs; presign needs an upload \
                     path in s3a://, s3://, gs://, abfs:// or abfss://"
                ),
            });
        }
        Ok(Uploader {
            store,
            signer: signer.filter(|_| presign),
            root,
            bucket,
            upload_path,
        })
    }

    /// The object path of a URI in this store.
    fn object_path(&self, uri: &str) -> ObjectPath {
        let key = uri.strip_prefix(&self.root).unwrap_or(uri);
        ObjectPath::from(key.trim_start_matches('/'))
    }

    /// A store error as the caller should see it: a missing bucket or refused credentials
    /// are bad input and name the bucket.
    fn classify(&self, action: &'static str, target: &str, e: object_store::Error) -> UploadError {
        let (status, code) = http_status(&e);
        let missing = matches!(e, object_store::Error::NotFound { .. }) || status == Some(404);
        let refused = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || matches!(status, Some(401 | 403));
        if missing && (action == "list" || code.as_deref() == Some("NoSuchBucket")) {
            return UploadError::NoBucket {
                bucket: self.bucket.clone(),
                upload_path: self.upload_path.clone(),
            };
        }
        if refused {
            return UploadError::Refused {
                bucket: self.bucket.clone(),
                reason: code.unwrap_or_else(|| format!("HTTP {}", status.unwrap_or(403))),
            };
        }
        UploadError::Store {
            action,
            target: target.to_owned(),
            source: e,
        }
    }

    /// Checks the bucket, asks for every object, and sends the ones not there yet. Nothing
    /// is sent unless the bucket exists and takes the credentials.
    pub async fn upload(&self, uploads: &[Upload]) -> Result<Uploaded> {
        let mut done = Uploaded::default();
        if uploads.is_empty() {
            return Ok(done);
        }
        if !self.is_shared_volume() {
            let prefix = self.object_path(&self.upload_path);
            self.store
                .list_with_delimiter(Some(&prefix))
                .await
                .map_err(|e| self.classify("list", &self.upload_path, e))?;
        }
        // In groups of PARALLEL_FILES (the futures are made before awaiting: a stream of
        // borrowing closures would not be Send for the Python glue's runtime).
        let mut present = Vec::with_capacity(uploads.len());
        for group in uploads.chunks(PARALLEL_FILES) {
            for there in futures::future::join_all(group.iter().map(|u| self.is_there(u))).await {
                present.push(there?);
            }
        }
        let missing: Vec<&Upload> = uploads
            .iter()
            .zip(&present)
            .filter(|(_, there)| !**there)
            .map(|(u, _)| u)
            .collect();
        done.already_there = uploads.len() - missing.len();
        let (small, large): (Vec<&Upload>, Vec<&Upload>) = missing
            .into_iter()
            .partition(|u| u.contents.is_some() || u.size <= PART_SIZE as u64);
        let mut results: Vec<Result<&Upload>> = Vec::with_capacity(small.len());
        for group in small.chunks(PARALLEL_FILES) {
            let sent = futures::future::join_all(group.iter().map(|u| self.put_whole(u))).await;
            results.extend(group.iter().zip(sent).map(|(u, r)| r.map(|()| *u)));
        }
        // Large files one at a time, each in parallel parts: memory is PARALLEL_PARTS parts.
        for u in large {
            results.push(self.put_parts(u).await.map(|()| u));
            if results.last().is_some_and(|r| r.is_err()) {
                break;
            }
        }
        let mut failure = None;
        for result in results {
            match result {
                Ok(u) => {
                    done.written.push(u.target.clone());
                    done.bytes_sent += u.size;
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            self.remove(&done.written).await;
            return Err(e);
        }
        if let Some(signer) = &self.signer {
            for u in uploads {
                let url = signer
                    .signed_url(
                        http::Method::GET,
                        &self.object_path(&u.target),
                        PRESIGN_VALIDITY,
                    )
                    .await
                    .map_err(|e| self.classify("presign", &u.target, e))?;
                done.presigned.insert(u.target.clone(), url.to_string());
            }
        }
        log::info!(
            "uploaded {} file(s), {} bytes, to {}; {} already there",
            done.written.len(),
            done.bytes_sent,
            self.upload_path,
            done.already_there
        );
        Ok(done)
    }

    /// Whether the object is there with the file's size (its name is of its contents).
    async fn is_there(&self, upload: &Upload) -> Result<bool> {
        match self.store.head(&self.object_path(&upload.target)).await {
            Ok(meta) => Ok(meta.size == upload.size),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.classify("check", &upload.target, e)),
        }
    }

    /// `file://`: the upload path is a directory of a volume this machine mounts.
    fn is_shared_volume(&self) -> bool {
        self.root.starts_with("file")
    }

    /// Copies a file onto the shared volume in the kernel (`copy_file_range` on Linux), to a
    /// staged name renamed into place: no byte passes through this process, which is about
    /// three times faster than reading and writing it, and a reader never sees half a file.
    async fn copy_to_volume(&self, upload: &Upload) -> Result<()> {
        let target = std::path::PathBuf::from(format!("/{}", self.object_path(&upload.target)));
        let staged = target.with_file_name(format!(
            ".{}.{}.partial",
            target
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("upload"),
            std::process::id()
        ));
        let copied = async {
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::copy(&upload.path, &staged).await?;
            // Readable by the pods whatever the local file's mode (as object_store writes).
            tokio::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o644)).await?;
            tokio::fs::rename(&staged, &target).await
        }
        .await;
        copied.map_err(|source| {
            let _ = std::fs::remove_file(&staged);
            self.classify(
                "upload to",
                &upload.target,
                object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(source),
                },
            )
        })
    }

    /// Sends a file (or the bytes made here) in one request.
    async fn put_whole(&self, upload: &Upload) -> Result<()> {
        if self.is_shared_volume() && upload.contents.is_none() {
            return self.copy_to_volume(upload).await;
        }
        let bytes = match &upload.contents {
            Some(contents) => Bytes::from(contents.clone()),
            None => Bytes::from(tokio::fs::read(&upload.path).await.map_err(|source| {
                UploadError::Read {
                    option: upload.option.clone(),
                    path: upload.path.clone(),
                    source,
                }
            })?),
        };
        self.store
            .put(&self.object_path(&upload.target), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| self.classify("upload to", &upload.target, e))
    }

    /// Sends a large file in parts, [`PARALLEL_PARTS`] at a time, read as they are sent.
    async fn put_parts(&self, upload: &Upload) -> Result<()> {
        if self.is_shared_volume() {
            return self.copy_to_volume(upload).await;
        }
        let read_error = |source| UploadError::Read {
            option: upload.option.clone(),
            path: upload.path.clone(),
            source,
        };
        let mut file = tokio::fs::File::open(&upload.path)
            .await
            .map_err(read_error)?;
        let multipart = self
            .store
            .put_multipart(&self.object_path(&upload.target))
            .await
            .map_err(|e| self.classify("upload to", &upload.target, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(multipart, PART_SIZE);
        let sent: Result<()> = async {
            loop {
                writer
                    .wait_for_capacity(PARALLEL_PARTS)
                    .await
                    .map_err(|e| self.classify("upload to", &upload.target, e))?;
                let mut part = Vec::with_capacity(PART_SIZE);
                let n = (&mut file)
                    .take(PART_SIZE as u64)
                    .read_to_end(&mut part)
                    .await
                    .map_err(read_error)?;
                if n == 0 {
                    return Ok(());
                }
                writer.put(Bytes::from(part));
            }
        }
        .await;
        match sent {
            Ok(()) => writer
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| self.classify("upload to", &upload.target, e)),
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    log::warn!("could not abort the upload of {}: {abort}", upload.target);
                }
                Err(e)
            }
        }
    }

    /// Removes objects (the uploads of a failed submission, or of an app that ended);
    /// failures are logged, not returned: the caller is already reporting something else.
    pub async fn remove(&self, targets: &[String]) {
        for target in targets {
            match self.store.delete(&self.object_path(target)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    log::info!("removed {target}");
                }
                Err(e) => log::warn!("could not remove {target}: {e}"),
            }
        }
    }
}

/// The HTTP status and the store's error code (`<Code>` of an S3 error) of a failed request.
/// object_store reports some refusals (a 403 on a list) as `Generic`, with the status only in
/// its message.
pub(crate) fn http_status(e: &object_store::Error) -> (Option<u16>, Option<String>) {
    let text = e.to_string();
    let status = text
        .split_once("status code: ")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|code| code.parse().ok());
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned());
    (status, code)
}

/// The S3 store of `bucket`, configured as Hadoop's S3A would be from `spark.hadoop.fs.s3a.*`,
/// then the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, ...).
fn s3_store(conf: &SparkConf, bucket: &str) -> object_store::Result<AmazonS3> {
    let s3a = |key: &str| {
        conf.get(&format!("spark.hadoop.fs.s3a.bucket.{bucket}.{key}"))
            .or_else(|| conf.get(&format!("spark.hadoop.fs.s3a.{key}")))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_http_connector(HyperConnector);
    if let Some(key) = s3a("access.key") {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = s3a("secret.key") {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = s3a("session.token") {
        builder = builder.with_token(token);
    }
    if let Some(region) = s3a("endpoint.region") {
        builder = builder.with_region(region);
    } else if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        builder = builder.with_region("us-east-1");
    }
    if let Some(endpoint) = s3a("endpoint") {
        let ssl = conf_bool(conf, "spark.hadoop.fs.s3a.connection.ssl.enabled").unwrap_or(true);
        let endpoint = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("{}://{endpoint}", if ssl { "https" } else { "http" })
        };
        let path_style = s3a("path.style.access").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        builder = builder.with_allow_http(endpoint.starts_with("http://"));
        builder = if path_style {
            builder.with_endpoint(endpoint)
        } else {
            // object_store takes a virtual-hosted endpoint as the bucket's own URL.
            let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
            builder
                .with_virtual_hosted_style_request(true)
                .with_endpoint(format!("{scheme}://{bucket}.{host}"))
        };
    }
    builder.build()
}

/// The HTTP transport of the stores: hyper and rustls (ring) with the system's roots, the
/// stack the Kubernetes client already links, instead of reqwest with a second TLS stack.
#[derive(Debug, Clone, Copy)]
struct HyperConnector;

/// An HTTP(S) connector with the system's roots: the transport of the stores and of the
/// History Server's REST API (see `report`).
pub(crate) fn https_connector()
-> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    match builder.with_native_roots() {
        Ok(b) => b.https_or_http().enable_http1().build(),
        // No system roots: plain http endpoints (a local S3 server) still work.
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
            .https_or_http()
            .enable_http1()
            .build(),
    }
}

impl HttpConnector for HyperConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(HyperService {
            client: https_client(),
        }))
    }
}

/// A pooled hyper client on [`https_connector`]: the stores' and remote templates' transport.
pub(crate) fn https_client<B>() -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    B,
>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https_connector())
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    object_store::client::HttpRequestBody,
>;

#[derive(Debug)]
struct HyperService {
    client: HyperClient,
}

#[async_trait::async_trait]
impl HttpService for HyperService {
    async fn call(&self, req: HttpRequest) -> std::result::Result<HttpResponse, HttpError> {
        let response = self.client.request(req).await.map_err(|e| {
            let kind = if e.is_connect() {
                HttpErrorKind::Connect
            } else {
                HttpErrorKind::Request
            };
            HttpError::new(kind, e)
        })?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::map_err(body, |e| {
            HttpError::new(HttpErrorKind::Interrupted, e)
        });
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

/// Why [`crate::Client::submit_request`] failed: at which step.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The local files could not be uploaded; no driver was created.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The objects could not be built; the uploads of this submission were removed.
    #[error(transparent)]
    Build(#[from] crate::Error),
    /// The submission failed; the uploads of this submission were removed.
    #[error(transparent)]
    Submit(#[from] crate::SubmitError),
}

impl crate::Client {
    /// Uploads a request's local files (when it has an upload path), builds its objects
    /// with ids derived from its submission id, and submits them. If the submission fails
    /// after uploading, the objects this submission wrote are removed again. Returns the
    /// handle and what the upload did (for removing the uploads when the app has ended).
    pub async fn submit_request(
        &self,
        mut request: crate::SubmitRequest,
    ) -> std::result::Result<(crate::AppHandle, Uploaded), SendError> {
        let uploader = match request.uploads.is_empty() {
            true => None,
            false => Some(Uploader::open(&request.conf)?),
        };
        let uploaded = match &uploader {
            Some(uploader) => uploader.upload(&request.uploads).await?,
            None => Uploaded::default(),
        };
        if !uploaded.presigned.is_empty() {
            request.rename_uploads(&uploaded.presigned);
        }
        let ids = crate::Ids::for_submission(request.submission_id.as_deref());
        let submitted = match crate::build(&request, &ids) {
            Ok(resources) => self
                .submit_objects(&resources.in_api_order())
                .await
                .map_err(SendError::from),
            Err(e) => Err(SendError::from(e)),
        };
        match (submitted, uploader) {
            (Ok(handle), _) => Ok((handle, uploaded)),
            (Err(e), Some(uploader)) => {
                uploader.remove(&uploaded.written).await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }
}

/// Removes uploaded objects named by their URIs (from [`Uploaded::written`]), in the store of
/// `conf`'s upload path: `--delete-uploads` once the app has ended.
pub async fn remove_uploads(conf: &SparkConf, targets: &[String]) -> Result<()> {
    let uploader = Uploader::open(conf)?;
    uploader.remove(targets).await;
    Ok(())
}
