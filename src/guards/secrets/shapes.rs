//! The credential shapes: a 256-entry byte table of what may start a secret, the word
//! boundaries a shape needs, and one matcher per family (cloud and SaaS keys by prefix and
//! length, JWTs, bearer tokens, private-key blocks).

use super::Finding;
use crate::base::bytes::find_byte;

/// Base64 and base64url characters (`=` padding aside): high-entropy runs are made of them.
pub(super) const RUN: u8 = 1;
/// Bytes that can start a shape.
pub(super) const FIRST: u8 = 2;
pub(super) const ALNUM: u8 = 4;
/// Letters of the escapes that end a word in escaped text: `\n` `\t` `\r` `\f` `\b`.
pub(super) const ESCAPE: u8 = 8;
/// Bytes that end a URL in text: blanks, quotes, brackets, `|` and `\\`.
pub(super) const URL_END: u8 = 16;

pub(super) static BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut f = 0;
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-') {
            f |= RUN;
        }
        if matches!(
            c,
            b'-' | b'A' | b'g' | b'x' | b's' | b'r' | b'y' | b'n' | b'e' | b'b' | b'B'
        ) {
            f |= FIRST;
        }
        if c.is_ascii_alphanumeric() {
            f |= ALNUM;
        }
        if matches!(c, b'n' | b't' | b'r' | b'f' | b'b') {
            f |= ESCAPE;
        }
        if c <= b' '
            || matches!(
                c,
                b'"' | b'\''
                    | b'`'
                    | b'<'
                    | b'>'
                    | b'('
                    | b')'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'|'
                    | b'\\'
            )
        {
            f |= URL_END;
        }
        t[i] = f;
        i += 1;
    }
    t
};

/// Whether `second` can follow `first` in some shape: keeps most words that merely start
/// with a shape's first letter (`summary`, `report`, `the`) away from `named_at`.
pub(super) fn second_fits(first: u8, second: u8) -> bool {
    match first {
        b'-' => second == b'-',
        b'A' => matches!(second, b'K' | b'S' | b'B' | b'C' | b'I'),
        b'g' => matches!(second, b'h' | b'i'),
        b'x' => second == b'o',
        b's' | b'r' => second == b'k',
        b'y' => second == b'a',
        b'n' => second == b'p',
        b'e' => second == b'y',
        b'b' | b'B' => second | 0x20 == b'e',
        _ => false,
    }
}

/// A prefix must start at a boundary: the start of the string, a non-alphanumeric byte, or
/// a JSON/C escape such as `\n` (so `key\nAKIA...` in escaped text still counts). Inside a
/// longer word (`xAKIA...`) a prefix is not one; such words are left to the entropy detector.
fn boundary(b: &[u8], i: usize) -> bool {
    i == 0
        || !b[i - 1].is_ascii_alphanumeric()
        || (i >= 2 && b[i - 2] == b'\\' && matches!(b[i - 1], b'n' | b't' | b'r' | b'f' | b'b'))
}

/// Whether the byte after a fixed-length token ends it.
fn ends(b: &[u8], e: usize, body: fn(u8) -> bool) -> bool {
    b.get(e).is_none_or(|&c| !body(c))
}

fn count(b: &[u8], from: usize, ok: fn(u8) -> bool) -> usize {
    b.get(from..)
        .map_or(0, |r| r.iter().take_while(|&&c| ok(c)).count())
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn upper_digit(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn url64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn alnum_underscore(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn alnum_hyphen(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn url64_dot(c: u8) -> bool {
    url64(c) || c == b'.'
}

fn bearer_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'-')
}

fn hit(kind: &'static str, start: usize, end: usize) -> Option<Finding> {
    Some(Finding { kind, start, end })
}

/// `prefix` + exactly `len` `body` characters, then not another one.
fn fixed(
    b: &[u8],
    i: usize,
    prefix: usize,
    len: usize,
    body: fn(u8) -> bool,
    kind: &'static str,
) -> Option<Finding> {
    let e = i + prefix + len;
    (count(b, i + prefix, body) >= len && ends(b, e, body)).then_some(Finding {
        kind,
        start: i,
        end: e,
    })
}

/// `prefix` + at least `min` `body` characters (all of them).
fn at_least(
    b: &[u8],
    i: usize,
    prefix: usize,
    min: usize,
    body: fn(u8) -> bool,
    kind: &'static str,
) -> Option<Finding> {
    let n = count(b, i + prefix, body);
    (n >= min).then_some(Finding {
        kind,
        start: i,
        end: i + prefix + n,
    })
}

/// The shape starting at `i`, if any. Kept out of line: it is the scan's cold path.
#[inline(never)]
pub(super) fn named_at(b: &[u8], i: usize) -> Option<Finding> {
    if b[i] == b'-' {
        return private_key(b, i);
    }
    specific_at(b, i).or_else(|| bearer(b, i))
}

/// Every shape except private-key blocks and bearer tokens.
fn specific_at(b: &[u8], i: usize) -> Option<Finding> {
    if !boundary(b, i) {
        return None;
    }
    let r = &b[i..];
    match r.first()? {
        b'A' => {
            if r.len() >= 4 && matches!(&r[..4], b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA") {
                return fixed(b, i, 4, 16, upper_digit, "aws_access_key_id");
            }
            if r.starts_with(b"AIza") {
                return fixed(b, i, 4, 35, url64, "google_api_key");
            }
            None
        }
        b'g' => {
            if r.len() >= 4
                && r[1] == b'h'
                && matches!(r[2], b'p' | b'o' | b'u' | b's' | b'r')
                && r[3] == b'_'
            {
                return fixed(b, i, 4, 36, alnum, "github_token");
            }
            if r.starts_with(b"github_pat_") {
                return at_least(b, i, 11, 22, alnum_underscore, "github_token");
            }
            None
        }
        b'x' => {
            if r.len() >= 5
                && r.starts_with(b"xox")
                && matches!(r[3], b'a' | b'b' | b'p' | b'o' | b'r' | b's')
                && r[4] == b'-'
            {
                let n = count(b, i + 5, alnum_hyphen);
                let body = &b[i + 5..i + 5 + n];
                if n >= 10 && body.iter().any(u8::is_ascii_digit) {
                    return hit("slack_token", i, i + 5 + n);
                }
            }
            None
        }
        b's' | b'r' => {
            if r[1..].starts_with(b"k_live_") {
                return at_least(b, i, 8, 24, alnum, "stripe_key");
            }
            if r[0] == b'r' || !r.starts_with(b"sk-") {
                return None;
            }
            if r.starts_with(b"sk-ant-") {
                return at_least(b, i, 7, 20, url64, "anthropic_key");
            }
            let n = count(b, i + 3, url64);
            let body = &b[i + 3..i + 3 + n];
            if n >= 20
                && body.iter().any(u8::is_ascii_digit)
                && body.iter().any(u8::is_ascii_alphabetic)
            {
                return hit("openai_key", i, i + 3 + n);
            }
            None
        }
        b'y' if r.starts_with(b"ya29.") => at_least(b, i, 5, 20, url64_dot, "google_oauth_token"),
        b'n' if r.starts_with(b"npm_") => fixed(b, i, 4, 36, alnum, "npm_token"),
        b'e' => jwt(b, i),
        _ => None,
    }
}

/// `eyJ...` `.` `eyJ...` `.` signature, each part at least 8 base64url characters.
fn jwt(b: &[u8], i: usize) -> Option<Finding> {
    let part = |s: usize, json: bool| -> Option<usize> {
        if json && !b.get(s..)?.starts_with(b"eyJ") {
            return None;
        }
        let n = count(b, s, url64);
        (n >= 8).then_some(s + n)
    };
    let e1 = part(i, true)?;
    if b.get(e1) != Some(&b'.') {
        return None;
    }
    let e2 = part(e1 + 1, true)?;
    if b.get(e2) != Some(&b'.') {
        return None;
    }
    let e3 = part(e2 + 1, false)?;
    hit("jwt", i, e3)
}

/// `Bearer` (any case), blanks, then a token of at least 20 characters (and `=` padding):
/// the finding is the token. A token with a shape of its own is reported as that shape.
fn bearer(b: &[u8], i: usize) -> Option<Finding> {
    if !boundary(b, i) || !b.get(i..i + 6)?.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let mut t = i + 6;
    if !matches!(b.get(t), Some(b' ' | b'\t')) {
        return None;
    }
    while matches!(b.get(t), Some(b' ' | b'\t')) {
        t += 1;
    }
    let n = count(b, t, bearer_char);
    if n < 20 {
        return None;
    }
    let mut e = t + n;
    while b.get(e) == Some(&b'=') {
        e += 1;
    }
    specific_at(b, t).or(hit("bearer_token", t, e))
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// `-----BEGIN ... PRIVATE KEY-----` (PKCS#1/#8, EC, OpenSSH, encrypted, PGP `... BLOCK`)
/// through the matching `-----END ...-----` line, or to the end of the string without one.
fn private_key(b: &[u8], i: usize) -> Option<Finding> {
    if !b[i..].starts_with(BEGIN) {
        return None;
    }
    let ls = i + BEGIN.len();
    let window = &b[ls..b.len().min(ls + 64)];
    let k = find_sub(window, DASHES)?;
    let label = &window[..k];
    let private = label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK");
    if !private
        || !label
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ')
    {
        return None;
    }
    let after = ls + k + DASHES.len();
    let end = match find_sub(&b[after..], END) {
        Some(e) => {
            let es = after + e + END.len();
            match find_sub(&b[es..b.len().min(es + 64)], DASHES) {
                Some(k) => es + k + DASHES.len(),
                None => b.len(),
            }
        }
        None => b.len(),
    };
    hit("private_key", i, end)
}

/// First occurrence of `needle` (non-empty) in `hay`.
fn find_sub(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = find_byte(needle[0], &hay[from..]) {
        let p = from + k;
        if hay[p..].starts_with(needle) {
            return Some(p);
        }
        from = p + 1;
    }
    None
}
