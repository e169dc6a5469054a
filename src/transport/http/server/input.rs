//! A connection's incoming bytes: a buffer filled by reads under a total deadline (the socket's
//! read timeout is set to what is left before each read, so a client dribbling bytes cannot
//! stretch it), and the body read out of it, by Content-Length or by the chunked transfer
//! coding (size lines, extensions skipped, trailers read and dropped; every line, chunk and the
//! total bounded). Bytes past the current request stay in the buffer for the next one
//! (pipelining). Memory grows only with what has arrived, never with what a header announces.

use super::conn::Conn;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// Why reading a request stopped.
#[derive(Debug)]
pub(super) enum Fail {
    /// The deadline passed.
    Timeout,
    /// The peer closed or reset the connection (or it failed): nothing can be answered.
    Closed,
    /// The request is refused with this status and explanation (then the connection closes).
    Refuse(u16, String),
}

/// The longest chunk-size line (size and extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// What one read may take at most.
const READ_SIZE: usize = 16 * 1024;

#[derive(Default)]
pub(super) struct Input {
    buf: Vec<u8>,
    pos: usize,
}

impl Input {
    /// The bytes received and not yet consumed.
    pub fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Drops the consumed bytes, so the buffer holds only what is still to be read.
    pub fn compact(&mut self) {
        self.buf.drain(..self.pos);
        self.pos = 0;
    }

    /// Reads at least one more byte before `deadline`.
    pub fn fill(&mut self, conn: &mut dyn Conn, deadline: Instant) -> Result<(), Fail> {
        let mut chunk = [0u8; READ_SIZE];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Fail::Timeout);
            }
            let left = (deadline - now).max(Duration::from_millis(1));
            let _ = conn.tcp().set_read_timeout(Some(left));
            match conn.read(&mut chunk) {
                Ok(0) => return Err(Fail::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                // A timed-out read: the loop looks at the deadline again.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Err(Fail::Closed),
            }
        }
    }

    /// A body of exactly `n` bytes (`n` already checked against the limit).
    pub fn body_of_length(
        &mut self,
        conn: &mut dyn Conn,
        n: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, Fail> {
        let mut body = Vec::with_capacity(n.min(64 * 1024));
        self.copy_exact(conn, n, &mut body, deadline)?;
        Ok(body)
    }

    /// Appends the next `n` bytes to `out`, reading as they arrive.
    fn copy_exact(
        &mut self,
        conn: &mut dyn Conn,
        n: usize,
        out: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<(), Fail> {
        let mut left = n;
        loop {
            let take = self.available().len().min(left);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take;
            if left == 0 {
                return Ok(());
            }
            self.compact();
            self.fill(conn, deadline)?;
        }
    }

    /// One line ending in CRLF, without it. A bare LF or a CR inside is refused (a reader that
    /// accepted them could frame the body differently from a proxy in front: smuggling).
    fn line(
        &mut self,
        conn: &mut dyn Conn,
        limit: usize,
        what: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, Fail> {
        let mut searched = 0;
        loop {
            let avail = self.available();
            if let Some(i) = avail[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + i;
                if end == 0 || avail[end - 1] != b'\r' || avail[..end - 1].contains(&b'\r') {
                    return Err(bad(format!(
                        "{what} not ended by CRLF; send the chunked body as RFC 9112 section 7.1 writes it"
                    )));
                }
                let line = avail[..end - 1].to_vec();
                self.pos += end + 1;
                return Ok(line);
            }
            searched = avail.len();
            if searched > limit {
                return Err(bad(format!(
                    "{what} longer than {limit} bytes; send shorter chunk lines"
                )));
            }
            self.fill(conn, deadline)?;
        }
    }

    /// The CRLF that ends a chunk's data.
    fn crlf(&mut self, conn: &mut dyn Conn, deadline: Instant) -> Result<(), Fail> {
        while self.available().len() < 2 {
            self.fill(conn, deadline)?;
        }
        if !self.available().starts_with(b"\r\n") {
            return Err(bad(
                "chunk data longer than its size line says; send each chunk's exact size in hex"
                    .into(),
            ));
        }
        self.pos += 2;
        Ok(())
    }

    /// A body in the chunked transfer coding, decoded, at most `max_body` bytes.
    pub fn body_chunked(
        &mut self,
        conn: &mut dyn Conn,
        max_body: usize,
        max_trailers: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, Fail> {
        let mut body = Vec::new();
        loop {
            let line = self.line(conn, MAX_CHUNK_LINE, "chunk size line", deadline)?;
            let size = chunk_size(&line)?;
            if size == 0 {
                break;
            }
            if size > (max_body - body.len()) as u64 {
                return Err(too_large(max_body));
            }
            self.copy_exact(conn, size as usize, &mut body, deadline)?;
            self.crlf(conn, deadline)?;
        }
        // The trailer section: header lines up to an empty one, read and dropped.
        let mut trailers = 0;
        loop {
            let line = self.line(conn, max_trailers, "trailer line", deadline)?;
            if line.is_empty() {
                return Ok(body);
            }
            trailers += line.len() + 2;
            if trailers > max_trailers {
                return Err(Fail::Refuse(
                    431,
                    format!(
                        "chunked trailers larger than {max_trailers} bytes; send fewer trailers"
                    ),
                ));
            }
        }
    }
}

/// The size of a chunk from its line: hex digits, then optional whitespace and `;` extensions
/// (ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Fail> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    let rest_ok = rest.is_empty() || {
        let ext = rest.iter().position(|&b| b != b' ' && b != b'\t');
        ext.is_some_and(|i| rest[i] == b';')
    };
    if digits.is_empty() || !rest_ok {
        return Err(bad(format!(
            "chunk size line {:?} is not a hex size; send the size of each chunk in hex",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        )));
    }
    let significant = digits
        .iter()
        .position(|&b| b != b'0')
        .map_or(&digits[..0], |i| &digits[i..]);
    if significant.len() > 15 {
        return Err(bad(
            "chunk size too large to be real; send smaller chunks".into()
        ));
    }
    let text = std::str::from_utf8(significant).unwrap_or("0");
    Ok(if text.is_empty() {
        0
    } else {
        u64::from_str_radix(text, 16).unwrap_or(u64::MAX)
    })
}

pub(super) fn bad(message: String) -> Fail {
    Fail::Refuse(400, message)
}

pub(super) fn too_large(max_body: usize) -> Fail {
    Fail::Refuse(
        413,
        format!("request body larger than {max_body} bytes; send a smaller body"),
    )
}

#[cfg(test)]
mod tests {
    use super::chunk_size;

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"0000000000000000000010").unwrap(), 16);
        assert_eq!(chunk_size(b"5 ; name=value").unwrap(), 5);
        assert_eq!(chunk_size(b"0").unwrap(), 0);
        for wrong in [
            &b""[..],
            b"x",
            b"-1",
            b" 5",
            b"5 x",
            b"0x10",
            b"1000000000000000",
        ] {
            assert!(
                chunk_size(wrong).is_err(),
                "{:?}",
                String::from_utf8_lossy(wrong)
            );
        }
    }
}
