//! How many connections are open, and the answer to one too many.
//!
//! actix-server, at its connection limit, stops accepting: new clients
//! wait in the kernel's backlog with no answer, and once descriptors run
//! out `accept` fails over and over. Instead every connection is accepted
//! and counted here; past `STREAMLEASE_MAX_CONNECTIONS` it is answered 503
//! with `Retry-After` and closed at once, so a client (or a load balancer)
//! learns to go elsewhere. The limit is sized against the descriptors the
//! process may open (`descriptors.rs`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Refusals under way at once, per worker: each holds a descriptor for a
/// moment. Past this, a connection is closed with no answer.
pub const REFUSALS_PER_WORKER: usize = 64;
/// How long a refused client may take to send its request, which is read
/// and dropped so closing does not reset the connection under our answer.
const DRAIN: Duration = Duration::from_millis(200);

const FULL: &str = concat!(
    "HTTP/1.1 503 Service Unavailable\r\n",
    "content-type: application/problem+json\r\n",
    "cache-control: no-store\r\n",
    "retry-after: 1\r\n",
    "connection: close\r\n",
    "content-length: 158\r\n\r\n",
    r#"{"type":"about:blank","title":"Service Unavailable","status":503,"#,
    r#""detail":"this instance has all the connections it takes; retry shortly","code":"overloaded"}"#,
);

#[derive(Clone)]
pub struct Admission {
    max: usize,
    open: Arc<AtomicUsize>,
    refusing: Arc<AtomicUsize>,
    max_refusing: usize,
}

impl Admission {
    pub fn new(max_connections: usize, workers: usize) -> Self {
        Self {
            max: max_connections,
            open: Arc::default(),
            refusing: Arc::default(),
            max_refusing: REFUSALS_PER_WORKER * workers,
        }
    }

    /// A place for one more connection, or `None` when all are taken.
    pub fn admit(&self) -> Option<Slot> {
        let taken = self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1));
        taken.ok().map(|_| Slot(self.open.clone()))
    }

    /// Answers 503 and closes; with too many refusals under way, only closes.
    pub async fn refuse(&self, mut io: TcpStream) {
        if self.refusing.fetch_add(1, Ordering::AcqRel) < self.max_refusing {
            // A new socket's send buffer is empty: the answer fits at once.
            let _ = tokio::time::timeout(DRAIN, async {
                io.write_all(FULL.as_bytes()).await?;
                io.shutdown().await?;
                let mut sink = [0u8; 4096];
                io.read(&mut sink).await
            })
            .await;
        }
        self.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One open connection, counted until dropped.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's socket with its slot: the count goes down when the
/// connection is dropped, however it ends.
pub struct Admitted<T> {
    inner: T,
    _slot: Slot,
}

impl<T> Admitted<T> {
    pub fn new(inner: T, slot: Slot) -> Self {
        Self { inner, _slot: slot }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Admitted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Admitted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, out)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_answer_says_its_own_length() {
        let (_, body) = FULL.split_once("\r\n\r\n").unwrap();
        assert!(FULL.contains(&format!("content-length: {}\r\n", body.len())), "{}", body.len());
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(503), Some("overloaded")));
    }

    #[test]
    fn slots_are_given_back_when_dropped() {
        let admission = Admission::new(2, 1);
        let (a, b) = (admission.admit().unwrap(), admission.admit().unwrap());
        assert!(admission.admit().is_none());
        drop(a);
        let c = admission.admit();
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(admission.open.load(Ordering::Acquire), 0);
    }
}
