//! Addresses: which words look numeric to a URL parser, IPv4 embedded in IPv6, and
//! classification of an address as public, private or metadata. (Numbers are read as
//! addresses by the `url` crate, in `host.rs`.)

use super::Class;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A label URL parsers read as a number: decimal digits, or `0x` and hex digits. The scanner
/// asks it to tell an address-shaped word from a name; the number itself is the `url` crate's.
pub(super) fn is_number_label(b: &[u8]) -> bool {
    if b.len() >= 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' {
        b[2..].iter().all(u8::is_ascii_hexdigit)
    } else {
        !b.is_empty() && b.iter().all(u8::is_ascii_digit)
    }
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, not `::` or `::1`) and NAT64 (`64:ff9b::a.b.c.d`).
pub(super) fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
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
        // AWS, GCP, Azure, DigitalOcean; ECS task metadata; Alibaba; Oracle Cloud.
        [169, 254, 169, 254] | [169, 254, 170, 2] | [100, 100, 100, 200] => Class::Metadata,
        [192, 0, 0, 192] => Class::Metadata,
        [0 | 10 | 127, ..] | [169, 254, ..] | [192, 168, ..] => Class::Private,
        [100, 64..=127, ..] | [172, 16..=31, ..] => Class::Private,
        // IETF protocol assignments (192.0.0.0/24) and benchmarking (198.18.0.0/15).
        [192, 0, 0, _] | [198, 18 | 19, ..] => Class::Private,
        // Multicast, reserved and broadcast.
        [224..=255, ..] => Class::Private,
        _ => Class::Public,
    }
}

/// The class of an address; IPv6 forms that carry an IPv4 address get that address's class.
pub(super) fn classify_ip(ip: IpAddr) -> Class {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::egress::names::classify_name;

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
        assert_eq!(c("192.0.0.192"), Class::Metadata);
        assert_eq!(c("198.19.255.255"), Class::Private);
        assert_eq!(c("192.0.1.1"), Class::Public);
        assert_eq!(c("198.20.0.1"), Class::Public);
        assert_eq!(c("2606:4700::1111"), Class::Public);
        assert_eq!(classify_name("foo.localhost"), Class::Private);
        assert_eq!(classify_name("localhost.example.com"), Class::Public);
        assert_eq!(classify_name("evilinternal"), Class::Public);
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
}
