//! Approval through the client's own elicitation (protocol 2025-06-18 to 2025-11-25).

use super::*;

/// Reads lines until one satisfies `want`, returning it and the lines skipped.
fn until(p: &Proxy, want: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    loop {
        let v = p.recv();
        if want(&v) {
            return (v, skipped);
        }
        skipped.push(v);
    }
}

fn is_elicitation(v: &Value) -> bool {
    v["method"] == "elicitation/create"
}

fn answer(p: &mut Proxy, elicitation: &Value, result: Value) {
    p.send(&json!({"jsonrpc":"2.0","id":elicitation["id"],"result":result}));
}

fn accept(decision: &str) -> Value {
    json!({"action":"accept","content":{"decision":decision}})
}

#[test]
fn without_any_channel_the_call_is_refused_at_once_saying_how_to_open_one() {
    let mut p = Proxy::start("nochannel", "30s");
    p.initialize(false);
    let started = Instant::now();
    p.send(&call(
        json!(1),
        "query",
        json!({"query": "DROP TABLE users"}),
    ));
    let r = p.recv();
    assert!(started.elapsed() < Duration::from_secs(5), "no silent wait");
    assert_eq!(r["id"], 1);
    assert_eq!(r["error"]["code"], -32012, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("no approval channel is open"), "{msg}");
    assert!(msg.contains("sentinel approvals watch"), "{msg}");
    assert!(msg.contains("DROP"), "{msg}");
    assert!(p.server_calls().is_empty());
    let (audit, _) = p.finish();
    assert_eq!(
        with_action(&audit, "approval_required").len(),
        1,
        "{audit:?}"
    );
}

#[test]
fn an_approved_elicitation_forwards_the_call_byte_for_byte_and_the_answer_stays_here() {
    let mut p = Proxy::start("approve", "30s");
    p.initialize(true);
    // Odd spacing and key order: what reaches the server must be these very bytes.
    let line = r#"{"params":{"arguments":{"query":"DROP TABLE users\u202e -- x"},"name":"query"},  "id":"a1","method":"tools/call","jsonrpc":"2.0"}"#;
    p.s.send(line);
    let e = p.recv();
    assert!(is_elicitation(&e), "{e}");
    let eid = e["id"].as_str().expect("a string id").to_owned();
    assert!(eid.starts_with("sentinel-"), "{eid}");
    assert_eq!(e["params"]["mode"], "form");
    let message = e["params"]["message"].as_str().unwrap();
    for part in [
        "Tool: query",
        "sql.destructive",
        "DROP TABLE users\\u{202e} -- x",
        "Server:",
    ] {
        assert!(message.contains(part), "{part:?} missing in {message}");
    }
    assert!(
        !message.contains('\u{202e}'),
        "bidi override shown raw: {message}"
    );
    let schema = &e["params"]["requestedSchema"];
    assert_eq!(schema["required"], json!(["decision"]));
    assert!(p.server_calls().is_empty(), "forwarded before approval");
    answer(&mut p, &e, accept("approve"));
    let r = p.recv();
    assert_eq!(r["id"], "a1", "{r}");
    assert!(r["result"].is_object(), "{r}");
    let raw = std::fs::read_to_string(p.dir.join("server.log")).unwrap();
    assert!(raw.lines().any(|l| l == line), "not byte for byte: {raw}");
    assert!(
        !raw.contains(&eid),
        "the client's answer reached the server: {raw}"
    );
    let (audit, _) = p.finish();
    let held = with_action(&audit, "held");
    assert_eq!(held.len(), 1, "{audit:?}");
    assert_eq!(held[0]["approval"]["channel"], "client");
    let approved = with_action(&audit, "approved");
    assert_eq!(approved.len(), 1, "{audit:?}");
    let a = &approved[0]["approval"];
    assert_eq!(a["channel"], "client");
    assert_eq!(a["answer"], "approve");
    assert_eq!(a["by"], "the client (scripted-client)");
    assert!(a["waited_ms"].is_u64(), "{a}");
}

#[test]
fn decline_cancel_deny_an_error_or_a_malformed_answer_deny_the_call() {
    let mut p = Proxy::start("deny", "30s");
    p.initialize(true);
    let answers = [
        json!({"result": {"action": "decline"}}),
        json!({"result": {"action": "cancel"}}),
        json!({"result": accept("deny")}),
        json!({"result": {"action": "accept", "content": {"decision": "yes"}}}),
        json!({"error": {"code": -32603, "message": "no UI"}}),
    ];
    for (i, a) in answers.iter().enumerate() {
        p.send(&call(json!(i), "query", json!({"query": "DELETE FROM t"})));
        let e = p.recv();
        assert!(is_elicitation(&e), "{e}");
        let mut reply = a.clone();
        reply["jsonrpc"] = json!("2.0");
        reply["id"] = e["id"].clone();
        p.send(&reply);
        let (r, _) = until(&p, |v| v["id"] == json!(i));
        assert_eq!(r["error"]["code"], -32012, "{a}: {r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with("Not approved"), "{msg}");
        assert_eq!(r["error"]["data"]["approval"], "denied");
    }
    assert!(p.server_calls().is_empty(), "{:?}", p.server_calls());
    let (audit, _) = p.finish();
    assert_eq!(with_action(&audit, "denied").len(), 5, "{audit:?}");
}

#[test]
fn silence_past_the_timeout_denies_and_cancels_the_open_elicitation() {
    let mut p = Proxy::start("timeout", "1s");
    p.initialize(true);
    p.send(&call(json!(7), "query", json!({"query": "DROP TABLE t"})));
    let e = p.recv();
    assert!(is_elicitation(&e));
    let started = Instant::now();
    let (r, skipped) = until(&p, |v| v["id"] == 7);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r["error"]["code"], -32012);
    assert_eq!(r["error"]["data"]["approval"], "timed out");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nobody answered within 1 s"));
    // The open elicitation is cancelled before the call is answered.
    let cancels: Vec<_> = skipped
        .iter()
        .filter(|v| v["method"] == "notifications/cancelled" && v["params"]["requestId"] == e["id"])
        .cloned()
        .collect();
    assert_eq!(cancels.len(), 1, "{skipped:?}");
    // A late answer is taken by Sentinel, never forwarded.
    answer(&mut p, &e, accept("approve"));
    p.send(&call(json!(8), "echo", json!({"x": 1})));
    let (r8, _) = until(&p, |v| v["id"] == 8);
    assert!(r8["result"].is_object());
    assert_eq!(
        p.server_calls().len(),
        1,
        "only the echo reached the server"
    );
    let (audit, _) = p.finish();
    let denied = with_action(&audit, "denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["approval"]["answer"], "timeout");
}

#[test]
fn the_client_cancelling_a_held_call_drops_it_and_cancels_the_elicitation() {
    let mut p = Proxy::start("cancel", "30s");
    p.initialize(true);
    p.send(&call(json!(3), "query", json!({"query": "DROP TABLE t"})));
    let e = p.recv();
    assert!(is_elicitation(&e));
    p.send(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"user stop"}}));
    let c = p.recv();
    assert_eq!(c["method"], "notifications/cancelled", "{c}");
    assert_eq!(c["params"]["requestId"], e["id"]);
    // Approving afterwards changes nothing.
    answer(&mut p, &e, accept("approve"));
    p.send(&call(json!(4), "echo", json!({})));
    let r = p.recv();
    assert_eq!(r["id"], 4, "no answer for the cancelled request: {r}");
    let lines = p.server_lines();
    assert!(
        lines
            .iter()
            .all(|l| l["method"] != "notifications/cancelled" && l["id"] != 3),
        "the server saw the held call or its cancellation: {lines:?}"
    );
    let (audit, _) = p.finish();
    assert_eq!(
        with_action(&audit, "denied")[0]["approval"]["answer"],
        "cancelled"
    );
}

#[test]
fn a_client_disconnecting_while_a_call_is_held_ends_the_session_without_forwarding_it() {
    let mut p = Proxy::start("disconnect", "30s");
    p.initialize(true);
    p.send(&call(json!(5), "query", json!({"query": "TRUNCATE t"})));
    assert!(is_elicitation(&p.recv()));
    let started = Instant::now();
    let (audit, _) = p.finish();
    assert!(started.elapsed() < Duration::from_secs(8));
    let denied = with_action(&audit, "denied");
    assert_eq!(denied.len(), 1, "{audit:?}");
    assert_eq!(denied[0]["approval"]["answer"], "dropped");
}

#[test]
fn several_held_calls_are_released_in_the_order_answered_while_other_traffic_flows() {
    let mut p = Proxy::start("several", "30s");
    p.initialize(true);
    let mut elicitations = Vec::new();
    for i in 1..=3 {
        p.send(&call(
            json!(i),
            "query",
            json!({"query": format!("DROP TABLE t{i}")}),
        ));
        let e = p.recv();
        assert!(is_elicitation(&e), "{e}");
        elicitations.push(e);
    }
    // Other requests and the server's answers flow while three calls are held.
    for id in [10, 11] {
        p.send(&call(json!(id), "echo", json!({"n": id})));
        assert_eq!(p.recv()["id"], id);
    }
    p.send(&json!({"jsonrpc":"2.0","id":12,"method":"ping"}));
    assert_eq!(p.recv()["id"], 12);
    answer(&mut p, &elicitations[2], accept("approve"));
    let (r3, _) = until(&p, |v| v["id"] == 3);
    assert!(r3["result"].is_object(), "{r3}");
    answer(&mut p, &elicitations[0], json!({"action": "decline"}));
    let (r1, _) = until(&p, |v| v["id"] == 1);
    assert_eq!(r1["error"]["code"], -32012);
    answer(&mut p, &elicitations[1], accept("approve"));
    let (r2, _) = until(&p, |v| v["id"] == 2);
    assert!(r2["result"].is_object(), "{r2}");
    let order: Vec<Value> = p.server_calls().iter().map(|c| c["id"].clone()).collect();
    assert_eq!(order, vec![json!(10), json!(11), json!(3), json!(2)]);
    p.finish();
}

#[test]
fn the_servers_own_elicitation_and_sentinels_never_mix_up_their_answers() {
    let mut p = Proxy::start("collide", "30s");
    p.initialize(true);
    p.send(&call(json!(1), "query", json!({"query": "DROP TABLE t"})));
    let ours = p.recv();
    assert!(is_elicitation(&ours));
    // The server asks the client too, with an id made to look like Sentinel's.
    p.send(&call(json!(2), "ask", json!({})));
    let theirs = p.recv();
    assert!(is_elicitation(&theirs), "{theirs}");
    assert_eq!(theirs["id"], "sentinel-1");
    assert_ne!(theirs["id"], ours["id"]);
    // The client answers the server's first: it reaches the server, which ends call 2.
    answer(
        &mut p,
        &theirs,
        json!({"action": "accept", "content": {"ok": true}}),
    );
    let (r2, _) = until(&p, |v| v["id"] == 2);
    assert_eq!(
        r2["result"]["content"][0]["text"], "answered sentinel-1",
        "{r2}"
    );
    answer(&mut p, &ours, accept("approve"));
    let (r1, _) = until(&p, |v| v["id"] == 1);
    assert!(r1["result"].is_object());
    let raw = std::fs::read_to_string(p.dir.join("server.log")).unwrap();
    assert!(!raw.contains(ours["id"].as_str().unwrap()), "{raw}");
    assert!(raw.contains(r#""id":"sentinel-1""#), "{raw}");
    p.finish();
}

#[test]
fn approve_for_the_session_covers_this_exact_call_only_and_only_where_the_rule_allows() {
    let mut p = Proxy::start("session", "30s");
    p.initialize(true);
    p.send(&call(json!(1), "query", json!({"query": "DROP TABLE t"})));
    let e = p.recv();
    let offered = e["params"]["requestedSchema"]["properties"]["decision"]["enum"].clone();
    assert!(
        offered
            .as_array()
            .unwrap()
            .contains(&json!("approve_session")),
        "{offered}"
    );
    answer(&mut p, &e, accept("approve_session"));
    assert!(p.recv()["result"].is_object());
    // The same call again: forwarded at once (arguments compared in canonical form).
    p.send(&call(json!(2), "query", json!({"query": "DROP TABLE t"})));
    let r = p.recv();
    assert_eq!(r["id"], 2, "asked again: {r}");
    // Another statement: asked.
    p.send(&call(json!(3), "query", json!({"query": "DROP TABLE u"})));
    let e3 = p.recv();
    assert!(is_elicitation(&e3), "{e3}");
    answer(&mut p, &e3, json!({"action": "decline"}));
    until(&p, |v| v["id"] == 3);
    // `deploy` forbids the session option: it is not offered, and an answer claiming it
    // approves once only.
    p.send(&call(json!(4), "deploy", json!({"env": "prod"})));
    let e4 = p.recv();
    let offered = &e4["params"]["requestedSchema"]["properties"]["decision"]["enum"];
    assert!(
        !offered
            .as_array()
            .unwrap()
            .contains(&json!("approve_session")),
        "{offered}"
    );
    answer(&mut p, &e4, accept("approve_session"));
    until(&p, |v| v["id"] == 4);
    p.send(&call(json!(5), "deploy", json!({"env": "prod"})));
    assert!(
        is_elicitation(&p.recv()),
        "deploy was approved for the session"
    );
    let (audit, _) = p.finish();
    assert!(audit
        .iter()
        .any(|e| e["action"] == "approved" && e["approval"]["channel"] == "session"));
}

#[test]
fn a_rule_that_insists_on_the_local_channel_never_asks_the_client() {
    let mut p = Proxy::start("localonly", "30s");
    p.initialize(true);
    p.send(&call(json!(1), "ship", json!({})));
    let r = p.recv();
    assert_eq!(r["id"], 1, "the client was asked: {r}");
    assert_eq!(r["error"]["code"], -32012);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("only this host's channel"), "{msg}");
    p.finish();
}

#[test]
fn a_progress_token_gets_progress_notifications_while_the_call_is_held() {
    let mut p = Proxy::start("progress", "2s");
    p.initialize(true);
    let mut c = call(json!(9), "query", json!({"query": "DROP TABLE t"}));
    c["params"]["_meta"] = json!({"progressToken": "tok-9"});
    p.send(&c);
    assert!(is_elicitation(&p.recv()));
    let (_, skipped) = until(&p, |v| v["id"] == 9);
    let progress: Vec<_> = skipped
        .iter()
        .filter(|v| v["method"] == "notifications/progress")
        .collect();
    assert!(!progress.is_empty(), "{skipped:?}");
    assert_eq!(progress[0]["params"]["progressToken"], "tok-9");
    p.finish();
}

#[test]
fn the_breaker_counts_an_approved_call_when_it_is_forwarded_and_never_a_held_or_denied_one() {
    let dir = util::scratch("breaker");
    let policy = dir.join("breaker.yaml");
    std::fs::write(
        &policy,
        "version: 1\nprofiles:\n  default:\n    rules:\n      - id: deploy\n        tools: [deploy]\n        action: approve\n    breaker:\n      max_calls: 2\n",
    )
    .unwrap();
    let mut cmd = sentinel_in(&dir);
    cmd.arg("--policy")
        .arg(&policy)
        .arg("--")
        .arg(util::fake_server())
        .arg("--log")
        .arg(dir.join("server.log"));
    let mut p = Proxy {
        s: Session::spawn(&mut cmd),
        dir,
    };
    p.initialize(true);
    p.send(&call(json!(1), "deploy", json!({})));
    let e1 = p.recv();
    assert!(is_elicitation(&e1));
    p.send(&call(json!(2), "echo", json!({})));
    assert!(p.recv()["result"].is_object(), "call 1 of 2");
    answer(&mut p, &e1, json!({"action": "decline"}));
    until(&p, |v| v["id"] == 1);
    p.send(&call(json!(3), "deploy", json!({})));
    let e3 = p.recv();
    assert!(is_elicitation(&e3));
    answer(&mut p, &e3, accept("approve"));
    let (r3, _) = until(&p, |v| v["id"] == 3);
    assert!(
        r3["result"].is_object(),
        "call 2 of 2 (held and denied calls did not count): {r3}"
    );
    p.send(&call(json!(4), "echo", json!({})));
    let r4 = p.recv();
    assert_eq!(r4["error"]["data"]["rule"], "breaker.max_calls", "{r4}");
    // An approval the breaker refuses is answered, not forwarded.
    p.send(&call(json!(5), "deploy", json!({})));
    let e5 = p.recv();
    answer(&mut p, &e5, accept("approve"));
    let (r5, _) = until(&p, |v| v["id"] == 5);
    assert_eq!(r5["error"]["data"]["rule"], "breaker.max_calls", "{r5}");
    let ids: Vec<Value> = p.server_calls().iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids, vec![json!(2), json!(3)]);
    p.finish();
}

#[test]
fn a_call_held_inside_a_batch_lets_the_rest_of_the_batch_through() {
    let mut p = Proxy::start("batch", "30s");
    p.initialize(true);
    let batch = json!([
        call(json!(1), "query", json!({"query": "DROP TABLE t"})),
        call(json!(2), "echo", json!({"n": 2})),
    ]);
    p.send(&batch);
    let mut elicitation = None;
    let mut batch_answer = None;
    while elicitation.is_none() || batch_answer.is_none() {
        let v = p.recv();
        if is_elicitation(&v) {
            elicitation = Some(v);
        } else {
            batch_answer = Some(v);
        }
    }
    let answers = batch_answer.unwrap();
    let ids: Vec<Value> = answers
        .as_array()
        .expect("the batch's answer")
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(2)], "{answers}");
    answer(&mut p, &elicitation.unwrap(), accept("approve"));
    let (r1, _) = until(&p, |v| v["id"] == 1);
    assert!(r1["result"].is_object(), "{r1}");
    p.finish();
}
