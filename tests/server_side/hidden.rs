//! Tools the policy refuses outright are left out of `tools/list`; their calls stay refused.

use super::*;

fn four_tools() -> Value {
    json!({"tools": [tool("query", "Run a query"), tool("drop_db", "Drop the database"),
                     tool("admin_reset", "Reset"), tool("echo", "Echo")]})
}

#[test]
fn a_denied_tool_is_not_listed_and_its_call_is_refused() {
    let mut p = Proxy::start(
        "hidden-deny",
        "rules:\n  - id: no-drop\n    tools: [drop_db, \"admin_*\"]\n    action: block\n",
        &four_tools(),
    );
    assert_eq!(p.tool_names(), ["query", "echo"]);
    let answer = p.call("drop_db", json!({}));
    assert_eq!(answer["error"]["data"]["rule"], "no-drop", "{answer}");
    assert_eq!(p.call("echo", json!({"a": 1}))["result"]["isError"], false);
    assert_eq!(p.server_calls(), ["echo"]);
    let hidden: Vec<Value> = p
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "hidden")
        .collect();
    assert_eq!(hidden.len(), 2, "{hidden:?}");
    assert_eq!(hidden[0]["tool"], "drop_db");
    assert_eq!(hidden[0]["rule"], "no-drop");
    assert_eq!(hidden[0]["reason"], "refused_by_policy");
    p.finish();
}

#[test]
fn an_allow_list_shows_only_the_allowed_tools() {
    let mut p = Proxy::start(
        "hidden-allow",
        "default_action: block\nrules:\n  - id: reads\n    tools: [query, echo]\n    action: allow\n",
        &four_tools(),
    );
    assert_eq!(p.tool_names(), ["query", "echo"]);
    let answer = p.call("admin_reset", json!({}));
    assert_eq!(answer["error"]["code"], -32010, "{answer}");
    p.finish();
}

#[test]
fn a_tool_refused_only_for_some_arguments_stays_listed() {
    // The SQL guard refuses some queries, not the tool; a conditional block likewise.
    let mut p = Proxy::start(
        "hidden-conditional",
        "rules:\n  - id: no-big-echo\n    tools: [echo]\n    max_argument_bytes: 100\n    action: block\n  - id: sql\n    sql: {}\n    action: block\n",
        &four_tools(),
    );
    assert_eq!(p.tool_names(), ["query", "drop_db", "admin_reset", "echo"]);
    p.finish();
}

#[test]
fn in_monitor_mode_or_when_switched_off_nothing_is_hidden() {
    let deny = "rules:\n  - id: no-drop\n    tools: [drop_db]\n    action: block\n";
    let mut p = Proxy::start(
        "hidden-monitor",
        &format!("mode: monitor\n{deny}"),
        &four_tools(),
    );
    assert_eq!(p.tool_names().len(), 4);
    p.finish();
    let mut p = Proxy::start(
        "hidden-off",
        &format!("server: {{hide_refused_tools: false}}\n{deny}"),
        &four_tools(),
    );
    assert_eq!(p.tool_names().len(), 4);
    // Still refused when called.
    assert_eq!(p.call("drop_db", json!({}))["error"]["code"], -32010);
    p.finish();
}
