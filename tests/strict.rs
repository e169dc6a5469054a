//! End-to-end tests of the strict reading of client lines, at its exact limits: every kind
//! of refusal gets its JSON-RPC code and a message and detail that say what is wrong; a
//! duplicate of any top-level member is refused whichever copy is harmless; objects, like
//! arrays, nest to 100 levels and no deeper; a long malformed line is audited cut at 64 KiB;
//! and the gateway remembers the ids it answered itself (4,096 of them), so that a later
//! cancellation of one never reaches a server that never saw the request.

mod util;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const BLOCKED: i64 = -32010;

fn log_path(dir: &Path) -> PathBuf {
    dir.join("server.log")
}

/// `sentinel -- fake_server --log DIR/server.log`.
fn proxy(dir: &Path) -> Command {
    let mut c = util::command(dir);
    c.arg("--")
        .arg(util::fake_server())
        .arg("--log")
        .arg(log_path(dir));
    c
}

/// Runs `cmd` with `lines` (each followed by a newline) on stdin: (exit code, stdout lines
/// as JSON).
fn run(cmd: &mut Command, lines: &[Vec<u8>]) -> (i32, Vec<Value>) {
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let (status, out, err) = util::run(cmd, &input, T);
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    (0, util::json_lines_strict(&out))
}

fn server_log(dir: &Path) -> String {
    std::fs::read_to_string(log_path(dir)).unwrap_or_default()
}

/// A `tools/call` of `echo` whose arguments nest objects so that the message reaches `total`
/// levels (the message itself is level 1, `params` 2, `arguments`, the first of the nested
/// objects, 3).
fn nested_objects(id: u64, total: usize) -> String {
    let k = total - 2;
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{}1{}}}}}"#,
        r#"{"d":"#.repeat(k),
        "}".repeat(k)
    )
}

/// The error of the answer with this id.
fn error_of<'v>(answers: &'v [Value], id: &Value) -> &'v Value {
    answers
        .iter()
        .find(|a| a["id"] == *id)
        .map(|a| &a["error"])
        .unwrap_or_else(|| panic!("no answer with id {id}: {answers:?}"))
}

#[test]
fn every_kind_of_refusal_has_its_code_and_says_what_is_wrong() {
    let dir = util::scratch("strict-kinds");
    let mut not_utf8 = br#"{"jsonrpc":"2.0","id":"u","method":"ping","params":{"x":""#.to_vec();
    not_utf8.extend_from_slice(b"\xff\"}}");
    // (line, id of the answer, code, start of the message, what the detail must say)
    let cases: Vec<(Vec<u8>, Value, i64, &str, &str)> = vec![
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"ping""#.to_vec(),
            Value::Null,
            PARSE_ERROR,
            "Parse error: ",
            "not valid JSON",
        ),
        (
            not_utf8,
            Value::Null,
            PARSE_ERROR,
            "Parse error: ",
            "not valid UTF-8",
        ),
        (
            br#"{"jsonrpc":"2.0","jsonrpc":"1.0","id":3,"method":"ping"}"#.to_vec(),
            json!(3),
            PARSE_ERROR,
            "Parse error: ",
            r#"duplicate object key "jsonrpc""#,
        ),
        (
            nested_objects(4, 101).into_bytes(),
            json!(4),
            PARSE_ERROR,
            "Parse error: ",
            "nests deeper than 100 levels",
        ),
        (
            b"5".to_vec(),
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: ",
            "must be an object",
        ),
        (
            b"[]".to_vec(),
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: ",
            "empty JSON-RPC batch",
        ),
        (
            br#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#.to_vec(),
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: ",
            r#"invalid JSON-RPC member "id""#,
        ),
        (
            br#"{"jsonrpc":"2.0","id":7,"method":5}"#.to_vec(),
            json!(7),
            INVALID_REQUEST,
            "Invalid Request: ",
            r#"invalid JSON-RPC member "method""#,
        ),
    ];
    for (line, id, code, message, detail) in &cases {
        let (_, answers) = run(&mut util::command(&dir), std::slice::from_ref(line));
        assert_eq!(
            answers.len(),
            1,
            "{}: {answers:?}",
            String::from_utf8_lossy(line)
        );
        let e = error_of(&answers, id);
        assert_eq!(e["code"], json!(code), "{e}");
        let text = e["message"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(message) && text.contains(detail),
            "message {text:?} should start {message:?} and say {detail:?}"
        );
        assert!(
            e["data"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains(detail)),
            "data.detail should say {detail:?}: {e}"
        );
        assert_eq!(e["data"]["rule"], "jsonrpc.malformed", "{e}");
    }
}

/// Whichever copy of a repeated member is the harmless one, the line is refused: a reader that
/// keeps the first copy and one that keeps the last would disagree on what the server runs.
#[test]
fn a_repeated_member_is_refused_whichever_copy_is_harmless() {
    let dir = util::scratch("strict-dup-params");
    let drop = r#"{"name":"query","arguments":{"query":"DROP TABLE users"}}"#;
    let fine = r#"{"name":"query","arguments":{"query":"SELECT 1"}}"#;
    let lines: Vec<Vec<u8>> = [(drop, fine), (fine, drop)]
        .iter()
        .enumerate()
        .map(|(i, (first, last))| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{first},"params":{last}}}"#
            )
            .into_bytes()
        })
        .collect();
    let ping = br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#.to_vec();
    let mut all = lines.clone();
    all.push(ping.clone());
    let (_, answers) = run(&mut proxy(&dir), &all);
    for i in 0..2 {
        let e = error_of(&answers, &json!(i));
        assert_eq!(e["code"], json!(PARSE_ERROR), "{e}");
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains(r#"duplicate object key "params""#)),
            "{e}"
        );
    }
    assert_eq!(
        server_log(&dir),
        format!("{}\n", String::from_utf8_lossy(&ping)),
        "only the ping reached the server"
    );
}

/// Objects count as levels exactly as arrays do.
#[test]
fn objects_nest_to_100_levels_and_no_deeper() {
    let dir = util::scratch("strict-depth-objects");
    let ok = nested_objects(100, 100);
    let lines = vec![
        ok.clone().into_bytes(),
        nested_objects(101, 101).into_bytes(),
        nested_objects(112, 112).into_bytes(),
    ];
    let (_, answers) = run(&mut proxy(&dir), &lines);
    assert_eq!(answers.len(), 3, "{answers:?}");
    let echoed = answers
        .iter()
        .find(|a| a["id"] == 100)
        .expect("the 100-level call is answered by the server");
    assert_eq!(echoed["result"]["isError"], false, "{echoed}");
    for id in [101, 112] {
        let e = error_of(&answers, &json!(id));
        assert_eq!(e["code"], json!(PARSE_ERROR), "{e}");
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("nests deeper than 100 levels")),
            "{e}"
        );
    }
    assert_eq!(
        server_log(&dir),
        format!("{ok}\n"),
        "only the 100-level call reached it"
    );
}

/// A malformed line is kept in the audit log as a string, cut at 64 KiB, whatever its length.
#[test]
fn a_long_malformed_line_is_audited_cut_at_64_kib() {
    let dir = util::scratch("strict-long-malformed");
    // Not JSON: the string never ends.
    let mut line = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":""#.to_vec();
    line.extend(std::iter::repeat_n(b'a', 200 * 1024));
    let (_, answers) = run(&mut util::command(&dir), &[line.clone()]);
    assert_eq!(answers.len(), 1, "{answers:?}");
    let audit = util::audit_entries(&dir);
    assert_eq!(audit.len(), 1);
    let details = audit[0]["details"].as_str().expect("details as a string");
    assert_eq!(details.len(), 64 * 1024, "cut at 64 KiB");
    assert_eq!(
        details.as_bytes(),
        &line[..64 * 1024],
        "the start of the line"
    );
}

/// The gateway remembers the last 4,096 ids it answered itself: a cancellation for one of them
/// is swallowed (the server never saw the request); for an id answered longer ago it is passed
/// on, as for any request the gateway does not know.
#[test]
fn the_last_4096_ids_the_gateway_answered_are_remembered() {
    let dir = util::scratch("strict-answered-memory");
    let blocked = |i: u64| {
        util::tool_call(
            &i.to_string(),
            "query",
            r#"{"query":"SELECT * FROM users"}"#,
        )
        .into_bytes()
    };
    let cancel = |i: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{i}}}}}"#
        )
        .into_bytes()
    };
    let mut lines: Vec<Vec<u8>> = (1..=4097).map(blocked).collect();
    // #1 was answered 4,097 answers ago (forgotten); #2 is the oldest remembered.
    lines.push(cancel(1));
    lines.push(cancel(2));
    lines.push(cancel(4097));
    let (_, answers) = run(&mut proxy(&dir), &lines);
    assert_eq!(answers.len(), 4097);
    assert!(answers.iter().all(|a| a["error"]["code"] == json!(BLOCKED)));
    let log = server_log(&dir);
    assert_eq!(
        log,
        format!("{}\n", String::from_utf8_lossy(&cancel(1))),
        "only the cancellation of the forgotten id reaches the server"
    );
}

/// Only a notification (no id) is a cancellation: a request that happens to be named
/// `notifications/cancelled` is an ordinary request, passed on and answered by the server.
#[test]
fn a_request_named_notifications_cancelled_is_forwarded() {
    let dir = util::scratch("strict-cancel-request");
    let blocked = util::tool_call("5", "query", r#"{"query":"SELECT * FROM users"}"#).into_bytes();
    let request =
        br#"{"jsonrpc":"2.0","id":9,"method":"notifications/cancelled","params":{"requestId":5}}"#
            .to_vec();
    let (_, answers) = run(&mut proxy(&dir), &[blocked, request.clone()]);
    assert_eq!(error_of(&answers, &json!(5))["code"], json!(BLOCKED));
    assert_eq!(
        error_of(&answers, &json!(9))["code"],
        json!(-32601),
        "the server's own answer to a method it does not know"
    );
    assert_eq!(
        server_log(&dir),
        format!("{}\n", String::from_utf8_lossy(&request))
    );
}
