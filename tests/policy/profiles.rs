//! Profiles chosen by flag, environment or `default_profile`, and `extends:` inheritance.

use super::*;

pub(crate) const PROFILES_YAML: &str = r#"version: 1
default_profile: development
profiles:
  base:
    rules:
      - id: no-delete
        tools: ["delete_*"]
      - id: db
        tools: ["*query*"]
        sql:
          dialect: sqlite
          max_rows: 100
  development:
    extends: base
    mode: monitor
  staging:
    extends: base
  production:
    extends: base
    rules:
      - id: db
        sql:
          max_rows: 10
      - id: approve-deploy
        tools: [deploy]
        action: approve
"#;

fn profile_lines() -> Vec<String> {
    vec![
        call(
            1,
            "read_query",
            json!({"query": "SELECT * FROM t LIMIT 50"}),
        ),
        call(2, "read_query", json!({"query": "SELECT * FROM t"})),
        call(3, "deploy", json!({})),
        call(4, "delete_repo", json!({})),
    ]
}

#[test]
fn profiles_are_chosen_by_flag_env_or_default_profile() {
    let dir = util::scratch("policy-profiles");
    let f = write(&dir, "p.yaml", PROFILES_YAML);
    let f_s = f.to_str().unwrap();
    let lines = profile_lines();

    let staging = expect(&[
        (1, "allow"),
        (2, "block db.unbounded_read"),
        (3, "allow"),
        (4, "block no-delete"),
    ]);
    let production = expect(&[
        (1, "block db.unbounded_read"),
        (2, "block db.unbounded_read"),
        (3, "approve approve-deploy"),
        (4, "block no-delete"),
    ]);
    let all_allowed = expect(&[(1, "allow"), (2, "allow"), (3, "allow"), (4, "allow")]);

    let out = demo(&dir, &["--policy", f_s, "--profile", "staging"], &lines);
    assert_eq!(verdicts(&out.stdout), staging, "--profile staging: {out:?}");
    let out = demo_env(
        &dir,
        &["--policy", f_s],
        &[("SENTINEL_PROFILE", "production")],
        &lines,
    );
    assert_eq!(
        verdicts(&out.stdout),
        production,
        "SENTINEL_PROFILE: {out:?}"
    );
    let out = demo_env(
        &dir,
        &["--policy", f_s, "--profile", "staging"],
        &[("SENTINEL_PROFILE", "production")],
        &lines,
    );
    assert_eq!(verdicts(&out.stdout), staging, "the flag wins: {out:?}");

    // default_profile: development, which is monitor mode: everything forwarded, and what
    // would have been refused is audited.
    let mon = util::scratch("policy-profiles-dev");
    let out = demo(&mon, &["--policy", f_s], &lines);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        verdicts(&out.stdout),
        all_allowed,
        "default_profile: {out:?}"
    );
    assert_eq!(
        audit_rows(&mon),
        vec![
            row(2, "monitored", "db.unbounded_read", Some("block")),
            row(4, "monitored", "no-delete", Some("block")),
        ]
    );

    // An unknown profile refuses to start, naming it and the ones there are.
    for out in [
        demo(&dir, &["--policy", f_s, "--profile", "prod"], &lines),
        demo_env(
            &dir,
            &["--policy", f_s],
            &[("SENTINEL_PROFILE", "prod")],
            &lines,
        ),
    ] {
        assert_refused_to_start(&out, "\"prod\"");
        assert!(out.stderr.contains("production"), "{out:?}");
    }
}

#[test]
fn without_default_profile_a_profile_named_default_or_the_only_one_is_used() {
    let dir = util::scratch("policy-default-profile");
    let lines = vec![call(1, "drop_all", json!({})), call(2, "other", json!({}))];
    let named_default = write(
        &dir,
        "named.yaml",
        "version: 1\nprofiles:\n  other:\n    rules:\n      - id: o\n        tools: [other]\n  default:\n    rules:\n      - id: d\n        tools: [drop_all]\n",
    );
    let out = demo(&dir, &["--policy", named_default.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "block d"), (2, "allow")]),
        "{out:?}"
    );
    let only = write(
        &dir,
        "only.yaml",
        "version: 1\nprofiles:\n  solo:\n    rules:\n      - id: s\n        tools: [other]\n",
    );
    let out = demo(&dir, &["--policy", only.to_str().unwrap()], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "allow"), (2, "block s")]),
        "{out:?}"
    );
    // Several profiles, none named default, no default_profile: no guessing.
    let ambiguous = write(
        &dir,
        "ambiguous.yaml",
        "version: 1\nprofiles:\n  a: {}\n  b: {}\n",
    );
    let out = demo(&dir, &["--policy", ambiguous.to_str().unwrap()], &lines);
    assert_refused_to_start(&out, "--profile");
    let out = demo(
        &dir,
        &["--policy", ambiguous.to_str().unwrap(), "--profile", "b"],
        &lines,
    );
    assert_eq!(out.code, 0, "{out:?}");
}

const EXTENDS_YAML: &str = r#"version: 1
default_profile: base
profiles:
  base:
    rules:
      - id: first
        tools: [x]
        reason: base reason
      - id: second
        tools: [x, y]
        action: allow
      - id: db
        sql:
          dialect: sqlite
          max_rows: 100
          keys: [q]
        reason: base sql reason
      - id: gone
        tools: [z]
  child:
    extends: base
    remove_rules: [gone]
    rules:
      - id: first
        reason: child reason
      - id: db
        sql:
          max_rows: 10
      - id: added
        tools: [y]
  grandchild:
    extends: child
    mode: monitor
  back-to-enforce:
    extends: grandchild
    mode: enforce
"#;

fn extends_lines() -> Vec<String> {
    vec![
        call(1, "x", json!({})),
        call(2, "y", json!({})),
        call(3, "z", json!({})),
        call(4, "t", json!({"q": "SELECT * FROM t LIMIT 50"})),
        call(5, "t", json!({"q": "SELECT * FROM t WHERE"})),
    ]
}

#[test]
fn extends_overrides_only_what_differs_and_overridden_rules_keep_their_place() {
    let dir = util::scratch("policy-extends");
    let f = write(&dir, "p.yaml", EXTENDS_YAML);
    let f_s = f.to_str().unwrap();
    let lines = extends_lines();

    let out = demo(&dir, &["--policy", f_s], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "block first"),
            (2, "allow"),
            (3, "block gone"),
            (4, "allow"),
            (5, "block db.unparseable"),
        ]),
        "base: {out:?}"
    );
    assert_eq!(error_for(&out.stdout, 1)["data"]["reason"], "base reason");

    let child_dir = util::scratch("policy-extends-child");
    let out = demo(&child_dir, &["--policy", f_s, "--profile", "child"], &lines);
    // `first` overridden (reason only) keeps its place before `second`, so x is still
    // blocked; `added` goes after `second`, so y is still allowed; `gone` is removed; `db`
    // keeps its keys and dialect and only lowers max_rows.
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "block first"),
            (2, "allow"),
            (3, "allow"),
            (4, "block db.unbounded_read"),
            (5, "block db.unparseable"),
        ]),
        "child: {out:?}"
    );
    let e1 = error_for(&out.stdout, 1);
    assert_eq!(e1["data"]["reason"], "child reason", "{e1}");
    let e4 = error_for(&out.stdout, 4);
    assert_eq!(e4["data"]["reason"], "base sql reason", "{e4}");
    assert_eq!(e4["data"]["argument"], "/q", "{e4}");

    let ex = sub(
        &dir,
        &[
            "explain",
            "--policy",
            f_s,
            "--profile",
            "child",
            &call(9, "w", json!({})),
        ],
        "",
    );
    assert_eq!(ex.code, 0, "{ex:?}");
    let order: Vec<String> = trace(&ex.stdout)
        .iter()
        .map(|l| l.split(':').next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(order, ["first", "second", "db", "added"], "{ex:?}");

    // Inheriting through two levels, with the mode overridden and overridden back.
    let gdir = util::scratch("policy-extends-grandchild");
    let out = demo(&gdir, &["--policy", f_s, "--profile", "grandchild"], &lines);
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "allow"),
            (2, "allow"),
            (3, "allow"),
            (4, "allow"),
            (5, "allow")
        ]),
        "grandchild: {out:?}"
    );
    assert_eq!(
        audit_rows(&gdir),
        vec![
            row(1, "monitored", "first", Some("block")),
            row(4, "monitored", "db.unbounded_read", Some("block")),
            row(5, "monitored", "db.unparseable", Some("block")),
        ]
    );
    let out = demo(
        &dir,
        &["--policy", f_s, "--profile", "back-to-enforce"],
        &lines,
    );
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "block first"),
            (2, "allow"),
            (3, "allow"),
            (4, "block db.unbounded_read"),
            (5, "block db.unparseable"),
        ]),
        "back-to-enforce: {out:?}"
    );
}

#[test]
fn extends_cycles_unknown_parents_and_bad_remove_rules_are_errors() {
    let dir = util::scratch("policy-extends-errors");
    let cases = [
        (
            "cycle.yaml",
            "version: 1\ndefault_profile: a\nprofiles:\n  a:\n    extends: b\n  b:\n    extends: a\n",
            "cycle.yaml:5:5",
            "cycle",
        ),
        (
            "self.yaml",
            "version: 1\nprofiles:\n  a:\n    extends: a\n",
            "self.yaml:4:5",
            "cycle",
        ),
        (
            "unknown.yaml",
            "version: 1\nprofiles:\n  a:\n    extends: nothere\n",
            "unknown.yaml:4:14",
            "nothere",
        ),
        (
            "remove.yaml",
            "version: 1\ndefault_profile: b\nprofiles:\n  a:\n    rules:\n      - id: r1\n        tools: [x]\n  b:\n    extends: a\n    remove_rules: [r2]\n",
            "remove.yaml:10:20",
            "r2",
        ),
    ];
    for (name, text, place, words) in cases {
        let f = write(&dir, name, text);
        let f_s = f.to_str().unwrap();
        let check = sub(&dir, &["policy", "check", f_s], "");
        assert_eq!(check.code, 1, "{name}: {check:?}");
        assert!(
            check.stderr.contains(place),
            "{name}: want {place}: {check:?}"
        );
        assert!(check.stderr.contains(words), "{name}: {check:?}");
        let out = demo(&dir, &["--policy", f_s], &[call(1, "x", json!({}))]);
        assert_refused_to_start(&out, place);
    }
}
