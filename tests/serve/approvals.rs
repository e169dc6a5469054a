//! `sentinel approvals` on the host sees the calls every HTTP session holds: with a `watch`
//! running and a client that declared no elicitation, a destructive call waits; `list` shows
//! the calls of two sessions under ids unique in the process, and each answer reaches the
//! session that holds the call.

use super::http::{call, Serve, LIMIT};
use super::util;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

const PLAIN_INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

#[test]
fn held_calls_of_http_sessions_are_answered_from_the_host() {
    let dir = util::scratch("serve-approvals");
    // The runtime directory hermetic() gives every process of this test: private, as the
    // channel requires.
    let xdg = dir.join("xdg-runtime");
    std::fs::create_dir_all(&xdg).unwrap();
    std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let approvals = |args: &[&str]| {
        let mut c = util::bare(&dir);
        c.arg("approvals").args(args);
        c
    };
    let watch = util::Session::spawn(&mut approvals(&["watch"]));
    let marker = xdg
        .join("mcp-sentinel")
        .join(format!("watch-{}.sock", watch.child.id()));
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < LIMIT, "no watch marker");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let serve = Serve::start(&dir, &[], &[]);
    let open = || {
        let r = serve.post(None, PLAIN_INIT);
        let sid = r.header("mcp-session-id").unwrap().to_owned();
        serve.post(
            Some(&sid),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        sid
    };
    let (a, b) = (open(), open());
    let held_call =
        |sid: &str, id: u64| serve.stream(sid, &call(id, "query", r#"{"sql":"DROP TABLE users"}"#));
    let mut ca = held_call(&a, 1);
    let mut cb = held_call(&b, 2);
    let mut held = Vec::new();
    while held.len() < 2 {
        let v = watch.recv(LIMIT);
        if v["event"] == "held" {
            held.push(v);
        }
    }
    let ids: Vec<String> = held
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(ids[0], ids[1], "ids are unique across sessions");
    let out = approvals(&["list", "--json"]).output().unwrap();
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Which id is whose: the arguments are the same, so answer both and check each stream.
    let approve = approvals(&["approve", &ids[0]]).output().unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    let deny = approvals(&["deny", &ids[1], "--reason", "not today"])
        .output()
        .unwrap();
    assert!(
        deny.status.success(),
        "{}",
        String::from_utf8_lossy(&deny.stderr)
    );
    let ra = ca.messages(1).remove(0).1;
    let rb = cb.messages(1).remove(0).1;
    let (approved, denied) = if ra["result"].is_object() {
        (ra, rb)
    } else {
        (rb, ra)
    };
    assert!(approved["result"].is_object(), "{approved}");
    assert!(denied.to_string().contains("not today"), "{denied}");
}
