//! Newline framing for input streams: reads one line at a time into a reusable buffer with an
//! upper bound on its size, so an endless line cannot exhaust memory. Owns [`MAX_LINE`].

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

/// Index of the first `needle` in `haystack`, a word at a time (std's memchr is not public).
pub fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")) ^ pattern;
        // A zero byte in `word` marks a match (the classic has-zero-byte test).
        let zero = word.wrapping_sub(LO) & !word & HI;
        if zero != 0 {
            return Some(offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_agrees_with_position() {
        let hay: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(7)).collect();
        for n in [0u8, 7, 10, 255, 128, 1] {
            for start in 0..20 {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(n, h),
                    h.iter().position(|&b| b == n),
                    "{n} from {start}"
                );
            }
        }
    }

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
}
