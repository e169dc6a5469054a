//! Writing answers: `Responder` (one answer per request, whole or streamed; dropped unused, it
//! answers 500 itself, so no request goes unanswered) and `Stream` (a chunked answer written
//! chunk by chunk, each flushed at once; unchunked and closed for HTTP/1.0 clients). Both hold
//! the connection while they write and hand it back to the connection's thread when done
//! (through a `Slot`), with whether it can serve another request; an unfinished `Stream` closes
//! it. Also the status texts and the plain-text error answers the server gives itself.

use super::conn::Conn;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};

/// What a finished exchange hands back to the connection's thread.
pub(super) struct Back {
    /// The connection, if it is still usable for writing a close or another request.
    pub conn: Option<Box<dyn Conn>>,
    /// Whether it can serve another request.
    pub keep: bool,
}

/// Where the connection comes back, filled once, waited for by the connection's thread (the
/// handler may hand its `Stream` to another thread and return at once).
#[derive(Default)]
pub(super) struct Slot {
    back: Mutex<Option<Back>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, back: Back) {
        *self.back.lock().unwrap_or_else(|p| p.into_inner()) = Some(back);
        self.ready.notify_all();
    }

    pub fn wait(&self) -> Back {
        let mut back = self.back.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(b) = back.take() {
                return b;
            }
            back = self.ready.wait(back).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One request's answer in progress; dropping it hands the connection back (or closes it).
pub(super) struct Exchange {
    conn: Option<Box<dyn Conn>>,
    /// The client speaks HTTP/1.0: no chunking, no keep-alive.
    http10: bool,
    /// The connection may serve another request once this answer is complete.
    keep: bool,
    /// A HEAD request: headers only.
    head_only: bool,
    slot: Arc<Slot>,
}

impl Exchange {
    pub fn new(
        conn: Box<dyn Conn>,
        http10: bool,
        keep: bool,
        head_only: bool,
        slot: Arc<Slot>,
    ) -> Exchange {
        Exchange {
            conn: Some(conn),
            http10,
            keep: keep && !http10,
            head_only,
            slot,
        }
    }

    /// Writes and flushes; a failed write loses the connection.
    fn write(&mut self, bytes: &[u8]) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if conn.write_all(bytes).and_then(|()| conn.flush()).is_ok() {
            return true;
        }
        self.conn = None;
        false
    }

    /// The status line and headers; `framing` is Content-Length or Transfer-Encoding (or none).
    fn head(&mut self, status: u16, headers: &[(&str, &str)], framing: Option<String>) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if lower == "connection" && value.to_ascii_lowercase().contains("close") {
                self.keep = false;
            }
            // The framing is the server's to write; a line break would split the answer.
            let splits = |s: &str| s.contains(['\r', '\n']);
            if matches!(
                lower.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) || splits(name)
                || splits(value)
            {
                continue;
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if let Some(framing) = framing {
            out.extend_from_slice(framing.as_bytes());
        }
        if !self.keep {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    fn send(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let bodiless = matches!(status, 100..=199 | 204 | 304);
        let framing = (!bodiless).then(|| format!("content-length: {}\r\n", body.len()));
        let mut out = self.head(status, headers, framing);
        if !bodiless && !self.head_only {
            out.extend_from_slice(body);
        }
        self.write(&out);
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.slot.put(Back {
            conn: self.conn.take(),
            keep: self.keep,
        });
    }
}

/// The one answer to a request: `send` or `stream`, at most once. Dropped unused (the handler
/// forgot it, or panicked), it answers 500 and the connection closes.
pub struct Responder {
    exchange: Option<Exchange>,
}

impl Responder {
    pub(super) fn new(exchange: Exchange) -> Responder {
        Responder {
            exchange: Some(exchange),
        }
    }

    /// A whole answer; Content-Length is added (any framing headers given are left out).
    pub fn send(mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        if let Some(mut exchange) = self.exchange.take() {
            exchange.send(status, headers, body);
        }
    }

    /// A streamed answer: chunked for HTTP/1.1; for HTTP/1.0 plain bytes ended by closing.
    pub fn stream(mut self, status: u16, headers: &[(&str, &str)]) -> Stream {
        let mut exchange = self.exchange.take().expect("a Responder answers once");
        let chunked = !exchange.http10;
        let framing = chunked.then(|| "transfer-encoding: chunked\r\n".to_string());
        let head = exchange.head(status, headers, framing);
        let ok = exchange.write(&head);
        Stream {
            exchange: RefCell::new(Some(exchange)),
            chunked,
            gone: Cell::new(!ok),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(mut exchange) = self.exchange.take() {
            exchange.keep = false;
            exchange.send(
                500,
                &[("content-type", "text/plain; charset=utf-8")],
                b"the server gave this request no answer (an internal error); retry, and report it if it persists\n",
            );
        }
    }
}

/// A streamed answer being written. `finish` ends it and returns the connection to keep-alive;
/// dropped unfinished, the connection is closed without the terminating chunk, so the client
/// sees the answer cut short.
pub struct Stream {
    // In a cell because `client_gone` (shared access) may read what the socket holds into the
    // TLS session's buffers (see `Conn::peer_gone`).
    exchange: RefCell<Option<Exchange>>,
    chunked: bool,
    gone: Cell<bool>,
}

impl Stream {
    /// Writes one chunk and flushes it. False once the client is gone (and for every later call).
    pub fn write(&mut self, bytes: &[u8]) -> bool {
        let Some(exchange) = self.exchange.get_mut().as_mut() else {
            return false;
        };
        if self.gone.get() {
            return false;
        }
        // An empty chunk would end the answer.
        if bytes.is_empty() || exchange.head_only {
            return true;
        }
        let ok = if self.chunked {
            let mut chunk = Vec::with_capacity(bytes.len() + 20);
            chunk.extend_from_slice(format!("{:x}\r\n", bytes.len()).as_bytes());
            chunk.extend_from_slice(bytes);
            chunk.extend_from_slice(b"\r\n");
            exchange.write(&chunk)
        } else {
            exchange.write(bytes)
        };
        if !ok {
            self.gone.set(true);
        }
        ok
    }

    /// Whether the client closed or reset the connection (over TLS: or sent `close_notify`),
    /// without blocking and without consuming request bytes: bytes waiting to be read (a
    /// pipelined request) count as "not gone".
    pub fn client_gone(&self) -> bool {
        if self.gone.get() {
            return true;
        }
        let mut exchange = self.exchange.borrow_mut();
        let Some(conn) = exchange.as_mut().and_then(|e| e.conn.as_mut()) else {
            return true;
        };
        let gone = conn.peer_gone();
        if gone {
            self.gone.set(true);
        }
        gone
    }

    /// Ends the answer (the terminating chunk); the connection goes back to serve the next
    /// request (HTTP/1.0: it is closed).
    pub fn finish(mut self) {
        if let Some(mut exchange) = self.exchange.get_mut().take() {
            if self.gone.get() {
                exchange.conn = None;
            } else if exchange.head_only {
                // An answer to HEAD has no body, so no chunks either.
            } else if self.chunked {
                exchange.write(b"0\r\n\r\n");
            } else {
                exchange.keep = false;
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(mut exchange) = self.exchange.get_mut().take() {
            if let Some(conn) = exchange.conn.take() {
                let _ = conn.tcp().shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The answer the server gives itself when it refuses a request: plain text saying what
/// happened and what to do, and the connection closes.
pub(super) fn error_answer(status: u16, message: &str) -> Vec<u8> {
    let body = format!("{message}\n");
    let retry = if status == 503 {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

/// The reason phrase of a status (a courtesy: clients read the number).
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}
