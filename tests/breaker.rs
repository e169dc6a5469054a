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

// ---------------------------------------------------------------------------------------------
// Opening, refusing, probing, closing
// ---------------------------------------------------------------------------------------------

/// closed -> open on consecutive failures; refusals say when the circuit closes; after the
/// cooldown exactly one probe goes through while further calls wait; a failed probe reopens the
/// circuit for twice the cooldown (capped by max_cooldown); a good probe closes it, calls flow
/// again and the cooldown starts over.
#[test]
fn failures_open_the_circuit_until_a_probe_succeeds() {
    let mut g = Gateway::start(
        "cycle",
        Some(&breaker_policy(
            "{consecutive_errors: 3, cooldown: 30s, max_cooldown: 1m, loop: {repeats: 0}}",
        )),
    );
    let fail = r#"{"fail":"result"}"#;
    for id in ["1", "2", "3"] {
        let v = g.forwarded(id, "flaky", fail);
        assert_eq!(v["result"]["isError"], true, "{v}");
    }
    // The third failed answer opened the circuit at T0, for 30 s.
    g.time(10_000);
    let m = g.refused(
        "4",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    assert_has(&m, &format!("paused until {} (in 20 s)", at(30_000)));
    assert_has(&m, "because its last 3 calls failed in a row");
    // Other tools are not affected.
    g.forwarded("5", "echo", r#"{"other":"tool"}"#);
    g.time(29_999);
    let m = g.refused(
        "\"six\"",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    assert_has(&m, &format!("until {} (in 1 ms)", at(30_000)));

    // The cooldown is over: the next call is the probe. To have a second call judged while the
    // probe is certainly still unanswered, both go in one batch: the gateway judges every
    // element of a batch before it forwards anything, so element 7 becomes the probe
    // (open -> half-open) and element 8 is refused, and only then does [7] reach the server.
    // The gateway's answer (for 8) and the server's (for 7) come from two threads, in either
    // order, as two lines.
    g.time(30_000);
    g.send(&format!(
        "[{},{}]",
        util::tool_call("7", "flaky", fail),
        util::tool_call("8", "flaky", "{}")
    ));
    let (mut gateway_answer, mut server_answer) = (None, None);
    for _ in 0..2 {
        let line = g.recv();
        let items = line.as_array().expect("batch answers are arrays");
        assert_eq!(items.len(), 1, "one answer per line here: {line}");
        match id_text(&items[0]).as_str() {
            "8" => gateway_answer = Some(items[0].clone()),
            "7" => server_answer = Some(items[0].clone()),
            other => panic!("unexpected answer for id {other}: {line}"),
        }
    }
    let refusal = gateway_answer.unwrap();
    // If the probe were never answered, another could go after one more cooldown.
    assert_refusal(
        &refusal,
        "flaky",
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_000)),
    );
    assert_has(
        refusal["error"]["message"].as_str().unwrap(),
        "one probe call is in flight",
    );
    assert_eq!(server_answer.unwrap()["result"]["isError"], true);

    // The probe failed (observed at T0+30 s): open again, for 2 x 30 s.
    g.time(31_000);
    let m = g.refused(
        "9",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(90_000)),
    );
    assert_has(&m, &format!("until {} (in 59 s)", at(90_000)));
    assert_has(&m, "its probe call failed too");

    // The next probe fails with a JSON-RPC error: open again, for 4 x 30 s capped at 1 min.
    g.time(90_000);
    let v = g.forwarded("10", "flaky", r#"{"fail":"error"}"#);
    assert_eq!(v["error"]["code"], json!(TOOL_ERROR), "{v}");
    let m = g.refused(
        "11",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(150_000)),
    );
    assert_has(&m, &format!("until {} (in 60 s)", at(150_000)));

    // A good probe closes the circuit: calls flow again.
    g.time(150_000);
    let v = g.forwarded("12", "flaky", r#"{"n":1}"#);
    assert_eq!(v["result"]["content"][0]["text"], r#"{"n":1}"#, "{v}");
    g.forwarded("13", "flaky", r#"{"n":2}"#);
    // Failing again opens it for the starting cooldown, not a doubled one.
    for id in ["14", "15", "16"] {
        g.forwarded(id, "flaky", fail);
    }
    g.refused(
        "17",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(180_000)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "5", "7", "10", "12", "13", "14", "15", "16"]),
        "refused calls never reach the server"
    );
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "flaky", 0),
            ("breaker_half_open", "flaky", 30_000),
            ("breaker_open", "flaky", 30_000),
            ("breaker_half_open", "flaky", 90_000),
            ("breaker_open", "flaky", 90_000),
            ("breaker_half_open", "flaky", 150_000),
            ("breaker_closed", "flaky", 150_000),
            ("breaker_open", "flaky", 150_000),
        ])
    );
    let opened: Vec<String> = end
        .audit()
        .iter()
        .filter(|e| e["action"] == "breaker_open")
        .map(|e| e["explanation"].as_str().unwrap().to_owned())
        .collect();
    for (text, until) in opened.iter().zip([30_000, 90_000, 150_000, 180_000]) {
        assert_has(text, &format!("calls refused until {}", at(until)));
    }
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("4", "breaker.open"),
            ("\"six\"", "breaker.open"),
            ("8", "breaker.half_open"),
            ("9", "breaker.open"),
            ("11", "breaker.open"),
            ("17", "breaker.open"),
        ])
    );
    let warnings = end.circuit_warnings();
    assert_eq!(
        warnings.len(),
        4,
        "one warning per opening:\n{}",
        end.stderr
    );
    assert_eq!(
        warnings[0],
        format!(
            "[SENTINEL] warning: circuit for tool \"flaky\" closed -> open: its last 3 calls \
             failed in a row; calls refused until {}",
            at(30_000)
        )
    );
    assert_has(warnings[1], "half-open -> open: its probe call failed too");
}

/// The loop detector opens a tool's circuit (default breaker: the 5th identical call within
/// 5 s); while open, every call of the tool is refused whatever its arguments; after the
/// cooldown a probe goes through, and while it is unanswered the next call waits for it.
///
/// The tool is `silent`, which never answers: the probe is deterministically still in flight
/// when the next call is judged, without relying on timing. Since `silent` calls get no answer
/// to wait for, a `ping` after each one makes sure it was judged before the clock moves.
#[test]
fn a_loop_opens_the_circuit_and_the_next_call_waits_for_the_probe() {
    let mut g = Gateway::start("loop-probe", None);
    for (i, args) in [
        r#"{"q":"same"}"#,
        r#"{ "q" : "same" }"#,
        r#"{"q":"same"}"#,
        r#"{"q":"same","timestamp":"2026-01-01T00:00:00Z"}"#,
    ]
    .iter()
    .enumerate()
    {
        g.time(i as u64 * 100);
        g.send(&util::tool_call(&(i + 1).to_string(), "silent", args));
        g.sync();
    }
    g.time(400);
    let m = g.refused(
        "5",
        "silent",
        r#"{"q":"same"}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_400)),
    );
    assert_has(&m, "the same call was made 5 times within 5 s");
    assert_has(&m, &format!("until {} (in 30 s)", at(30_400)));
    // The circuit is the tool's: other arguments are refused too, other tools pass.
    g.time(1_000);
    let m = g.refused(
        "6",
        "silent",
        r#"{"q":"other"}"#,
        "breaker.open",
        "Circuit Open",
        Some(&at(30_400)),
    );
    assert_has(&m, &format!("until {} (in 29.4 s)", at(30_400)));
    assert_has(&m, "because the same call was made 5 times within 5 s");
    g.forwarded("7", "echo", r#"{"q":"same"}"#);

    // Cooldown over: call 8 is the probe and is forwarded; it is never answered, so call 9 is
    // refused while it is in flight.
    g.time(30_400);
    g.send(&util::tool_call("8", "silent", r#"{"q":"other"}"#));
    g.sync();
    g.refused(
        "9",
        "silent",
        r#"{"q":"third"}"#,
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_400)),
    );
    // A probe that goes unanswered for a whole cooldown (a hung call) cannot hold the circuit
    // half-open for good: one millisecond early the wait goes on, then call 11 is a new probe.
    g.time(60_399);
    g.refused(
        "10",
        "silent",
        r#"{"q":"third"}"#,
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_400)),
    );
    g.time(60_400);
    g.send(&util::tool_call("11", "silent", r#"{"q":"fourth"}"#));
    g.sync();

    let end = g.end();
    assert_eq!(end.code, 0, "{}", end.stderr);
    // The unanswered calls are answered by the gateway when the server exits, in order.
    let gone: Vec<(String, Value)> = end
        .rest
        .iter()
        .map(|v| (id_text(v), v["error"]["code"].clone()))
        .collect();
    let expected: Vec<(String, Value)> = ["1", "2", "3", "4", "8", "11"]
        .iter()
        .map(|id| ((*id).to_owned(), json!(SERVER_GONE)))
        .collect();
    assert_eq!(gone, expected);
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "4", "7", "8", "11"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "silent", 400),
            ("breaker_half_open", "silent", 30_400),
        ])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("5", "breaker.loop"),
            ("6", "breaker.open"),
            ("9", "breaker.half_open"),
            ("10", "breaker.half_open"),
        ])
    );
    assert_eq!(
        end.circuit_warnings(),
        vec![format!(
            "[SENTINEL] warning: circuit for tool \"silent\" closed -> open: the same call was \
             made 5 times within 5 s; calls refused until {}",
            at(30_400)
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Loop detection
// ---------------------------------------------------------------------------------------------

/// Calls that differ only in key order, whitespace, number spelling or an ignored field (at
/// any depth) are the same call; a changing field that is not ignored makes them different;
/// calls older than the window are forgotten. Each tool name here is echoed by the fake server
/// and has its own circuit.
#[test]
fn loops_are_found_through_key_order_whitespace_and_ignored_fields() {
    let mut g = Gateway::start(
        "loop-fingerprint",
        Some(&breaker_policy(
            "{loop: {repeats: 3, window: 10s, ignore_fields: [ts]}}",
        )),
    );
    g.forwarded("1", "echo", r#"{"a":1,"b":2}"#);
    g.time(100);
    g.forwarded("2", "echo", r#"{ "b":2 , "a":1 }"#);
    g.time(200);
    let m = g.refused(
        "3",
        "echo",
        "{\"b\" :\t2.0, \"a\": 1e0}",
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_200)),
    );
    assert_has(&m, "the same call was made 3 times within 10 s");

    // Near-repeats: only the ignored field changes (at the top level, and nested).
    g.forwarded("4", "lookup", r#"{"q":"x","ts":1}"#);
    g.forwarded("5", "lookup", r#"{"ts":2,"q":"x"}"#);
    g.refused(
        "6",
        "lookup",
        r#"{"q":"x","ts":3}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_200)),
    );
    g.forwarded("7", "fetch", r#"{"url":"u","meta":{"ts":1}}"#);
    g.forwarded("8", "fetch", r#"{"meta":{"ts":2},"url":"u"}"#);
    g.refused(
        "9",
        "fetch",
        r#"{"url":"u","meta":{"ts":3}}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_200)),
    );

    // A field that is not ignored changes on every call: no loop.
    for page in 1..=6 {
        g.forwarded(
            &(10 + page).to_string(),
            "search",
            &format!(r#"{{"q":"x","page":{page},"ts":{page}}}"#),
        );
    }

    // The window: the first of three identical calls is older than 10 s, so no loop yet; one
    // more within the window is the third.
    g.time(300);
    g.forwarded("20", "status", r#"{"job":1}"#);
    g.time(5_000);
    g.forwarded("21", "status", r#"{"job":1}"#);
    g.time(10_300);
    g.forwarded("22", "status", r#"{"job":1}"#);
    g.time(10_400);
    g.refused(
        "23",
        "status",
        r#"{"job":1}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(40_400)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "4", "5", "7", "8", "11", "12", "13", "14", "15", "16", "20", "21", "22"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "echo", 200),
            ("breaker_open", "lookup", 200),
            ("breaker_open", "fetch", 200),
            ("breaker_open", "status", 10_400),
        ])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("3", "breaker.loop"),
            ("6", "breaker.loop"),
            ("9", "breaker.loop"),
            ("23", "breaker.loop"),
        ])
    );
}

/// With no policy file (the built-in breaker): polling the same call every 3 s never trips the
/// loop detector, while a burst of 5 identical calls within a second does (a changing
/// `timestamp`, ignored by default, does not make them different).
#[test]
fn the_default_breaker_lets_polling_through_and_stops_a_burst() {
    let mut g = Gateway::start("default-loop", None);
    let mut sent = Vec::new();
    for i in 0..20u64 {
        g.time(i * 3_000);
        let id = (i + 1).to_string();
        g.forwarded(&id, "echo", &format!(r#"{{"job":"42","timestamp":{i}}}"#));
        sent.push(id);
    }
    // The last poll was at 57 s; the burst starts more than a window (5 s) later.
    for i in 0..4u64 {
        g.time(70_000 + i * 200);
        let id = (21 + i).to_string();
        g.forwarded(
            &id,
            "echo",
            &format!(r#"{{"job":"42","timestamp":{}}}"#, 100 + i),
        );
        sent.push(id);
    }
    g.time(70_800);
    let m = g.refused(
        "25",
        "echo",
        r#"{"timestamp":104,"job":"42"}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(100_800)),
    );
    assert_has(&m, "the same call was made 5 times within 5 s");
    assert_has(&m, &format!("until {} (in 30 s)", at(100_800)));

    let end = g.end();
    end.assert_clean();
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(end.server_calls(), ids(&sent));
    assert_eq!(
        end.transitions(),
        changes(&[("breaker_open", "echo", 70_800)])
    );
    assert_eq!(end.decisions("blocked"), decided(&[("25", "breaker.loop")]));
}

// ---------------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------------

/// A token bucket on one tool: `burst` calls at once, then one more per refill interval; the
/// refusal says when the next token is there; other tools are not limited (a `rate_limits`
/// list replaces the default overall limit); refused calls take no token and open nothing.
#[test]
fn a_rate_limit_on_one_tool_refuses_calls_over_the_burst_until_it_refills() {
    let mut g = Gateway::start(
        "rate-tool",
        Some(&breaker_policy(
            "{loop: {repeats: 0}, rate_limits: [{tools: [echo], rate: 60/minute, burst: 3}]}",
        )),
    );
    for id in ["1", "2", "3"] {
        g.forwarded(id, "echo", &format!(r#"{{"n":{id}}}"#));
    }
    let m = g.refused(
        "4",
        "echo",
        r#"{"n":4}"#,
        "breaker.rate",
        "Rate Limited",
        Some(&at(1_000)),
    );
    assert_has(
        &m,
        "over the rate limit of 60/minute (burst 3) for tools [echo]",
    );
    assert_has(&m, "retry in 1 s at the earliest");
    for id in ["5", "6", "7", "8", "9"] {
        g.forwarded(id, "lookup", &format!(r#"{{"n":{id}}}"#));
    }
    // Half a token is not enough; the refusal points at when the whole token is there.
    g.time(500);
    let m = g.refused(
        "10",
        "echo",
        r#"{"n":10}"#,
        "breaker.rate",
        "Rate Limited",
        Some(&at(1_000)),
    );
    assert_has(&m, "retry in 500 ms at the earliest");
    g.time(1_000);
    g.forwarded("11", "echo", r#"{"n":11}"#);
    g.refused(
        "12",
        "echo",
        r#"{"n":12}"#,
        "breaker.rate",
        "Rate Limited",
        Some(&at(2_000)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "5", "6", "7", "8", "9", "11"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[]),
        "rate limits open no circuit"
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("4", "breaker.rate"),
            ("10", "breaker.rate"),
            ("12", "breaker.rate"),
        ])
    );
}

/// `tools: ["*"]` is one bucket shared by every tool.
#[test]
fn an_overall_rate_limit_is_shared_by_every_tool() {
    let mut g = Gateway::start(
        "rate-all",
        Some(&breaker_policy(
            "{loop: {repeats: 0}, rate_limits: [{tools: [\"*\"], rate: 2/second, burst: 4}]}",
        )),
    );
    g.forwarded("1", "echo", "{}");
    g.forwarded("2", "lookup", "{}");
    g.forwarded("3", "fail", "{}");
    g.forwarded("4", "search", "{}");
    let m = g.refused(
        "5",
        "lookup",
        "{}",
        "breaker.rate",
        "Rate Limited",
        Some(&at(500)),
    );
    assert_has(
        &m,
        "over the rate limit of 2/second (burst 4) for tools [*]",
    );
    g.refused(
        "6",
        "echo",
        "{}",
        "breaker.rate",
        "Rate Limited",
        Some(&at(500)),
    );
    g.time(500);
    g.forwarded("7", "lookup", "{}");
    g.refused(
        "8",
        "echo",
        "{}",
        "breaker.rate",
        "Rate Limited",
        Some(&at(1_000)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "3", "4", "7"]));
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("5", "breaker.rate"),
            ("6", "breaker.rate"),
            ("8", "breaker.rate"),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Budgets
// ---------------------------------------------------------------------------------------------

/// `max_calls`: the session's calls over all tools; the refusal is permanent (no retry_at, and
/// time does not help); requests other than tools/call still pass.
#[test]
fn max_calls_ends_the_sessions_tool_calls() {
    let mut g = Gateway::start(
        "max-calls",
        Some(&breaker_policy("{max_calls: 4, loop: {repeats: 0}}")),
    );
    g.forwarded("1", "echo", "{}");
    g.forwarded("2", "lookup", "{}");
    g.forwarded("3", "fail", "{}");
    g.forwarded("4", "echo", r#"{"n":4}"#);
    let m = g.refused(
        "5",
        "echo",
        r#"{"n":5}"#,
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    assert_has(&m, "this session has made its maximum of 4 tool calls");
    g.refused(
        "6",
        "lookup",
        "{}",
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    g.time(3_600_000);
    g.refused(
        "7",
        "search",
        "{}",
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    g.sync();

    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "3", "4"]));
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("5", "breaker.max_calls"),
            ("6", "breaker.max_calls"),
            ("7", "breaker.max_calls"),
        ])
    );
    assert_eq!(end.transitions(), changes(&[]));
}

/// Per-tool `max_calls`: counted per tool name (each tool a glob matches has its own count);
/// tools outside the glob are not limited.
#[test]
fn per_tool_max_calls_count_each_tool() {
    let mut g = Gateway::start(
        "tool-max-calls",
        Some(&breaker_policy(
            "{loop: {repeats: 0}, tools: [{tools: [\"search*\"], max_calls: 2}]}",
        )),
    );
    g.forwarded("1", "search", r#"{"q":1}"#);
    g.forwarded("2", "search", r#"{"q":2}"#);
    let m = g.refused(
        "3",
        "search",
        r#"{"q":3}"#,
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    assert_has(
        &m,
        "tool \"search\" has been called its maximum of 2 times this session",
    );
    g.forwarded("4", "search_web", r#"{"q":1}"#);
    g.forwarded("5", "search_web", r#"{"q":2}"#);
    g.refused(
        "6",
        "search_web",
        r#"{"q":3}"#,
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    for id in ["7", "8", "9"] {
        g.forwarded(id, "echo", &format!(r#"{{"n":{id}}}"#));
    }

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "4", "5", "7", "8", "9"])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("3", "breaker.max_calls"), ("6", "breaker.max_calls")])
    );
}

/// Costs against the session budget: a call that would go over it is refused (and not
/// charged), one that reaches it exactly is not; the message says what was spent; free tools
/// still pass.
#[test]
fn costs_are_charged_against_the_session_budget() {
    let mut g = Gateway::start(
        "budget",
        Some(&breaker_policy(
            "{budget: 0.05, loop: {repeats: 0}, tools: [{tools: [paid], cost: 0.02}, \
             {tools: [cheap], cost: 0.01}]}",
        )),
    );
    g.forwarded("1", "paid", r#"{"n":1}"#);
    g.forwarded("2", "paid", r#"{"n":2}"#);
    let m = g.refused(
        "3",
        "paid",
        r#"{"n":3}"#,
        "breaker.budget",
        "Budget Exhausted",
        None,
    );
    assert_has(
        &m,
        "this call costs 0.02 and the session has spent 0.04 of its budget of 0.05",
    );
    for id in ["4", "5", "6"] {
        g.forwarded(id, "echo", &format!(r#"{{"n":{id}}}"#));
    }
    // 0.04 + 0.01 is exactly the budget: allowed.
    g.forwarded("7", "cheap", "{}");
    let m = g.refused(
        "8",
        "cheap",
        r#"{"n":8}"#,
        "breaker.budget",
        "Budget Exhausted",
        None,
    );
    assert_has(
        &m,
        "this call costs 0.01 and the session has spent 0.05 of its budget of 0.05",
    );
    g.forwarded("9", "echo", r#"{"n":9}"#);

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "4", "5", "6", "7", "9"])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("3", "breaker.budget"), ("8", "breaker.budget")])
    );
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/// JSON-RPC errors and tool results with isError both count as failures, per tool; a success
/// resets the tool's count; answers of other tools in between do not.
#[test]
fn errors_and_error_results_trip_per_tool_and_a_success_resets_the_count() {
    let mut g = Gateway::start(
        "errors",
        Some(&breaker_policy(
            "{consecutive_errors: 3, loop: {repeats: 0}}",
        )),
    );
    let error = r#"{"fail":"error"}"#;
    let result = r#"{"fail":"result"}"#;
    let v = g.forwarded("1", "flaky", error);
    assert_eq!(v["error"]["code"], json!(TOOL_ERROR), "{v}");
    let v = g.forwarded("2", "fail", "{}");
    assert_eq!(v["result"]["isError"], true, "{v}");
    g.forwarded("3", "flaky", result);
    // A success: flaky's count starts over (2 failures so far would otherwise make this 3).
    g.forwarded("4", "flaky", r#"{"n":4}"#);
    g.forwarded("5", "flaky", error);
    g.forwarded("6", "fail", "{}");
    g.forwarded("7", "flaky", error);
    g.forwarded("8", "echo", "{}");
    // The third failure of flaky in a row (fail's and echo's answers in between do not count).
    g.forwarded("9", "flaky", result);
    let m = g.refused(
        "10",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    assert_has(&m, "because its last 3 calls failed in a row");
    // fail has failed twice; its third failure opens its own circuit.
    g.forwarded("11", "fail", "{}");
    g.refused(
        "12",
        "fail",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    g.forwarded("13", "echo", "{}");

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "11", "13"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[("breaker_open", "flaky", 0), ("breaker_open", "fail", 0)])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("10", "breaker.open"), ("12", "breaker.open")])
    );
    assert_eq!(end.circuit_warnings().len(), 2, "{}", end.stderr);
}

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

/// The traffic both mode tests send: a rate-limited second echo, two failures that reach the
/// error threshold then a call to the open circuit, and a loop. Every call goes to the server.
fn mode_traffic(g: &mut Gateway) {
    g.forwarded("1", "echo", r#"{"n":1}"#);
    g.forwarded("2", "echo", r#"{"n":2}"#);
    g.forwarded("3", "flaky", r#"{"fail":"result"}"#);
    g.forwarded("4", "flaky", r#"{"fail":"error"}"#);
    g.forwarded("5", "flaky", "{}");
    for id in ["6", "7", "8"] {
        g.forwarded(id, "lookup", r#"{"same":1}"#);
    }
}

const MODE_LIMITS: &str = "consecutive_errors: 2, loop: {repeats: 3}, \
                           rate_limits: [{tools: [echo], rate: 60/minute, burst: 1}]";

/// `mode: monitor`: everything is forwarded; what would have been refused is audited as
/// monitored with `would_have: block`, and the circuits still change state (audited, warned).
#[test]
fn monitor_mode_forwards_everything_and_audits_what_it_would_have_refused() {
    let mut g = Gateway::start(
        "monitor",
        Some(&breaker_policy(&format!(
            "{{mode: monitor, {MODE_LIMITS}}}"
        ))),
    );
    mode_traffic(&mut g);
    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "4", "5", "6", "7", "8"])
    );
    assert_eq!(end.decisions("blocked"), decided(&[]));
    assert_eq!(
        end.decisions("monitored"),
        decided(&[
            ("2", "breaker.rate"),
            ("5", "breaker.open"),
            ("8", "breaker.loop"),
        ])
    );
    assert_eq!(
        end.transitions(),
        changes(&[("breaker_open", "flaky", 0), ("breaker_open", "lookup", 0)])
    );
    assert_has(
        &end.stderr,
        "[SENTINEL] monitored tools/call id=2 tool=echo rule=breaker.rate (would block)",
    );
    assert_eq!(end.circuit_warnings().len(), 2, "{}", end.stderr);
}

/// `mode: off`: nothing is refused, recorded or changed.
#[test]
fn mode_off_never_refuses() {
    let mut g = Gateway::start(
        "off",
        Some(&breaker_policy(&format!("{{mode: off, {MODE_LIMITS}}}"))),
    );
    mode_traffic(&mut g);
    // Well past every default limit too: a long burst of identical calls.
    for i in 0..30 {
        g.forwarded(&(100 + i).to_string(), "echo", r#"{"n":1}"#);
    }
    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls().len(), 8 + 30);
    assert_eq!(end.audit(), Vec::<Value>::new(), "nothing is audited");
    assert!(!end.stderr.contains("circuit"), "{}", end.stderr);
}

// ---------------------------------------------------------------------------------------------
// Probes that never come back, and the test clock itself
// ---------------------------------------------------------------------------------------------

/// A probe the client cancels (`notifications/cancelled`, e.g. after its own timeout) must not
/// leave the tool's circuit half-open for the rest of the session.
/// The cancelled request is no longer pending, so no answer would ever be matched to it: the
/// breaker must forget the probe and let the next call be one.
#[test]
fn a_cancelled_probe_does_not_block_the_tool_for_good() {
    let mut g = Gateway::start("cancelled-probe", None);
    for id in 1..=4 {
        g.send(&util::tool_call(&id.to_string(), "silent", "{}"));
    }
    g.sync();
    g.refused(
        "5",
        "silent",
        "{}",
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_000)),
    );
    g.time(30_000);
    g.send(&util::tool_call("6", "silent", r#"{"probe":true}"#));
    g.send(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":6,"reason":"timeout"}}"#,
    );
    g.sync();
    // Right away (long before an unanswered probe would be replaced), the next call is the
    // new probe.
    g.time(30_001);
    g.send(&util::tool_call("7", "silent", r#"{"n":7}"#));
    // The session's end settles it: every line is judged before sentinel exits.
    let end = g.end();
    assert!(
        end.server_calls().contains(&"7".to_owned()),
        "call 7, right after the probe was cancelled, never reached the server; \
         blocked: {:?}",
        end.decisions("blocked")
    );
}

/// The file clock must read a time written with milliseconds as exactly that time.
/// Through an `f64`, `1767225670.800` would be 1767225670.79999995…, read as 799 ms, and a loop
/// tripped at that instant would report `retry_at` …:01:40.799000Z.
#[test]
fn the_file_clock_reads_milliseconds_exactly() {
    let mut g = Gateway::start("clock-precision", None);
    g.write_clock(&format!("{}.800", T0 + 70));
    for id in 1..=4 {
        g.forwarded(&id.to_string(), "echo", "{}");
    }
    g.refused(
        "5",
        "echo",
        "{}",
        "breaker.loop",
        "Loop Detected",
        Some(&at(100_800)),
    );
}

// ---------------------------------------------------------------------------------------------
// Budgets in monitor mode
// ---------------------------------------------------------------------------------------------

/// In monitor mode a call over the budget is forwarded and its cost charged, so the session can
/// spend more than its budget. Calls of free tools cost nothing and are never over a budget:
/// only the paid calls after it are recorded as what would have been refused.
#[test]
fn in_monitor_mode_spending_over_the_budget_is_not_held_against_free_tools() {
    let mut g = Gateway::start(
        "monitor-budget",
        Some(&breaker_policy(
            "{mode: monitor, budget: 0.05, loop: {repeats: 0}, \
             tools: [{tools: [paid], cost: 0.02}]}",
        )),
    );
    for id in ["1", "2", "3"] {
        g.forwarded(id, "paid", &format!(r#"{{"n":{id}}}"#));
    }
    // 0.06 spent of 0.05: a free tool is still within budget.
    g.forwarded("4", "echo", r#"{"n":4}"#);
    g.forwarded("5", "echo", r#"{"n":5}"#);
    g.forwarded("6", "paid", r#"{"n":6}"#);
    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "3", "4", "5", "6"]));
    assert_eq!(end.decisions("blocked"), decided(&[]));
    assert_eq!(
        end.decisions("monitored"),
        decided(&[("3", "breaker.budget"), ("6", "breaker.budget")])
    );
}

// ---------------------------------------------------------------------------------------------
// Late answers
// ---------------------------------------------------------------------------------------------

/// While a probe is in flight, the answer to a call made before the circuit opened (a slow
/// call already at the server) decides nothing: only the probe's own answer closes the
/// circuit, and until it comes other calls wait.
#[test]
fn a_late_answer_to_an_older_call_does_not_decide_a_half_open_circuit() {
    let mut g = Gateway::start("late-answer", Some(&breaker_policy("{loop: {repeats: 2}}")));
    // A slow call is at the server (which answers in order) when a loop opens the circuit.
    g.send(&util::tool_call("1", "sleep", r#"{"ms":2500}"#));
    g.send(&util::tool_call("2", "sleep", r#"{"ms":0}"#));
    g.refused(
        "3",
        "sleep",
        r#"{"ms":0}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_000)),
    );
    // Cooldown over: call 4 is the probe, and slow too.
    g.time(30_000);
    g.send(&util::tool_call("4", "sleep", r#"{"ms":3000}"#));
    // The answers to calls 1 and 2 come while the probe is in flight.
    for id in ["1", "2"] {
        let v = g.recv();
        assert_eq!(id_text(&v), id, "{v}");
        assert!(v.get("result").is_some(), "{v}");
    }
    g.refused(
        "5",
        "sleep",
        r#"{"ms":0,"n":5}"#,
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_000)),
    );
    let v = g.recv();
    assert_eq!(id_text(&v), "4", "the probe's answer: {v}");
    assert!(v.get("result").is_some(), "{v}");
    g.forwarded("6", "sleep", r#"{"ms":0,"n":6}"#);

    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "4", "6"]));
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "sleep", 0),
            ("breaker_half_open", "sleep", 30_000),
            ("breaker_closed", "sleep", 30_000),
        ])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("3", "breaker.loop"), ("5", "breaker.half_open")])
    );
}
