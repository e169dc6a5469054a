//! The policy's `audit:` section, end to end with the real binary in demo mode: argument
//! paths redacted from every entry (blocked, monitored, allowed; nested paths, array indexes,
//! absent paths, explanations quoting the value, lines refused as malformed) while the
//! forwarded message keeps the real value; `log_allowed` on and off; inheritance through
//! `extends`; and invalid pointers refused with their place.

mod util;

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn call(id: u64, tool: &str, args: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
}

/// Runs demo mode with `policy` on `lines`; returns (stdout, the audit log's text).
fn run(dir: &Path, policy: &str, lines: &[String]) -> (String, String) {
    let path = dir.join("policy.yaml");
    std::fs::write(&path, policy).unwrap();
    let _ = std::fs::remove_file(dir.join("audit.log"));
    let mut cmd = util::command(dir);
    cmd.arg("--policy").arg(&path);
    let input = lines.join("\n") + "\n";
    let (status, out, err) = util::run(&mut cmd, input.as_bytes(), T);
    assert_eq!(status.code(), Some(0), "{err}");
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    (String::from_utf8(out).unwrap(), log)
}

fn entries(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const REDACTING: &str = "version: 1
profiles:
  default:
    audit:
      redact: [/password, /db/credentials/0, /a~1b, /missing/deeper]
    rules:
      - id: no-login
        tools: [login]
        when:
          - path: /password
            one_of: [hunter2-Sesame, hunter-x]
      - id: watch-db
        tools: [connect]
        action: monitor
";

#[test]
fn configured_paths_leave_no_trace_in_the_log_and_the_server_still_gets_them() {
    let dir = util::scratch("redact");
    let lines = [
        call(
            1,
            "login",
            json!({"user": "bob", "password": "hunter2-Sesame"}),
        ),
        call(
            2,
            "connect",
            json!({"db": {"credentials": ["pw-Zebra-991", "keep-me"], "host": "h"}}),
        ),
        call(
            3,
            "other",
            json!({"a/b": 4242, "password": {"nested": "deep-Secret-77"}}),
        ),
        call(4, "login", json!({"user": "eve"})),
    ];
    let (out, log) = run(&dir, REDACTING, &lines);
    for secret in ["hunter2-Sesame", "pw-Zebra-991", "deep-Secret-77", "4242"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    let e = entries(&log);
    // 1: blocked; its explanation quoted the value.
    assert_eq!(e[0]["action"], "blocked");
    assert_eq!(
        e[0]["details"]["params"]["arguments"]["password"],
        "[REDACTED argument]"
    );
    assert_eq!(e[0]["details"]["params"]["arguments"]["user"], "bob");
    assert!(
        e[0]["explanation"]
            .as_str()
            .unwrap()
            .contains("[REDACTED argument]"),
        "{}",
        e[0]
    );
    // 2: monitored; an array index, the other elements kept.
    assert_eq!(e[1]["action"], "monitored");
    assert_eq!(
        e[1]["details"]["params"]["arguments"]["db"],
        json!({"credentials": ["[REDACTED argument]", "keep-me"], "host": "h"})
    );
    assert_eq!(
        e.len(),
        2,
        "the others were allowed, and allowed calls are not logged: {log}"
    );
    // The forwarded messages (demo mode echoes them) are untouched.
    assert!(
        out.contains("pw-Zebra-991") && out.contains("deep-Secret-77"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == lines[1]),
        "not byte for byte:\n{out}"
    );
    // The refusal tells the agent nothing it did not send, nor the value back.
    assert!(
        !out.lines().next().unwrap().contains("hunter2-Sesame"),
        "{out}"
    );
}

#[test]
fn allowed_calls_are_logged_only_when_asked_and_redacted_too() {
    let dir = util::scratch("allowed");
    let on = REDACTING.replace("    audit:\n", "    audit:\n      log_allowed: true\n");
    let lines = [
        call(1, "login", json!({"password": "hunter-x"})),
        call(
            2,
            "other",
            json!({"a/b": 4242, "password": {"nested": "deep-Secret-77"}}),
        ),
        call(3, "connect", json!({})),
        call(4, "read", json!({"path": "/tmp/x"})),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string(),
    ];
    let (_, log) = run(&dir, &on, &lines);
    let e = entries(&log);
    let actions: Vec<(&str, i64)> = e
        .iter()
        .map(|x| {
            (
                x["action"].as_str().unwrap(),
                x["message_id"].as_i64().unwrap(),
            )
        })
        .collect();
    // A monitored call is not logged twice; tools/list is not a call.
    assert_eq!(
        actions,
        [
            ("blocked", 1),
            ("allowed", 2),
            ("monitored", 3),
            ("allowed", 4)
        ]
    );
    assert_eq!(
        (e[1]["rule"].as_str(), e[1]["reason"].as_str()),
        (Some("default"), Some("Allowed"))
    );
    assert_eq!(
        e[1]["details"]["params"]["arguments"],
        json!({"a/b": "[REDACTED argument]", "password": "[REDACTED argument]"})
    );
    assert!(
        !log.contains("deep-Secret-77") && !log.contains("4242"),
        "{log}"
    );
    // An absent path: the entry keeps the message byte for byte.
    let raw = log.lines().nth(3).unwrap();
    assert!(
        raw.ends_with(&format!(",\"details\":{}}}", lines[3])),
        "{raw}"
    );
    // An allow rule names itself.
    let allow_rule = on.replace(
        "      - id: watch-db",
        "      - id: reads-ok\n        tools: [read]\n        action: allow\n      - id: watch-db",
    );
    let (_, log) = run(&dir, &allow_rule, &lines[3..4]);
    let e = entries(&log);
    assert_eq!(
        (e[0]["action"].as_str(), e[0]["rule"].as_str()),
        (Some("allowed"), Some("reads-ok"))
    );
    // Off (the default): no allowed entries.
    let (_, log) = run(&dir, REDACTING, &lines);
    assert!(
        entries(&log).iter().all(|x| x["action"] != "allowed"),
        "{log}"
    );
    let off = REDACTING.replace("    audit:\n", "    audit:\n      log_allowed: false\n");
    let (_, log) = run(&dir, &off, &lines);
    assert_eq!(entries(&log).len(), 2, "{log}");
}

#[test]
fn a_malformed_line_keeps_no_redacted_value() {
    let dir = util::scratch("malformed");
    let lines = [
        // Duplicate keys: refused, audited as a string.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"password":"first-Sesame1","password":"second-Sesame2"}}}"#.to_owned(),
        // Not JSON at all, naming a redacted key.
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"arguments":{"password":"cut-Sesame3""#.to_owned(),
        // Not JSON, no redacted key: kept for the record.
        r#"{"jsonrpc":"2.0","id":3,"oops"#.to_owned(),
    ];
    let (_, log) = run(&dir, REDACTING, &lines);
    for secret in ["first-Sesame1", "second-Sesame2", "cut-Sesame3"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    let e = entries(&log);
    assert_eq!(e.len(), 3, "{log}");
    assert!(
        e[1]["details"]
            .as_str()
            .unwrap()
            .starts_with("[REDACTED message"),
        "{}",
        e[1]
    );
    assert!(
        e[2]["details"].as_str().unwrap().contains("oops"),
        "{}",
        e[2]
    );
}

#[test]
fn the_audit_section_is_inherited_and_bad_pointers_are_refused_with_their_place() {
    let dir = util::scratch("inherit");
    let policy = "version: 1
profiles:
  base:
    audit: {log_allowed: true, redact: [/password]}
  child:
    extends: base
  other:
    extends: base
    audit: {redact: [/token]}
";
    let lines = [call(
        1,
        "t",
        json!({"password": "pw-Kept-Out", "token": "tk-Kept-Out"}),
    )];
    let path = dir.join("p.yaml");
    std::fs::write(&path, policy).unwrap();
    let run_profile = |profile: &str| {
        let _ = std::fs::remove_file(dir.join("audit.log"));
        let mut cmd = util::command(&dir);
        cmd.arg("--policy").arg(&path).arg("--profile").arg(profile);
        let (status, _, err) = util::run(&mut cmd, format!("{}\n", lines[0]).as_bytes(), T);
        assert_eq!(status.code(), Some(0), "{err}");
        std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default()
    };
    let log = run_profile("child");
    assert!(
        log.contains("\"allowed\"") && !log.contains("pw-Kept-Out") && log.contains("tk-Kept-Out"),
        "{log}"
    );
    // A child's redact list replaces the parent's; log_allowed is still inherited.
    let log = run_profile("other");
    assert!(
        log.contains("\"allowed\"") && log.contains("pw-Kept-Out") && !log.contains("tk-Kept-Out"),
        "{log}"
    );

    for (bad, col, says) in [
        ("[password]", 16, "must start with '/'"),
        ("[/a~2b]", 16, "~0"),
        ("[\"\"]", 16, "must start with '/'"),
    ] {
        let text = format!("version: 1\nprofiles:\n  a:\n    audit:\n      redact: {bad}\n");
        std::fs::write(&path, text).unwrap();
        let mut cmd = util::bare(&dir);
        cmd.arg("policy").arg("check").arg(&path);
        let (status, _, err) = util::run(&mut cmd, b"", T);
        assert_eq!(status.code(), Some(1), "{bad}: {err}");
        assert!(
            err.contains(&format!("p.yaml:5:{col}: audit.redact entry")) && err.contains(says),
            "{bad}: {err}"
        );
    }
    let text = "version: 1\nprofiles:\n  a:\n    audit:\n      log_everything: true\n";
    std::fs::write(&path, text).unwrap();
    let mut cmd = util::bare(&dir);
    cmd.arg("policy").arg("check").arg(&path);
    let (status, _, err) = util::run(&mut cmd, b"", T);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("p.yaml:5:") && err.contains("log_everything"),
        "{err}"
    );
}
