//! Human approval through the client (issue 10): the real `sentinel` in front of the fake
//! server, driven by scripted clients that do and do not declare elicitation, and by a
//! 2026-07-28 client that answers `input_required` with a retry. Each test checks what the
//! client sees, what the server receives (its `--log`), and the audit log.

#[path = "../util/mod.rs"]
mod util;

mod client;
mod mrtr;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use util::Session;

const T: Duration = Duration::from_secs(10);

/// The policy of these tests: destructive SQL and the `deploy` tool need approval; `deploy`
/// may not be approved for the session; `ship` only on this host's channel; `launch` only in
/// the client.
fn policy(dir: &Path, timeout: &str) -> PathBuf {
    let p = dir.join("policy.yaml");
    std::fs::write(
        &p,
        format!(
            r#"version: 1
profiles:
  default:
    rules:
      - id: deploy
        tools: [deploy]
        action: approve
        approval: {{ timeout: {timeout}, allow_session: false }}
      - id: ship
        tools: [ship]
        action: approve
        approval: {{ channel: local, timeout: {timeout} }}
      - id: launch
        tools: [launch]
        action: approve
        approval: {{ channel: client, timeout: {timeout} }}
      - id: sql
        sql: {{ destructive: approve }}
        action: block
        approval: {{ timeout: {timeout} }}
"#
        ),
    )
    .unwrap();
    p
}

/// A proxy session: `sentinel --policy P -- fake_server --log LOG`, with its runtime directory
/// private to the test (so no `sentinel approvals watch` of the caller's counts).
struct Proxy {
    s: Session,
    dir: PathBuf,
}

impl Proxy {
    fn start(name: &str, timeout: &str) -> Proxy {
        Proxy::start_with(name, timeout, |_, _| {})
    }

    /// [`Proxy::start`], with `setup` given the command and the test's directory first.
    fn start_with(name: &str, timeout: &str, setup: impl FnOnce(&mut Command, &Path)) -> Proxy {
        let dir = util::scratch(name);
        let policy = policy(&dir, timeout);
        let mut cmd = sentinel_in(&dir);
        setup(&mut cmd, &dir);
        cmd.arg("--policy")
            .arg(&policy)
            .arg("--")
            .arg(util::fake_server())
            .arg("--log")
            .arg(dir.join("server.log"))
            .arg("--flush-each");
        Proxy {
            s: Session::spawn(&mut cmd),
            dir,
        }
    }

    /// Sends `initialize` (with or without the elicitation capability) and reads its answer.
    fn initialize(&mut self, elicitation: bool) {
        let caps = if elicitation {
            json!({"elicitation": {}})
        } else {
            json!({})
        };
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":caps,
            "clientInfo":{"name":"scripted-client","version":"1"}}});
        self.s.send(&init.to_string());
        let answer = self.s.recv(T);
        assert_eq!(answer["id"], 0, "{answer}");
        self.s
            .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    }

    fn send(&mut self, v: &Value) {
        self.s.send(&v.to_string());
    }

    fn recv(&self) -> Value {
        self.s.recv(T)
    }

    /// Lines the server received, as JSON.
    fn server_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn server_calls(&self) -> Vec<Value> {
        self.server_lines()
            .into_iter()
            .filter(|l| l["method"] == "tools/call")
            .collect()
    }

    /// Closes stdin and waits for a clean exit.
    fn finish(mut self) -> (Vec<Value>, String) {
        self.s.close_stdin();
        let status = self.s.wait(T);
        assert!(status.success(), "{status:?}");
        let err = self.s.stderr();
        (util::audit_entries(&self.dir), err)
    }
}

fn call(id: Value, tool: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}})
}

/// The audit entries with `action`.
fn with_action<'a>(audit: &'a [Value], action: &str) -> Vec<&'a Value> {
    audit.iter().filter(|e| e["action"] == action).collect()
}

/// A `sentinel` command in `dir` with its own runtime directory.
fn sentinel_in(dir: &Path) -> Command {
    let runtime = dir.join("run");
    let _ = std::fs::create_dir(&runtime);
    let mut cmd = util::command(dir);
    cmd.env("XDG_RUNTIME_DIR", runtime);
    cmd
}
