//! End-to-end tests of the strict reading of client lines, at its exact limits: every kind
//! of refusal gets its JSON-RPC code and a message and detail that say what is wrong; a
//! duplicate of any top-level member is refused whichever copy is harmless; objects, like
//! arrays, nest to 100 levels and no deeper; a long malformed line is audited cut at 64 KiB;
//! and the gateway remembers the ids it answered itself (4,096 of them), so that a later
//! cancellation of one never reaches a server that never saw the request. A `tools/call`
//! whose `params` is not an `{name, arguments}` object is refused with -32602, in every mode.

mod util;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const BLOCKED: i64 = -32010;
const INVALID_PARAMS: i64 = -32602;

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

/// The `tools/call` lines whose params cannot be judged, with what the refusal must say.
fn unreadable_params() -> Vec<(String, &'static str)> {
    let call = |id: u64, params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#)
    };
    vec![
        (
            call(1, r#"["drop_table",{"sql":"DROP TABLE users"}]"#),
            "params is an array, not an object",
        ),
        (
            call(2, r#""drop_table""#),
            "params is a string, not an object",
        ),
        (call(3, "42"), "params is a number, not an object"),
        (call(4, "null"), "params is null, not an object"),
        (
            call(5, r#"{"name":"echo","arguments":["DROP TABLE users"]}"#),
            "params.arguments is an array, not an object",
        ),
        (
            call(6, r#"{"name":"echo","arguments":"DROP TABLE users"}"#),
            "params.arguments is a string, not an object",
        ),
        (
            call(7, r#"{"name":"echo","arguments":42}"#),
            "params.arguments is a number, not an object",
        ),
        (
            call(8, r#"{"name":["echo"],"arguments":{}}"#),
            "params.name is an array, not a string",
        ),
        (
            call(9, r#"{"name":7}"#),
            "params.name is a number, not a string",
        ),
        (
            call(10, r#"{"name":"echo","arguments":true}"#),
            "params.arguments is a boolean, not an object",
        ),
    ]
}

/// Each unreadable `params` is answered -32602 with the rule, a detail that names the defect and
/// a hint; it never reaches the server, is audited, and is refused in monitor mode and with
/// `--block-as result` too. Well-formed calls on the same line stream, and calls with no params
/// or no name at all, still go through.
#[test]
fn a_tools_call_whose_params_cannot_be_read_is_refused_with_32602() {
    let cases = unreadable_params();
    let mut lines: Vec<Vec<u8>> = cases.iter().map(|(l, _)| l.clone().into_bytes()).collect();
    let ok = r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    let no_args = r#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo"}}"#;
    // Without params or a name, or with null arguments (no arguments to the Python SDK),
    // nothing is hidden: the server answers its own error or reads no arguments.
    let no_params = r#"{"jsonrpc":"2.0","id":13,"method":"tools/call"}"#;
    let no_name = r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"arguments":{}}}"#;
    let null_args = r#"{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"echo","arguments":null}}"#;
    let passing = [ok, no_args, no_params, no_name, null_args];
    lines.extend(passing.iter().map(|l| l.as_bytes().to_vec()));
    let policy_dir = util::scratch("strict-params-policy");
    let monitor = policy_dir.join("monitor.yaml");
    std::fs::write(
        &monitor,
        "version: 1\nprofiles:\n  default:\n    mode: monitor\n    rules: []\n",
    )
    .unwrap();
    let monitor = monitor.to_str().unwrap();
    for (mode, extra) in [
        ("demo", vec![]),
        ("proxy", vec![]),
        ("proxy-monitor", vec!["--policy", monitor]),
        ("proxy-result", vec!["--block-as", "result"]),
    ] {
        let dir = util::scratch(&format!("strict-params-{mode}"));
        let mut cmd = if mode == "demo" {
            util::command(&dir)
        } else {
            let mut c = util::command(&dir);
            c.args(&extra);
            c.arg("--")
                .arg(util::fake_server())
                .arg("--log")
                .arg(log_path(&dir));
            c
        };
        let (_, answers) = run(&mut cmd, &lines);
        for (i, (line, says)) in cases.iter().enumerate() {
            let id = json!(i + 1);
            let e = error_of(&answers, &id);
            assert_eq!(e["code"], json!(INVALID_PARAMS), "{mode} {line}: {e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("Invalid params: ") && message.contains(says),
                "{mode} {line}: message {message:?} should say {says:?}"
            );
            assert_eq!(e["data"]["rule"], "jsonrpc.invalid_params", "{mode}: {e}");
            assert!(
                e["data"]["hint"]
                    .as_str()
                    .is_some_and(|h| h.contains("\"name\"")),
                "{e}"
            );
        }
        // The well-formed calls are not answered by Sentinel.
        for id in [11, 12, 13, 14, 15] {
            assert!(
                answers
                    .iter()
                    .all(|a| a["id"] != json!(id) || a.get("error").is_none()),
                "{mode}: call {id} was refused: {answers:?}"
            );
        }
        let audit = util::audit_entries(&dir);
        let refused: Vec<&Value> = audit
            .iter()
            .filter(|a| a["rule"] == "jsonrpc.invalid_params")
            .collect();
        assert_eq!(refused.len(), cases.len(), "{mode}: {audit:?}");
        assert!(
            refused.iter().all(|a| a["action"] == "blocked"),
            "{mode}: {refused:?}"
        );
        if mode != "demo" {
            let log = server_log(&dir);
            for (line, _) in &cases {
                assert!(
                    !log.contains(line.as_str()),
                    "{mode}: reached the server: {line}"
                );
            }
            for line in passing {
                assert!(
                    log.contains(line),
                    "{mode}: {line} did not reach the server: {log}"
                );
            }
        }
    }
}
