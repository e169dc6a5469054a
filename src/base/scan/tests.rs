//! The server-output scanner's tests: failures told from successes, ids wherever they are,
//! partial lines, and agreement with a JSON parser on generated messages fed both whole and
//! byte by byte.

use super::*;

/// What the scanner reports for `chunks` fed one by one; fed as one chunk (where whole
/// lines are read as JSON, not byte by byte) it must report the same.
fn responses(chunks: &[&str]) -> Vec<(String, bool)> {
    let feed = |chunks: &[&str]| {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c.as_bytes(), &mut |id, failed| {
                out.push((id.to_owned(), failed))
            });
        }
        out
    };
    let out = feed(chunks);
    assert_eq!(feed(&[&chunks.concat()]), out, "whole lines: {chunks:?}");
    out
}

/// Lines that are not JSON, or that repeat a member the scanner reads, are left to the
/// byte-by-byte machine (whatever it makes of them, both ways of feeding agree).
#[test]
fn lines_that_are_not_clean_json_are_read_byte_by_byte() {
    assert_eq!(ids(&["{\"id\":1,\"result\":{}} trailing\n"]), vec!["1"]);
    assert_eq!(ids(&["{\"id\":1,\"result\":{},}\n"]), vec!["1"]);
    let twice = responses(&["{\"id\":1,\"result\":{},\"error\":{},\"error\":1}\n"]);
    assert_eq!(twice, vec![("1".to_owned(), true)]);
    // Escaped keys are no keys the scanner knows, either way.
    assert!(ids(&["{\"\\u0069d\":1,\"result\":{}}\n"]).is_empty());
    assert_eq!(
        responses(&["{\"id\":1,\"result\":{\"\\u0069sError\":true}}\n"]),
        vec![("1".to_owned(), false)]
    );
    // Not UTF-8.
    let mut s = Scanner::default();
    let mut out = Vec::new();
    s.feed(b"{\"id\":1,\"result\":{\"x\":\"\xff\"}}\n", &mut |id, f| {
        out.push((id.to_owned(), f))
    });
    assert_eq!(out, vec![("1".to_owned(), false)]);
}

fn ids(chunks: &[&str]) -> Vec<String> {
    responses(chunks).into_iter().map(|(id, _)| id).collect()
}

#[test]
fn tells_failures_from_successes() {
    let one = |text: &str| {
        let got = responses(&[text, "\n"]);
        assert_eq!(got.len(), 1, "{text}");
        got[0].1
    };
    assert!(one(
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#
    ));
    assert!(one(r#"{"id":1,"result":{"content":[],"isError":true}}"#));
    assert!(one(
        r#"{"id":1,"result":{ "isError" : true ,"content":[]}}"#
    ));
    assert!(!one(r#"{"id":1,"result":{"content":[],"isError":false}}"#));
    assert!(!one(r#"{"id":1,"result":{"content":[{"isError":true}]}}"#));
    assert!(!one(
        r#"{"id":1,"result":{"content":[{"text":"isError"}],"x":"true"}}"#
    ));
    assert!(!one(r#"{"id":1,"result":{"meta":{"isError":true}}}"#));
    assert!(!one(r#"{"id":1,"result":{"isErrorX":true}}"#));
    assert!(!one(r#"{"id":1,"result":{"a":"isError","b":true}}"#));
    assert!(!one(r#"{"id":1,"result":{"isError":"true"}}"#));
    assert!(!one(r#"{"id":1,"result":"error"}"#));
    assert!(!one(r#"{"id":1,"result":{}}"#));
    // Split anywhere, the verdict is the same.
    let text = r#"{"id":7,"result":{"content":[{"type":"text","text":"a,\"b"}],"isError":true}}"#;
    for cut in 1..text.len() {
        let got = responses(&[&text[..cut], &text[cut..], "\n"]);
        assert_eq!(got, vec![("7".to_owned(), true)], "cut at {cut}");
    }
    // In a batch, each response has its own verdict.
    assert_eq!(
        responses(&[
            r#"[{"id":1,"result":{"isError":true}},{"id":2,"result":{}}]"#,
            "\n"
        ]),
        vec![("1".to_owned(), true), ("2".to_owned(), false)]
    );
}

#[test]
fn finds_ids_wherever_they_are() {
    assert_eq!(
        ids(&[
            r#"{"result":{"id":9,"x":"}\"{"},"jsonrpc":"2.0","id":"a,b"}"#,
            "\n"
        ]),
        vec![r#""a,b""#]
    );
    assert_eq!(
        ids(&[
            "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890123,\"res",
            "ult\":{}}\n"
        ]),
        vec!["12345678901234567890123"]
    );
    // Requests from the server are not responses.
    assert!(ids(&["{\"id\":1,\"method\":\"sampling/createMessage\"}\n"]).is_empty());
    // Batches.
    assert_eq!(
        ids(&["[{\"id\":1,\"result\":{}},{\"id\":2,\"error\":{}}]\n"]),
        vec!["1", "2"]
    );
}

/// A line cut short inside a string (a server that died mid-message, then Sentinel's own
/// newline) counts for nothing, and the next line is read from its start.
#[test]
fn a_newline_inside_a_string_ends_the_line() {
    assert_eq!(
        ids(&[
            "{\"id\":1,\"result\":{\"content\":[{\"text\":\"abc\n",
            "{\"id\":2,\"result\":{\"x\":\"y\n{\"id\":3,\"result\":{}}\n",
            "{\"id\":\"4\n{\"id\":5,\"error\":{}}\n",
        ]),
        vec!["3", "5"]
    );
}

/// Deep content is skipped, but every bracket and quote in it is still followed: the
/// members after it, and the next response, are read right.
#[test]
fn nesting_inside_results_is_followed() {
    let deep = r#"{"jsonrpc":"2.0","result":{"content":[{"a":[[{"}":"]"}],"\"{["],"b":{"c":"d"}}],"isError":true},"id":"x"}"#;
    for cut in 1..deep.len() {
        let got = responses(&[
            &deep[..cut],
            &deep[cut..],
            "\n",
            r#"{"id":2,"result":{}}"#,
            "\n",
        ]);
        assert_eq!(
            got,
            vec![(r#""x""#.to_owned(), true), ("2".to_owned(), false)],
            "cut at {cut}"
        );
    }
}

use crate::base::Rng;

/// A random JSON value, at most `depth` levels deep, with the keys and strings a response
/// may hold (those the scanner looks for among them).
fn value(rng: &mut Rng, depth: usize) -> serde_json::Value {
    use serde_json::Value as V;
    const WORDS: &[&str] = &[
        "id", "isError", "error", "result", "method", "x", "}", "{\"", "]\\", "\n", "a,b",
        "isErrorX", "true", "é",
    ];
    match rng.below(if depth == 0 { 5 } else { 8 }) {
        0 => V::Null,
        1 => V::Bool(rng.below(2) == 0),
        2 => V::from(rng.next() as i64 >> rng.below(60)),
        3 => V::from(rng.below(1000) as f64 / 7.0),
        4 => V::from(WORDS[rng.below(WORDS.len())]),
        5 | 6 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                m.insert(
                    WORDS[rng.below(WORDS.len())].to_owned(),
                    value(rng, depth - 1),
                );
            }
            V::Object(m)
        }
        _ => V::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
    }
}

/// What the scanner must report for one message, from a real JSON parse.
fn expected(text: &str) -> Option<(String, bool)> {
    let top: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(text).ok()?;
    if top.contains_key("method") {
        return None;
    }
    let id = top.get("id")?.get().to_owned();
    let failed = top.contains_key("error")
        || top.get("result").is_some_and(|r| {
            serde_json::from_str::<serde_json::Value>(r.get())
                .ok()
                .and_then(|v| v.get("isError").cloned())
                == Some(serde_json::Value::Bool(true))
        });
    Some((id, failed))
}

/// The scanner agrees with a real JSON parse on generated responses, requests and
/// notifications, fed in random pieces, one message or a batch per line
/// (`SENTINEL_DIFF_ITERATIONS` / 5 rounds; default 3000).
#[test]
fn agrees_with_a_json_parser_on_generated_messages() {
    let rounds: usize = std::env::var("SENTINEL_DIFF_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(3000, |n: usize| n / 5);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..rounds {
        let mut lines = Vec::new();
        let mut want = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let batch = rng.below(4) == 0;
            let mut members = Vec::new();
            for _ in 0..1 + usize::from(batch) * rng.below(3) {
                let mut m = serde_json::Map::new();
                let keys = ["jsonrpc", "id", "result", "error", "method", "params", "x"];
                for _ in 0..1 + rng.below(5) {
                    let k = keys[rng.below(keys.len())];
                    let v = match (k, rng.below(3)) {
                        // JSON-RPC ids are scalars (a client's composite id is refused).
                        ("id", 0) => serde_json::Value::from("a\"b\\c"),
                        ("id", _) => value(&mut rng, 0),
                        ("result", 0) => {
                            serde_json::json!({"content": [], "isError": rng.below(2) == 0})
                        }
                        _ => value(&mut rng, 4),
                    };
                    m.insert(k.to_owned(), v);
                }
                let text = serde_json::to_string(&m).expect("JSON");
                // Pretty-printed messages have spaces where compact ones have none.
                let text = if rng.below(3) == 0 {
                    serde_json::to_string_pretty(&m)
                        .expect("JSON")
                        .replace('\n', " ")
                } else {
                    text
                };
                want.extend(expected(&text));
                members.push(text);
            }
            lines.push(if batch {
                format!("[{}]", members.join(","))
            } else {
                members.pop().unwrap_or_default()
            });
        }
        let stream = lines.join("\n") + "\n";
        let mut got = Vec::new();
        let mut scanner = Scanner::default();
        let mut rest = stream.as_bytes();
        // Every other round in random pieces (the byte-by-byte machine), else in pieces
        // that hold whole lines (read as JSON).
        let most = if round % 2 == 0 { 40 } else { rest.len() };
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(1 + rng.below(rest.len().min(most)));
            scanner.feed(piece, &mut |id, failed| got.push((id.to_owned(), failed)));
            rest = tail;
        }
        // Ids are compared as the gateway keys them (the scanner reads the raw text).
        let key = |v: Vec<(String, bool)>| -> Vec<(String, bool)> {
            v.into_iter()
                .map(|(id, f)| (crate::base::jsonrpc::id_key(&id).into_owned(), f))
                .collect()
        };
        assert_eq!(key(got), key(want), "round {round}: {stream:?}");
        assert!(!scanner.mid_line());
    }
}

#[test]
fn tracks_partial_lines() {
    let mut s = Scanner::default();
    s.feed(b"{\"id\":1,", &mut |_, _| {});
    assert!(s.mid_line());
    s.feed(b"\"result\":{}}\n", &mut |_, _| {});
    assert!(!s.mid_line());
}
