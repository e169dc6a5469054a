//! The four ways the corpus test asks the real `sentinel` for a decision: demo mode (the calls
//! on stdin, no server), proxy mode (in front of `fake_server --tools` playing the corpus
//! server: initialize and tools/list first, so the gateway has seen the server's own tool
//! definitions before the first call), `sentinel explain` (one process per case) and
//! `sentinel policy test` (one generated cases file per group). Each returns one [`Decision`]
//! per case, in the order of the cases.

use crate::util;
use crate::{Case, Decision, Group};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BLOCKED: i64 = -32010;
const APPROVAL: i64 = -32012;
const LIMIT: Duration = Duration::from_secs(60);

/// The `tools/call` line of case `i` (id `i`, a number).
fn call_line(i: usize, case: &Case) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": i,
        "method": "tools/call",
        "params": {"name": case.tool, "arguments": case.arguments},
    })
    .to_string()
}

/// The options every mode shares: the policy (none: the built-in one) and the server's name,
/// which is the command line the real server is started with (rules and dialect inference
/// read it).
fn common(cmd: &mut Command, group: &Group) {
    if let Some(policy) = &group.policy {
        cmd.arg("--policy").arg(policy);
    }
    cmd.arg("--server-name").arg(&group.server.command);
}

/// Reads back, per id, what a session decided: a refusal from Sentinel on stdout (with its
/// rule), else a `monitored` audit entry, else allowed. `forwarded` says whether an allowed
/// call must have been answered by the server (proxy) or echoed (demo).
fn decisions_from(
    out: &[u8],
    dir: &Path,
    n: usize,
    forwarded: bool,
    cases: &[&Case],
) -> Vec<Decision> {
    let mut by_id: HashMap<u64, Value> = HashMap::new();
    for msg in util::json_lines(out) {
        if let Some(id) = msg.get("id").and_then(Value::as_u64) {
            by_id.insert(id, msg);
        }
    }
    let mut monitored: HashMap<u64, String> = HashMap::new();
    for entry in util::audit_entries(dir) {
        let id = entry.get("message_id").and_then(Value::as_u64);
        if let (Some(id), Some("monitored")) = (id, entry["action"].as_str()) {
            monitored
                .entry(id)
                .or_insert_with(|| entry["rule"].as_str().unwrap_or("?").to_owned());
        }
    }
    (0..n)
        .map(|i| {
            let id = i as u64;
            let Some(msg) = by_id.get(&id) else {
                return Decision::missing("no answer for this call");
            };
            if let Some(err) = msg.get("error") {
                let rule = err["data"]["rule"].as_str().map(str::to_owned);
                return match err["code"].as_i64() {
                    Some(BLOCKED) => Decision::new("block", rule),
                    Some(APPROVAL) => Decision::new("approve", rule),
                    _ => Decision::missing(&format!("unexpected error {err}")),
                };
            }
            let reached = if forwarded {
                // The fake server echoes the arguments as the result's text.
                let text = msg["result"]["content"][0]["text"].as_str().unwrap_or("");
                serde_json::from_str::<Value>(text).ok().as_ref() == Some(&cases[i].arguments)
            } else {
                msg.get("method").and_then(Value::as_str) == Some("tools/call")
            };
            if !reached {
                return Decision::missing(&format!("allowed, but not as sent: {msg}"));
            }
            match monitored.get(&id) {
                Some(rule) => Decision::new("monitor", Some(rule.clone())),
                None => Decision::new("allow", None),
            }
        })
        .collect()
}

/// Demo mode: `sentinel [--policy P] --server-name S < calls`.
pub fn demo(group: &Group, cases: &[&Case]) -> Vec<Decision> {
    let dir = util::scratch("corpus-demo");
    let mut cmd = util::command(&dir);
    common(&mut cmd, group);
    let mut input = String::new();
    for (i, case) in cases.iter().enumerate() {
        input.push_str(&call_line(i, case));
        input.push('\n');
    }
    let (status, out, stderr) = util::run(&mut cmd, input.as_bytes(), LIMIT);
    assert!(status.success(), "demo mode failed: {stderr}");
    decisions_from(&out, &dir, cases.len(), false, cases)
}

/// Proxy mode, in front of the fake server playing the corpus server's tool definitions.
pub fn proxy(group: &Group, cases: &[&Case]) -> Vec<Decision> {
    let dir = util::scratch("corpus-proxy");
    let mut cmd = util::command(&dir);
    common(&mut cmd, group);
    cmd.arg("--")
        .arg(util::fake_server())
        .arg("--tools")
        .arg(&group.server.path);
    let mut s = util::Session::spawn(&mut cmd);
    s.send(
        r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"corpus","version":"1"}}}"#,
    );
    let init = s.recv(LIMIT);
    assert_eq!(
        init["result"]["serverInfo"], group.server.server_info,
        "the fake server plays {}",
        group.server.name
    );
    s.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    s.send(r#"{"jsonrpc":"2.0","id":"list","method":"tools/list","params":{}}"#);
    // Sentinel forwarded this answer to us, so it has read it before any call is sent.
    let list = s.recv(LIMIT);
    assert_eq!(
        list["result"]["tools"], group.server.tools,
        "tools/list passes unchanged"
    );
    let mut input = String::new();
    for (i, case) in cases.iter().enumerate() {
        input.push_str(&call_line(i, case));
        input.push('\n');
    }
    s.send_raw(input.as_bytes());
    s.close_stdin();
    let status = s.wait(LIMIT);
    let out = s.rest_of_stdout();
    let stderr = s.stderr();
    assert!(status.success(), "proxy mode failed: {status:?} {stderr}");
    decisions_from(&out, &dir, cases.len(), true, cases)
}

/// `sentinel explain [--policy P] --server-name S MESSAGE`, one process per case.
pub fn explain(group: &Group, cases: &[&Case]) -> Vec<Decision> {
    let dir = util::scratch("corpus-explain");
    cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let mut cmd = util::bare(&dir);
            cmd.arg("explain");
            common(&mut cmd, group);
            cmd.arg(call_line(i, case));
            let (status, out, stderr) = util::run(&mut cmd, b"", LIMIT);
            let text = String::from_utf8_lossy(&out);
            let Some(line) = text.lines().find_map(|l| l.strip_prefix("decision: ")) else {
                return Decision::missing(&format!(
                    "explain printed no decision ({status:?}): {stderr}"
                ));
            };
            // "block (rule sql.x)" or "allow" or "allow (only tools/call ...)".
            let (verdict, rest) = line.split_once(' ').unwrap_or((line, ""));
            let rule = rest
                .strip_prefix("(rule ")
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_owned);
            let rule = rule.filter(|_| verdict != "allow");
            Decision::new(verdict, rule)
        })
        .collect()
}

/// `sentinel policy test FILE CASES` with a cases file generated from `expected` (the demo
/// mode's decisions): an `ok` line is agreement, a `not ok` line says what policy test got.
/// Without a policy, FILE is `sentinel policy show-default` (the built-in policy as a file).
pub fn policy_test(group: &Group, cases: &[&Case], expected: &[Decision]) -> Vec<Decision> {
    let dir = util::scratch("corpus-policy-test");
    let policy = match &group.policy {
        Some(p) => p.clone(),
        None => {
            let (status, out, stderr) = util::run(
                util::bare(&dir).args(["policy", "show-default"]),
                b"",
                LIMIT,
            );
            assert!(status.success(), "show-default failed: {stderr}");
            let path = dir.join("builtin.yaml");
            std::fs::write(&path, out).expect("write builtin.yaml");
            path
        }
    };
    let doc: Vec<Value> = cases
        .iter()
        .zip(expected)
        .enumerate()
        .map(|(i, (case, want))| {
            let mut c = json!({
                "name": format!("case {i}"),
                "server": group.server.command,
                "tool": case.tool,
                "arguments": case.arguments,
                // A decision demo mode could not read back is compared as "allow".
                "expect": if want.verdict == "?" { "allow" } else { want.verdict.as_str() },
            });
            if let Some(rule) = &want.rule {
                c["rule"] = json!(rule);
            }
            c
        })
        .collect();
    let cases_path = dir.join("cases.yaml");
    std::fs::write(&cases_path, json!({ "cases": doc }).to_string()).expect("write cases");
    let mut cmd = util::bare(&dir);
    cmd.args(["policy", "test"]).arg(&policy).arg(&cases_path);
    let (_, out, stderr) = util::run(&mut cmd, b"", LIMIT);
    let text = String::from_utf8_lossy(&out);
    let mut got: Vec<Option<Decision>> = vec![None; cases.len()];
    for line in text.lines() {
        let (ok, rest) = if let Some(r) = line.strip_prefix("ok ") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("not ok ") {
            (false, r)
        } else {
            continue;
        };
        let Some((n, rest)) = rest.split_once(" - case ") else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        let Some(slot) = got.get_mut(n.wrapping_sub(1)) else {
            continue;
        };
        *slot = Some(if ok {
            expected[n - 1].clone()
        } else {
            // "case I: expected V (R), got V (R)"
            match rest.rsplit_once(", got ") {
                Some((_, g)) => {
                    let (verdict, rule) = g.split_once(' ').unwrap_or((g, ""));
                    let rule = rule
                        .strip_prefix('(')
                        .and_then(|r| r.strip_suffix(')'))
                        .map(str::to_owned);
                    Decision::new(verdict, rule.filter(|_| verdict != "allow"))
                }
                None => Decision::missing(rest),
            }
        });
    }
    got.into_iter()
        .map(|d| d.unwrap_or_else(|| Decision::missing(&format!("no line for it: {stderr}"))))
        .collect()
}
