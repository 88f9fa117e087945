//! Problem+json for the answers the HTTP/1 parser gives by itself.
//!
//! actix-http answers a request it cannot parse (a bad Content-Length,
//! Content-Length with Transfer-Encoding, an oversized or malformed head) or
//! whose head is too slow, before any handler runs, with an empty body and
//! offers no hook to change that. Clients should still get a problem+json
//! body with a `code`. This wraps each connection's socket: when such a bare
//! answer passes on its way out, it is replaced by the same status with a
//! problem+json body. Everything else passes through untouched.
//!
//! How a bare answer is recognised: its head is exactly
//! `HTTP/1.1 <status> <reason>\r\ncontent-length: 0\r\n...`. The service's
//! own error answers always carry a body, and no body this service sends
//! contains a raw CR LF (JSON escapes it; the metrics text and the OpenAPI
//! document use LF), so the pattern can only be a head the parser wrote.

use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, ready};

use memchr::memmem::Finder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The bare answers actix-http writes, and the problem each one becomes.
const BARE_ANSWERS: &[(&str, &str, &str)] = &[
    ("400 Bad Request", "invalid_request", "the request is not valid HTTP/1.1 (malformed head or framing)"),
    ("408 Request Timeout", "request_timeout", "the request head did not arrive in time"),
    (
        "431 Request Header Fields Too Large",
        "headers_too_large",
        "the request head is too large (too many or too long headers)",
    ),
    ("500 Internal Server Error", "internal_error", "the connection's request stream was broken"),
];

struct Pattern {
    head: Vec<u8>,
    replacement: Vec<u8>,
}

/// For each bare answer: its head's start, and what replaces that start
/// (the status line, the problem's content type and length); the rest of the
/// head and then the body follow.
static PATTERNS: LazyLock<Vec<(Pattern, Vec<u8>)>> = LazyLock::new(|| {
    BARE_ANSWERS
        .iter()
        .map(|(status, code, detail)| {
            let (number, title) = status.split_once(' ').expect("status and reason");
            let body = serde_json::json!({
                "type": "about:blank",
                "title": title,
                "status": number.parse::<u16>().expect("numeric status"),
                "detail": detail,
                "code": code,
            })
            .to_string()
            .into_bytes();
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n").into_bytes();
            let replacement = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\ncache-control: no-store\r\ncontent-length: {}\r\n",
                body.len()
            )
            .into_bytes();
            (Pattern { head, replacement }, body)
        })
        .collect()
});

static STATUS_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"HTTP/1.1 "));
static HEAD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));

/// Where in `out` the next bare answer's head starts, and the rewritten
/// answer with how many bytes of `out` it replaces.
fn find_bare_answer(out: &[u8]) -> Option<(usize, Vec<u8>, usize)> {
    let mut from = 0;
    while let Some(at) = STATUS_LINE.find(&out[from..]).map(|i| from + i) {
        for (pattern, body) in PATTERNS.iter() {
            if !out[at..].starts_with(&pattern.head) {
                continue;
            }
            let rest_start = at + pattern.head.len();
            let end = HEAD_END.find(&out[at..]).map(|i| at + i + 4)?;
            let mut answer = pattern.replacement.clone();
            answer.extend_from_slice(&out[rest_start..end]);
            answer.extend_from_slice(body);
            return Some((at, answer, end - at));
        }
        from = at + 1;
    }
    None
}

/// A connection's socket, with bare parser answers turned into problems.
pub struct ProblemIo<T> {
    inner: T,
    /// A rewritten answer not yet fully written.
    pending: Vec<u8>,
    written: usize,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, pending: Vec::new(), written: 0 }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        match find_bare_answer(out) {
            None => Pin::new(&mut this.inner).poll_write(cx, out),
            // Up to the bare answer only, so it is next and whole.
            Some((at, _, _)) if at > 0 => Pin::new(&mut this.inner).poll_write(cx, &out[..at]),
            Some((_, answer, replaced)) => {
                this.pending = answer;
                // Taken over: written now or by the next write or flush.
                let _ = this.poll_pending(cx)?;
                Poll::Ready(Ok(replaced))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    const DATE: &str = "date: Mon, 23 Nov 2026 01:19:13 GMT\r\n\r\n";

    async fn through(chunks: &[&[u8]]) -> String {
        let mut io = ProblemIo::new(Vec::new());
        for chunk in chunks {
            io.write_all(chunk).await.unwrap();
        }
        io.flush().await.unwrap();
        String::from_utf8(io.inner).unwrap()
    }

    #[tokio::test]
    async fn a_bare_parser_answer_becomes_a_problem() {
        let bare = format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}");
        let out = through(&[bare.as_bytes()]).await;
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n"), "{head}");
        assert!(head.contains("connection: close") && head.contains("date: "), "{head}");
        let length: usize =
            head.split("content-length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
        assert_eq!(length, body.len());
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(400), Some("invalid_request")));
    }

    #[tokio::test]
    async fn answers_with_a_body_pass_untouched_even_around_a_bare_one() {
        let ok = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 15\r\ncontent-type: application/json\r\n{DATE}{{\"status\":\"ok\"}}"
        );
        let own_400 =
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\ncontent-type: application/problem+json\r\n\r\n{}";
        let bare = format!("HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n{DATE}");
        let out = through(&[format!("{ok}{own_400}{bare}").as_bytes()]).await;
        assert!(out.starts_with(&format!("{ok}{own_400}")), "{out}");
        assert!(out.ends_with("\"code\":\"request_timeout\"}"), "{out}");
        // A body quoting a status line (say, an echoed bad value) is no head.
        let quoting = "HTTP/1.1 200 OK\r\ncontent-length: 27\r\n\r\n\"HTTP/1.1 400 Bad Request\"";
        assert_eq!(through(&[quoting.as_bytes()]).await, quoting);
    }
}
