//! End-to-end tests of the circuit breaker: the real `sentinel` binary in front of the fake MCP
//! server (`tests/support/fake_server.rs`), with time driven by the test through the file clock
//! (`SENTINEL_TEST_CLOCK`): each test writes the time to a file, then sends the next message,
//! so cooldowns, windows and refills are crossed without sleeping.
//!
//! What is checked: a tool's circuit opens after consecutive failures (error results and
//! JSON-RPC errors alike, counted per tool, reset by a success) and on a loop of identical calls
//! (key order, whitespace and ignored fields do not make calls different); while open, calls
//! are refused with the request's own id, `-32010`, the breaker rule and when they may resume;
//! after the cooldown one probe goes through and decides (a failed probe reopens the circuit for
//! twice as long, up to `max_cooldown`; a good one closes it and resets the cooldown); rate
//! limits per tool and overall; call limits and cost budgets; monitor mode and `mode: off`.
//! Refused calls never reach the server (the fake server's `--log` records every line it
//! receives), state changes are audited in order, and openings are warned about on stderr.
//!
//! Every exchange is one line out, one line back, so the order in which the gateway judges
//! messages and observes answers is the order the test writes them: the gateway notes a server
//! answer (and so a failure or a probe's outcome) before it forwards that answer to the client.

#[path = "../util/mod.rs"]
mod util;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use util::Session;

/// Generous per-step limit, so a slow machine does not flake (steps normally take a few ms).
const T: Duration = Duration::from_secs(10);

const BLOCKED: i64 = -32010;
const SERVER_GONE: i64 = -32011;
/// The fake server's JSON-RPC error for `flaky` with `"fail":"error"`.
const TOOL_ERROR: i64 = -32603;

/// Where every test's clock starts: 2026-01-01T00:00:00Z, in seconds since the Unix epoch.
const T0: u64 = 1_767_225_600;

/// The instant `ms` milliseconds after [`T0`] as Sentinel writes it (RFC 3339, microseconds).
fn at(ms: u64) -> String {
    assert!(ms < 86_400_000, "at() covers the first day only");
    let s = ms / 1000;
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms % 1000 * 1000
    )
}

/// A policy file whose default profile has this `breaker:` section (YAML flow style) and no
/// rules, so only the breaker can refuse anything.
fn breaker_policy(section: &str) -> String {
    format!("version: 1\nprofiles:\n  default:\n    breaker: {section}\n")
}

/// The `id` of a message, as JSON text (`7`, `"sync-1"`), or `(none)`.
fn id_text(v: &Value) -> String {
    v.get("id")
        .map_or_else(|| "(none)".into(), Value::to_string)
}

/// A running `sentinel --reload-interval 0 [--policy DIR/policy.yaml] -- fake_server --log
/// DIR/server.log`, its clock read from `DIR/clock`.
struct Gateway {
    dir: PathBuf,
    clock: PathBuf,
    s: Session,
    syncs: u32,
}

impl Gateway {
    /// Starts with this policy file text (`None`: the built-in default policy, whose breaker
    /// has the defaults), the clock at [`T0`].
    fn start(name: &str, policy: Option<&str>) -> Gateway {
        let dir = util::scratch(name);
        let clock = dir.join("clock");
        let mut cmd = util::command(&dir);
        cmd.env_remove("SENTINEL_POLICY")
            .env_remove("SENTINEL_PROFILE")
            .env("SENTINEL_TEST_CLOCK", &clock)
            .args(["--reload-interval", "0"]);
        if let Some(text) = policy {
            let path = dir.join("policy.yaml");
            std::fs::write(&path, text).expect("write the policy");
            cmd.arg("--policy").arg(path);
        }
        cmd.arg("--")
            .arg(util::fake_server())
            .arg("--log")
            .arg(dir.join("server.log"));
        let g = Gateway {
            dir,
            clock,
            s: Session::spawn(&mut cmd),
            syncs: 0,
        };
        g.time(0); // before the first message: the clock is read per use, not at start
        g
    }

    /// Sets the clock to `ms` milliseconds after [`T0`]. Written to a side file and renamed, so
    /// the gateway never reads a half-written time.
    fn time(&self, ms: u64) {
        self.write_clock(&format!("{}.{:03}", T0 + ms / 1000, ms % 1000));
    }

    /// Writes `text` to the clock file as is.
    fn write_clock(&self, text: &str) {
        let tmp = self.dir.join("clock.tmp");
        std::fs::write(&tmp, format!("{text}\n")).expect("write the clock");
        std::fs::rename(&tmp, &self.clock).expect("move the clock into place");
    }

    fn send(&mut self, line: &str) {
        self.s.send(line);
    }

    fn recv(&self) -> Value {
        self.s.recv(T)
    }

    /// Sends one `tools/call` (`id` is JSON text) and returns its one answer, which must carry
    /// that id.
    #[track_caller]
    fn call(&mut self, id: &str, tool: &str, args: &str) -> Value {
        self.send(&util::tool_call(id, tool, args));
        let v = self.recv();
        assert_eq!(
            id_text(&v),
            id,
            "the answer to call {id} ({tool}) has its id: {v}"
        );
        v
    }

    /// A call that must reach the server: its answer is the server's (a result, or the `flaky`
    /// tool's JSON-RPC error), never a refusal.
    #[track_caller]
    fn forwarded(&mut self, id: &str, tool: &str, args: &str) -> Value {
        let v = self.call(id, tool, args);
        assert!(
            v.get("result").is_some() || v["error"]["code"] == json!(TOOL_ERROR),
            "call {id} ({tool} {args}) should have been answered by the server: {v}"
        );
        v
    }

    /// A call the breaker must refuse; returns the error message text.
    #[track_caller]
    fn refused(
        &mut self,
        id: &str,
        tool: &str,
        args: &str,
        rule: &str,
        reason: &str,
        retry_at: Option<&str>,
    ) -> String {
        let v = self.call(id, tool, args);
        assert_refusal(&v, tool, rule, reason, retry_at);
        v["error"]["message"].as_str().unwrap().to_owned()
    }

    /// Sends a `ping` and waits for the server's answer: afterwards every line sent before it
    /// has been judged (the gateway handles client lines in order). For calls that get no
    /// answer (`silent`), before the clock is moved.
    #[track_caller]
    fn sync(&mut self) {
        self.syncs += 1;
        let id = format!("\"sync-{}\"", self.syncs);
        self.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"ping","params":{{}}}}"#
        ));
        let v = self.recv();
        assert_eq!(id_text(&v), id, "expected the ping's answer: {v}");
        assert_eq!(v["result"], json!({}), "{v}");
    }

    /// Closes the client side, waits for sentinel to exit and collects what it left behind.
    fn end(mut self) -> Ended {
        self.s.close_stdin();
        let status = self.s.wait(T);
        let rest = util::json_lines_strict(&self.s.rest_of_stdout());
        Ended {
            code: status.code().unwrap_or(-1),
            rest,
            stderr: self.s.stderr(),
            dir: self.dir.clone(),
        }
    }
}

/// Checks a breaker refusal of a call to `tool`: JSON-RPC error `-32010` with the rule, the
/// reason, and `retry_at` for a temporary refusal (none otherwise).
#[track_caller]
fn assert_refusal(v: &Value, tool: &str, rule: &str, reason: &str, retry_at: Option<&str>) {
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert!(v.get("result").is_none(), "a refusal has no result: {v}");
    let err = &v["error"];
    assert_eq!(err["code"], json!(BLOCKED), "error code: {v}");
    assert_eq!(err["data"]["rule"], rule, "data.rule: {v}");
    assert_eq!(err["data"]["reason"], reason, "data.reason: {v}");
    assert_eq!(err["data"]["tool"], tool, "data.tool: {v}");
    assert_eq!(err["data"]["action"], "block", "data.action: {v}");
    match retry_at {
        Some(t) => assert_eq!(err["data"]["retry_at"], t, "data.retry_at: {v}"),
        None => assert!(err["data"]["retry_at"].is_null(), "no retry_at: {v}"),
    }
    assert!(
        err["data"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "data.hint: {v}"
    );
    let message = err["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with(&format!("Blocked by Sentinel ({rule}): ")),
        "message: {v}"
    );
}

/// Asserts `haystack` contains `needle`, showing both when not.
#[track_caller]
fn assert_has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

/// What a finished session left: exit code, stdout after the last exchange, stderr, and (in
/// `dir`) the server log and the audit log.
struct Ended {
    code: i32,
    rest: Vec<Value>,
    stderr: String,
    dir: PathBuf,
}

impl Ended {
    /// The ids of the `tools/call` requests the server received, in order (batches flattened).
    fn server_calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let mut ids = Vec::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("server log line not JSON ({e}): {line}"));
            let items = match v {
                Value::Array(items) => items,
                one => vec![one],
            };
            for m in items {
                if m["method"] == "tools/call" {
                    ids.push(id_text(&m));
                }
            }
        }
        ids
    }

    fn audit(&self) -> Vec<Value> {
        util::audit_entries(&self.dir)
    }

    /// Breaker state changes in the audit log: (action, tool, timestamp).
    fn transitions(&self) -> Vec<(String, String, String)> {
        self.audit()
            .iter()
            .filter(|e| e["rule"] == "breaker.state")
            .map(|e| {
                assert_eq!(e["reason"], "Circuit Breaker", "{e}");
                assert!(e["message_id"].is_null(), "{e}");
                (
                    e["action"].as_str().unwrap_or("").to_owned(),
                    e["tool"].as_str().unwrap_or("").to_owned(),
                    e["timestamp"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Audit entries about messages with this action: (message id, rule), in order.
    fn decisions(&self, action: &str) -> Vec<(String, String)> {
        self.audit()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| {
                assert_eq!(e["method"], "tools/call", "{e}");
                if action == "monitored" {
                    assert_eq!(e["would_have"], "block", "{e}");
                }
                (
                    e["message_id"].to_string(),
                    e["rule"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Lines of stderr that warn about a circuit.
    fn circuit_warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("[SENTINEL] warning: circuit for tool "))
            .collect()
    }

    /// The session ended normally with nothing on stdout after the last exchange.
    #[track_caller]
    fn assert_clean(&self) {
        assert_eq!(self.code, 0, "exit code; stderr:\n{}", self.stderr);
        assert!(self.rest.is_empty(), "unexpected output: {:?}", self.rest);
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn decided(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(id, rule)| ((*id).to_owned(), (*rule).to_owned()))
        .collect()
}

fn changes(list: &[(&str, &str, u64)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(action, tool, ms)| ((*action).to_owned(), (*tool).to_owned(), at(*ms)))
        .collect()
}

mod budgets;
mod circuits;
mod edges;
mod limits;
