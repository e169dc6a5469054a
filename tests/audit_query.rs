//! `sentinel audit stats|tail|query` on audit logs written by real gateway runs (demo mode,
//! with the test clock placing entries in time) and on hand-written logs for the edges: each
//! filter, stats grouping and its JSON shape, tail -n from the end (lines longer than a read
//! block), tail -f seeing appends and surviving rotation, checkpoint and session fields,
//! several files, malformed lines, where the log is found, and usage errors.

mod util;

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600;

/// `sentinel audit ARGS` in `dir`, hermetic; returns (exit code, stdout, stderr).
fn audit(dir: &Path, args: &[&str]) -> (i32, String, String) {
    audit_with(util::bare(dir), args)
}

fn audit_with(mut cmd: Command, args: &[&str]) -> (i32, String, String) {
    cmd.arg("audit").args(args);
    let (status, out, err) = util::run(&mut cmd, b"", T);
    (
        status.code().unwrap_or(-1),
        String::from_utf8(out).expect("stdout is UTF-8"),
        err,
    )
}

fn json_out(dir: &Path, args: &[&str]) -> Value {
    let (code, out, err) = audit(dir, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

fn call(id: u64, tool: &str, args: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
}

const POLICY: &str = "version: 1
profiles:
  default:
    rules:
      - id: no-delete
        tools: [\"delete_*\"]
      - id: egress
        egress: {}
        action: monitor
      - id: sql
        sql: {}
";

/// Runs the gateway in demo mode at `secs` (the test clock), appending to `dir/audit.log`.
fn gateway_run(dir: &Path, secs: u64, lines: &[String]) {
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let clock = dir.join("clock");
    std::fs::write(&clock, secs.to_string()).unwrap();
    let mut cmd = util::command(dir);
    cmd.arg("--policy")
        .arg(&policy)
        .env("SENTINEL_TEST_CLOCK", &clock);
    let input = lines.join("\n") + "\n";
    let (status, out, err) = util::run(&mut cmd, input.as_bytes(), T);
    assert_eq!(
        status.code(),
        Some(0),
        "{err}\n{}",
        String::from_utf8_lossy(&out)
    );
}

/// A log from two real runs: at T0 two refusals (SQL, delete) and a monitored egress finding,
/// at T0 + 2h one more refusal.
fn real_log(name: &str) -> PathBuf {
    let dir = util::scratch(name);
    gateway_run(
        &dir,
        T0,
        &[
            call(1, "read_query", json!({"query": "SELECT * FROM users"})),
            call(2, "delete_repo", json!({"name": "x"})),
            call(
                3,
                "fetch",
                json!({"url": "http://169.254.169.254/latest/meta-data"}),
            ),
            call(
                4,
                "read_query",
                json!({"query": "SELECT id FROM users LIMIT 5"}),
            ),
        ],
    );
    gateway_run(
        &dir,
        T0 + 7200,
        &[call(5, "delete_branch", json!({"name": "main"}))],
    );
    dir
}

fn lines_of(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn ids(out: &str) -> Vec<i64> {
    lines_of(out)
        .iter()
        .map(|e| e["message_id"].as_i64().unwrap_or(-1))
        .collect()
}

#[test]
fn stats_of_a_real_log_count_by_every_group_and_in_json() {
    let dir = real_log("stats");
    let s = json_out(&dir, &["stats", "--json", "audit.log"]);
    assert_eq!(s["entries"], 4, "{s}");
    assert_eq!(s["actions"], json!({"blocked": 3, "monitored": 1}), "{s}");
    assert_eq!(s["first"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(s["last"], "2026-01-01T02:00:00.000000Z");
    assert_eq!(
        (s["malformed"].as_u64(), s["checkpoints"].as_u64()),
        (Some(0), Some(0))
    );
    let by = &s["by"];
    for group in ["reason", "rule", "tool", "server", "session", "hour"] {
        assert!(by[group].is_array(), "no group {group}: {s}");
    }
    // Sorted by count, largest first; then by value.
    assert_eq!(
        by["rule"],
        json!([{"value": "no-delete", "count": 2},
               {"value": "egress.metadata", "count": 1},
               {"value": "sql.unbounded_read", "count": 1}])
    );
    // Hours in time order.
    assert_eq!(
        by["hour"],
        json!([{"value": "2026-01-01T00:00Z", "count": 3},
               {"value": "2026-01-01T02:00Z", "count": 1}])
    );
    // Two runs wrote the log: two sessions, largest first.
    let sessions = by["session"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["count"], 3);
    assert_eq!(sessions[1]["count"], 1);
    assert_eq!(sessions[0]["value"].as_str().unwrap().len(), 32);
    // --by chooses the groups.
    let s = json_out(
        &dir,
        &["stats", "--json", "--by", "tool,server", "audit.log"],
    );
    let keys: Vec<&String> = s["by"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["server", "tool"]);
    assert_eq!(s["by"]["server"][0]["count"], 4);

    // For people: aligned tables, largest count first.
    let (code, out, err) = audit(&dir, &["stats", "audit.log"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("4 entries, 2026-01-01T00:00:00.000000Z .. "),
        "{out}"
    );
    let rules = out.split("by rule:\n").nth(1).unwrap();
    let rows: Vec<&str> = rules.lines().take(3).collect();
    assert_eq!(
        rows,
        [
            "  no-delete           2",
            "  egress.metadata     1",
            "  sql.unbounded_read  1"
        ],
        "{out}"
    );
    assert!(
        out.contains("by action:\n  blocked    3\n  monitored  1\n"),
        "{out}"
    );
}

#[test]
fn every_filter_chooses_entries_of_a_real_log() {
    let dir = real_log("filters");
    let q = |args: &[&str]| {
        let mut all = vec!["query", "--json"];
        all.extend_from_slice(args);
        all.push("audit.log");
        let (code, out, err) = audit(&dir, &all);
        assert_eq!(code, 0, "{args:?}: {err}");
        ids(&out)
    };
    assert_eq!(q(&[]), [1, 2, 3, 5]);
    assert_eq!(q(&["--rule", "no-delete"]), [2, 5]);
    assert_eq!(q(&["--rule", "sql.*,egress.*"]), [1, 3]);
    assert_eq!(q(&["--rule", "sql.*", "--rule", "no-*"]), [1, 2, 5]);
    assert_eq!(q(&["--tool", "delete_?ranch"]), [5]);
    assert_eq!(q(&["--action", "monitored"]), [3]);
    assert_eq!(q(&["--action=blocked", "--tool", "read_query"]), [1]);
    assert_eq!(q(&["--reason", "*Metadata*"]), [3]);
    assert_eq!(
        q(&["--reason", "metadata*"]),
        Vec::<i64>::new(),
        "globs are case-sensitive"
    );
    assert_eq!(q(&["--server", "(demo: no server)"]), [1, 2, 3, 5]);
    assert_eq!(q(&["--server", "other"]), Vec::<i64>::new());
    assert_eq!(q(&["--method", "tools/call"]), [1, 2, 3, 5]);
    assert_eq!(q(&["--since", "2026-01-01T01:00:00Z"]), [5]);
    assert_eq!(q(&["--since", "2026-01-01T03:00:00+02:00"]), [5]);
    assert_eq!(q(&["--until", "2026-01-01T02:00:00Z"]), [1, 2, 3]);
    assert_eq!(
        q(&["--since", "2026-01-01", "--until", "2026-01-02"]),
        [1, 2, 3, 5]
    );
    assert_eq!(
        q(&["--session", "*"]),
        [1, 2, 3, 5],
        "every entry has a session"
    );
    assert_eq!(
        q(&["--session", "0000*"]),
        Vec::<i64>::new(),
        "no such session"
    );

    // Relative times count back from the clock (the test clock here).
    let clock = dir.join("now");
    std::fs::write(&clock, (T0 + 7200 + 60).to_string()).unwrap();
    let mut cmd = util::bare(&dir);
    cmd.env("SENTINEL_TEST_CLOCK", &clock);
    let (code, out, err) = audit_with(cmd, &["query", "--json", "--since", "90m", "audit.log"]);
    assert_eq!((code, ids(&out)), (0, vec![5]), "{err}");
    let mut cmd = util::bare(&dir);
    cmd.env("SENTINEL_TEST_CLOCK", &clock);
    let (code, out, err) = audit_with(cmd, &["query", "--json", "--until", "2h", "audit.log"]);
    assert_eq!((code, ids(&out)), (0, vec![1, 2, 3]), "{err}");

    // --json prints the entries' lines byte for byte.
    let (_, out, _) = audit(&dir, &["query", "--json", "audit.log"]);
    assert_eq!(out, std::fs::read_to_string(dir.join("audit.log")).unwrap());
    // For people: one line each, time to the second, action, rule, tool, explanation.
    let (_, out, _) = audit(&dir, &["query", "--tool", "delete_repo", "audit.log"]);
    let line = out.lines().next().unwrap();
    assert!(
        line.starts_with("2026-01-01T00:00:00Z  blocked    no-delete"),
        "{out}"
    );
    assert!(
        line.contains("delete_repo") && line.contains("matches"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
}

/// Hand-written entries: sessions, sequence numbers and checkpoints as the hash chain writes
/// them, hostile text.
fn entry(secs: u64, action: &str, rule: &str, tool: &str, session: &str, seq: u64) -> String {
    let ts = format!(
        "2026-01-01T{:02}:{:02}:{:02}.000000Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    json!({"timestamp": ts, "message_id": seq, "method": "tools/call", "reason": "R",
           "rule": rule, "tool": tool, "action": action, "explanation": format!("e{seq}"),
           "server": "srv", "session": session, "seq": seq, "prev": "00", "details": null})
    .to_string()
}

fn checkpoint(secs: u64, session: &str, seq: u64) -> String {
    let ts = format!("2026-01-01T00:00:{:02}.000000Z", secs % 60);
    json!({"timestamp": ts, "action": "checkpoint", "session": session, "seq": seq,
           "prev": "ab", "signature": "cd"})
    .to_string()
}

fn write_log(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    path
}

#[test]
fn sessions_are_fields_like_the_others_and_checkpoints_are_left_out_unless_asked() {
    let dir = util::scratch("sessions");
    write_log(
        &dir,
        "a.log",
        &[
            entry(1, "blocked", "sql.export", "q", "s1", 1),
            entry(2, "allowed", "default", "q", "s2", 1),
            checkpoint(3, "s1", 2),
            entry(4, "blocked", "no-delete", "d", "s1", 3),
        ],
    );
    let (code, out, err) = audit(&dir, &["query", "--json", "--session", "s1", "a.log"]);
    assert_eq!((code, ids(&out)), (0, vec![1, 3]), "{err}");
    let (_, out, _) = audit(
        &dir,
        &["query", "--json", "--action", "checkpoint", "a.log"],
    );
    let got = lines_of(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["seq"], 2);
    let s = json_out(&dir, &["stats", "--json", "a.log"]);
    assert_eq!(
        (s["entries"].as_u64(), s["checkpoints"].as_u64()),
        (Some(3), Some(1)),
        "{s}"
    );
    assert_eq!(s["actions"], json!({"allowed": 1, "blocked": 2}));
    assert_eq!(
        s["by"]["session"],
        json!([{"value": "s1", "count": 2}, {"value": "s2", "count": 1}])
    );
    let s = json_out(
        &dir,
        &[
            "stats",
            "--json",
            "--session",
            "s2",
            "--by",
            "session",
            "a.log",
        ],
    );
    assert_eq!(
        (s["entries"].as_u64(), s["checkpoints"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );
    // Tail leaves checkpoints out too.
    let (_, out, _) = audit(&dir, &["tail", "--json", "-n", "2", "a.log"]);
    let rules: Vec<Value> = lines_of(&out).iter().map(|e| e["rule"].clone()).collect();
    assert_eq!(rules, ["default", "no-delete"]);
}

#[test]
fn several_files_are_read_as_one_in_the_order_given() {
    let dir = util::scratch("files");
    write_log(
        &dir,
        "a.log.1",
        &[
            entry(1, "blocked", "r", "t", "s", 1),
            entry(2, "blocked", "r", "t", "s", 2),
        ],
    );
    write_log(&dir, "a.log", &[entry(3, "blocked", "r", "t", "s", 3)]);
    let (_, out, _) = audit(&dir, &["query", "--json", "a.log.1", "a.log"]);
    assert_eq!(ids(&out), [1, 2, 3]);
    let (_, out, _) = audit(&dir, &["tail", "--json", "-n", "2", "a.log.1", "a.log"]);
    assert_eq!(ids(&out), [2, 3]);
    let s = json_out(&dir, &["stats", "--json", "a.log.1", "a.log"]);
    assert_eq!(s["entries"], 3);
}

#[test]
fn tail_reads_the_last_entries_from_the_end_even_past_long_lines() {
    let dir = util::scratch("tail");
    let mut lines: Vec<String> = (1..=25)
        .map(|i| entry(i, "blocked", "r", "t", "s", i))
        .collect();
    // Lines longer than a read block (64 KiB), so lines are assembled from several blocks.
    let big = |seq: u64| {
        json!({"timestamp": "2026-01-01T00:01:00.000000Z", "message_id": seq, "action": "blocked",
               "rule": "big", "details": "x".repeat(200_000)})
        .to_string()
    };
    lines.insert(20, big(100));
    lines.push(big(101));
    let path = write_log(&dir, "a.log", &lines);
    let (code, out, err) = audit(&dir, &["tail", "--json", "a.log"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ids(&out), [18, 19, 20, 100, 21, 22, 23, 24, 25, 101]);
    let (_, out, _) = audit(
        &dir,
        &["tail", "--json", "-n", "3", "--rule", "big", "a.log"],
    );
    assert_eq!(ids(&out), [100, 101]);
    let (_, out, _) = audit(&dir, &["tail", "--json", "-n", "0", "a.log"]);
    assert_eq!(out, "");
    let (_, out, _) = audit(&dir, &["tail", "--json", "-n", "1000", "a.log"]);
    assert_eq!(
        out,
        std::fs::read_to_string(&path).unwrap(),
        "every line, byte for byte"
    );
    let (_, out, _) = audit(&dir, &["tail", "-n", "1", "a.log"]);
    assert!(
        out.starts_with("2026-01-01T00:01:00Z  blocked    big"),
        "{out}"
    );
}

/// Waits for the next stdout line of `s`, up to a deadline.
fn next_line(s: &util::Session) -> String {
    String::from_utf8(s.recv_raw(T)).unwrap()
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

#[test]
fn tail_follow_prints_appended_entries_and_survives_rotation_and_truncation() {
    let dir = util::scratch("follow");
    let path = write_log(
        &dir,
        "a.log",
        &[
            entry(1, "blocked", "r", "t", "s", 1),
            entry(2, "blocked", "r", "t", "s", 2),
        ],
    );
    // An unfinished last line is not printed until its newline arrives.
    let last = entry(3, "blocked", "r", "t", "s", 3);
    append(&path, &last[..10]);
    let mut cmd = util::bare(&dir);
    cmd.args([
        "audit", "tail", "-f", "-n", "1", "--json", "--rule", "r", "a.log",
    ]);
    let mut s = util::Session::spawn(&mut cmd);
    assert_eq!(ids(&next_line(&s)), [2]);
    append(&path, &format!("{}\n", &last[10..]));
    assert_eq!(ids(&next_line(&s)), [3]);
    // Filters apply to what follows.
    append(
        &path,
        &format!("{}\n", entry(4, "blocked", "other", "t", "s", 4)),
    );
    append(
        &path,
        &format!("{}\n", entry(5, "blocked", "r", "t", "s", 5)),
    );
    assert_eq!(ids(&next_line(&s)), [5]);
    // Rotation: the file is renamed and a new one takes its name.
    std::fs::rename(&path, dir.join("a.log.1")).unwrap();
    append(
        &dir.join("a.log.1"),
        &format!("{}\n", entry(6, "blocked", "r", "t", "s", 6)),
    );
    // The new file is larger than what was read of the old one at once, so only the change
    // of file (not a shrink) can tell the follower to switch.
    let filler: String = (100..120)
        .map(|i| format!("{}\n", entry(i, "blocked", "other", "t", "s", i)))
        .collect();
    let new_file = format!("{filler}{}\n", entry(7, "blocked", "r", "t", "s", 7));
    let tmp = dir.join("a.log.new");
    std::fs::write(&tmp, &new_file).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(ids(&next_line(&s)), [6], "the old file is read to its end");
    assert_eq!(ids(&next_line(&s)), [7], "then the new one from its start");
    // Truncation: read again from the start.
    // Whether the follower sees the empty file or the new line first, the file is shorter
    // than what it had read (a file cut and refilled to its old size between two looks
    // cannot be told from one that did not change: `tail -F` has the same limit).
    std::fs::write(&path, "").unwrap();
    append(
        &path,
        "{\"action\":\"blocked\",\"rule\":\"r\",\"message_id\":8}\n",
    );
    assert_eq!(ids(&next_line(&s)), [8]);
    assert!(
        s.quiet_for(Duration::from_millis(300)),
        "nothing printed twice"
    );
    let _ = s.child.kill();
    let _ = s.wait(T);
}

#[test]
fn malformed_lines_are_named_skipped_and_fail_the_run() {
    let dir = util::scratch("malformed");
    let path = dir.join("a.log");
    let text = format!(
        "{}\nnot json\n{}\n[1,2]\n\n{}\n{{\"timestamp\":\"2026",
        entry(1, "blocked", "r", "t", "s", 1),
        entry(2, "blocked", "r", "t", "s", 2),
        entry(3, "blocked", "r", "t", "s", 3)
    );
    std::fs::write(&path, text).unwrap();
    for cmd in [
        &["query", "--json", "a.log"][..],
        &["tail", "--json", "-n", "100", "a.log"],
    ] {
        let (code, out, err) = audit(&dir, cmd);
        assert_eq!(code, 1, "{cmd:?}: {err}");
        assert_eq!(ids(&out), [1, 2, 3], "{cmd:?}");
        assert!(
            err.contains("2 line(s) are not audit entries"),
            "{cmd:?}: {err}"
        );
        assert!(
            err.contains("a.log:2: ") && err.contains("a.log:4: not a JSON object"),
            "{cmd:?}: {err}"
        );
        assert!(err.contains("last line is unfinished"), "{cmd:?}: {err}");
    }
    let (code, out, _) = audit(&dir, &["stats", "--json", "a.log"]);
    assert_eq!(code, 1);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (s["entries"].as_u64(), s["malformed"].as_u64()),
        (Some(3), Some(2))
    );
    // Only an unfinished last line (a write in progress): noted, not a failure.
    let path = dir.join("b.log");
    std::fs::write(
        &path,
        format!("{}\n{{\"times", entry(1, "blocked", "r", "t", "s", 1)),
    )
    .unwrap();
    let (code, out, err) = audit(&dir, &["query", "--json", "b.log"]);
    assert_eq!((code, ids(&out)), (0, vec![1]), "{err}");
    assert!(
        err.contains("b.log:2: the last line is unfinished"),
        "{err}"
    );
    // Not UTF-8, a duplicated field, binary noise: skipped too.
    std::fs::write(
        dir.join("c.log"),
        b"\xff\xfe{\n{\"rule\":\"a\",\"rule\":\"b\"}\n\x00\x01\n",
    )
    .unwrap();
    let (code, out, err) = audit(&dir, &["query", "c.log"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("3 line(s)"), "{err}");
}

#[test]
fn hostile_text_in_an_entry_cannot_drive_the_terminal() {
    let dir = util::scratch("hostile");
    let e = json!({"timestamp": "2026-01-01T00:00:00Z", "action": "blocked", "rule": "r",
                   "tool": "t\u{1b}[31m", "explanation": "a\nb\u{202e}c\u{7}"})
    .to_string();
    write_log(&dir, "a.log", &[e]);
    let (code, out, _) = audit(&dir, &["query", "a.log"]);
    assert_eq!(code, 0);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\u{7}'),
        "{out:?}"
    );
    assert!(
        out.contains("t\\u{1b}[31m") && out.contains("a\\nb\\u{202e}c\\u{7}"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
    let (_, out, _) = audit(&dir, &["stats", "--by", "tool", "a.log"]);
    assert!(!out.contains('\u{1b}'), "{out:?}");
}

#[test]
fn the_log_is_found_where_the_gateway_writes_it() {
    let dir = util::scratch("location");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cmd = || {
        let mut c = util::bare(&dir);
        c.env("HOME", &home).env_remove("XDG_STATE_HOME");
        c
    };
    // Nothing anywhere: a clear error naming where it looked.
    let (code, out, err) = audit_with(cmd(), &["query"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("no audit log found") && err.contains("security_audit.log"),
        "{err}"
    );
    assert!(
        err.contains(".local/state/mcp-sentinel/security_audit.log"),
        "{err}"
    );
    // The per-user state directory.
    let state = home.join(".local/state/mcp-sentinel");
    std::fs::create_dir_all(&state).unwrap();
    write_log(
        &state,
        "security_audit.log",
        &[entry(1, "blocked", "r", "t", "s", 1)],
    );
    let (_, out, _) = audit_with(cmd(), &["query", "--json"]);
    assert_eq!(ids(&out), [1]);
    // The working directory's file comes first.
    write_log(
        &dir,
        "security_audit.log",
        &[entry(2, "blocked", "r", "t", "s", 2)],
    );
    let (_, out, _) = audit_with(cmd(), &["query", "--json"]);
    assert_eq!(ids(&out), [2]);
    // SENTINEL_AUDIT_LOG before both.
    write_log(&dir, "env.log", &[entry(3, "blocked", "r", "t", "s", 3)]);
    let mut c = cmd();
    c.env("SENTINEL_AUDIT_LOG", dir.join("env.log"));
    let (_, out, _) = audit_with(c, &["tail", "--json"]);
    assert_eq!(ids(&out), [3]);
}

#[test]
fn a_missing_file_is_a_failure_and_bad_options_are_usage_errors() {
    let dir = util::scratch("errors");
    for sub in ["stats", "tail", "query"] {
        let (code, out, err) = audit(&dir, &[sub, "nope.log"]);
        assert_eq!((code, out.as_str()), (1, ""), "{sub}: {err}");
        assert!(
            err.contains("cannot read the audit log nope.log") && err.contains("No such file"),
            "{err}"
        );
    }
    write_log(&dir, "a.log", &[entry(1, "blocked", "r", "t", "s", 1)]);
    let bad: &[&[&str]] = &[
        &["query", "--bogus", "a.log"],
        &["stats", "--since", "yesterday", "a.log"],
        &["stats", "--since", "2026-02-30", "a.log"],
        &["query", "--since", "2h", "--until", "3h", "a.log"],
        &["stats", "--by", "colour", "a.log"],
        &["tail", "-n", "many", "a.log"],
        &["tail", "-n"],
        &["query", "-f", "a.log"],
        &["query", "--by", "rule", "a.log"],
        &["stats", "-n", "3", "a.log"],
        &["query", "--hour", "x", "a.log"],
        &["query", "--rule=", "a.log"],
        &["query", "--tool", ",", "a.log"],
    ];
    for args in bad {
        let (code, out, err) = audit(&dir, args);
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        assert!(
            err.starts_with("sentinel: error: ") && err.contains("--help"),
            "{args:?}: {err}"
        );
    }
    let (code, out, _) = audit(&dir, &["tail", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("-f") && out.contains("--since") && out.contains("Exit codes"),
        "{out}"
    );
}
