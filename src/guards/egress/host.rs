//! Host processing as the clients behind MCP servers do it, by the `url` and `idna` crates:
//! the WHATWG host parser (percent-decoding, UTS 46 mapping and punycode, the IPv4 number
//! spellings `2852039166`, `0x7f.1`, `0177.0.0.1`, bracketed IPv6) for URL hosts and numeric
//! words, and UTS 46 to-ASCII for bare names and list entries. No hand-written parsing.

use super::{MAX_LABEL, MAX_NAME};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Host;

/// A host as a client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Read {
    /// A name in its ASCII form (UTS 46 mapped, lowercase, punycode), no trailing dot.
    Name(String),
    /// An address, however it was spelled.
    Ip(IpAddr),
}

/// The WHATWG host parser, as it runs for special schemes (`http`, `https`, `ws`, `ftp`, ...)
/// and, for every scheme, as the resolver behind a client reads a host: glibc's
/// `getaddrinfo` accepts the same IPv4 number spellings. `None` when no client connects.
pub(super) fn parse_host(h: &str) -> Option<Read> {
    match Host::parse(h).ok()? {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.');
            (!d.is_empty()).then(|| Read::Name(d.to_owned()))
        }
        Host::Ipv4(a) => Some(Read::Ip(IpAddr::V4(a))),
        Host::Ipv6(a) => Some(Read::Ip(IpAddr::V6(a))),
    }
}

/// The host of `Url::host`, re-read by [`parse_host`] when the scheme is not special (the
/// WHATWG parser keeps such a host opaque: `gopher://2852039166/` is still 169.254.169.254 to
/// the client that connects).
pub(super) fn from_url_host(h: Host<&str>) -> Option<Read> {
    match h {
        Host::Domain(d) => parse_host(d),
        Host::Ipv4(a) => Some(Read::Ip(IpAddr::V4(a))),
        Host::Ipv6(a) => Some(Read::Ip(IpAddr::V6(a))),
    }
}

/// An IPv6 literal with a zone (`fe80::1%25eth0`, `fe80::1%eth0`), which the WHATWG parser
/// refuses but the socket layer of most clients accepts: the address without its zone.
pub(super) fn zoned_ipv6(inner: &str) -> Option<Ipv6Addr> {
    inner.split('%').next()?.parse().ok()
}

/// A word of four numeric labels in text (`10.0.0.1`, `0251.0376.0251.0376`) as an address,
/// by the WHATWG IPv4 parser; `None` when it is no address (`019.0.0.1`, `256.1.1.1`).
pub(super) fn ipv4(word: &str) -> Option<Ipv4Addr> {
    match Host::parse(word).ok()? {
        Host::Ipv4(a) => Some(a),
        _ => None,
    }
}

/// A bare name or list entry in its ASCII form by UTS 46 (dots and fullwidth forms mapped,
/// lowercased, Unicode labels in punycode). `None` when it is not a valid host name: ASCII
/// other than letters, digits, `-`, `_` and dots, an empty label, or a label or name longer
/// than DNS carries.
pub(super) fn to_ascii_host(h: &str) -> Option<String> {
    if h.len() > 4 * MAX_NAME
        || h.bytes().any(|c| {
            c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        })
    {
        return None;
    }
    let out = idna::domain_to_ascii(h).ok()?;
    let ok = !out.is_empty()
        && out.len() <= MAX_NAME
        && out
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= MAX_LABEL)
        && out
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The punycode vectors of RFC 3492 and the edge cases of the old encoder, checked
    /// against Python's `punycode` codec, now through UTS 46.
    #[test]
    fn unicode_names_become_punycode() {
        for (u, p) in [
            ("bücher", "xn--bcher-kva"),
            ("münchen", "xn--mnchen-3ya"),
            ("пример", "xn--e1afmkfd"),
            ("ドメイン名例", "xn--eckwd4c7cu47r2wf"),
            ("faß", "xn--fa-hia"),
            ("испытание", "xn--80akhbyknj4f"),
            ("éö", "xn--9ca0a"),
        ] {
            assert_eq!(to_ascii_host(u).as_deref(), Some(p), "{u}");
        }
        assert_eq!(
            to_ascii_host("bücher-shop.de").as_deref(),
            Some("xn--bcher-shop-9db.de")
        );
        assert_eq!(to_ascii_host("A-b_C.de").as_deref(), Some("a-b_c.de"));
        assert_eq!(
            to_ascii_host("\u{212A}elvin.com").as_deref(),
            Some("kelvin.com")
        );
        assert_eq!(
            to_ascii_host("ｅｖｉｌ．ｃｏｍ").as_deref(),
            Some("evil.com")
        );
    }

    #[test]
    fn invalid_names_are_none() {
        assert_eq!(to_ascii_host("a..b"), None);
        assert_eq!(to_ascii_host("a b.com"), None);
        assert_eq!(to_ascii_host(&"a".repeat(64)), None);
        assert_eq!(to_ascii_host(&"a".repeat(63)), Some("a".repeat(63)));
        // Sixty characters, but more than 63 in punycode.
        assert_eq!(to_ascii_host(&"ü".repeat(60)), None);
        let label = "a".repeat(63);
        assert_eq!(
            to_ascii_host(&format!("{label}.{label}.{label}.{label}")),
            None
        );
    }

    #[test]
    fn hosts_as_the_whatwg_parser_reads_them() {
        let ip = |h: &str| match parse_host(h) {
            Some(Read::Ip(a)) => a.to_string(),
            other => panic!("{h}: {other:?}"),
        };
        assert_eq!(ip("2852039166"), "169.254.169.254");
        assert_eq!(ip("0x7f.1"), "127.0.0.1");
        assert_eq!(ip("0177.0.0.1"), "127.0.0.1");
        assert_eq!(ip("①②⑦.0.0.1"), "127.0.0.1");
        assert_eq!(ip("127。0。0。1"), "127.0.0.1");
        assert_eq!(ip("%31%32%37.0.0.1"), "127.0.0.1");
        assert_eq!(ip("[::ffff:169.254.169.254]"), "::ffff:169.254.169.254");
        assert_eq!(ip("169.254.169.254."), "169.254.169.254");
        assert_eq!(
            parse_host("Example.COM."),
            Some(Read::Name("example.com".into()))
        );
        for bad in [
            "256.256.256.256",
            "99999999999",
            "019.0.0.1",
            "",
            "a b",
            "[fe80::1%25x]",
        ] {
            assert_eq!(parse_host(bad), None, "{bad}");
        }
        assert_eq!(ipv4("1.2.3.4a"), None);
        assert_eq!(
            zoned_ipv6("fe80::1%25eth0"),
            Some("fe80::1".parse().unwrap())
        );
    }
}
