//! The server's own requests to the client (sampling, elicitation, roots) are recorded when
//! the policy asks (`audit: {server_requests: true}`), and pass untouched either way.

use super::*;

fn ask(p: &mut Proxy) -> Value {
    p.s.send(&util::tool_call("9", "ask", "{}"));
    let request = p.s.recv(T);
    assert_eq!(request["method"], "elicitation/create", "{request}");
    let answer = json!({"jsonrpc":"2.0","id":request["id"],"result":{"action":"decline"}});
    p.s.send(&answer.to_string());
    assert_eq!(p.s.recv(T)["id"], 9);
    request
}

#[test]
fn server_requests_are_audited_when_the_policy_asks() {
    let tools = json!({"tools": [tool("ask", "Ask the user")]});
    let mut p = Proxy::start(
        "requests-audited",
        "audit: {server_requests: true}\nrules: []\n",
        &tools,
    );
    let request = ask(&mut p);
    let entries: Vec<Value> = p
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "server_request")
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["method"], "elicitation/create");
    assert_eq!(entries[0]["message_id"], request["id"]);
    assert_eq!(
        entries[0]["details"]["params"]["message"],
        "the server asks"
    );
    p.finish();
    let mut p = Proxy::start("requests-quiet", "rules: []\n", &tools);
    ask(&mut p);
    assert!(p.audit().iter().all(|e| e["action"] != "server_request"));
    p.finish();
}
