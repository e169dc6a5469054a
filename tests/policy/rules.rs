//! Rules: modes and actions, and argument conditions.

use super::*;
use crate::files::NO_DELETE_YAML;

const MODES_YAML: &str = r#"version: 1
default_profile: enforce
profiles:
  enforce:
    rules:
      - id: trial
        tools: ["delete_*"]
        mode: monitor
        reason: trial reason
      - id: hard
        tools: ["drop_*"]
      - id: ask
        tools: [deploy]
        action: approve
  watching:
    extends: enforce
    mode: monitor
  allow-list:
    mode: monitor
    default_action: block
    rules:
      - id: reads
        tools: ["read_*"]
        action: allow
"#;

#[test]
fn monitor_mode_per_rule_and_per_profile_forwards_and_audits_what_would_have_happened() {
    let f_dir = util::scratch("policy-modes");
    let f = write(&f_dir, "p.yaml", MODES_YAML);
    let f_s = f.to_str().unwrap();
    let lines = vec![
        call(1, "delete_repo", json!({})),
        call(2, "drop_all", json!({})),
        call(3, "deploy", json!({})),
        call(4, "read_x", json!({})),
    ];

    let d = util::scratch("policy-modes-rule");
    let out = demo(&d, &["--policy", f_s], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "allow"),
            (2, "block hard"),
            (3, "approve ask"),
            (4, "allow")
        ]),
        "{out:?}"
    );
    assert_eq!(
        audit_rows(&d),
        vec![
            row(1, "monitored", "trial", Some("block")),
            row(2, "blocked", "hard", None),
            row(3, "approval_required", "ask", None),
        ]
    );
    let trial = &util::audit_entries(&d)[0];
    assert_eq!(trial["reason"], "trial reason", "{trial}");
    assert_eq!(trial["tool"], "delete_repo", "{trial}");
    // The echoed line is the original, byte for byte.
    assert!(out.stdout.lines().any(|l| l == lines[0]), "{out:?}");

    let d = util::scratch("policy-modes-profile");
    let out = demo(&d, &["--policy", f_s, "--profile", "watching"], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "allow"), (2, "allow"), (3, "allow"), (4, "allow")]),
        "{out:?}"
    );
    assert_eq!(
        audit_rows(&d),
        vec![
            row(1, "monitored", "trial", Some("block")),
            row(2, "monitored", "hard", Some("block")),
            row(3, "monitored", "ask", Some("approve")),
        ]
    );

    // An allow-list in monitor mode: what default_action would refuse is recorded.
    let d = util::scratch("policy-modes-allowlist");
    let out = demo(&d, &["--policy", f_s, "--profile", "allow-list"], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "allow"), (2, "allow"), (3, "allow"), (4, "allow")]),
        "{out:?}"
    );
    assert_eq!(
        audit_rows(&d),
        vec![
            row(1, "monitored", "default", Some("block")),
            row(2, "monitored", "default", Some("block")),
            row(3, "monitored", "default", Some("block")),
        ]
    );
}

#[test]
fn a_rule_on_trial_in_monitor_mode_does_not_switch_off_the_enforced_rules_after_it() {
    // Rolling out a new rule with `mode: monitor` must not open a hole: a call it matches is
    // recorded, and the enforced rules after it still decide.
    let dir = util::scratch("policy-trial-rule");
    let f = write(
        &dir,
        "p.yaml",
        r#"version: 1
profiles:
  default:
    rules:
      - id: trial
        tools: ["delete_*"]
        mode: monitor
      - id: sql
        sql: {}
"#,
    );
    let lines = vec![
        call(1, "delete_rows", json!({"query": "DELETE FROM users"})),
        call(
            2,
            "delete_rows",
            json!({"query": "DELETE FROM users WHERE id = 7"}),
        ),
    ];
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "block sql.destructive"), (2, "allow")]),
        "{out:?}"
    );
    assert_eq!(
        audit_rows(&dir),
        vec![
            row(1, "monitored", "trial", Some("block")),
            row(1, "blocked", "sql.destructive", None),
            row(2, "monitored", "trial", Some("block")),
        ]
    );
}

#[test]
fn monitor_mode_in_proxy_mode_lets_the_message_reach_the_server() {
    let dir = util::scratch("policy-modes-proxy");
    let f = write(
        &dir,
        "p.yaml",
        "version: 1\nprofiles:\n  default:\n    mode: monitor\n    rules:\n      - id: no-echo\n        tools: [echo]\n",
    );
    let enforce = write(
        &dir,
        "e.yaml",
        "version: 1\nprofiles:\n  default:\n    rules:\n      - id: no-echo\n        tools: [echo]\n",
    );
    let line = call(1, "echo", json!({"text": "hi"}));
    for (file, reaches) in [(&f, true), (&enforce, false)] {
        let log = dir.join(format!("server-{reaches}.log"));
        let _ = std::fs::remove_file(dir.join("audit.log"));
        let mut cmd = gateway(&dir);
        cmd.arg("--policy")
            .arg(file)
            .arg("--")
            .arg(util::fake_server())
            .arg("--log")
            .arg(&log);
        let out = run(&mut cmd, &format!("{line}\n"));
        assert_eq!(out.code, 0, "{out:?}");
        let received = std::fs::read_to_string(&log).unwrap_or_default();
        let replies = util::json_lines(out.stdout.as_bytes());
        assert_eq!(replies.len(), 1, "{out:?}");
        assert_eq!(replies[0]["id"], 1, "{out:?}");
        let entries = util::audit_entries(&dir);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["rule"], "no-echo");
        if reaches {
            assert_eq!(received, format!("{line}\n"), "monitor: server log");
            assert!(replies[0].get("result").is_some(), "{out:?}");
            assert_eq!(entries[0]["action"], "monitored");
            assert_eq!(entries[0]["would_have"], "block");
        } else {
            assert_eq!(received, "", "enforce: the server must not see it");
            assert_eq!(replies[0]["error"]["code"], BLOCKED, "{out:?}");
            assert_eq!(entries[0]["action"], "blocked");
        }
    }
}

#[test]
fn monitor_action_rules_record_and_evaluation_goes_on() {
    let dir = util::scratch("policy-monitor-action");
    let f = write(
        &dir,
        "p.yaml",
        r#"version: 1
profiles:
  default:
    rules:
      - id: watch
        action: monitor
        reason: every call is watched
      - id: watch-drops
        tools: ["drop_*"]
        action: monitor
      - id: no-drop
        tools: ["drop_*"]
"#,
    );
    let lines = vec![call(1, "read_x", json!({})), call(2, "drop_all", json!({}))];
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "allow"), (2, "block no-drop")]),
        "{out:?}"
    );
    assert_eq!(
        audit_rows(&dir),
        vec![
            row(1, "monitored", "watch", None),
            row(2, "monitored", "watch", None),
            row(2, "monitored", "watch-drops", None),
            row(2, "blocked", "no-drop", None),
        ]
    );
    assert_eq!(
        util::audit_entries(&dir)[0]["reason"],
        "every call is watched"
    );
}

#[test]
fn default_action_block_is_an_allow_list() {
    let dir = util::scratch("policy-allow-list");
    let f = write(
        &dir,
        "p.yaml",
        r#"version: 1
profiles:
  default:
    default_action: block
    rules:
      - id: reads
        tools: ["read_*", "list_?"]
        action: allow
"#,
    );
    let lines = vec![
        call(1, "read_file", json!({"path": "/etc/passwd"})),
        call(2, "list_a", json!({})),
        call(3, "list_ab", json!({})),
        call(4, "write_file", json!({})),
        call(5, "READ_file", json!({})),
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"arguments":{}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#.to_owned(),
    ];
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "allow"),
            (2, "allow"),
            (3, "block default"),
            (4, "block default"),
            (5, "block default"),
            (6, "block default"),
            (7, "allow"),
        ]),
        "{out:?}"
    );
    let e = error_for(&out.stdout, 4);
    assert_eq!(e["data"]["reason"], "Not Allow-Listed", "{e}");
    assert_eq!(e["data"]["tool"], "write_file", "{e}");
    assert_eq!(
        audit_rows(&dir)
            .iter()
            .map(|r| r.2.as_str())
            .collect::<Vec<_>>(),
        ["default"; 4]
    );
}

#[test]
fn approve_refuses_with_32012_saying_approval_is_needed() {
    let dir = util::scratch("policy-approve");
    let f = write(
        &dir,
        "p.yaml",
        r#"version: 1
profiles:
  default:
    rules:
      - id: ask-deploy
        tools: [deploy]
        action: approve
      - id: db
        sql:
          checks: [destructive]
        action: approve
        hint: ask the DBA
"#,
    );
    let lines = vec![
        call(1, "deploy", json!({"env": "prod"})),
        call(2, "run", json!({"query": "DROP TABLE users"})),
        call(3, "run", json!({"query": "SELECT * FROM users"})),
    ];
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "approve ask-deploy"),
            (2, "approve db.destructive"),
            (3, "allow")
        ]),
        "{out:?}"
    );
    let e = error_for(&out.stdout, 1);
    let msg = e["message"].as_str().unwrap_or("");
    assert!(msg.contains("approval"), "{e}");
    assert!(msg.contains("ask-deploy"), "{e}");
    assert_eq!(e["data"]["action"], "approve", "{e}");
    let e2 = error_for(&out.stdout, 2);
    // No approval channel is open in demo mode here: the hint says how to open one, then the
    // rule's own.
    let hint = e2["data"]["hint"].as_str().unwrap_or("");
    assert!(hint.contains("sentinel approvals watch"), "{e2}");
    assert!(hint.ends_with("; or ask the DBA"), "{e2}");
    assert_eq!(e2["data"]["argument"], "/query", "{e2}");
    assert_eq!(
        audit_rows(&dir),
        vec![
            row(1, "approval_required", "ask-deploy", None),
            row(2, "approval_required", "db.destructive", None),
        ]
    );
}

#[test]
fn custom_reason_and_hint_reach_the_agent_and_the_audit_log() {
    let dir = util::scratch("policy-reason-hint");
    let f = write(&dir, "p.yaml", NO_DELETE_YAML);
    let out = demo(
        &dir,
        &["--policy", f.to_str().unwrap()],
        &[call(1, "delete_repo", json!({}))],
    );
    let e = error_for(&out.stdout, 1);
    assert_eq!(e["code"], BLOCKED, "{e}");
    let msg = e["message"].as_str().unwrap_or("");
    assert!(msg.contains("no-delete"), "{e}");
    assert!(msg.contains("archive it instead"), "{e}");
    assert_eq!(e["data"]["rule"], "no-delete", "{e}");
    assert_eq!(e["data"]["reason"], "Deleting is not allowed here", "{e}");
    assert_eq!(e["data"]["hint"], "archive it instead", "{e}");
    let a = util::audit_entries(&dir);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["rule"], "no-delete");
    assert_eq!(a[0]["reason"], "Deleting is not allowed here");
    assert_eq!(a[0]["hint"], "archive it instead");
    assert_eq!(a[0]["action"], "blocked");

    // The same through --block-as result: the text the model reads has the hint.
    let out = demo(
        &dir,
        &["--policy", f.to_str().unwrap(), "--block-as", "result"],
        &[call(2, "delete_repo", json!({}))],
    );
    let r = &util::json_lines(out.stdout.as_bytes())[0];
    let text = r["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(
        text.contains("no-delete") && text.contains("archive it instead"),
        "{r}"
    );
}

const CONDITIONS_YAML: &str = r#"version: 1
profiles:
  default:
    rules:
      - id: eq-str
        tools: [eq]
        when: [{path: /a/b/0, equals: secret}]
      - id: eq-num
        tools: [eqn]
        when: [{path: /n, equals: 5}]
      - id: eq-bool
        tools: [eqb]
        when: [{path: /force, equals: true}]
      - id: one-of
        tools: [oneof]
        when: [{path: /env, one_of: [prod, production]}]
      - id: re
        tools: [re]
        when: [{path: /url, regex: "^https?://(localhost|127\\.)"}]
      - id: pre
        tools: [write_file]
        when: [{path: /path, prefix: /tmp/, not: true}]
      - id: range
        tools: [pay]
        when:
          - {path: /amount, min: 100}
          - {path: /amount, max: 1000}
          - {path: /currency, one_of: [USD, EUR]}
      - id: long
        tools: [post]
        when: [{path: /body, min_length: 5}]
      - id: short
        tools: [post]
        when: [{path: /tags, max_length: 1, not: true}]
      - id: secrets
        when: [{any_string: true, regex: "(?i)BEGIN [A-Z]+ PRIVATE KEY"}]
"#;

#[test]
fn argument_conditions_by_json_pointer_and_any_string() {
    let dir = util::scratch("policy-conditions");
    let f = write(&dir, "p.yaml", CONDITIONS_YAML);
    let check = sub(&dir, &["policy", "check", f.to_str().unwrap()], "");
    assert_eq!(check.code, 0, "{check:?}");
    let cases: Vec<(u64, &str, Value, &str)> = vec![
        (1, "eq", json!({"a": {"b": ["secret"]}}), "block eq-str"),
        (2, "eq", json!({"a": {"b": ["other", "secret"]}}), "allow"),
        (3, "eq", json!({"a": {"b": "secret"}}), "allow"),
        (4, "eqn", json!({"n": 5}), "block eq-num"),
        (5, "eqn", json!({"n": 5.0}), "block eq-num"),
        (6, "eqn", json!({"n": "5"}), "allow"),
        (7, "eqb", json!({"force": true}), "block eq-bool"),
        (8, "eqb", json!({"force": "true"}), "allow"),
        (9, "oneof", json!({"env": "production"}), "block one-of"),
        (10, "oneof", json!({"env": "staging"}), "allow"),
        (
            11,
            "re",
            json!({"url": "http://127.0.0.1/admin"}),
            "block re",
        ),
        (12, "re", json!({"url": "https://example.com"}), "allow"),
        (13, "re", json!({"url": 127}), "allow"),
        (
            14,
            "write_file",
            json!({"path": "/etc/passwd"}),
            "block pre",
        ),
        (15, "write_file", json!({"path": "/tmp/x"}), "allow"),
        // An absent path never holds, negated or not.
        (16, "write_file", json!({"other": "/etc/passwd"}), "allow"),
        (
            17,
            "pay",
            json!({"amount": 100, "currency": "USD"}),
            "block range",
        ),
        (
            18,
            "pay",
            json!({"amount": 1000.0, "currency": "EUR"}),
            "block range",
        ),
        (
            19,
            "pay",
            json!({"amount": 99.99, "currency": "USD"}),
            "allow",
        ),
        (
            20,
            "pay",
            json!({"amount": 1001, "currency": "USD"}),
            "allow",
        ),
        (
            21,
            "pay",
            json!({"amount": 500, "currency": "GBP"}),
            "allow",
        ),
        (
            22,
            "pay",
            json!({"amount": "500", "currency": "USD"}),
            "allow",
        ),
        (23, "post", json!({"body": "héllo"}), "block long"),
        (
            24,
            "post",
            json!({"body": "hi", "tags": ["a", "b"]}),
            "block short",
        ),
        (25, "post", json!({"body": "hi", "tags": ["a"]}), "allow"),
        (
            26,
            "anything",
            json!({"deep": [{"k": "x"}, {"k": "-----begin RSA PRIVATE KEY-----"}]}),
            "block secrets",
        ),
        (
            27,
            "anything",
            json!({"deep": [{"k": "public key"}]}),
            "allow",
        ),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(id, tool, args, _)| call(*id, tool, args.clone()))
        .collect();
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &lines);
    assert_eq!(out.code, 0, "{out:?}");
    let got = verdicts(&out.stdout);
    let mut wrong = Vec::new();
    for (id, tool, args, want) in &cases {
        let id = *id as i64;
        if got.get(&id).map(String::as_str) != Some(*want) {
            wrong.push(format!(
                "{id} {tool} {args}: want {want}, got {:?}",
                got.get(&id)
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    // Where the offending argument is.
    assert_eq!(error_for(&out.stdout, 1)["data"]["argument"], "/a/b/0");
    assert_eq!(error_for(&out.stdout, 26)["data"]["argument"], "/deep/1/k");
}
