//! The listener's security: bearer tokens (401 with `WWW-Authenticate`, audited, no server
//! started), tenants (their policy profile, their sessions), the `Origin` allow-list, the
//! limits (sessions, body, a dribbled head, connections, idle sessions), and the warning for
//! a non-loopback address without authentication.

use super::http::{call, serve_command, Serve, INITIALIZE, LIMIT};
use super::util;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

fn sha(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const POLICY: &str = r#"version: 1
default_profile: open
profiles:
  open:
    mode: enforce
    default_action: allow
    rules: []
  locked:
    mode: enforce
    default_action: allow
    rules:
      - id: no-echo
        description: No echo for this tenant.
        tools: [echo]
        action: block
        reason: Echo Not Allowed
"#;

fn tokens_file(dir: &Path) -> String {
    let path = dir.join("tokens.yaml");
    std::fs::write(
        &path,
        format!(
            "tokens:\n  - sha256: {}\n    tenant: team-a\n    profile: open\n  - sha256: {}\n    tenant: team-b\n    profile: locked\n",
            sha("token-a"),
            sha("token-b")
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn without_a_valid_token_a_request_gets_401_is_audited_and_starts_no_server() {
    let dir = util::scratch("serve-401");
    let tokens = tokens_file(&dir);
    let pid_file = dir.join("server.pid");
    let serve = Serve::start(
        &dir,
        &["--tokens", &tokens],
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    for auth in [None, Some("Bearer wrong"), Some("Basic dXNlcjpwYXNz")] {
        let mut h = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        let r = serve.request("POST", &h, INITIALIZE);
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text());
        let challenge = r.header("www-authenticate").expect("a challenge");
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !pid_file.exists(),
        "a server was started for an unauthenticated client"
    );
    let entries = util::audit_entries(&dir);
    let refused = entries
        .iter()
        .filter(|e| e["rule"] == "unauthenticated")
        .count();
    assert_eq!(refused, 3, "{entries:?}");
    // The wrong token never appears in the audit log or on stderr.
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(!log.contains("wrong") && !serve.stderr().contains("wrong"));
}

#[test]
fn each_tenant_gets_its_profile_and_only_its_own_sessions() {
    let dir = util::scratch("serve-tenants");
    let tokens = tokens_file(&dir);
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let serve = Serve::start(
        &dir,
        &["--tokens", &tokens, "--policy", policy.to_str().unwrap()],
        &[],
    );
    let a = serve.init(&[("Authorization", "Bearer token-a")]);
    let b = serve.init(&[("Authorization", "Bearer token-b")]);
    let post = |sid: &str, token: &str, body: &str| {
        let auth = format!("Bearer {token}");
        serve.request(
            "POST",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("Mcp-Session-Id", sid),
                ("Authorization", &auth),
            ],
            body,
        )
    };
    let echo = call(1, "echo", r#"{"x":1}"#);
    assert!(post(&a, "token-a", &echo).json()["result"].is_object());
    let blocked = post(&b, "token-b", &echo).json();
    assert_eq!(blocked["error"]["data"]["rule"], "no-echo", "{blocked}");
    // Team B's token cannot use team A's session.
    let r = post(&a, "token-b", &echo);
    assert_eq!(r.status, 403, "{}", r.text());
    let entries = util::audit_entries(&dir);
    let e = entries.iter().find(|e| e["rule"] == "no-echo").unwrap();
    assert_eq!(e["tenant"], "team-b");
    assert_eq!(e["session"], serde_json::Value::String(b));
}

#[test]
fn a_page_from_another_origin_gets_403_and_allowed_ones_go_on() {
    let dir = util::scratch("serve-origin");
    let serve = Serve::start(&dir, &["--allow-origin", "https://app.example.com"], &[]);
    let post = |origin: &str| {
        serve.request(
            "POST",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("Origin", origin),
            ],
            INITIALIZE,
        )
    };
    let evil = post("https://evil.example");
    assert_eq!(evil.status, 403, "{}", evil.text());
    let rebind = post("http://localhost.evil.example");
    assert_eq!(rebind.status, 403);
    assert_eq!(post("https://app.example.com").status, 200);
    assert_eq!(post("http://localhost:3000").status, 200);
    assert!(util::audit_entries(&dir)
        .iter()
        .any(|e| e["rule"] == "origin_rejected"));
}

#[test]
fn past_the_session_limit_initialize_gets_503_until_one_ends() {
    let dir = util::scratch("serve-max");
    let serve = Serve::start(&dir, &["--max-sessions", "2"], &[]);
    let one = serve.init(&[]);
    serve.init(&[]);
    let r = serve.post(None, INITIALIZE);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        serve
            .request("DELETE", &[("Mcp-Session-Id", &one)], "")
            .status,
        200
    );
    serve.init(&[]);
}

#[test]
fn an_idle_session_is_ended_with_its_server() {
    let dir = util::scratch("serve-idle");
    let pid_file = dir.join("server.pid");
    let serve = Serve::start(
        &dir,
        &["--session-idle", "1"],
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    let sid = serve.init(&[]);
    let pid = util::read_pid(&pid_file, LIMIT);
    util::wait_dead(pid, LIMIT);
    assert_eq!(serve.post(Some(&sid), &call(1, "echo", "{}")).status, 404);
}

#[test]
fn a_body_too_large_gets_413_and_a_dribbled_head_is_cut_off_without_stalling_others() {
    let dir = util::scratch("serve-limits");
    let serve = Serve::start(&dir, &["--max-body", "1K", "--head-timeout", "1"], &[]);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"pad":"{}"}}}}"#,
        "x".repeat(2000)
    );
    assert_eq!(serve.post(None, &big).status, 413);
    // One byte every 100 ms: the head never completes within a second.
    let mut slow = std::net::TcpStream::connect(serve.addr).unwrap();
    slow.set_read_timeout(Some(LIMIT)).unwrap();
    let start = Instant::now();
    let dribbler = std::thread::spawn(move || {
        for b in b"POST /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut slow, &mut rest);
        rest
    });
    // Meanwhile another client is served at once.
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    serve.init(&[]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let rest = dribbler.join().unwrap();
    let cut = start.elapsed();
    assert!(cut < Duration::from_secs(6), "cut off after {cut:?}");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[test]
fn past_the_connection_limit_a_connection_gets_503() {
    let dir = util::scratch("serve-conns");
    let serve = Serve::start(&dir, &["--max-connections", "2"], &[]);
    let _a = serve.connect();
    let _b = serve.connect();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = serve.connect();
    c.send("GET", "/mcp", &[], b"");
    assert_eq!(c.response().status, 503);
}

#[test]
fn a_non_loopback_address_without_tokens_gets_a_loud_warning() {
    let dir = util::scratch("serve-warn");
    let mut cmd = serve_command(&dir);
    cmd.args(["--listen", "0.0.0.0:0", "--"])
        .arg(util::fake_server());
    let serve = Serve::spawn(cmd).unwrap();
    let err = serve.stderr();
    assert!(err.contains("WITHOUT AUTHENTICATION"), "{err}");
    let dir2 = util::scratch("serve-nowarn");
    let tokens = tokens_file(&dir2);
    let quiet = Serve::start(&dir2, &["--tokens", &tokens], &[]);
    assert!(!quiet.stderr().contains("WITHOUT AUTHENTICATION"));
}

#[test]
fn bad_serve_options_are_usage_errors() {
    let dir = util::scratch("serve-usage");
    for (args, says) in [
        (vec![], "SERVER_CMD"),
        (vec!["--listen", "nowhere", "x"], "--listen"),
        (vec!["--max-sessions", "0", "x"], "--max-sessions"),
        (vec!["--tls-cert", "c.pem", "x"], "--tls-key"),
    ] {
        let out = serve_command(&dir).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let bad_tokens = dir.join("bad.yaml");
    std::fs::write(&bad_tokens, "tokens: [{sha256: nothex, tenant: x}]\n").unwrap();
    let out = serve_command(&dir)
        .args(["--tokens", bad_tokens.to_str().unwrap(), "--"])
        .arg(util::fake_server())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_token_from_sentinel_tokens_new_is_accepted_after_a_reload() {
    let dir = util::scratch("serve-tokens-new");
    let file = dir.join("tokens.yaml");
    let new = |tenant: &str| {
        let out = util::bare(&dir)
            .args(["tokens", "new", "--tenant", tenant, "--file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let first = new("team-a");
    assert!(first.starts_with("snt_") && first.len() == 68, "{first}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&first), "the token itself is never stored");
    let serve = Serve::start(
        &dir,
        &[
            "--tokens",
            file.to_str().unwrap(),
            "--reload-interval",
            "100",
        ],
        &[],
    );
    serve.init(&[("Authorization", &format!("Bearer {first}"))]);
    // A token added while serve runs is picked up by the reload.
    let second = new("team-b");
    let bearer = format!("Bearer {second}");
    let start = Instant::now();
    loop {
        let r = serve.request(
            "POST",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("Authorization", &bearer),
            ],
            INITIALIZE,
        );
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 401);
        assert!(start.elapsed() < LIMIT, "the new token was never accepted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = util::bare(&dir).args(["tokens", "new"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn with_a_certificate_serve_speaks_https_only() {
    let dir = util::scratch("serve-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "2"])
        .args([
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed for this test");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let serve = Serve::start(
        &dir,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(serve.stderr().contains("listening on https://"));
    // curl with the certificate as its only trust anchor.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&cert)
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            "Accept: application/json",
        ])
        .args(["--data", INITIALIZE])
        .arg(format!("https://localhost:{}/mcp", serve.addr.port()))
        .output()
        .expect("curl is needed for this test");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body.contains("\"protocolVersion\""),
        "{body} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain HTTP to the TLS port gets no MCP answer.
    let plain = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--data", INITIALIZE])
        .arg(format!("http://127.0.0.1:{}/mcp", serve.addr.port()))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("protocolVersion"));
}
