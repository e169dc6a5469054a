//! `sentinel serve` end to end: the real binary on a loopback port, the fake MCP server behind
//! it (one process per session), and a raw HTTP client: the session lifecycle, JSON and
//! event-stream answers, progress in order, a blocked call, elicitation relayed, the GET
//! stream and its resumption, and the bad paths (no or unknown session, wrong headers,
//! malformed bodies, tokens, Origin, each limit, a server or client gone mid-request).

#[path = "../util/mod.rs"]
mod util;

mod approvals;
mod http;
mod security;
mod stateless;

use http::{call, Serve, LIMIT};
use serde_json::Value;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_session_lives_from_initialize_to_delete_with_its_own_server_process() {
    let dir = util::scratch("serve-life");
    let pid_file = dir.join("server.pid");
    let serve = Serve::start(&dir, &[], &["--pid-file", pid_file.to_str().unwrap()]);
    let sid = serve.init(&[]);
    assert_eq!(sid.len(), 32, "128 random bits as hex: {sid}");
    let pid = util::read_pid(&pid_file, LIMIT);
    assert!(util::alive(pid));

    // A request answered as JSON when only JSON is accepted.
    let r = serve.request(
        "POST",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("Mcp-Session-Id", &sid),
            ("MCP-Protocol-Version", "2025-06-18"),
        ],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["id"], 1);
    assert!(r.json()["result"]["tools"].is_array());

    // As an event stream when it is accepted.
    let r = serve.post(Some(&sid), &call(2, "echo", r#"{"text":"hi"}"#));
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["id"], 2);

    let r = serve.request("DELETE", &[("Mcp-Session-Id", &sid)], "");
    assert_eq!(r.status, 200);
    util::wait_dead(pid, LIMIT);
    let r = serve.post(Some(&sid), &call(3, "echo", "{}"));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("initialize"), "{}", r.text());
}

#[test]
fn a_blocked_call_is_answered_by_the_gateway_and_audited_with_the_session() {
    let dir = util::scratch("serve-block");
    let log = dir.join("server.log");
    let serve = Serve::start(&dir, &[], &["--log", log.to_str().unwrap()]);
    let sid = serve.init(&[]);
    let r = serve.post(
        Some(&sid),
        &call(5, "query", r#"{"sql":"SELECT * FROM users"}"#),
    );
    let m = r.messages();
    assert_eq!(m[0]["id"], 5);
    assert_eq!(m[0]["error"]["data"]["rule"], "sql.unbounded_read", "{m:?}");
    // The server never saw it.
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!seen.contains("SELECT"), "{seen}");
    let entries = util::audit_entries(&dir);
    let e = entries
        .iter()
        .find(|e| e["rule"] == "sql.unbounded_read")
        .expect("audited");
    assert_eq!(e["session"], Value::String(sid));
}

#[test]
fn a_call_needing_approval_asks_the_http_client_and_a_refusal_blocks_it() {
    let dir = util::scratch("serve-approve");
    let log = dir.join("server.log");
    let serve = Serve::start(&dir, &[], &["--log", log.to_str().unwrap()]);
    // The client declared elicitation (INITIALIZE): Sentinel asks it for the approval.
    let sid = serve.init(&[]);
    let mut c = serve.stream(&sid, &call(6, "query", r#"{"sql":"DROP TABLE users"}"#));
    let asked = c.messages(1);
    assert_eq!(asked[0].1["method"], "elicitation/create", "{}", asked[0].1);
    let decline = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"action":"decline"}}}}"#,
        asked[0].1["id"]
    );
    assert_eq!(serve.post(Some(&sid), &decline).status, 202);
    let answer = c.messages(1);
    assert_eq!(answer[0].1["id"], 6);
    assert_eq!(answer[0].1["error"]["data"]["rule"], "sql.destructive");
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!seen.contains("DROP"), "{seen}");
}

#[test]
fn progress_notifications_stream_in_order_before_the_answer() {
    let dir = util::scratch("serve-progress");
    let serve = Serve::start(&dir, &[], &[]);
    let sid = serve.init(&[]);
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"progress","arguments":{"n":5,"ms":30},"_meta":{"progressToken":"tok"}}}"#;
    let mut c = serve.stream(&sid, body);
    // The first progress arrives while the call is still running.
    let first = c.messages(1);
    assert_eq!(first[0].1["params"]["progress"], 1);
    let rest = c.messages(5);
    let progress: Vec<u64> = first
        .iter()
        .chain(&rest)
        .filter(|(_, m)| m["method"] == "notifications/progress")
        .map(|(_, m)| m["params"]["progress"].as_u64().unwrap())
        .collect();
    assert_eq!(progress, vec![1, 2, 3, 4, 5]);
    assert_eq!(rest.last().unwrap().1["id"], 9);
    // Event ids increase.
    let ids: Vec<u64> = first
        .iter()
        .chain(&rest)
        .map(|(id, _)| id.as_ref().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(c.chunk().is_none(), "the stream ends after the answer");
}

#[test]
fn the_servers_request_reaches_the_client_and_its_answer_the_server() {
    let dir = util::scratch("serve-elicit");
    let serve = Serve::start(&dir, &[], &[]);
    let sid = serve.init(&[]);
    let mut c = serve.stream(&sid, &call(11, "ask", "{}"));
    let asked = c.messages(1);
    let req = &asked[0].1;
    assert_eq!(req["method"], "elicitation/create", "{req}");
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"action":"accept","content":{{"ok":true}}}}}}"#,
        req["id"]
    );
    let r = serve.post(Some(&sid), &answer);
    assert_eq!(r.status, 202, "{}", r.text());
    let done = c.messages(1);
    assert_eq!(done[0].1["id"], 11);
    assert!(
        done[0].1.to_string().contains("answered sentinel-"),
        "{}",
        done[0].1
    );
}

#[test]
fn the_get_stream_carries_server_messages_and_resumes_after_a_lost_connection() {
    let dir = util::scratch("serve-get");
    let serve = Serve::start(&dir, &[], &[]);
    let sid = serve.init(&[]);
    // Without a GET stream, a notification not tied to a request waits in the backlog.
    let r = serve.post(Some(&sid), &call(1, "list_changed", "{}"));
    let m = r.messages();
    assert!(m.iter().any(|m| m["id"] == 1));
    let open = |last: Option<&str>| serve.get_stream(&sid, last);
    let mut g = open(None);
    // The list_changed came on the call's own stream (the newest POST stream) or waits here.
    let delivered_on_post = m
        .iter()
        .any(|m| m["method"] == "notifications/tools/list_changed");
    if !delivered_on_post {
        let e = g.messages(1);
        assert_eq!(e[0].1["method"], "notifications/tools/list_changed");
    }
    // A JSON-only POST's server messages go to the GET stream.
    let json_only = |id: u64| {
        serve.request(
            "POST",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("Mcp-Session-Id", &sid),
            ],
            &call(id, "list_changed", "{}"),
        )
    };
    assert_eq!(json_only(2).json()["id"], 2);
    let first = g.messages(1);
    assert_eq!(first[0].1["method"], "notifications/tools/list_changed");
    drop(g);
    // Two more while no stream is open, then a resumed stream gets them, nothing twice.
    assert_eq!(json_only(3).json()["id"], 3);
    assert_eq!(json_only(4).json()["id"], 4);
    let mut again = open(first[0].0.as_deref());
    let got = again.messages(2);
    assert!(got
        .iter()
        .all(|(_, m)| m["method"] == "notifications/tools/list_changed"));
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_deref().unwrap()).collect();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(Some(ids[0]), first[0].0.as_deref());
}

#[test]
fn a_server_that_exits_mid_request_gets_its_request_answered_and_the_session_ends() {
    let dir = util::scratch("serve-exit");
    // Line 1 initialize, 2 initialized, 3 the call, which it never answers: then it exits.
    let serve = Serve::start(&dir, &[], &["--exit-after", "3"]);
    let sid = serve.init(&[]);
    let r = serve.post(Some(&sid), &call(7, "silent", "{}"));
    let m = r.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["id"], 7);
    assert!(m[0]["error"].is_object(), "{}", m[0]);
    wait_until("the session to end", || {
        serve.post(Some(&sid), &call(8, "echo", "{}")).status == 404
    });
}

#[test]
fn a_client_gone_mid_request_leaves_the_session_working_and_its_answer_on_the_get_stream() {
    let dir = util::scratch("serve-gone");
    let serve = Serve::start(&dir, &[], &[]);
    let sid = serve.init(&[]);
    {
        serve.stream(&sid, &call(21, "sleep", r#"{"ms":700}"#));
    } // the client goes away before the answer
    let mut g = serve.get_stream(&sid, None);
    let late = g.messages(1);
    assert_eq!(late[0].1["id"], 21, "{:?}", late[0].1);
    let r = serve.post(Some(&sid), &call(22, "echo", "{}"));
    assert_eq!(r.messages()[0]["id"], 22);
}

#[test]
fn requests_without_a_valid_session_or_with_wrong_headers_are_refused() {
    let dir = util::scratch("serve-bad");
    let serve = Serve::start(&dir, &[], &[]);
    let no_session = serve.post(None, &call(1, "echo", "{}"));
    assert_eq!(no_session.status, 400);
    assert!(
        no_session.text().contains("initialize"),
        "{}",
        no_session.text()
    );
    let unknown = serve.post(
        Some("0123456789abcdef0123456789abcdef"),
        &call(1, "echo", "{}"),
    );
    assert_eq!(unknown.status, 404);
    let sid = serve.init(&[]);
    let base = [
        ("Accept", "application/json, text/event-stream"),
        ("Mcp-Session-Id", sid.as_str()),
    ];
    let with = |extra: &[(&str, &str)], body: &str| {
        let mut h = base.to_vec();
        h.extend_from_slice(extra);
        serve.request("POST", &h, body)
    };
    let r = with(&[("Content-Type", "text/plain")], &call(1, "echo", "{}"));
    assert_eq!(r.status, 415);
    let r = with(
        &[
            ("Content-Type", "application/json"),
            ("MCP-Protocol-Version", "1999-01-01"),
        ],
        &call(1, "echo", "{}"),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("2025-06-18"), "{}", r.text());
    let r = with(&[("Content-Type", "application/json")], "{not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], -32700);
    let r = with(
        &[("Content-Type", "application/json")],
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
    );
    assert_eq!(r.status, 400, "duplicate keys are ambiguous: {}", r.text());
    let r = serve.request("PUT", &base, "");
    assert_eq!(r.status, 405);
    let mut c = serve.connect();
    c.send("GET", "/elsewhere", &[], b"");
    assert_eq!(c.response().status, 404);
    // The session still works after all that.
    assert_eq!(
        serve.post(Some(&sid), &call(2, "echo", "{}")).messages()[0]["id"],
        2
    );
    let entries = util::audit_entries(&dir);
    assert!(
        entries.iter().any(|e| e["rule"] == "malformed"),
        "malformed bodies are audited"
    );
}

#[test]
fn sigterm_ends_every_session_and_its_server() {
    let dir = util::scratch("serve-stop");
    let pid_file = dir.join("server.pid");
    let mut serve = Serve::start(&dir, &[], &["--pid-file", pid_file.to_str().unwrap()]);
    serve.init(&[]);
    let pid = util::read_pid(&pid_file, LIMIT);
    let status = serve.stop();
    assert!(status.success(), "{status:?}: {}", serve.stderr());
    assert!(!util::alive(pid), "the session's server outlived serve");
}

#[test]
fn the_legacy_sse_transport_serves_older_clients() {
    let dir = util::scratch("serve-legacy");
    let serve = Serve::start(&dir, &[], &[]);
    let mut s = serve.connect();
    s.send("GET", "/sse", &[("Accept", "text/event-stream")], b"");
    assert_eq!(s.head().0, 200);
    let first = String::from_utf8(s.chunk().unwrap()).unwrap();
    let ev = http::events(&first);
    assert_eq!(ev[0].1.as_deref(), Some("endpoint"));
    let endpoint = ev[0].2.clone();
    assert!(endpoint.starts_with("/messages?session_id="), "{endpoint}");
    let post = |body: &str| {
        let mut c = serve.connect();
        c.send(
            "POST",
            &endpoint,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        c.response()
    };
    assert_eq!(post(http::INITIALIZE).status, 202);
    assert_eq!(s.messages(1)[0].1["id"], 0);
    assert_eq!(
        post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).status,
        202
    );
    assert_eq!(
        post(&call(1, "query", r#"{"sql":"SELECT * FROM t"}"#)).status,
        202
    );
    let blocked = s.messages(1);
    assert_eq!(blocked[0].1["id"], 1);
    assert_eq!(blocked[0].1["error"]["data"]["rule"], "sql.unbounded_read");
    assert_eq!(post(&call(2, "echo", "{}")).status, 202);
    assert_eq!(s.messages(1)[0].1["id"], 2);
}

#[test]
fn a_cut_post_stream_resumed_by_get_delivers_the_rest_in_order_and_nothing_twice() {
    let dir = util::scratch("serve-resume");
    let serve = Serve::start(&dir, &[], &[]);
    let sid = serve.init(&[]);
    let body = r#"{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"progress","arguments":{"n":6,"ms":150},"_meta":{"progressToken":"r"}}}"#;
    let last_seen = {
        let mut c = serve.stream(&sid, body);
        let two = c.messages(2);
        assert_eq!(two[1].1["params"]["progress"], 2);
        two[1].0.clone().unwrap()
    }; // cut
    let mut g = serve.get_stream(&sid, Some(&last_seen));
    let rest = g.messages(5);
    let progress: Vec<u64> = rest
        .iter()
        .filter_map(|(_, m)| m["params"]["progress"].as_u64())
        .collect();
    assert_eq!(progress, vec![3, 4, 5, 6], "{rest:?}");
    assert_eq!(rest[4].1["id"], 31);
    assert!(
        g.chunk().is_none(),
        "the resumed stream ends with the answer"
    );
}

/// The names of a process's threads.
fn threads(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ended_sessions_leave_no_thread_behind() {
    let dir = util::scratch("serve-threads");
    let serve = Serve::start(&dir, &[], &[]);
    let pid = serve.child.id();
    let session_threads = |names: &[String]| {
        names
            .iter()
            .filter(|n| {
                [
                    "approvals",
                    "mcp-session",
                    "client->server",
                    "server->client",
                ]
                .contains(&n.as_str())
            })
            .count()
    };
    for round in 0..3 {
        let sid = serve.init(&[]);
        assert_eq!(
            serve.post(Some(&sid), &call(round, "echo", "{}")).status,
            200
        );
        assert!(
            session_threads(&threads(pid)) > 0,
            "a session has its threads"
        );
        assert_eq!(
            serve
                .request("DELETE", &[("Mcp-Session-Id", &sid)], "")
                .status,
            200
        );
    }
    wait_until("every session's threads to end", || {
        session_threads(&threads(pid)) == 0
    });
}

#[test]
fn serve_with_upstream_speaks_http_on_both_sides_and_judges_in_between() {
    // Client -> serve --upstream (the gateway under test) -> serve -> fake server.
    let dir = util::scratch("serve-upstream");
    let back_dir = dir.join("back");
    std::fs::create_dir_all(&back_dir).unwrap();
    let log = dir.join("server.log");
    let back = Serve::start(&back_dir, &[], &["--log", log.to_str().unwrap()]);
    let url = format!("http://{}/mcp", back.addr);
    let mut cmd = http::serve_command(&dir);
    cmd.args(["--listen", "127.0.0.1:0", "--upstream", &url]);
    let front = Serve::spawn(cmd).expect("serve --upstream starts");
    let sid = front.init(&[]);
    let ok = front.post(Some(&sid), &call(1, "echo", r#"{"via":"both"}"#));
    let m = ok.messages();
    assert_eq!(m.last().unwrap()["id"], 1, "{m:?}");
    assert!(m.last().unwrap()["result"].is_object(), "{m:?}");
    let blocked = front.post(
        Some(&sid),
        &call(2, "query", r#"{"sql":"SELECT * FROM t"}"#),
    );
    assert_eq!(
        blocked.messages()[0]["error"]["data"]["rule"],
        "sql.unbounded_read"
    );
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(seen.contains("\"via\":\"both\""), "{seen}");
    assert!(!seen.contains("SELECT"), "{seen}");
    let e = util::audit_entries(&dir);
    assert!(e.iter().any(|e| e["rule"] == "sql.unbounded_read"
        && e["server"]
            .as_str()
            .is_some_and(|s| s.contains(&back.addr.to_string()))));
}
