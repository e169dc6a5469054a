//! Policy files by flag or environment, in YAML and JSON, the built-in default as a file, and
//! their validation: version, unknown fields and invalid values, with line and column.

use super::*;

pub(crate) const NO_DELETE_YAML: &str = r#"version: 1
profiles:
  default:
    rules:
      - id: no-delete
        tools: ["delete_*"]
        except_tools: ["delete_draft"]
        reason: Deleting is not allowed here
        hint: archive it instead
"#;

const NO_DELETE_JSON: &str = r#"{
  "version": 1,
  "profiles": {
    "default": {
      "rules": [
        {
          "id": "no-delete",
          "tools": ["delete_*"],
          "except_tools": ["delete_draft"],
          "reason": "Deleting is not allowed here",
          "hint": "archive it instead"
        }
      ]
    }
  }
}
"#;

fn no_delete_lines() -> Vec<String> {
    vec![
        call(1, "delete_repo", json!({"name": "x"})),
        call(2, "delete_draft", json!({"name": "x"})),
        call(3, "read_file", json!({"path": "/x"})),
        // The policy has no SQL rule: the built-in guard must not be in force as well.
        call(4, "run_sql", json!({"query": "SELECT * FROM users"})),
    ]
}

#[test]
fn policy_files_in_yaml_and_json_via_flag_or_env_replace_the_builtin_default() {
    let dir = util::scratch("policy-formats");
    let yaml = write(&dir, "p.yaml", NO_DELETE_YAML);
    let json_file = write(&dir, "p.json", NO_DELETE_JSON);
    // JSON is YAML too: a JSON text in a .yaml file loads.
    let json_as_yaml = write(&dir, "p-json.yaml", NO_DELETE_JSON);
    let allow_all = write(
        &dir,
        "allow.yaml",
        "version: 1\nprofiles:\n  default:\n    rules: []\n",
    );
    let lines = no_delete_lines();
    let want = expect(&[
        (1, "block no-delete"),
        (2, "allow"),
        (3, "allow"),
        (4, "allow"),
    ]);

    let yaml_s = yaml.to_str().unwrap();
    let runs: Vec<(&str, Out)> = vec![
        ("--policy yaml", demo(&dir, &["--policy", yaml_s], &lines)),
        (
            "--policy json",
            demo(&dir, &["--policy", json_file.to_str().unwrap()], &lines),
        ),
        (
            "--policy json text in .yaml",
            demo(&dir, &["--policy", json_as_yaml.to_str().unwrap()], &lines),
        ),
        (
            "SENTINEL_POLICY",
            demo_env(&dir, &[], &[("SENTINEL_POLICY", yaml_s)], &lines),
        ),
        (
            "--policy wins over SENTINEL_POLICY",
            demo_env(
                &dir,
                &["--policy", yaml_s],
                &[("SENTINEL_POLICY", allow_all.to_str().unwrap())],
                &lines,
            ),
        ),
    ];
    for (what, out) in &runs {
        assert_eq!(out.code, 0, "{what}: {out:?}");
        assert_eq!(verdicts(&out.stdout), want, "{what}: {out:?}");
    }

    // The flag really wins: the env file alone allows everything.
    let env_only = demo_env(
        &dir,
        &[],
        &[("SENTINEL_POLICY", allow_all.to_str().unwrap())],
        &lines,
    );
    assert_eq!(
        verdicts(&env_only.stdout),
        expect(&[(1, "allow"), (2, "allow"), (3, "allow"), (4, "allow")]),
        "{env_only:?}"
    );

    // No file: the built-in default (the SQL guard only).
    let builtin = demo(&dir, &[], &lines);
    assert_eq!(builtin.code, 0, "{builtin:?}");
    assert_eq!(
        verdicts(&builtin.stdout),
        expect(&[
            (1, "allow"),
            (2, "allow"),
            (3, "allow"),
            (4, "block sql.unbounded_read")
        ]),
        "{builtin:?}"
    );
}

#[test]
fn a_json_file_is_parsed_as_json_and_its_errors_have_line_and_column() {
    let dir = util::scratch("policy-json-errors");
    // YAML text in a .json file: not JSON, so refused (not silently read as YAML).
    let yaml_in_json = write(&dir, "y.json", NO_DELETE_YAML);
    let out = demo(
        &dir,
        &["--policy", yaml_in_json.to_str().unwrap()],
        &no_delete_lines(),
    );
    assert_refused_to_start(&out, "y.json:1:");

    // A typo in a JSON policy names the field, the line and the column.
    let typo = NO_DELETE_JSON.replace("\"reason\"", "\"reasn\"");
    let f = write(&dir, "typo.json", &typo);
    let out = demo(&dir, &["--policy", f.to_str().unwrap()], &no_delete_lines());
    assert_refused_to_start(&out, "typo.json:10:");
    assert!(out.stderr.contains("reasn"), "{out:?}");
    let check = sub(&dir, &["policy", "check", f.to_str().unwrap()], "");
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stderr.contains("typo.json:10:"), "{check:?}");
    assert!(!check.stdout.contains("ok"), "{check:?}");
}

/// ~30 SQL tool calls: bounded, unbounded, export, destructive, unparseable, prose, and a few
/// messages that are not tool calls or not even JSON.
fn sql_table() -> Vec<String> {
    let q = |id: u64, tool: &str, key: &str, text: &str| call(id, tool, json!({ key: text }));
    vec![
        // Bounded reads.
        q(1, "read_query", "query", "SELECT id FROM users LIMIT 10"),
        q(2, "read_query", "query", "SELECT * FROM users LIMIT 1000"),
        q(3, "read_query", "sql", "SELECT count(*) FROM users"),
        q(4, "read_query", "query", "SELECT 1"),
        q(5, "read_query", "query", "SELECT * FROM users LIMIT 50"),
        // Unbounded reads.
        q(6, "read_query", "query", "SELECT * FROM users"),
        q(7, "read_query", "query", "SELECT * FROM users LIMIT 1001"),
        q(8, "run", "statement", "select name from t where x = 1"),
        q(9, "read_query", "query", "SELECT * FROM a JOIN b ON a.id = b.id"),
        q(
            10,
            "read_query",
            "query",
            "WITH c AS (SELECT * FROM t LIMIT 5) SELECT * FROM c",
        ),
        q(11, "anything", "foo", "SELECT * FROM users"),
        // Exports.
        q(12, "read_query", "query", "COPY users TO '/tmp/x'"),
        q(13, "read_query", "query", "SELECT * FROM users INTO OUTFILE '/tmp/x'"),
        q(14, "read_query", "query", "ATTACH DATABASE '/tmp/x.db' AS x"),
        q(15, "notes", "note", "attach database '/tmp/x.db' as x"),
        // Destructive.
        q(16, "write_query", "query", "DROP TABLE users"),
        q(17, "write_query", "query", "TRUNCATE users"),
        q(18, "write_query", "query", "DELETE FROM users"),
        q(19, "write_query", "query", "DELETE FROM users WHERE 1=1"),
        call(
            20,
            "batch",
            json!({"statements": ["SELECT 1", "INSERT INTO t VALUES (1)", "DROP TABLE users"]}),
        ),
        // Unparseable under a SQL-named key.
        q(21, "read_query", "sql", "SELECT * FROM users WHERE"),
        q(22, "read_query", "query", "select the best option for me"),
        q(23, "read_query", "stmt", "UPDATE SET SET"),
        // Prose and harmless strings.
        q(24, "search", "query", "best pizza in town"),
        q(25, "note", "text", "select the best option for me"),
        q(26, "note", "text", "SELECT * FROM users WHERE"),
        q(27, "read_query", "query", ""),
        q(28, "read_query", "query", "-- SELECT * FROM users"),
        call(
            29,
            "batch",
            json!({"batch": [{"sql": "SELECT 1"}, {"sql": "SELECT * FROM users"}]}),
        ),
        call(30, "mixed", json!({"n": 3, "ok": true, "sql": "SELECT id FROM t LIMIT 2"})),
        r#"{"jsonrpc":"2.0","id":31,"method":"tools/list"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"x"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":33,"method":"tools/call","params":{"name":"q","arguments":{"query":"SELECT * FROM t"},"name":"y"}}"#.to_owned(),
        "not json at all".to_owned(),
    ]
}

/// Audit entries without what differs from run to run: the timestamp, and the hash chain's
/// `session` (random), `seq` and `prev` (a hash over the timestamp too).
fn audit_without_time(dir: &Path) -> Vec<Value> {
    util::audit_entries(dir)
        .into_iter()
        .map(|mut e| {
            let o = e.as_object_mut().expect("audit entry object");
            for field in ["timestamp", "session", "seq", "prev"] {
                o.remove(field);
            }
            e
        })
        .collect()
}

#[test]
fn show_default_prints_a_policy_that_is_the_builtin_verdict_for_verdict() {
    let table = sql_table();
    for tuning in [&[][..], &["--max-rows", "5", "--dialect", "sqlite"][..]] {
        let dir = util::scratch("policy-show-default");
        let mut args = vec!["policy", "show-default"];
        args.extend_from_slice(tuning);
        let shown = sub(&dir, &args, "");
        assert_eq!(shown.code, 0, "{shown:?}");
        assert!(shown.stdout.contains("version: 1"), "{shown:?}");
        let file = write(&dir, "default.yaml", &shown.stdout);
        let file_s = file.to_str().unwrap();

        let check = sub(&dir, &["policy", "check", file_s], "");
        assert_eq!(check.code, 0, "{check:?}");
        assert!(check.stdout.contains("ok"), "{check:?}");
        assert!(check.stderr.is_empty(), "{check:?}");

        let builtin_dir = dir.join("builtin");
        let file_dir = dir.join("file");
        std::fs::create_dir_all(&builtin_dir).unwrap();
        std::fs::create_dir_all(&file_dir).unwrap();
        let builtin = demo(&builtin_dir, tuning, &table);
        let from_file = demo(&file_dir, &["--policy", file_s], &table);
        assert_eq!(builtin.code, 0, "{builtin:?}");
        assert_eq!(from_file.code, 0, "{from_file:?}");
        assert_eq!(
            builtin.stdout, from_file.stdout,
            "tuning {tuning:?}: stdout differs between the built-in policy and show-default"
        );
        assert_eq!(
            audit_without_time(&builtin_dir),
            audit_without_time(&file_dir),
            "tuning {tuning:?}: audit entries differ"
        );

        // The table is not trivially equal: it exercises every check and some allows.
        let v = verdicts(
            &builtin
                .stdout
                .lines()
                .filter(|l| !l.contains("\"code\":-32700") && !l.contains("\"code\":-32600"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        for rule in [
            "block sql.unbounded_read",
            "block sql.export",
            "approve sql.destructive",
            "block sql.unparseable",
            "allow",
        ] {
            assert!(
                v.values().any(|x| x == rule),
                "tuning {tuning:?}: no {rule} in {v:?}"
            );
        }
        // The tuning reached the file: LIMIT 50 passes at 1000 rows and not at 5.
        let want5 = if tuning.is_empty() {
            "allow"
        } else {
            "block sql.unbounded_read"
        };
        assert_eq!(v[&5], want5, "tuning {tuning:?}");
    }
}

#[test]
fn version_is_required_and_must_be_1() {
    let dir = util::scratch("policy-version");
    let cases = [
        (
            "missing.yaml",
            "profiles:\n  default:\n    rules: []\n",
            "missing.yaml:1:1",
            "version",
        ),
        (
            "two.yaml",
            "version: 2\nprofiles:\n  default:\n    rules: []\n",
            "two.yaml:1:10",
            "version 2",
        ),
        (
            "missing.json",
            "{\"profiles\": {\"default\": {\"rules\": []}}}\n",
            "missing.json:1:",
            "version",
        ),
    ];
    for (name, text, place, words) in cases {
        let f = write(&dir, name, text);
        let f_s = f.to_str().unwrap();
        let check = sub(&dir, &["policy", "check", f_s], "");
        assert_eq!(check.code, 1, "{name}: {check:?}");
        assert!(check.stderr.contains(place), "{name}: {check:?}");
        assert!(check.stderr.contains(words), "{name}: {check:?}");
        let out = demo(&dir, &["--policy", f_s], &[call(1, "x", json!({}))]);
        assert_refused_to_start(&out, place);
    }
    // The control: version 1 is fine.
    let ok = write(
        &dir,
        "one.yaml",
        "version: 1\nprofiles:\n  default:\n    rules: []\n",
    );
    let check = sub(&dir, &["policy", "check", ok.to_str().unwrap()], "");
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn unknown_fields_anywhere_are_errors_with_line_and_column() {
    let dir = util::scratch("policy-unknown-fields");
    // (file text, FILE:LINE:COL, the misspelt field)
    let cases = [
        (
            "version: 1\nprofile:\n  default: {}\n",
            "2:1",
            "profile",
        ),
        (
            "version: 1\nprofiles:\n  default:\n    rule: []\n",
            "4:5",
            "rule",
        ),
        (
            "version: 1\nprofiles:\n  default:\n    rules:\n      - id: x\n        tools: [drop_all]\n        acton: allow\n",
            "7:9",
            "acton",
        ),
        (
            "version: 1\nprofiles:\n  default:\n    rules:\n      - id: db\n        sql:\n          max_row: 5\n",
            "7:11",
            "max_row",
        ),
        (
            "version: 1\nprofiles:\n  default:\n    rules:\n      - id: c\n        when:\n          - pth: /x\n            equals: 1\n",
            "7:13",
            "pth",
        ),
        (
            "version: 1\nprofiles:\n  default:\n    rules:\n      - id: c\n        tool: [drop_all]\n",
            "6:9",
            "tool",
        ),
    ];
    for (i, (text, place, field)) in cases.iter().enumerate() {
        let name = format!("typo{i}.yaml");
        let f = write(&dir, &name, text);
        let f_s = f.to_str().unwrap();
        let at = format!("{name}:{place}");

        let check = sub(&dir, &["policy", "check", f_s], "");
        assert_eq!(check.code, 1, "{name}: {check:?}");
        assert!(check.stderr.contains(&at), "{name}: want {at}: {check:?}");
        assert!(
            check.stderr.contains(&format!("unknown field `{field}`")),
            "{name}: {check:?}"
        );
        assert!(check.stdout.is_empty(), "{name}: {check:?}");

        let out = demo(&dir, &["--policy", f_s], &[call(1, "drop_all", json!({}))]);
        assert_refused_to_start(&out, &at);
        assert!(out.stderr.contains(field), "{name}: {out:?}");
    }
}

#[test]
fn invalid_values_are_errors_with_line_and_column() {
    let dir = util::scratch("policy-invalid-values");
    let head = "version: 1\nprofiles:\n  default:\n    rules:\n      - id: a\n";
    let cases = [
        ("        action: blok\n", "6:17", "blok"),
        ("        mode: monitr\n", "6:15", "monitr"),
        (
            "        when:\n          - path: /x\n            regex: \"(\"\n",
            "7:13",
            "invalid regex",
        ),
        (
            "        when:\n          - path: x\n            equals: 1\n",
            "7:13",
            "JSON Pointer",
        ),
        (
            "        when:\n          - path: /x\n",
            "7:13",
            "needs a test",
        ),
        (
            "        sql:\n          dialect: klingon\n",
            "7:20",
            "klingon",
        ),
        (
            "        sql:\n          checks: [unbounded_reads]\n",
            "7:20",
            "unbounded_reads",
        ),
        (
            "        sql: {}\n        action: allow\n",
            "5:9",
            "cannot be allow",
        ),
        (
            "        tools: [x]\n      - id: a\n",
            "7:9",
            "appears twice",
        ),
    ];
    for (i, (tail, place, words)) in cases.iter().enumerate() {
        let name = format!("bad{i}.yaml");
        let f = write(&dir, &name, &format!("{head}{tail}"));
        let check = sub(&dir, &["policy", "check", f.to_str().unwrap()], "");
        assert_eq!(check.code, 1, "{name}: {check:?}");
        let at = format!("{name}:{place}:");
        assert!(check.stderr.contains(&at), "{name}: want {at}: {check:?}");
        assert!(check.stderr.contains(words), "{name}: {check:?}");
    }
}
