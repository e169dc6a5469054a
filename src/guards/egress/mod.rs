//! Network destinations hidden in argument strings: finds URLs, e-mail addresses, bare IP
//! addresses and bare host names anywhere in a string (prose, SQL, shell commands), reads each
//! URL as the clients behind MCP servers do (the `url` crate's WHATWG parser and UTS 46 host
//! processing, and the RFC 3986 reading of Python's urllib and curl; the text as written and
//! percent-decoded), normalizes each host and classifies it as public, private or cloud
//! metadata; a caller refuses if any reading is refusable. Also owns
//! the allow/deny lists (`DomainList`) that egress rules match destinations against. Pure
//! functions of their input: no DNS, no I/O. `destinations` runs on every string argument of
//! every tool call, so it looks only at the words around the bytes a destination needs (`.`
//! `:` `@`, found a machine word at a time), allocates only for what it finds, and is linear in
//! the length of its input.

use std::net::IpAddr;

mod addr;
mod chars;
mod host;
mod lists;
mod names;
mod reading;
mod scan;
#[cfg(test)]
mod spellings;
#[cfg(test)]
mod tests;

use chars::{find_localhost, has_percent_escape, percent_decode, CLASS, MAY};
pub use lists::DomainList;
use scan::Scan;
use std::collections::HashSet;

/// How a destination was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// Normalized: UTS 46 (ASCII lowercase, Unicode labels in punycode, `xn--`), no trailing dot, IPv6
    /// without brackets, IP addresses in canonical text (`169.254.169.254`, `::1`).
    pub host: String,
    /// The address, when the host is one (however it was spelled).
    pub ip: Option<IpAddr>,
    pub kind: Kind,
    pub class: Class,
}

/// The WHATWG special schemes, whose URLs have a host even without `//` (`http:evil.com`).
const SPECIAL: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];

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
    // The whole argument as a client reads a URL argument: blanks around it dropped, tabs
    // and newlines inside removed, up to its end whatever it holds. Whether it starts with a
    // scheme is decided on its first characters, so prose is not copied.
    let whole = s.trim_matches(|c: char| c <= ' ');
    let head: String = whole
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .take(40)
        .collect();
    let url = head.split_once(':').is_some_and(|(sc, rest)| {
        sc.starts_with(|c: char| c.is_ascii_alphabetic())
            && sc
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
            && (rest.starts_with(['/', '\\'])
                || SPECIAL.iter().any(|sp| sc.eq_ignore_ascii_case(sp)))
    });
    let whole = if url && whole.contains(['\t', '\n', '\r']) {
        std::borrow::Cow::Owned(whole.replace(['\t', '\n', '\r'], ""))
    } else {
        std::borrow::Cow::Borrowed(whole)
    };
    let decode = has_percent_escape(s.as_bytes());
    if !(decode || url) {
        return Scan::new(s, known, out).run();
    }
    // Several readings: the fetcher's of the whole argument first (the most telling finding),
    // then the text as written, then decoded; a host already found is not repeated (the class
    // follows from the host, so a repeat adds nothing to a verdict).
    let mut more = Vec::new();
    if url {
        let mut reads = Vec::new();
        reading::readings(&whole, &mut reads);
        more.extend(reads.into_iter().map(|r| scan::from_read(r, Kind::Url)));
    }
    let read = !more.is_empty();
    let mut scan = Scan::new(s, known, &mut more);
    match whole {
        // A URL argument as a whole is also the scan's URL text: it is read once.
        std::borrow::Cow::Borrowed(w) if read => scan.already_read(w).run(),
        _ => scan.run(),
    }
    if decode {
        // `%2e`, `%3a`, `%40`, `%2f` can hide every delimiter: the decoded text is scanned too
        // (decoding twice more undoes double and triple encoding).
        let mut decoded = percent_decode(s);
        for round in 0..3 {
            Scan::new(&decoded, known, &mut more).run();
            if round == 2 || !has_percent_escape(decoded.as_bytes()) {
                break;
            }
            let next = percent_decode(&decoded);
            if next == decoded {
                break;
            }
            decoded = next;
        }
    }
    let mut seen = HashSet::new();
    for d in more {
        if seen.insert(d.host.clone()) {
            out.push(d);
        }
    }
}
