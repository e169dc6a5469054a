//! Loop detection and rate limits.

use super::*;

/// Calls that differ only in key order, whitespace, number spelling or an ignored field (at
/// any depth) are the same call; a changing field that is not ignored makes them different;
/// calls older than the window are forgotten. Each tool name here is echoed by the fake server
/// and has its own circuit.
#[test]
fn loops_are_found_through_key_order_whitespace_and_ignored_fields() {
    let mut g = Gateway::start(
        "loop-fingerprint",
        Some(&breaker_policy(
            "{loop: {repeats: 3, window: 10s, ignore_fields: [ts]}}",
        )),
    );
    g.forwarded("1", "echo", r#"{"a":1,"b":2}"#);
    g.time(100);
    g.forwarded("2", "echo", r#"{ "b":2 , "a":1 }"#);
    g.time(200);
    let m = g.refused(
        "3",
        "echo",
        "{\"b\" :\t2.0, \"a\": 1e0}",
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_200)),
    );
    assert_has(&m, "the same call was made 3 times within 10 s");

    // Near-repeats: only the ignored field changes (at the top level, and nested).
    g.forwarded("4", "lookup", r#"{"q":"x","ts":1}"#);
    g.forwarded("5", "lookup", r#"{"ts":2,"q":"x"}"#);
    g.refused(
        "6",
        "lookup",
        r#"{"q":"x","ts":3}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_200)),
    );
    g.forwarded("7", "fetch", r#"{"url":"u","meta":{"ts":1}}"#);
    g.forwarded("8", "fetch", r#"{"meta":{"ts":2},"url":"u"}"#);
    g.refused(
        "9",
        "fetch",
        r#"{"url":"u","meta":{"ts":3}}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_200)),
    );

    // A field that is not ignored changes on every call: no loop.
    for page in 1..=6 {
        g.forwarded(
            &(10 + page).to_string(),
            "search",
            &format!(r#"{{"q":"x","page":{page},"ts":{page}}}"#),
        );
    }

    // The window: the first of three identical calls is older than 10 s, so no loop yet; one
    // more within the window is the third.
    g.time(300);
    g.forwarded("20", "status", r#"{"job":1}"#);
    g.time(5_000);
    g.forwarded("21", "status", r#"{"job":1}"#);
    g.time(10_300);
    g.forwarded("22", "status", r#"{"job":1}"#);
    g.time(10_400);
    g.refused(
        "23",
        "status",
        r#"{"job":1}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(40_400)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "4", "5", "7", "8", "11", "12", "13", "14", "15", "16", "20", "21", "22"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "echo", 200),
            ("breaker_open", "lookup", 200),
            ("breaker_open", "fetch", 200),
            ("breaker_open", "status", 10_400),
        ])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("3", "breaker.loop"),
            ("6", "breaker.loop"),
            ("9", "breaker.loop"),
            ("23", "breaker.loop"),
        ])
    );
}

/// With no policy file (the built-in breaker): polling the same call every 3 s never trips the
/// loop detector, while a burst of 5 identical calls within a second does (a changing
/// `timestamp`, ignored by default, does not make them different).
#[test]
fn the_default_breaker_lets_polling_through_and_stops_a_burst() {
    let mut g = Gateway::start("default-loop", None);
    let mut sent = Vec::new();
    for i in 0..20u64 {
        g.time(i * 3_000);
        let id = (i + 1).to_string();
        g.forwarded(&id, "echo", &format!(r#"{{"job":"42","timestamp":{i}}}"#));
        sent.push(id);
    }
    // The last poll was at 57 s; the burst starts more than a window (5 s) later.
    for i in 0..4u64 {
        g.time(70_000 + i * 200);
        let id = (21 + i).to_string();
        g.forwarded(
            &id,
            "echo",
            &format!(r#"{{"job":"42","timestamp":{}}}"#, 100 + i),
        );
        sent.push(id);
    }
    g.time(70_800);
    let m = g.refused(
        "25",
        "echo",
        r#"{"timestamp":104,"job":"42"}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(100_800)),
    );
    assert_has(&m, "the same call was made 5 times within 5 s");
    assert_has(&m, &format!("until {} (in 30 s)", at(100_800)));

    let end = g.end();
    end.assert_clean();
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(end.server_calls(), ids(&sent));
    assert_eq!(
        end.transitions(),
        changes(&[("breaker_open", "echo", 70_800)])
    );
    assert_eq!(end.decisions("blocked"), decided(&[("25", "breaker.loop")]));
}

/// A token bucket on one tool: `burst` calls at once, then one more per refill interval; the
/// refusal says when the next token is there; other tools are not limited (a `rate_limits`
/// list replaces the default overall limit); refused calls take no token and open nothing.
#[test]
fn a_rate_limit_on_one_tool_refuses_calls_over_the_burst_until_it_refills() {
    let mut g = Gateway::start(
        "rate-tool",
        Some(&breaker_policy(
            "{loop: {repeats: 0}, rate_limits: [{tools: [echo], rate: 60/minute, burst: 3}]}",
        )),
    );
    for id in ["1", "2", "3"] {
        g.forwarded(id, "echo", &format!(r#"{{"n":{id}}}"#));
    }
    let m = g.refused(
        "4",
        "echo",
        r#"{"n":4}"#,
        "breaker.rate",
        "Rate Limited",
        Some(&at(1_000)),
    );
    assert_has(
        &m,
        "over the rate limit of 60/minute (burst 3) for tools [echo]",
    );
    assert_has(&m, "retry in 1 s at the earliest");
    for id in ["5", "6", "7", "8", "9"] {
        g.forwarded(id, "lookup", &format!(r#"{{"n":{id}}}"#));
    }
    // Half a token is not enough; the refusal points at when the whole token is there.
    g.time(500);
    let m = g.refused(
        "10",
        "echo",
        r#"{"n":10}"#,
        "breaker.rate",
        "Rate Limited",
        Some(&at(1_000)),
    );
    assert_has(&m, "retry in 500 ms at the earliest");
    g.time(1_000);
    g.forwarded("11", "echo", r#"{"n":11}"#);
    g.refused(
        "12",
        "echo",
        r#"{"n":12}"#,
        "breaker.rate",
        "Rate Limited",
        Some(&at(2_000)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "5", "6", "7", "8", "9", "11"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[]),
        "rate limits open no circuit"
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("4", "breaker.rate"),
            ("10", "breaker.rate"),
            ("12", "breaker.rate"),
        ])
    );
}

/// `tools: ["*"]` is one bucket shared by every tool.
#[test]
fn an_overall_rate_limit_is_shared_by_every_tool() {
    let mut g = Gateway::start(
        "rate-all",
        Some(&breaker_policy(
            "{loop: {repeats: 0}, rate_limits: [{tools: [\"*\"], rate: 2/second, burst: 4}]}",
        )),
    );
    g.forwarded("1", "echo", "{}");
    g.forwarded("2", "lookup", "{}");
    g.forwarded("3", "fail", "{}");
    g.forwarded("4", "search", "{}");
    let m = g.refused(
        "5",
        "lookup",
        "{}",
        "breaker.rate",
        "Rate Limited",
        Some(&at(500)),
    );
    assert_has(
        &m,
        "over the rate limit of 2/second (burst 4) for tools [*]",
    );
    g.refused(
        "6",
        "echo",
        "{}",
        "breaker.rate",
        "Rate Limited",
        Some(&at(500)),
    );
    g.time(500);
    g.forwarded("7", "lookup", "{}");
    g.refused(
        "8",
        "echo",
        "{}",
        "breaker.rate",
        "Rate Limited",
        Some(&at(1_000)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(end.server_calls(), ids(&["1", "2", "3", "4", "7"]));
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("5", "breaker.rate"),
            ("6", "breaker.rate"),
            ("8", "breaker.rate"),
        ])
    );
}
