//! The process environment, stderr and the audit log, and the end of a session.

use super::*;

#[test]
fn the_server_inherits_environment_and_working_directory() {
    let dir = util::scratch("env");
    let cwd = dir.join("work dir");
    std::fs::create_dir_all(&cwd).unwrap();
    let env_file = dir.join("env.txt");
    let mut cmd = util::command(&dir);
    cmd.current_dir(&cwd)
        .env("SECRET_TOKEN", "abc")
        .env("SENTINEL_WIRE_ODD", "a=b c\t\u{e4}");
    cmd.arg("--")
        .arg(util::fake_server())
        .arg("--env-file")
        .arg(&env_file);
    let mut s = Session::spawn(&mut cmd);
    util::wait_for_file(&env_file, T);
    let (code, _) = end(&mut s);
    assert_eq!(code, 0);

    let contents = std::fs::read(&env_file).unwrap();
    let (first, rest) =
        contents.split_at(contents.iter().position(|&b| b == b'\n').expect("cwd line") + 1);
    assert_bytes(
        first,
        format!("{}\n", cwd.canonicalize().unwrap().display()).as_bytes(),
        "server working directory",
    );

    // Exactly sentinel's environment: the test's, minus what util::command removes, plus ours.
    let mut want: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    want.remove(&OsString::from("SENTINEL_AUDIT_LOG"));
    want.remove(&OsString::from("NO_COLOR"));
    // util::hermetic gives every test a runtime directory of its own.
    want.insert(
        "XDG_RUNTIME_DIR".into(),
        dir.join("xdg-runtime").into_os_string(),
    );
    want.insert(
        "XDG_STATE_HOME".into(),
        dir.join("xdg-state").into_os_string(),
    );
    want.insert("SECRET_TOKEN".into(), "abc".into());
    want.insert("SENTINEL_WIRE_ODD".into(), "a=b c\t\u{e4}".into());
    let mut want_lines: Vec<Vec<u8>> = Vec::new();
    for (k, v) in &want {
        let mut entry = k.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(v.as_bytes());
        want_lines.extend(entry.split(|&b| b == b'\n').map(<[u8]>::to_vec));
    }
    let mut got_lines: Vec<Vec<u8>> = rest
        .strip_suffix(b"\n")
        .unwrap_or(rest)
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    want_lines.sort();
    got_lines.sort();
    assert!(
        got_lines.iter().any(|l| l == b"SECRET_TOKEN=abc"),
        "SECRET_TOKEN reaches the server"
    );
    assert_eq!(
        got_lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>(),
        want_lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>(),
        "the server's environment is sentinel's, unchanged"
    );
}

#[test]
fn server_stderr_goes_to_sentinel_stderr_never_stdout() {
    let dir = util::scratch("stderr");
    let text = "fake-server-diagnostic: \u{e9}t\u{e9} 42";
    let mut s = start(&dir, &[], &["--stderr", text]);
    let ping = request("1", "ping", "{}");
    s.send(&ping);
    let first = s.recv_raw(T);
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(
        &[first, rest].concat(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n",
        "stdout holds only JSON-RPC",
    );
    let stderr = s.stderr();
    assert!(
        stderr.contains(&format!("{text}\n")),
        "server stderr passed on: {stderr}"
    );
}

#[test]
fn audit_entries_describe_each_block() {
    let dir = util::scratch("audit");
    let mut s = start(&dir, &[], &[]);
    let line = util::tool_call(r#""a-1""#, "query", UNBOUNDED);
    let big = util::tool_call("123456789012345678901234567890", "query", UNBOUNDED);
    s.send_raw(&lines(&[&line, &big]));
    for _ in 0..2 {
        let (_, v, _) = recv_one(&s);
        assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
    }
    let (code, _) = end(&mut s);
    assert_eq!(code, 0);

    let text = std::fs::read_to_string(dir.join("audit.log")).expect("audit log written");
    assert!(text.ends_with('\n'), "JSON Lines end with a newline");
    let raw_lines: Vec<&str> = text.lines().collect();
    assert_eq!(raw_lines.len(), 2, "{text}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let server = util::fake_server().to_string_lossy().into_owned();
    for (raw, (sent, id)) in raw_lines.iter().zip([
        (&line, r#""a-1""#),
        (&big, "123456789012345678901234567890"),
    ]) {
        let e: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
        for key in [
            "timestamp",
            "message_id",
            "method",
            "reason",
            "rule",
            "tool",
            "action",
            "server",
            "details",
        ] {
            assert!(e.get(key).is_some(), "audit entry has {key}: {raw}");
        }
        let ts = e["timestamp"].as_str().expect("timestamp string");
        let secs = rfc3339_utc(ts).unwrap_or_else(|| panic!("RFC 3339 UTC (Z): {ts}"));
        assert!((secs - now).abs() < 600, "timestamp is now-ish: {ts}");
        // The id's exact text, big integers included.
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw).unwrap();
        assert_eq!(fields["message_id"].get(), id, "{raw}");
        assert_eq!(e["method"], "tools/call");
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{raw}");
        assert_eq!(e["rule"], UNBOUNDED_READ);
        assert_eq!(e["tool"], "query");
        assert_eq!(e["action"], "blocked");
        let srv = e["server"].as_str().expect("server string");
        assert!(srv.contains(&server), "server names the command: {srv}");
        assert!(srv.contains("--log"), "with its arguments: {srv}");
        assert_eq!(
            fields["details"].get(),
            sent.as_str(),
            "details is the message as received"
        );
    }
}

#[test]
fn requests_left_waiting_when_the_server_exits_get_server_gone_once() {
    let dir = util::scratch("exit-after");
    let mut s = start(&dir, &[], &["--exit-after", "2", "--exit-code", "3"]);
    let sent = [
        util::tool_call("1", "echo", "{}"),
        util::tool_call(r#""two""#, "echo", r#"{"n":2}"#),
        util::tool_call("3", "echo", "{}"),
        util::tool_call("123456789012345678901234567890", "silent", "{}"),
        util::tool_call(r#""five""#, "query", BOUNDED),
    ];
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    // The client side stays open: the server's exit ends the session.
    let status = s.wait(T);
    let out = s.rest_of_stdout();
    assert_eq!(status.code(), Some(3), "stderr: {}", s.stderr());
    let out_lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(out_lines.len(), 5, "stdout: {}", show(&out));
    assert_bytes(out_lines[0], &echo_response("1", "{}"), "answer 1");
    assert_bytes(
        out_lines[1],
        &echo_response(r#""two""#, r#"{"n":2}"#),
        "answer 2",
    );
    for (line, id) in
        out_lines[2..]
            .iter()
            .zip(["3", "123456789012345678901234567890", r#""five""#])
    {
        let (is_batch, ms) = messages(line);
        assert!(!is_batch);
        assert_eq!(ms[0].0, id, "{}", show(line));
        assert_error(&ms[0].1, SERVER_GONE, None);
    }
    assert_bytes(&server_log(&dir), &lines(&refs[..2]), "server log");
}

#[test]
fn unanswered_requests_get_server_gone_after_client_eof() {
    let dir = util::scratch("silent");
    let mut s = start(&dir, &[], &["--exit-code", "3"]);
    let sent = [
        util::tool_call("1", "echo", "{}"),
        util::tool_call(r#""s""#, "silent", "{}"),
        util::tool_call("2", "query", UNBOUNDED),
        util::tool_call("123456789012345678901234567890", "silent", "{}"),
        util::tool_call("-5", "silent", "{}"),
    ];
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    let mut got = Vec::new();
    for _ in 0..2 {
        let (id, v, _) = recv_one(&s);
        got.push((id, v));
    }
    let (code, rest) = end(&mut s);
    assert_eq!(code, 3, "sentinel exits with the server's code");
    let rest_msgs = all_messages(&rest);
    got.extend(rest_msgs.iter().cloned());
    let counts = id_counts(&got);
    assert_eq!(got.len(), 5, "{got:?}");
    for id in ["1", r#""s""#, "2", "123456789012345678901234567890", "-5"] {
        assert_eq!(counts.get(id), Some(&1), "id {id}: {got:?}");
    }
    let by_id = |id: &str| &got.iter().find(|(i, _)| i == id).unwrap().1;
    assert_eq!(by_id("1")["result"]["isError"], false);
    assert_error(by_id("2"), BLOCKED, Some(UNBOUNDED_READ));
    assert_eq!(
        rest_msgs
            .iter()
            .map(|(i, _)| i.as_str())
            .collect::<Vec<_>>(),
        [r#""s""#, "123456789012345678901234567890", "-5"],
        "server-gone answers in the order the requests were sent"
    );
    for (_, v) in &rest_msgs {
        assert_error(v, SERVER_GONE, None);
    }
    let forwarded: Vec<&str> = [0, 1, 3, 4].iter().map(|&i| refs[i]).collect();
    assert_bytes(&server_log(&dir), &lines(&forwarded), "server log");
}

/// The table of waiting requests keys ids by their decoded value (`"\u0066ive"` is
/// `"five"`), but a server-gone answer carries the id exactly as the client spelled it.
#[test]
fn server_gone_answers_carry_the_ids_as_spelled() {
    let dir = util::scratch("gone-spelled");
    let mut s = start(&dir, &[], &["--exit-code", "3"]);
    let sent = [
        util::tool_call(r#""\u0066ive""#, "silent", "{}"),
        util::tool_call(r#""a\/b""#, "silent", "{}"),
        util::tool_call(r#""plain""#, "silent", "{}"),
    ];
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.send_raw(&lines(&refs));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 3, "sentinel exits with the server's code");
    let got = all_messages(&rest);
    assert_eq!(
        got.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        [r#""\u0066ive""#, r#""a\/b""#, r#""plain""#],
        "ids byte for byte, in the order sent"
    );
    for (_, v) in &got {
        assert_error(v, SERVER_GONE, None);
    }
}

/// A shell-script server: `sentinel -- sh -c SCRIPT`.
fn script_server(dir: &Path, script: &str) -> Session {
    let mut cmd = util::command(dir);
    cmd.arg("--").arg("sh").arg("-c").arg(script);
    Session::spawn(&mut cmd)
}

#[test]
fn gateway_answers_never_land_inside_a_half_written_server_message() {
    let dir = util::scratch("interleave");
    let mut s = script_server(
        &dir,
        r#"read -r a; printf '%s' '{"jsonrpc":"2.0","id":1,"res'; sleep 1; printf '%s\n' 'ult":{}}'; cat >/dev/null"#,
    );
    s.send(&util::tool_call("1", "echo", "{}"));
    std::thread::sleep(Duration::from_millis(300));
    // Answered by the gateway while the server is in the middle of a line.
    s.send(&util::tool_call("2", "query", UNBOUNDED));
    assert_bytes(
        &s.recv_raw(T),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n",
        "the server's message, whole",
    );
    let (id, v, _) = recv_one(&s);
    assert_eq!(id, "2");
    assert_error(&v, BLOCKED, Some(UNBOUNDED_READ));
    let (code, rest) = end(&mut s);
    assert_eq!(code, 0);
    assert_bytes(&rest, b"", "nothing more on stdout");
}

#[test]
fn a_server_dying_mid_message_still_leaves_one_server_gone_answer() {
    let dir = util::scratch("die-mid-line");
    let partial = br#"{"jsonrpc":"2.0","id":1,"res"#;
    let mut s = script_server(
        &dir,
        r#"read -r a; printf '%s' '{"jsonrpc":"2.0","id":1,"res'; exit 4"#,
    );
    s.send(&util::tool_call("1", "echo", "{}"));
    let status = s.wait(T);
    let out = s.rest_of_stdout();
    assert_eq!(status.code(), Some(4), "stderr: {}", s.stderr());
    assert!(out.starts_with(partial), "stdout: {}", show(&out));
    let out_lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(out_lines.len(), 2, "stdout: {}", show(&out));
    let (is_batch, ms) = messages(out_lines[1]);
    assert!(!is_batch);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].0, "1", "stdout: {}", show(&out));
    assert_error(&ms[0].1, SERVER_GONE, None);
}
