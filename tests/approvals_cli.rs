//! `sentinel approvals` end to end, the real binary against a runtime directory of each
//! test's own (`XDG_RUNTIME_DIR` set to a fresh directory, so nothing depends on the caller's
//! environment or a watch they run): the directory's checks (refused when open to others, a
//! symlink or a file), `list` with no Sentinel, stale sockets removed, usage errors, answers
//! to unknown Sentinels, and `list`, `approve`, `deny` and `watch` (with and without a
//! terminal) against a fake Sentinel in the test process that speaks the socket protocol.
//! The same flows against a real Sentinel are in `approvals_local_flow.rs`.

mod util;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use util::Session;

const LONG: Duration = Duration::from_secs(10);

/// One test's directories: the working directory and `XDG_RUNTIME_DIR`.
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

    /// The runtime directory, created as Sentinel would.
    fn rundir(&self) -> PathBuf {
        let p = self.xdg.join("mcp-sentinel");
        if !p.exists() {
            std::fs::create_dir(&p).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = util::bare(&self.dir);
        c.env("XDG_RUNTIME_DIR", &self.xdg)
            .arg("approvals")
            .args(args);
        c
    }

    /// Runs `sentinel approvals ARGS` to its end: (status, stdout, stderr).
    fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let (status, out, err) = util::run(&mut self.cmd(args), b"", LONG);
        (status, String::from_utf8(out).expect("UTF-8 stdout"), err)
    }
}

fn describe(status: ExitStatus, out: &str, err: &str) -> String {
    format!("status {status:?}\nstdout:\n{out}\nstderr:\n{err}")
}

/// A held call as a Sentinel describes it.
fn held(id: &str, tool: &str, since: &str) -> Value {
    json!({
        "id": id,
        "pid": id.split('-').next().unwrap().parse::<u32>().unwrap(),
        "server": "db",
        "tool": tool,
        "rule": "sql.destructive",
        "reason": "Destructive Statement Prevention",
        "detail": "DROP removes a database object and its data",
        "arguments": {"query": "DROP TABLE users"},
        "since": since,
        "deadline": "2099-01-01T00:00:00.000000Z",
        "session_allowed": true,
        "local": true,
    })
}

/// A Sentinel's socket played by the test: it answers `list` with its held calls, takes
/// answers to them (recording every request), and streams events to its watchers.
struct FakeSentinel {
    held: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    watchers: Arc<Mutex<Vec<UnixStream>>>,
    path: PathBuf,
}

impl FakeSentinel {
    fn start(rundir: &Path, pid: u32, held: Vec<Value>) -> FakeSentinel {
        let path = rundir.join(format!("{pid}.sock"));
        let listener = UnixListener::bind(&path).unwrap();
        let fake = FakeSentinel {
            held: Arc::new(Mutex::new(held)),
            requests: Arc::default(),
            watchers: Arc::default(),
            path,
        };
        let (held, requests, watchers) = (
            fake.held.clone(),
            fake.requests.clone(),
            fake.watchers.clone(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (held, requests, watchers) = (held.clone(), requests.clone(), watchers.clone());
                thread::spawn(move || serve(conn, &held, &requests, &watchers));
            }
        });
        fake
    }

    /// Sends an event to every watcher.
    fn announce(&self, event: &Value) {
        if event["event"] == "held" {
            self.held.lock().unwrap().push(event.clone());
        }
        for w in self.watchers.lock().unwrap().iter_mut() {
            let _ = writeln!(w, "{event}");
        }
    }

    fn watchers(&self) -> usize {
        self.watchers.lock().unwrap().len()
    }

    /// The requests received with this op.
    fn requests(&self, op: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r["op"] == op)
            .cloned()
            .collect()
    }
}

fn serve(
    conn: UnixStream,
    held: &Mutex<Vec<Value>>,
    requests: &Mutex<Vec<Value>>,
    watchers: &Mutex<Vec<UnixStream>>,
) {
    let mut out = conn.try_clone().unwrap();
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        let req: Value = serde_json::from_str(&line).unwrap();
        requests.lock().unwrap().push(req.clone());
        let reply = match req["op"].as_str().unwrap() {
            "list" => json!({"ok": true, "held": *held.lock().unwrap()}),
            "watch" => {
                let _ = writeln!(out, "{}", json!({"ok": true}));
                for h in held.lock().unwrap().iter() {
                    let mut e = h.clone();
                    e["event"] = "held".into();
                    let _ = writeln!(out, "{e}");
                }
                watchers.lock().unwrap().push(out.try_clone().unwrap());
                continue;
            }
            _ => {
                let id = req["id"].as_str().unwrap_or("");
                let mut h = held.lock().unwrap();
                match h.iter().position(|c| c["id"] == id) {
                    Some(i) => {
                        h.remove(i);
                        json!({"ok": true})
                    }
                    None => {
                        json!({"ok": false, "error": format!("no held call {id}: it was answered, timed out or cancelled already")})
                    }
                }
            }
        };
        if writeln!(out, "{reply}").is_err() {
            return;
        }
    }
}

impl Drop for FakeSentinel {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn backdate(path: &Path) {
    util::backdate(path)
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    util::wait_until(what, LONG, f)
}

#[test]
fn a_runtime_directory_open_to_others_is_refused_saying_what_to_do() {
    let env = Env::new("open-dir");
    let rundir = env.rundir();
    std::fs::set_permissions(&rundir, std::fs::Permissions::from_mode(0o777)).unwrap();
    for args in [&["list"][..], &["approve", "1-1"], &["watch"]] {
        let (status, out, err) = env.run(args);
        let text = describe(status, &out, &err);
        assert_eq!(status.code(), Some(1), "{args:?}: {text}");
        assert!(out.is_empty(), "{text}");
        assert!(err.contains("is open to other users (mode 0777)"), "{text}");
        assert!(
            err.contains(&format!("chmod 700 {}", rundir.display())),
            "{text}"
        );
        assert_eq!(err.lines().count(), 1, "{text}");
    }
    // Nothing was left in it.
    assert_eq!(std::fs::read_dir(&rundir).unwrap().count(), 0);
}

#[test]
fn a_runtime_directory_that_is_a_symlink_or_a_file_is_refused() {
    let env = Env::new("symlink-dir");
    let elsewhere = env.dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    let rundir = env.xdg.join("mcp-sentinel");
    std::os::unix::fs::symlink(&elsewhere, &rundir).unwrap();
    let (status, out, err) = env.run(&["list"]);
    assert_eq!(status.code(), Some(1), "{}", describe(status, &out, &err));
    assert!(err.contains("is a symbolic link"), "{err}");
    std::fs::remove_file(&rundir).unwrap();
    std::fs::write(&rundir, "").unwrap();
    let (status, out, err) = env.run(&["list"]);
    assert_eq!(status.code(), Some(1), "{}", describe(status, &out, &err));
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn list_with_no_sentinel_says_so_and_creates_a_private_directory() {
    let env = Env::new("list-empty");
    let (status, out, err) = env.run(&["list"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    assert_eq!(out, "no calls are waiting for approval\n");
    assert_eq!(err, "");
    let meta = std::fs::symlink_metadata(env.xdg.join("mcp-sentinel")).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let (status, out, err) = env.run(&["list", "--json"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]));
}

#[test]
fn without_xdg_runtime_dir_the_directory_is_under_tmp() {
    let env = Env::new("no-xdg");
    let mut cmd = env.cmd(&["--help"]);
    cmd.env_remove("XDG_RUNTIME_DIR");
    let (status, out, _) = util::run(&mut cmd, b"", LONG);
    assert!(status.success());
    assert!(String::from_utf8_lossy(&out).contains("/tmp/mcp-sentinel-UID/"));
}

#[test]
fn a_stale_socket_is_removed_quietly_and_other_files_are_left_alone() {
    let env = Env::new("stale");
    let rundir = env.rundir();
    let stale = rundir.join("12345.sock");
    drop(UnixListener::bind(&stale).unwrap());
    backdate(&stale);
    let stale_marker = rundir.join("watch-12346.sock");
    drop(UnixListener::bind(&stale_marker).unwrap());
    let not_a_socket = rundir.join("777.sock");
    std::fs::write(&not_a_socket, "mine").unwrap();
    let (status, out, err) = env.run(&["list"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    assert_eq!(out, "no calls are waiting for approval\n");
    assert_eq!(err, "");
    assert!(!stale.exists(), "the stale socket is still there");
    // `list` does not look at watch markers (Sentinels do).
    assert!(stale_marker.exists());
    assert_eq!(std::fs::read_to_string(&not_a_socket).unwrap(), "mine");
    // Answering a call of the dead Sentinel says it is gone.
    drop(UnixListener::bind(&stale).unwrap());
    backdate(&stale);
    let (status, out, err) = env.run(&["approve", "12345-1"]);
    assert_eq!(status.code(), Some(1), "{}", describe(status, &out, &err));
    assert!(err.contains("no running Sentinel has pid 12345"), "{err}");
    assert!(!stale.exists());
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    let env = Env::new("usage");
    for (args, says) in [
        (&[][..], "needs a command"),
        (&["frob"], "unknown approvals command 'frob'"),
        (&["approve"], "usage: sentinel approvals approve ID"),
        (&["deny"], "usage: sentinel approvals deny ID"),
        (&["approve", "abc"], "invalid call id 'abc'"),
        (
            &["approve", "12-3", "--reason", "x"],
            "--reason is not an option",
        ),
        (&["deny", "12-3", "--session"], "--session is not an option"),
        (&["list", "--bogus"], "--bogus"),
        (&["list", "extra"], "takes no argument"),
        (&["watch", "--json"], "--json is not an option"),
        (&["deny", "12-3", "--reason"], "--reason"),
    ] {
        let (status, out, err) = env.run(args);
        let text = describe(status, &out, &err);
        assert_eq!(status.code(), Some(2), "{args:?}: {text}");
        assert!(out.is_empty(), "{args:?}: {text}");
        assert!(err.starts_with("sentinel: error: "), "{args:?}: {text}");
        assert!(err.contains(says), "{args:?}: {text}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {text}");
    }
}

#[test]
fn help_describes_the_subcommand() {
    let env = Env::new("help");
    for args in [&["--help"][..], &["-h"], &["watch", "--help"]] {
        let (status, out, err) = env.run(args);
        assert!(status.success(), "{}", describe(status, &out, &err));
        for word in [
            "approvals list",
            "approve ID",
            "deny ID",
            "approvals watch",
            "--session",
        ] {
            assert!(out.contains(word), "{word} missing from:\n{out}");
        }
    }
    let (status, out, _) = util::run(util::bare(&env.dir).arg("--help"), b"", LONG);
    assert!(status.success());
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("sentinel approvals watch"), "{out}");
}

#[test]
fn answering_a_call_of_no_running_sentinel_exits_1() {
    let env = Env::new("unknown-pid");
    for args in [
        &["approve", "999999-1"][..],
        &["deny", "999999-1", "--reason", "no"],
    ] {
        let (status, out, err) = env.run(args);
        let text = describe(status, &out, &err);
        assert_eq!(status.code(), Some(1), "{text}");
        assert!(out.is_empty(), "{text}");
        assert!(
            err.contains("no running Sentinel has pid 999999, so there is no call 999999-1"),
            "{text}"
        );
    }
}

#[test]
fn list_shows_every_sentinels_calls_with_what_a_terminal_would_hide_made_visible() {
    let env = Env::new("list");
    let rundir = env.rundir();
    let mut sneaky = held(
        "4000002-1",
        "wq\x1b[2J\u{202e}",
        "2026-01-01T00:00:02.000000Z",
    );
    sneaky["arguments"] = json!({"query": "DROP TABLE users; \u{200b}-- \x1b]0;owned\x07"});
    let _a = FakeSentinel::start(
        &rundir,
        4000001,
        vec![
            held("4000001-1", "write_query", "2026-01-01T00:00:01.000000Z"),
            held("4000001-2", "drop_table", "2026-01-01T00:00:03.000000Z"),
        ],
    );
    let _b = FakeSentinel::start(&rundir, 4000002, vec![sneaky]);
    let (status, out, err) = env.run(&["list"]);
    let text = describe(status, &out, &err);
    assert!(status.success(), "{text}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for col in ["ID", "SERVER", "TOOL", "RULE", "WAITED", "ARGUMENTS"] {
        assert!(lines[0].contains(col), "{text}");
    }
    // Oldest first, across Sentinels.
    assert!(lines[1].starts_with("4000001-1 "), "{text}");
    assert!(lines[2].starts_with("4000002-1 "), "{text}");
    assert!(lines[3].starts_with("4000001-2 "), "{text}");
    assert!(lines[2].contains("wq\\x1b[2J\\u{202e}"), "{text}");
    assert!(lines[2].contains("\\u{200b}"), "{text}");
    assert!(
        lines[1].contains("{\"query\": \"DROP TABLE users\"}"),
        "{text}"
    );
    assert!(
        !out.contains('\x1b') && !out.contains('\u{202e}') && !out.contains('\u{200b}'),
        "raw control characters reached the terminal: {out:?}"
    );

    let (status, out, err) = env.run(&["list", "--json"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    let calls: Vec<Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["4000001-1", "4000002-1", "4000001-2"]);
    for key in ["id", "server", "tool", "rule", "arguments", "since"] {
        assert!(calls.iter().all(|c| !c[key].is_null()), "{key}: {out}");
    }
    assert_eq!(calls[1]["tool"], "wq\x1b[2J\u{202e}");
}

#[test]
fn approve_and_deny_reach_the_sentinel_that_holds_the_call() {
    let env = Env::new("answer");
    let rundir = env.rundir();
    let fake = FakeSentinel::start(
        &rundir,
        4000003,
        vec![
            held("4000003-1", "write_query", "2026-01-01T00:00:01Z"),
            held("4000003-2", "drop_table", "2026-01-01T00:00:02Z"),
            held("4000003-3", "truncate", "2026-01-01T00:00:03Z"),
        ],
    );
    let (status, out, err) = env.run(&["approve", "4000003-1"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    assert_eq!(out, "approved call 4000003-1: write_query on db\n");
    let (status, out, err) = env.run(&["approve", "4000003-2", "--session"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    assert_eq!(
        out,
        "approved for the rest of the session call 4000003-2: drop_table on db\n"
    );
    let (status, out, err) = env.run(&["deny", "4000003-3", "--reason", "ask the DBA"]);
    assert!(status.success(), "{}", describe(status, &out, &err));
    assert_eq!(out, "denied call 4000003-3: truncate on db\n");
    assert_eq!(
        fake.requests("approve"),
        [
            json!({"op": "approve", "id": "4000003-1", "session": false}),
            json!({"op": "approve", "id": "4000003-2", "session": true}),
        ]
    );
    assert_eq!(
        fake.requests("deny"),
        [json!({"op": "deny", "id": "4000003-3", "reason": "ask the DBA"})]
    );
    // The Sentinel's refusal is the error, exit 1.
    let (status, out, err) = env.run(&["approve", "4000003-1"]);
    assert_eq!(status.code(), Some(1), "{}", describe(status, &out, &err));
    assert!(out.is_empty());
    assert!(
        err.contains("no held call 4000003-1: it was answered, timed out or cancelled"),
        "{err}"
    );
}

/// `sentinel approvals watch` with stdin and stdout as pipes (no terminal).
fn spawn_watch(env: &Env) -> Session {
    Session::spawn(&mut env.cmd(&["watch"]))
}

fn marker(env: &Env, s: &Session) -> PathBuf {
    env.xdg
        .join("mcp-sentinel")
        .join(format!("watch-{}.sock", s.child.id()))
}

#[test]
fn watch_without_a_terminal_prints_nothing_when_nothing_is_held_and_stops_on_a_signal() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let env = Env::new("watch-idle");
        let mut s = spawn_watch(&env);
        let marker = marker(&env, &s);
        wait_until("the watch marker", || marker.exists());
        let meta = std::fs::symlink_metadata(&marker).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // Connections to the marker (a Sentinel's poke) are taken.
        assert!(UnixStream::connect(&marker).is_ok());
        assert!(
            s.quiet_for(Duration::from_millis(700)),
            "watch printed something"
        );
        util::send_signal(s.child.id(), signal);
        let status = s.wait(LONG);
        let err = s.stderr();
        assert_eq!(status.code(), Some(0), "signal {signal}: {status:?} {err}");
        assert!(
            !marker.exists(),
            "signal {signal}: the marker was left behind"
        );
        assert_eq!(s.rest_of_stdout(), b"");
    }
}

fn recv(s: &Session) -> Value {
    s.recv(LONG)
}

#[test]
fn watch_without_a_terminal_streams_events_and_takes_answers_as_lines() {
    let env = Env::new("watch-lines");
    let rundir = env.rundir();
    let fake = FakeSentinel::start(
        &rundir,
        4000004,
        vec![held("4000004-1", "write_query", "2026-01-01T00:00:01Z")],
    );
    let mut s = spawn_watch(&env);
    let first = recv(&s);
    assert_eq!(first["event"], "held");
    assert_eq!(first["id"], "4000004-1");
    assert_eq!(first["arguments"]["query"], "DROP TABLE users");

    // `y` answers the oldest unanswered call.
    s.send("y");
    let answered = recv(&s);
    assert_eq!(
        answered,
        json!({"event": "answered", "id": "4000004-1", "answer": "approve", "session": false, "ok": true})
    );
    assert_eq!(
        fake.requests("approve"),
        [json!({"op": "approve", "id": "4000004-1", "session": false})]
    );
    fake.announce(&json!({"event": "resolved", "id": "4000004-1", "outcome": "approved"}));
    assert_eq!(
        recv(&s),
        json!({"event": "resolved", "id": "4000004-1", "outcome": "approved"})
    );

    // A call held later arrives as it is held; a duplicate (snapshot and event) is shown once.
    let mut later = held("4000004-2", "drop_table", "2026-01-01T00:00:02Z");
    later["event"] = "held".into();
    fake.announce(&later);
    fake.announce(&later);
    let second = recv(&s);
    assert_eq!(
        (second["event"].as_str(), second["id"].as_str()),
        (Some("held"), Some("4000004-2"))
    );
    s.send("deny 4000004-2 not during the freeze");
    let answered = recv(&s);
    assert_eq!(answered["ok"], true, "{answered}");
    assert_eq!(answered["answer"], "deny");
    assert_eq!(
        fake.requests("deny"),
        [json!({"op": "deny", "id": "4000004-2", "reason": "not during the freeze"})]
    );

    // Refused answers and bad lines are said, and the watch goes on.
    s.send("approve 4000004-9 --session");
    let refused = recv(&s);
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["session"], true);
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("no held call 4000004-9"));
    s.send("n");
    assert_eq!(
        recv(&s),
        json!({"event": "error", "error": "no call is waiting for an answer"})
    );
    s.send("frob");
    assert_eq!(recv(&s)["event"], "error");

    // At the end of stdin it goes on watching, until a signal.
    s.close_stdin();
    thread::sleep(Duration::from_millis(300));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "watch ended with its stdin"
    );
    let mut third = held("4000004-3", "truncate", "2026-01-01T00:00:03Z");
    third["event"] = "held".into();
    fake.announce(&third);
    assert_eq!(recv(&s)["id"], "4000004-3");
    util::send_signal(s.child.id(), libc::SIGTERM);
    assert_eq!(s.wait(LONG).code(), Some(0));
    assert!(!marker(&env, &s).exists());
}

#[test]
fn watch_finds_a_sentinel_that_starts_later_and_notices_one_that_ends() {
    let env = Env::new("watch-later");
    let rundir = env.rundir();
    let mut s = spawn_watch(&env);
    let marker = marker(&env, &s);
    wait_until("the watch marker", || marker.exists());
    let fake = FakeSentinel::start(
        &rundir,
        4000005,
        vec![held("4000005-1", "write_query", "2026-01-01T00:00:01Z")],
    );
    // A Sentinel pokes the marker when it needs a watcher; the rescan every 500 ms finds it
    // anyway.
    let _ = UnixStream::connect(&marker);
    assert_eq!(recv(&s)["id"], "4000005-1");
    wait_until("the subscription", || fake.watchers() == 1);
    // The Sentinel ends: its calls are gone.
    for w in fake.watchers.lock().unwrap().drain(..) {
        let _ = w.shutdown(std::net::Shutdown::Both);
    }
    drop(fake);
    assert_eq!(
        recv(&s),
        json!({"event": "gone", "pid": 4000005, "ids": ["4000005-1"]})
    );
    util::send_signal(s.child.id(), libc::SIGTERM);
    assert_eq!(s.wait(LONG).code(), Some(0));
}

/// A pseudo-terminal: the test holds the master, the child gets the slave as stdin and
/// stdout.
struct Pty {
    master: std::fs::File,
    slave: std::os::fd::OwnedFd,
}

fn pty() -> Pty {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors into the out-pointers; null name/termios/winsize
    // are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe {
        Pty {
            master: std::fs::File::from_raw_fd(master),
            slave: std::os::fd::OwnedFd::from_raw_fd(slave),
        }
    }
}

fn lflag(fd: &std::os::fd::OwnedFd) -> libc::tcflag_t {
    use std::os::fd::AsRawFd;
    // SAFETY: termios is plain data that tcgetattr fills.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }, 0);
    t.c_lflag
}

#[test]
fn watch_in_a_terminal_shows_the_call_whole_and_takes_one_key() {
    let env = Env::new("watch-tty");
    let rundir = env.rundir();
    let mut call = held("4000006-1", "write_query", "2026-01-01T00:00:01Z");
    call["arguments"] = json!({"query": "DELETE FROM users;\n-- \u{202e}harmless \x1b[8m"});
    call["session_allowed"] = false.into();
    let fake = FakeSentinel::start(&rundir, 4000006, vec![call]);
    let pty = pty();
    let before = lflag(&pty.slave);
    assert_ne!(before & libc::ICANON, 0);
    let mut cmd = env.cmd(&["watch"]);
    cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::piped());
    let mut child = Reaped(cmd.spawn().unwrap());
    let mut master = pty.master.try_clone().unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    {
        let screen = screen.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let shows = |s: &str| screen.lock().unwrap().contains(s);
    wait_until("the prompt", || shows("n deny > "));
    let text = screen.lock().unwrap().clone();
    assert!(
        text.contains("call 4000006-1 waits for your approval"),
        "{text}"
    );
    assert!(text.contains("tool      write_query"), "{text}");
    assert!(text.contains("rule      sql.destructive"), "{text}");
    assert!(text.contains("query: \"DELETE FROM users;\\n"), "{text}");
    assert!(text.contains("-- \\u{202e}harmless \\x1b[8m\""), "{text}");
    assert!(
        !text.contains('\u{202e}') && !text.contains("\x1b[8m"),
        "{text:?}"
    );
    // The session is not offered when the rule forbids it.
    assert!(text.contains("answer: y approve, n deny > "), "{text}");
    // In single-key mode, without echo.
    wait_until("raw mode", || lflag(&pty.slave) & libc::ICANON == 0);
    assert_eq!(lflag(&pty.slave) & libc::ECHO, 0);
    thread::sleep(Duration::from_millis(400));
    let mut keys = pty.master.try_clone().unwrap();
    keys.write_all(b"s").unwrap();
    wait_until("the session refusal", || {
        shows("does not allow approving for the session")
    });
    keys.write_all(b"y").unwrap();
    wait_until("the approval", || fake.requests("approve").len() == 1);
    assert_eq!(
        fake.requests("approve"),
        [json!({"op": "approve", "id": "4000006-1", "session": false})]
    );
    wait_until("the confirmation", || shows("approved call 4000006-1"));
    keys.write_all(b"q").unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < LONG, "watch did not stop on q");
        thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    // The terminal is as it was.
    assert_eq!(lflag(&pty.slave), before);
    assert!(!rundir.join(format!("watch-{}.sock", child.0.id())).exists());
}

/// A child process killed if the test fails before it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
