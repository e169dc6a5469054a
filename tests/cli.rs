//! End-to-end tests of the command line, driving the real `sentinel` binary: `--version` and
//! `--help`, one-line usage errors (exit 2, nothing on stdout), the boundary between Sentinel's
//! options and the server command, demo mode on the repository's `attack.json`, colour and
//! verbosity on stderr, and where the audit log goes (the working directory, the env var, the
//! per-user fallback) including what happens when it cannot be written.

mod util;

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;
use util::Session;

/// Limit for anything that must merely not hang.
const LONG: Duration = Duration::from_secs(10);
const BLOCKED: i64 = -32010;
const ATTACK_ID: &str = "req_20260107_365866";
const UNBOUNDED_READ: &str = "sql.unbounded_read";
const OPTIONS: [&str; 9] = [
    "--audit-log",
    "--max-rows",
    "--dialect",
    "--block-as",
    "--no-color",
    "--quiet",
    "--verbose",
    "--version",
    "--help",
];

fn attack_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("attack.json")
}

fn attack() -> Vec<u8> {
    std::fs::read(attack_path()).expect("read attack.json")
}

/// `sentinel` with no options at all, run in `dir`, with a clean environment for the settings
/// under test (the per-user state dir points into `dir`, so no test writes outside it).
fn bare(dir: &Path) -> Command {
    let mut c = util::bare(dir);
    c.env("XDG_STATE_HOME", dir.join("state"))
        .env("HOME", dir.join("home"));
    c
}

/// Runs `cmd` with `input` on stdin: (status, stdout, stderr).
fn run(cmd: &mut Command, input: &[u8]) -> (ExitStatus, String, String) {
    let (status, out, err) = util::run(cmd, input, LONG);
    (
        status,
        String::from_utf8(out).expect("stdout is UTF-8"),
        err,
    )
}

fn describe(status: ExitStatus, out: &str, err: &str) -> String {
    format!("sentinel {status}\n--- stdout:\n{out}--- stderr:\n{err}")
}

/// Entries of a JSON Lines audit file (none when it does not exist).
fn audit_file(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line ({e}): {l}")))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Asserts stdout is exactly the block answer for attack.json.
fn assert_attack_blocked(out: &str) {
    let lines = util::json_lines_strict(out.as_bytes());
    assert_eq!(lines.len(), 1, "expected one answer, got: {out}");
    let v = &lines[0];
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], ATTACK_ID, "{v}");
    assert_eq!(v["error"]["code"], BLOCKED, "{v}");
    assert_eq!(v["error"]["data"]["rule"], UNBOUNDED_READ, "{v}");
}

/// Asserts `entries` is exactly one audit entry for attack.json.
fn assert_attack_audited(entries: &[Value], where_: &str) {
    assert_eq!(entries.len(), 1, "audit log {where_}: {entries:?}");
    assert_eq!(entries[0]["rule"], UNBOUNDED_READ, "{}", entries[0]);
    assert_eq!(entries[0]["message_id"], ATTACK_ID, "{}", entries[0]);
    assert_eq!(entries[0]["action"], "blocked", "{}", entries[0]);
}

// ---- --version, --help ----

#[test]
fn version_prints_name_and_version() {
    let dir = util::scratch("version");
    for flag in ["--version", "-V"] {
        let (status, out, err) = run(bare(&dir).arg(flag), b"");
        assert_eq!(
            status.code(),
            Some(0),
            "{flag}: {}",
            describe(status, &out, &err)
        );
        assert_eq!(
            out,
            format!("sentinel {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
        assert_eq!(err, "", "{flag}");
    }
}

#[test]
fn help_prints_usage_with_every_option() {
    let dir = util::scratch("help");
    for flag in ["--help", "-h"] {
        let (status, out, err) = run(bare(&dir).arg(flag), b"");
        assert_eq!(
            status.code(),
            Some(0),
            "{flag}: {}",
            describe(status, &out, &err)
        );
        assert!(out.contains("Usage"), "{flag}: no usage line:\n{out}");
        for option in OPTIONS {
            assert!(
                out.contains(option),
                "{flag}: {option} missing from:\n{out}"
            );
        }
        assert_eq!(err, "", "{flag}");
    }
}

// ---- usage errors ----

#[test]
fn usage_errors_are_one_line_naming_the_option_and_exit_2() {
    let dir = util::scratch("usage");
    let fake = util::fake_server();
    let fake = fake.to_str().expect("UTF-8 path");
    let pid_file = dir.join("server.pid");
    let pid_file = pid_file.to_str().expect("UTF-8 path");
    let cases: &[(&[&str], &str)] = &[
        (&["--frobnicate"], "--frobnicate"),
        (&["-x"], "-x"),
        (&["--max-rows", "abc"], "--max-rows"),
        (&["--max-rows=abc"], "--max-rows"),
        (&["--max-rows", "-1"], "--max-rows"),
        (&["--max-rows", "1.5"], "--max-rows"),
        (&["--max-rows"], "--max-rows"),
        (&["--dialect", "bogus"], "--dialect"),
        (&["--dialect"], "--dialect"),
        (&["--block-as", "maybe"], "--block-as"),
        (&["--block-as"], "--block-as"),
        (&["--audit-log"], "--audit-log"),
        (&["--no-color=yes"], "--no-color"),
        // A bad option before the server command: the server is never started.
        (
            &["--frobnicate", fake, "--pid-file", pid_file],
            "--frobnicate",
        ),
        (
            &["--max-rows", "abc", fake, "--pid-file", pid_file],
            "--max-rows",
        ),
    ];
    let mut failures = Vec::new();
    for (args, option) in cases {
        let (status, out, err) = run(bare(&dir).args(*args), b"");
        let mut problems = Vec::new();
        if status.code() != Some(2) {
            problems.push(format!("exit {status}, want 2"));
        }
        if !out.is_empty() {
            problems.push("wrote to stdout".to_owned());
        }
        if err.lines().count() != 1 || !err.ends_with('\n') {
            problems.push("stderr is not exactly one line".to_owned());
        }
        if !err.contains(option) {
            problems.push(format!("stderr does not name {option}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "sentinel {args:?}: {}\n--- stdout:\n{out}--- stderr:\n{err}",
                problems.join("; ")
            ));
        }
    }
    assert!(
        !dir.join("server.pid").exists(),
        "a server was started despite a usage error"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- the server command and its arguments ----

/// Runs one initialize round trip through `cmd` (a proxy), closes stdin and returns
/// (status, stdout lines, stderr).
fn one_round_trip(cmd: &mut Command) -> (ExitStatus, Vec<Value>, String) {
    let mut s = Session::spawn(cmd);
    s.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
    let first = s.recv(LONG);
    s.close_stdin();
    let status = s.wait(LONG);
    let mut lines = vec![first];
    lines.extend(util::json_lines_strict(&s.rest_of_stdout()));
    (status, lines, s.stderr())
}

#[test]
fn everything_from_the_server_command_on_goes_to_the_server_untouched() {
    let dir = util::scratch("argv");
    // Values that look like Sentinel's options: if Sentinel parsed them, it would print its
    // help (--help), or fail on --max-rows's value; the fake server instead prints "--help" on
    // stderr and uses files named "--max-rows" and "--audit-log" in the working directory.
    let (status, lines, err) = one_round_trip(
        bare(&dir)
            .arg("--no-color")
            .arg("--audit-log")
            .arg(dir.join("audit.log"))
            .arg(util::fake_server())
            .args(["--stderr", "--help"])
            .args(["--log", "--max-rows"])
            .args(["--env-file", "--audit-log"]),
    );
    assert_eq!(status.code(), Some(0), "{status}; stderr:\n{err}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], 1, "{lines:?}");
    assert!(lines[0]["result"].is_object(), "{lines:?}");
    assert!(
        err.lines().any(|l| l == "--help"),
        "the server's --stderr value did not arrive:\n{err}"
    );
    let log = std::fs::read_to_string(dir.join("--max-rows")).expect("the server's --log file");
    assert!(log.contains(r#""method":"initialize""#), "log: {log}");
    let env = std::fs::read_to_string(dir.join("--audit-log")).expect("the server's --env-file");
    assert_eq!(
        env.lines().next().map(Path::new),
        Some(dir.as_path()),
        "the server runs in sentinel's working directory"
    );
}

#[test]
fn double_dash_ends_sentinel_options_and_later_ones_go_to_the_server() {
    let dir = util::scratch("argv-dashdash");
    let (status, lines, err) = one_round_trip(
        bare(&dir)
            .args(["--no-color", "--max-rows", "5", "--audit-log"])
            .arg(dir.join("audit.log"))
            .arg("--")
            .arg(util::fake_server())
            .args(["--stderr", "--"])
            .args(["--log", "--verbose"]),
    );
    assert_eq!(status.code(), Some(0), "{status}; stderr:\n{err}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], 1, "{lines:?}");
    assert!(
        err.lines().any(|l| l == "--"),
        "the server's --stderr value did not arrive:\n{err}"
    );
    let log = std::fs::read_to_string(dir.join("--verbose")).expect("the server's --log file");
    assert!(log.contains(r#""method":"initialize""#), "log: {log}");
    assert!(
        !err.contains("[SENTINEL]"),
        "--verbose after the server command must not make sentinel verbose:\n{err}"
    );
}

// ---- demo mode ----

#[test]
fn demo_blocks_attack_json_and_audits_to_the_working_directory() {
    let dir = util::scratch("demo");
    let (status, out, err) = run(&mut bare(&dir), &attack());
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_attack_blocked(&out);
    assert!(err.contains("BLOCKED"), "no alert on stderr:\n{err}");
    assert!(
        err.contains(UNBOUNDED_READ),
        "the alert names the rule:\n{err}"
    );
    assert_attack_audited(
        &audit_file(&dir.join("security_audit.log")),
        "./security_audit.log",
    );
}

#[test]
fn demo_honours_sentinel_audit_log_env_and_the_option_overrides_it() {
    let dir = util::scratch("demo-env");
    let env_log = dir.join("from-env.log");
    let (status, out, err) = run(bare(&dir).env("SENTINEL_AUDIT_LOG", &env_log), &attack());
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_attack_blocked(&out);
    assert_attack_audited(&audit_file(&env_log), "from SENTINEL_AUDIT_LOG");
    assert!(
        !dir.join("security_audit.log").exists(),
        "SENTINEL_AUDIT_LOG was ignored: ./security_audit.log was written"
    );

    let opt_log = dir.join("from-option.log");
    let (status, out, err) = run(
        bare(&dir)
            .env("SENTINEL_AUDIT_LOG", &env_log)
            .arg("--audit-log")
            .arg(&opt_log),
        &attack(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_attack_audited(&audit_file(&opt_log), "from --audit-log");
    assert_eq!(
        audit_file(&env_log).len(),
        1,
        "--audit-log must take precedence over SENTINEL_AUDIT_LOG"
    );
}

#[test]
fn demo_echoes_allowed_lines_unchanged() {
    let dir = util::scratch("demo-allowed");
    let input = concat!(
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        "\n",
        r#"{ "jsonrpc" : "2.0",  "id" : "x\u00e9", "method" : "ping" }"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"query","arguments":{"query":"SELECT id FROM users LIMIT 10"}}}"#,
        "\n",
    );
    let (status, out, err) = run(
        bare(&dir).arg("--audit-log").arg(dir.join("a.log")),
        input.as_bytes(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_eq!(out, input, "allowed lines must be echoed byte for byte");
    assert!(
        audit_file(&dir.join("a.log")).is_empty(),
        "nothing to audit"
    );
    assert!(!err.contains("BLOCKED"), "{err}");
}

#[test]
fn options_take_effect_in_demo_mode() {
    let dir = util::scratch("demo-options");
    let limit_10 = util::tool_call("1", "query", r#"{"query":"SELECT id FROM users LIMIT 10"}"#);
    // --max-rows 5: LIMIT 10 is now too many.
    let (status, out, err) = run(
        bare(&dir).args(["--no-color", "--max-rows", "5"]),
        format!("{limit_10}\n").as_bytes(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    let v = &util::json_lines_strict(out.as_bytes())[0];
    assert_eq!(
        v["error"]["code"], BLOCKED,
        "LIMIT 10 with --max-rows 5: {v}"
    );
    // --block-as result: a tool result with isError instead of a JSON-RPC error.
    let (status, out, err) = run(bare(&dir).args(["--block-as", "result"]), &attack());
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    let v = &util::json_lines_strict(out.as_bytes())[0];
    assert_eq!(v["id"], ATTACK_ID, "{v}");
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["result"]["isError"], true, "{v}");
    // A valid --dialect is accepted (case-insensitively).
    let (status, out, err) = run(bare(&dir).args(["--dialect", "SQLite"]), &attack());
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_attack_blocked(&out);
}

// ---- colour and verbosity ----

#[test]
fn no_colour_when_stderr_is_not_a_terminal() {
    let dir = util::scratch("colour-pipe");
    for extra in [&[][..], &["--no-color"][..]] {
        for no_color in [false, true] {
            let mut cmd = bare(&dir);
            cmd.args(extra);
            if no_color {
                cmd.env("NO_COLOR", "1");
            }
            let (status, out, err) = run(&mut cmd, &attack());
            assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
            assert!(err.contains("BLOCKED"), "{err}");
            assert!(
                !err.contains("\x1b["),
                "ANSI escape on a non-terminal stderr ({extra:?}, NO_COLOR={no_color}): {err:?}"
            );
            assert!(!out.contains('\x1b'), "{out:?}");
        }
    }
}

fn shell_quote(p: &OsStr) -> String {
    format!(
        "'{}'",
        p.to_str().expect("UTF-8 path").replace('\'', r"'\''")
    )
}

/// Output of `sentinel ARGS < attack.json` run on a pseudo-terminal by `script`, or None when
/// `script` is not installed.
fn on_a_terminal(dir: &Path, args: &str, no_color: bool) -> Option<String> {
    let have_script = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_script {
        eprintln!("`script` (util-linux) not found: skipping the terminal colour check");
        return None;
    }
    let line = format!(
        "{} --audit-log {} {args} < {}",
        shell_quote(util::sentinel().as_os_str()),
        shell_quote(dir.join("audit.log").as_os_str()),
        shell_quote(attack_path().as_os_str()),
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("SENTINEL_AUDIT_LOG")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let (status, out, err) = util::run(&mut cmd, b"", LONG);
    let out = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(
        status.code(),
        Some(0),
        "script: {}",
        describe(status, &out, &err)
    );
    assert!(out.contains("BLOCKED"), "no alert on the terminal: {out:?}");
    Some(out)
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let dir = util::scratch("colour-tty");
    let Some(plain) = on_a_terminal(&dir, "", false) else {
        return;
    };
    assert!(
        plain.contains("\x1b["),
        "no colour on a terminal: {plain:?}"
    );
    let env_off = on_a_terminal(&dir, "", true).expect("script");
    assert!(
        !env_off.contains("\x1b["),
        "colour despite NO_COLOR=1: {env_off:?}"
    );
    let flag_off = on_a_terminal(&dir, "--no-color", false).expect("script");
    assert!(
        !flag_off.contains("\x1b["),
        "colour despite --no-color: {flag_off:?}"
    );
}

#[test]
fn quiet_hides_the_alert_but_still_blocks_and_audits() {
    let dir = util::scratch("quiet");
    for flag in ["--quiet", "-q"] {
        let log = dir.join(format!("audit{flag}.log"));
        let (status, out, err) = run(bare(&dir).arg(flag).arg("--audit-log").arg(&log), &attack());
        assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
        assert_attack_blocked(&out);
        assert_eq!(err, "", "{flag}: nothing on stderr");
        assert_attack_audited(&audit_file(&log), flag);
    }
}

#[test]
fn an_alert_storm_is_summarised_on_stderr_but_every_block_is_answered_and_audited() {
    let dir = util::scratch("storm");
    let log = dir.join("a.log");
    let input: String = (0..100)
        .map(|i| {
            util::tool_call(
                &i.to_string(),
                "query",
                r#"{"query":"SELECT * FROM users"}"#,
            ) + "\n"
        })
        .collect();
    let (status, out, err) = run(
        bare(&dir).args(["--no-color", "--audit-log"]).arg(&log),
        input.as_bytes(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_eq!(out.lines().count(), 100, "every block is answered");
    assert_eq!(audit_file(&log).len(), 100, "every block is audited");
    // The 100 lines arrive well within one second: 20 alerts, then one summary of the rest.
    let shown = err.matches("BLOCKED").count();
    assert_eq!(shown, 20, "at most 20 alerts a second: {err}");
    assert!(
        err.contains("80 more alert(s) not shown"),
        "the rest are counted: {err}"
    );
}

#[test]
fn verbose_logs_allowed_tool_calls() {
    let dir = util::scratch("verbose");
    let call = util::tool_call("5", "query", r#"{"query":"SELECT id FROM users LIMIT 10"}"#);
    let input = format!("{call}\n");
    let log = dir.join("a.log");
    let (status, out, err) = run(
        bare(&dir).args(["--no-color", "--audit-log"]).arg(&log),
        input.as_bytes(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_eq!(out, input);
    assert!(
        !err.contains("allowed"),
        "allowed calls are logged only with --verbose: {err}"
    );
    for flag in ["--verbose", "-v"] {
        let (status, out, err) = run(
            bare(&dir)
                .args(["--no-color", flag, "--audit-log"])
                .arg(&log),
            input.as_bytes(),
        );
        assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
        assert_eq!(out, input);
        assert!(
            err.lines()
                .any(|l| l.contains("allowed") && l.contains("query")),
            "{flag}: the allowed call is not logged: {err}"
        );
    }
}

/// `--verbose` logs allowed `tools/call`s, one line each, and nothing for other methods.
#[test]
fn verbose_logs_only_tool_calls() {
    let dir = util::scratch("verbose-only-calls");
    let call = util::tool_call("5", "query", r#"{"query":"SELECT id FROM users LIMIT 10"}"#);
    let list = r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#;
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    let input = format!("{list}\n{call}\n{ping}\n");
    let log = dir.join("a.log");
    let (status, out, err) = run(
        bare(&dir)
            .args(["--no-color", "--verbose", "--audit-log"])
            .arg(&log),
        input.as_bytes(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_eq!(out, input);
    let allowed: Vec<&str> = err.lines().filter(|l| l.contains("allowed")).collect();
    assert_eq!(allowed.len(), 1, "one allowed line, the call's: {err}");
    assert!(allowed[0].contains("query"), "{err}");
}

// ---- where the audit log goes, and when it cannot be written ----

#[test]
#[cfg(target_os = "linux")] // /proc, /dev/full
fn audit_falls_back_to_the_state_dir_when_the_working_directory_is_not_writable() {
    let dir = util::scratch("fallback");
    // Not even root can create files in /proc.
    assert!(
        std::fs::File::create("/proc/security_audit.log").is_err(),
        "precondition: /proc must not be writable"
    );
    let state = dir.join("state");
    let (status, out, err) = run(bare(&dir).current_dir("/proc"), &attack());
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_attack_blocked(&out);
    let fallback = state.join("mcp-sentinel").join("security_audit.log");
    assert_attack_audited(&audit_file(&fallback), "in the state dir");
    assert!(
        err.contains(fallback.to_str().expect("UTF-8 path")),
        "stderr must say where the audit log went ({}):\n{err}",
        fallback.display()
    );

    // Without XDG_STATE_HOME: $HOME/.local/state.
    let (status, out, err) = run(
        bare(&dir).current_dir("/proc").env_remove("XDG_STATE_HOME"),
        &attack(),
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    assert_attack_blocked(&out);
    let fallback = dir.join("home/.local/state/mcp-sentinel/security_audit.log");
    assert_attack_audited(&audit_file(&fallback), "in $HOME/.local/state");
    assert!(
        err.contains(fallback.to_str().expect("UTF-8 path")),
        "stderr must say where the audit log went ({}):\n{err}",
        fallback.display()
    );
}

#[test]
fn an_audit_log_in_a_missing_directory_is_an_error_exit_1() {
    let dir = util::scratch("audit-missing-dir");
    let bad = dir.join("no-such-dir").join("audit.log");
    let pid_file = dir.join("server.pid");
    let fake = util::fake_server();
    let demo: Vec<&OsStr> = vec![];
    let proxy: Vec<&OsStr> = vec![
        fake.as_os_str(),
        OsStr::new("--pid-file"),
        pid_file.as_os_str(),
    ];
    for server in [demo, proxy] {
        // No input: sentinel must fail before reading any (a write could hit a closed pipe).
        let (status, out, err) = run(bare(&dir).arg("--audit-log").arg(&bad).args(&server), b"");
        assert_eq!(status.code(), Some(1), "{}", describe(status, &out, &err));
        assert!(out.is_empty(), "stdout: {out}");
        assert!(
            err.contains(bad.to_str().expect("UTF-8 path")),
            "the error must name the path:\n{err}"
        );
    }
    assert!(
        !pid_file.exists(),
        "the server was started without an audit log"
    );
}

#[test]
#[cfg(target_os = "linux")] // /proc, /dev/full
fn a_failing_audit_write_never_stops_a_block_in_demo_mode() {
    let dir = util::scratch("dev-full-demo");
    let allowed = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let second = util::tool_call("3", "query", r#"{"query":"SELECT * FROM secrets"}"#);
    let mut input = attack();
    if !input.ends_with(b"\n") {
        input.push(b'\n');
    }
    input.extend_from_slice(format!("{allowed}\n{second}\n").as_bytes());
    let (status, out, err) = run(
        bare(&dir).args(["--no-color", "--audit-log", "/dev/full"]),
        &input,
    );
    assert_eq!(status.code(), Some(0), "{}", describe(status, &out, &err));
    let lines = util::json_lines_strict(out.as_bytes());
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["id"], ATTACK_ID, "{out}");
    assert_eq!(lines[0]["error"]["code"], BLOCKED, "{out}");
    assert_eq!(out.lines().nth(1), Some(allowed), "{out}");
    assert_eq!(lines[2]["id"], 3, "{out}");
    assert_eq!(lines[2]["error"]["code"], BLOCKED, "{out}");
    assert!(
        err.contains("/dev/full") && err.contains("error"),
        "the audit failure must be reported:\n{err}"
    );
}

#[test]
#[cfg(target_os = "linux")] // /proc, /dev/full
fn a_failing_audit_write_never_stops_a_block_or_the_proxy() {
    let dir = util::scratch("dev-full-proxy");
    let mut s = Session::spawn(
        bare(&dir)
            .args(["--no-color", "--audit-log", "/dev/full"])
            .arg(util::fake_server()),
    );
    s.send(&util::tool_call(
        "\"b\"",
        "query",
        r#"{"query":"SELECT * FROM users"}"#,
    ));
    let v = s.recv(LONG);
    assert_eq!(v["id"], "b", "{v}");
    assert_eq!(v["error"]["code"], BLOCKED, "{v}");
    s.send(&util::tool_call("2", "echo", r#"{"text":"still here"}"#));
    let v = s.recv(LONG);
    assert_eq!(v["id"], 2, "{v}");
    assert!(v["result"].is_object(), "{v}");
    s.close_stdin();
    let status = s.wait(LONG);
    let rest = s.rest_of_stdout();
    util::json_lines_strict(&rest);
    let err = s.stderr();
    assert_eq!(status.code(), Some(0), "{status}; stderr:\n{err}");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        err.contains("/dev/full") && err.contains("error"),
        "the audit failure must be reported:\n{err}"
    );
}
