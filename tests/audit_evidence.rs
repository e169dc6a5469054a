//! The audit log as evidence, end to end with the real binary in demo mode (blocked calls
//! are audited): the hash chain and signed checkpoints it writes, `sentinel audit verify` on
//! sound and tampered logs (an edit, a removed, swapped or inserted line, whole lines or half
//! a line cut from the end, a forged signature, the wrong key), several Sentinels appending
//! to one log at once, rotation carrying the chain, `sentinel audit keygen`, and the refusal
//! of a key file others can read.

mod util;

use serde_json::Value;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// `n` calls the built-in policy refuses (and audits): unbounded reads and DROP TABLE.
fn calls(n: usize) -> String {
    (0..n)
        .map(|i| {
            let q = if i % 2 == 0 {
                "SELECT * FROM users"
            } else {
                "DROP TABLE users"
            };
            util::tool_call(&i.to_string(), "q", &format!(r#"{{"query":"{q}"}}"#)) + "\n"
        })
        .collect()
}

/// Runs `sentinel ARGS` (demo mode when ARGS has no command) with `input`; without colour
/// (the `audit` subcommand has no colour to turn off).
fn sentinel(dir: &Path, args: &[&str], input: &str) -> (ExitStatus, String, String) {
    let mut c = util::bare(dir);
    if args.first() != Some(&"audit") {
        c.arg("--no-color");
    }
    c.args(args);
    let (status, out, err) = util::run(&mut c, input.as_bytes(), LONG);
    (status, String::from_utf8_lossy(&out).into_owned(), err)
}

/// A demo session auditing `n` refused calls to `log`, with `args`; it must succeed.
fn session(dir: &Path, log: &Path, args: &[&str], n: usize) {
    let mut all = vec!["--audit-log", log.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, _, err) = sentinel(dir, &all, &calls(n));
    assert!(status.success(), "{status:?} {err}");
}

/// `sentinel audit verify ARGS`: (exit code, stdout, stderr).
fn verify(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    let (status, out, err) = sentinel(dir, &all, "");
    (status.code().expect("exit code"), out, err)
}

/// A key pair in `dir`: (private key file, public key file, the public key's hex).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let out = dir.join(name);
    let (status, stdout, err) = sentinel(
        dir,
        &["audit", "keygen", "--out", out.to_str().unwrap()],
        "",
    );
    assert!(status.success(), "{err}");
    let public = stdout.trim().to_owned();
    assert_eq!(public.len(), 64, "{stdout}");
    (out.clone(), dir.join(format!("{name}.pub")), public)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn entries(path: &Path) -> Vec<Value> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// A signed log: 10 refused calls, a checkpoint every 4 entries and at exit (13 lines:
/// entries 1-4, checkpoint, 5-8, checkpoint, 9-10, closing checkpoint).
fn signed_log(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, public, _) = keygen(dir, "audit.key");
    let log = dir.join("audit.log");
    session(
        dir,
        &log,
        &[
            "--audit-key",
            key.to_str().unwrap(),
            "--audit-checkpoint-every",
            "4",
        ],
        10,
    );
    assert_eq!(lines(&log).len(), 13, "{:#?}", lines(&log));
    (log, public)
}

#[test]
fn every_entry_has_session_seq_and_prev_after_the_timestamp() {
    let dir = util::scratch("evidence-fields");
    let log = dir.join("audit.log");
    session(&dir, &log, &[], 3);
    session(&dir, &log, &[], 2);
    let text = lines(&log);
    assert_eq!(text.len(), 5, "no key: no checkpoints");
    for l in &text {
        assert!(l.starts_with(r#"{"timestamp":""#), "{l}");
        let after_ts = &l[l.find(r#","session":"#).expect("session")..];
        assert!(
            after_ts.find(r#","seq":"#) < after_ts.find(r#","prev":"#),
            "{l}"
        );
        assert!(
            after_ts.find(r#","prev":"#) < after_ts.find(r#","message_id":"#),
            "{l}"
        );
    }
    let e = entries(&log);
    assert_eq!(e[0]["prev"], "0".repeat(64), "genesis");
    let seqs: Vec<u64> = e.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 1, 2]);
    assert_eq!(e[0]["session"], e[2]["session"]);
    assert_ne!(
        e[2]["session"], e[3]["session"],
        "a new process is a new session"
    );
    assert_eq!(e[0]["session"].as_str().unwrap().len(), 32);
    let (code, out, _) = verify(&dir, &[log.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_sound_log_verifies_with_and_without_the_key() {
    let dir = util::scratch("evidence-sound");
    let (log, public) = signed_log(&dir);
    let hex = std::fs::read_to_string(&public).unwrap();
    let log_s = log.to_str().unwrap();
    let (code, out, err) = verify(&dir, &[log_s, "--key", public.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("3 checkpoints, 3 signatures verified"),
        "{out}"
    );
    // The literal key does as well as its file.
    let literal = hex.split_whitespace().last().unwrap().to_owned();
    let (code, out, _) = verify(&dir, &[log_s, "--key", &literal]);
    assert_eq!(code, 0, "{out}");
    // Without a key: the chain, and what it does not prove.
    let (code, out, _) = verify(&dir, &[log_s]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("integrity against accidents") && out.contains("rewrite the whole file"),
        "{out}"
    );
}

/// Verifies `tampered` (written as t.log) with the key: exit 1 and a finding at each of
/// `at` (line numbers) containing `what`.
fn assert_caught(dir: &Path, tampered: &[String], public: &Path, at: &[usize], what: &str) {
    let t = dir.join("t.log");
    write_lines(&t, tampered);
    let (code, out, err) = verify(
        dir,
        &[t.to_str().unwrap(), "--key", public.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{what}: {out} {err}");
    assert!(out.contains("NOT SOUND"), "{out}");
    for line in at {
        let prefix = format!("{}:{line}: ", t.display());
        assert!(
            out.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(what)),
            "expected {prefix}...{what} in:\n{out}"
        );
    }
}

#[test]
fn each_kind_of_tampering_is_caught_and_named_by_line() {
    let dir = util::scratch("evidence-tamper");
    let (log, public) = signed_log(&dir);
    let good = lines(&log);

    let mut edited = good.clone();
    assert!(edited[2].contains(r#""tool":"q""#));
    edited[2] = edited[2].replace(r#""tool":"q""#, r#""tool":"r""#);
    assert_caught(&dir, &edited, &public, &[3], "changed");

    let mut removed = good.clone();
    removed.remove(2);
    assert_caught(&dir, &removed, &public, &[3], "1 entry is missing");

    let mut swapped = good.clone();
    swapped.swap(2, 3);
    assert_caught(&dir, &swapped, &public, &[3], "out of order");

    // A line made up from another (its prev copied, so it chains to line 2 like line 3 did).
    let mut inserted = good.clone();
    inserted.insert(2, good[2].replace("SELECT * FROM users", "SELECT 1"));
    assert_caught(&dir, &inserted, &public, &[4], "inserted");

    // Whole lines cut from the end: the closing checkpoint is gone.
    assert_caught(&dir, &good[..11], &public, &[11], "no closing checkpoint");
    let t = dir.join("t.log");
    let (code, out, _) = verify(
        &dir,
        &[
            t.to_str().unwrap(),
            "--key",
            public.to_str().unwrap(),
            "--allow-open",
        ],
    );
    assert_eq!(
        code, 0,
        "--allow-open: a session still running is a note: {out}"
    );
    assert!(out.contains(":11: note: session"), "{out}");

    // Half a line cut from the end.
    let mut text = std::fs::read(&log).unwrap();
    text.truncate(text.len() - 40);
    std::fs::write(&t, &text).unwrap();
    let (code, out, _) = verify(&dir, &[t.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{}:13: cut short", t.display())),
        "{out}"
    );

    // A checkpoint whose signature was changed (line 5 is the first checkpoint).
    let mut forged = good.clone();
    assert!(
        forged[4].contains(r#""action":"checkpoint""#),
        "{}",
        forged[4]
    );
    let at = forged[4].len() - 10;
    let digit = if &forged[4][at..at + 1] == "a" {
        "b"
    } else {
        "a"
    };
    forged[4].replace_range(at..at + 1, digit);
    assert_caught(&dir, &forged, &public, &[5], "does not verify");

    // The right log, the wrong key.
    let (_, other, _) = keygen(&dir, "other.key");
    assert_caught(&dir, &good, &other, &[5, 10, 13], "not by the given key");

    // Without a key the chain still catches an edit.
    write_lines(&t, &edited);
    let (code, out, _) = verify(&dir, &[t.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{}:3: changed", t.display())),
        "{out}"
    );
}

/// Starts `n` Sentinels at once, each auditing `per` refused calls to `log` with `args`.
fn concurrent(dir: &Path, log: &Path, args: &[&str], n: usize, per: usize) {
    let input = dir.join("calls.jsonl");
    std::fs::write(&input, calls(per)).unwrap();
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut c = Command::new(util::sentinel());
            util::hermetic(&mut c, dir)
                .args(["--no-color", "-q", "--audit-log"])
                .arg(log)
                .args(args)
                .stdin(std::fs::File::open(&input).unwrap())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn sentinel")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Refused-call entries (not checkpoints) per session, in file order, checking each
/// session's seqs go 1, 2, 3 ...
fn per_session(all: &[Value]) -> HashMap<String, usize> {
    let mut seqs: HashMap<String, Vec<u64>> = HashMap::new();
    let mut calls: HashMap<String, usize> = HashMap::new();
    for e in all {
        let s = e["session"].as_str().unwrap().to_owned();
        seqs.entry(s.clone())
            .or_default()
            .push(e["seq"].as_u64().unwrap());
        if e["action"] != "checkpoint" {
            *calls.entry(s).or_default() += 1;
        }
    }
    for (s, v) in &seqs {
        assert_eq!(*v, (1..=v.len() as u64).collect::<Vec<_>>(), "session {s}");
    }
    calls
}

#[test]
fn six_sentinels_appending_at_once_lose_no_line_and_keep_one_chain() {
    let dir = util::scratch("evidence-concurrent");
    let (key, public, _) = keygen(&dir, "k");
    let log = dir.join("shared.log");
    concurrent(
        &dir,
        &log,
        &[
            "--audit-key",
            key.to_str().unwrap(),
            "--audit-checkpoint-every",
            "50",
        ],
        6,
        200,
    );
    let all = entries(&log);
    // 200 entries, 4 periodic and 1 closing checkpoint each.
    assert_eq!(all.len(), 6 * 205);
    let calls = per_session(&all);
    assert_eq!(calls.len(), 6);
    assert!(calls.values().all(|&n| n == 200), "{calls:?}");
    let (code, out, _) = verify(
        &dir,
        &[log.to_str().unwrap(), "--key", public.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("30 signatures verified"), "{out}");
}

#[test]
fn rotation_under_three_writers_carries_the_chain_from_file_to_file() {
    let dir = util::scratch("evidence-rotate");
    let log = dir.join("audit.log");
    concurrent(
        &dir,
        &log,
        &["--audit-max-bytes", "8K", "--audit-keep", "100"],
        3,
        100,
    );
    let mut files: Vec<PathBuf> = (1..=100)
        .map(|n| dir.join(format!("audit.log.{n}")))
        .filter(|p| p.exists())
        .collect();
    assert!(files.len() >= 3, "rotated: {files:?}");
    assert!(!dir.join(format!("audit.log.{}", files.len() + 1)).exists());
    files.reverse();
    files.push(log.clone());
    let mut all = Vec::new();
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size <= 8192, "{} is {size} bytes", f.display());
        all.extend(entries(f));
    }
    let calls = per_session(&all);
    assert_eq!(
        calls.values().sum::<usize>(),
        300,
        "no entry lost in rotation"
    );
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let (code, out, _) = verify(&dir, &names);
    assert_eq!(code, 0, "{out}");
    // Out of order, the files do not chain.
    let mut wrong = names.clone();
    wrong.swap(0, 1);
    let (code, out, _) = verify(&dir, &wrong);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not continue"), "{out}");
}

#[test]
fn rotation_keeps_a_bounded_number_of_files_and_partial_accepts_the_rest() {
    let dir = util::scratch("evidence-keep");
    let log = dir.join("audit.log");
    session(
        &dir,
        &log,
        &["--audit-max-bytes", "4K", "--audit-keep", "2"],
        60,
    );
    assert!(dir.join("audit.log.2").exists());
    assert!(!dir.join("audit.log.3").exists(), "--audit-keep 2");
    let names = ["audit.log.2", "audit.log.1", "audit.log"];
    let (code, out, _) = verify(&dir, &names);
    assert_eq!(code, 1, "the oldest files are gone: {out}");
    assert!(out.contains("audit.log.2:1: "), "{out}");
    let mut partial = names.to_vec();
    partial.push("--partial");
    let (code, out, _) = verify(&dir, &partial);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn checkpoints_come_every_n_entries_and_at_exit_and_never_hold_the_key() {
    let dir = util::scratch("evidence-every");
    let (key, _, public) = keygen(&dir, "k");
    let log = dir.join("audit.log");
    session(
        &dir,
        &log,
        &[
            "--audit-key",
            key.to_str().unwrap(),
            "--audit-checkpoint-every",
            "3",
        ],
        7,
    );
    let all = entries(&log);
    let kinds: Vec<String> = all
        .iter()
        .map(|e| match e["action"].as_str().unwrap() {
            "checkpoint" if e["checkpoint"]["final"] == true => "F".to_owned(),
            "checkpoint" => "C".to_owned(),
            _ => "e".to_owned(),
        })
        .collect();
    assert_eq!(kinds.concat(), "eeeCeeeCeF");
    let private = std::fs::read_to_string(&key).unwrap();
    let secret = private.split_whitespace().last().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(secret), "the private key is in the log");
    let ids: Vec<&str> = all
        .iter()
        .filter_map(|e| e["checkpoint"]["key_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|&i| i.len() == 16 && i == ids[0]));
    assert!(
        !public.contains(ids[0]),
        "the key id is a hash of the key, not a piece of it"
    );
}

#[test]
fn keygen_writes_an_owner_only_key_and_refuses_to_overwrite_it() {
    let dir = util::scratch("evidence-keygen");
    let (key, public, hex) = keygen(&dir, "k");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&public), 0o644);
    assert!(std::fs::read_to_string(&public).unwrap().contains(&hex));
    let before = std::fs::read(&key).unwrap();
    let (status, out, err) = sentinel(
        &dir,
        &["audit", "keygen", "--out", key.to_str().unwrap()],
        "",
    );
    assert_eq!(status.code(), Some(1), "{out} {err}");
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "the key was not touched"
    );
    let (status, out, _) = sentinel(
        &dir,
        &["audit", "keygen", "--out", key.to_str().unwrap(), "--force"],
        "",
    );
    assert!(status.success());
    assert_ne!(out.trim(), hex, "--force makes a new key");
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn a_key_file_others_can_read_or_that_is_missing_is_refused_at_start() {
    let dir = util::scratch("evidence-badkey");
    let (key, public, _) = keygen(&dir, "k");
    let log = dir.join("audit.log");
    let log_s = log.to_str().unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Refused before reading its input: the write of `calls(1)` may meet a closed pipe.
    let mut c = util::bare(&dir);
    c.args([
        "--no-color",
        "--audit-log",
        log_s,
        "--audit-key",
        key.to_str().unwrap(),
    ]);
    let (status, _, err) = util::run_lenient(&mut c, calls(1).as_bytes(), LONG);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("open to other users") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(
        !log.exists(),
        "nothing was audited by a Sentinel that did not start"
    );
    // The same through the environment.
    let mut c = util::bare(&dir);
    c.args(["--no-color", "--audit-log", log_s])
        .env("SENTINEL_AUDIT_KEY", &key);
    let (status, _, err) = util::run_lenient(&mut c, calls(1).as_bytes(), LONG);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("open to other users"), "{err}");
    // Missing; the public key given by mistake.
    let missing = dir.join("nope.key");
    let (status, _, err) = sentinel(&dir, &["--audit-key", missing.to_str().unwrap()], "");
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("cannot read the audit key") && err.contains("keygen"),
        "{err}"
    );
    let (status, _, err) = sentinel(&dir, &["--audit-key", public.to_str().unwrap()], "");
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("is a public key") || err.contains("open to other users"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = util::scratch("evidence-usage");
    let (key, _, _) = keygen(&dir, "k");
    for (args, want) in [
        (vec!["audit", "verify"], "needs the log FILE"),
        (
            vec!["audit", "verify", "missing.log"],
            "cannot read missing.log",
        ),
        (
            vec!["audit", "verify", "x", "--key", "nothex"],
            "not a public key",
        ),
        (
            vec!["audit", "verify", "x", "--key", key.to_str().unwrap()],
            "private key",
        ),
        (vec!["audit", "verify", "--bogus"], "bogus"),
        (vec!["audit", "keygen", "extra"], "extra"),
        (vec!["--audit-checkpoint-every", "5"], "needs --audit-key"),
        (vec!["--audit-max-bytes", "0"], "--audit-max-bytes"),
        (vec!["--audit-max-bytes", "10X"], "--audit-max-bytes"),
        (vec!["--audit-keep", "0"], "--audit-keep"),
    ] {
        let (status, out, err) = sentinel(&dir, &args, "");
        assert_eq!(status.code(), Some(2), "{args:?}: {out} {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
