//! Budgets, failures and modes.

use super::*;

/// `max_calls`: the session's calls over all tools; the refusal is permanent (no retry_at, and
/// time does not help); requests other than tools/call still pass.
#[test]
fn max_calls_ends_the_sessions_tool_calls() {
    let mut g = Gateway::start(
        "max-calls",
        Some(&breaker_policy("{max_calls: 4, loop: {repeats: 0}}")),
    );
    g.forwarded("1", "echo", "{}");
    g.forwarded("2", "lookup", "{}");
    g.forwarded("3", "fail", "{}");
    g.forwarded("4", "echo", r#"{"n":4}"#);
    let m = g.refused(
        "5",
        "echo",
        r#"{"n":5}"#,
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    assert_has(&m, "this session has made its maximum of 4 tool calls");
    g.refused(
        "6",
        "lookup",
        "{}",
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    g.time(3_600_000);
    g.refused(
        "7",
        "search",
        "{}",
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    g.sync();

    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "3", "4"]));
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("5", "breaker.max_calls"),
            ("6", "breaker.max_calls"),
            ("7", "breaker.max_calls"),
        ])
    );
    assert_eq!(end.transitions(), changes(&[]));
}

/// Per-tool `max_calls`: counted per tool name (each tool a glob matches has its own count);
/// tools outside the glob are not limited.
#[test]
fn per_tool_max_calls_count_each_tool() {
    let mut g = Gateway::start(
        "tool-max-calls",
        Some(&breaker_policy(
            "{loop: {repeats: 0}, tools: [{tools: [\"search*\"], max_calls: 2}]}",
        )),
    );
    g.forwarded("1", "search", r#"{"q":1}"#);
    g.forwarded("2", "search", r#"{"q":2}"#);
    let m = g.refused(
        "3",
        "search",
        r#"{"q":3}"#,
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    assert_has(
        &m,
        "tool \"search\" has been called its maximum of 2 times this session",
    );
    g.forwarded("4", "search_web", r#"{"q":1}"#);
    g.forwarded("5", "search_web", r#"{"q":2}"#);
    g.refused(
        "6",
        "search_web",
        r#"{"q":3}"#,
        "breaker.max_calls",
        "Budget Exhausted",
        None,
    );
    for id in ["7", "8", "9"] {
        g.forwarded(id, "echo", &format!(r#"{{"n":{id}}}"#));
    }

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "4", "5", "7", "8", "9"])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("3", "breaker.max_calls"), ("6", "breaker.max_calls")])
    );
}

/// Costs against the session budget: a call that would go over it is refused (and not
/// charged), one that reaches it exactly is not; the message says what was spent; free tools
/// still pass.
#[test]
fn costs_are_charged_against_the_session_budget() {
    let mut g = Gateway::start(
        "budget",
        Some(&breaker_policy(
            "{budget: 0.05, loop: {repeats: 0}, tools: [{tools: [paid], cost: 0.02}, \
             {tools: [cheap], cost: 0.01}]}",
        )),
    );
    g.forwarded("1", "paid", r#"{"n":1}"#);
    g.forwarded("2", "paid", r#"{"n":2}"#);
    let m = g.refused(
        "3",
        "paid",
        r#"{"n":3}"#,
        "breaker.budget",
        "Budget Exhausted",
        None,
    );
    assert_has(
        &m,
        "this call costs 0.02 and the session has spent 0.04 of its budget of 0.05",
    );
    for id in ["4", "5", "6"] {
        g.forwarded(id, "echo", &format!(r#"{{"n":{id}}}"#));
    }
    // 0.04 + 0.01 is exactly the budget: allowed.
    g.forwarded("7", "cheap", "{}");
    let m = g.refused(
        "8",
        "cheap",
        r#"{"n":8}"#,
        "breaker.budget",
        "Budget Exhausted",
        None,
    );
    assert_has(
        &m,
        "this call costs 0.01 and the session has spent 0.05 of its budget of 0.05",
    );
    g.forwarded("9", "echo", r#"{"n":9}"#);

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "4", "5", "6", "7", "9"])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("3", "breaker.budget"), ("8", "breaker.budget")])
    );
}

/// JSON-RPC errors and tool results with isError both count as failures, per tool; a success
/// resets the tool's count; answers of other tools in between do not.
#[test]
fn errors_and_error_results_trip_per_tool_and_a_success_resets_the_count() {
    let mut g = Gateway::start(
        "errors",
        Some(&breaker_policy(
            "{consecutive_errors: 3, loop: {repeats: 0}}",
        )),
    );
    let error = r#"{"fail":"error"}"#;
    let result = r#"{"fail":"result"}"#;
    let v = g.forwarded("1", "flaky", error);
    assert_eq!(v["error"]["code"], json!(TOOL_ERROR), "{v}");
    let v = g.forwarded("2", "fail", "{}");
    assert_eq!(v["result"]["isError"], true, "{v}");
    g.forwarded("3", "flaky", result);
    // A success: flaky's count starts over (2 failures so far would otherwise make this 3).
    g.forwarded("4", "flaky", r#"{"n":4}"#);
    g.forwarded("5", "flaky", error);
    g.forwarded("6", "fail", "{}");
    g.forwarded("7", "flaky", error);
    g.forwarded("8", "echo", "{}");
    // The third failure of flaky in a row (fail's and echo's answers in between do not count).
    g.forwarded("9", "flaky", result);
    let m = g.refused(
        "10",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    assert_has(&m, "because its last 3 calls failed in a row");
    // fail has failed twice; its third failure opens its own circuit.
    g.forwarded("11", "fail", "{}");
    g.refused(
        "12",
        "fail",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    g.forwarded("13", "echo", "{}");

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "11", "13"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[("breaker_open", "flaky", 0), ("breaker_open", "fail", 0)])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("10", "breaker.open"), ("12", "breaker.open")])
    );
    assert_eq!(end.circuit_warnings().len(), 2, "{}", end.stderr);
}

/// The traffic both mode tests send: a rate-limited second echo, two failures that reach the
/// error threshold then a call to the open circuit, and a loop. Every call goes to the server.
fn mode_traffic(g: &mut Gateway) {
    g.forwarded("1", "echo", r#"{"n":1}"#);
    g.forwarded("2", "echo", r#"{"n":2}"#);
    g.forwarded("3", "flaky", r#"{"fail":"result"}"#);
    g.forwarded("4", "flaky", r#"{"fail":"error"}"#);
    g.forwarded("5", "flaky", "{}");
    for id in ["6", "7", "8"] {
        g.forwarded(id, "lookup", r#"{"same":1}"#);
    }
}

const MODE_LIMITS: &str = "consecutive_errors: 2, loop: {repeats: 3}, \
                           rate_limits: [{tools: [echo], rate: 60/minute, burst: 1}]";

/// `mode: monitor`: everything is forwarded; what would have been refused is audited as
/// monitored with `would_have: block`, and the circuits still change state (audited, warned).
#[test]
fn monitor_mode_forwards_everything_and_audits_what_it_would_have_refused() {
    let mut g = Gateway::start(
        "monitor",
        Some(&breaker_policy(&format!(
            "{{mode: monitor, {MODE_LIMITS}}}"
        ))),
    );
    mode_traffic(&mut g);
    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "4", "5", "6", "7", "8"])
    );
    assert_eq!(end.decisions("blocked"), decided(&[]));
    assert_eq!(
        end.decisions("monitored"),
        decided(&[
            ("2", "breaker.rate"),
            ("5", "breaker.open"),
            ("8", "breaker.loop"),
        ])
    );
    assert_eq!(
        end.transitions(),
        changes(&[("breaker_open", "flaky", 0), ("breaker_open", "lookup", 0)])
    );
    assert_has(
        &end.stderr,
        "[SENTINEL] monitored tools/call id=2 tool=echo rule=breaker.rate (would block)",
    );
    assert_eq!(end.circuit_warnings().len(), 2, "{}", end.stderr);
}

/// `mode: off`: nothing is refused, recorded or changed.
#[test]
fn mode_off_never_refuses() {
    let mut g = Gateway::start(
        "off",
        Some(&breaker_policy(&format!("{{mode: off, {MODE_LIMITS}}}"))),
    );
    mode_traffic(&mut g);
    // Well past every default limit too: a long burst of identical calls.
    for i in 0..30 {
        g.forwarded(&(100 + i).to_string(), "echo", r#"{"n":1}"#);
    }
    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls().len(), 8 + 30);
    assert_eq!(end.audit(), Vec::<Value>::new(), "nothing is audited");
    assert!(!end.stderr.contains("circuit"), "{}", end.stderr);
}
