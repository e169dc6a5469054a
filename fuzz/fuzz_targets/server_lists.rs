//! The guards that judge what a server sends back: description scanning (`scan`,
//! `sanitise`) on a listed item, and row counting (`count_rows`, `truncate_rows`) on a
//! `tools/call` result. The input is a JSON item when it parses as one, else the text of a
//! description and of a result. Checks: no panic; findings are capped and their details
//! printable; after `sanitise` a rescan finds nothing and a second `sanitise` changes nothing;
//! a counted result cut to half its rows counts exactly that many afterwards.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::guards::descriptions::{sanitise, scan, Limits, MAX_FINDINGS};
use mcp_sentinel_fuzz::guards::rows::{count_rows, truncate_rows};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(text) else {
        return;
    };
    let limits = Limits {
        max_text: if flags & 1 == 0 {
            8192
        } else {
            1 + (flags as usize >> 1)
        },
    };
    let item = match serde_json::from_str::<Value>(s) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            json!({"name": "t", "description": s, "inputSchema": {"properties": {s: {"type": "string"}}}})
        }
    };
    let found = scan(&item, &limits);
    assert!(found.len() <= MAX_FINDINGS);
    for f in &found {
        assert!(!f.detail.chars().any(char::is_control), "{f:?}");
    }
    let mut clean = item.clone();
    sanitise(&mut clean, &limits);
    let left = scan(&clean, &limits);
    assert!(left.is_empty(), "{s:?} -> {clean}: {left:?}");
    let before = clean.clone();
    assert!(sanitise(&mut clean, &limits).is_empty());
    assert_eq!(clean, before);

    let mut result = json!({"content": [{"type": "text", "text": s}]});
    if let Some((n, _)) = count_rows(&result) {
        let half = n / 2;
        if half < n {
            assert_eq!(truncate_rows(&mut result, half), Some(n));
            assert_eq!(
                count_rows(&result).map(|c| c.0),
                Some(half),
                "{s:?} -> {result}"
            );
        }
    }
});
