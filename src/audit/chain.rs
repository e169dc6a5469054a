//! The hash chain's arithmetic: what a line's hash is (SHA-256 of its bytes without the
//! newline, written as 64 lowercase hex digits), the genesis value that stands for "no line
//! before", and reading the hash of a file's last line from its end, backwards and bounded,
//! without reading the whole file.

use sha2::{Digest, Sha256};
use std::os::unix::fs::FileExt;

/// The `prev` of the first entry of a log that continues nothing: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far back from the end the start of the last line is looked for. Sentinel's own entries
/// are at most a 64 MiB message plus its fields; a longer last line was not written by it, and
/// the chain is then taken from its last `TAIL_BOUND` bytes (`verify` reports the break).
pub const TAIL_BOUND: u64 = 80 * 1024 * 1024;

/// Bytes read per step while looking backwards for the last line's start.
const CHUNK: usize = 64 * 1024;

/// A line's hash, as `prev` carries it.
pub type Hex = [u8; 64];

/// The hash of `line` (without its newline).
pub fn hash_line(line: &[u8]) -> Hex {
    hex32(&Sha256::digest(line).into())
}

/// 32 bytes as 64 lowercase hex digits.
pub fn hex32(bytes: &[u8; 32]) -> Hex {
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

use crate::base::hex::HEX;
pub use crate::base::hex::{hex, unhex};

/// What the end of a file says about the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    /// The hash of the last line (of the bytes after the last newline when the file does not
    /// end with one); `None` for an empty file.
    pub hash: Option<Hex>,
    /// Whether the file ends with a newline (true for an empty file): if not, the next entry
    /// starts with one so that it is a line of its own.
    pub ends_with_newline: bool,
}

/// Reads the tail of the first `size` bytes of `file`.
pub fn tail(file: &impl FileExt, size: u64) -> std::io::Result<Tail> {
    tail_with(file, size, CHUNK, TAIL_BOUND)
}

/// [`tail`] with the step and the bound as parameters (the unit tests use small ones).
pub fn tail_with(
    file: &impl FileExt,
    size: u64,
    chunk: usize,
    bound: u64,
) -> std::io::Result<Tail> {
    if size == 0 {
        return Ok(Tail {
            hash: None,
            ends_with_newline: true,
        });
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, size - 1)?;
    let ends_with_newline = last[0] == b'\n';
    // The last line is [start, end).
    let end = if ends_with_newline { size - 1 } else { size };
    let floor = size.saturating_sub(bound);
    let mut buf = vec![0u8; chunk];
    let mut start = floor;
    let mut pos = end;
    // The bytes read last, when the whole line is in them: (offset, data).
    let mut first: Option<(u64, Vec<u8>)> = None;
    while pos > floor {
        let n = ((pos - floor) as usize).min(chunk);
        let at = pos - n as u64;
        file.read_exact_at(&mut buf[..n], at)?;
        if first.is_none() {
            first = Some((at, buf[..n].to_vec()));
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            start = at + i as u64 + 1;
            break;
        }
        pos = at;
    }
    let hash = match first {
        Some((at, data)) if start >= at => hash_line(&data[(start - at) as usize..]),
        _ => {
            // A line longer than one step: hash it forwards from its start.
            let mut h = Sha256::new();
            let mut p = start;
            while p < end {
                let n = ((end - p) as usize).min(chunk);
                file.read_exact_at(&mut buf[..n], p)?;
                h.update(&buf[..n]);
                p += n as u64;
            }
            hex32(&h.finalize().into())
        }
    };
    Ok(Tail {
        hash: Some(hash),
        ends_with_newline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> std::fs::File {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sentinel-chain-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    fn tail_of(bytes: &[u8], chunk: usize, bound: u64) -> Tail {
        tail_with(&file_with(bytes), bytes.len() as u64, chunk, bound).unwrap()
    }

    #[test]
    fn genesis_is_64_zeros_and_hashes_are_sha256_hex() {
        assert_eq!(GENESIS.len(), 64);
        assert!(GENESIS.bytes().all(|b| b == b'0'));
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            &hash_line(b"abc"),
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(unhex::<3>("0aFf10"), Some([0x0a, 0xff, 0x10]));
        assert_eq!(unhex::<3>("0aFf1"), None);
        assert_eq!(unhex::<1>("zz"), None);
        assert_eq!(hex(&[0, 255]), "00ff");
    }

    #[test]
    fn the_last_line_is_found_at_every_step_size() {
        let text = b"{\"a\":1}\n{\"second\":\"line that is longer than a step\"}\n";
        let want = hash_line(b"{\"second\":\"line that is longer than a step\"}");
        for chunk in [1, 2, 3, 7, 16, 64, 1 << 16] {
            let t = tail_of(text, chunk, TAIL_BOUND);
            assert_eq!(t.hash, Some(want), "chunk {chunk}");
            assert!(t.ends_with_newline);
        }
    }

    #[test]
    fn a_single_line_file_an_empty_file_and_an_empty_last_line() {
        assert_eq!(
            tail_of(b"only\n", 2, TAIL_BOUND).hash,
            Some(hash_line(b"only"))
        );
        let empty = tail_of(b"", 4, TAIL_BOUND);
        assert_eq!(empty.hash, None);
        assert!(empty.ends_with_newline);
        assert_eq!(tail_of(b"a\n\n", 1, TAIL_BOUND).hash, Some(hash_line(b"")));
    }

    #[test]
    fn a_cut_last_line_is_hashed_as_it_stands_and_flagged() {
        for chunk in [1, 3, 100] {
            let t = tail_of(b"{\"a\":1}\n{\"cut", chunk, TAIL_BOUND);
            assert_eq!(t.hash, Some(hash_line(b"{\"cut")), "chunk {chunk}");
            assert!(!t.ends_with_newline);
        }
        assert_eq!(
            tail_of(b"no newline", 3, TAIL_BOUND).hash,
            Some(hash_line(b"no newline"))
        );
    }

    #[test]
    fn the_search_backwards_stops_at_the_bound() {
        // The last line is 10 bytes; with a bound of 6 only its last 5 bytes (before the
        // newline) are taken.
        let t = tail_of(b"x\n0123456789\n", 2, 6);
        assert_eq!(t.hash, Some(hash_line(b"56789")));
    }
}
