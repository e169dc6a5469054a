//! The channel on this host end to end: a real `sentinel` (demo mode, and the proxy in front
//! of the fake server) with its socket listener, and `sentinel approvals` answering it. A call
//! is held while a `watch` runs, listed, approved or denied by `approve`/`deny` or by the
//! watch's answers, and reaches the agent; without a watch (a dead marker included) it is
//! refused at once; an unusable runtime directory leaves the channel off and Sentinel running;
//! the socket is private and removed when Sentinel ends. Every test has a runtime directory of
//! its own (`XDG_RUNTIME_DIR`).

mod util;

use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;
use util::Session;

const T: Duration = Duration::from_secs(10);
const DENIED: i64 = -32012;

struct Env {
    dir: PathBuf,
    xdg: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir = util::scratch(name);
        let xdg = dir.join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        Env { dir, xdg }
    }

    fn rundir(&self) -> PathBuf {
        self.xdg.join("mcp-sentinel")
    }

    /// `sentinel approvals ARGS`.
    fn approvals(&self, args: &[&str]) -> Command {
        let mut c = util::bare(&self.dir);
        c.env("XDG_RUNTIME_DIR", &self.xdg)
            .arg("approvals")
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let (status, out, err) = util::run(&mut self.approvals(args), b"", T);
        (status, String::from_utf8(out).unwrap(), err)
    }

    /// `sentinel approvals watch` without a terminal, once its marker is there.
    fn watch(&self) -> Session {
        let s = Session::spawn(&mut self.approvals(&["watch"]));
        let marker = self.rundir().join(format!("watch-{}.sock", s.child.id()));
        wait_until("the watch marker", || marker.exists());
        s
    }

    /// A demo-mode `sentinel` (JSON-RPC lines on stdin), with `args` before it starts.
    fn demo(&self, args: &[&str]) -> Session {
        let mut c = util::command(&self.dir);
        c.env("XDG_RUNTIME_DIR", &self.xdg).args(args);
        Session::spawn(&mut c)
    }

    fn socket(&self, pid: u32) -> PathBuf {
        self.rundir().join(format!("{pid}.sock"))
    }
}

fn backdate(path: &Path) {
    util::backdate(path)
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    util::wait_until(what, T, f)
}

fn call(id: u64, tool: &str, query: &str) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
           "params":{"name":tool,"arguments":{"query":query}}})
    .to_string()
}

/// The next `held` event on a watch's stdout.
fn next_held(watch: &Session) -> Value {
    loop {
        let v = watch.recv(T);
        if v["event"] == "held" {
            return v;
        }
    }
}

/// The next event of `kind` on a watch's stdout.
fn next_event(watch: &Session, kind: &str) -> Value {
    loop {
        let v = watch.recv(T);
        if v["event"] == kind {
            return v;
        }
    }
}

fn stop(mut watch: Session) {
    util::send_signal(watch.child.id(), libc::SIGTERM);
    assert_eq!(watch.wait(T).code(), Some(0));
}

fn policy(dir: &Path) -> PathBuf {
    let p = dir.join("policy.yaml");
    std::fs::write(
        &p,
        r#"version: 1
profiles:
  default:
    rules:
      - id: deploy
        tools: [deploy]
        action: approve
        approval: { channel: local, timeout: 20s, allow_session: false }
"#,
    )
    .unwrap();
    p
}

#[test]
fn a_held_call_is_listed_then_approved_and_reaches_the_server() {
    let env = Env::new("flow-approve");
    let watch = env.watch();
    let mut demo = env.demo(&[]);
    let pid = demo.child.id();
    let line = call(1, "write_query", "DROP TABLE users");
    demo.send(&line);

    let held = next_held(&watch);
    let id = format!("{pid}-1");
    assert_eq!(held["id"], id.as_str(), "{held}");
    assert_eq!(held["pid"], pid);
    assert_eq!(held["tool"], "write_query");
    assert_eq!(held["rule"], "sql.destructive");
    assert_eq!(held["arguments"], json!({"query": "DROP TABLE users"}));
    assert_eq!(held["local"], true);

    // The socket is the Sentinel's, private.
    let socket = env.socket(pid);
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let (status, out, err) = env.run(&["list", "--json"]);
    assert!(status.success(), "{err}");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["id"], id.as_str());
    for key in ["server", "tool", "rule", "arguments", "since", "deadline"] {
        assert!(!listed[0][key].is_null(), "{key}: {out}");
    }
    let (status, out, _) = env.run(&["list"]);
    assert!(status.success());
    assert!(out.contains(&id) && out.contains("write_query"), "{out}");

    // Nothing reached the "server" (demo stdout) yet.
    assert!(demo.quiet_for(Duration::from_millis(200)));
    let (status, out, err) = env.run(&["approve", &id]);
    assert!(status.success(), "{out}{err}");
    assert_eq!(
        out,
        format!("approved call {id}: write_query on (demo: no server)\n")
    );
    // Approved: the original line, byte for byte.
    assert_eq!(demo.recv_raw(T), format!("{line}\n").into_bytes());
    assert_eq!(
        next_event(&watch, "resolved"),
        json!({"event": "resolved", "id": id, "outcome": "approved"})
    );

    // Answered once: a second answer is refused, exit 1.
    let (status, _, err) = env.run(&["deny", &id]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains(&format!("no held call {id}")), "{err}");

    demo.close_stdin();
    assert!(demo.wait(T).success());
    assert!(!socket.exists(), "the socket outlived its Sentinel");
    let audit = util::audit_entries(&env.dir);
    let approved: Vec<&Value> = audit.iter().filter(|e| e["action"] == "approved").collect();
    assert_eq!(approved.len(), 1, "{audit:?}");
    assert_eq!(approved[0]["approval"]["channel"], "local");
    let by = approved[0]["approval"]["by"].as_str().unwrap();
    assert!(by.starts_with("user ") && by.contains("(uid "), "{by}");
    stop(watch);
}

#[test]
fn a_denial_with_a_reason_reaches_the_agent() {
    let env = Env::new("flow-deny");
    let watch = env.watch();
    let mut demo = env.demo(&[]);
    demo.send(&call(7, "write_query", "DELETE FROM users"));
    let id = next_held(&watch)["id"].as_str().unwrap().to_owned();
    let (status, out, err) = env.run(&["deny", &id, "--reason", "ask the DBA first"]);
    assert!(status.success(), "{out}{err}");
    assert!(out.starts_with(&format!("denied call {id}")), "{out}");
    let answer = demo.recv(T);
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["error"]["code"], DENIED, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("ask the DBA first"), "{message}");
    assert_eq!(next_event(&watch, "resolved")["outcome"], "denied");
    demo.close_stdin();
    assert!(demo.wait(T).success());
    stop(watch);
}

#[test]
fn the_watch_answers_the_oldest_call_with_a_line() {
    let env = Env::new("flow-watch-lines");
    let mut watch = env.watch();
    let mut demo = env.demo(&[]);
    let first = call(1, "write_query", "DROP TABLE a");
    demo.send(&first);
    demo.send(&call(2, "write_query", "DROP TABLE b"));
    let a = next_held(&watch)["id"].as_str().unwrap().to_owned();
    let b = next_held(&watch)["id"].as_str().unwrap().to_owned();
    // `s`: the oldest, approved for the session.
    watch.send("s");
    let answered = next_event(&watch, "answered");
    assert_eq!(answered["id"], a.as_str());
    assert_eq!(answered["ok"], true, "{answered}");
    assert_eq!(demo.recv_raw(T), format!("{first}\n").into_bytes());
    // The same call again is approved by the session's approval, without being held.
    let again = call(3, "write_query", "DROP TABLE a");
    demo.send(&again);
    assert_eq!(demo.recv_raw(T), format!("{again}\n").into_bytes());
    // `n`: the next oldest, denied.
    watch.send("n");
    let answered = next_event(&watch, "answered");
    assert_eq!(
        (answered["id"].as_str(), answered["answer"].as_str()),
        (Some(b.as_str()), Some("deny"))
    );
    assert_eq!(demo.recv(T)["error"]["code"], DENIED);
    demo.close_stdin();
    assert!(demo.wait(T).success());
    stop(watch);
}

#[test]
fn a_rule_that_forbids_the_session_refuses_approve_session() {
    let env = Env::new("flow-no-session");
    let watch = env.watch();
    let policy = policy(&env.dir);
    let mut demo = env.demo(&["--policy", policy.to_str().unwrap()]);
    let line = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"deploy","arguments":{"env":"prod"}}}).to_string();
    demo.send(&line);
    let held = next_held(&watch);
    assert_eq!(held["session_allowed"], false);
    let id = held["id"].as_str().unwrap().to_owned();
    let (status, out, err) = env.run(&["approve", &id, "--session"]);
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(err.contains("forbids approving for the session"), "{err}");
    let (status, _, err) = env.run(&["approve", &id]);
    assert!(status.success(), "{err}");
    assert_eq!(demo.recv_raw(T), format!("{line}\n").into_bytes());
    demo.close_stdin();
    assert!(demo.wait(T).success());
    stop(watch);
}

#[test]
fn without_a_watch_a_call_is_refused_at_once_and_a_dead_marker_is_cleared() {
    let env = Env::new("flow-no-watch");
    std::fs::create_dir(env.rundir()).unwrap();
    std::fs::set_permissions(env.rundir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let dead = env.rundir().join("watch-4000001.sock");
    drop(UnixListener::bind(&dead).unwrap());
    backdate(&dead);
    let mut demo = env.demo(&[]);
    demo.send(&call(1, "write_query", "DROP TABLE users"));
    let answer = demo.recv(T);
    assert_eq!(answer["error"]["code"], DENIED, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sentinel approvals watch"),
        "{answer}"
    );
    assert!(!dead.exists(), "the dead watcher's marker is still there");
    demo.close_stdin();
    assert!(demo.wait(T).success());
}

#[test]
fn an_unusable_runtime_directory_leaves_the_channel_off_and_sentinel_running() {
    let env = Env::new("flow-open-dir");
    std::fs::create_dir(env.rundir()).unwrap();
    std::fs::set_permissions(env.rundir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut demo = env.demo(&[]);
    demo.send(&call(1, "read_query", "SELECT 1"));
    demo.send(&call(2, "write_query", "DROP TABLE users"));
    demo.close_stdin();
    let status = demo.wait(T);
    let out = demo.rest_of_stdout();
    let err = demo.stderr();
    assert!(status.success(), "{status:?} {err}");
    let lines = util::json_lines(&out);
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[1]["error"]["code"], DENIED);
    assert!(err.contains("approval channel"), "{err}");
    assert!(err.contains("is off"), "{err}");
    assert!(
        err.contains(&format!("chmod 700 {}", env.rundir().display())),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(env.rundir()).unwrap().count(), 0);
}

#[test]
fn the_proxy_listens_while_it_runs_and_removes_its_socket_when_it_ends() {
    let env = Env::new("flow-proxy");
    let mut c = util::command(&env.dir);
    c.env("XDG_RUNTIME_DIR", &env.xdg)
        .arg("--")
        .arg(util::fake_server());
    let mut s = Session::spawn(&mut c);
    let socket = env.socket(s.child.id());
    wait_until("the proxy's socket", || socket.exists());
    let (status, out, _) = env.run(&["list"]);
    assert!(status.success());
    assert_eq!(out, "no calls are waiting for approval\n");
    util::send_signal(s.child.id(), libc::SIGTERM);
    s.wait(T);
    assert!(!socket.exists(), "the socket outlived the proxy");
}

#[test]
fn demo_mode_at_the_end_of_its_input_waits_for_the_held_call_to_be_answered() {
    // `cat calls.jsonl | sentinel` with a watch running: the input ends at once, the held
    // call is still answered, then Sentinel exits.
    let env = Env::new("flow-demo-eof");
    let watch = env.watch();
    let mut demo = env.demo(&[]);
    let pid = demo.child.id();
    let line = call(1, "write_query", "DELETE FROM users");
    demo.send(&line);
    demo.close_stdin();
    let held = next_held(&watch);
    assert_eq!(held["id"], format!("{pid}-1"), "{held}");
    assert!(util::alive(pid), "demo mode exited with a call still held");
    let (status, out, err) = env.run(&["approve", &format!("{pid}-1")]);
    assert!(status.success(), "{out}{err}");
    assert_eq!(demo.recv_raw(T), format!("{line}\n").into_bytes());
    assert!(demo.wait(T).success());
    stop(watch);
}
