//! Shared helpers for the integration tests: paths to the real `sentinel` binary and the fake
//! MCP server, scratch directories, and a running-session handle that writes the client side
//! from its own thread and reads stdout lines with a timeout (a hung gateway fails the test
//! instead of hanging it).
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The real gateway binary built by cargo for this test run.
pub fn sentinel() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sentinel"))
}

/// The fake MCP server example (`tests/support/fake_server.rs`). A full `cargo test` builds it;
/// when a single test file is run (`cargo test --test wire`) it may be missing, so it is built
/// here once, with the profile of the directory it is looked for in (`target/release` is the
/// `release` profile, `target/debug` the `dev` one).
pub fn fake_server() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let bin = sentinel();
    let dir = bin.parent().expect("binary has a directory");
    let path = dir.join("examples").join("fake_server");
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    BUILD.call_once(|| {
        if !path.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let ok = Command::new(cargo)
                .args(["build", "--example", "fake_server", "--profile", profile])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "could not build the fake_server example");
        }
    });
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// A fresh empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    // Inside target/, so `cargo clean` removes what tests leave behind.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sentinel-test-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The signals whose disposition a caller can leave ignored or blocked (a non-interactive
/// shell starts background jobs with SIGINT and SIGQUIT ignored) and that the tests rely on.
pub const CALLER_SIGNALS: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Makes `cmd` independent of whoever runs the tests: it runs in `dir`; none of Sentinel's
/// settings (`SENTINEL_*`, `NO_COLOR`, the runtime directory where `sentinel approvals watch`
/// is found) leak in from the caller's environment; and it starts
/// with [`CALLER_SIGNALS`] at their default action and no signal blocked, whatever the test
/// process inherited. (Sentinel passes its caller's ignored SIGHUP on to its server on
/// purpose, `nohup`; tests of that set it themselves with [`with_ignored`].)
pub fn hermetic<'c>(cmd: &'c mut Command, dir: &Path) -> &'c mut Command {
    use std::os::unix::process::CommandExt;
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SENTINEL_") {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(dir).env_remove("NO_COLOR");
    // A runtime directory of the test's own: a `sentinel approvals watch` the caller runs must
    // not open an approval channel for the test's sessions.
    let runtime = dir.join("xdg-runtime");
    let _ = std::fs::create_dir_all(&runtime);
    cmd.env("XDG_RUNTIME_DIR", runtime);
    // A state directory of its own: pins (and the audit log's fallback) stay in the test.
    cmd.env("XDG_STATE_HOME", dir.join("xdg-state"));
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (signal, sigemptyset, sigprocmask).
    unsafe {
        cmd.pre_exec(|| {
            for sig in CALLER_SIGNALS {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    cmd
}

/// Starts `cmd` with `signals` ignored, as a shell's background job or `nohup` would (after
/// [`hermetic`]'s reset, which runs first).
pub fn with_ignored<'c>(cmd: &'c mut Command, signals: &'static [i32]) -> &'c mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: as in `hermetic`; signal is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for &sig in signals {
                libc::signal(sig, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    cmd
}

/// A `sentinel` command with no options, made [`hermetic`] in `dir`.
pub fn bare(dir: &Path) -> Command {
    let mut c = Command::new(sentinel());
    hermetic(&mut c, dir);
    c
}

/// A `sentinel` command with no colour, [`hermetic`] in `dir`, auditing to `dir/audit.log`.
pub fn command(dir: &Path) -> Command {
    let mut c = bare(dir);
    c.arg("--no-color")
        .arg("--audit-log")
        .arg(dir.join("audit.log"));
    c
}

/// The signals process `pid` ignores, from the `SigIgn` mask of `/proc/PID/status`.
pub fn ignored_signals(pid: u32) -> Vec<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).expect("hex SigIgn"))
        .expect("SigIgn line");
    (1..=64).filter(|s| mask & (1u64 << (s - 1)) != 0).collect()
}

/// Runs `cmd` with `input` on stdin (written from another thread) and returns
/// (status, stdout, stderr), failing the test if it takes longer than `limit`.
pub fn run(cmd: &mut Command, input: &[u8], limit: Duration) -> (ExitStatus, Vec<u8>, String) {
    let mut s = Session::spawn(cmd);
    s.send_raw(input);
    s.close_stdin();
    let status = s.wait(limit);
    let out = s.rest_of_stdout();
    (status, out, s.stderr())
}

/// The audit log's entries.
pub fn audit_entries(dir: &Path) -> Vec<Value> {
    match std::fs::read_to_string(dir.join("audit.log")) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Parses each stdout line as JSON.
pub fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A running sentinel with the client side in the test's hands.
pub struct Session {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Vec<u8>>,
    stderr: Receiver<String>,
    stderr_text: Option<String>,
}

impl Session {
    pub fn spawn(cmd: &mut Command) -> Session {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sentinel");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        Session {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: erx,
            stderr_text: None,
        }
    }

    /// Writes raw bytes to sentinel's stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("write to sentinel");
        stdin.flush().expect("flush to sentinel");
    }

    /// Writes one line (a newline is added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line (with its newline), or a test failure after `limit`.
    pub fn recv_raw(&self, limit: Duration) -> Vec<u8> {
        self.lines
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("no line from sentinel within {limit:?}"))
    }

    /// The next stdout line as JSON.
    pub fn recv(&self, limit: Duration) -> Value {
        let raw = self.recv_raw(limit);
        serde_json::from_slice(&raw)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&raw)))
    }

    /// True if no stdout line arrives within `wait`.
    pub fn quiet_for(&self, wait: Duration) -> bool {
        self.lines.recv_timeout(wait).is_err()
    }

    /// Everything sentinel writes to stdout until it closes it.
    pub fn rest_of_stdout(&self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            out.extend_from_slice(&l);
        }
        out
    }

    /// Waits for exit, failing the test (after killing sentinel) past `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("sentinel did not exit within {limit:?}");
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// All of sentinel's stderr (after it exited).
    pub fn stderr(&mut self) -> String {
        if self.stderr_text.is_none() {
            self.stderr_text = Some(
                self.stderr
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap_or_default(),
            );
        }
        self.stderr_text.clone().unwrap_or_default()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `path` exists (a fake server writes its pid files atomically).
pub fn wait_for_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "{} did not appear within {limit:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Waits until process `pid` is gone (or a zombie), or fails after `limit`.
pub fn wait_dead(pid: u32, limit: Duration) {
    let start = Instant::now();
    while alive(pid) {
        assert!(
            start.elapsed() < limit,
            "process {pid} still alive after {limit:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A `tools/call` request line.
pub fn tool_call(id: &str, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

/// A process's name, state, parent and process group, from `/proc/PID/stat`.
#[derive(Clone, Debug)]
pub struct ProcStat {
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
}

/// `/proc/PID/stat` of `pid`, or None when there is no such process.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID PGRP ...": COMM may itself contain ')' and spaces.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(ProcStat {
        comm,
        state,
        ppid,
        pgrp,
    })
}

/// Waits for a pid file (written atomically by the fake server) and parses it.
pub fn read_pid(path: &Path, limit: Duration) -> u32 {
    let text = wait_for_file(path, limit);
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad pid in {}: {text:?} ({e})", path.display()))
}

/// Sends `signal` to process `pid`, failing the test if it cannot be delivered.
pub fn send_signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits in pid_t");
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// Parses stdout as JSON-RPC lines, strictly: every line (blank ones included) must be JSON
/// and the output must end with a newline, so nothing but whole messages ever reached stdout.
pub fn json_lines_strict(out: &[u8]) -> Vec<Value> {
    if out.is_empty() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(out);
    assert!(
        text.ends_with('\n'),
        "stdout does not end with a newline: {text:?}"
    );
    text[..text.len() - 1]
        .split('\n')
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line not JSON ({e}): {l:?}"))
        })
        .collect()
}

/// Like [`run`], for a sentinel that may exit without reading its input (refusing to start):
/// a failed write to its stdin (EPIPE) is not a test failure.
pub fn run_lenient(
    cmd: &mut Command,
    input: &[u8],
    limit: Duration,
) -> (ExitStatus, Vec<u8>, String) {
    let mut s = Session::spawn(cmd);
    if let Some(stdin) = s.stdin.as_mut() {
        let _ = stdin.write_all(input).and_then(|()| stdin.flush());
    }
    s.close_stdin();
    let status = s.wait(limit);
    let out = s.rest_of_stdout();
    (status, out, s.stderr())
}

/// Makes the socket file at `path` look a minute old (a stale socket is removed only once
/// it has settled).
pub fn backdate(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as libc::time_t;
    let t = libc::timespec {
        tv_sec: now - 60,
        tv_nsec: 0,
    };
    // SAFETY: c is a NUL-terminated path and the two timespecs are valid.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat: {}", std::io::Error::last_os_error());
}

/// Waits until `f` holds, failing the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}
