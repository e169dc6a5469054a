//! Size and order, and the shapes and methods of a session.

use super::*;
use crate::forwarding::cancel;

#[test]
fn an_8_mib_server_response_arrives_intact() {
    let dir = util::scratch("big-out");
    let mut s = start(&dir, &[], &[]);
    let n = 8 * 1024 * 1024;
    s.send(&util::tool_call(
        "1",
        "big",
        &format!(r#"{{"bytes": {n}}}"#),
    ));
    let got = s.recv_raw(T);
    let mut want =
        br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":""#.to_vec();
    want.resize(want.len() + n, b'x');
    want.extend_from_slice(b"\"}],\"isError\":false}}\n");
    assert_bytes(&got, &want, "8 MiB response");
    s.send(&request("2", "ping", "{}"));
    let (id, _, _) = recv_one(&s);
    assert_eq!(id, "2");
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
}

#[test]
fn an_8_mib_request_is_inspected_and_forwarded_intact() {
    let dir = util::scratch("big-in");
    let mut s = start(&dir, &[], &[]);
    let args = format!(r#"{{"s":"{}"}}"#, "a".repeat(8 * 1024 * 1024));
    let line = util::tool_call("1", "echo", &args);
    let blocked = util::tool_call("2", "query", UNBOUNDED);
    s.send_raw(&lines(&[&line, &blocked]));
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(s.recv_raw(T));
    }
    let want = echo_response("1", &args);
    let echo = got
        .iter()
        .find(|l| l.starts_with(br#"{"jsonrpc":"2.0","id":1,"#))
        .expect("the echo answer");
    assert_bytes(echo, &want, "echo of 8 MiB");
    let other = got.iter().find(|l| *l != echo).unwrap();
    let (id, v) = messages(other).1.remove(0);
    assert_eq!(id, "2");
    assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &lines(&[&line]), "server log");
}

#[test]
fn a_thousand_pipelined_calls_keep_their_order() {
    let dir = util::scratch("order");
    let policy = without_breaker(&dir);
    let mut s = start(&dir, &["--policy", &policy], &[]);
    let sent: Vec<String> = (1..=1000)
        .map(|i| util::tool_call(&i.to_string(), "echo", &format!(r#"{{"i":{i}}}"#)))
        .collect();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    for i in 1..=1000 {
        let got = s.recv_raw(T);
        assert_bytes(
            &got,
            &echo_response(&i.to_string(), &format!(r#"{{"i":{i}}}"#)),
            &format!("answer #{i}"),
        );
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &lines(&refs), "server log");
}

#[test]
fn mixed_blocked_and_allowed_calls_are_each_answered_once() {
    let dir = util::scratch("mixed");
    let policy = without_breaker(&dir);
    let mut s = start(&dir, &["--policy", &policy], &[]);
    let n = 300;
    let sent: Vec<String> = (1..=n)
        .map(|i| {
            let args = if i % 3 == 0 { UNBOUNDED } else { BOUNDED };
            util::tool_call(&i.to_string(), "query", args)
        })
        .collect();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    let mut got = Vec::new();
    for _ in 0..n {
        let (id, v, _) = recv_one(&s);
        got.push((id.parse::<u32>().expect("integer id"), v));
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");

    let mut ids: Vec<u32> = got.iter().map(|(i, _)| *i).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=n).collect::<Vec<_>>(), "each id exactly once");
    let blocked: Vec<u32> = got
        .iter()
        .filter(|(_, v)| v.get("error").is_some())
        .map(|(i, v)| {
            assert_error(v, BLOCKED, Some(UNBOUNDED_READ));
            *i
        })
        .collect();
    let allowed: Vec<u32> = got
        .iter()
        .filter(|(_, v)| v.get("result").is_some())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(blocked, (1..=n).filter(|i| i % 3 == 0).collect::<Vec<_>>());
    assert_eq!(allowed, (1..=n).filter(|i| i % 3 != 0).collect::<Vec<_>>());
    let forwarded: Vec<&str> = refs
        .iter()
        .enumerate()
        .filter(|(i, _)| (i + 1) % 3 != 0)
        .map(|(_, l)| *l)
        .collect();
    assert_bytes(&server_log(&dir), &lines(&forwarded), "server log");
}

/// The order Sentinel promises (README, *Wire behaviour*): its own answers to a line reach the
/// client before that line, or any later one, can reach the server. So a server's answer to a
/// request never overtakes Sentinel's answers to the requests before it (Sentinel's answers
/// may overtake the server's: a blocked call never waits for a slow server). The cases are
/// pipelined in one write, the worst case for a gateway that batches its own answers and its
/// writes to the server: a blocked call, then a ping (padded, so the writes to the server fill
/// their buffer long before the answers do) that the fake server answers at once, many times.
#[test]
fn gateway_answers_are_never_overtaken_by_server_answers_to_later_requests() {
    let dir = util::scratch("answer-order");
    let mut s = start(&dir, &[], &[]);
    let n = 1000;
    let pad = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4096));
    let mut sent = Vec::new();
    for i in 0..n {
        sent.push(util::tool_call(&format!("\"b{i}\""), "query", UNBOUNDED));
        sent.push(request(&format!("\"p{i}\""), "ping", &pad));
        if i % 10 == 0 {
            // A cancellation the gateway swallows: nothing to answer, nothing forwarded.
            sent.push(cancel(&format!("\"b{i}\"")));
        }
    }
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    // Where each answer came, by kind and number: blocks[i] and pings[i] are positions.
    let (mut blocks, mut pings) = (Vec::new(), Vec::new());
    for at in 0..2 * n {
        let (id, v, _) = recv_one(&s);
        let number = |prefix: &str| -> usize {
            id.trim_matches('"')
                .strip_prefix(prefix)
                .and_then(|k| k.parse().ok())
                .unwrap_or_else(|| panic!("unexpected id {id}"))
        };
        if id.starts_with("\"b") {
            assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
            assert_eq!(number("b"), blocks.len(), "Sentinel's answers in order");
            blocks.push(at);
        } else {
            assert_eq!(v["result"], json!({}), "the server's answer to a ping: {v}");
            assert_eq!(number("p"), pings.len(), "the server's answers in order");
            pings.push(at);
        }
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    for i in 0..n {
        assert!(
            blocks[i] < pings[i],
            "the server's answer to ping p{i} (the answer #{}) overtook Sentinel's answer to \
             the call b{i} sent before it (the answer #{})",
            pings[i],
            blocks[i]
        );
    }
}

#[test]
fn messages_before_initialize_and_other_methods_pass_untouched() {
    let dir = util::scratch("pre-init");
    let mut s = start(&dir, &[], &[]);
    let sent = [
        request("1", "tools/list", "{}"),
        request(
            "2",
            "resources/read",
            r#"{"uri":"db://users","query":"SELECT * FROM users","sql":"DROP TABLE users"}"#,
        ),
        r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"sql":"DELETE FROM users"}}"#
            .to_owned(),
        request(
            "3",
            "initialize",
            r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}"#,
        ),
        request("4", "tools/list", "{}"),
    ];
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    let list = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{TOOLS_LIST_RESULT}}}\n");
    assert_bytes(
        &s.recv_raw(T),
        list.as_bytes(),
        "tools/list before initialize",
    );
    assert_bytes(
        &s.recv_raw(T),
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n",
        "resources/read answered by the server",
    );
    let (id, v, _) = recv_one(&s);
    assert_eq!(id, "3");
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let (id, _, _) = recv_one(&s);
    assert_eq!(id, "4");
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &lines(&refs), "server log");
    // Nothing was judged; the only entry is the server's tools pinned at first sight.
    let entries = util::audit_entries(&dir);
    assert!(
        entries.iter().all(|e| e["action"] == "pinned"),
        "{entries:?}"
    );
}

#[test]
fn every_protocol_version_initializes() {
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let dir = util::scratch("versions");
        let mut s = start(&dir, &[], &[]);
        let init = request(
            "1",
            "initialize",
            &format!(
                r#"{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"wire","version":"0"}}}}"#
            ),
        );
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let call = util::tool_call("2", "query", BOUNDED);
        let blocked = util::tool_call("3", "query", UNBOUNDED);
        s.send_raw(&lines(&[&init, initialized, &call, &blocked]));
        let mut got = Vec::new();
        for _ in 0..3 {
            let (id, v, _) = recv_one(&s);
            got.push((id, v));
        }
        let by_id = |id: &str| &got.iter().find(|(i, _)| i == id).expect(id).1;
        assert_eq!(
            by_id("1")["result"]["protocolVersion"],
            version,
            "{version}"
        );
        assert_eq!(by_id("2")["result"]["isError"], false, "{version}");
        assert_error(by_id("3"), BLOCKED, Some(UNBOUNDED_READ));
        let (code, rest) = end(&mut s);
        assert_eq!(code, 0, "{version}");
        assert_bytes(&rest, b"", "nothing more on stdout");
        assert_bytes(
            &server_log(&dir),
            &lines(&[&init, initialized, &call]),
            version,
        );
    }
}

#[test]
fn a_session_without_initialize_works() {
    let dir = util::scratch("no-init");
    let mut s = start(&dir, &[], &[]);
    let call = util::tool_call("1", "echo", r#"{"hello":"world"}"#);
    s.send(&call);
    assert_bytes(
        &s.recv_raw(T),
        &echo_response("1", r#"{"hello":"world"}"#),
        "echo",
    );
    s.send(&util::tool_call("2", "query", UNBOUNDED));
    let (id, v, _) = recv_one(&s);
    assert_eq!(id, "2");
    assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
    let ping = request("3", "ping", "{}");
    s.send(&ping);
    let (id, v, _) = recv_one(&s);
    assert_eq!(id, "3");
    assert_eq!(v["result"], json!({}));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
    assert_bytes(&server_log(&dir), &lines(&[&call, &ping]), "server log");
}
