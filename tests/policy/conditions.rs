//! The conditions a policy needs to be judged the way real servers read their arguments:
//! `absent`, `default`, `every_element`/`any_element` and `normalize: path`, in demo mode and
//! `explain`, and the loader's errors when they are misused.

use super::*;

const CONDITIONS_YAML: &str = r#"version: 1
profiles:
  default:
    default_action: allow
    rules:
      - id: needs-query
        tools: [read_query]
        when:
          - path: /query
            absent: true
        action: block
      - id: has-cursor
        tools: [page]
        when:
          - path: /cursor
            absent: false
        action: approve
      - id: big-pages
        tools: [fetch]
        when:
          - path: /max_length
            default: 5000
            max: 20000
            not: true
        action: block
      - id: strict-default
        tools: [strict_fetch]
        when:
          - path: /max_length
            default: 50000
            max: 20000
            not: true
        action: block
      - id: all-inside
        tools: [read_many]
        when:
          - path: /paths
            every_element: true
            normalize: path
            regex: '^/srv/data(?:/|$)'
        action: allow
      - id: many-outside
        tools: [read_many]
        action: block
      - id: one-secret
        tools: [upload]
        when:
          - path: /files
            any_element: true
            normalize: path
            regex: '(?:^|/)\.env$'
        action: block
      - id: read-inside
        tools: [read]
        when:
          - path: /path
            normalize: path
            regex: '^/srv/data(?:/|$)'
        action: allow
      - id: read-outside
        tools: [read]
        action: block
      - id: no-etc
        tools: [delete]
        when:
          - path: /path
            normalize: path
            regex: '^/etc(?:/|$)'
        action: block
      - id: none-outside
        tools: [tag]
        when:
          - path: /labels
            every_element: true
            one_of: [draft, final]
            not: true
        action: block
"#;

#[test]
fn absent_default_elements_and_normalised_paths_decide_calls() {
    let dir = util::scratch("policy-conditions");
    let f = write(&dir, "p.yaml", CONDITIONS_YAML);
    let lines = vec![
        // absent: true / false
        call(1, "read_query", json!({})),
        call(2, "read_query", json!({"query": "SELECT 1"})),
        call(3, "read_query", json!({"query": null})),
        call(4, "page", json!({"cursor": "abc"})),
        call(5, "page", json!({})),
        // default: the server's value for a left-out argument
        call(6, "fetch", json!({"url": "https://x.example/"})),
        call(7, "fetch", json!({"max_length": 999999})),
        call(8, "fetch", json!({"max_length": 100})),
        call(9, "strict_fetch", json!({})),
        // every_element with normalised paths; not an array, empty, nested
        call(
            10,
            "read_many",
            json!({"paths": ["/srv/data/a", "/srv//data/./b/"]}),
        ),
        call(
            11,
            "read_many",
            json!({"paths": ["/srv/data/a", "/srv/data/../etc/passwd"]}),
        ),
        call(
            12,
            "read_many",
            json!({"paths": ["/srv/data/a", "/srv/data/%2e%2e/x"]}),
        ),
        call(13, "read_many", json!({"paths": "/srv/data/a"})),
        call(14, "read_many", json!({"paths": []})),
        call(15, "read_many", json!({"paths": [["/srv/data/a"]]})),
        // any_element
        call(
            16,
            "upload",
            json!({"files": ["/srv/a.txt", "/srv/app/.env/."]}),
        ),
        call(
            17,
            "upload",
            json!({"files": ["/srv/a.txt", "/srv/.envrc"]}),
        ),
        // One reading outside is enough to keep an allow rule from exempting the call ...
        call(18, "read", json!({"path": "/srv/data/..\\..\\etc\\passwd"})),
        call(19, "read", json!({"path": "/srv/data/x%2fy"})),
        call(20, "read", json!({"path": "~/notes.txt"})),
        call(21, "read", json!({"path": "~/../../srv/data/notes.txt"})),
        // ... and one reading inside /etc is enough for a block rule to refuse.
        call(22, "delete", json!({"path": "/srv/%2e%2e/etc/cron.d/x"})),
        call(23, "delete", json!({"path": "/srv/../etc/cron.d/x"})),
        call(24, "delete", json!({"path": "/srv/etcetera"})),
        // every_element with not: every label is something else
        call(25, "tag", json!({"labels": ["spam", "ham"]})),
        call(26, "tag", json!({"labels": ["spam", "draft"]})),
    ];
    let out = demo_env(
        &dir,
        &["--policy", f.to_str().unwrap()],
        &[("HOME", "/home/alice/")],
        &lines,
    );
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[
            (1, "block needs-query"),
            (2, "allow"),
            (3, "allow"),
            (4, "approve has-cursor"),
            (5, "allow"),
            (6, "allow"),
            (7, "block big-pages"),
            (8, "allow"),
            (9, "block strict-default"),
            (10, "allow"),
            (11, "block many-outside"),
            (12, "block many-outside"),
            (13, "block many-outside"),
            (14, "allow"),
            (15, "block many-outside"),
            (16, "block one-secret"),
            (17, "allow"),
            (18, "block read-outside"),
            (19, "allow"),
            (20, "block read-outside"),
            (21, "allow"),
            (22, "block no-etc"),
            (23, "block no-etc"),
            (24, "allow"),
            (25, "block none-outside"),
            (26, "allow"),
        ]),
        "{out:?}"
    );
    // The refusal points at the element that matched.
    assert_eq!(error_for(&out.stdout, 16)["data"]["argument"], "/files/1");
}

#[test]
fn without_a_home_directory_a_tilde_path_is_relative() {
    let dir = util::scratch("policy-conditions-home");
    let f = write(&dir, "p.yaml", CONDITIONS_YAML);
    let line = call(1, "read", json!({"path": "~/../../srv/data/notes.txt"}));
    let mut cmd = gateway(&dir);
    cmd.env_remove("HOME")
        .args(["--policy", f.to_str().unwrap()]);
    let out = run(&mut cmd, &format!("{line}\n"));
    assert_eq!(
        verdicts(&out.stdout),
        expect(&[(1, "block read-outside")]),
        "{out:?}"
    );
}

#[test]
fn explain_says_what_the_new_conditions_test() {
    let dir = util::scratch("policy-conditions-explain");
    let f = write(&dir, "p.yaml", CONDITIONS_YAML);
    let f_s = f.to_str().unwrap();
    for (msg, words) in [
        (
            call(1, "read_query", json!({})),
            r#"needs-query: matched: argument "/query" is absent -> block"#,
        ),
        (
            call(2, "fetch", json!({})),
            r#"big-pages: no match: argument "/max_length" not <= 20000 (default 5000 when absent) does not hold"#,
        ),
        (
            call(3, "read_many", json!({"paths": ["/etc"]})),
            r#"all-inside: no match: every element of argument "/paths" matches /^/srv/data(?:/|$)/ (read as a normalised path) does not hold"#,
        ),
    ] {
        let out = sub(&dir, &["explain", "--policy", f_s, &msg], "");
        assert!(out.stdout.contains(words), "want {words}\n{out:?}");
    }
}

#[test]
fn misused_conditions_are_errors_that_say_what_to_write() {
    let dir = util::scratch("policy-conditions-errors");
    let head = "version: 1\nprofiles:\n  default:\n    rules:\n      - id: a\n        when:\n";
    let cases = [
        ("          - any_string: true\n            absent: true\n", "give path"),
        (
            "          - path: /x\n            absent: true\n            regex: a\n",
            "takes no other test",
        ),
        (
            "          - path: /x\n            absent: true\n            not: true\n",
            "is absent: false; write that instead",
        ),
        (
            "          - path: /x\n            absent: false\n            default: 1\n",
            "contradict",
        ),
        (
            "          - path: /x\n            every_element: true\n            any_element: true\n            equals: 1\n",
            "not both",
        ),
        (
            "          - any_string: true\n            every_element: true\n            regex: a\n",
            "give path: /json/pointer instead of any_string",
        ),
        (
            "          - any_string: true\n            default: x\n            regex: a\n",
            "one absent argument",
        ),
        (
            "          - path: /x\n            normalize: path\n            min: 1\n",
            "min/max compare numbers",
        ),
        (
            "          - path: /x\n            normalize: url\n            regex: a\n",
            "unknown variant `url`, expected one of path",
        ),
        (
            "          - path: /x\n            every_element: true\n",
            "absent: true|false",
        ),
    ];
    for (i, (tail, words)) in cases.iter().enumerate() {
        let name = format!("bad{i}.yaml");
        let f = write(&dir, &name, &format!("{head}{tail}"));
        let check = sub(&dir, &["policy", "check", f.to_str().unwrap()], "");
        assert_eq!(check.code, 1, "{name}: {check:?}");
        // Misuse is reported at the condition; an unknown value where it is.
        let place = if i == 8 { "8:24" } else { "7:13" };
        let at = format!("{name}:{place}:");
        assert!(check.stderr.contains(&at), "{name}: want {at}: {check:?}");
        assert!(
            check.stderr.contains(words),
            "{name}: want {words}: {check:?}"
        );
    }
    // null is a value, not the absence of one: `default: null` is accepted.
    let f = write(
        &dir,
        "ok.yaml",
        &format!(
            "{head}          - path: /x\n            default: null\n            equals: null\n"
        ),
    );
    let check = sub(&dir, &["policy", "check", f.to_str().unwrap()], "");
    assert_eq!(check.code, 0, "{check:?}");
}
