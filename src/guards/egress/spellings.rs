//! The egress scanner against spellings: an adversarial table of private and metadata
//! destinations as some real client reads them (each must be found as such) and a benign
//! table of public URLs, internationalised names and percent-encoded paths and queries (none
//! may be found private or metadata).

use super::tests::{found, hosts, one};
use super::*;

/// The most severe class among the destinations of `s` (Metadata over Private over Public).
fn worst(s: &str) -> Option<Class> {
    let rank = |c: Class| match c {
        Class::Metadata => 2,
        Class::Private => 1,
        Class::Public => 0,
    };
    found(s)
        .into_iter()
        .map(|d| d.class)
        .max_by_key(|&c| rank(c))
}

/// Spellings of a private or metadata destination that some client (WHATWG: Node fetch and
/// undici, browsers; urllib, httpx and requests; curl) connects to: each is found as such.
#[test]
fn adversarial_spellings_are_seen_through() {
    use Class::{Metadata as M, Private as P};
    for (s, want) in [
        // The hole of issue 9: `%2f` is no delimiter to a URL parser.
        ("http://allowed.example%2f@2852039166/", M),
        ("http://docs.python.org%2F@169.254.169.254/", M),
        // ... and the reverse: a server that decodes before it fetches.
        ("http://127.0.0.1%2f@allowed.example/", P),
        ("http://169.254.169.254%252f@allowed.example/", M),
        ("http://allowed.example%5c@127.0.0.1/", P),
        // IPv4 numbers.
        ("http://0x7f.1/", P),
        ("http://2130706433/", P),
        ("http://0177.0.0.1/", P),
        ("http://0x7f000001/", P),
        ("http://017700000001/", P),
        ("http://127.1/", P),
        ("http://0/", P),
        ("http://192.0.0.192/", M),
        // IPv6, IPv4-mapped.
        ("http://[::ffff:169.254.169.254]/", M),
        ("http://[::ffff:a9fe:a9fe]/", M),
        ("http://[0:0:0:0:0:ffff:7f00:1]/", P),
        ("http://[::1]:8080/", P),
        ("https://[fd00:ec2::254]/", M),
        // UTS 46 mappings: enclosed digits, ideographic and fullwidth dots, fullwidth digits.
        ("http://①②⑦.0.0.1/", P),
        ("http://127。0。0。1/", P),
        ("http://１２７．０．０．１/", P),
        ("http://⑯⑨。②⑤④。⑯⑨。②⑤④/", M),
        ("http://ｌｏｃａｌｈｏｓｔ/", P),
        // Backslashes, userinfo, extra or missing slashes, case, trailing dots.
        ("http:\\\\169.254.169.254\\latest", M),
        ("http://allowed.example\\@169.254.169.254/", M),
        ("http://allowed.example@169.254.169.254/", M),
        ("http://allowed.example:80@127.0.0.1/", P),
        ("http://a@b@127.0.0.1/", P),
        ("http:///169.254.169.254/", M),
        ("http:2852039166/", M),
        ("HTTP://169.254.169.254/", M),
        ("http://localhost./", P),
        ("http://metadata.google.internal./", M),
        // Tabs and newlines are removed from a URL argument; blanks around it dropped.
        ("http://169.254.169\t.254/", M),
        ("http://127.0.0.1\n/", P),
        ("  http://0x7f.1/  ", P),
        ("ht\ttp://2852039166/", M),
        // Percent-encoding in the host, and a whole URL encoded.
        ("http://%31%32%37.0.0.1/", P),
        ("http%3A%2F%2F169.254.169.254%2Flatest", M),
        ("http%253A%252F%252F169.254.169.254", M),
        // Other schemes: the resolver reads an opaque host as an address too.
        ("gopher://2852039166/", M),
        ("ws://10.0.0.1/", P),
        ("ftp://0x0a.0.0.1/", P),
        // Special names.
        ("http://foo.localhost/", P),
        ("http://printer.local/", P),
        ("http://My-MacBook.local:631/", P),
        ("http://nas.home.arpa/", P),
        ("http://db.internal/", P),
        ("http://router.lan/", P),
        ("http://metadata.google.internal/computeMetadata/v1/", M),
        ("http://metadata/computeMetadata/v1/", M),
        ("http://instance-data/latest/meta-data/", M),
        ("printer.local", P),
        ("ssh admin@nas.local", P),
    ] {
        assert_eq!(worst(s), Some(want), "{s:?}: {:?}", found(s));
    }
}

/// Ordinary public URLs, internationalised names that are public, and percent-encoded paths
/// and queries: nothing private or metadata is found in them.
#[test]
fn benign_urls_are_public() {
    for s in [
        "https://docs.python.org/3/library/urllib.parse.html#url-parsing",
        "https://en.wikipedia.org/wiki/Stra%C3%9Fe",
        "https://de.wikipedia.org/wiki/M%C3%BCnchen?action=raw",
        "https://github.com/search?q=connect+to+localhost&type=issues",
        "https://duckduckgo.com/html/?q=connect%20to%20localhost",
        "https://docs.python.org/3/%7Euser/a%2Fb%3Fc",
        "https://ja.wikipedia.org/wiki/東京",
        "https://en.wikipedia.org/wiki/Special:Search?search=a%40b",
        "http://example.com:8080/a%20b?c=d%26e#f",
        "https://münchen.de/",
        "https://例え.jp/",
        "https://пример.рф/",
        "https://xn--mnchen-3ya.de/",
        "https://faß.de/",
        "https://ｅｘａｍｐｌｅ．ｃｏｍ/",
        "https://1.1.1.1/dns-query",
        "https://[2606:4700:4700::1111]/",
        "https://api.example.com/v1/items?ids=1,2,3&sort=-date",
        "https://user@example.com/",
        // `+` and `%20` join the words of a query: `localhost` there is a search term, not
        // a host (a host is after `//`, before `:` or `@`, or a word of its own).
        "q=connect+to+localhost",
        "q=connect%20to%20localhost",
    ] {
        assert!(
            found(s).iter().all(|d| d.class == Class::Public),
            "{s:?}: {:?}",
            found(s)
        );
    }
    assert_eq!(one("https://münchen.de/").host, "xn--mnchen-3ya.de");
    assert_eq!(one("https://faß.de/").host, "xn--fa-hia.de");
    assert_eq!(one("https://ｅｘａｍｐｌｅ．ｃｏｍ/").host, "example.com");
    assert_eq!(
        hosts("https://github.com/search?q=connect+to+localhost&type=issues"),
        ["github.com"]
    );
    // A word of its own is still a host, as it always was.
    assert_eq!(one("curl localhost").class, Class::Private);
}
