//! Probes that never come back, the test clock itself, budgets in monitor mode, late
//! answers, and loops of one SQL query spelled five ways.

use super::*;

/// A probe the client cancels (`notifications/cancelled`, e.g. after its own timeout) must not
/// leave the tool's circuit half-open for the rest of the session.
/// The cancelled request is no longer pending, so no answer would ever be matched to it: the
/// breaker must forget the probe and let the next call be one.
#[test]
fn a_cancelled_probe_does_not_block_the_tool_for_good() {
    let mut g = Gateway::start("cancelled-probe", None);
    for id in 1..=4 {
        g.send(&util::tool_call(&id.to_string(), "silent", "{}"));
    }
    g.sync();
    g.refused(
        "5",
        "silent",
        "{}",
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_000)),
    );
    g.time(30_000);
    g.send(&util::tool_call("6", "silent", r#"{"probe":true}"#));
    g.send(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":6,"reason":"timeout"}}"#,
    );
    g.sync();
    // Right away (long before an unanswered probe would be replaced), the next call is the
    // new probe.
    g.time(30_001);
    g.send(&util::tool_call("7", "silent", r#"{"n":7}"#));
    // The session's end settles it: every line is judged before sentinel exits.
    let end = g.end();
    assert!(
        end.server_calls().contains(&"7".to_owned()),
        "call 7, right after the probe was cancelled, never reached the server; \
         blocked: {:?}",
        end.decisions("blocked")
    );
}

/// The file clock must read a time written with milliseconds as exactly that time.
/// Through an `f64`, `1767225670.800` would be 1767225670.79999995…, read as 799 ms, and a loop
/// tripped at that instant would report `retry_at` …:01:40.799000Z.
#[test]
fn the_file_clock_reads_milliseconds_exactly() {
    let mut g = Gateway::start("clock-precision", None);
    g.write_clock(&format!("{}.800", T0 + 70));
    for id in 1..=4 {
        g.forwarded(&id.to_string(), "echo", "{}");
    }
    g.refused(
        "5",
        "echo",
        "{}",
        "breaker.loop",
        "Loop Detected",
        Some(&at(100_800)),
    );
}

/// In monitor mode a call over the budget is forwarded and its cost charged, so the session can
/// spend more than its budget. Calls of free tools cost nothing and are never over a budget:
/// only the paid calls after it are recorded as what would have been refused.
#[test]
fn in_monitor_mode_spending_over_the_budget_is_not_held_against_free_tools() {
    let mut g = Gateway::start(
        "monitor-budget",
        Some(&breaker_policy(
            "{mode: monitor, budget: 0.05, loop: {repeats: 0}, \
             tools: [{tools: [paid], cost: 0.02}]}",
        )),
    );
    for id in ["1", "2", "3"] {
        g.forwarded(id, "paid", &format!(r#"{{"n":{id}}}"#));
    }
    // 0.06 spent of 0.05: a free tool is still within budget.
    g.forwarded("4", "echo", r#"{"n":4}"#);
    g.forwarded("5", "echo", r#"{"n":5}"#);
    g.forwarded("6", "paid", r#"{"n":6}"#);
    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "3", "4", "5", "6"]));
    assert_eq!(end.decisions("blocked"), decided(&[]));
    assert_eq!(
        end.decisions("monitored"),
        decided(&[("3", "breaker.budget"), ("6", "breaker.budget")])
    );
}

/// While a probe is in flight, the answer to a call made before the circuit opened (a slow
/// call already at the server) decides nothing: only the probe's own answer closes the
/// circuit, and until it comes other calls wait.
#[test]
fn a_late_answer_to_an_older_call_does_not_decide_a_half_open_circuit() {
    let mut g = Gateway::start("late-answer", Some(&breaker_policy("{loop: {repeats: 2}}")));
    // A slow call is at the server (which answers in order) when a loop opens the circuit.
    g.send(&util::tool_call("1", "sleep", r#"{"ms":2500}"#));
    g.send(&util::tool_call("2", "sleep", r#"{"ms":0}"#));
    g.refused(
        "3",
        "sleep",
        r#"{"ms":0}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_000)),
    );
    // Cooldown over: call 4 is the probe, and slow too.
    g.time(30_000);
    g.send(&util::tool_call("4", "sleep", r#"{"ms":3000}"#));
    // The answers to calls 1 and 2 come while the probe is in flight.
    for id in ["1", "2"] {
        let v = g.recv();
        assert_eq!(id_text(&v), id, "{v}");
        assert!(v.get("result").is_some(), "{v}");
    }
    g.refused(
        "5",
        "sleep",
        r#"{"ms":0,"n":5}"#,
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_000)),
    );
    let v = g.recv();
    assert_eq!(id_text(&v), "4", "the probe's answer: {v}");
    assert!(v.get("result").is_some(), "{v}");
    g.forwarded("6", "sleep", r#"{"ms":0,"n":6}"#);

    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "4", "6"]));
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "sleep", 0),
            ("breaker_half_open", "sleep", 30_000),
            ("breaker_closed", "sleep", 30_000),
        ])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[("3", "breaker.loop"), ("5", "breaker.half_open")])
    );
}

/// The same query with other whitespace, keyword case, a comment or a trailing `;` is the same
/// call: the 5th opens the circuit. Queries that differ in a literal are different calls.
#[test]
fn a_loop_of_one_query_spelled_differently_opens_the_circuit() {
    let mut g = Gateway::start("sql-loop", None);
    let spellings = [
        "SELECT id, name FROM users WHERE name = 'Bob' LIMIT 10",
        "select id, name from users where name = 'Bob' limit 10;",
        "SELECT id,name\n  FROM users\n WHERE name='Bob'\n LIMIT 10",
        "/* again */ SELECT id, name FROM users -- same\nWHERE name = 'Bob' LIMIT 10 ;;",
    ];
    for (i, q) in spellings.iter().enumerate() {
        g.time(i as u64 * 100);
        let args = json!({ "query": q }).to_string();
        g.forwarded(&(i + 1).to_string(), "echo", &args);
    }
    // Differing in the string literal's case: another query, forwarded.
    g.forwarded(
        "5",
        "echo",
        &json!({"query": "SELECT id, name FROM users WHERE name = 'bob' LIMIT 10"}).to_string(),
    );
    let m = g.refused(
        "6",
        "echo",
        &json!({"query": "Select  ID, NAME From users Where name = 'Bob' Limit 10"}).to_string(),
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_300)),
    );
    assert_has(&m, "the same call was made 5 times within 5 s");
    g.end();
}
