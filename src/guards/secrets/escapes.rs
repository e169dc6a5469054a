//! JSON string escapes in raw message text: unescaping with a map back to the raw offsets, so
//! a secret written with `\n` or `\u0041` in it is found and redacted where it was written.

/// `raw` with JSON string escapes undone, and for each byte of the result (and its end) the
/// offset in `raw` of the character or escape it came from. Unknown escapes stay as written.
pub(super) fn unescape(raw: &str) -> (String, Vec<usize>) {
    let b = raw.as_bytes();
    let mut text = String::with_capacity(b.len());
    let mut map = Vec::with_capacity(b.len() + 1);
    let mut push = |text: &mut String, c: char, at: usize| {
        text.push(c);
        map.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let simple = match b.get(i + 1) {
                Some(b'n') => Some('\n'),
                Some(b't') => Some('\t'),
                Some(b'r') => Some('\r'),
                Some(b'b') => Some('\u{8}'),
                Some(b'f') => Some('\u{c}'),
                Some(b'"') => Some('"'),
                Some(b'\\') => Some('\\'),
                Some(b'/') => Some('/'),
                _ => None,
            };
            if let Some(c) = simple {
                push(&mut text, c, i);
                i += 2;
                continue;
            }
            if let Some(u) = hex4(b, i + 2).filter(|_| b.get(i + 1) == Some(&b'u')) {
                let (mut cp, mut len) = (u, 6);
                if (0xD800..0xDC00).contains(&u) && b.get(i + 6..i + 8) == Some(b"\\u") {
                    if let Some(lo) = hex4(b, i + 8).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                        cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                        len = 12;
                    }
                }
                push(&mut text, char::from_u32(cp).unwrap_or('\u{FFFD}'), i);
                i += len;
                continue;
            }
        }
        match raw.get(i..).and_then(|r| r.chars().next()) {
            Some(c) => {
                push(&mut text, c, i);
                i += c.len_utf8();
            }
            None => break,
        }
    }
    map.push(b.len());
    (text, map)
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let h = b.get(at..at + 4)?;
    let s = std::str::from_utf8(h).ok()?;
    if !h.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}
