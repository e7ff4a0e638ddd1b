//! A limit on the short API requests one client has in flight at once.
//!
//! Over HTTP/1.1 every request in flight needs a connection of its own, and the connection pool
//! keeps every connection it opened: 1,000 applications attached at once (a triggerer taking
//! over 1,000 deferred tasks) left 1,000 idle TLS connections, about 46 KB each in the process.
//! Short requests, those whose answer is read whole right away, wait here for one of
//! [`MAX_SHORT_REQUESTS`] permits and hold it until their response body has been read or
//! dropped. Watches, logs, requests through the API server's service proxy (the Spark UI, which
//! may be slow to answer) and upgrades are not limited: they neither hold back the others nor
//! wait behind them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Short requests one client sends at once (Go's Kubernetes client keeps 25 idle connections
/// per host).
pub(crate) const MAX_SHORT_REQUESTS: usize = 32;

/// The layer that adds the limit to a kube-rs service stack; one per client.
#[derive(Clone)]
pub(crate) struct ShortRequestLimit {
    permits: Arc<Semaphore>,
}

impl ShortRequestLimit {
    /// At most `max` short requests in flight through the stack this layers.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

impl<S> tower::Layer<S> for ShortRequestLimit {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// A service whose short requests wait for a permit.
#[derive(Clone)]
pub(crate) struct Limited<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

/// Whether a request's answer may stay open for long (and so takes no permit).
fn is_long_running<B>(req: &Request<B>) -> bool {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or_default();
    path.ends_with("/log")
        || path.contains("/proxy/")
        || path.ends_with("/proxy")
        || req.headers().contains_key(http::header::UPGRADE)
        || query
            .split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1" | "follow=true" | "follow=1"))
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Limited<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<PermitBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let permits = (!is_long_running(&req)).then(|| self.permits.clone());
        // The stack's futures do nothing until polled: the request goes out once permitted.
        let response = self.inner.call(req);
        Box::pin(async move {
            let permit = match permits {
                // The semaphore is never closed.
                Some(p) => p.acquire_owned().await.ok(),
                None => None,
            };
            let response = response.await?;
            Ok(response.map(|body| PermitBody { body, permit }))
        })
    }
}

/// A response body that gives its request's permit back at its end (or when dropped).
pub(crate) struct PermitBody<B> {
    body: B,
    permit: Option<OwnedSemaphorePermit>,
}

impl<B: Body + Unpin> Body for PermitBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            this.permit = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{Layer, Service, ServiceExt};

    #[test]
    fn long_running_requests_are_told_apart() {
        let cases = [
            ("/api/v1/namespaces/ns/pods/p", false),
            (
                "/api/v1/namespaces/ns/pods?labelSelector=spark-role%3Ddriver",
                false,
            ),
            (
                "/api/v1/namespaces/ns/pods?watch=true&timeoutSeconds=290",
                true,
            ),
            ("/api/v1/namespaces/ns/pods?labelSelector=a&watch=1", true),
            (
                "/api/v1/namespaces/ns/pods/p/log?container=c&follow=true",
                true,
            ),
            ("/api/v1/namespaces/ns/pods/p/log?tailLines=20", true),
            (
                "/api/v1/namespaces/ns/services/s:4040/proxy/api/v1/applications",
                true,
            ),
            ("/api/v1/namespaces/ns/pods?watchers=true", false),
        ];
        for (uri, long) in cases {
            let req = Request::get(uri).body(()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(is_long_running(&req), long, "{uri}");
        }
    }

    /// A service that counts the requests it is answering and answers once `release` fires.
    #[derive(Clone)]
    struct Slow {
        busy: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        release: Arc<tokio::sync::Notify>,
    }

    impl Service<Request<()>> for Slow {
        type Response = Response<Full<hyper::body::Bytes>>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            let me = self.clone();
            Box::pin(async move {
                let now = me.busy.fetch_add(1, Ordering::SeqCst) + 1;
                me.most.fetch_max(now, Ordering::SeqCst);
                me.release.notified().await;
                me.busy.fetch_sub(1, Ordering::SeqCst);
                Ok(Response::new(Full::new(hyper::body::Bytes::from_static(
                    b"{}",
                ))))
            })
        }
    }

    #[tokio::test]
    async fn short_requests_wait_and_long_ones_do_not() {
        let slow = Slow {
            busy: Arc::default(),
            most: Arc::default(),
            release: Arc::default(),
        };
        let svc = ShortRequestLimit::new(2).layer(slow.clone());
        let send = |uri: &'static str| {
            let svc = svc.clone();
            tokio::spawn(async move {
                let req = Request::get(uri).body(()).unwrap_or_else(|e| panic!("{e}"));
                let resp = svc.oneshot(req).await.unwrap_or_else(|e| match e {});
                resp.into_body().collect().await.map(|b| b.to_bytes().len())
            })
        };
        let short: Vec<_> = (0..5)
            .map(|_| send("/api/v1/namespaces/ns/pods/p"))
            .collect();
        let long: Vec<_> = (0..3)
            .map(|_| send("/api/v1/namespaces/ns/pods?watch=true"))
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Two short requests and the three watches are being answered; three short ones wait.
        assert_eq!(slow.busy.load(Ordering::SeqCst), 5);
        while slow.busy.load(Ordering::SeqCst) > 0 || !short.iter().all(|t| t.is_finished()) {
            slow.release.notify_waiters();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for t in short.into_iter().chain(long) {
            assert_eq!(t.await.ok().and_then(|r| r.ok()), Some(2));
        }
        assert_eq!(slow.most.load(Ordering::SeqCst), 5);
    }
}
