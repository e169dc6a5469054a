//! Host names: the built-in TLD list, the private and metadata names, the file extensions and
//! receivers that make a dotted word code rather than a host, and classification of a name
//! (normalization to ASCII is UTS 46's, in `host.rs`).

use super::Class;

/// Public TLDs common enough that `name.tld` in text is taken for a host.
pub(super) fn tld_listed(b: &[u8]) -> bool {
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
pub(super) fn special_tld(label: &[u8]) -> bool {
    [&b"localhost"[..], b"internal", b"local", b"arpa", b"goog"]
        .iter()
        .any(|s| label.eq_ignore_ascii_case(s))
}

pub(super) fn min3(a: Option<usize>, b: Option<usize>, c: Option<usize>) -> Option<usize> {
    let m = a
        .unwrap_or(usize::MAX)
        .min(b.unwrap_or(usize::MAX))
        .min(c.unwrap_or(usize::MAX));
    (m != usize::MAX).then_some(m)
}

/// Names of cloud metadata services.
pub(super) const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Suffixes of names that only resolve on a private network: RFC 6761 `localhost`, RFC 6762
/// `local` (mDNS) and the private top-level names its appendix G lists as in common use
/// (`intranet`, `internal`, `private`, `corp`, `home`, `lan`), RFC 8375 `home.arpa`.
const PRIVATE_SUFFIXES: &[&str] = &[
    ".localhost",
    ".internal",
    ".local",
    ".home.arpa",
    ".intranet",
    ".private",
    ".corp",
    ".home",
    ".lan",
];

/// Two-label names with these last labels are file names (`install.sh`, `main.cc`,
/// `script.pl`, `Makefile.in`), not hosts, unless written as a URL or e-mail.
pub(super) const FILE_EXTENSIONS: &[&str] = &["sh", "pl", "cc", "in"];

/// Two-label names with these first labels are file names (`Dockerfile.dev`).
pub(super) const FILE_STEMS: &[&str] = &[
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
pub(super) const RECEIVERS: &[&str] = &[
    "self", "this", "super", "cls", "window", "document", "console", "logger", "logging", "log",
];

pub(super) fn private_suffix(name: &str) -> bool {
    let b = name.as_bytes();
    PRIVATE_SUFFIXES
        .iter()
        .any(|s| b.len() > s.len() && b[b.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes()))
}

/// The class of a normalized host name.
pub(super) fn classify_name(host: &str) -> Class {
    let host = host.trim_end_matches('.');
    if METADATA_NAMES.iter().any(|m| host.eq_ignore_ascii_case(m)) {
        Class::Metadata
    } else if host.eq_ignore_ascii_case("localhost") || private_suffix(host) {
        Class::Private
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every private suffix, in any case and with a trailing dot; bare top-level words and
    /// look-alikes that merely end in the same letters are public.
    #[test]
    fn special_names() {
        for h in [
            "localhost",
            "a.localhost",
            "db.internal",
            "printer.local",
            "my-macbook.local",
            "nas.home.arpa",
            "router.lan",
            "git.corp",
            "wiki.intranet",
            "files.private",
            "nas.home",
            "Printer.LOCAL.",
        ] {
            assert_eq!(classify_name(h), Class::Private, "{h}");
        }
        for h in [
            "metadata.google.internal",
            "metadata.goog",
            "metadata",
            "instance-data",
            "instance-data.ec2.internal",
            "Metadata.Google.Internal.",
        ] {
            assert_eq!(classify_name(h), Class::Metadata, "{h}");
        }
        for h in [
            "local",
            "evillocal",
            "local.example.com",
            "home.example",
            "corp.com",
            "lan",
        ] {
            assert_eq!(classify_name(h), Class::Public, "{h}");
        }
    }
}
