//! Malformed input and batches.

use super::*;

#[test]
fn malformed_lines_are_refused_with_the_readable_id_and_audited() {
    let dir = util::scratch("malformed");
    let mut s = start(&dir, &[], &[]);
    let mut not_utf8 = br#"{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":""#.to_vec();
    not_utf8.extend_from_slice(b"\xff\xfe\"}}\n");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Not JSON at all.
        (br#"{"jsonrpc":"2.0","id":1,"method":"#.to_vec(), "null"),
        (b"hello world".to_vec(), "null"),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},"#.to_vec(), "null"),
        // Not UTF-8.
        (not_utf8[..not_utf8.len() - 1].to_vec(), "null"),
        (b"\xff".to_vec(), "null"),
        // Duplicate id at the top level: which one would the server use? Unreadable.
        (br#"{"jsonrpc":"2.0","id":3,"id":4,"method":"ping"}"#.to_vec(), "null"),
        // The same, with the duplicate spelled with an escape.
        (br#"{"jsonrpc":"2.0","id":12,"\u0069d":13,"method":"ping"}"#.to_vec(), "null"),
        // Duplicates elsewhere: "id" appears once, so it is read.
        (
            request("5", "tools/call", r#"{"name":"echo","arguments":{"a":1,"a":2}}"#).into_bytes(),
            "5",
        ),
        (
            request(
                r#""six""#,
                "tools/call",
                r#"{"name":"echo","arguments":{"x":{"y":[{"k":1,"k":1}]}}}"#,
            )
            .into_bytes(),
            r#""six""#,
        ),
        (
            br#"{"jsonrpc":"2.0","id":14,"method":"ping","method":"tools/call"}"#.to_vec(),
            "14",
        ),
        (
            br#"{"params":{"name":"query","name":"echo","arguments":{}},"jsonrpc":"2.0","method":"tools/call","id":"late"}"#
                .to_vec(),
            r#""late""#,
        ),
        // Too deep.
        (nested("15", 101).into_bytes(), "15"),
        (nested("16", 10_000).into_bytes(), "16"),
    ];
    let mut input = Vec::new();
    for (line, _) in &cases {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let ping = request("100", "ping", "{}");
    input.extend_from_slice(&lines(&[&ping]));
    s.send_raw(&input);

    let (code, out) = end(&mut s);
    assert_eq!(code, 0, "stderr: {}", s.stderr());
    let got = all_messages(&out);
    let errors: Vec<&(String, Value)> = got
        .iter()
        .filter(|(_, v)| v.get("error").is_some())
        .collect();
    let want: Vec<&str> = cases.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        errors.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        want,
        "refusals, in order, with these ids"
    );
    for (_, v) in &errors {
        assert_error(v, PARSE_ERROR, Some(MALFORMED));
    }
    assert_eq!(
        got.len(),
        cases.len() + 1,
        "plus the ping's answer: {got:?}"
    );
    assert!(got
        .iter()
        .any(|(id, v)| id == "100" && v["result"] == json!({})));
    assert_bytes(&server_log(&dir), &lines(&[&ping]), "server log");

    let audit = util::audit_entries(&dir);
    assert_eq!(audit.len(), cases.len(), "one audit entry per refusal");
    for (entry, (_, id)) in audit.iter().zip(&cases) {
        assert_eq!(entry["rule"], MALFORMED, "{entry}");
        assert_eq!(entry["action"], "blocked", "{entry}");
        assert_eq!(
            entry["message_id"],
            serde_json::from_str::<Value>(id).unwrap(),
            "{entry}"
        );
    }
}

#[test]
fn nesting_up_to_100_levels_is_forwarded() {
    let dir = util::scratch("depth-ok");
    let mut s = start(&dir, &[], &[]);
    let l64 = nested("64", 64);
    let l100 = nested("100", 100);
    s.send_raw(&lines(&[&l64, &l100]));
    for id in ["64", "100"] {
        let (got, v, raw) = recv_one(&s);
        assert_eq!(got, id);
        assert_eq!(v["result"]["isError"], false, "{}", show(&raw));
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &lines(&[&l64, &l100]), "server log");
}

#[test]
fn batches_are_inspected_element_by_element() {
    let dir = util::scratch("batch");
    let mut s = start(&dir, &[], &[]);

    // One blocked, two allowed (with odd inner whitespace kept verbatim).
    let b1 = util::tool_call("1", "query", UNBOUNDED);
    let e2 = util::tool_call(r#""two""#, "echo", r#"{ "n" : 2 }"#);
    let e3 = util::tool_call("3", "query", BOUNDED);
    let mixed = format!("[ {b1} ,\t{e2},{e3} ]");
    s.send(&mixed);
    let mut got = Vec::new();
    for _ in 0..2 {
        let raw = s.recv_raw(T);
        let (is_batch, ms) = messages(&raw);
        assert!(is_batch, "a batch is answered with arrays: {}", show(&raw));
        got.extend(ms);
    }
    let counts = id_counts(&got);
    for id in ["1", r#""two""#, "3"] {
        assert_eq!(counts.get(id), Some(&1), "id {id}: {got:?}");
    }
    assert_eq!(got.len(), 3, "{got:?}");
    let by_id = |id: &str| &got.iter().find(|(i, _)| i == id).unwrap().1;
    assert_error(by_id("1"), BLOCKED, Some(UNBOUNDED_READ));
    assert_eq!(
        by_id(r#""two""#)["result"]["content"][0]["text"],
        r#"{"n":2}"#
    );
    assert_eq!(by_id("3")["result"]["isError"], false);

    // All allowed (a notification included): forwarded byte for byte.
    let e4 = util::tool_call("4", "echo", "{}");
    let all_ok = format!(
        " [ {e4} , {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{}}}},\t{} ] ",
        request("5", "ping", "{}")
    );
    s.send(&all_ok);
    let raw = s.recv_raw(T);
    let (is_batch, ms) = messages(&raw);
    assert!(is_batch, "{}", show(&raw));
    assert_eq!(
        ms.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        ["4", "5"]
    );

    // A malformed element is refused on its own (with its readable id); the rest goes on.
    let dup = request(
        "8",
        "tools/call",
        r#"{"name":"echo","arguments":{"k":1,"k":2}}"#,
    );
    let e9 = util::tool_call("9", "echo", "{}");
    s.send(&format!("[{dup},{e9}]"));
    let mut got = Vec::new();
    for _ in 0..2 {
        let raw = s.recv_raw(T);
        let (is_batch, ms) = messages(&raw);
        assert!(is_batch, "{}", show(&raw));
        got.extend(ms);
    }
    assert_eq!(got.len(), 2, "{got:?}");
    let by_id = |id: &str| &got.iter().find(|(i, _)| i == id).expect(id).1;
    assert_error(by_id("8"), PARSE_ERROR, Some(MALFORMED));
    assert_eq!(by_id("9")["result"]["isError"], false);

    // All blocked: nothing reaches the server; one array with both errors.
    s.send(&format!(
        "[{},{}]",
        util::tool_call("6", "query", UNBOUNDED),
        util::tool_call("7", "query", UNBOUNDED)
    ));
    let raw = s.recv_raw(T);
    let (is_batch, ms) = messages(&raw);
    assert!(is_batch, "{}", show(&raw));
    assert_eq!(
        ms.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        ["6", "7"]
    );
    for (_, v) in &ms {
        assert_error(v, BLOCKED, Some(UNBOUNDED_READ));
    }

    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");

    let log = server_log(&dir);
    let log_lines: Vec<&[u8]> = log.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(log_lines.len(), 3, "server log: {}", show(&log));
    let first = std::str::from_utf8(log_lines[0]).unwrap();
    let kept: Vec<&RawValue> = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("the server gets a batch array ({e}): {first}"));
    assert_eq!(
        kept.iter().map(|r| r.get()).collect::<Vec<_>>(),
        [e2.as_str(), e3.as_str()],
        "the allowed elements' original texts"
    );
    assert_bytes(
        log_lines[1],
        format!("{all_ok}\n").as_bytes(),
        "all-allowed batch",
    );
    assert_bytes(
        log_lines[2],
        format!("[{e9}]\n").as_bytes(),
        "after a refusal",
    );
    let audit = util::audit_entries(&dir);
    assert_eq!(audit.len(), 4, "{audit:?}");
    assert_eq!(audit[0]["message_id"], 1);
    assert_eq!(
        audit[0]["details"],
        serde_json::from_str::<Value>(&b1).unwrap(),
        "details is the element"
    );
    assert_eq!(audit[1]["message_id"], 8);
    assert_eq!(audit[1]["rule"], MALFORMED);
}
