//! Each connection's requests, one at a time and each on time.
//!
//! actix-http times only the first request's head and clears its keep-alive
//! timer on the first byte of the next request, so a client that sends one
//! request and then one byte (or a header line now and then) could hold a
//! connection forever. Its codec also keeps one HEAD flag per connection,
//! so when requests are pipelined, a later HEAD decides how an earlier
//! answer is framed. Both are fixed here, on the socket, below the parser:
//!
//! - Every request's head must arrive within the request timeout of its
//!   first byte, and a connection with no request in it closes after the
//!   keep-alive time, whatever trickles in.
//! - The parser is handed one request at a time (`framing.rs` finds where
//!   it ends): bytes of the next are held back until the answer to the
//!   current one has begun, so each answer is framed by its own request.
//!
//! A connection past its deadline reads as closed by the client, so the
//! parser drops it quietly.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::framing::{Framer, Stage};

/// An interim answer is no answer: the request's body is still to come.
const CONTINUE: &[u8] = b"HTTP/1.1 100 ";
/// Bytes of the requests that follow one being answered, read ahead at
/// most: beyond this the socket is left unread until the answer is out.
const HELD_MAX: usize = 16 * 1024;
/// Read ahead this much at a time, on the stack: most connections have
/// nothing to read ahead, and none should keep a buffer for it.
const AHEAD_CHUNK: usize = 2048;

/// How long a connection may take, and wait, between answers.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// From a request's first byte to the end of its head.
    pub head: Duration,
    /// With no request in progress.
    pub idle: Duration,
}

pub struct PacedIo<T> {
    inner: T,
    pace: Pace,
    framer: Framer,
    /// Bytes after the end of the current request, read with it.
    held: Vec<u8>,
    /// The answer to the current request has begun (possibly before its
    /// body arrived: an error, or a route that ignores bodies).
    answered: bool,
    /// When the connection closes unless it makes progress; none while a
    /// request is being answered (handlers have deadlines of their own).
    deadline: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    /// The parser, waiting for the next request while this one is answered.
    reader: Option<Waker>,
    /// The socket closed or failed while a request was answered.
    closed_ahead: bool,
}

impl<T> PacedIo<T> {
    /// Call on the runtime that will drive the connection.
    pub fn new(inner: T, pace: Pace) -> Self {
        let now = Instant::now();
        // Its first head is timed from the connection's start, as the
        // parser itself does.
        let deadline = now + pace.head;
        Self {
            inner,
            pace,
            framer: Framer::new(),
            held: Vec::new(),
            answered: false,
            deadline: Some(deadline),
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            reader: None,
            closed_ahead: false,
        }
    }

    /// Hands `bytes` to the framer; returns how many belong to the current
    /// request, and sets the deadline its new stage calls for.
    fn scan(&mut self, bytes: &[u8]) -> usize {
        let was = self.framer.stage();
        if was == Stage::Idle {
            self.answered = false;
        }
        let taken = self.framer.scan(bytes);
        match self.framer.stage() {
            Stage::Head if was == Stage::Idle => self.deadline = Some(Instant::now() + self.pace.head),
            // The head is in; the handler times the body it reads.
            Stage::Body(_) if !matches!(was, Stage::Body(_)) => {
                self.deadline = self.answered.then(|| Instant::now() + self.pace.head)
            }
            Stage::Complete if self.answered => self.next_request(Instant::now()),
            Stage::Complete => self.deadline = None,
            Stage::Opaque if was != Stage::Opaque => self.deadline = Some(Instant::now() + self.pace.idle),
            _ => {}
        }
        taken
    }

    /// An answer (or its start) went out.
    fn answer_sent(&mut self) {
        let now = Instant::now();
        match self.framer.stage() {
            Stage::Complete => self.next_request(now),
            // Answered early, while the request still arrives: it must
            // finish arriving in time, as nobody reads it any more.
            Stage::Head | Stage::Body(_) if !self.answered => {
                self.answered = true;
                self.deadline = Some(now + self.pace.head);
            }
            // Unframed: alive while answers go out.
            Stage::Opaque => self.deadline = Some(now + self.pace.idle),
            _ => {}
        }
    }

    fn next_request(&mut self, now: Instant) {
        self.framer.next_request();
        self.deadline = Some(now + self.pace.idle);
        // Without held bytes (or a close) the parser needs no wake-up: the
        // socket, last polled through `hold_ahead`, wakes it when more
        // arrives, and actix' own keep-alive timer covers plain idleness.
        if let Some(reader) = self.reader.take()
            && (!self.held.is_empty() || self.closed_ahead)
        {
            reader.wake();
        }
    }

    /// Whether the deadline passed; else the timer wakes the task by then.
    /// Most requests only move the deadline later, so the timer is re-armed
    /// when it fires early rather than on every request: re-arming costs a
    /// trip through the runtime's timer wheel.
    fn past_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.deadline else { return false };
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
        false
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PacedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.framer.stage() == Stage::Complete {
            // One request at a time: the next waits for this one's answer.
            return this.hold_ahead(cx);
        }
        if !this.held.is_empty() {
            let mut held = std::mem::take(&mut this.held);
            let offered = held.len().min(buf.remaining());
            let taken = this.scan(&held[..offered]);
            buf.put_slice(&held[..taken]);
            held.drain(..taken);
            // Kept only while it holds something.
            if !held.is_empty() {
                this.held = held;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = buf.filled().len();
                if filled > before {
                    let taken = this.scan(&buf.filled()[before..]);
                    if before + taken < filled {
                        this.held.extend_from_slice(&buf.filled()[before + taken..]);
                        buf.set_filled(before + taken);
                    }
                }
                Poll::Ready(Ok(()))
            }
            // Nothing filled: the parser takes it for the client's close.
            Poll::Pending if this.past_deadline(cx) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<T: AsyncRead + Unpin> PacedIo<T> {
    /// While a request is answered: reads what follows into `held` (up to
    /// `HELD_MAX`), which also leaves the socket to wake the parser when
    /// more arrives, and tells the parser to wait.
    fn hold_ahead(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reader = Some(cx.waker().clone());
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); AHEAD_CHUNK];
        while self.held.len() < HELD_MAX {
            let room = AHEAD_CHUNK.min(HELD_MAX - self.held.len());
            let mut ahead = ReadBuf::uninit(&mut chunk[..room]);
            match Pin::new(&mut self.inner).poll_read(cx, &mut ahead) {
                Poll::Ready(Ok(())) if !ahead.filled().is_empty() => self.held.extend_from_slice(ahead.filled()),
                // The client closed, or the socket failed: the parser learns
                // it once this answer is out and it reads again.
                Poll::Ready(_) => {
                    self.closed_ahead = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        Poll::Pending
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PacedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &[u8]) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, out))?;
        if written > 0 && !out.starts_with(CONTINUE) {
            self.answer_sent();
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
