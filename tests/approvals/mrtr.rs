//! Approval through the 2026-07-28 multi round-trip pattern: a scripted client that follows
//! `schema/2026-07-28/schema.ts` (`_meta` with the protocol version and capabilities on every
//! request; `InputRequiredResult`; a retry with `inputResponses` and `requestState`).

use super::*;

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "mrtr-client", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
    })
}

fn first(id: i64, sql: &str) -> Value {
    let mut c = call(json!(id), "query", json!({"query": sql}));
    c["params"]["_meta"] = meta();
    c
}

fn retry(id: i64, sql: &str, state: &Value, decision: &str) -> Value {
    let mut c = first(id, sql);
    c["params"]["requestState"] = state.clone();
    c["params"]["inputResponses"] = json!({
        "sentinel_approval": {"action": "accept", "content": {"decision": decision}}
    });
    c
}

/// Starts a session (no `initialize`: 2026-07-28 has none) with a manual clock.
fn start(name: &str) -> (Proxy, PathBuf) {
    let mut clock = PathBuf::new();
    let p = Proxy::start_with(name, "30s", |cmd, dir| {
        clock = dir.join("clock");
        std::fs::write(&clock, "1767225600").unwrap();
        cmd.env("SENTINEL_TEST_CLOCK", &clock);
    });
    (p, clock)
}

fn input_required(p: &mut Proxy, id: i64, sql: &str) -> Value {
    p.send(&first(id, sql));
    let r = p.recv();
    assert_eq!(r["id"], id, "{r}");
    let result = &r["result"];
    assert_eq!(result["resultType"], "input_required", "{r}");
    let ask = &result["inputRequests"]["sentinel_approval"];
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["mode"], "form");
    assert!(ask["params"]["message"].as_str().unwrap().contains(sql));
    result["requestState"].clone()
}

#[test]
fn an_approving_retry_is_forwarded_without_sentinels_fields() {
    let (mut p, _) = start("mrtr-ok");
    let state = input_required(&mut p, 1, "DROP TABLE t");
    assert!(state.as_str().unwrap().starts_with("sntl1."));
    assert!(p.server_calls().is_empty(), "forwarded before approval");
    p.send(&retry(2, "DROP TABLE t", &state, "approve"));
    let r = p.recv();
    assert_eq!(r["id"], 2, "{r}");
    assert!(r["result"]["content"].is_array(), "{r}");
    let calls = p.server_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let params = &calls[0]["params"];
    assert!(params.get("requestState").is_none(), "{params}");
    assert!(params.get("inputResponses").is_none(), "{params}");
    assert_eq!(params["arguments"], json!({"query": "DROP TABLE t"}));
    assert_eq!(params["_meta"], meta(), "the client's own fields are kept");
    // Used once: the same state again is a replay.
    p.send(&retry(3, "DROP TABLE t", &state, "approve"));
    let r = p.recv();
    assert_eq!(r["error"]["code"], -32012, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{r}"
    );
    assert_eq!(p.server_calls().len(), 1);
    let (audit, _) = p.finish();
    let approved = with_action(&audit, "approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["approval"]["channel"], "client-retry");
}

#[test]
fn forged_mismatched_and_expired_states_are_refused() {
    let (mut p, clock) = start("mrtr-bad");
    let state = input_required(&mut p, 1, "DROP TABLE t");
    let s = state.as_str().unwrap();
    // Forged: one character changed, or made up.
    let mut forged = s.to_owned().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let cases = [
        (
            json!(String::from_utf8(forged).unwrap()),
            "DROP TABLE t",
            "not issued",
        ),
        (json!("sntl1.made.up"), "DROP TABLE t", "not issued"),
        (json!("anything"), "DROP TABLE t", "not issued"),
        // Mismatched: a state for another statement.
        (state.clone(), "DROP TABLE secrets", "different"),
    ];
    for (i, (st, sql, why)) in cases.iter().enumerate() {
        p.send(&retry(10 + i as i64, sql, st, "approve"));
        let r = p.recv();
        assert_eq!(r["error"]["code"], -32012, "{st}: {r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains(why), "{why:?} not in {msg}");
    }
    // Expired: 31 s later (the rule's timeout is 30 s).
    std::fs::write(&clock, "1767225631").unwrap();
    p.send(&retry(20, "DROP TABLE t", &state, "approve"));
    let r = p.recv();
    assert!(
        r["error"]["message"].as_str().unwrap().contains("expired"),
        "{r}"
    );
    assert!(p.server_calls().is_empty(), "{:?}", p.server_calls());
    p.finish();
}

#[test]
fn a_declining_retry_is_denied_and_a_session_approval_needs_no_second_round() {
    let (mut p, _) = start("mrtr-deny");
    let state = input_required(&mut p, 1, "DELETE FROM t");
    let mut declined = retry(2, "DELETE FROM t", &state, "approve");
    declined["params"]["inputResponses"]["sentinel_approval"] = json!({"action": "decline"});
    p.send(&declined);
    let r = p.recv();
    assert_eq!(r["error"]["code"], -32012, "{r}");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Not approved"));
    let state = input_required(&mut p, 3, "DELETE FROM t");
    p.send(&retry(4, "DELETE FROM t", &state, "approve_session"));
    assert!(p.recv()["result"].is_object());
    // The same call, as a first round, goes straight through now.
    p.send(&first(5, "DELETE FROM t"));
    let r = p.recv();
    assert_eq!(r["id"], 5);
    assert!(r["result"]["content"].is_array(), "{r}");
    assert_eq!(p.server_calls().len(), 2);
    p.finish();
}
