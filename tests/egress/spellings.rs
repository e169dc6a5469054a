//! Destinations as the fetcher reads them: spellings of private and metadata hosts that a
//! real client (WHATWG: Node fetch/undici; Python urllib/httpx behind `mcp-server-fetch`;
//! curl) connects to, each refused under the shipped `policies/web-fetch.yaml` (whose allowed
//! host `docs.python.org` stands in the other reading) and under a policy without an allow
//! list (so the refusal is the host's class, not "not allow-listed"); and ordinary URLs,
//! public internationalised names and percent-encoded paths and queries, which pass.

use super::*;

/// Allows nothing in particular: no allow list, so only denied, private and metadata
/// destinations are refused.
const SSRF_ONLY: &str = r#"version: 1
profiles:
  default:
    rules:
      - id: ssrf
        egress:
          checks: [denied, private, metadata]
        action: block
    breaker: {mode: off}
"#;

/// `(url, check)`: `allowed.example` is replaced by `docs.python.org` under web-fetch.yaml.
const ADVERSARIAL: &[(&str, &str)] = &[
    ("http://allowed.example%2f@2852039166/", "metadata"),
    (
        "http://allowed.example%2F@169.254.169.254/latest/meta-data/",
        "metadata",
    ),
    ("http://127.0.0.1%2f@allowed.example/", "private"),
    ("http://169.254.169.254%252f@allowed.example/", "metadata"),
    ("http://0x7f.1/", "private"),
    ("http://2130706433/", "private"),
    ("http://0177.0.0.1/", "private"),
    ("http://127.1:8080/", "private"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::ffff:7f00:1]/", "private"),
    ("http://①②⑦.0.0.1/", "private"),
    ("http://127。0。0。1/", "private"),
    ("http://１２７．０．０．１/", "private"),
    ("http:\\\\169.254.169.254\\latest", "metadata"),
    ("http://allowed.example\\@169.254.169.254/", "metadata"),
    ("http://allowed.example@127.0.0.1/", "private"),
    ("http:///169.254.169.254/", "metadata"),
    ("http:2852039166/", "metadata"),
    ("http://169.254.169\t.254/", "metadata"),
    (" http://localhost./ ", "private"),
    ("http%3A%2F%2F169.254.169.254%2F", "metadata"),
    ("gopher://2852039166/", "metadata"),
    ("http://printer.local/", "private"),
    ("http://nas.home.arpa/", "private"),
    ("http://db.internal/", "private"),
    ("http://app.localhost/", "private"),
    (
        "http://metadata.google.internal/computeMetadata/v1/",
        "metadata",
    ),
    ("http://instance-data/latest/", "metadata"),
];

/// Allow-listed by web-fetch.yaml, in the spellings models write.
const BENIGN_ALLOWED: &[&str] = &[
    "https://docs.python.org/3/library/urllib.parse.html#url-parsing",
    "https://DOCS.Python.org./3/",
    "https://docs.python.org/3/search.html?q=connect+to+localhost",
    "https://docs.python.org/3/search.html?q=connect%20to%20localhost",
    "https://en.wikipedia.org/wiki/Stra%C3%9Fe",
    "https://ja.wikipedia.org/wiki/東京",
    "https://en.wikipedia.org/wiki/Special:Search?search=a%40b%2Fc",
    "https://github.com/search?q=is%3Aissue+url+parsing&type=issues",
    "https://raw.githubusercontent.com/python/cpython/main/README.rst",
    "https://pypi.org/project/requests/",
    "https://developer.mozilla.org/en-US/docs/Web/API/URL_API",
];

/// Public, not on any list: pass where there is no allow list.
const BENIGN_PUBLIC: &[&str] = &[
    "https://münchen.de/",
    "https://例え.jp/",
    "https://пример.рф/",
    "https://xn--mnchen-3ya.de/",
    "https://faß.de/",
    "https://ｅｘａｍｐｌｅ．ｃｏｍ/",
    "http://example.com:8080/a%20b?c=d%26e#f",
    "https://www.google.com/search?q=connect+to+localhost",
    "https://1.1.1.1/dns-query",
    "https://[2606:4700:4700::1111]/",
];

fn web_fetch() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-fetch.yaml")
}

/// Runs `cases` as `fetch` calls with argument `url`, at most 10 per run (web-fetch.yaml's
/// rate-limit burst), and checks each fate.
fn run_cases(dir: &Path, policy: &Path, rule: &str, cases: &[(String, Option<&str>)]) {
    for chunk in cases.chunks(10) {
        let lines: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (u, _))| call(i as i64 + 1, "fetch", &json!({ "url": u })))
            .collect();
        let expected: Vec<(Value, Fate)> = chunk
            .iter()
            .map(|(u, want)| {
                let fate = egress_fate(rule, want.map(|c| (c, "/url")));
                (json!({ "url": u }), fate)
            })
            .collect();
        let out = demo(dir, Some(policy), &lines);
        assert_fates(rule, &fates(&out.stdout), &expected, &out);
    }
}

#[test]
fn adversarial_spellings_are_refused_under_web_fetch() {
    let dir = util::scratch("egress-spellings-web-fetch");
    let cases: Vec<(String, Option<&str>)> = ADVERSARIAL
        .iter()
        .map(|(u, c)| (u.replace("allowed.example", "docs.python.org"), Some(*c)))
        .collect();
    run_cases(&dir, &web_fetch(), "egress", &cases);
}

#[test]
fn adversarial_spellings_are_refused_by_their_class() {
    let dir = util::scratch("egress-spellings-ssrf");
    let policy = write(&dir, "ssrf.yaml", SSRF_ONLY);
    let cases: Vec<(String, Option<&str>)> = ADVERSARIAL
        .iter()
        .map(|(u, c)| (u.to_string(), Some(*c)))
        .collect();
    run_cases(&dir, &policy, "ssrf", &cases);
}

#[test]
fn benign_urls_pass() {
    let dir = util::scratch("egress-spellings-benign");
    let allowed: Vec<(String, Option<&str>)> = BENIGN_ALLOWED
        .iter()
        .map(|u| (u.to_string(), None))
        .collect();
    run_cases(&dir, &web_fetch(), "egress", &allowed);
    let policy = write(&dir, "ssrf.yaml", SSRF_ONLY);
    let public: Vec<(String, Option<&str>)> = BENIGN_ALLOWED
        .iter()
        .chain(BENIGN_PUBLIC)
        .map(|u| (u.to_string(), None))
        .collect();
    run_cases(&dir, &policy, "ssrf", &public);
    // Public but not allow-listed: web-fetch.yaml refuses it as such, not as private.
    let unlisted: Vec<(String, Option<&str>)> = BENIGN_PUBLIC
        .iter()
        .map(|u| (u.to_string(), Some("unlisted")))
        .collect();
    run_cases(&dir, &web_fetch(), "egress", &unlisted);
}
