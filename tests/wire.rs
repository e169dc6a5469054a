//! Wire-level tests of the stdio proxy: the real `sentinel` binary between the test (the
//! client) and the fake MCP server (`tests/support/fake_server.rs`, or a tiny shell script where
//! the server's exact output bytes matter).
//!
//! What is checked: allowed messages reach the server byte for byte (the fake server's `--log`
//! records every line it receives) and server output reaches the client byte for byte; blocked
//! and malformed messages never reach the server and are answered with the request's exact id;
//! batches are split element by element; cancellations for requests the gateway answered are
//! swallowed; ordering, large messages, environment, stderr, the audit log and the end of the
//! session (requests left unanswered by a server that exits get -32011, exactly once).

mod util;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use util::Session;

/// Generous per-step limit, so a slow CI machine does not flake.
const T: Duration = Duration::from_secs(10);

const BLOCKED: i64 = -32010;
const SERVER_GONE: i64 = -32011;
const PARSE_ERROR: i64 = -32700;
const MALFORMED: &str = "jsonrpc.malformed";
const UNBOUNDED_READ: &str = "sql.unbounded_read";

/// `query` arguments that the default policy blocks (sql.unbounded_read).
const UNBOUNDED: &str = r#"{"query":"SELECT * FROM users"}"#;
/// `query` arguments that the default policy allows.
const BOUNDED: &str = r#"{"query":"SELECT id FROM users LIMIT 10"}"#;

/// What the fake server answers to `tools/list` (copied from tests/support/fake_server.rs).
const TOOLS_LIST_RESULT: &str = r#"{"tools":[{"name":"query","description":"Run a query","inputSchema":{"type":"object","properties":{"query":{"type":"string"}}}},{"name":"echo","description":"Echo the arguments back as text","inputSchema":{"type":"object"}},{"name":"big","description":"Return a text of `bytes` 'x' characters","inputSchema":{"type":"object","properties":{"bytes":{"type":"integer"}}}},{"name":"sleep","description":"Sleep `ms` milliseconds, then answer","inputSchema":{"type":"object","properties":{"ms":{"type":"integer"}}}},{"name":"fail","description":"Always fails with isError","inputSchema":{"type":"object"}}]}"#;
/// What `--notify-at-start` makes the fake server send first.
const START_NOTIFICATION: &str = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"fake_server started"}}"#;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Where the fake server records every line it receives.
fn log_path(dir: &Path) -> PathBuf {
    dir.join("server.log")
}

/// `sentinel --no-color --audit-log DIR/audit.log SENTINEL_ARGS -- fake_server --log
/// DIR/server.log SERVER_ARGS`.
fn proxy_cmd(dir: &Path, sentinel_args: &[&str], server_args: &[&str]) -> Command {
    let mut c = util::command(dir);
    c.args(sentinel_args)
        .arg("--")
        .arg(util::fake_server())
        .arg("--log")
        .arg(log_path(dir))
        .args(server_args);
    c
}

fn start(dir: &Path, sentinel_args: &[&str], server_args: &[&str]) -> Session {
    Session::spawn(&mut proxy_cmd(dir, sentinel_args, server_args))
}

/// Writes the built-in SQL rule with the circuit breaker off to `DIR/no-breaker.yaml`: for
/// tests that pour hundreds of calls (some identical) in at once to check ordering, which the
/// breaker's default rate limit and loop detection would rightly refuse.
fn without_breaker(dir: &Path) -> String {
    let path = dir.join("no-breaker.yaml");
    std::fs::write(
        &path,
        "version: 1\nprofiles:\n  default:\n    rules:\n      - id: sql\n        sql: {}\n\
         \x20       action: block\n    breaker: {mode: off}\n",
    )
    .expect("write the policy");
    path.to_string_lossy().into_owned()
}

/// Closes the client side and waits for sentinel to exit: (exit code, rest of stdout).
fn end(s: &mut Session) -> (i32, Vec<u8>) {
    s.close_stdin();
    let status = s.wait(T);
    let out = s.rest_of_stdout();
    (status.code().unwrap_or(-1), out)
}

/// Everything the fake server received (read after the session ended).
fn server_log(dir: &Path) -> Vec<u8> {
    std::fs::read(log_path(dir)).unwrap_or_default()
}

/// Lines joined, each followed by `\n`: what the server log holds when exactly these arrived.
fn lines(ls: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in ls {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() > 2000 {
        let head: String = s.chars().take(2000).collect();
        format!("{head}... ({} bytes)", bytes.len())
    } else {
        s.into_owned()
    }
}

/// Asserts two byte strings are equal, printing them readably (and shortened) when not.
#[track_caller]
fn assert_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let at = actual
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(actual.len().min(expected.len()));
        panic!(
            "{what}: bytes differ (first difference at byte {at}; {} vs {} bytes)\n  \
             actual:   {}\n  expected: {}",
            actual.len(),
            expected.len(),
            show(actual),
            show(expected)
        );
    }
}

/// The exact JSON text of a message's top-level `id` (`None` when it has none).
fn raw_id(message: &str) -> Option<String> {
    let m: BTreeMap<String, Box<RawValue>> = serde_json::from_str(message)
        .unwrap_or_else(|e| panic!("not a JSON object ({e}): {}", show(message.as_bytes())));
    m.get("id").map(|r| r.get().to_owned())
}

/// The messages of one stdout line: (raw id text, parsed message). A batch answer (array)
/// yields its elements; the flag says whether the line was an array.
fn messages(line: &[u8]) -> (bool, Vec<(String, Value)>) {
    let text = std::str::from_utf8(line)
        .unwrap_or_else(|_| panic!("stdout line is not UTF-8: {}", show(line)));
    let one = |t: &str| {
        let v: Value =
            serde_json::from_str(t).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(line)));
        (raw_id(t).unwrap_or_else(|| "(none)".into()), v)
    };
    if text.trim_start().starts_with('[') {
        let items: Vec<Box<RawValue>> = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("not a JSON array ({e}): {}", show(line)));
        (true, items.iter().map(|r| one(r.get())).collect())
    } else {
        (false, vec![one(text)])
    }
}

/// All messages of a stretch of stdout, batch answers flattened.
fn all_messages(out: &[u8]) -> Vec<(String, Value)> {
    out.split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .flat_map(|l| messages(l).1)
        .collect()
}

/// A request line.
fn request(id: &str, method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
}

/// What the fake server writes for an `echo` call with these arguments (newline included).
fn echo_response(id: &str, arguments: &str) -> Vec<u8> {
    let args: Value = serde_json::from_str(arguments).expect("arguments are JSON");
    let text = serde_json::to_string(&args).unwrap();
    let mut out = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":{}}}],"isError":false}}}}"#,
        serde_json::to_string(&text).unwrap()
    )
    .into_bytes();
    out.push(b'\n');
    out
}

/// Checks a gateway error: code, a non-empty message, and (when given) `data.rule` plus a
/// non-empty `data.hint`.
#[track_caller]
fn assert_error(msg: &Value, code: i64, rule: Option<&str>) {
    assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
    assert!(msg.get("result").is_none(), "an error has no result: {msg}");
    let err = &msg["error"];
    assert_eq!(err["code"], json!(code), "error code: {msg}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error message: {msg}"
    );
    if let Some(rule) = rule {
        assert_eq!(err["data"]["rule"], rule, "data.rule: {msg}");
        assert!(
            err["data"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "data.hint: {msg}"
        );
    }
}

/// Receives one stdout line that must be a single (non-batch) message.
#[track_caller]
fn recv_one(s: &Session) -> (String, Value, Vec<u8>) {
    let raw = s.recv_raw(T);
    let (is_batch, mut ms) = messages(&raw);
    assert!(!is_batch, "expected a single message, got {}", show(&raw));
    let (id, v) = ms.remove(0);
    (id, v, raw)
}

/// How many times each id occurs.
fn id_counts(ms: &[(String, Value)]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (id, _) in ms {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    counts
}

/// Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SS[.fraction]Z` timestamp; `None` if it has
/// another shape (an offset other than Z, missing parts, ...).
fn rfc3339_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || !s.ends_with('Z') {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    if !(frac.is_empty()
        || (frac.len() > 1
            && frac.starts_with('.')
            && frac[1..].bytes().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A tools/call echo whose arguments nest `total` levels deep, the message itself counting as
/// level 1 (message, params, arguments, then arrays).
fn nested(id: &str, total: usize) -> String {
    let k = total - 3;
    request(
        id,
        "tools/call",
        &format!(
            r#"{{"name":"echo","arguments":{{"d":{}1{}}}}}"#,
            "[".repeat(k),
            "]".repeat(k)
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Byte-for-byte forwarding
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Blocking
// ---------------------------------------------------------------------------------------------

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
    assert_eq!(audit[0]["action"], "blocked");
    assert_eq!(
        audit[0]["details"],
        serde_json::from_str::<Value>(note).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------------

fn cancel(request_id: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Size and order
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Session shapes and methods
// ---------------------------------------------------------------------------------------------

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
    assert!(util::audit_entries(&dir).is_empty());
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

// ---------------------------------------------------------------------------------------------
// Process environment, stderr, audit
// ---------------------------------------------------------------------------------------------

#[test]
fn the_server_inherits_environment_and_working_directory() {
    let dir = util::scratch("env");
    let cwd = dir.join("work dir");
    std::fs::create_dir_all(&cwd).unwrap();
    let env_file = dir.join("env.txt");
    let mut cmd = util::command(&dir);
    cmd.current_dir(&cwd)
        .env("SECRET_TOKEN", "abc")
        .env("SENTINEL_WIRE_ODD", "a=b c\t\u{e4}");
    cmd.arg("--")
        .arg(util::fake_server())
        .arg("--env-file")
        .arg(&env_file);
    let mut s = Session::spawn(&mut cmd);
    util::wait_for_file(&env_file, T);
    let (code, _) = end(&mut s);
    assert_eq!(code, 0);

    let contents = std::fs::read(&env_file).unwrap();
    let (first, rest) =
        contents.split_at(contents.iter().position(|&b| b == b'\n').expect("cwd line") + 1);
    assert_bytes(
        first,
        format!("{}\n", cwd.canonicalize().unwrap().display()).as_bytes(),
        "server working directory",
    );

    // Exactly sentinel's environment: the test's, minus what util::command removes, plus ours.
    let mut want: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    want.remove(&OsString::from("SENTINEL_AUDIT_LOG"));
    want.remove(&OsString::from("NO_COLOR"));
    want.insert("SECRET_TOKEN".into(), "abc".into());
    want.insert("SENTINEL_WIRE_ODD".into(), "a=b c\t\u{e4}".into());
    let mut want_lines: Vec<Vec<u8>> = Vec::new();
    for (k, v) in &want {
        let mut entry = k.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(v.as_bytes());
        want_lines.extend(entry.split(|&b| b == b'\n').map(<[u8]>::to_vec));
    }
    let mut got_lines: Vec<Vec<u8>> = rest
        .strip_suffix(b"\n")
        .unwrap_or(rest)
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    want_lines.sort();
    got_lines.sort();
    assert!(
        got_lines.iter().any(|l| l == b"SECRET_TOKEN=abc"),
        "SECRET_TOKEN reaches the server"
    );
    assert_eq!(
        got_lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>(),
        want_lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>(),
        "the server's environment is sentinel's, unchanged"
    );
}

#[test]
fn server_stderr_goes_to_sentinel_stderr_never_stdout() {
    let dir = util::scratch("stderr");
    let text = "fake-server-diagnostic: \u{e9}t\u{e9} 42";
    let mut s = start(&dir, &[], &["--stderr", text]);
    let ping = request("1", "ping", "{}");
    s.send(&ping);
    let first = s.recv_raw(T);
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(
        &[first, rest].concat(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n",
        "stdout holds only JSON-RPC",
    );
    let stderr = s.stderr();
    assert!(
        stderr.contains(&format!("{text}\n")),
        "server stderr passed on: {stderr}"
    );
}

#[test]
fn audit_entries_describe_each_block() {
    let dir = util::scratch("audit");
    let mut s = start(&dir, &[], &[]);
    let line = util::tool_call(r#""a-1""#, "query", UNBOUNDED);
    let big = util::tool_call("123456789012345678901234567890", "query", UNBOUNDED);
    s.send_raw(&lines(&[&line, &big]));
    for _ in 0..2 {
        let (_, v, _) = recv_one(&s);
        assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
    }
    let (code, _) = end(&mut s);
    assert_eq!(code, 0);

    let text = std::fs::read_to_string(dir.join("audit.log")).expect("audit log written");
    assert!(text.ends_with('\n'), "JSON Lines end with a newline");
    let raw_lines: Vec<&str> = text.lines().collect();
    assert_eq!(raw_lines.len(), 2, "{text}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let server = util::fake_server().to_string_lossy().into_owned();
    for (raw, (sent, id)) in raw_lines.iter().zip([
        (&line, r#""a-1""#),
        (&big, "123456789012345678901234567890"),
    ]) {
        let e: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
        for key in [
            "timestamp",
            "message_id",
            "method",
            "reason",
            "rule",
            "tool",
            "action",
            "server",
            "details",
        ] {
            assert!(e.get(key).is_some(), "audit entry has {key}: {raw}");
        }
        let ts = e["timestamp"].as_str().expect("timestamp string");
        let secs = rfc3339_utc(ts).unwrap_or_else(|| panic!("RFC 3339 UTC (Z): {ts}"));
        assert!((secs - now).abs() < 600, "timestamp is now-ish: {ts}");
        // The id's exact text, big integers included.
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw).unwrap();
        assert_eq!(fields["message_id"].get(), id, "{raw}");
        assert_eq!(e["method"], "tools/call");
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{raw}");
        assert_eq!(e["rule"], UNBOUNDED_READ);
        assert_eq!(e["tool"], "query");
        assert_eq!(e["action"], "blocked");
        let srv = e["server"].as_str().expect("server string");
        assert!(srv.contains(&server), "server names the command: {srv}");
        assert!(srv.contains("--log"), "with its arguments: {srv}");
        assert_eq!(
            fields["details"].get(),
            sent.as_str(),
            "details is the message as received"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End of session
// ---------------------------------------------------------------------------------------------

#[test]
fn requests_left_waiting_when_the_server_exits_get_server_gone_once() {
    let dir = util::scratch("exit-after");
    let mut s = start(&dir, &[], &["--exit-after", "2", "--exit-code", "3"]);
    let sent = [
        util::tool_call("1", "echo", "{}"),
        util::tool_call(r#""two""#, "echo", r#"{"n":2}"#),
        util::tool_call("3", "echo", "{}"),
        util::tool_call("123456789012345678901234567890", "silent", "{}"),
        util::tool_call(r#""five""#, "query", BOUNDED),
    ];
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    // The client side stays open: the server's exit ends the session.
    let status = s.wait(T);
    let out = s.rest_of_stdout();
    assert_eq!(status.code(), Some(3), "stderr: {}", s.stderr());
    let out_lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(out_lines.len(), 5, "stdout: {}", show(&out));
    assert_bytes(out_lines[0], &echo_response("1", "{}"), "answer 1");
    assert_bytes(
        out_lines[1],
        &echo_response(r#""two""#, r#"{"n":2}"#),
        "answer 2",
    );
    for (line, id) in
        out_lines[2..]
            .iter()
            .zip(["3", "123456789012345678901234567890", r#""five""#])
    {
        let (is_batch, ms) = messages(line);
        assert!(!is_batch);
        assert_eq!(ms[0].0, id, "{}", show(line));
        assert_error(&ms[0].1, SERVER_GONE, None);
    }
    assert_bytes(&server_log(&dir), &lines(&refs[..2]), "server log");
}

#[test]
fn unanswered_requests_get_server_gone_after_client_eof() {
    let dir = util::scratch("silent");
    let mut s = start(&dir, &[], &["--exit-code", "3"]);
    let sent = [
        util::tool_call("1", "echo", "{}"),
        util::tool_call(r#""s""#, "silent", "{}"),
        util::tool_call("2", "query", UNBOUNDED),
        util::tool_call("123456789012345678901234567890", "silent", "{}"),
        util::tool_call("-5", "silent", "{}"),
    ];
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    let mut got = Vec::new();
    for _ in 0..2 {
        let (id, v, _) = recv_one(&s);
        got.push((id, v));
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 3, "sentinel exits with the server's code");
    let rest_msgs = all_messages(&rest);
    got.extend(rest_msgs.iter().cloned());
    let counts = id_counts(&got);
    assert_eq!(got.len(), 5, "{got:?}");
    for id in ["1", r#""s""#, "2", "123456789012345678901234567890", "-5"] {
        assert_eq!(counts.get(id), Some(&1), "id {id}: {got:?}");
    }
    let by_id = |id: &str| &got.iter().find(|(i, _)| i == id).unwrap().1;
    assert_eq!(by_id("1")["result"]["isError"], false);
    assert_error(by_id("2"), BLOCKED, Some(UNBOUNDED_READ));
    assert_eq!(
        rest_msgs
            .iter()
            .map(|(i, _)| i.as_str())
            .collect::<Vec<_>>(),
        [r#""s""#, "123456789012345678901234567890", "-5"],
        "server-gone answers in the order the requests were sent"
    );
    for (_, v) in &rest_msgs {
        assert_error(v, SERVER_GONE, None);
    }
    let forwarded: Vec<&str> = [0, 1, 3, 4].iter().map(|&i| refs[i]).collect();
    assert_bytes(&server_log(&dir), &lines(&forwarded), "server log");
}

/// A shell-script server: `sentinel -- sh -c SCRIPT`.
fn script_server(dir: &Path, script: &str) -> Session {
    let mut cmd = util::command(dir);
    cmd.arg("--").arg("sh").arg("-c").arg(script);
    Session::spawn(&mut cmd)
}

#[test]
fn gateway_answers_never_land_inside_a_half_written_server_message() {
    let dir = util::scratch("interleave");
    let mut s = script_server(
        &dir,
        r#"read -r a; printf '%s' '{"jsonrpc":"2.0","id":1,"res'; sleep 1; printf '%s\n' 'ult":{}}'; cat >/dev/null"#,
    );
    s.send(&util::tool_call("1", "echo", "{}"));
    std::thread::sleep(Duration::from_millis(300));
    // Answered by the gateway while the server is in the middle of a line.
    s.send(&util::tool_call("2", "query", UNBOUNDED));
    assert_bytes(
        &s.recv_raw(T),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n",
        "the server's message, whole",
    );
    let (id, v, _) = recv_one(&s);
    assert_eq!(id, "2");
    assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
}

#[test]
fn a_server_dying_mid_message_still_leaves_one_server_gone_answer() {
    let dir = util::scratch("die-mid-line");
    let partial = br#"{"jsonrpc":"2.0","id":1,"res"#;
    let mut s = script_server(
        &dir,
        r#"read -r a; printf '%s' '{"jsonrpc":"2.0","id":1,"res'; exit 4"#,
    );
    s.send(&util::tool_call("1", "echo", "{}"));
    let status = s.wait(T);
    let out = s.rest_of_stdout();
    assert_eq!(status.code(), Some(4), "stderr: {}", s.stderr());
    assert!(out.starts_with(partial), "stdout: {}", show(&out));
    let out_lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(out_lines.len(), 2, "stdout: {}", show(&out));
    let (is_batch, ms) = messages(out_lines[1]);
    assert!(!is_batch);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].0, "1", "stdout: {}", show(&out));
    assert_error(&ms[0].1, SERVER_GONE, None);
}
