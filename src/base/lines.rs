//! Newline framing for input streams: reads one line at a time into a reusable buffer with an
//! upper bound on its size, so an endless line cannot exhaust memory. Owns [`MAX_LINE`].

use crate::base::bytes::find_byte;
use std::io::{self, BufRead};

/// Largest client message accepted, in bytes (excluding the newline). Larger ones are refused
/// with a parse error and skipped up to their newline.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer, without its newline; `terminated` says whether it had one.
    Complete { terminated: bool },
    /// The line exceeded the limit; it was consumed and discarded.
    TooLong,
    /// End of input, nothing read.
    Eof,
}

/// Reads the next line into `buf` (cleared first), reading at most `max` bytes of it.
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Complete { terminated: false }
            });
        }
        let (chunk, found) = match find_byte(b'\n', available) {
            Some(n) => (&available[..n], Some(n)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = found.map_or(chunk.len(), |n| n + 1);
        r.consume(used);
        if found.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete { terminated: true }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lines_and_bounds_them() {
        let mut r = io::BufReader::with_capacity(4, &b"ab\n0123456789\nlast"[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, 8).unwrap(),
            Line::Complete { terminated: true }
        );
        assert_eq!(buf, b"ab");
        assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Line::TooLong);
        assert_eq!(
            read_line(&mut r, &mut buf, 8).unwrap(),
            Line::Complete { terminated: false }
        );
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Line::Eof);
    }

    /// A line of exactly `max` bytes is kept; one byte more is too long, however the reader's
    /// buffer splits it.
    #[test]
    fn the_bound_is_exact() {
        for cap in [1, 3, 8, 64] {
            let mut r = io::BufReader::with_capacity(cap, &b"12345678\n123456789\n"[..]);
            let mut buf = Vec::new();
            assert_eq!(
                read_line(&mut r, &mut buf, 8).unwrap(),
                Line::Complete { terminated: true },
                "buffer of {cap}"
            );
            assert_eq!(buf, b"12345678");
            assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Line::TooLong);
            assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Line::Eof);
        }
    }
}
