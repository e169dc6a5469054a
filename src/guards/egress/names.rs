//! Host names: the built-in TLD list, the private and metadata names, the file extensions and
//! receivers that make a dotted word code rather than a host, normalization to ASCII
//! (lowercase, punycode per RFC 3492) and classification of a name.

use super::chars::{fullwidth, is_dot};
use super::{Class, MAX_LABEL, MAX_NAME};

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

/// Suffixes of names that only resolve on a private network.
const PRIVATE_SUFFIXES: &[&str] = &[".localhost", ".internal", ".local", ".home.arpa"];

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

/// A name in its ASCII form: dots and fullwidth forms mapped, lowercased, Unicode labels in
/// punycode (RFC 3492). `None` when it is not a valid host name.
pub(super) fn to_ascii_host(h: &str) -> Option<String> {
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
pub(super) fn classify_name(host: &str) -> Class {
    if METADATA_NAMES.contains(&host) {
        Class::Metadata
    } else if host == "localhost" || private_suffix(host) {
        Class::Private
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
