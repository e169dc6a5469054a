//! The SQL guard as a rule, server scoping, rule ids and first-match precedence, and refusing
//! to start on an invalid policy.

use super::*;
use crate::files::NO_DELETE_YAML;

const SQL_YAML: &str = r#"version: 1
default_profile: scoped
profiles:
  scoped:
    rules:
      - id: db
        tools: ["*query*"]
        sql:
          dialect: sqlite
          max_rows: 10
          keys: [q]
          checks: [unbounded_read, export]
          unparseable: monitor
  global-block:
    rules:
      - id: guard
        sql:
          unparseable: block
  global-allow:
    rules:
      - id: guard
        sql:
          unparseable: allow
"#;

#[test]
fn sql_guard_per_tool_with_its_own_settings_and_rule_ids() {
    let dir = util::scratch("policy-sql");
    let f = write(&dir, "p.yaml", SQL_YAML);
    let f_s = f.to_str().unwrap();
    let lines = vec![
        call(1, "read_query", json!({"q": "SELECT * FROM t LIMIT 50"})),
        call(2, "read_query", json!({"q": "SELECT * FROM t LIMIT 10"})),
        call(3, "read_query", json!({"q": "DROP TABLE t"})),
        call(
            4,
            "read_query",
            json!({"q": "ATTACH DATABASE '/tmp/x.db' AS x"}),
        ),
        call(5, "read_query", json!({"q": "SELECT * FROM t WHERE"})),
        call(6, "read_query", json!({"query": "SELECT * FROM t WHERE"})),
        call(7, "other_tool", json!({"q": "SELECT * FROM t"})),
        call(8, "read_query", json!({"note": "SELECT * FROM t"})),
    ];
    let out = demo(&dir, &["--policy", f_s], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "block db.unbounded_read"),
            (2, "allow"),
            (3, "allow"),
            (4, "block db.export"),
            (5, "allow"),
            (6, "allow"),
            (7, "allow"),
            (8, "block db.unbounded_read"),
        ]),
        "{out:?}"
    );
    assert_eq!(error_for(&out.stdout, 1)["data"]["argument"], "/q");
    assert_eq!(error_for(&out.stdout, 8)["data"]["argument"], "/note");
    // unparseable: monitor records (no would_have: a monitor never refuses) and forwards.
    assert_eq!(
        audit_rows(&dir),
        vec![
            row(1, "blocked", "db.unbounded_read", None),
            row(4, "blocked", "db.export", None),
            row(5, "monitored", "db.unparseable", None),
            // `query` is not in `keys`, but read_query is a tool that runs SQL and `query` its
            // statement argument: the evidence makes it SQL-bearing all the same.
            row(6, "monitored", "db.unparseable", None),
            row(8, "blocked", "db.unbounded_read", None),
        ]
    );

    // A global guard with the default settings: unparseable block or allow.
    let out = demo(
        &dir,
        &["--policy", f_s, "--profile", "global-block"],
        &lines,
    );
    let v = verdicts(&out.stdout);
    assert_eq!(v[&3], "block guard.destructive", "{out:?}");
    assert_eq!(v[&6], "block guard.unparseable", "{out:?}");
    assert_eq!(v[&5], "allow", "q is not a SQL key by default: {out:?}");
    assert_eq!(v[&7], "block guard.unbounded_read", "{out:?}");
    assert_eq!(
        v[&1], "allow",
        "LIMIT 50 is within the default 1000: {out:?}"
    );
    let out = demo(
        &dir,
        &["--policy", f_s, "--profile", "global-allow"],
        &lines,
    );
    let v = verdicts(&out.stdout);
    assert_eq!(v[&6], "allow", "{out:?}");
    assert_eq!(v[&3], "block guard.destructive", "{out:?}");
}

pub(crate) const SERVERS_YAML: &str = r#"version: 1
profiles:
  default:
    rules:
      - id: sqlite-only
        servers: ["*sqlite*"]
        tools: [drop_all]
      - id: demo-only
        servers: ["(demo: no server)"]
        tools: [demo_tool]
      - id: fake-only
        servers: ["*fake_server*"]
        tools: [echo]
      - id: by-args
        servers: ["*server.log*"]
        tools: [query]
"#;

#[test]
fn servers_globs_match_the_server_name_in_demo_mode() {
    let dir = util::scratch("policy-servers-demo");
    let f = write(&dir, "p.yaml", SERVERS_YAML);
    let f_s = f.to_str().unwrap();
    let lines = vec![
        call(1, "drop_all", json!({})),
        call(2, "demo_tool", json!({})),
    ];
    let out = demo(&dir, &["--policy", f_s], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "allow"), (2, "block demo-only")]),
        "{out:?}"
    );
    let out = demo(
        &dir,
        &["--policy", f_s, "--server-name", "uvx mcp-server-sqlite"],
        &lines,
    );
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "block sqlite-only"), (2, "allow")]),
        "{out:?}"
    );
}

#[test]
fn servers_globs_match_the_wrapped_command_line_unless_server_name_is_given() {
    let dir = util::scratch("policy-servers-proxy");
    let f = write(&dir, "p.yaml", SERVERS_YAML);
    let input = format!(
        "{}\n{}\n",
        call(1, "echo", json!({"text": "hi"})),
        call(2, "query", json!({"query": "SELECT 1"}))
    );
    let mut results = Vec::new();
    for name in [None, Some("postgres")] {
        let log = dir.join("server.log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = gateway(&dir);
        cmd.arg("--policy").arg(&f);
        if let Some(n) = name {
            cmd.args(["--server-name", n]);
        }
        cmd.arg("--")
            .arg(util::fake_server())
            .arg("--log")
            .arg(&log);
        let out = run(&mut cmd, &input);
        assert_eq!(out.code, 0, "{out:?}");
        let mut by_id: Vec<(i64, String)> = util::json_lines(out.stdout.as_bytes())
            .iter()
            .map(|v| {
                let verdict = match v["error"]["data"]["rule"].as_str() {
                    Some(r) => format!("block {r}"),
                    None => "answered".to_owned(),
                };
                (v["id"].as_i64().unwrap_or(-1), verdict)
            })
            .collect();
        by_id.sort();
        results.push((
            name,
            by_id,
            std::fs::read_to_string(&log).unwrap_or_default(),
        ));
    }
    let (_, by_cmdline, log1) = &results[0];
    assert_eq!(
        by_cmdline,
        &vec![
            (1, "block fake-only".to_owned()),
            (2, "block by-args".to_owned())
        ],
        "the command line (program and arguments) is the server name"
    );
    assert_eq!(log1, "", "blocked calls reached the server");
    let (_, by_name, log2) = &results[1];
    assert_eq!(
        by_name,
        &vec![(1, "answered".to_owned()), (2, "answered".to_owned())],
        "--server-name replaces the command line"
    );
    assert_eq!(log2.lines().count(), 2, "{log2}");
}

#[test]
fn every_refusal_and_audit_entry_names_its_rule() {
    let dir = util::scratch("policy-rule-ids");
    let f = write(
        &dir,
        "p.yaml",
        r#"version: 1
profiles:
  default:
    default_action: block
    rules:
      - id: no-drop.v2
        tools: ["drop_*"]
      - id: ask_me
        tools: [deploy]
        action: approve
      - id: reads-db
        tools: [read_query]
        sql: {max_rows: 5}
      - id: reads
        tools: [read_query]
        action: allow
"#,
    );
    let lines = vec![
        call(1, "drop_all", json!({})),
        call(2, "deploy", json!({})),
        call(3, "read_query", json!({"query": "SELECT * FROM t LIMIT 6"})),
        call(4, "read_query", json!({"query": "DELETE FROM t"})),
        call(5, "write", json!({})),
        call(6, "read_query", json!({"query": "SELECT * FROM t LIMIT 5"})),
        // A notification: dropped, not answered, but audited with its rule.
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"drop_it","arguments":{}}}"#
            .to_owned(),
    ];
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &lines);
    let want = expect(&[
        (1, "block no-drop.v2"),
        (2, "approve ask_me"),
        (3, "block reads-db.unbounded_read"),
        (4, "block reads-db.destructive"),
        (5, "block default"),
        (6, "allow"),
    ]);
    assert_eq!(verdicts(&out.stdout), want, "{out:?}");
    let rules: Vec<(i64, String)> = audit_rows(&dir).into_iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(
        rules,
        vec![
            (1, "no-drop.v2".to_owned()),
            (2, "ask_me".to_owned()),
            (3, "reads-db.unbounded_read".to_owned()),
            (4, "reads-db.destructive".to_owned()),
            (5, "default".to_owned()),
            (-1, "no-drop.v2".to_owned()),
        ]
    );
}

#[test]
fn an_allow_rule_before_a_sql_rule_exempts_a_tool_and_after_it_does_not() {
    let dir = util::scratch("policy-precedence");
    let allow = "      - id: trusted\n        tools: [admin_query]\n        action: allow\n";
    let guard = "      - id: sql\n        sql: {}\n";
    let head = "version: 1\nprofiles:\n  default:\n    rules:\n";
    let before = write(&dir, "before.yaml", &format!("{head}{allow}{guard}"));
    let after = write(&dir, "after.yaml", &format!("{head}{guard}{allow}"));
    let lines = vec![
        call(1, "admin_query", json!({"query": "SELECT * FROM users"})),
        call(2, "read_query", json!({"query": "SELECT * FROM users"})),
        call(3, "admin_query", json!({"query": "SELECT 1"})),
    ];
    let out = demo(&dir, &["--policy", before.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "allow"), (2, "block sql.unbounded_read"), (3, "allow")]),
        "allow first: {out:?}"
    );
    let out = demo(&dir, &["--policy", after.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "block sql.unbounded_read"),
            (2, "block sql.unbounded_read"),
            (3, "allow")
        ]),
        "allow after: {out:?}"
    );
    // explain agrees and says why.
    let ex = sub(
        &dir,
        &["explain", "--policy", before.to_str().unwrap(), &lines[0]],
        "",
    );
    assert_eq!(
        trace(&ex.stdout),
        ["trusted: matched: tool \"admin_query\" matches admin_query -> allow"],
        "{ex:?}"
    );
    assert_eq!(
        decision(&ex.stdout),
        "decision: allow (rule trusted)",
        "{ex:?}"
    );
}

/// Options, environment and the text stderr must contain, for one refused start.
type StartCase<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);

/// Proxy mode with a fake server that writes a pid file once it runs; returns the run and
/// whether the server was started.
fn proxy_start(dir: &Path, sentinel_args: &[&str], env: &[(&str, &str)]) -> (Out, bool) {
    let pid_file = dir.join("server.pid");
    let _ = std::fs::remove_file(&pid_file);
    let mut cmd = gateway(dir);
    cmd.args(sentinel_args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--")
        .arg(util::fake_server())
        .arg("--pid-file")
        .arg(&pid_file);
    let out = run(&mut cmd, &format!("{}\n", call(1, "echo", json!({}))));
    (out, pid_file.exists())
}

#[test]
fn an_invalid_policy_at_start_up_refuses_to_start_and_never_starts_the_server() {
    let dir = util::scratch("policy-refuse-start");
    let good = write(&dir, "good.yaml", NO_DELETE_YAML);
    let typo = write(
        &dir,
        "typo.yaml",
        &NO_DELETE_YAML.replace("reason:", "reasn:"),
    );
    let cycle = write(
        &dir,
        "cycle.yaml",
        "version: 1\ndefault_profile: a\nprofiles:\n  a:\n    extends: b\n  b:\n    extends: a\n",
    );
    let regex = write(
        &dir,
        "regex.yaml",
        "version: 1\nprofiles:\n  default:\n    rules:\n      - id: r\n        when: [{any_string: true, regex: \"[\"}]\n",
    );

    // The control: a good policy starts the server.
    let (out, started) = proxy_start(&dir, &["--policy", good.to_str().unwrap()], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        started,
        "the server did not start with a good policy: {out:?}"
    );

    let missing = dir.join("missing.yaml");
    // (sentinel options, environment, what stderr must name)
    let cases: Vec<StartCase> = vec![
        (
            vec!["--policy", typo.to_str().unwrap()],
            vec![],
            "typo.yaml:8:9:".into(),
        ),
        (
            vec!["--policy", cycle.to_str().unwrap()],
            vec![],
            "cycle.yaml:5:5:".into(),
        ),
        (
            vec!["--policy", regex.to_str().unwrap()],
            vec![],
            "regex.yaml:6:".into(),
        ),
        (
            vec![],
            vec![("SENTINEL_POLICY", typo.to_str().unwrap())],
            "typo.yaml:8:9:".into(),
        ),
        (
            vec!["--policy", missing.to_str().unwrap()],
            vec![],
            "missing.yaml".into(),
        ),
        (
            vec!["--policy", good.to_str().unwrap(), "--profile", "nope"],
            vec![],
            "\"nope\"".into(),
        ),
        (
            vec!["--policy", good.to_str().unwrap(), "--max-rows", "5"],
            vec![],
            "--max-rows".into(),
        ),
        (vec!["--profile", "production"], vec![], "--profile".into()),
        (
            vec![],
            vec![("SENTINEL_PROFILE", "production")],
            "SENTINEL_PROFILE".into(),
        ),
    ];
    for (args, env, needle) in cases {
        let (out, started) = proxy_start(&dir, &args, &env);
        assert_eq!(out.code, 2, "{args:?} {env:?}: {out:?}");
        assert!(!started, "{args:?} {env:?}: the server was started");
        assert!(out.stdout.is_empty(), "{args:?} {env:?}: {out:?}");
        assert!(
            out.stderr.contains(&needle),
            "{args:?} {env:?}: stderr lacks {needle:?}: {out:?}"
        );
    }
}

#[test]
fn an_unknown_default_profile_at_start_up_names_its_line_and_column() {
    let dir = util::scratch("policy-bad-default-profile");
    let f = write(
        &dir,
        "dp.yaml",
        "version: 1\ndefault_profile: prod\nprofiles:\n  production: {}\n",
    );
    let check = sub(&dir, &["policy", "check", f.to_str().unwrap()], "");
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stderr.contains("dp.yaml:2:18:"), "{check:?}");
    // Starting with it must point at the same place.
    let (out, started) = proxy_start(&dir, &["--policy", f.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(!started);
    assert!(out.stderr.contains("dp.yaml:2:18:"), "{out:?}");
}

#[test]
fn builtin_tuning_options_with_a_policy_file_are_usage_errors() {
    let dir = util::scratch("policy-usage");
    let f = write(&dir, "p.yaml", NO_DELETE_YAML);
    let f_s = f.to_str().unwrap();
    let line = vec![call(1, "x", json!({}))];
    for (args, env) in [
        (vec!["--policy", f_s, "--max-rows", "5"], vec![]),
        (vec!["--dialect", "sqlite", "--policy", f_s], vec![]),
        (vec!["--max-rows", "5"], vec![("SENTINEL_POLICY", f_s)]),
        (vec!["--profile", "default"], vec![]),
        (vec![], vec![("SENTINEL_PROFILE", "default")]),
    ] {
        let out = demo_env(&dir, &args, &env, &line);
        assert_eq!(out.code, 2, "{args:?} {env:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?} {env:?}: {out:?}");
    }
    // The controls: each alone is fine.
    for args in [
        vec!["--policy", f_s],
        vec!["--max-rows", "5", "--dialect", "sqlite"],
    ] {
        let out = demo(&dir, &args, &line);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
    }
}
