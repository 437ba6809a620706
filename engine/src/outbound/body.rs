//! Request bodies that are not written once the sending run's fence closed.
//!
//! The fence stops a stalled worker from handing requests to its HTTP client, and cuts off a
//! request it waits for. But a request already handed over is written by the client's
//! connection task, on its own schedule: a process frozen between the two writes it when
//! thawed, however late. The connection task polls the body when it writes the request, so a
//! body that checks the fence at that moment refuses, and the client gives up the request
//! before a byte of it is flushed (hyper buffers the head and polls the body before flushing;
//! were the head ever flushed first, the target would still see a request whose body never
//! comes, which it does not act on).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::run::{Fence, Fenced};

/// The body of a request: `json` as it is, checked against the fence of the send being made
/// on this task, if any ([`Fence::sending`]). Outside a fenced send it is a plain body.
pub fn request_body(json: Vec<u8>) -> reqwest::Body {
    match Fence::current() {
        None => reqwest::Body::from(json),
        Some(fence) => reqwest::Body::wrap(FencedBody {
            fence,
            bytes: Some(Bytes::from(json)),
        }),
    }
}

/// One chunk, given only while the fence is open. Its exact size keeps `Content-Length`.
struct FencedBody {
    fence: Fence,
    bytes: Option<Bytes>,
}

impl http_body::Body for FencedBody {
    type Data = Bytes;
    type Error = Fenced;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Fenced>>> {
        let this = self.get_mut();
        if this.bytes.is_none() {
            return Poll::Ready(None);
        }
        if let Err(reason) = this.fence.check() {
            return Poll::Ready(Some(Err(reason)));
        }
        Poll::Ready(this.bytes.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::routing::post;

    use super::*;

    /// A target counting the requests it received in full (a failed assertion answers 500).
    async fn counting_target() -> (String, Arc<AtomicUsize>) {
        let received = Arc::new(AtomicUsize::new(0));
        let app = Router::new().route(
            "/orders",
            post({
                let received = received.clone();
                move |headers: axum::http::HeaderMap, body: String| async move {
                    assert_eq!(body, "{\"id\":1}");
                    // Sent with its length, as a plain body is, not chunked.
                    assert_eq!(headers["content-length"], "8");
                    received.fetch_add(1, Ordering::SeqCst);
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/orders", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, received)
    }

    #[tokio::test]
    async fn a_body_built_before_the_fence_closed_is_not_written_after() {
        let (url, received) = counting_target().await;
        let client = reqwest::Client::new();
        let fence = Fence::open_until(crate::run::fence::now(), Duration::from_millis(200));
        // Built during the send, written after the fence closed: what a thawed process's
        // connection task would do with a request handed over before the freeze.
        let body = fence
            .sending(async { request_body(b"{\"id\":1}".to_vec()) })
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = client.post(&url).body(body).send().await;
        assert!(sent.is_err(), "the client gave the request up: {sent:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(received.load(Ordering::SeqCst), 0);

        // While the fence is open, and outside a fenced send, the body goes out whole.
        let open = Fence::open_until(crate::run::fence::now(), Duration::from_secs(30));
        let body = open
            .sending(async { request_body(b"{\"id\":1}".to_vec()) })
            .await;
        let answer = client.post(&url).body(body).send().await.unwrap();
        assert!(answer.status().is_success());
        let answer = client
            .post(&url)
            .body(request_body(b"{\"id\":1}".to_vec()))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
        assert_eq!(received.load(Ordering::SeqCst), 2);
    }
}
