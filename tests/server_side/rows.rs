//! Row caps on tools that take SQL: the rows of a result are counted in each shape servers
//! write (structured content, a JSON array, a Python literal, CSV, a markdown table); over
//! the cap the result is replaced by an error, cut to the cap, or reported.

use super::*;

fn tools() -> Value {
    json!({"tools": [tool("rows", "Run a SQL query and return its rows")]})
}

/// A session that has listed the tools, as clients do: the definition says `rows` takes SQL.
fn listed(name: &str, profile: &str) -> Proxy {
    let mut p = Proxy::start(name, profile, &tools());
    assert_eq!(p.tool_names(), ["rows"]);
    p
}

fn rows_call(p: &mut Proxy, n: u64, shape: &str) -> Value {
    p.call(
        "rows",
        json!({"n": n, "shape": shape, "query": "SELECT * FROM users"}),
    )
}

#[test]
fn a_result_over_its_row_cap_is_refused_in_every_shape() {
    let mut p = listed(
        "rows-block",
        "server:\n  responses:\n    - tools: [rows]\n      max_rows: 10\n      action: block\n",
    );
    for shape in ["json", "python", "csv", "markdown", "structured"] {
        let under = rows_call(&mut p, 10, shape);
        assert_eq!(under["result"]["isError"], false, "{shape}: {under}");
        let over = rows_call(&mut p, 11, shape);
        assert_eq!(over["result"]["isError"], true, "{shape}: {over}");
        let text = text_of(&over);
        assert!(
            text.contains("11 rows") && text.contains("cap of 10 rows"),
            "{shape}: {text}"
        );
        assert!(!text.contains("user 1"), "{shape}: rows leaked: {text}");
    }
    let capped: Vec<Value> = p
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "capped")
        .collect();
    assert_eq!(capped.len(), 5);
    let shapes: Vec<&str> = capped
        .iter()
        .map(|e| e["details"]["shape"].as_str().unwrap())
        .collect();
    assert_eq!(shapes, ["json", "python", "csv", "markdown", "structured"]);
    p.finish();
}

#[test]
fn truncate_keeps_the_first_rows_in_the_shape_the_server_wrote() {
    let mut p = listed(
        "rows-truncate",
        "server:\n  responses:\n    - tools: [rows]\n      max_rows: 3\n      action: truncate\n",
    );
    let cut = rows_call(&mut p, 50, "python");
    let text = text_of(&cut);
    assert!(
        text.starts_with("[{'id': 1,") && text.contains("'user 3'"),
        "{text}"
    );
    assert!(!text.contains("'user 4'"), "{text}");
    let all = serde_json::to_string(&cut["result"]).unwrap();
    assert!(all.contains("3 of 50 rows shown"), "{all}");
    p.finish();
}

#[test]
fn the_built_in_row_cap_reports_and_forwards() {
    // Without a `server:` section: the default cap (1000 rows, monitor) on tools that take SQL.
    let mut p = listed("rows-default", "rules: []\n");
    let many = rows_call(&mut p, 1001, "json");
    assert_eq!(many["result"]["isError"], false);
    let entry = p
        .audit()
        .into_iter()
        .find(|e| e["reason"] == "too_many_rows")
        .expect("reported");
    assert_eq!(entry["action"], "monitored");
    assert_eq!(entry["would_have"], "block");
    assert_eq!(entry["details"]["rows"], 1001);
    p.finish();
}

#[test]
fn rows_are_not_counted_for_tools_that_take_no_sql() {
    let doc = json!({"tools": [tool("rows", "Return some items")]});
    // `rows` says nothing of SQL in its name or definition (its `query` argument aside: the
    // test tool's schema names one, so give it another).
    let mut doc = doc;
    doc["tools"][0]["inputSchema"] =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let mut p = Proxy::start(
        "rows-not-sql",
        "server:\n  responses:\n    - max_rows: 1\n      action: block\n",
        &doc,
    );
    p.tool_names();
    let many = p.call("rows", json!({"n": 5}));
    assert_eq!(many["result"]["isError"], false, "{many}");
    p.finish();
}
