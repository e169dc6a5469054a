//! The scanner: walks a string once, finds the words around the bytes a destination needs
//! (`.` `:` `@`), and splits them into URLs, e-mail domains, bare addresses and bare host names,
//! judging each candidate (a code call or a file name is no host) before it is pushed.

use super::addr::{classify_ip, is_number_label};
use super::chars::{
    bare_label_char, find_localhost, is_dot, is_slash, url_label_char, AUTH_END, CLASS, DASH,
    SCHEME, SPLIT, TRIGGER, WORD,
};
use super::host::{ipv4, to_ascii_host, Read};
use super::names::{
    classify_name, min3, private_suffix, special_tld, tld_listed, FILE_EXTENSIONS, FILE_STEMS,
    METADATA_NAMES, RECEIVERS,
};
use super::reading::readings;
use super::{Destination, Kind, MAX_LABEL, MAX_NAME};
use std::net::{IpAddr, Ipv6Addr};

pub(super) struct Scan<'a> {
    t: &'a str,
    b: &'a [u8],
    known: &'a dyn Fn(&str) -> bool,
    out: &'a mut Vec<Destination>,
    /// End of the word being looked at (for the "followed by `(`" test).
    word_end: usize,
    /// A URL text whose readings the caller already has (the whole argument): not read again.
    read: Option<&'a str>,
}

impl<'a> Scan<'a> {
    pub(super) fn new(
        t: &'a str,
        known: &'a dyn Fn(&str) -> bool,
        out: &'a mut Vec<Destination>,
    ) -> Self {
        Scan {
            t,
            b: t.as_bytes(),
            known,
            out,
            word_end: 0,
            read: None,
        }
    }

    /// Skips the readings of a URL whose text is `u` (the caller has them, and they found a
    /// host).
    pub(super) fn already_read(mut self, u: &'a str) -> Self {
        self.read = Some(u);
        self
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
    pub(super) fn run(&mut self) {
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
                return self.url(s0, end + 2);
            }
        }
        if flags & TRIGGER != 0 {
            self.word(start, end, flags, wide);
        } else if self.b[start..end].eq_ignore_ascii_case(b"localhost") {
            self.push("localhost".to_owned(), None, Kind::Host);
        }
        end
    }

    /// A URL whose scheme starts at `s0` and whose authority starts at `p` (just after `//`):
    /// its hosts under every reading of the URL text (`reading.rs`), which in prose ends at
    /// white space, a quote, a bracket or a symbol. Returns where to go on scanning: the end
    /// of the authority (the first `/`, `?` or `#`), so the path and query are scanned as text.
    fn url(&mut self, s0: usize, p: usize) -> usize {
        let n = self.b.len();
        let mut e = p;
        while e < n {
            let c = self.b[e];
            if c < 0x80 {
                if CLASS[c as usize] & AUTH_END != 0 && !matches!(c, b'/' | b'\\' | b'?' | b'#') {
                    break;
                }
                e += 1;
            } else {
                match self.t.get(e..).and_then(|r| r.chars().next()) {
                    Some(ch) if url_label_char(ch) => e += ch.len_utf8(),
                    _ => break,
                }
            }
        }
        let aend = p + self.b[p..e]
            .iter()
            .position(|&c| matches!(c, b'/' | b'?' | b'#'))
            .unwrap_or(e - p);
        let u = &self.t[s0..e];
        if self.read == Some(u) {
            return aend.max(p);
        }
        let mut reads = Vec::new();
        readings(u, &mut reads);
        if reads.is_empty() {
            // No client connects to it; reported as written (fail closed).
            let auth = &self.t[p..aend];
            let info = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            let host = match info.strip_prefix('[') {
                Some(b) => &b[..b.find(']').unwrap_or(b.len())],
                None => info.split(':').next().unwrap_or(""),
            };
            let host = host.trim_end_matches('.');
            if !host.is_empty() {
                // Still in ASCII form, as every host is (fuzz/FOUND.md, egress-1): punycode
                // where UTS 46 can, else the bytes percent-encoded.
                let ascii = idna::domain_to_ascii(host).unwrap_or_else(|_| {
                    host.to_lowercase()
                        .bytes()
                        .map(|b| {
                            if b.is_ascii() {
                                (b as char).to_string()
                            } else {
                                format!("%{b:02x}")
                            }
                        })
                        .collect()
                });
                self.push(ascii.trim_end_matches('.').to_owned(), None, Kind::Url);
            }
        }
        for r in reads {
            self.push_read(r, Kind::Url);
        }
        aend.max(p)
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
            return match ipv4(d) {
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
        // Unicode: judged in its ASCII form (UTS 46: dots, fullwidth forms, case, punycode).
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
                if let Some(ip) = ipv4(name) {
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
                    if let Some(ip) = ipv4(sub) {
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
        self.out.push(destination(host, ip, kind));
    }

    fn push_read(&mut self, r: Read, kind: Kind) {
        self.out.push(from_read(r, kind));
    }

    fn push_ip(&mut self, ip: IpAddr, kind: Kind) {
        self.push(ip.to_string(), Some(ip), kind);
    }
}

fn destination(host: String, ip: Option<IpAddr>, kind: Kind) -> Destination {
    let class = match ip {
        Some(ip) => classify_ip(ip),
        None => classify_name(&host),
    };
    Destination {
        host,
        ip,
        kind,
        class,
    }
}

/// The destination a reading of a host is.
pub(super) fn from_read(r: Read, kind: Kind) -> Destination {
    match r {
        Read::Name(n) => destination(n, None, kind),
        Read::Ip(a) => destination(a.to_string(), Some(a), kind),
    }
}
