//! The scanners that run on every string argument: `egress::destinations` and the secrets
//! `Scanner` (`find`, `find_all`, `redact`, `redact_json`). Checks: no panic, and what each
//! documents of its output: destinations are normalized (ASCII lowercase, no trailing dot, an
//! IP address in its canonical text) and loopback or private addresses are never public;
//! secret findings are in order, non-overlapping, on character boundaries, `find` is the
//! first of `find_all`, and redacting valid JSON gives valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::guards::egress::{destinations, Class};
use mcp_sentinel_fuzz::guards::secrets::Scanner;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(text) else {
        return;
    };
    egress(s, flags);
    secrets(s, flags);
});

fn egress(s: &str, flags: u8) {
    let known = |name: &str| match flags & 3 {
        0 => false,
        1 => true,
        _ => name.to_ascii_lowercase().ends_with(".corp"),
    };
    let mut out = Vec::new();
    destinations(s, &known, &mut out);
    for d in &out {
        let host = &d.host;
        assert!(!host.is_empty(), "{s:?}: empty host in {d:?}");
        // fuzz/FOUND.md, egress-1 (fixed): every host is in ASCII form.
        assert!(host.is_ascii(), "{s:?}: host not ASCII: {d:?}");
        assert!(
            !host.bytes().any(|b| b.is_ascii_uppercase()),
            "{s:?}: host not normalized: {d:?}"
        );
        // fuzz/FOUND.md, egress-2 (fixed): no trailing dot, brackets or not.
        assert!(!host.ends_with('.'), "{s:?}: trailing dot: {d:?}");
        if let Some(ip) = d.ip {
            assert_eq!(*host, ip.to_string(), "{s:?}: address not canonical: {d:?}");
            let private = match ip {
                IpAddr::V4(a) => a.is_loopback() || a.is_private() || a.is_link_local(),
                IpAddr::V6(a) => a.is_loopback() || a.is_unspecified(),
            };
            if private {
                assert_ne!(d.class, Class::Public, "{s:?}: {d:?}");
            }
        }
    }
}

fn secrets(s: &str, flags: u8) {
    let scanner = if flags & 4 != 0 {
        Scanner::default()
    } else {
        Scanner {
            entropy_threshold: 0.0,
            min_length: 32,
        }
    };
    let mut all = Vec::new();
    scanner.find_all(s, &mut all);
    assert_eq!(scanner.find(s), all.first().copied(), "{s:?}");
    let mut end = 0;
    for f in &all {
        assert!(
            end <= f.start && f.start < f.end && f.end <= s.len(),
            "{s:?}: findings out of order or overlapping: {all:?}"
        );
        assert!(
            s.is_char_boundary(f.start) && s.is_char_boundary(f.end),
            "{s:?}: {f:?} cuts a character"
        );
        end = f.end;
    }
    assert_eq!(scanner.redact(s).is_some(), !all.is_empty(), "{s:?}");
    if let Some(r) = scanner.redact_json(s) {
        if serde_json::from_str::<serde_json::Value>(s).is_ok() {
            assert!(
                serde_json::from_str::<serde_json::Value>(&r).is_ok(),
                "{s:?}: redacted JSON is not JSON: {r:?}"
            );
        }
    }
}
