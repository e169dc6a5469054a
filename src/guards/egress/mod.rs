//! Network destinations hidden in argument strings: finds URLs, e-mail addresses, bare IP
//! addresses and bare host names anywhere in a string (prose, SQL, shell commands), normalizes
//! each host (ASCII lowercase, punycode for Unicode names, the numeric IPv4 spellings URL
//! parsers accept decoded) and classifies it as public, private or cloud metadata. Also owns
//! the allow/deny lists (`DomainList`) that egress rules match destinations against. Pure
//! functions of their input: no DNS, no I/O. `destinations` runs on every string argument of
//! every tool call, so it looks only at the words around the bytes a destination needs (`.`
//! `:` `@`, found a machine word at a time), allocates only for what it finds, and is linear in
//! the length of its input.

use std::net::IpAddr;

mod addr;
mod chars;
mod lists;
mod names;
mod scan;
#[cfg(test)]
mod tests;

use chars::{find_localhost, has_percent_escape, percent_decode, CLASS, MAY};
pub use lists::DomainList;
use scan::Scan;

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
