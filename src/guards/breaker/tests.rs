//! The breaker's unit tests: decisions driven through admit and observe with an explicit
//! clock, so cooldowns, windows and refills are tested without sleeping.

use super::*;
use crate::base::jsonrpc::{parse_line, Parsed};
use crate::guards::Mode;

fn args(text: &str) -> Json<'static> {
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{text}}}}}"#
    );
    let leaked: &'static str = Box::leak(line.into_boxed_str());
    match parse_line(leaked.as_bytes()).unwrap().unwrap() {
        Parsed::Single(m) => m.params.unwrap().get("arguments").unwrap().clone(),
        Parsed::Batch(_) => unreachable!(),
    }
}

fn call<'a>(tool: &'a str, a: &'a Json<'static>, id: &'a str) -> CallFacts<'a, 'static> {
    CallFacts {
        tool,
        arguments: Some(a),
        request: Some(id),
    }
}

#[test]
fn fingerprints_ignore_key_order_spacing_numbers_and_volatile_fields() {
    let ignore = vec!["timestamp".to_owned()];
    let fp = |t: &str| fingerprint("t", Some(&args(t)), &ignore);
    assert_eq!(
        fp(r#"{"a":1,"b":[1,2]}"#),
        fp(r#"{ "b" : [1, 2.0], "a" : 1 }"#)
    );
    assert_eq!(
        fp(r#"{"a":1,"timestamp":"2026-01-01"}"#),
        fp(r#"{"a":1,"timestamp":"2027-01-01"}"#)
    );
    assert_eq!(
        fp(r#"{"x":{"timestamp":1,"q":"s"}}"#),
        fp(r#"{"x":{"q":"s","timestamp":2}}"#)
    );
    assert_ne!(fp(r#"{"a":1}"#), fp(r#"{"a":2}"#));
    assert_ne!(fp(r#"{"a":[1,2]}"#), fp(r#"{"a":[2,1]}"#));
    assert_ne!(fp(r#"{"a":"1"}"#), fp(r#"{"a":1}"#));
    assert_ne!(
        fingerprint("t", Some(&args("{}")), &ignore),
        fingerprint("u", Some(&args("{}")), &ignore)
    );
}

/// Small objects are sorted on the stack, larger ones in a vector: both ways agree, and both
/// ignore order and volatile fields.
#[test]
fn fingerprints_of_small_and_large_objects_ignore_order_alike() {
    let ignore = vec!["nonce".to_owned()];
    let fp = |t: &str| fingerprint("t", Some(&args(t)), &ignore);
    let object = |n: usize, reversed: bool, nonce: u32, last: u32| {
        let mut members: Vec<String> = (0..n).map(|i| format!(r#""k{i:02}":{i}"#)).collect();
        members.push(format!(r#""nonce":{nonce}"#));
        members.push(format!(r#""zz":{last}"#));
        if reversed {
            members.reverse();
        }
        format!("{{{}}}", members.join(","))
    };
    // 7 + 2 members (the nonce among them, so 8 are kept), and 8 + 2 and 20 + 2.
    for n in [6, 7, 8, 20] {
        let base = fp(&object(n, false, 1, 5));
        assert_eq!(base, fp(&object(n, true, 1, 5)), "{n}: order");
        assert_eq!(base, fp(&object(n, true, 2, 5)), "{n}: ignored field");
        assert_ne!(base, fp(&object(n, false, 1, 6)), "{n}: a value");
        assert_ne!(base, fp(&object(n + 1, false, 1, 5)), "{n}: a member more");
    }
}

#[test]
fn a_burst_of_the_same_call_trips_but_polling_does_not() {
    let cfg = Config::defaults();
    let a = args(r#"{"job":"42"}"#);
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    // Polling every 2 s for ten minutes.
    for i in 0..300 {
        let r = admit(
            &cfg,
            &mut st,
            &call("status", &a, "p"),
            i * 2000,
            false,
            &mut ch,
        );
        assert_eq!(r, None, "poll #{i}");
    }
    // A burst: the fifth identical call within 5 s opens the breaker.
    let t0 = 1_000_000;
    for i in 0..4 {
        assert_eq!(
            admit(
                &cfg,
                &mut st,
                &call("status", &a, "b"),
                t0 + i * 100,
                false,
                &mut ch
            ),
            None
        );
    }
    let r = admit(
        &cfg,
        &mut st,
        &call("status", &a, "b"),
        t0 + 400,
        false,
        &mut ch,
    )
    .unwrap();
    assert_eq!(r.rule, "breaker.loop");
    assert_eq!(r.retry_at_ms, Some(t0 + 400 + 30_000));
    assert_eq!(ch.last().unwrap().to, "open");
    assert_eq!(
        st.state("status"),
        State::Open {
            until_ms: t0 + 30_400
        }
    );
}

#[test]
fn open_half_open_closed_and_reopen_with_a_longer_cooldown() {
    let mut cfg = Config::defaults();
    cfg.error_threshold = Some(2);
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for id in ["1", "2"] {
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, id), 0, false, &mut ch),
            None
        );
    }
    observe(&cfg, &mut st, "x", "1", true, 10, &mut ch);
    assert_eq!(st.state("x"), State::Closed);
    observe(&cfg, &mut st, "x", "2", true, 20, &mut ch);
    assert_eq!(st.state("x"), State::Open { until_ms: 30_020 });
    let r = admit(&cfg, &mut st, &call("x", &a, "3"), 30_019, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.open");
    assert!(r.detail.contains("in 1 ms"), "{}", r.detail);
    // Other tools are not affected.
    assert_eq!(
        admit(&cfg, &mut st, &call("y", &a, "4"), 30_019, false, &mut ch),
        None
    );
    // Cooldown over: one probe.
    assert_eq!(
        admit(&cfg, &mut st, &call("x", &a, "5"), 30_020, false, &mut ch),
        None
    );
    assert_eq!(
        st.state("x"),
        State::HalfOpen {
            probe: Some("5".into())
        }
    );
    let r = admit(&cfg, &mut st, &call("x", &a, "6"), 30_021, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.half_open");
    // The probe fails: open again for twice as long.
    observe(&cfg, &mut st, "x", "5", true, 30_100, &mut ch);
    assert_eq!(st.state("x"), State::Open { until_ms: 90_100 });
    // Next probe succeeds: closed, and the cooldown is back to its start.
    assert_eq!(
        admit(&cfg, &mut st, &call("x", &a, "7"), 90_100, false, &mut ch),
        None
    );
    observe(&cfg, &mut st, "x", "7", false, 90_200, &mut ch);
    assert_eq!(st.state("x"), State::Closed);
    let steps: Vec<(&str, &str)> = ch.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        steps,
        vec![
            ("closed", "open"),
            ("open", "half-open"),
            ("half-open", "open"),
            ("open", "half-open"),
            ("half-open", "closed")
        ]
    );
}

#[test]
fn successes_reset_the_error_count() {
    let mut cfg = Config::defaults();
    cfg.error_threshold = Some(3);
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for (i, failed) in [true, true, false, true, true].iter().enumerate() {
        observe(&cfg, &mut st, "x", &i.to_string(), *failed, 0, &mut ch);
    }
    assert_eq!(st.state("x"), State::Closed);
    observe(&cfg, &mut st, "x", "9", true, 0, &mut ch);
    assert!(matches!(st.state("x"), State::Open { .. }));
}

#[test]
fn rate_limits_refill_over_time() {
    let mut cfg = Config::defaults();
    cfg.loop_rule = None;
    cfg.rate_limits = vec![RateLimit::new(
        vec![Glob::new("search*")],
        2.0,
        1.0 / 1000.0,
        "60/minute".into(),
    )];
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    assert_eq!(
        admit(&cfg, &mut st, &call("search", &a, "1"), 0, false, &mut ch),
        None
    );
    assert_eq!(
        admit(&cfg, &mut st, &call("search2", &a, "2"), 0, false, &mut ch),
        None
    );
    let r = admit(&cfg, &mut st, &call("search", &a, "3"), 250, false, &mut ch).unwrap();
    assert_eq!((r.rule, r.retry_at_ms), ("breaker.rate", Some(1000)));
    assert_eq!(
        admit(&cfg, &mut st, &call("other", &a, "4"), 250, false, &mut ch),
        None
    );
    assert_eq!(
        admit(
            &cfg,
            &mut st,
            &call("search", &a, "5"),
            1000,
            false,
            &mut ch
        ),
        None
    );
    assert!(admit(
        &cfg,
        &mut st,
        &call("search", &a, "6"),
        1000,
        false,
        &mut ch
    )
    .is_some());
}

#[test]
fn budgets_count_calls_and_cost() {
    let mut cfg = Config::defaults();
    cfg.loop_rule = None;
    cfg.max_calls = Some(10);
    cfg.budget = Some(0.05);
    cfg.tools = vec![ToolBudget {
        tools: vec![Glob::new("paid")],
        max_calls: Some(5),
        cost: 0.02,
    }];
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for id in ["1", "2"] {
        assert_eq!(
            admit(&cfg, &mut st, &call("paid", &a, id), 0, false, &mut ch),
            None
        );
    }
    let r = admit(&cfg, &mut st, &call("paid", &a, "3"), 0, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.budget");
    assert!(
        r.detail.contains("spent 0.04 of its budget of 0.05"),
        "{}",
        r.detail
    );
    for i in 0..8 {
        assert_eq!(
            admit(&cfg, &mut st, &call("free", &a, "f"), i, false, &mut ch),
            None
        );
    }
    let r = admit(&cfg, &mut st, &call("free", &a, "x"), 9, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.max_calls");
}

#[test]
fn off_admits_everything() {
    let cfg = Config::off();
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for _ in 0..1000 {
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, "1"), 0, false, &mut ch),
            None
        );
    }
    assert!(ch.is_empty());
}

#[test]
fn durations_read_naturally() {
    assert_eq!(duration_text(250), "250 ms");
    assert_eq!(duration_text(1500), "1.5 s");
    assert_eq!(duration_text(30_000), "30 s");
    assert_eq!(duration_text(600_000), "10 min");
    assert_eq!(duration_text(7_200_000), "2 h");
}

#[test]
fn whole_minutes_from_two_minutes_on_read_as_minutes() {
    assert_eq!(duration_text(999), "999 ms");
    assert_eq!(duration_text(1000), "1 s");
    assert_eq!(duration_text(60_000), "60 s");
    assert_eq!(duration_text(90_000), "90 s");
    assert_eq!(duration_text(119_000), "119 s");
    assert_eq!(duration_text(120_000), "2 min");
    assert_eq!(duration_text(150_000), "150 s");
    assert_eq!(duration_text(180_000), "3 min");
    assert_eq!(duration_text(3_600_000), "1 h");
}

#[test]
fn the_summary_names_the_mode_and_every_limit() {
    assert_eq!(
        Config::defaults().summary(),
        "circuit breaker enforce (loop 5x in 5 s, rate 600/minute burst 200 [*], 5 \
         consecutive errors; cooldown 30 s)"
    );
    let cfg = Config {
        mode: Some(Mode::Monitor),
        rate_limits: vec![RateLimit::new(
            vec![Glob::new("web_*"), Glob::new("fetch")],
            10.0,
            30.0 / 60_000.0,
            "30/minute".into(),
        )],
        loop_rule: None,
        max_calls: Some(100),
        budget: Some(2.5),
        error_threshold: None,
        cooldown_ms: 120_000,
        ..Config::defaults()
    };
    assert_eq!(
        cfg.summary(),
        "circuit breaker monitor (rate 30/minute burst 10 [web_*,fetch], max 100 calls, \
         budget 2.5; cooldown 2 min)"
    );
    assert_eq!(Config::off().summary(), "circuit breaker off");
}

#[test]
fn a_call_that_spends_exactly_the_budget_is_admitted() {
    // Sums of costs are not exact in binary floating point: the budget allows 1e-9 of
    // rounding, and a call that reaches exactly that is still within it.
    let mut cfg = Config::defaults();
    cfg.loop_rule = None;
    cfg.budget = Some(1.0);
    cfg.tools = vec![ToolBudget {
        tools: vec![Glob::new("paid")],
        max_calls: None,
        cost: 1.0 + 1e-9,
    }];
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    assert_eq!(
        admit(&cfg, &mut st, &call("paid", &a, "1"), 0, false, &mut ch),
        None
    );
    let r = admit(&cfg, &mut st, &call("paid", &a, "2"), 0, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.budget");
}

#[test]
fn once_over_the_budget_in_monitor_mode_free_calls_are_not_refused() {
    let mut cfg = Config::defaults();
    cfg.mode = Some(Mode::Monitor);
    cfg.loop_rule = None;
    cfg.budget = Some(0.05);
    cfg.tools = vec![ToolBudget {
        tools: vec![Glob::new("paid")],
        max_calls: None,
        cost: 0.02,
    }];
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    let mut refused = Vec::new();
    for (id, tool) in [("1", "paid"), ("2", "paid"), ("3", "paid"), ("4", "free")] {
        // Monitor mode: forwarded (and counted) whatever the verdict.
        if let Some(r) = admit(&cfg, &mut st, &call(tool, &a, id), 0, true, &mut ch) {
            refused.push((id, r.rule));
        }
    }
    assert_eq!(refused, vec![("3", "breaker.budget")]);
}

#[test]
fn loop_detection_with_zero_repeats_never_trips() {
    let mut cfg = Config::defaults();
    cfg.rate_limits.clear();
    cfg.loop_rule = Some(LoopRule {
        repeats: 0,
        window_ms: 5_000,
        ignore_fields: Vec::new(),
    });
    let a = args(r#"{"same":1}"#);
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for i in 0..20 {
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, "1"), i, false, &mut ch),
            None,
            "call #{i}"
        );
    }
    assert!(ch.is_empty(), "{ch:?}");
}

#[test]
fn an_error_threshold_of_zero_never_opens_a_circuit() {
    let mut cfg = Config::defaults();
    cfg.error_threshold = Some(0);
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for i in 0..10 {
        observe(&cfg, &mut st, "x", &i.to_string(), true, i, &mut ch);
    }
    assert_eq!(st.state("x"), State::Closed);
    assert!(ch.is_empty(), "{ch:?}");
}

#[test]
fn answers_change_nothing_while_the_breaker_is_off() {
    let cfg = Config::off();
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for i in 0..10 {
        observe(&cfg, &mut st, "x", &i.to_string(), true, i, &mut ch);
    }
    assert!(ch.is_empty(), "{ch:?}");
    assert_eq!(st.state("x"), State::Closed);
    assert!(st.breakers.is_empty());
}

#[test]
fn only_the_probes_own_answer_decides_a_half_open_circuit() {
    let mut cfg = Config::defaults();
    cfg.loop_rule = None;
    cfg.error_threshold = Some(1);
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    // Two calls in flight; the first answer fails and opens the circuit.
    for id in ["early", "1"] {
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, id), 0, false, &mut ch),
            None
        );
    }
    observe(&cfg, &mut st, "x", "1", true, 10, &mut ch);
    assert_eq!(st.state("x"), State::Open { until_ms: 30_010 });
    // The cooldown is over: call 2 is the probe.
    assert_eq!(
        admit(&cfg, &mut st, &call("x", &a, "2"), 30_010, false, &mut ch),
        None
    );
    let probing = State::HalfOpen {
        probe: Some("2".into()),
    };
    assert_eq!(st.state("x"), probing);
    // The late answers to the call made before the circuit opened decide nothing.
    observe(&cfg, &mut st, "x", "early", false, 30_020, &mut ch);
    assert_eq!(st.state("x"), probing);
    observe(&cfg, &mut st, "x", "early", true, 30_030, &mut ch);
    assert_eq!(st.state("x"), probing);
    // The probe's own answer does.
    observe(&cfg, &mut st, "x", "2", false, 30_040, &mut ch);
    assert_eq!(st.state("x"), State::Closed);
    let steps: Vec<(&str, &str)> = ch.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        steps,
        vec![
            ("closed", "open"),
            ("open", "half-open"),
            ("half-open", "closed")
        ]
    );
}

#[test]
fn loop_detection_remembers_max_recent_calls() {
    let mut cfg = Config::defaults();
    cfg.rate_limits.clear();
    cfg.loop_rule = Some(LoopRule {
        repeats: 2,
        window_ms: 86_400_000,
        ignore_fields: Vec::new(),
    });
    let a = args("{}");
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    let names: Vec<String> = (0..MAX_RECENT).map(|i| format!("t{i}")).collect();
    // t0, then every other name once: MAX_RECENT calls, all remembered.
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            admit(
                &cfg,
                &mut st,
                &call(name, &a, "1"),
                i as u64,
                false,
                &mut ch
            ),
            None,
            "{name}"
        );
    }
    // t0 again is a repeat.
    let r = admit(&cfg, &mut st, &call("t0", &a, "2"), 20_000, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.loop");
    // One more call: the oldest (t0) is forgotten to make room, t1 is still remembered.
    let r = admit(&cfg, &mut st, &call("new", &a, "3"), 20_001, false, &mut ch);
    assert_eq!(r, None);
    let r = admit(&cfg, &mut st, &call("t1", &a, "4"), 20_002, false, &mut ch).unwrap();
    assert_eq!(r.rule, "breaker.loop");
    assert_eq!(st.recent.len(), MAX_RECENT);
}

/// A shared store saves the state as JSON and loads it on another host: the copy decides
/// exactly as the original (buckets, fingerprints and their counts, circuits).
#[test]
fn a_session_state_read_back_from_json_decides_the_same() {
    let cfg = Config::defaults();
    let a = args(r#"{"job":"42"}"#);
    let mut st = SessionState::default();
    let mut ch = Vec::new();
    for i in 0..4 {
        assert_eq!(
            admit(&cfg, &mut st, &call("t", &a, "x"), 1000 + i, false, &mut ch),
            None
        );
    }
    for _ in 0..5 {
        observe(&cfg, &mut st, "bad", "1", true, 2000, &mut ch);
    }
    let json = serde_json::to_string(&st).unwrap();
    let mut copy: SessionState = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&copy).unwrap().len(), json.len());
    assert_eq!(copy.state("bad"), st.state("bad"));
    assert!(matches!(copy.state("bad"), State::Open { .. }));
    let r = admit(&cfg, &mut copy, &call("t", &a, "y"), 1010, false, &mut ch).unwrap();
    assert_eq!(
        r.rule, "breaker.loop",
        "the fifth identical call, counted across the copy"
    );
    assert_eq!(copy.calls, 4);
}
