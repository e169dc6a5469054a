//! End-to-end tests of the exfiltration guard (README "Exfiltration guard"), driving the real
//! `sentinel` binary in demo mode (no server: JSON-RPC lines on stdin, forwarded lines echoed
//! on stdout, refusals answered) and in proxy mode in front of the fake MCP server, whose
//! `--log` records every line that reached it.
//!
//! What is checked: each destination class (allow-listed, denied, unlisted, private, cloud
//! metadata) with its exact rule id, reason and argument pointer, in every spelling the README
//! promises to see through (case, IPv6, numeric IPv4, punycode and homographs, URLs inside
//! nested values, SQL, shell lines, e-mail and `user@host:`), and names that are not hosts;
//! the built-in default reporting without blocking; `checks` subsets; secrets of every shape,
//! blocked unless every destination of the call is allow-listed and never written in clear
//! (audit log, stderr, the error returned), whatever hides them; `max_argument_bytes`; and
//! `policy check` refusing bad egress rules.
//!
//! The fake secrets are assembled at run time, so that secret scanners run on this repository
//! do not fire on the source.

#[path = "../util/mod.rs"]
mod util;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Generous per-run limit, so a slow machine does not flake.
const T: Duration = Duration::from_secs(20);

const BLOCKED: i64 = -32010;

// ---------------------------------------------------------------------------------------------
// Fake secrets (assembled at run time)
// ---------------------------------------------------------------------------------------------

fn aws_key() -> String {
    format!("AKIA{}", "IOSFODNN7EXAMPLE")
}

fn github_token() -> String {
    format!("ghp_{}", &"a1B2c3D4e5".repeat(4)[..36])
}

fn jwt() -> String {
    [
        "eyJ",
        "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".eyJ",
        "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ",
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .concat()
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token() -> String {
    ["Zk3q", "Qw8r", "Lm2s", "Xv7t", "Pa9u", "Rt4v"].concat()
}

/// A random-looking base64 run of 40 characters (no known shape: the entropy detector).
fn high_entropy() -> String {
    [
        "q8Zr", "T1mX", "v9Lk", "P2wE", "a7Yc", "N4bH", "j6Gu", "D3sF", "o0Ri", "K5tM",
    ]
    .concat()
}

/// The body line of the fake private key (what must never appear anywhere).
fn pem_body() -> String {
    [
        "MIIEpQIBAAKCAQEAu1SU",
        "1LfVLPHCozMxH2Mo4lgO",
        "EePzNm0tRgeLezV6ffAt",
    ]
    .concat()
}

/// A PEM private key block with real newlines (`\n` escapes once in a JSON string).
fn pem_block() -> String {
    let kind = "RSA PRIVATE";
    format!(
        "-----BEGIN {kind} KEY-----\n{}\n-----END {kind} KEY-----",
        pem_body()
    )
}

/// Every fake secret: (finding kind, the secret, a distinctive part of it that must never be
/// written in clear).
fn secrets() -> Vec<(&'static str, String, String)> {
    vec![
        ("aws_access_key_id", aws_key(), aws_key()),
        ("private_key", pem_block(), pem_body()),
        ("github_token", github_token(), github_token()),
        ("jwt", jwt(), jwt()),
        (
            "bearer_token",
            format!("Bearer {}", bearer_token()),
            bearer_token(),
        ),
        ("high_entropy", high_entropy(), high_entropy()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// An enforcing egress rule (id `exfil`, to prove finding ids come from the rule's id), then
/// the SQL guard. `leak.corp.example` is denied although `*.corp.example` is allowed: deny wins.
/// The breaker is off: a case table pours many calls in at once.
const ENFORCE: &str = r#"version: 1
profiles:
  default:
    rules:
      - id: exfil
        egress:
          allowed_domains: ["*.corp.example", "corp.example", "github.com", "10.20.0.0/16"]
          denied_domains: ["pastebin.com", "*.ngrok.io", "leak.corp.example"]
          checks: [denied, unlisted, private, metadata, secrets]
        action: block
      - id: sql
        sql: {}
        action: block
    breaker: {mode: off}
"#;

/// Only the SQL guard: no egress rule at all, so whatever a line holds, the SQL guard (or the
/// parser) is what refuses it.
const SQL_ONLY: &str = r#"version: 1
profiles:
  default:
    rules:
      - id: sql
        sql: {}
        action: block
    breaker: {mode: off}
"#;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// `sentinel --no-color --audit-log DIR/audit.log`, with no policy from the environment.
fn gateway(dir: &Path) -> Command {
    let mut c = util::command(dir);
    c.env_remove("SENTINEL_POLICY")
        .env_remove("SENTINEL_PROFILE");
    c
}

/// What one run produced.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_bytes(cmd: &mut Command, input: &[u8]) -> Out {
    let (status, stdout, stderr) = util::run_lenient(cmd, input, T);
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
    }
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Demo mode in `dir` with `policy` (None: the built-in default), one line per element.
fn demo(dir: &Path, policy: Option<&Path>, lines: &[String]) -> Out {
    demo_bytes(dir, policy, joined(lines).as_bytes())
}

fn demo_bytes(dir: &Path, policy: Option<&Path>, input: &[u8]) -> Out {
    let mut cmd = gateway(dir);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    let out = run_bytes(&mut cmd, input);
    assert_eq!(out.code, 0, "demo run failed: {out:?}");
    out
}

/// Proxy mode in front of the fake server (`--log DIR/server.log`): the run, and every line
/// the server received.
fn proxy(dir: &Path, policy: Option<&Path>, lines: &[String]) -> (Out, Vec<String>) {
    let log = dir.join("server.log");
    let _ = std::fs::remove_file(&log);
    let mut cmd = gateway(dir);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    cmd.arg("--")
        .arg(util::fake_server())
        .arg("--log")
        .arg(&log);
    let out = run_bytes(&mut cmd, joined(lines).as_bytes());
    assert_eq!(out.code, 0, "proxy run failed: {out:?}");
    let received = std::fs::read_to_string(&log).unwrap_or_default();
    (out, received.lines().map(str::to_owned).collect())
}

/// A `tools/call` request line with a numeric id.
fn call(id: i64, tool: &str, arguments: &Value) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    })
    .to_string()
}

/// A `tools/call` line whose `arguments` are given as raw JSON text (escapes kept as written).
fn raw_call(id: i64, tool: &str, arguments: &str) -> String {
    util::tool_call(&id.to_string(), tool, arguments)
}

/// What became of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    /// Echoed (demo) or answered by the server (proxy).
    Forwarded,
    /// Refused with -32010: `error.data.rule`, `.reason` and `.argument`.
    Blocked {
        rule: String,
        reason: String,
        argument: Option<String>,
    },
}

fn blocked(rule: &str, reason: &str, argument: Option<&str>) -> Fate {
    Fate::Blocked {
        rule: rule.to_owned(),
        reason: reason.to_owned(),
        argument: argument.map(str::to_owned),
    }
}

/// The audit `reason` (and `error.data.reason`) of an egress finding.
fn reason_of(check: &str) -> &'static str {
    match check {
        "denied" => "Denied Destination",
        "unlisted" => "Destination Not Allow-Listed",
        "private" => "Server-Side Request Forgery",
        "metadata" => "Cloud Metadata Access",
        "secret" => "Secret in Arguments",
        other => panic!("unknown egress check {other:?}"),
    }
}

/// The expected fate of an egress case under the rule `rule`: forwarded, or (check, pointer).
fn egress_fate(rule: &str, want: Option<(&str, &str)>) -> Fate {
    match want {
        None => Fate::Forwarded,
        Some((check, pointer)) => {
            blocked(&format!("{rule}.{check}"), reason_of(check), Some(pointer))
        }
    }
}

/// Stdout as id -> fate. A line with `method` is a demo echo, one with `result` a server
/// answer; an error must be -32010 with `data.rule` and `data.reason`. Fails on anything else
/// and on two lines for one id.
fn fates(stdout: &str) -> BTreeMap<i64, Fate> {
    let mut m = BTreeMap::new();
    for v in util::json_lines(stdout.as_bytes()) {
        let id = v["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no numeric id: {v}"));
        let fate = if v.get("method").is_some() || v.get("result").is_some() {
            Fate::Forwarded
        } else if let Some(e) = v.get("error") {
            assert_eq!(e["code"], json!(BLOCKED), "unexpected error: {v}");
            assert!(
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Blocked by Sentinel (")),
                "error message: {v}"
            );
            let text = |k: &str| {
                e["data"][k]
                    .as_str()
                    .unwrap_or_else(|| panic!("error without data.{k}: {v}"))
                    .to_owned()
            };
            Fate::Blocked {
                rule: text("rule"),
                reason: text("reason"),
                argument: e["data"]["argument"].as_str().map(str::to_owned),
            }
        } else {
            panic!("unexpected line: {v}")
        };
        assert!(m.insert(id, fate).is_none(), "two lines for id {id}");
    }
    m
}

/// Compares the fates with what `cases` expect (ids 1..), listing every mismatch with its
/// arguments.
#[track_caller]
fn assert_fates(what: &str, actual: &BTreeMap<i64, Fate>, expected: &[(Value, Fate)], out: &Out) {
    let mut wrong = Vec::new();
    for (i, (args, want)) in expected.iter().enumerate() {
        let id = i as i64 + 1;
        match actual.get(&id) {
            Some(got) if got == want => {}
            got => wrong.push(format!("  id {id} {args}: want {want:?}, got {got:?}")),
        }
    }
    if actual.len() != expected.len() {
        wrong.push(format!(
            "  {} answers for {} calls",
            actual.len(),
            expected.len()
        ));
    }
    assert!(
        wrong.is_empty(),
        "{what}: {} mismatch(es):\n{}\nstderr: {}",
        wrong.len(),
        wrong.join("\n"),
        out.stderr
    );
}

/// Checks the audit log holds exactly one `blocked` entry per blocked call (rule, reason,
/// argument, tool) and none for forwarded ones.
#[track_caller]
fn assert_audited(dir: &Path, tool: &str, expected: &[(Value, Fate)]) {
    let entries = util::audit_entries(dir);
    let mut by_id: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for e in &entries {
        by_id
            .entry(e["message_id"].as_i64().unwrap_or(-1))
            .or_default()
            .push(e);
    }
    for (i, (args, want)) in expected.iter().enumerate() {
        let id = i as i64 + 1;
        let got = by_id.remove(&id).unwrap_or_default();
        match want {
            Fate::Forwarded => assert!(got.is_empty(), "id {id} {args} audited: {got:?}"),
            Fate::Blocked {
                rule,
                reason,
                argument,
            } => {
                assert_eq!(got.len(), 1, "id {id} {args}: entries {got:?}");
                let e = got[0];
                assert_eq!(e["action"], "blocked", "{e}");
                assert_eq!(e["method"], "tools/call", "{e}");
                assert_eq!(e["tool"], tool, "{e}");
                assert_eq!(e["rule"], json!(rule), "{e}");
                assert_eq!(e["reason"], json!(reason), "{e}");
                assert_eq!(e["argument"], json!(argument), "{e}");
            }
        }
    }
    assert!(by_id.is_empty(), "unexpected audit entries: {by_id:?}");
}

/// An egress case on one string argument `{"target": text}`.
fn on_target(
    text: &str,
    want: Option<&'static str>,
) -> (Value, Option<(&'static str, &'static str)>) {
    (json!({ "target": text }), want.map(|c| (c, "/target")))
}

mod destinations;
mod limits;
mod secrets;
mod spellings;
