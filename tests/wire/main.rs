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

#[path = "../util/mod.rs"]
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

mod forwarding;
mod input;
mod order;
mod session;
