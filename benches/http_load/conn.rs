//! The load generator's HTTP client: one keep-alive connection, requests written with one write, answers read by Content-Length or chunked.

#[allow(unused_imports)]
use super::*;

pub(crate) const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench_http_load","version":"1"}}}"#;
pub(crate) const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

// ---------------------------------------------------------------------------------------------
// The HTTP client: one keep-alive connection, requests written with one write, answers read by
// Content-Length or chunked.

pub(crate) struct Conn {
    pub(crate) sock: TcpStream,
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) accept: &'static str,
    pub(crate) session: Option<String>,
    pub(crate) req: Vec<u8>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) session: Option<String>,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    pub(crate) fn open(addr: SocketAddr, path: &str, sse: bool) -> io::Result<Conn> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(Duration::from_secs(300)))?;
        Ok(Conn {
            sock,
            buf: vec![0u8; 16 * 1024],
            start: 0,
            end: 0,
            host: addr.to_string(),
            path: path.to_owned(),
            accept: if sse {
                "application/json, text/event-stream"
            } else {
                "application/json"
            },
            session: None,
            req: Vec::with_capacity(1024),
        })
    }

    pub(crate) fn send(&mut self, method: &str, body: &str) -> io::Result<()> {
        self.req.clear();
        let r = &mut self.req;
        write!(
            r,
            "{method} {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: {}\r\n",
            self.path, self.host, self.accept
        )?;
        if let Some(s) = &self.session {
            write!(
                r,
                "Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: 2025-06-18\r\n"
            )?;
        }
        write!(r, "Content-Length: {}\r\n\r\n{body}", body.len())?;
        self.sock.write_all(&self.req)
    }

    /// Reads more bytes into the buffer (compacting it first when full).
    pub(crate) fn fill(&mut self) -> io::Result<()> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len();
                self.buf.resize(n * 2, 0);
            }
        }
        let n = self.sock.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        self.end += n;
        Ok(())
    }

    /// The next `\r\n`-terminated line (without it), consumed.
    pub(crate) fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                let l = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            self.fill()?;
        }
    }

    pub(crate) fn take(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        while self.end - self.start < n {
            self.fill()?;
        }
        out.extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(())
    }

    pub(crate) fn answer(&mut self) -> io::Result<Answer> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let status_line = self.line()?;
        let status: u16 = std::str::from_utf8(&status_line)
            .ok()
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let (mut length, mut chunked, mut session) = (None, false, None);
        loop {
            let h = self.line()?;
            if h.is_empty() {
                break;
            }
            let Some(colon) = h.iter().position(|&c| c == b':') else {
                return Err(bad("header"));
            };
            let (name, value) = (&h[..colon], h[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case(b"mcp-session-id") {
                session = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let size = self.line()?;
                let size = std::str::from_utf8(&size)
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                    .ok_or_else(|| bad("chunk size"))?;
                if size == 0 {
                    while !self.line()?.is_empty() {} // trailers
                    break;
                }
                self.take(size, &mut body)?;
                self.line()?;
            }
        } else if let Some(n) = length {
            self.take(n, &mut body)?;
        } else if status != 202 && status != 204 {
            return Err(bad("no length"));
        }
        if status == 100 {
            return self.answer();
        }
        Ok(Answer {
            status,
            session,
            body,
        })
    }

    pub(crate) fn post(&mut self, body: &str) -> io::Result<Answer> {
        self.send("POST", body)?;
        self.answer()
    }
}
