//! Why a 401 came back when sparkube sent no credentials at all.
//!
//! A 401 normally means the token or client certificate is invalid or expired; when the client
//! sent none (a `--master` that is not the kubeconfig's server, or a kubeconfig context without
//! a user), that is false and sends the user looking in the wrong place. When [`Client::connect`]
//! finds no credentials it adds [`NoCredentialsNote`] to the client's stack: every 401 answer
//! then carries the reason in the [`NO_CREDENTIALS_HEADER`] response header, which
//! [`crate::api::status_error`] puts in the error instead of the usual hint.
//!
//! [`Client::connect`]: crate::Client::connect

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode};

/// The response header holding why no credentials were sent (never sent to the server).
pub(crate) const NO_CREDENTIALS_HEADER: &str = "x-sparkube-no-credentials";

/// The layer that marks 401 answers with why no credentials were sent.
#[derive(Clone)]
pub(crate) struct NoCredentialsNote {
    note: HeaderValue,
}

impl NoCredentialsNote {
    /// The layer for `note`; `None` when the note cannot be a header value (it then stays out).
    pub(crate) fn new(note: &str) -> Option<Self> {
        HeaderValue::from_str(note).ok().map(|note| Self { note })
    }
}

impl<S> tower::Layer<S> for NoCredentialsNote {
    type Service = Noted<S>;

    fn layer(&self, inner: S) -> Noted<S> {
        Noted {
            inner,
            note: self.note.clone(),
        }
    }
}

/// A service whose 401 answers carry the note.
#[derive(Clone)]
pub(crate) struct Noted<S> {
    inner: S,
    note: HeaderValue,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Noted<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let note = self.note.clone();
        let response = self.inner.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(NO_CREDENTIALS_HEADER, note);
            }
            Ok(response)
        })
    }
}
