//! Fast byte searches, a machine word at a time (std's memchr is not public): finding the end
//! of a line in client input, and the next byte that can end a JSON string in server output.
//! Both sit on the per-byte hot paths of the pumps.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in each byte of `word` that is zero, exact for the lowest such
/// byte (the classic has-zero-byte test; higher bytes may be false positives).
#[inline]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LO) & !word & HI
}

/// Index of the first `needle` in `haystack`.
pub fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    find_any3(needle, needle, needle, haystack)
}

/// Index of the first byte of `haystack` that is one of `a`, `b` or `c`.
pub fn find_any3(a: u8, b: u8, c: u8, haystack: &[u8]) -> Option<usize> {
    let (pa, pb, pc) = (LO * u64::from(a), LO * u64::from(b), LO * u64::from(c));
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        let hits = zero_bytes(word ^ pa) | zero_bytes(word ^ pb) | zero_bytes(word ^ pc);
        if hits != 0 {
            // The lowest flagged byte is exact for whichever pattern flagged it, and any false
            // positive sits above a true match of the same pattern.
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|i| offset + i)
}

/// Index of the first byte of `haystack` that ends a JSON string's plain run: `"`, `\\` or a
/// control character (below 0x20); `haystack.len()` when there is none.
pub fn find_string_stop(haystack: &[u8]) -> usize {
    let (quote, backslash) = (LO * u64::from(b'"'), LO * u64::from(b'\\'));
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        // Bytes below 0x20: the has-less-than test, exact for the lowest such byte like the
        // zero-byte test (bytes of 0x80 and above never flag: `!word` clears their high bit).
        let control = word.wrapping_sub(LO * 0x20) & !word & HI;
        let hits = zero_bytes(word ^ quote) | zero_bytes(word ^ backslash) | control;
        if hits != 0 {
            return offset + (hits.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    offset
        + chunks
            .remainder()
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(chunks.remainder().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_agree_with_position() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 7 % 256) as u8).collect();
        for n in [0u8, 7, 10, 255, 128, 1, 34, 92] {
            for start in 0..20 {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(n, h),
                    h.iter().position(|&b| b == n),
                    "{n} from {start}"
                );
                let want = h.iter().position(|&b| b == n || b == b'"' || b == b'\\');
                assert_eq!(find_any3(n, b'"', b'\\', h), want, "{n} from {start}");
            }
        }
        for start in 0..40 {
            let h = &hay[start..];
            let want = h
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(h.len());
            assert_eq!(find_string_stop(h), want, "from {start}");
        }
        let text: Vec<u8> = (0..=255u8).rev().collect();
        for start in 0..256 {
            let h = &text[start..];
            let want = h
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(h.len());
            assert_eq!(find_string_stop(h), want, "descending from {start}");
        }
        assert_eq!(find_string_stop(b"abcdefgh\x7f\x80\xff\x20ok"), 14);
        // A byte just above a match must not be reported first.
        assert_eq!(find_any3(b'"', b'\\', b'\n', b"ab\x01\"x\\"), Some(3));
    }
}
