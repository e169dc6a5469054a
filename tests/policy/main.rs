//! End-to-end tests of policy files (issue 3), driving the real `sentinel` binary: `--policy`
//! and `SENTINEL_POLICY`, YAML and JSON, the built-in default as a file, validation (version,
//! unknown fields, with line and column), profiles and `extends:`, modes, rules (tool globs,
//! argument conditions, the SQL guard, actions, reasons and hints, server scoping), first-match
//! precedence, refusing to start on an invalid policy, and the `policy check`, `policy test`
//! and `explain` subcommands.
//!
//! Most decisions are checked in demo mode (no server: JSON-RPC lines on stdin, allowed lines
//! echoed, refusals answered), where every call of a case table runs in one process and the
//! output is mapped back by id. Proxy mode with the fake server checks what reaches a server.

#[path = "../util/mod.rs"]
mod util;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Generous per-run limit, so a slow machine does not flake.
const T: Duration = Duration::from_secs(10);

const BLOCKED: i64 = -32010;
const APPROVAL_REQUIRED: i64 = -32012;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// `sentinel --no-color --audit-log DIR/audit.log` with no policy settings inherited from the
/// environment of the test run.
fn gateway(dir: &Path) -> Command {
    let mut c = util::command(dir);
    c.env_remove("SENTINEL_POLICY")
        .env_remove("SENTINEL_PROFILE");
    c
}

/// A bare `sentinel` (for subcommands, which must be the first word), hermetic as above.
fn bare(dir: &Path) -> Command {
    let mut c = util::bare(dir);
    c.env("NO_COLOR", "1");
    c
}

/// What one run produced.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command, input: &str) -> Out {
    let (status, stdout, stderr) = util::run_lenient(cmd, input.as_bytes(), T);
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
    }
}

/// Demo mode in `dir` with these options, one line per element of `lines`.
fn demo(dir: &Path, opts: &[&str], lines: &[String]) -> Out {
    demo_env(dir, opts, &[], lines)
}

fn demo_env(dir: &Path, opts: &[&str], env: &[(&str, &str)], lines: &[String]) -> Out {
    let mut cmd = gateway(dir);
    cmd.args(opts);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut input = String::new();
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    run(&mut cmd, &input)
}

/// A subcommand (`policy ...`, `explain ...`) with optional stdin.
fn sub(dir: &Path, args: &[&str], input: &str) -> Out {
    run(bare(dir).args(args), input)
}

/// A `tools/call` request line with a numeric id.
fn call(id: u64, tool: &str, arguments: Value) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    })
    .to_string()
}

/// Demo stdout as id -> verdict: `allow` (the line was echoed), `block RULE` (-32010) or
/// `approve RULE` (-32012). Fails on anything else, or on two lines for one id.
fn verdicts(stdout: &str) -> BTreeMap<i64, String> {
    let mut m = BTreeMap::new();
    for v in util::json_lines(stdout.as_bytes()) {
        let id = v["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no numeric id: {v}"));
        let word = if v.get("method").is_some() {
            "allow".to_owned()
        } else if let Some(e) = v.get("error") {
            let kind = match e["code"].as_i64() {
                Some(BLOCKED) => "block",
                Some(APPROVAL_REQUIRED) => "approve",
                _ => panic!("unexpected error code: {v}"),
            };
            let rule = e["data"]["rule"]
                .as_str()
                .unwrap_or_else(|| panic!("error without data.rule: {v}"));
            format!("{kind} {rule}")
        } else {
            panic!("unexpected line: {v}")
        };
        assert!(m.insert(id, word).is_none(), "two lines for id {id}");
    }
    m
}

/// The expected verdict map, from (id, verdict) pairs.
fn expect(pairs: &[(i64, &str)]) -> BTreeMap<i64, String> {
    pairs.iter().map(|(i, v)| (*i, (*v).to_owned())).collect()
}

/// The error reply for `id` in demo stdout.
fn error_for(stdout: &str, id: i64) -> Value {
    util::json_lines(stdout.as_bytes())
        .into_iter()
        .find(|v| v["id"] == json!(id) && v.get("error").is_some())
        .unwrap_or_else(|| panic!("no error for id {id} in {stdout}"))["error"]
        .clone()
}

/// An audit entry as (message_id, action, rule, would_have); message_id -1 when null.
type Row = (i64, String, String, Option<String>);

/// Audit entries as rows.
fn audit_rows(dir: &Path) -> Vec<Row> {
    util::audit_entries(dir)
        .iter()
        .map(|e| {
            (
                e["message_id"].as_i64().unwrap_or(-1),
                e["action"].as_str().unwrap_or("?").to_owned(),
                e["rule"].as_str().unwrap_or("?").to_owned(),
                e["would_have"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn row(id: i64, action: &str, rule: &str, would: Option<&str>) -> Row {
    (id, action.into(), rule.into(), would.map(str::to_owned))
}

/// Asserts that a demo run refused to start because of the policy: exit 2, nothing judged,
/// and stderr names `needle` (e.g. `FILE:LINE:COL`).
fn assert_refused_to_start(out: &Out, needle: &str) {
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.is_empty(), "judged messages anyway: {out:?}");
    assert!(
        out.stderr.contains(needle),
        "stderr lacks {needle:?}: {out:?}"
    );
}

/// The trace lines of an `explain` output, without their numbers.
fn trace(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != "trace:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let l = l.trim_start();
            l.split_once(". ").map_or(l, |(_, rest)| rest).to_owned()
        })
        .collect()
}

/// The `decision:` line of an `explain` output.
fn decision(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("decision: "))
        .unwrap_or_else(|| panic!("no decision line in {stdout}"))
}

mod conditions;
mod files;
mod profiles;
mod rules;
mod scope;
mod tooling;
mod wording;
