//! The subcommands: `policy check`, `policy test` and `explain`.

use super::*;
use crate::files::NO_DELETE_YAML;
use crate::profiles::PROFILES_YAML;
use crate::scope::SERVERS_YAML;

#[test]
fn policy_check_checks_every_profile() {
    let dir = util::scratch("policy-check");
    let good = write(&dir, "good.yaml", PROFILES_YAML);
    let out = sub(&dir, &["policy", "check", good.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("ok"), "{out:?}");
    for p in ["base", "development", "staging", "production"] {
        assert!(out.stdout.contains(p), "{out:?}");
    }
    assert!(out.stderr.is_empty(), "{out:?}");

    // The default profile is fine; two others are not: both are reported.
    let bad = write(
        &dir,
        "bad.yaml",
        r#"version: 1
default_profile: ok
profiles:
  ok:
    rules: []
  broken-regex:
    rules:
      - id: r
        when: [{path: /x, regex: "("}]
  broken-extends:
    extends: missing
"#,
    );
    let out = sub(&dir, &["policy", "check", bad.to_str().unwrap()], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("bad.yaml:9:16:"), "{out:?}");
    assert!(out.stderr.contains("bad.yaml:11:14:"), "{out:?}");
    assert!(out.stderr.contains("2 error(s)"), "{out:?}");
    assert!(!out.stdout.contains("ok"), "{out:?}");

    let out = sub(&dir, &["policy", "check", "no-such-file.yaml"], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no-such-file.yaml"), "{out:?}");

    let out = sub(&dir, &["policy", "check"], "");
    assert_eq!(out.code, 2, "{out:?}");
}

const CASES_OK: &str = r#"cases:
  - name: staging lets a bounded read through
    profile: staging
    tool: read_query
    arguments: {query: "SELECT * FROM t LIMIT 50"}
    expect: allow
  - name: production refuses it
    profile: production
    tool: read_query
    arguments: {query: "SELECT * FROM t LIMIT 50"}
    expect: block
    rule: db.unbounded_read
  - name: deploys need approval in production
    profile: production
    message: {jsonrpc: "2.0", id: 7, method: tools/call, params: {name: deploy, arguments: {}}}
    expect: approve
    rule: approve-deploy
  - name: development only watches
    tool: delete_repo
    expect: monitor
    rule: no-delete
  - name: other methods pass
    message: {jsonrpc: "2.0", id: 8, method: tools/list}
    expect: allow
"#;

#[test]
fn policy_test_passes_when_every_case_holds() {
    let dir = util::scratch("policy-test-ok");
    let f = write(&dir, "p.yaml", PROFILES_YAML);
    let cases = write(&dir, "cases.yaml", CASES_OK);
    let out = sub(
        &dir,
        &[
            "policy",
            "test",
            f.to_str().unwrap(),
            cases.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let want = [
        "ok 1 - staging lets a bounded read through",
        "ok 2 - production refuses it",
        "ok 3 - deploys need approval in production",
        "ok 4 - development only watches",
        "ok 5 - other methods pass",
        "policy test: 5 passed, 0 failed",
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out:?}");
}

#[test]
fn policy_test_reports_each_failure_and_exits_1() {
    let dir = util::scratch("policy-test-fail");
    let f = write(&dir, "p.yaml", PROFILES_YAML);
    let cases = write(
        &dir,
        "cases.yaml",
        r#"cases:
  - name: passes
    profile: staging
    tool: delete_repo
    expect: block
  - name: wrong verdict
    profile: staging
    tool: delete_repo
    expect: allow
  - name: wrong rule
    profile: staging
    tool: read_query
    arguments: {query: "SELECT * FROM t"}
    expect: block
    rule: sql.unbounded_read
  - name: scoped by server
    server: uvx mcp-server-sqlite
    profile: staging
    tool: x
    expect: block
  - name: unknown profile
    profile: nope
    tool: x
    expect: allow
  - name: tool and message
    tool: x
    message: {jsonrpc: "2.0", id: 1, method: tools/call, params: {name: x}}
    expect: allow
"#,
    );
    let out = sub(
        &dir,
        &[
            "policy",
            "test",
            f.to_str().unwrap(),
            cases.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 1, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{out:?}");
    assert_eq!(lines[0], "ok 1 - passes");
    assert_eq!(
        lines[1],
        "not ok 2 - wrong verdict: expected allow, got block (no-delete)"
    );
    assert_eq!(
        lines[2],
        "not ok 3 - wrong rule: expected block (sql.unbounded_read), got block (db.unbounded_read)"
    );
    assert_eq!(
        lines[3],
        "not ok 4 - scoped by server: expected block, got allow"
    );
    assert!(
        lines[4].starts_with("not ok 5 - unknown profile: "),
        "{out:?}"
    );
    assert!(lines[4].contains("nope"), "{out:?}");
    assert!(
        lines[5].starts_with("not ok 6 - tool and message: "),
        "{out:?}"
    );
    assert_eq!(lines[6], "policy test: 1 passed, 5 failed");

    // server: scopes cases like --server-name.
    let scoped = write(&dir, "s.yaml", SERVERS_YAML);
    let sc = write(
        &dir,
        "sc.yaml",
        "cases:\n  - name: sqlite\n    server: uvx mcp-server-sqlite\n    tool: drop_all\n    expect: block\n    rule: sqlite-only\n  - name: other\n    server: pg\n    tool: drop_all\n    expect: allow\n",
    );
    let out = sub(
        &dir,
        &[
            "policy",
            "test",
            scoped.to_str().unwrap(),
            sc.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("policy test: 2 passed, 0 failed"),
        "{out:?}"
    );
}

#[test]
fn policy_test_refuses_bad_cases_files_and_bad_policies() {
    let dir = util::scratch("policy-test-bad");
    let good = write(&dir, "p.yaml", PROFILES_YAML);
    let typo = write(
        &dir,
        "typo.yaml",
        &PROFILES_YAML.replace("action:", "acton:"),
    );
    let cases = write(&dir, "cases.yaml", CASES_OK);
    let bad_cases = write(
        &dir,
        "bad-cases.yaml",
        "cases:\n  - name: a\n    tool: x\n    expct: allow\n",
    );
    let out = sub(
        &dir,
        &[
            "policy",
            "test",
            good.to_str().unwrap(),
            bad_cases.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("expct"), "{out:?}");
    assert!(out.stderr.contains("bad-cases.yaml"), "{out:?}");

    let out = sub(
        &dir,
        &[
            "policy",
            "test",
            typo.to_str().unwrap(),
            cases.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("typo.yaml:"), "{out:?}");
    assert!(out.stderr.contains("acton"), "{out:?}");
    assert!(!out.stdout.contains("ok 1"), "{out:?}");

    let out = sub(
        &dir,
        &[
            "policy",
            "test",
            good.to_str().unwrap(),
            "missing-cases.yaml",
        ],
        "",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("missing-cases.yaml"), "{out:?}");

    let out = sub(&dir, &["policy", "test", good.to_str().unwrap()], "");
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn explain_prints_the_decision_and_a_trace_of_every_rule() {
    let dir = util::scratch("policy-explain");
    let f = write(&dir, "p.yaml", PROFILES_YAML);
    let f_s = f.to_str().unwrap();
    let m = call(
        1,
        "read_query",
        json!({"query": "SELECT * FROM t LIMIT 50"}),
    );

    let out = sub(
        &dir,
        &["explain", "--policy", f_s, "--profile", "production", &m],
        "",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("profile production"), "{out:?}");
    assert!(
        out.stdout.contains("message: tools/call tool=read_query"),
        "{out:?}"
    );
    assert_eq!(
        trace(&out.stdout),
        [
            "no-delete: skipped: tool \"read_query\" is not in its tools",
            "db: matched: LIMIT 50 exceeds the maximum of 10 rows -> block",
        ],
        "{out:?}"
    );
    assert_eq!(
        decision(&out.stdout),
        "decision: block (rule db.unbounded_read)"
    );
    assert!(
        out.stdout
            .contains("\nreason: Data Exfiltration Prevention\n"),
        "{out:?}"
    );
    assert!(out.stdout.contains("\nhint: "), "{out:?}");
    assert!(out.stdout.contains("\nargument: /query\n"), "{out:?}");

    // The same message from stdin, with `-` and with no argument; a non-matching rule says
    // why it did not match, and the staging profile allows.
    for args in [
        vec!["explain", "--policy", f_s, "--profile", "staging", "-"],
        vec!["explain", "--policy", f_s, "--profile", "staging"],
    ] {
        let out = sub(&dir, &args, &format!("{m}\n"));
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(
            trace(&out.stdout),
            [
                "no-delete: skipped: tool \"read_query\" is not in its tools",
                "db: no match: no SQL problem found in the arguments",
            ],
            "{args:?}: {out:?}"
        );
        assert_eq!(
            decision(&out.stdout),
            "decision: allow",
            "{args:?}: {out:?}"
        );
    }

    // Monitor mode (the default profile, development) says it would not be enforced.
    let out = sub(
        &dir,
        &["explain", "--policy", f_s, &call(2, "delete_x", json!({}))],
        "",
    );
    assert_eq!(
        trace(&out.stdout),
        ["no-delete: matched: tool \"delete_x\" matches delete_* -> block (monitor mode: recorded, not enforced)"],
        "{out:?}"
    );
    assert_eq!(decision(&out.stdout), "decision: monitor (rule no-delete)");

    // Argument conditions, servers and the default action in the trace.
    let g = write(
        &dir,
        "g.yaml",
        r#"version: 1
profiles:
  default:
    default_action: block
    rules:
      - id: sqlite
        servers: ["*sqlite*"]
        action: allow
      - id: big
        when: [{path: /n, min: 10}]
        action: allow
"#,
    );
    let g_s = g.to_str().unwrap();
    let msg = call(3, "t", json!({"n": 3}));
    let out = sub(&dir, &["explain", "--policy", g_s, &msg], "");
    assert_eq!(
        trace(&out.stdout),
        [
            "sqlite: skipped: server \"\" is not in its servers",
            "big: no match: argument \"/n\" >= 10 does not hold",
            "(default): no rule decided -> block",
        ],
        "{out:?}"
    );
    assert_eq!(decision(&out.stdout), "decision: block (rule default)");
    let out = sub(
        &dir,
        &[
            "explain",
            "--policy",
            g_s,
            "--server-name",
            "mcp-sqlite",
            &msg,
        ],
        "",
    );
    assert_eq!(
        trace(&out.stdout),
        ["sqlite: matched: every tool call matches -> allow"],
        "{out:?}"
    );
    assert_eq!(decision(&out.stdout), "decision: allow (rule sqlite)");
}

#[test]
fn explain_without_a_policy_uses_the_builtin_and_handles_odd_messages() {
    let dir = util::scratch("policy-explain-odd");
    let m = call(1, "q", json!({"sql": "DROP TABLE users"}));
    let out = sub(&dir, &["explain", &m], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("built-in"), "{out:?}");
    assert_eq!(
        decision(&out.stdout),
        "decision: approve (rule sql.destructive)"
    );
    assert!(out.stdout.contains("\nargument: /sql\n"), "{out:?}");

    let out = sub(
        &dir,
        &[
            "explain",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        ],
        "",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        decision(&out.stdout).starts_with("decision: allow"),
        "{out:?}"
    );

    let out = sub(&dir, &["explain", "{not json"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        decision(&out.stdout),
        "decision: block (rule jsonrpc.malformed)"
    );

    let out = sub(&dir, &["explain", "-"], "");
    assert_eq!(out.code, 2, "empty stdin: {out:?}");

    // An invalid policy: exit 2, file:line:column on stderr.
    let bad = write(&dir, "bad.yaml", &NO_DELETE_YAML.replace("hint:", "hnt:"));
    let out = sub(
        &dir,
        &["explain", "--policy", bad.to_str().unwrap(), &m],
        "",
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("bad.yaml:9:9:"), "{out:?}");
    assert!(!out.stdout.contains("decision"), "{out:?}");
}

#[test]
fn explain_with_a_profile_but_no_policy_is_a_usage_error() {
    // Explaining the built-in policy when the user asked for a profile would show a decision
    // the user did not ask about.
    let dir = util::scratch("policy-explain-profile");
    let m = call(1, "delete_repo", json!({}));
    let out = sub(&dir, &["explain", "--profile", "production", &m], "");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--profile"), "{out:?}");
    let out = run(
        bare(&dir)
            .env("SENTINEL_PROFILE", "production")
            .args(["explain", &m]),
        "",
    );
    assert_eq!(out.code, 2, "{out:?}");
}

/// A call that a monitor-mode rule records and a later rule refuses is decided by the refusing
/// rule: `explain` names it, with its reason, and so does `policy test`'s `rule:` check. The
/// `server:` line appears exactly when a server name is given.
#[test]
fn explain_names_the_refusing_rule_after_a_monitored_one() {
    let dir = util::scratch("policy-explain-monitored");
    let f = write(
        &dir,
        "p.yaml",
        r#"version: 1
profiles:
  p:
    rules:
      - id: watch
        tools: [x]
        mode: monitor
        reason: watched reason
      - id: stop
        tools: [x]
        reason: stopped reason
"#,
    );
    let f_s = f.to_str().unwrap();
    let m = call(1, "x", json!({}));
    let out = sub(
        &dir,
        &["explain", "--policy", f_s, "--server-name", "db", &m],
        "",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"server: db"), "{out:?}");
    assert!(lines.contains(&"decision: block (rule stop)"), "{out:?}");
    assert!(lines.contains(&"reason: stopped reason"), "{out:?}");
    let out = sub(&dir, &["explain", "--policy", f_s, &m], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("server:")),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("decision: block (rule stop)"),
        "{out:?}"
    );

    let cases = write(
        &dir,
        "cases.yaml",
        r#"cases:
  - name: the refusing rule decides
    message: {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": {}}}
    expect: block
    rule: stop
"#,
    );
    let out = sub(&dir, &["policy", "test", f_s, cases.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("ok 1 - the refusing rule decides"),
        "{out:?}"
    );
}
