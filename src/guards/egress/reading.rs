//! The readings of one URL: every host a client may connect to for it. Two parsers, each run
//! on the text as written and on its percent-decoded forms (a server may decode an argument
//! before it fetches it, once or more): the WHATWG URL parser of the `url` crate (Node
//! fetch/undici, browsers; backslashes are slashes in special schemes, tabs and newlines are
//! removed, the host goes through UTS 46 and the IPv4 number parser), and the RFC 3986 reading
//! of Python's `urllib.parse.urlsplit` (httpx, requests, `mcp-server-fetch`) and curl (the
//! authority runs to the first `/`, `?` or `#`; the host follows its last `@`), whose host the
//! resolver then reads as the WHATWG host parser does. A destination is refused if any reading
//! finds it refusable: the strictest verdict.

use super::chars::percent_decode_all;
use super::host::{from_url_host, parse_host, zoned_ipv6, Read};
use std::net::IpAddr;

/// Decoded forms judged beyond the text as written (undoes double and triple encoding).
const DECODINGS: usize = 3;

/// Appends to `out` every host of the URL text `u` (starting at its scheme) under every
/// reading, without repeats. Nothing when no reading finds a host.
pub(super) fn readings(u: &str, out: &mut Vec<Read>) {
    let mut form = std::borrow::Cow::Borrowed(u);
    for round in 0..=DECODINGS {
        whatwg(&form, out);
        rfc3986(&form, out);
        if round == DECODINGS || !form.contains('%') {
            break;
        }
        let next = percent_decode_all(&form);
        if next == *form {
            break;
        }
        form = std::borrow::Cow::Owned(next);
    }
}

fn push(r: Read, out: &mut Vec<Read>) {
    if !out.contains(&r) {
        out.push(r);
    }
}

/// The WHATWG reading (`new URL(u)`).
fn whatwg(u: &str, out: &mut Vec<Read>) {
    if let Some(r) = url::Url::parse(u)
        .ok()
        .and_then(|p| p.host().and_then(from_url_host))
    {
        push(r, out);
    }
}

/// The `urlsplit` reading: tabs and newlines removed, `scheme:` then `//`, the authority up to
/// the first `/`, `?` or `#`, the host after its last `@` and before a port.
fn rfc3986(u: &str, out: &mut Vec<Read>) {
    let u: String = u
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let Some((scheme, rest)) = u.split_once(':') else {
        return;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    let Some(rest) = rest.strip_prefix("//").filter(|_| scheme_ok) else {
        return;
    };
    let auth = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let info = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    if let Some(b) = info.strip_prefix('[') {
        let inner = &b[..b.find(']').unwrap_or(b.len())];
        let r = parse_host(&format!("[{inner}]"))
            .or_else(|| zoned_ipv6(inner).map(|a| Read::Ip(IpAddr::V6(a))));
        if let Some(r) = r {
            push(r, out);
        }
        return;
    }
    if let Some(r) = parse_host(info.split(':').next().unwrap_or("")) {
        push(r, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(u: &str) -> Vec<String> {
        let mut out = Vec::new();
        readings(u, &mut out);
        out.into_iter()
            .map(|r| match r {
                Read::Name(n) => n,
                Read::Ip(a) => a.to_string(),
            })
            .collect()
    }

    #[test]
    fn each_reader_has_its_say() {
        // The hole of issue 9: `%2f` is no delimiter to a parser, so the host is the number.
        assert_eq!(
            hosts("http://allowed.example%2f@2852039166/"),
            ["169.254.169.254", "allowed.example"]
        );
        // WHATWG: `\` is `/`; urllib: the host follows the last `@`.
        assert_eq!(
            hosts("http://good.example\\@evil.example/"),
            ["good.example", "evil.example"]
        );
        assert_eq!(hosts("http://169.254.169\n.254/"), ["169.254.169.254"]);
        assert_eq!(hosts("  http://0x7f.1/"), ["127.0.0.1"]);
        assert_eq!(hosts("gopher://2852039166/"), ["169.254.169.254"]);
        assert_eq!(hosts("http://[fe80::1%25eth0]:80/"), ["fe80::1"]);
        // A blank in the host: no client connects (glibc's getaddrinfo refuses it too).
        assert!(hosts("http://169.254.169.254 /x").is_empty());
        // Not a URL until decoded; its decoded forms are judged too.
        assert_eq!(hosts("http%3A%2F%2F127.0.0.1%2F"), ["127.0.0.1"]);
        assert_eq!(hosts("http://a%252f@127.1/"), ["127.0.0.1", "a"]);
        assert!(hosts("http://256.256.256.256/").is_empty());
        assert!(hosts("file:///etc/passwd").is_empty());
        assert!(hosts("mailto:a@b.example").is_empty());
    }
}
