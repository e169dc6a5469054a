//! `max_argument_bytes`, and `policy check` on egress rules.

use super::*;

#[test]
fn max_argument_bytes_limits_the_compact_size_of_one_tools_arguments() {
    let dir = util::scratch("egress-size");
    let policy = write(
        &dir,
        "size.yaml",
        "version: 1\nprofiles:\n  default:\n    rules:\n      - id: big-writes\n\
         \x20       tools: [write_file]\n        max_argument_bytes: 100\n        action: block\n\
         \x20   breaker: {mode: off}\n",
    );
    // The size is that of the arguments written as compact JSON.
    let size = |v: &Value| serde_json::to_string(v).unwrap().len();
    let content = |text: String| json!({"path": "a", "content": text});
    // {"content":"","path":"a"} is 25 bytes.
    let at_limit = content("x".repeat(75));
    let over = content("x".repeat(76));
    // Escapes count as compact JSON writes them: `\"` and `\n` are 2 bytes, é is 2 (UTF-8).
    let escapes = content(format!("\"\nx{}", "é".repeat(35)));
    let escapes_over = content(format!("\"\n{}", "é".repeat(36)));
    for (v, n) in [
        (&at_limit, 100),
        (&over, 101),
        (&escapes, 100),
        (&escapes_over, 101),
    ] {
        assert_eq!(size(v), n, "test setup: {v}");
    }
    let too_large = |n: usize| {
        (
            blocked("big-writes", "Argument Too Large", None),
            format!("the arguments are {n} bytes, over this tool's limit of 100 bytes"),
        )
    };
    let lines = vec![
        call(1, "write_file", &at_limit),
        call(2, "write_file", &over),
        // Spaced out and with \u escapes: 6 times longer on the wire, 100 bytes compact.
        raw_call(
            3,
            "write_file",
            &format!(
                "{{ \"path\" : \"a\" ,\t \"content\" : \"{}\" }}",
                "\\u0078".repeat(75)
            ),
        ),
        call(4, "write_file", &escapes),
        call(5, "write_file", &escapes_over),
        call(6, "write_file", &json!({})),
        // Other tools are not limited (the glob is exact: write_files is another tool).
        call(7, "read_file", &content("y".repeat(10_000))),
        call(8, "write_files", &content("z".repeat(500))),
    ];
    let out = demo(&dir, Some(&policy), &lines);
    let f = fates(&out.stdout);
    let want: BTreeMap<i64, Fate> = [
        (1, Fate::Forwarded),
        (2, too_large(101).0),
        (3, Fate::Forwarded),
        (4, Fate::Forwarded),
        (5, too_large(101).0),
        (6, Fate::Forwarded),
        (7, Fate::Forwarded),
        (8, Fate::Forwarded),
    ]
    .into_iter()
    .collect();
    assert_eq!(f, want, "{out:?}");
    for id in [2, 5] {
        let reply = util::json_lines(out.stdout.as_bytes())
            .into_iter()
            .find(|v| v["id"] == json!(id))
            .unwrap();
        assert_eq!(
            reply["error"]["data"]["detail"],
            json!(too_large(101).1),
            "{reply}"
        );
        assert_eq!(reply["error"]["data"]["tool"], "write_file", "{reply}");
    }
    let entries = util::audit_entries(&dir);
    let got: Vec<(i64, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["message_id"].as_i64().unwrap_or(-1),
                e["rule"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "big-writes", "Argument Too Large"),
            (5, "big-writes", "Argument Too Large")
        ]
    );
}

#[test]
fn policy_check_refuses_bad_egress_rules_with_file_line_and_column() {
    let dir = util::scratch("egress-policy-check");
    let head = "version: 1\nprofiles:\n  default:\n    rules:\n      - id: eg\n";
    let cases = [
        (
            "        egress:\n          allowed_domains: [\"10.0.0.0/33\"]\n        action: block\n",
            "5:9",
            "`10.0.0.0/33`: bad CIDR prefix `/33` (at most 32 bits)",
        ),
        (
            "        egress:\n          denied_domains: [\"fd00::/129\"]\n",
            "5:9",
            "`fd00::/129`: bad CIDR prefix `/129` (at most 128 bits)",
        ),
        (
            "        egress:\n          allowed_domains: [\"10.0.0.300/8\"]\n",
            "5:9",
            "is not an IP address",
        ),
        (
            "        egress: {}\n        action: allow\n",
            "5:9",
            "an egress rule finds problems; its action cannot be allow",
        ),
        (
            "        egress:\n          checks: [secret]\n",
            "7:20",
            "unknown variant `secret`",
        ),
    ];
    let bare = |args: &[&str]| {
        let mut c = util::bare(&dir);
        c.env("NO_COLOR", "1").args(args);
        run_bytes(&mut c, b"")
    };
    for (i, (tail, place, words)) in cases.iter().enumerate() {
        let name = format!("bad{i}.yaml");
        let f = write(&dir, &name, &format!("{head}{tail}"));
        let f_s = f.to_str().unwrap();
        let check = bare(&["policy", "check", f_s]);
        assert_eq!(check.code, 1, "{name}: {check:?}");
        let at = format!("{name}:{place}:");
        assert!(check.stderr.contains(&at), "{name}: want {at}: {check:?}");
        assert!(
            check.stderr.contains(words),
            "{name}: want {words:?}: {check:?}"
        );
        assert!(check.stdout.is_empty(), "{name}: {check:?}");

        // The same file refuses to start the gateway: exit 2, nothing judged.
        let mut cmd = gateway(&dir);
        cmd.arg("--policy").arg(&f);
        let line = call(1, "fetch", &json!({"url": "http://169.254.169.254/"}));
        let start = run_bytes(&mut cmd, format!("{line}\n").as_bytes());
        assert_eq!(start.code, 2, "{name}: {start:?}");
        assert!(start.stdout.is_empty(), "{name}: judged anyway: {start:?}");
        assert!(start.stderr.contains(&at), "{name}: {start:?}");
    }

    // The enforcing policy of these tests is valid.
    let good = write(&dir, "good.yaml", ENFORCE);
    let check = bare(&["policy", "check", good.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stderr.is_empty(), "{check:?}");
}
