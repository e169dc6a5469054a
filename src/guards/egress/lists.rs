//! Allow and deny lists ([`DomainList`]): host globs (`*.example.com`), exact names and
//! addresses, and CIDR networks, parsed from a policy's entries with messages that say what is
//! wrong, and matched against a destination.

use super::addr::embedded_v4;
use super::host::to_ascii_host;
use super::Destination;
use crate::base::glob;
use std::net::IpAddr;

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
}
