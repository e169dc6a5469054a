//! Response caps by size: over the cap an answer is replaced by an error result, cut with a
//! note, or reported, as the cap says; memory stays bounded either way.

use super::*;

fn tools() -> Value {
    json!({"tools": [tool("big", "Return x characters"), tool("echo", "Echo")]})
}

fn capped(action: &str) -> String {
    format!("server:\n  responses:\n    - tools: [big]\n      max_bytes: 2KiB\n      action: {action}\n")
}

#[test]
fn an_answer_over_its_byte_cap_is_replaced_by_an_error_result() {
    let mut p = Proxy::start("caps-block", &capped("block"), &tools());
    let small = p.call("big", json!({"bytes": 1000}));
    assert_eq!(text_of(&small).len(), 1000, "{small}");
    let over = p.call("big", json!({"bytes": 5000}));
    assert_eq!(over["result"]["isError"], true, "{over}");
    let text = text_of(&over);
    assert!(
        text.contains("withheld") && text.contains("server.responses[0]"),
        "{text}"
    );
    assert!(!text.contains("xxxx"), "{text}");
    // Another tool is not capped.
    assert_eq!(text_of(&p.call("echo", json!({"a": "b"}))), r#"{"a":"b"}"#);
    let capped: Vec<Value> = p
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "capped")
        .collect();
    assert_eq!(capped.len(), 1, "{capped:?}");
    assert_eq!(capped[0]["reason"], "response_too_large");
    assert_eq!(capped[0]["tool"], "big");
    assert!(capped[0]["details"]["bytes"].as_u64().unwrap() > 5000);
    p.finish();
}

#[test]
fn an_answer_with_its_id_last_over_the_cap_is_dropped_and_answered_for() {
    // The TypeScript SDK writes the id after the result: the line outgrows what Sentinel
    // holds before its id is known, so it is dropped and the right request answered.
    let mut p = Proxy::start("caps-id-last", &capped("block"), &tools());
    let over = p.call("big", json!({"bytes": 100_000, "id_last": true}));
    assert_eq!(over["result"]["isError"], true, "{over}");
    assert!(text_of(&over).contains("withheld"), "{over}");
    let under = p.call("big", json!({"bytes": 100, "id_last": true}));
    assert_eq!(text_of(&under).len(), 100, "{under}");
    assert_eq!(p.call("echo", json!({}))["result"]["isError"], false);
    p.finish();
}

#[test]
fn truncate_cuts_the_text_to_the_cap_and_says_so() {
    let mut p = Proxy::start("caps-truncate", &capped("truncate"), &tools());
    let over = p.call("big", json!({"bytes": 50_000}));
    let content = over["result"]["content"].as_array().unwrap();
    let total: usize = content
        .iter()
        .map(|c| c["text"].as_str().unwrap().len())
        .sum();
    assert!(total <= 2048, "{total} bytes kept");
    assert!(content[0]["text"].as_str().unwrap().starts_with("xxxx"));
    assert!(content.last().unwrap()["text"]
        .as_str()
        .unwrap()
        .contains("withheld by the response cap"));
    p.finish();
}

#[test]
fn a_monitored_cap_passes_the_answer_on_and_reports_it() {
    let mut p = Proxy::start("caps-monitor", &capped("monitor"), &tools());
    let over = p.call("big", json!({"bytes": 5000}));
    assert_eq!(text_of(&over).len(), 5000);
    let entry = p
        .audit()
        .into_iter()
        .find(|e| e["action"] == "monitored")
        .expect("a monitored entry");
    assert_eq!(entry["would_have"], "block");
    assert_eq!(entry["rule"], "server.responses[0]");
    p.finish();
}

#[test]
fn an_uncapped_answer_larger_than_sentinel_holds_streams_through_whole() {
    // 20 MiB, over the 16 MiB Sentinel ever holds, while a list answer is being watched
    // does not matter: nothing is enforced on it, so it is streamed.
    let mut p = Proxy::start("caps-stream", "rules: []\n", &tools());
    let n = 20 << 20;
    let answer = p.call("big", json!({"bytes": n}));
    assert_eq!(text_of(&answer).len(), n);
    p.finish();
}

#[test]
fn a_bad_cap_is_an_error_with_its_place() {
    let dir = util::scratch("caps-bad");
    let policy = dir.join("p.yaml");
    for (body, says) in [
        (
            "server:\n      responses:\n        - tools: [big]\n",
            "caps nothing",
        ),
        (
            "server:\n      responses:\n        - max_bytes: 12 parsecs\n",
            "unknown unit",
        ),
        ("server:\n      descriptions: shout\n", "shout"),
    ] {
        std::fs::write(
            &policy,
            format!("version: 1\nprofiles:\n  default:\n    {body}"),
        )
        .unwrap();
        let out = util::bare(&dir)
            .args(["policy", "check"])
            .arg(&policy)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(says) && text.contains("p.yaml:"),
            "{says}: {text}"
        );
    }
}

/// The peak resident memory of process `pid` (`VmHWM` of `/proc/PID/status`), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

#[test]
fn a_capped_answer_is_held_up_to_its_cap_and_no_further() {
    // 48 MiB answers over a 2 KiB cap, with the id first and last: Sentinel drops them as
    // they stream, so its memory never grows by anything like their size (holding even one
    // would add 48 MiB; holding up to the 16 MiB it keeps for uncapped inspection, 16 MiB).
    let mut p = Proxy::start("caps-memory", &capped("block"), &tools());
    let before = peak_kib(p.s.child.id());
    for id_last in [false, true] {
        let over = p.call("big", json!({"bytes": 48 << 20, "id_last": id_last}));
        assert_eq!(over["result"]["isError"], true, "{over}");
    }
    let grew = peak_kib(p.s.child.id()).saturating_sub(before);
    assert!(grew < 8 << 10, "peak memory grew by {grew} KiB");
    p.finish();
}

#[test]
fn a_cancelled_call_whose_answer_comes_anyway_is_still_capped() {
    let doc = json!({"tools": [tool("sleep", "Sleep, then echo"), tool("echo", "Echo")]});
    let mut p = Proxy::start(
        "caps-cancelled",
        "server:\n  responses:\n    - tools: [sleep]\n      max_bytes: 1KiB\n      action: block\n",
        &doc,
    );
    let pad = "p".repeat(5000);
    p.s.send(&util::tool_call(
        "41",
        "sleep",
        &format!(r#"{{"ms":300,"pad":"{pad}"}}"#),
    ));
    p.s.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":41}}"#);
    // The server answers anyway (the fake server ignores cancellations): still inspected.
    let late = p.s.recv(T);
    assert_eq!(late["id"], 41, "{late}");
    assert_eq!(late["result"]["isError"], true, "{late}");
    assert!(!late.to_string().contains("pppp"), "{late}");
    p.finish();
}
