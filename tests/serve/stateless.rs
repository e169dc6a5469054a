//! Protocol 2026-07-28 requests: no session; `MCP-Protocol-Version`, `Mcp-Method` and
//! `Mcp-Name` must agree with the body (else 400 with `HeaderMismatch`, -32020); answers as
//! JSON or an event stream; closing the stream cancels the request at the server.

use super::http::{Serve, LIMIT};
use super::util;
use std::time::{Duration, Instant};

const V: &str = "2026-07-28";

fn body(id: u64, tool: &str, args: &str, version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{version}","io.modelcontextprotocol/clientCapabilities":{{}},"progressToken":"p{id}"}}}}}}"#
    )
}

fn post(serve: &Serve, headers: &[(&str, &str)], body: &str) -> super::http::Response {
    let mut h = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    h.extend_from_slice(headers);
    serve.request("POST", &h, body)
}

#[test]
fn a_request_with_agreeing_headers_is_answered_without_a_session() {
    let dir = util::scratch("serve-2026");
    let serve = Serve::start(&dir, &[], &[]);
    let ok = [
        ("MCP-Protocol-Version", V),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "echo"),
    ];
    for id in 1..=2 {
        let r = post(&serve, &ok, &body(id, "echo", r#"{"x":1}"#, V));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("mcp-session-id").is_none(), "no session is minted");
        let m = r.messages();
        assert_eq!(m.last().unwrap()["id"], id, "{m:?}");
    }
    // A name outside the header-safe set comes base64-encoded.
    let r = post(
        &serve,
        &[
            ("MCP-Protocol-Version", V),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "=?base64?ZWNobw==?="),
        ],
        &body(3, "echo", "{}", V),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Still judged by the gateway.
    let blocked = post(
        &serve,
        &[
            ("MCP-Protocol-Version", V),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "query"),
        ],
        &body(4, "query", r#"{"sql":"SELECT * FROM users"}"#, V),
    );
    assert_eq!(
        blocked.messages()[0]["error"]["data"]["rule"],
        "sql.unbounded_read"
    );
    // No GET stream and no DELETE in this revision.
    let r = serve.request(
        "GET",
        &[("MCP-Protocol-Version", V), ("Accept", "text/event-stream")],
        "",
    );
    assert_eq!(r.status, 405);
}

#[test]
fn headers_that_disagree_with_the_body_are_a_400_header_mismatch() {
    let dir = util::scratch("serve-2026-bad");
    let log = dir.join("server.log");
    let serve = Serve::start(&dir, &[], &["--log", log.to_str().unwrap()]);
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        // Mcp-Name says one tool, the body calls another.
        (
            vec![
                ("MCP-Protocol-Version", V),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "echo"),
            ],
            body(1, "query", r#"{"sql":"DROP TABLE t"}"#, V),
        ),
        // Mcp-Method missing.
        (
            vec![("MCP-Protocol-Version", V), ("Mcp-Name", "echo")],
            body(2, "echo", "{}", V),
        ),
        // Mcp-Name missing.
        (
            vec![("MCP-Protocol-Version", V), ("Mcp-Method", "tools/call")],
            body(3, "echo", "{}", V),
        ),
        // The body's version is another.
        (
            vec![
                ("MCP-Protocol-Version", V),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "echo"),
            ],
            body(4, "echo", "{}", "2025-11-25"),
        ),
        // Mcp-Method disagrees.
        (
            vec![
                ("MCP-Protocol-Version", V),
                ("Mcp-Method", "tools/list"),
                ("Mcp-Name", "echo"),
            ],
            body(5, "echo", "{}", V),
        ),
    ];
    for (i, (h, b)) in cases.iter().enumerate() {
        let r = post(&serve, h, b);
        assert_eq!(r.status, 400, "case {i}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["code"], -32020, "case {i}: {e}");
        assert_eq!(e["id"], i as u64 + 1, "case {i}: {e}");
        assert!(e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Header mismatch"));
    }
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !seen.contains("tools/call"),
        "no mismatched request reached the server: {seen}"
    );
    assert!(util::audit_entries(&dir)
        .iter()
        .any(|e| e["rule"] == "header_mismatch"));
}

#[test]
fn closing_the_response_stream_cancels_the_request_at_the_server() {
    let dir = util::scratch("serve-2026-cancel");
    let log = dir.join("server.log");
    let serve = Serve::start(&dir, &[], &["--log", log.to_str().unwrap()]);
    {
        let mut c = serve.connect();
        let b = body(7, "progress", r#"{"n":10,"ms":100}"#, V);
        c.send(
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "text/event-stream"),
                ("MCP-Protocol-Version", V),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "progress"),
            ],
            b.as_bytes(),
        );
        assert_eq!(c.head().0, 200);
        let first = c.messages(1);
        assert_eq!(first[0].1["method"], "notifications/progress");
    } // the client closes the stream
    let start = Instant::now();
    loop {
        let seen = std::fs::read_to_string(&log).unwrap_or_default();
        if seen.contains("notifications/cancelled") {
            assert!(seen.contains(r#""requestId":7"#), "{seen}");
            break;
        }
        assert!(start.elapsed() < LIMIT, "the server was never told: {seen}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
