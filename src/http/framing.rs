//! Where one HTTP/1.1 request ends in a connection's byte stream, found as
//! the bytes pass, without buffering them: enough for `pacing.rs` to hand
//! the parser one request at a time and to time each request's head.
//!
//! It reads the request line and header lines, notes `Content-Length` and
//! `Transfer-Encoding`, and counts the body. What it cannot frame with
//! certainty (a chunked body, a malformed or conflicting length, a line
//! longer than any sane header) turns the rest of the connection opaque:
//! the parser then judges it, and answers 400 to what is malformed.

use memchr::memchr;

/// Bytes of a header line kept to recognise it: the two names it looks for
/// and any real length value fit; a longer line is kept only in part.
const LINE_KEPT: usize = 128;

/// Where the current request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Between requests: no byte of the next one yet.
    Idle,
    /// In the request line or headers.
    Head,
    /// In a body of known length: this many bytes still to come.
    Body(u64),
    /// The request is whole; what follows belongs to the next one.
    Complete,
    /// Framing is unknown from here on (see the module comment).
    Opaque,
}

#[derive(Debug)]
pub struct Framer {
    stage: Stage,
    /// The start of the line being read (`LINE_KEPT` bytes at most) and
    /// whether more of it was dropped.
    line: Vec<u8>,
    line_cut: bool,
    /// A request line was read (blank lines before one are allowed).
    request_line: bool,
    content_length: Option<u64>,
    /// `Transfer-Encoding` was sent, or a header could not be read.
    unframeable: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    pub fn new() -> Self {
        Self {
            stage: Stage::Idle,
            line: Vec::with_capacity(LINE_KEPT),
            line_cut: false,
            request_line: false,
            content_length: None,
            unframeable: false,
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Ready for the next request, after the answer to a complete one.
    pub fn next_request(&mut self) {
        debug_assert_eq!(self.stage, Stage::Complete);
        self.stage = Stage::Idle;
    }

    /// Reads `bytes` and returns how many of them belong to the current
    /// request: all of them, unless it completes inside `bytes`.
    pub fn scan(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            match self.stage {
                Stage::Complete => return at,
                Stage::Opaque => return bytes.len(),
                Stage::Idle => {
                    self.start_request();
                    self.stage = Stage::Head;
                }
                Stage::Head => match memchr(b'\n', &bytes[at..]) {
                    // A whole line in `bytes` (the usual case) is read where
                    // it is; only a line split across reads is kept.
                    Some(end) if self.line.is_empty() && !self.line_cut => {
                        self.read_line(&bytes[at..at + end], false);
                        at += end + 1;
                    }
                    Some(end) => {
                        self.keep(&bytes[at..at + end]);
                        at += end + 1;
                        let (kept, cut) = (std::mem::take(&mut self.line), std::mem::take(&mut self.line_cut));
                        self.read_line(&kept, cut);
                        self.line = kept;
                        self.line.clear();
                    }
                    None => {
                        self.keep(&bytes[at..]);
                        at = bytes.len();
                    }
                },
                Stage::Body(left) => {
                    let taken = left.min((bytes.len() - at) as u64);
                    at += taken as usize;
                    self.stage = if taken == left { Stage::Complete } else { Stage::Body(left - taken) };
                }
            }
        }
        at
    }

    fn start_request(&mut self) {
        self.line.clear();
        self.line_cut = false;
        self.request_line = false;
        self.content_length = None;
        self.unframeable = false;
    }

    fn keep(&mut self, part: &[u8]) {
        let room = LINE_KEPT - self.line.len();
        self.line.extend_from_slice(&part[..part.len().min(room)]);
        self.line_cut |= part.len() > room;
    }

    /// One line of the head, without its LF; `cut`: only its start.
    fn read_line(&mut self, line: &[u8], cut: bool) {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if text.is_empty() && !cut {
            if self.request_line {
                self.stage = self.after_head();
            }
        } else if !self.request_line {
            self.request_line = true;
        } else {
            self.header(text, cut);
        }
    }

    fn header(&mut self, line: &[u8], cut: bool) {
        let Some(colon) = memchr(b':', line) else { return };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.unframeable = true;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let length = std::str::from_utf8(value).ok().filter(|_| !cut).and_then(|v| v.parse::<u64>().ok());
            match (length, self.content_length) {
                (Some(n), None) => self.content_length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => self.unframeable = true,
            }
        }
    }

    fn after_head(&self) -> Stage {
        match (self.unframeable, self.content_length) {
            (true, _) => Stage::Opaque,
            (false, None | Some(0)) => Stage::Complete,
            (false, Some(n)) => Stage::Body(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `size` and returns the lengths of the
    /// requests found, in order.
    fn requests(stream: &[u8], size: usize) -> (Vec<usize>, Stage) {
        let mut framer = Framer::new();
        let (mut found, mut current) = (Vec::new(), 0);
        let mut rest = stream;
        let mut piece = &rest[..0];
        loop {
            if piece.is_empty() {
                if rest.is_empty() {
                    break;
                }
                let n = size.min(rest.len());
                (piece, rest) = rest.split_at(n);
            }
            let taken = framer.scan(piece);
            current += taken;
            piece = &piece[taken..];
            if framer.stage() == Stage::Complete {
                found.push(current);
                current = 0;
                framer.next_request();
            }
            if framer.stage() == Stage::Opaque {
                break;
            }
        }
        (found, framer.stage())
    }

    const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const POST: &[u8] = b"POST /v1/users/a/leases HTTP/1.1\r\ncontent-LENGTH: 17\r\n\r\n{\"stream_id\":\"s\"}";

    #[test]
    fn pipelined_requests_are_told_apart_however_the_bytes_arrive() {
        let stream = [GET, POST, b"HEAD /healthz HTTP/1.1\n\n", GET].concat();
        for size in [1, 2, 7, 33, 1000] {
            let (found, stage) = requests(&stream, size);
            assert_eq!(found, [GET.len(), POST.len(), 24, GET.len()], "pieces of {size}");
            assert_eq!(stage, Stage::Idle);
        }
    }

    #[test]
    fn blank_lines_before_a_request_belong_to_it() {
        let stream = [b"\r\n".as_slice(), GET].concat();
        assert_eq!(requests(&stream, 5).0, [GET.len() + 2]);
    }

    #[test]
    fn a_head_in_progress_is_not_complete() {
        let mut framer = Framer::new();
        assert_eq!(framer.scan(b"GET / HTTP/1.1\r\nHost: x\r\n"), 25);
        assert_eq!(framer.stage(), Stage::Head);
        assert_eq!(framer.scan(b"X-A: b\r\n\r"), 9);
        assert_eq!(framer.stage(), Stage::Head);
        assert_eq!(framer.scan(b"\nGET"), 1);
        assert_eq!(framer.stage(), Stage::Complete);
    }

    #[test]
    fn what_cannot_be_framed_is_opaque() {
        for head in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            let mut framer = Framer::new();
            assert_eq!(framer.scan(head.as_bytes()), head.len());
            assert_eq!(framer.stage(), Stage::Opaque, "{head}");
            assert_eq!(framer.scan(GET), GET.len(), "everything passes from then on");
        }
    }

    #[test]
    fn a_long_header_line_is_read_in_part_and_does_not_grow_the_buffer() {
        let long = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\nContent-Length: 2\r\n\r\nok", "p".repeat(100_000));
        let (found, _) = requests(long.as_bytes(), 4096);
        assert_eq!(found, [long.len()]);
    }
}
