//! `bench_http_echo`: a small, fast MCP server over Streamable HTTP for `scripts/bench-http.sh`,
//! the "upstream reached directly" that `sentinel serve` is compared with in the same run. It
//! answers what `bench_echo` answers over stdio, byte for byte in the JSON-RPC message, so the
//! two paths differ only in what sits between the load generator and the answer.
//!
//! Bench-only code, deliberately simple: one thread per connection (64 KiB stacks), blocking
//! std sockets with `TCP_NODELAY`, HTTP/1.1 with keep-alive, each response written with one
//! `write`. It does not parse JSON; like `bench_echo` it looks for `"id":` and
//! `"method":"..."` in the body:
//!
//! * `POST` of `initialize`: 200 with an `Mcp-Session-Id` (a counter) and the result;
//! * `POST` of a message without an id (a notification): 202, no body;
//! * `POST` of `tools/call`: the `ok` text result; `ping`: `{}`; anything else: -32601;
//! * answers are JSON unless the request's `Accept` names `text/event-stream` (then one SSE
//!   event in a Content-Length body, as `sentinel serve` would choose SSE for the same header);
//! * `DELETE`: 200, empty; any other method: 405.
//!
//! Usage: `bench_http_echo [--listen 127.0.0.1:0]`; prints `listening on http://ADDR/mcp` on
//! stderr and serves until killed.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

static SESSIONS: AtomicU64 = AtomicU64::new(1);

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JSON text of the first `"id":` value (up to the next `,` or `}`).
fn id_of(body: &[u8]) -> Option<&[u8]> {
    let start = find(body, b"\"id\":")? + 5;
    let rest = &body[start..];
    let end = rest.iter().position(|&c| c == b',' || c == b'}')?;
    Some(rest[..end].trim_ascii())
}

/// The value of `"method":"..."`.
fn method_of(body: &[u8]) -> Option<&[u8]> {
    let start = find(body, b"\"method\":\"")? + 10;
    let end = body[start..].iter().position(|&c| c == b'"')?;
    Some(&body[start..start + end])
}

/// A header's value in a raw head (name lowercase ASCII), trimmed.
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&c| c == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&c| c == b':')?;
        line[..colon]
            .eq_ignore_ascii_case(name)
            .then(|| line[colon + 1..].trim_ascii())
    })
}

/// Writes the answer to one request into `out`.
fn answer(head: &[u8], body: &[u8], out: &mut Vec<u8>) {
    let method = head.split(|&c| c == b' ').next().unwrap_or(b"");
    match method {
        b"POST" => {}
        b"DELETE" => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        _ => {
            out.extend_from_slice(
                b"HTTP/1.1 405 Method Not Allowed\r\nAllow: POST, DELETE\r\nContent-Length: 0\r\n\r\n",
            );
            return;
        }
    }
    let Some(id) = id_of(body) else {
        out.extend_from_slice(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let mut msg = Vec::with_capacity(160);
    msg.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    msg.extend_from_slice(id);
    let m = method_of(body).unwrap_or(b"");
    match m {
        b"tools/call" => msg
            .extend_from_slice(b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}"),
        b"ping" => msg.extend_from_slice(b",\"result\":{}}"),
        b"initialize" => msg.extend_from_slice(
            b",\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":\
              {\"tools\":{}},\"serverInfo\":{\"name\":\"bench_http_echo\",\"version\":\"1\"}}}",
        ),
        _ => {
            msg.extend_from_slice(b",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}")
        }
    }
    let sse = header(head, b"accept").is_some_and(|a| find(a, b"text/event-stream").is_some());
    let body: Vec<u8> = if sse {
        let mut b = b"event: message\ndata: ".to_vec();
        b.extend_from_slice(&msg);
        b.extend_from_slice(b"\n\n");
        b
    } else {
        msg
    };
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: ");
    out.extend_from_slice(if sse {
        b"text/event-stream"
    } else {
        b"application/json"
    });
    out.extend_from_slice(b"\r\nCache-Control: no-store\r\n");
    if m == b"initialize" {
        let sid = SESSIONS.fetch_add(1, Ordering::Relaxed);
        out.extend_from_slice(format!("Mcp-Session-Id: {sid:016x}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
}

/// Serves one connection until the client closes it.
fn serve(mut sock: TcpStream) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut have = 0;
    let mut out = Vec::with_capacity(4096);
    loop {
        // The head: up to the blank line.
        let head_end = loop {
            if let Some(i) = find(&buf[..have], b"\r\n\r\n") {
                break i + 4;
            }
            if have == buf.len() {
                return Ok(()); // a head larger than the buffer: give up
            }
            let n = sock.read(&mut buf[have..])?;
            if n == 0 {
                return Ok(());
            }
            have += n;
        };
        let len = header(&buf[..head_end], b"content-length")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        let total = head_end + len;
        if total > buf.len() {
            buf.resize(total, 0);
        }
        while have < total {
            let n = sock.read(&mut buf[have..])?;
            if n == 0 {
                return Ok(());
            }
            have += n;
        }
        out.clear();
        answer(&buf[..head_end], &buf[head_end..total], &mut out);
        sock.write_all(&out)?;
        buf.copy_within(total..have, 0);
        have -= total;
    }
}

fn main() -> io::Result<()> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().expect("--listen needs an address"),
            _ => {
                eprintln!("usage: bench_http_echo [--listen ADDR]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&listen)?;
    eprintln!("listening on http://{}/mcp", listener.local_addr()?);
    for sock in listener.incoming() {
        let Ok(sock) = sock else { continue };
        let _ = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(sock));
    }
    Ok(())
}
