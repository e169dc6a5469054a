//! `sentinel --upstream URL`: the real binary in upstream mode against a fake MCP server over
//! HTTP (`tests/support/fake_http_server.rs`): Streamable HTTP with a session, progress
//! streamed in order, the GET stream, resumption with `Last-Event-ID`; the legacy HTTP+SSE
//! transport by fallback and forced; a call the default policy blocks never reaching the
//! server; and the bad paths (nothing listening, the server dying mid-stream, a malformed
//! headers file, a SERVER_CMD with --upstream), with header values never on stderr.

mod util;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use util::{command, scratch, tool_call, wait_for_file, Session};

const T: Duration = Duration::from_secs(15);
const SECRET: &str = "Bearer s3cret-upstream-token";

/// The fake HTTP server example, built on first use like `util::fake_server`.
fn fake_http_server() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let bin = util::sentinel();
    let dir = bin.parent().expect("binary has a directory");
    let path = dir.join("examples").join("fake_http_server");
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    BUILD.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let ok = Command::new(cargo)
            .args([
                "build",
                "--example",
                "fake_http_server",
                "--profile",
                profile,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not build the fake_http_server example");
    });
    path
}

/// A running fake server: its port and request log; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port_file = dir.join("port");
        let log = dir.join("http.log");
        let child = Command::new(fake_http_server())
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .spawn()
            .expect("start the fake HTTP server");
        let port = wait_for_file(&port_file, T).trim().parse().expect("port");
        Server { child, port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn upstream(dir: &Path, url: &str, extra: &[&str]) -> Session {
    let mut c = command(dir);
    c.arg("--upstream").arg(url).args(extra);
    c.env(
        "SENTINEL_UPSTREAM_HEADERS",
        format!("Authorization: {SECRET}"),
    );
    Session::spawn(&mut c)
}

fn initialize(s: &mut Session) -> Value {
    s.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#);
    let init = s.recv(T);
    s.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    init
}

/// The next message that is not a notification from the server's GET stream.
fn recv_skipping_log(s: &Session) -> Value {
    loop {
        let v = s.recv(T);
        if v["method"] != "notifications/message" {
            return v;
        }
    }
}

fn end(mut s: Session) -> String {
    s.close_stdin();
    let status = s.wait(T);
    let err = s.stderr();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(!err.contains("s3cret"), "a header value on stderr: {err}");
    err
}

#[test]
fn streamable_http_session_with_progress_and_a_block_before_the_server() {
    let dir = scratch("upstream-streamable");
    let server = Server::start(&dir);
    let mut s = upstream(&dir, &server.url("/mcp"), &[]);
    let init = initialize(&mut s);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");

    s.send(&tool_call("2", "query", r#"{"sql":"DROP TABLE users"}"#));
    let blocked = s.recv(T);
    assert_eq!(blocked["id"], 2);
    assert!(blocked["error"].is_object(), "not blocked: {blocked}");

    s.send(&tool_call(
        "3",
        "query",
        r#"{"sql":"SELECT name FROM users LIMIT 5"}"#,
    ));
    let ran = recv_skipping_log(&s);
    assert_eq!(ran["id"], 3, "{ran}");
    assert_eq!(
        ran["result"]["content"][0]["text"],
        "ran: SELECT name FROM users LIMIT 5"
    );

    s.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"progress","arguments":{},"_meta":{"progressToken":"tok"}}}"#);
    let mut seen = Vec::new();
    let done = loop {
        let v = recv_skipping_log(&s);
        if v["method"] == "notifications/progress" {
            assert_eq!(v["params"]["progressToken"], "tok");
            seen.push(v["params"]["progress"].as_u64().unwrap());
        } else {
            break v;
        }
    };
    assert_eq!(seen, [1, 2, 3], "progress in order before the answer");
    assert_eq!(done["id"], 4);
    assert_eq!(done["result"]["content"][0]["text"], "progress done");
    end(s);

    let log = server.log();
    assert!(
        !log.contains("DROP TABLE"),
        "the blocked call reached the server:\n{log}"
    );
    assert!(log.contains("SELECT name FROM users"), "{log}");
    assert!(log.contains(&format!("authorization: {SECRET}")), "{log}");
    assert!(log.contains("GET /mcp"), "no GET stream: {log}");
    assert!(log.contains("DELETE /mcp"), "no DELETE at the end: {log}");
}

#[test]
fn a_batch_from_the_client_is_sent_message_by_message() {
    let dir = scratch("upstream-batch");
    let server = Server::start(&dir);
    let mut s = upstream(&dir, &server.url("/mcp"), &[]);
    initialize(&mut s);
    s.send(r#"[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","id":8,"method":"tools/list"}]"#);
    let mut ids: Vec<u64> = (0..2)
        .map(|_| recv_skipping_log(&s)["id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [7, 8]);
    end(s);
}

#[test]
fn the_get_stream_brings_the_servers_own_messages() {
    let dir = scratch("upstream-get");
    let server = Server::start(&dir);
    let mut s = upstream(
        &dir,
        &server.url("/mcp"),
        &["--transport", "streamable-http"],
    );
    initialize(&mut s);
    let hello = s.recv(T);
    assert_eq!(hello["method"], "notifications/message", "{hello}");
    assert_eq!(hello["params"]["data"], "hello from the GET stream");
    end(s);
}

#[test]
fn a_broken_stream_is_resumed_with_last_event_id() {
    let dir = scratch("upstream-resume");
    let server = Server::start(&dir);
    let mut s = upstream(&dir, &server.url("/mcp"), &[]);
    initialize(&mut s);
    s.send(r#"{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"resume","arguments":{},"_meta":{"progressToken":7}}}"#);
    let progress = recv_skipping_log(&s);
    assert_eq!(progress["method"], "notifications/progress", "{progress}");
    let done = recv_skipping_log(&s);
    assert_eq!(done["id"], 99, "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "resumed");
    end(s);
}

#[test]
fn legacy_http_sse_by_fallback_and_when_forced() {
    for extra in [&[][..], &["--transport", "sse"][..]] {
        let dir = scratch("upstream-legacy");
        let server = Server::start(&dir);
        let mut s = upstream(&dir, &server.url("/sse"), extra);
        let init = initialize(&mut s);
        assert_eq!(init["id"], 1, "{extra:?}: {init}");
        assert_eq!(init["result"]["serverInfo"]["name"], "fake-http");
        s.send(&tool_call("2", "query", r#"{"sql":"DROP TABLE users"}"#));
        assert!(s.recv(T)["error"].is_object());
        s.send(&tool_call("3", "query", r#"{"sql":"SELECT 1"}"#));
        let ran = s.recv(T);
        assert_eq!(
            ran["result"]["content"][0]["text"], "ran: SELECT 1",
            "{ran}"
        );
        let err = end(s);
        let log = server.log();
        assert!(!log.contains("DROP TABLE"), "{log}");
        assert_eq!(
            log.contains("POST /sse"),
            extra.is_empty(),
            "auto tries Streamable HTTP first, sse does not:\n{log}"
        );
        assert!(log.contains(&format!("authorization: {SECRET}")), "{log}");
        if extra.is_empty() {
            assert!(err.contains("trying HTTP+SSE"), "{err}");
        }
    }
}

#[test]
fn nothing_listening_answers_every_request_and_exits_cleanly() {
    let dir = scratch("upstream-refused");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = upstream(&dir, &format!("http://127.0.0.1:{port}/mcp"), &[]);
    let init = initialize(&mut s);
    assert_eq!(init["id"], 1);
    let msg = init["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("could not reach"), "{init}");
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    let list = s.recv(T);
    assert_eq!(list["id"], 2);
    assert!(list["error"].is_object(), "{list}");
    let err = end(s);
    assert!(
        err.contains("not delivered"),
        "the failed notification is reported: {err}"
    );
}

#[test]
fn the_server_going_away_mid_stream_answers_the_call() {
    let dir = scratch("upstream-crash");
    let server = Server::start(&dir);
    let mut s = upstream(&dir, &server.url("/mcp"), &[]);
    initialize(&mut s);
    s.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"crash","arguments":{},"_meta":{"progressToken":1}}}"#);
    let progress = recv_skipping_log(&s);
    assert_eq!(progress["method"], "notifications/progress", "{progress}");
    let answer = recv_skipping_log(&s);
    assert_eq!(answer["id"], 5, "{answer}");
    assert!(answer["error"].is_object(), "{answer}");
    s.send(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#);
    let ping = recv_skipping_log(&s);
    assert_eq!(ping["id"], 6);
    assert!(
        ping["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not reach"),
        "{ping}"
    );
    end(s);
    drop(server);
}

#[test]
fn an_expired_session_is_said_and_answered_not_silently_renewed() {
    let dir = scratch("upstream-expired");
    let server = Server::start(&dir);
    let mut s = upstream(&dir, &server.url("/mcp"), &[]);
    initialize(&mut s);
    s.send(&tool_call("2", "expire", "{}"));
    assert_eq!(recv_skipping_log(&s)["id"], 2);
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
    let list = recv_skipping_log(&s);
    assert_eq!(list["id"], 3);
    let msg = list["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("session has expired") && msg.contains("restart"),
        "{list}"
    );
    let err = end(s);
    assert!(err.contains("ended the session"), "{err}");
    let log = server.log();
    assert_eq!(
        log.matches("\"initialize\"").count(),
        1,
        "re-initialized:\n{log}"
    );
}

#[test]
fn refused_credentials_from_a_headers_file_are_named_never_shown() {
    let dir = scratch("upstream-401");
    let server = Server::start(&dir);
    let file = dir.join("headers.txt");
    std::fs::write(&file, "# the token\nAuthorization: Bearer bad-s3cret\n").unwrap();
    let mut c = command(&dir);
    c.arg("--upstream")
        .arg(server.url("/mcp"))
        .arg("--upstream-headers")
        .arg(&file);
    let mut s = Session::spawn(&mut c);
    let init = initialize(&mut s);
    let msg = init["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("HTTP 401") && msg.contains("--upstream-headers"),
        "{init}"
    );
    assert!(!msg.contains("s3cret"), "{init}");
    end(s);
    assert!(server.log().contains("authorization: Bearer bad-s3cret"));
}

#[test]
fn a_malformed_headers_file_is_a_usage_error_without_its_values() {
    let dir = scratch("upstream-headers");
    let file = dir.join("headers.txt");
    std::fs::write(
        &file,
        "# token\nX-Team: blue\nAuthorization Bearer s3cret-in-file\n",
    )
    .unwrap();
    let mut c = command(&dir);
    c.args(["--upstream", "http://127.0.0.1:1/mcp", "--upstream-headers"])
        .arg(&file);
    let (status, out, err) = util::run(&mut c, b"", T);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("headers.txt line 3"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn upstream_with_a_server_command_or_a_bad_url_is_a_usage_error() {
    let dir = scratch("upstream-usage");
    for args in [
        &["--upstream", "http://127.0.0.1:1/mcp", "cat"][..],
        &["--upstream", "ws://127.0.0.1:1/mcp"][..],
        &["--transport", "sse", "cat"][..],
    ] {
        let (status, _, err) = util::run(command(&dir).args(args), b"", T);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--upstream") || err.contains("--transport"),
            "{err}"
        );
    }
}
