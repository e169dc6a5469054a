//! The HTTP/1.1 listener of `sentinel serve`: a thread-per-connection server on blocking std
//! sockets, plain or TLS. This file owns the public surface (`Server`, `Stopper`, `Limits`,
//! `Request`, the `Handler` trait) and the accept loop with its connection count (past
//! `max_connections` a connection is answered 503 by the accept thread itself). `conn.rs` runs
//! one connection (heads, keep-alive, pipelining, the error answers), `input.rs` reads its bytes
//! under deadlines (the head's end, bodies by Content-Length or chunked), `respond.rs` writes
//! answers (`Responder`, `Stream`), `tls.rs` loads certificates and runs the handshake;
//! `tests.rs` and `tls_tests.rs` try it all over real sockets. Nothing here knows MCP: the
//! handler does.

mod conn;
mod input;
mod respond;
mod tls;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// `sentinel serve` will name these; until it does, only the tests do.
#[allow(unused_imports)]
pub use respond::{Responder, Stream};
#[allow(unused_imports)]
pub use tls::tls_config;

/// What one connection may cost the server; past each limit the client gets the status named,
/// with a plain-text body saying which limit and what to do, and the connection is closed.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request head (request line and headers), in bytes: 431 past it.
    pub max_head: usize,
    /// Most header fields in one head: 431 past it.
    pub max_headers: usize,
    /// Largest request body, in bytes: 413 past it (before reading, when Content-Length says so).
    pub max_body: usize,
    /// Most connections served at once: past it, 503 from the accept thread, and close.
    pub max_connections: usize,
    /// The whole head must arrive within this, counted from the accept (the first request) or
    /// from its first byte (later ones): 408 and close. A total deadline, not one per read.
    pub head_timeout: Duration,
    /// The whole body must arrive within this, counted from the end of the head: 408.
    pub body_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection: then it is closed silently.
    pub idle_timeout: Duration,
    /// Longest one write may block (a client that stops reading is dropped).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_headers: 64,
            max_body: 4 * 1024 * 1024,
            max_connections: 512,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// One request, read whole (head and body) before the handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent, e.g. `/mcp?x=1`.
    pub target: String,
    /// Header fields in the order sent, names lowercased, values as sent (trimmed by the parser).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
    pub tls: bool,
}

impl Request {
    /// The target without its query; for an absolute-form target (`http://host/p?q`), its path.
    pub fn path(&self) -> &str {
        let mut t = self.target.as_str();
        for scheme in ["http://", "https://"] {
            if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
                let rest = &t[scheme.len()..];
                t = rest.find('/').map_or("/", |i| &rest[i..]);
                break;
            }
        }
        let end = t.find(['?', '#']).unwrap_or(t.len());
        &t[..end]
    }

    /// The first value of a header (name case-insensitive), trimmed; None if absent or not UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Every value of a header, in order (name case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// What answers requests. It runs on the connection's thread and may block as long as it needs
/// (a streaming answer); the connection's next request waits for it.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request, resp: Responder);
}

impl<F: Fn(Request, Responder) + Send + Sync + 'static> Handler for F {
    fn handle(&self, req: Request, resp: Responder) {
        self(req, resp)
    }
}

/// A bound listener, not yet accepting: `run` accepts.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    limits: Arc<Limits>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
}

/// Stops a running `Server::run` (from any thread, any number of times).
#[derive(Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    wake: SocketAddr,
}

impl Stopper {
    /// `run` returns soon after: the flag is set and the accept loop woken by a connection to
    /// itself. Connections in progress are not cut; their threads finish on their own.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }
}

impl Server {
    /// Binds `addr` (port 0: any free port). With `tls`, every connection starts with a TLS
    /// handshake (see `tls_config`).
    pub fn bind(
        addr: SocketAddr,
        limits: Limits,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            limits: Arc::new(limits),
            tls,
            stop: Arc::new(AtomicBool::new(false)),
            active: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stopper(&self) -> Stopper {
        // A wildcard address is reached through the loopback of its family.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Stopper {
            stop: self.stop.clone(),
            wake: SocketAddr::new(ip, self.addr.port()),
        }
    }

    /// Accepts until stopped: one thread named `http-conn` per connection, each counted until it
    /// ends (a guard releases the count, even when a handler panics).
    pub fn run(self, handler: Arc<dyn Handler>) {
        while !self.stop.load(Ordering::SeqCst) {
            let (sock, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Out of descriptors or memory: wait a little rather than spin.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let accepted = Instant::now();
            if self.active.fetch_add(1, Ordering::SeqCst) >= self.limits.max_connections {
                self.active.fetch_sub(1, Ordering::SeqCst);
                refuse(sock, self.tls.is_some());
                continue;
            }
            let counted = Counted(self.active.clone());
            let (limits, tls, handler) = (self.limits.clone(), self.tls.clone(), handler.clone());
            // If the thread cannot be spawned, the closure is dropped, and the guard with it.
            let _ = std::thread::Builder::new()
                .name("http-conn".into())
                .spawn(move || {
                    let _counted = counted;
                    conn::run(sock, peer, accepted, &limits, tls, &*handler);
                });
        }
    }
}

/// One connection in the count; dropping it (the thread's end, or its unwinding) releases it.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The answer past `max_connections`, given without blocking the accept loop: a 503 written to
/// the socket's buffer (over TLS there is no handshake to answer in, so the connection is only
/// closed), what the client already sent read away so closing does not reset the connection,
/// then a half-close.
fn refuse(sock: TcpStream, tls: bool) {
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    if !tls {
        let body = "too many connections to this server; retry in a second\n";
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = (&sock).write_all(answer.as_bytes());
    }
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match (&sock).read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    let _ = sock.shutdown(std::net::Shutdown::Write);
}
