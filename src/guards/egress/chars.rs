//! Byte and character classes the scanner steps by (a 256-entry table of what each byte may
//! start, split or end), the Unicode look-alikes of `.` and `/`, the `localhost` finder, and
//! percent-decoding for text that hides delimiters as `%2e`, `%3a`, `%40`.

/// Bytes that can be part of a word (a run that may hold a bare destination).
pub(super) const WORD: u8 = 1;
/// `.` `:` `@`: a word without one (or a Unicode dot) holds no destination, except the bare
/// word `localhost`.
pub(super) const TRIGGER: u8 = 2;
/// Bytes of a URL scheme.
pub(super) const SCHEME: u8 = 4;
/// Bytes that end a URL's authority (userinfo, host and port).
pub(super) const AUTH_END: u8 = 8;
/// `:`, `@` and `+`: a word without them is a plain dotted candidate.
pub(super) const SPLIT: u8 = 16;
/// `-` and `_`, which may glue addresses together (`10.0.0.1-10.0.0.9`).
pub(super) const DASH: u8 = 32;
/// Bytes without which a string holds no destination but `localhost`: the triggers, `%`
/// (an escape may hide one) and every non-ASCII byte (Unicode dots, international names).
pub(super) const MAY: u8 = 64;

pub(super) static CLASS: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut f = 0;
        let alnum = c.is_ascii_alphanumeric();
        if alnum || matches!(c, b'-' | b'_' | b'.' | b':' | b'@' | b'+') {
            f |= WORD;
        }
        if matches!(c, b'.' | b':' | b'@') {
            f |= TRIGGER;
        }
        if matches!(c, b'.' | b':' | b'@' | b'%') || c >= 0x80 {
            f |= MAY;
        }
        if alnum || matches!(c, b'+' | b'.' | b'-') {
            f |= SCHEME;
        }
        if matches!(c, b':' | b'@' | b'+') {
            f |= SPLIT;
        }
        if matches!(c, b'-' | b'_') {
            f |= DASH;
        }
        if c <= b' '
            || matches!(
                c,
                b'/' | b'\\'
                    | b'?'
                    | b'#'
                    | b'"'
                    | b'\''
                    | b'`'
                    | b'<'
                    | b'>'
                    | b'('
                    | b')'
                    | b'{'
                    | b'}'
                    | b'|'
                    | b'^'
                    | b','
                    | b';'
                    | 0x7f
            )
        {
            f |= AUTH_END;
        }
        t[i] = f;
        i += 1;
    }
    t
}

pub(super) fn is_slash(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// `.` and the dots IDNA treats as `.`: ideographic full stop, fullwidth and halfwidth dots.
pub(super) fn is_dot(c: char) -> bool {
    matches!(c, '.' | '\u{3002}' | '\u{FF0E}' | '\u{FF61}')
}

/// The ASCII letter, digit or hyphen a fullwidth form stands for.
pub(super) fn fullwidth(c: char) -> Option<char> {
    match c as u32 {
        0xFF0D | 0xFF10..=0xFF19 | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => {
            char::from_u32(c as u32 - 0xFEE0)
        }
        _ => None,
    }
}

fn combining(c: char) -> bool {
    (0x300..=0x36F).contains(&(c as u32))
}

/// A non-ASCII character that can be part of a bare host name: letters of the alphabetic
/// scripts homographs are made of (Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic),
/// fullwidth ASCII, and the Kelvin and Angstrom signs (which lowercase to `k` and `å`). CJK
/// ends a bare name, so prose without spaces does not glue onto one.
pub(super) fn bare_label_char(c: char) -> bool {
    ((c as u32) < 0x800 && (c.is_alphabetic() || combining(c)))
        || fullwidth(c).is_some()
        || matches!(c, '\u{212A}' | '\u{212B}')
}

/// A non-ASCII character that can be part of a host after `scheme://`: any letter or digit.
pub(super) fn url_label_char(c: char) -> bool {
    c.is_alphanumeric() || combining(c) || fullwidth(c).is_some() || is_dot(c)
}

/// Next `localhost` (any case) at or after `from`.
pub(super) fn find_localhost(b: &[u8], mut from: usize) -> Option<usize> {
    while let Some(k) = crate::base::bytes::find_any3(b'l', b'L', b'L', &b[from..]) {
        let p = from + k;
        if b.get(p..p + 9)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"localhost"))
        {
            return Some(p);
        }
        from = p + 1;
    }
    None
}

// ---- percent-decoding ----

pub(super) fn has_percent_escape(b: &[u8]) -> bool {
    crate::base::bytes::find_byte(b'%', b).is_some()
        && b.windows(3)
            .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c.wrapping_sub(b'A').wrapping_add(10),
    }
}

/// `%XX` decoded once, except the escapes of white space and control bytes (`%20`, `%09`,
/// `%0A`, `%00`): the text keeps its words, so `q=connect%20to%20localhost` stays one query
/// word as `q=connect+to+localhost` is. Invalid UTF-8 in the result becomes U+FFFD (which
/// ends a word).
pub(super) fn percent_decode(s: &str) -> String {
    decode(s, |c| c > b' ' && c != 0x7f)
}

/// `%XX` decoded once, every escape: what a server that decodes an argument hands its client.
pub(super) fn percent_decode_all(s: &str) -> String {
    decode(s, |_| true)
}

fn decode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) {
                if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() {
                    let c = hex_value(h) << 4 | hex_value(l);
                    if keep(c) {
                        out.push(c);
                        i += 3;
                        continue;
                    }
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
