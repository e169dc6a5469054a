//! Byte-for-byte forwarding, blocking, and cancellation.

use super::*;

#[test]
fn allowed_client_messages_reach_the_server_byte_for_byte() {
    let dir = util::scratch("bytes-in");
    let mut s = start(&dir, &[], &[]);

    // Odd whitespace (spaces, tabs, around and inside), unusual key order, unicode escapes
    // (including a surrogate pair) next to raw UTF-8, numbers in non-canonical spellings.
    let odd_args = r#"{ "text" : "caf\u00e9 \ud83d\ude00 é ☃", "z":1 ,"a":[ 1 ,2.50, 1e2, -0 ],"esc":"\"\\\/\b\f\n\r\t" }"#;
    let odd = format!(
        " \t{{\"params\" : {{\"arguments\":{odd_args},\t\"name\":\"echo\"}} ,\"method\":\"tools/call\",  \"id\" :  1 ,\"jsonrpc\":\"2.0\" }}\t "
    );
    // A CRLF line: the \r is part of the line and must be forwarded too.
    let crlf_args = r#"{"crlf":true}"#;
    let crlf = format!("{}\r", util::tool_call("2", "echo", crlf_args));
    // A long line (about 1.5 MiB) full of escapes and multi-byte characters.
    let blob = r#"ab\u00e9\"x\\ é😀 \n"#.repeat(70_000);
    let long_args = format!(r#"{{"blob":"{blob}"}}"#);
    let long = util::tool_call("3", "echo", &long_args);
    assert!(long.len() > 1_400_000);
    // A notification and an allowed SQL call, with a string id.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let query = util::tool_call(r#""q-1""#, "query", BOUNDED);
    // A response from the client to a server request: forwarded, never answered.
    let response = r#"{"jsonrpc":"2.0","id":"srv-1","result":{"model":"m","content":{"type":"text","text":"SELECT * FROM users"}}}"#;

    let mut sent = Vec::new();
    for l in [&odd, &crlf, &long, note, response, &query] {
        sent.extend_from_slice(l.as_bytes());
        sent.push(b'\n');
    }
    s.send_raw(&sent);

    // The server's answers, in order and exactly as the fake server writes them.
    for (id, args) in [("1", odd_args), ("2", crlf_args), ("3", &long_args[..])] {
        let got = s.recv_raw(T);
        assert_bytes(&got, &echo_response(id, args), &format!("echo answer {id}"));
    }
    assert_bytes(
        &s.recv_raw(T),
        &echo_response(r#""q-1""#, BOUNDED),
        "query answer",
    );

    let (code, rest) = end(&mut s);
    assert_eq!(code, 0, "stderr: {}", s.stderr());
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &sent, "server log");
    assert!(
        util::audit_entries(&dir).is_empty(),
        "nothing was blocked, so nothing is audited"
    );
}

#[test]
fn server_messages_reach_the_client_byte_for_byte() {
    let dir = util::scratch("bytes-out");
    let mut s = start(&dir, &[], &["--notify-at-start"]);
    assert_bytes(
        &s.recv_raw(T),
        format!("{START_NOTIFICATION}\n").as_bytes(),
        "server notification",
    );
    let list = request("1", "tools/list", "{}");
    s.send(&list);
    assert_bytes(
        &s.recv_raw(T),
        format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{TOOLS_LIST_RESULT}}}\n").as_bytes(),
        "tools/list answer",
    );
    s.send(&request(r#""x""#, "no/such/method", "{}"));
    assert_bytes(
        &s.recv_raw(T),
        b"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n",
        "the server's own error",
    );
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
}

/// A scripted server whose output has odd whitespace, CRLF, escapes, raw UTF-8, ids in odd
/// places: all of it must reach the client untouched, and the ids it answers must count as
/// answered (no extra -32011 when it exits).
#[test]
fn odd_server_output_is_forwarded_untouched_and_its_answers_count() {
    let dir = util::scratch("bytes-script");
    let out_file = dir.join("server-output.bin");
    let output: &[u8] = b"{\"jsonrpc\":\"2.0\",\"result\":{\"text\":\"caf\\u00e9 \xc3\xa9 \xf0\x9f\x98\x80\",\"id\":99},\"id\" : 1 }\r\n  \
{\"id\":\"a\\\"b\" ,\t\"jsonrpc\":\"2.0\",\"result\":{\"method\":\"m\",\"id\":2}}  \n\
{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"error\":{\"code\":-1,\"message\":\"x\"}}\n\
{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"\\r\\t\\u2028\"}}\n";
    std::fs::write(&out_file, output).unwrap();
    let mut cmd = util::command(&dir);
    cmd.arg("--")
        .arg("sh")
        .arg("-c")
        .arg(r#"read -r a; read -r b; read -r c; cat "$0"; exit 5"#)
        .arg(&out_file);
    let mut s = Session::spawn(&mut cmd);
    s.send_raw(&lines(&[
        &util::tool_call("1", "echo", "{}"),
        &util::tool_call(r#""a\"b""#, "echo", "{}"),
        &util::tool_call("123456789012345678901234567890", "echo", "{}"),
    ]));
    // The server exits on its own; the client side stays open.
    let status = s.wait(T);
    let out = s.rest_of_stdout();
    assert_eq!(status.code(), Some(5), "stderr: {}", s.stderr());
    assert_bytes(&out, output, "client stdout");
}

#[test]
fn blank_lines_are_ignored() {
    let dir = util::scratch("blank");
    let mut s = start(&dir, &[], &[]);
    let ping = request("1", "ping", "{}");
    s.send_raw(format!("\n   \n\t\n\r\n \r\n{ping}\n\n").as_bytes());
    let (_, v, _) = recv_one(&s);
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"], json!({}));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "no answer to blank lines");
    assert_bytes(&server_log(&dir), &lines(&[&ping]), "server log");
    assert!(util::audit_entries(&dir).is_empty());
}

#[test]
fn blocked_requests_are_answered_with_their_exact_id_and_never_forwarded() {
    let dir = util::scratch("block-ids");
    let mut s = start(&dir, &[], &[]);
    let ids = [
        r#""abc""#,
        "7",
        "123456789012345678901234567890",
        "-5",
        "1.5",
        r#""caf\u00e9""#,
        r#""""#,
        "0",
    ];
    // Odd spacing around the id, and a method, member names and arguments spelled with
    // escapes: the same message to any JSON parser, so blocked just the same.
    let spelled = [
        (
            r#" { "id" :  "sp ace" ,"jsonrpc":"2.0", "method":"tools\/call","params":{"name":"query","arguments":{"query":"SELECT * FROM users"}}} "#,
            r#""sp ace""#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"esc","method":"\u0074ools/call","\u0070arams":{"name":"query","\u0061rguments":{"\u0071uery":"SELECT * FROM users"}}}"#,
            r#""esc""#,
        ),
    ];
    let allowed = util::tool_call("1000", "echo", r#"{"ok":true}"#);
    let mut sent = Vec::new();
    for id in ids {
        sent.push(util::tool_call(id, "query", UNBOUNDED));
    }
    sent.insert(3, allowed.clone());
    sent.extend(spelled.iter().map(|(l, _)| l.to_string()));
    s.send_raw(&lines(&sent.iter().map(String::as_str).collect::<Vec<_>>()));
    let ids: Vec<&str> = ids
        .into_iter()
        .chain(spelled.iter().map(|(_, id)| *id))
        .collect();

    let mut got = Vec::new();
    for _ in 0..=ids.len() {
        let (id, v, _) = recv_one(&s);
        got.push((id, v));
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");

    let counts = id_counts(&got);
    for &id in &ids {
        assert_eq!(counts.get(id), Some(&1), "id {id} answered once: {got:?}");
        let (_, v) = got.iter().find(|(i, _)| i == id).unwrap();
        assert_error(v, BLOCKED, Some(UNBOUNDED_READ));
    }
    let (_, ok) = got
        .iter()
        .find(|(i, _)| i == "1000")
        .expect("echo answered");
    assert_eq!(ok["result"]["isError"], false);
    assert_bytes(&server_log(&dir), &lines(&[&allowed]), "server log");
    assert_eq!(
        util::audit_entries(&dir).len(),
        ids.len(),
        "one entry per block"
    );
}

#[test]
fn block_as_result_answers_with_an_error_tool_result() {
    let dir = util::scratch("block-result");
    let mut s = start(&dir, &["--block-as", "result"], &[]);
    s.send(&util::tool_call(r#""r1""#, "query", UNBOUNDED));
    s.send(&util::tool_call(
        "123456789012345678901234567890",
        "query",
        UNBOUNDED,
    ));
    for want in [r#""r1""#, "123456789012345678901234567890"] {
        let (id, v, raw) = recv_one(&s);
        assert_eq!(id, want, "{}", show(&raw));
        assert_eq!(v["jsonrpc"], "2.0");
        assert!(v.get("error").is_none(), "no error member: {v}");
        let result = &v["result"];
        assert_eq!(result["isError"], true, "{v}");
        let content = result["content"].as_array().expect("content array");
        assert_eq!(content.len(), 1, "{v}");
        assert_eq!(content[0]["type"], "text", "{v}");
        let text = content[0]["text"].as_str().expect("text");
        assert!(text.contains(UNBOUNDED_READ), "text names the rule: {text}");
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), b"", "server log");
    assert_eq!(util::audit_entries(&dir).len(), 2);
}

#[test]
fn blocked_notification_is_dropped_silently_and_audited() {
    let dir = util::scratch("block-note");
    let mut s = start(&dir, &[], &[]);
    let note = r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"query","arguments":{"query":"DROP TABLE users"}}}"#;
    let ping = request("1", "ping", "{}");
    s.send_raw(&lines(&[note, &ping]));
    // The first thing on stdout is the ping's answer: nothing for the notification.
    let (id, v, _) = recv_one(&s);
    assert_eq!(id, "1");
    assert_eq!(v["result"], json!({}));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &lines(&[&ping]), "server log");
    let audit = util::audit_entries(&dir);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["message_id"], Value::Null);
    assert_eq!(audit[0]["method"], "tools/call");
    assert_eq!(audit[0]["rule"], "sql.destructive");
    // It needs approval in the built-in policy; a notification cannot be held (nothing could
    // tell the client the outcome), so it is dropped as refused for want of approval.
    assert_eq!(audit[0]["action"], "approval_required");
    assert_eq!(
        audit[0]["details"],
        serde_json::from_str::<Value>(note).unwrap()
    );
}

pub(crate) fn cancel(request_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{request_id},"reason":"user"}}}}"#
    )
}

#[test]
fn cancellation_is_forwarded_only_for_requests_the_server_saw() {
    let dir = util::scratch("cancel");
    let mut s = start(&dir, &[], &[]);
    let silent = util::tool_call("6", "silent", "{}");
    let ping = request("10", "ping", "{}");
    let sent = [
        // Blocked by policy, then cancelled: the cancellation is swallowed.
        util::tool_call("5", "query", UNBOUNDED),
        cancel("5"),
        // Refused as malformed (its id is readable), then cancelled: swallowed too.
        request(
            "9",
            "tools/call",
            r#"{"name":"echo","arguments":{"a":1,"a":2}}"#,
        ),
        cancel("9"),
        // A blocked string id; the same id spelled with an escape is the same id.
        util::tool_call(r#""caf\u00e9""#, "query", UNBOUNDED),
        cancel(r#""café""#),
        // A blocked string "7": a cancellation for the integer 7 names another request.
        util::tool_call(r#""7""#, "query", UNBOUNDED),
        cancel("7"),
        // Forwarded, then cancelled: the server must hear about it.
        silent.clone(),
        cancel("6"),
        ping.clone(),
    ];
    s.send_raw(&lines(&sent.iter().map(String::as_str).collect::<Vec<_>>()));
    // Five answers come before the end: four blocks/refusals and the ping.
    let mut got = Vec::new();
    for _ in 0..5 {
        let (id, v, _) = recv_one(&s);
        got.push((id, v));
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    got.extend(all_messages(&rest));
    let counts = id_counts(&got);
    for (id, code, rule) in [
        ("5", BLOCKED, UNBOUNDED_READ),
        ("9", PARSE_ERROR, MALFORMED),
        (r#""caf\u00e9""#, BLOCKED, UNBOUNDED_READ),
        (r#""7""#, BLOCKED, UNBOUNDED_READ),
    ] {
        assert_eq!(counts.get(id), Some(&1), "id {id}: {got:?}");
        let (_, v) = got.iter().find(|(i, _)| i == id).unwrap();
        assert_error(v, code, Some(rule));
    }
    assert_eq!(counts.get("10"), Some(&1), "{got:?}");
    assert!(counts.get("6").is_none_or(|&n| n == 1), "{got:?}");
    assert_bytes(
        &server_log(&dir),
        &lines(&[&cancel("7"), &silent, &cancel("6"), &ping]),
        "server log",
    );
}

/// The ping's answer comes last: Sentinel's answers to the blocked calls are written before
/// the ping (a later line) reaches the server, the order Sentinel promises (see
/// `gateway_answers_are_never_overtaken_by_server_answers_to_later_requests`).
#[test]
fn cancellation_for_blocked_big_integer_and_decimal_ids_is_swallowed() {
    let dir = util::scratch("cancel-big");
    let mut s = start(&dir, &[], &[]);
    let big = "123456789012345678901234567890";
    let ping = request("1", "ping", "{}");
    s.send_raw(&lines(&[
        &util::tool_call(big, "query", UNBOUNDED),
        &cancel(big),
        &util::tool_call("1.5", "query", UNBOUNDED),
        &cancel("1.5"),
        &util::tool_call("2.50", "query", UNBOUNDED),
        &cancel("2.50"),
        &ping,
    ]));
    let (code, out) = end(&mut s);
    assert_eq!(code, 0);
    let got = all_messages(&out);
    assert_eq!(
        got.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        [big, "1.5", "2.50", "1"],
        "three blocks, then the ping's answer"
    );
    assert_bytes(&server_log(&dir), &lines(&[&ping]), "server log");
}
