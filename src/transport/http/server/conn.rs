//! One connection, plain or TLS (the same code over `Conn`): request heads read under their
//! deadline and parsed by `httparse`, the body's framing decided (Content-Length, chunked, or
//! refused: both together, differing lengths, other transfer codings), `100 Continue` sent when
//! asked for, the handler called (a panic caught: it answers 500 and the server goes on), then
//! the next request (keep-alive, pipelining in order) until the client closes, asks to close,
//! idles past the limit, or a request is refused (its status and a plain-text reason, then a
//! graceful close that reads away what the client still sends so the answer is not reset).

use super::input::{bad, too_large, Fail, Input};
use super::respond::{error_answer, Exchange, Responder, Slot};
use super::{tls, Handler, Limits, Request};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection's byte stream (a `TcpStream`, or TLS over one), with the socket beneath it for
/// timeouts, peeking and shutting down.
pub(super) trait Conn: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
    /// Tells the peer the stream ends cleanly (TLS: `close_notify`), before the socket closes.
    fn end(&mut self) {}
    /// Whether the peer closed or reset the connection, without blocking and without taking
    /// bytes a later read would need. This one peeks at the socket: an end of stream with
    /// nothing before it, or an error; bytes waiting (a pipelined request) mean "not gone".
    fn peer_gone(&mut self) -> bool {
        let tcp = self.tcp();
        if tcp.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let peeked = tcp.peek(&mut byte);
        let _ = tcp.set_nonblocking(false);
        match peeked {
            Ok(n) => n == 0,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
        }
    }
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// A parsed request head.
pub(super) struct Head {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// How the body is framed.
#[derive(Debug, PartialEq)]
pub(super) enum Framing {
    Length(usize),
    Chunked,
}

/// Runs a connection from its accept to its close.
pub(super) fn run(
    sock: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    limits: &Limits,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    handler: &dyn Handler,
) {
    let _ = sock.set_nodelay(true);
    let _ = sock.set_write_timeout(Some(limits.write_timeout.max(Duration::from_millis(1))));
    let tls = tls_config.is_some();
    let (conn, start): (Box<dyn Conn>, Instant) = match tls_config {
        None => (Box::new(sock), accepted),
        Some(config) => match tls::handshake(sock, config, accepted + limits.head_timeout) {
            Some(conn) => (Box::new(conn), Instant::now()),
            None => return,
        },
    };
    serve(conn, peer, tls, start, limits, handler);
}

fn serve(
    mut conn: Box<dyn Conn>,
    peer: SocketAddr,
    tls: bool,
    start: Instant,
    limits: &Limits,
    handler: &dyn Handler,
) {
    let mut input = Input::default();
    let mut first = Some(start);
    loop {
        let request = match read_request(&mut *conn, &mut input, limits, first.take()) {
            Ok(request) => request,
            Err(Fail::Closed) => return,
            Err(Fail::Timeout) => {
                let message = "request not received in time; send the whole request at once";
                return refuse(conn, 408, message);
            }
            Err(Fail::Refuse(status, message)) => return refuse(conn, status, &message),
        };
        let (head, body) = request;
        let keep = head.minor == 1 && !asks_close(&head.headers);
        let slot = Arc::new(Slot::default());
        let exchange = Exchange::new(
            conn,
            head.minor == 0,
            keep,
            head.method == "HEAD",
            slot.clone(),
        );
        let request = Request {
            method: head.method,
            target: head.target,
            headers: head.headers,
            body,
            peer,
            tls,
        };
        let responder = Responder::new(exchange);
        // A panic drops the responder unused, which answers 500; the server goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.handle(request, responder)
        }));
        let back = slot.wait();
        match back.conn {
            Some(c) if back.keep => conn = c,
            Some(c) => return close_gracefully(c),
            None => return,
        }
        input.compact();
    }
}

/// Reads the next request: its head (the first request's deadline counts from `first`, a later
/// one's from its first byte, after at most `idle_timeout` of waiting), then its body.
fn read_request(
    conn: &mut dyn Conn,
    input: &mut Input,
    limits: &Limits,
    first: Option<Instant>,
) -> Result<(Head, Vec<u8>), Fail> {
    input.compact();
    let mut deadline = first.map(|s| s + limits.head_timeout);
    let idle_end = Instant::now() + limits.idle_timeout;
    let (head, len) = loop {
        if !input.available().is_empty() {
            let d = *deadline.get_or_insert_with(|| Instant::now() + limits.head_timeout);
            if let Some(parsed) = parse_head(input.available(), limits)? {
                break parsed;
            }
            input.fill(conn, d)?;
            continue;
        }
        match input.fill(conn, deadline.unwrap_or(idle_end)) {
            // Nothing of a request arrived: nothing to answer.
            Err(Fail::Timeout) => return Err(Fail::Closed),
            other => other?,
        }
    };
    input.consume(len);
    let framing = framing(&head, limits)?;
    let body_end = Instant::now() + limits.body_timeout;
    let body = match framing {
        None => Vec::new(),
        Some(framing) => {
            if head.minor == 1 && expects_continue(&head.headers) && framing != Framing::Length(0) {
                let _ = conn
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .and_then(|()| conn.flush());
            }
            match framing {
                Framing::Length(n) => input.body_of_length(conn, n, body_end)?,
                Framing::Chunked => {
                    input.body_chunked(conn, limits.max_body, limits.max_head, body_end)?
                }
            }
        }
    };
    Ok((head, body))
}

/// Parses a head from the start of `bytes`: None while it is incomplete (and within the limit).
pub(super) fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, Fail> {
    let max = limits.max_head;
    let head_too_large = || {
        Fail::Refuse(
            431,
            format!("request head larger than {max} bytes; send smaller headers"),
        )
    };
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Partial) if bytes.len() > max => return Err(head_too_large()),
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) if len > max => return Err(head_too_large()),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Fail::Refuse(
                431,
                format!(
                    "more than {} header fields; send fewer headers",
                    limits.max_headers
                ),
            ))
        }
        Err(httparse::Error::Version) if names_other_version(bytes) => {
            return Err(Fail::Refuse(
                505,
                "only HTTP/1.1 and HTTP/1.0 are served here; send an HTTP/1.1 request".into(),
            ))
        }
        Err(e) => {
            return Err(bad(format!(
                "malformed request head ({e}); send a valid HTTP/1.1 request"
            )))
        }
    };
    let headers = req
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let head = Head {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        minor: req.version.unwrap_or(1),
        headers,
    };
    Ok(Some((head, len)))
}

/// Whether the request line ends in an HTTP version other than 1.0 and 1.1 (`HTTP/2.0`,
/// `HTTP/1.2`, `HTTP/3`), as opposed to being malformed.
fn names_other_version(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = bytes[start..].split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(version) = line.rsplit(|&b| b == b' ').next() else {
        return false;
    };
    let Some(number) = version.strip_prefix(b"HTTP/") else {
        return false;
    };
    !number.is_empty()
        && number.len() <= 4
        && number.iter().all(|&b| b.is_ascii_digit() || b == b'.')
        && number[0].is_ascii_digit()
}

/// The body's framing by RFC 9112 section 6: Transfer-Encoding (only exactly `chunked`) or
/// Content-Length (every value the same), never both; None for no body.
pub(super) fn framing(head: &Head, limits: &Limits) -> Result<Option<Framing>, Fail> {
    let values = |name: &'static str| {
        head.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .map(|v| v.trim_ascii())
    };
    let codings: Vec<&[u8]> = values("transfer-encoding").collect();
    let lengths: Vec<&[u8]> = values("content-length").collect();
    if !codings.is_empty() && !lengths.is_empty() {
        return Err(bad(
            "both Content-Length and Transfer-Encoding given; send only one of them".into(),
        ));
    }
    if !codings.is_empty() {
        if codings.len() == 1 && codings[0].eq_ignore_ascii_case(b"chunked") {
            return Ok(Some(Framing::Chunked));
        }
        let given = codings
            .iter()
            .map(|c| String::from_utf8_lossy(c))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Fail::Refuse(
            501,
            format!("transfer coding \"{given}\" is not supported; send the body with Content-Length or as chunked only"),
        ));
    }
    let Some(first) = lengths.first() else {
        return Ok(None);
    };
    if lengths.iter().any(|l| l != first) {
        return Err(bad(
            "differing Content-Length values; send one Content-Length".into(),
        ));
    }
    if first.is_empty() || !first.iter().all(u8::is_ascii_digit) {
        return Err(bad(format!(
            "Content-Length \"{}\" is not a number; send the body's length in bytes",
            String::from_utf8_lossy(first)
        )));
    }
    let digits = std::str::from_utf8(first).unwrap_or("");
    match digits.parse::<usize>() {
        Ok(n) if n <= limits.max_body => Ok(Some(Framing::Length(n))),
        _ => Err(too_large(limits.max_body)),
    }
}

/// Whether a `Connection` header carries the `close` option.
fn asks_close(headers: &[(String, Vec<u8>)]) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n == "connection")
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn expects_continue(headers: &[(String, Vec<u8>)]) -> bool {
    headers
        .iter()
        .any(|(n, v)| n == "expect" && v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
}

/// Answers a refused request and closes.
fn refuse(mut conn: Box<dyn Conn>, status: u16, message: &str) {
    let _ = conn.write_all(&error_answer(status, message));
    close_gracefully(conn);
}

/// Closes after an answer without losing it: the write side is shut (TLS: `close_notify`
/// first), then what the client still sends is read and dropped for a moment (closing a socket
/// with unread bytes resets the connection, and a reset can discard the answer at the client).
pub(super) fn close_gracefully(mut conn: Box<dyn Conn>) {
    conn.end();
    let _ = conn.flush();
    let tcp = conn.tcp();
    let _ = tcp.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 4096];
    let mut total = 0usize;
    while total < 1 << 20 {
        let now = Instant::now();
        if now >= until || tcp.set_read_timeout(Some(until - now)).is_err() {
            break;
        }
        match (&*tcp).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}
