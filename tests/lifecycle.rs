//! End-to-end tests of the proxy's lifecycle: the real `sentinel` binary in front of the fake
//! MCP server (`tests/support/fake_server.rs`), ended in every order: the client closes its
//! side, the server exits first, Sentinel is signalled or killed outright, or the server cannot
//! be started at all. Each test checks the exit code, the timing budget (the official SDK
//! clients give Sentinel 2 s between closing its stdin and their own SIGTERM), that stdout
//! carried JSON-RPC only, and that no process is left behind: not the server, not a process it
//! started, and no zombie.
//!
//! The test process makes itself a child subreaper, so orphans of the processes under test
//! (a grandchild whose parent died, a server whose Sentinel was killed, or a server Sentinel
//! forgot to reap) are re-parented to it instead of to init. That makes "Sentinel reaped its
//! server" observable (an unreaped server would show up as our zombie) and lets every test
//! clean up after itself, even when it fails. Linux only (/proc, prctl).
#![cfg(target_os = "linux")]

mod util;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};
use util::Session;

/// Limit for anything that must merely not hang.
const LONG: Duration = Duration::from_secs(10);
/// The time the official SDK clients give a server between closing its stdin and SIGTERM.
const SDK_BUDGET: Duration = Duration::from_secs(2);
/// Error code for requests the server left unanswered.
const SERVER_GONE: i64 = -32011;
/// Error code for a blocked call.
const BLOCKED: i64 = -32010;

fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(
            rc,
            0,
            "PR_SET_CHILD_SUBREAPER: {}",
            std::io::Error::last_os_error()
        );
    });
}

fn my_pid() -> u32 {
    std::process::id()
}

/// Processes a test started indirectly (the server, its grandchild). On drop, any still
/// running is killed and any that became our zombie (we are a subreaper) is reaped.
struct Cleanup {
    pids: Vec<u32>,
}

impl Cleanup {
    fn new() -> Cleanup {
        become_subreaper();
        Cleanup { pids: Vec::new() }
    }
}

/// Whether `pid` is still one of the processes the tests start (and not a recycled pid).
fn ours(st: &util::ProcStat) -> bool {
    st.comm == "fake_server" || st.comm == "sleep"
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for &pid in &self.pids {
            if let Some(st) = util::proc_stat(pid) {
                if ours(&st) && st.state != 'Z' {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                }
            }
        }
        for &pid in &self.pids {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                match util::proc_stat(pid) {
                    None => break,
                    Some(st) if !ours(&st) => break,
                    Some(st) if st.state == 'Z' && st.ppid == my_pid() => {
                        // SAFETY: pid is our own (adopted) child; a null status pointer is
                        // allowed.
                        unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
                        break;
                    }
                    Some(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    }
}

/// A running Sentinel in front of the fake server. Field order matters: the session (which
/// kills Sentinel if it is still running) drops before the cleanup.
struct Run {
    s: Session,
    server: u32,
    grandchild: Option<u32>,
    _dir: PathBuf,
    _cleanup: Cleanup,
}

/// Starts `sentinel [test options] fake_server ARGS --pid-file F [--grandchild G]` and waits
/// until the server is up (its pid file is written after its signal handlers are set).
fn start(name: &str, args: &[&str], grandchild: bool) -> Run {
    start_ignoring(name, args, grandchild, &[])
}

/// [`start`], with Sentinel started with `ignored` signals ignored by its caller.
fn start_ignoring(name: &str, args: &[&str], grandchild: bool, ignored: &'static [i32]) -> Run {
    let mut cleanup = Cleanup::new();
    let dir = util::scratch(name);
    let pid_file = dir.join("server.pid");
    let gc_file = dir.join("grandchild.pid");
    let mut cmd = util::command(&dir);
    util::with_ignored(&mut cmd, ignored);
    cmd.arg(util::fake_server()).args(args);
    if grandchild {
        cmd.arg("--grandchild").arg(&gc_file);
    }
    cmd.arg("--pid-file").arg(&pid_file);
    let s = Session::spawn(&mut cmd);
    let server = util::read_pid(&pid_file, LONG);
    cleanup.pids.push(server);
    let grandchild = grandchild.then(|| {
        let pid = util::read_pid(&gc_file, LONG);
        cleanup.pids.push(pid);
        pid
    });
    Run {
        s,
        server,
        grandchild,
        _dir: dir,
        _cleanup: cleanup,
    }
}

impl Run {
    fn sentinel(&self) -> u32 {
        self.s.child.id()
    }

    /// One round trip through the proxy, so both pumps are known to be running.
    fn initialize(&mut self) {
        self.s.send(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        );
        let v = self.s.recv(LONG);
        assert_eq!(v["id"], 1, "unexpected first line: {v}");
        assert!(v["result"].is_object(), "initialize failed: {v}");
    }

    /// Waits for Sentinel to exit (failing past `LONG`); returns its status and how long that
    /// took since `since`.
    fn wait_since(&mut self, since: Instant) -> (ExitStatus, Duration) {
        let status = self.s.wait(LONG);
        (status, since.elapsed())
    }

    /// The rest of stdout after exit, every line checked to be JSON; and stderr.
    fn output(&mut self) -> (Vec<Value>, String) {
        let out = self.s.rest_of_stdout();
        (util::json_lines_strict(&out), self.s.stderr())
    }

    /// After Sentinel exited: the server is gone and was reaped by Sentinel.
    fn assert_server_gone(&self) {
        assert_reaped(self.server);
    }
}

/// The server `pid` is neither running nor a zombie left unreaped.
fn assert_reaped(pid: u32) {
    let start = Instant::now();
    loop {
        match util::proc_stat(pid) {
            None => return,
            Some(st) if !ours(&st) => return, // pid already recycled
            Some(st) if st.state == 'Z' => panic!(
                "server {pid} is a zombie (parent {}) after sentinel exited: it was not reaped",
                st.ppid
            ),
            // The kernel may still be tearing it down for a moment.
            Some(st) if start.elapsed() > Duration::from_secs(1) => {
                panic!(
                    "server {pid} still running after sentinel exited (state {})",
                    st.state
                )
            }
            Some(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn describe(status: ExitStatus, stderr: &str) -> String {
    format!("sentinel {status}; stderr:\n{stderr}")
}

// ---- client EOF: close stdin, wait, SIGTERM, SIGKILL, all within the SDK's 2 s ----

#[test]
fn client_eof_normal_server_exits_at_once_and_sentinel_with_its_code() {
    let mut r = start("eof-normal", &["--exit-code", "5"], false);
    r.initialize();
    let t0 = Instant::now();
    r.s.close_stdin();
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(5), "{}", describe(status, &err));
    assert!(
        took < Duration::from_secs(1),
        "sentinel took {took:?} to exit after client EOF with a server that exits at once"
    );
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

/// Client EOF to a server that will not exit on its own: the ladder must end it with `code`,
/// no sooner than `earliest` (the steps before) and inside the SDK's budget.
fn client_eof_ends_a_lingering_server(
    name: &str,
    server_args: &[&str],
    code: i32,
    earliest: Duration,
    what: &str,
) -> Run {
    let mut r = start(name, server_args, false);
    r.initialize();
    let t0 = Instant::now();
    r.s.close_stdin();
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(
        status.code(),
        Some(code),
        "the server should have been ended by {what}: {}",
        describe(status, &err)
    );
    assert!(
        took >= earliest,
        "{what} came after {took:?}: the earlier steps of the ladder come first"
    );
    assert!(
        took < SDK_BUDGET,
        "sentinel took {took:?} (budget {SDK_BUDGET:?})"
    );
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r
}

#[test]
fn client_eof_server_ignoring_eof_gets_sigterm_after_grace() {
    // The server's SIGTERM trap exits 42; it must first get ~1 s to exit on its own.
    let r = client_eof_ends_a_lingering_server(
        "eof-sigterm",
        &["--ignore-eof", "--trap-term-exit", "42"],
        42,
        Duration::from_millis(800),
        "SIGTERM (its trap exits 42)",
    );
    r.assert_server_gone();
}

#[test]
fn client_eof_server_ignoring_eof_and_sigterm_gets_sigkill() {
    let r = client_eof_ends_a_lingering_server(
        "eof-sigkill",
        &["--ignore-eof", "--ignore-sigterm"],
        137,
        Duration::from_millis(1200),
        "SIGKILL (128+9), after the grace and the SIGTERM wait",
    );
    assert!(!util::alive(r.server), "server {} survived", r.server);
    r.assert_server_gone();
}

// ---- the server exits first ----

#[test]
fn server_exiting_first_delivers_its_output_answers_waiting_requests_and_exits_with_its_code() {
    // Line 1 initialize, line 2 echo (answered), line 3 silent (never answered): then it exits.
    let mut r = start(
        "server-first",
        &["--exit-after", "3", "--exit-code", "3"],
        false,
    );
    r.initialize();
    let t0 = Instant::now();
    // One write: all three are pending before the server even sees the first.
    let batch = format!(
        "{}\n{}\n{}\n",
        util::tool_call("2", "echo", r#"{"text":"hi"}"#),
        util::tool_call("3", "silent", "{}"),
        util::tool_call("4", "echo", r#"{"text":"too late"}"#),
    );
    r.s.send_raw(batch.as_bytes());
    // The client keeps its side open: the server's exit alone must end the session.
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(3), "{}", describe(status, &err));
    assert!(
        took < SDK_BUDGET,
        "sentinel took {took:?} to notice the server exit"
    );
    assert_eq!(
        lines.len(),
        3,
        "expected 3 lines, got {lines:?}; stderr:\n{err}"
    );
    assert_eq!(
        lines[0]["id"], 2,
        "the server's answer must be delivered: {lines:?}"
    );
    assert!(lines[0]["result"].is_object(), "{}", lines[0]);
    for (line, id) in lines[1..].iter().zip([3, 4]) {
        assert_eq!(line["id"], id, "{lines:?}");
        assert_eq!(
            line["error"]["code"], SERVER_GONE,
            "a request the server never answered needs an error: {line}"
        );
    }
    r.assert_server_gone();
}

// ---- signals sent to Sentinel are passed on ----

#[test]
fn sigterm_to_sentinel_is_passed_to_the_server() {
    let mut r = start("sigterm", &["--trap-term-exit", "42"], false);
    r.initialize();
    let t0 = Instant::now();
    util::send_signal(r.sentinel(), libc::SIGTERM);
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(
        status.code(),
        Some(42),
        "the server's SIGTERM trap exits 42: {}",
        describe(status, &err)
    );
    assert!(took < SDK_BUDGET, "took {took:?}");
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

#[test]
fn sigint_to_sentinel_is_passed_to_the_server() {
    let mut r = start("sigint", &[], false);
    r.initialize();
    let t0 = Instant::now();
    util::send_signal(r.sentinel(), libc::SIGINT);
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(
        status.code(),
        Some(130),
        "the server dies of SIGINT (128+2): {}",
        describe(status, &err)
    );
    assert!(took < SDK_BUDGET, "took {took:?}");
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

/// A shell starts background jobs with SIGINT and SIGQUIT ignored, and a caller may ignore
/// SIGTERM too: Sentinel resets the signals it forwards to their default action in the server,
/// so that passing one on still ends it.
#[test]
fn signals_ignored_by_sentinels_caller_are_not_ignored_by_the_server() {
    let mut r = start_ignoring(
        "caller-ignores",
        &[],
        false,
        &[libc::SIGINT, libc::SIGTERM, libc::SIGQUIT],
    );
    r.initialize();
    let sentinel_ignores = util::ignored_signals(r.sentinel());
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT] {
        assert!(
            sentinel_ignores.contains(&sig),
            "the test starts Sentinel with signal {sig} ignored: {sentinel_ignores:?}"
        );
    }
    let server_ignores = util::ignored_signals(r.server);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        assert!(
            !server_ignores.contains(&sig),
            "the server ignores signal {sig}, which Sentinel forwards: {server_ignores:?}"
        );
    }
    let t0 = Instant::now();
    util::send_signal(r.sentinel(), libc::SIGINT);
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(
        status.code(),
        Some(130),
        "the server dies of the forwarded SIGINT: {}",
        describe(status, &err)
    );
    assert!(took < SDK_BUDGET, "took {took:?}");
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

/// Under `nohup` (SIGHUP ignored by the caller) the whole tree stays immune to hangups: the
/// server keeps SIGHUP ignored and Sentinel does not pass one on.
#[test]
fn under_nohup_sighup_is_neither_passed_on_nor_reset() {
    let mut r = start_ignoring("nohup", &[], false, &[libc::SIGHUP]);
    r.initialize();
    assert!(
        util::ignored_signals(r.server).contains(&libc::SIGHUP),
        "the server should keep SIGHUP ignored"
    );
    util::send_signal(r.sentinel(), libc::SIGHUP);
    thread::sleep(Duration::from_millis(300));
    assert!(util::alive(r.server), "SIGHUP ended the server under nohup");
    // The session goes on, and ends normally.
    r.s.send(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    let v = r.s.recv(LONG);
    assert_eq!(v["id"], 2, "{v}");
    r.s.close_stdin();
    let (status, took) = r.wait_since(Instant::now());
    let (_, err) = r.output();
    assert_eq!(status.code(), Some(0), "{}", describe(status, &err));
    assert!(took < SDK_BUDGET, "took {took:?}");
    assert!(
        err.contains("SIGHUP not passed on"),
        "Sentinel says why it did not pass SIGHUP on: {err}"
    );
    r.assert_server_gone();
}

#[test]
fn sigterm_to_sentinel_escalates_to_sigkill_when_the_server_ignores_it() {
    let mut r = start("sigterm-ignored", &["--ignore-sigterm"], false);
    r.initialize();
    let t0 = Instant::now();
    util::send_signal(r.sentinel(), libc::SIGTERM);
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(137), "{}", describe(status, &err));
    assert!(took < SDK_BUDGET, "took {took:?}");
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

#[test]
fn sigterm_during_the_eof_grace_period_is_passed_on_at_once() {
    let mut r = start(
        "sigterm-in-grace",
        &["--ignore-eof", "--trap-term-exit", "42"],
        false,
    );
    r.initialize();
    r.s.close_stdin();
    thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    util::send_signal(r.sentinel(), libc::SIGTERM);
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(42), "{}", describe(status, &err));
    assert!(
        took < Duration::from_millis(700),
        "the signal took {took:?}: it must not wait for the rest of the grace period"
    );
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

// ---- the server's process group ----

#[test]
fn server_runs_in_its_own_process_group_and_the_group_ends_on_client_eof() {
    let mut r = start("group-eof", &[], true);
    let gc = r.grandchild.expect("grandchild pid");
    let server = util::proc_stat(r.server).expect("server running");
    let sentinel = util::proc_stat(r.sentinel()).expect("sentinel running");
    let grandchild = util::proc_stat(gc).expect("grandchild running");
    assert_eq!(
        server.pgrp, r.server,
        "the server must lead its own process group"
    );
    assert_ne!(
        sentinel.pgrp, r.server,
        "sentinel must not be in the server's group"
    );
    assert_ne!(
        server.pgrp, sentinel.pgrp,
        "the server must not share sentinel's group"
    );
    assert_eq!(
        grandchild.pgrp, r.server,
        "the grandchild is in the server's group"
    );
    assert_eq!(server.ppid, r.sentinel(), "sentinel is the server's parent");
    r.initialize();
    let t0 = Instant::now();
    r.s.close_stdin();
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(0), "{}", describe(status, &err));
    assert!(took < SDK_BUDGET, "took {took:?}");
    util::wait_dead(gc, SDK_BUDGET);
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

/// Sends `signal` to sentinel and checks that the server dies of it (exit code 128+signal)
/// within the SDK's budget, taking its grandchild with it.
fn group_ends_when_sentinel_gets(name: &str, signal: i32) {
    let mut r = start(name, &[], true);
    let gc = r.grandchild.expect("grandchild pid");
    r.initialize();
    let t0 = Instant::now();
    util::send_signal(r.sentinel(), signal);
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(
        status.code(),
        Some(128 + signal),
        "the server dies of signal {signal}: {}",
        describe(status, &err)
    );
    assert!(took < SDK_BUDGET, "took {took:?}");
    util::wait_dead(gc, SDK_BUDGET);
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

#[test]
fn the_server_group_ends_when_sentinel_gets_sigterm() {
    group_ends_when_sentinel_gets("group-sigterm", libc::SIGTERM);
}

#[test]
fn the_server_group_ends_when_sentinel_gets_sighup() {
    // A closed terminal: the hangup goes to the whole group, not only to Sentinel.
    group_ends_when_sentinel_gets("group-sighup", libc::SIGHUP);
}

#[test]
fn the_server_group_ends_when_the_server_exits_by_itself() {
    let mut r = start(
        "group-exit",
        &["--exit-after", "1", "--exit-code", "3"],
        true,
    );
    let gc = r.grandchild.expect("grandchild pid");
    let t0 = Instant::now();
    r.initialize(); // line 1: answered, then the server exits; the client stays connected
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(3), "{}", describe(status, &err));
    assert!(took < SDK_BUDGET, "took {took:?}");
    util::wait_dead(gc, SDK_BUDGET);
    assert!(lines.is_empty(), "unexpected output: {lines:?}");
    r.assert_server_gone();
}

// ---- Sentinel killed outright ----

#[test]
fn the_server_dies_when_sentinel_is_killed() {
    // The server ignores EOF and SIGTERM: only the parent-death SIGKILL can end it.
    let mut r = start(
        "sentinel-killed",
        &["--ignore-eof", "--ignore-sigterm"],
        false,
    );
    r.initialize();
    util::send_signal(r.sentinel(), libc::SIGKILL);
    let status = r.s.wait(LONG);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "sentinel {status}");
    util::wait_dead(r.server, Duration::from_secs(1));
    // Stdout still carried JSON only.
    let _ = r.output();
}

// ---- a server that cannot be started ----

#[test]
fn a_missing_server_command_exits_127_with_a_clear_error() {
    let dir = util::scratch("not-found");
    let t0 = Instant::now();
    let (status, out, err) = util::run(
        util::command(&dir).arg("--").arg("no-such-command-xyz"),
        b"",
        LONG,
    );
    assert_eq!(status.code(), Some(127), "{}", describe(status, &err));
    assert!(
        err.contains("no-such-command-xyz"),
        "the error must name the command: {err}"
    );
    assert!(out.is_empty(), "stdout: {}", String::from_utf8_lossy(&out));
    assert!(t0.elapsed() < SDK_BUDGET, "took {:?}", t0.elapsed());
}

#[test]
fn a_server_file_that_is_not_executable_exits_126_with_a_clear_error() {
    let dir = util::scratch("not-exec");
    let script = dir.join("server-not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let t0 = Instant::now();
    let (status, out, err) = util::run(util::command(&dir).arg(&script), b"", LONG);
    assert_eq!(status.code(), Some(126), "{}", describe(status, &err));
    assert!(
        err.contains("server-not-executable.sh"),
        "the error must name the command: {err}"
    );
    assert!(out.is_empty(), "stdout: {}", String::from_utf8_lossy(&out));
    assert!(t0.elapsed() < SDK_BUDGET, "took {:?}", t0.elapsed());
}

// ---- blocks still work while the session ends ----

#[test]
fn a_block_just_before_client_eof_is_answered_and_the_session_ends_cleanly() {
    let mut r = start("block-then-eof", &[], false);
    r.initialize();
    r.s.send(&util::tool_call(
        "\"b1\"",
        "query",
        r#"{"query":"SELECT * FROM users"}"#,
    ));
    r.s.send(&util::tool_call("2", "echo", r#"{"text":"after"}"#));
    let t0 = Instant::now();
    r.s.close_stdin();
    let (status, took) = r.wait_since(t0);
    let (lines, err) = r.output();
    assert_eq!(status.code(), Some(0), "{}", describe(status, &err));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let blocked = lines
        .iter()
        .find(|l| l["id"] == "b1")
        .unwrap_or_else(|| panic!("no answer to the blocked call: {lines:?}"));
    assert_eq!(blocked["error"]["code"], BLOCKED, "{blocked}");
    let echoed = lines
        .iter()
        .find(|l| l["id"] == 2)
        .unwrap_or_else(|| panic!("no answer to the allowed call: {lines:?}"));
    assert!(echoed["result"].is_object(), "{echoed}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    r.assert_server_gone();
}
