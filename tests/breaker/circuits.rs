//! Circuits opening, refusing, probing and closing.

use super::*;

/// closed -> open on consecutive failures; refusals say when the circuit closes; after the
/// cooldown exactly one probe goes through while further calls wait; a failed probe reopens the
/// circuit for twice the cooldown (capped by max_cooldown); a good probe closes it, calls flow
/// again and the cooldown starts over.
#[test]
fn failures_open_the_circuit_until_a_probe_succeeds() {
    let mut g = Gateway::start(
        "cycle",
        Some(&breaker_policy(
            "{consecutive_errors: 3, cooldown: 30s, max_cooldown: 1m, loop: {repeats: 0}}",
        )),
    );
    let fail = r#"{"fail":"result"}"#;
    for id in ["1", "2", "3"] {
        let v = g.forwarded(id, "flaky", fail);
        assert_eq!(v["result"]["isError"], true, "{v}");
    }
    // The third failed answer opened the circuit at T0, for 30 s.
    g.time(10_000);
    let m = g.refused(
        "4",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    assert_has(&m, &format!("paused until {} (in 20 s)", at(30_000)));
    assert_has(&m, "because its last 3 calls failed in a row");
    // Other tools are not affected.
    g.forwarded("5", "echo", r#"{"other":"tool"}"#);
    g.time(29_999);
    let m = g.refused(
        "\"six\"",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(30_000)),
    );
    assert_has(&m, &format!("until {} (in 1 ms)", at(30_000)));

    // The cooldown is over: the next call is the probe. To have a second call judged while the
    // probe is certainly still unanswered, both go in one batch: the gateway judges every
    // element of a batch before it forwards anything, so element 7 becomes the probe
    // (open -> half-open) and element 8 is refused, and only then does [7] reach the server.
    // The gateway's answer (for 8) and the server's (for 7) come from two threads, in either
    // order, as two lines.
    g.time(30_000);
    g.send(&format!(
        "[{},{}]",
        util::tool_call("7", "flaky", fail),
        util::tool_call("8", "flaky", "{}")
    ));
    let (mut gateway_answer, mut server_answer) = (None, None);
    for _ in 0..2 {
        let line = g.recv();
        let items = line.as_array().expect("batch answers are arrays");
        assert_eq!(items.len(), 1, "one answer per line here: {line}");
        match id_text(&items[0]).as_str() {
            "8" => gateway_answer = Some(items[0].clone()),
            "7" => server_answer = Some(items[0].clone()),
            other => panic!("unexpected answer for id {other}: {line}"),
        }
    }
    let refusal = gateway_answer.unwrap();
    // If the probe were never answered, another could go after one more cooldown.
    assert_refusal(
        &refusal,
        "flaky",
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_000)),
    );
    assert_has(
        refusal["error"]["message"].as_str().unwrap(),
        "one probe call is in flight",
    );
    assert_eq!(server_answer.unwrap()["result"]["isError"], true);

    // The probe failed (observed at T0+30 s): open again, for 2 x 30 s.
    g.time(31_000);
    let m = g.refused(
        "9",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(90_000)),
    );
    assert_has(&m, &format!("until {} (in 59 s)", at(90_000)));
    assert_has(&m, "its probe call failed too");

    // The next probe fails with a JSON-RPC error: open again, for 4 x 30 s capped at 1 min.
    g.time(90_000);
    let v = g.forwarded("10", "flaky", r#"{"fail":"error"}"#);
    assert_eq!(v["error"]["code"], json!(TOOL_ERROR), "{v}");
    let m = g.refused(
        "11",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(150_000)),
    );
    assert_has(&m, &format!("until {} (in 60 s)", at(150_000)));

    // A good probe closes the circuit: calls flow again.
    g.time(150_000);
    let v = g.forwarded("12", "flaky", r#"{"n":1}"#);
    assert_eq!(v["result"]["content"][0]["text"], r#"{"n":1}"#, "{v}");
    g.forwarded("13", "flaky", r#"{"n":2}"#);
    // Failing again opens it for the starting cooldown, not a doubled one.
    for id in ["14", "15", "16"] {
        g.forwarded(id, "flaky", fail);
    }
    g.refused(
        "17",
        "flaky",
        "{}",
        "breaker.open",
        "Circuit Open",
        Some(&at(180_000)),
    );

    let end = g.end();
    end.assert_clean();
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "5", "7", "10", "12", "13", "14", "15", "16"]),
        "refused calls never reach the server"
    );
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "flaky", 0),
            ("breaker_half_open", "flaky", 30_000),
            ("breaker_open", "flaky", 30_000),
            ("breaker_half_open", "flaky", 90_000),
            ("breaker_open", "flaky", 90_000),
            ("breaker_half_open", "flaky", 150_000),
            ("breaker_closed", "flaky", 150_000),
            ("breaker_open", "flaky", 150_000),
        ])
    );
    let opened: Vec<String> = end
        .audit()
        .iter()
        .filter(|e| e["action"] == "breaker_open")
        .map(|e| e["explanation"].as_str().unwrap().to_owned())
        .collect();
    for (text, until) in opened.iter().zip([30_000, 90_000, 150_000, 180_000]) {
        assert_has(text, &format!("calls refused until {}", at(until)));
    }
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("4", "breaker.open"),
            ("\"six\"", "breaker.open"),
            ("8", "breaker.half_open"),
            ("9", "breaker.open"),
            ("11", "breaker.open"),
            ("17", "breaker.open"),
        ])
    );
    let warnings = end.circuit_warnings();
    assert_eq!(
        warnings.len(),
        4,
        "one warning per opening:\n{}",
        end.stderr
    );
    assert_eq!(
        warnings[0],
        format!(
            "[SENTINEL] warning: circuit for tool \"flaky\" closed -> open: its last 3 calls \
             failed in a row; calls refused until {}",
            at(30_000)
        )
    );
    assert_has(warnings[1], "half-open -> open: its probe call failed too");
}

/// The loop detector opens a tool's circuit (default breaker: the 5th identical call within
/// 5 s); while open, every call of the tool is refused whatever its arguments; after the
/// cooldown a probe goes through, and while it is unanswered the next call waits for it.
///
/// The tool is `silent`, which never answers: the probe is deterministically still in flight
/// when the next call is judged, without relying on timing. Since `silent` calls get no answer
/// to wait for, a `ping` after each one makes sure it was judged before the clock moves.
#[test]
fn a_loop_opens_the_circuit_and_the_next_call_waits_for_the_probe() {
    let mut g = Gateway::start("loop-probe", None);
    for (i, args) in [
        r#"{"q":"same"}"#,
        r#"{ "q" : "same" }"#,
        r#"{"q":"same"}"#,
        r#"{"q":"same","timestamp":"2026-01-01T00:00:00Z"}"#,
    ]
    .iter()
    .enumerate()
    {
        g.time(i as u64 * 100);
        g.send(&util::tool_call(&(i + 1).to_string(), "silent", args));
        g.sync();
    }
    g.time(400);
    let m = g.refused(
        "5",
        "silent",
        r#"{"q":"same"}"#,
        "breaker.loop",
        "Loop Detected",
        Some(&at(30_400)),
    );
    assert_has(&m, "the same call was made 5 times within 5 s");
    assert_has(&m, &format!("until {} (in 30 s)", at(30_400)));
    // The circuit is the tool's: other arguments are refused too, other tools pass.
    g.time(1_000);
    let m = g.refused(
        "6",
        "silent",
        r#"{"q":"other"}"#,
        "breaker.open",
        "Circuit Open",
        Some(&at(30_400)),
    );
    assert_has(&m, &format!("until {} (in 29.4 s)", at(30_400)));
    assert_has(&m, "because the same call was made 5 times within 5 s");
    g.forwarded("7", "echo", r#"{"q":"same"}"#);

    // Cooldown over: call 8 is the probe and is forwarded; it is never answered, so call 9 is
    // refused while it is in flight.
    g.time(30_400);
    g.send(&util::tool_call("8", "silent", r#"{"q":"other"}"#));
    g.sync();
    g.refused(
        "9",
        "silent",
        r#"{"q":"third"}"#,
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_400)),
    );
    // A probe that goes unanswered for a whole cooldown (a hung call) cannot hold the circuit
    // half-open for good: one millisecond early the wait goes on, then call 11 is a new probe.
    g.time(60_399);
    g.refused(
        "10",
        "silent",
        r#"{"q":"third"}"#,
        "breaker.half_open",
        "Circuit Open",
        Some(&at(60_400)),
    );
    g.time(60_400);
    g.send(&util::tool_call("11", "silent", r#"{"q":"fourth"}"#));
    g.sync();

    let end = g.end();
    assert_eq!(end.code, 0, "{}", end.stderr);
    // The unanswered calls are answered by the gateway when the server exits, in order.
    let gone: Vec<(String, Value)> = end
        .rest
        .iter()
        .map(|v| (id_text(v), v["error"]["code"].clone()))
        .collect();
    let expected: Vec<(String, Value)> = ["1", "2", "3", "4", "8", "11"]
        .iter()
        .map(|id| ((*id).to_owned(), json!(SERVER_GONE)))
        .collect();
    assert_eq!(gone, expected);
    assert_eq!(
        end.server_calls(),
        ids(&["1", "2", "3", "4", "7", "8", "11"])
    );
    assert_eq!(
        end.transitions(),
        changes(&[
            ("breaker_open", "silent", 400),
            ("breaker_half_open", "silent", 30_400),
        ])
    );
    assert_eq!(
        end.decisions("blocked"),
        decided(&[
            ("5", "breaker.loop"),
            ("6", "breaker.open"),
            ("9", "breaker.half_open"),
            ("10", "breaker.half_open"),
        ])
    );
    assert_eq!(
        end.circuit_warnings(),
        vec![format!(
            "[SENTINEL] warning: circuit for tool \"silent\" closed -> open: the same call was \
             made 5 times within 5 s; calls refused until {}",
            at(30_400)
        )]
    );
}

/// Only `tools/call` answers count for the circuits: other requests the server fails
/// (`-32601 Method not found` here) open no circuit and leave no breaker event.
#[test]
fn failed_answers_to_other_methods_open_no_circuit() {
    let mut g = Gateway::start(
        "other-methods",
        Some(&breaker_policy(
            "{consecutive_errors: 2, cooldown: 30s, loop: {repeats: 0}}",
        )),
    );
    for id in 1..=4 {
        g.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"x/unknown","params":{{}}}}"#
        ));
        let v = g.recv();
        assert_eq!(v["error"]["code"], -32601, "{v}");
    }
    g.forwarded("5", "echo", "{}");
    let ended = g.end();
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert_eq!(ended.transitions(), vec![], "no circuit changed");
    assert!(!ended.stderr.contains("circuit"), "{}", ended.stderr);
}
