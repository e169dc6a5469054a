//! Unit tests of the verifier on logs the real writer produced (two sessions interleaved on
//! one file, signed checkpoints), each tampered with one way.

use super::*;
use crate::audit::keys::Key;
use crate::audit::{Audit, Settings};
use crate::base::clock::FixedClock;
use crate::base::term::{Term, Verbosity};
use std::sync::Arc;

fn key() -> Arc<Key> {
    Arc::new(Key::from_seed([42; 32]))
}

/// 2 sessions, 5 events each, interleaved; a checkpoint every 2 entries and at the close.
fn signed_log() -> Vec<String> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("sentinel-verify-{}-{n}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let settings = Settings {
        key: Some(key()),
        checkpoint_every: 2,
        ..Settings::default()
    };
    let clock = Arc::new(FixedClock(std::time::UNIX_EPOCH));
    let a = Audit::open(
        Some(&path),
        "server a".into(),
        clock,
        Term::new(false, Verbosity::Quiet),
        settings,
    )
    .unwrap();
    let b = a.session("server b".into(), Some("team \"b\"".into()));
    assert_ne!(a.session_id(), b.session_id());
    for i in 0..5 {
        a.event("policy_loaded", "r", "why", None, &format!("a{i}"));
        b.event("policy_loaded", "r", "why", None, &format!("b{i}"));
    }
    a.close();
    b.close();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn run(lines: &[String], opts: &Options) -> Report {
    let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    verify(vec![Box::new(text.as_bytes())], opts)
}

fn keyed() -> Options {
    Options {
        key: Some(key().public()),
        ..Options::default()
    }
}

fn at(r: &Report) -> Vec<u64> {
    r.problems.iter().map(|p| p.line).collect()
}

#[test]
fn the_writers_log_is_sound_with_and_without_the_key() {
    let log = signed_log();
    // 10 entries, 2 periodic checkpoints per session (after 2 and 4), 1 closing each.
    assert_eq!(log.len(), 16, "{log:#?}");
    let r = run(&log, &keyed());
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!((r.sessions, r.checkpoints, r.signatures), (2, 6, 6));
    let r = run(&log, &Options::default());
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.signatures, 0);
}

#[test]
fn a_sessions_tenant_is_in_each_of_its_entries_and_signed_with_them() {
    let lines = signed_log();
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let b_session = parsed
        .iter()
        .find(|e| e["tenant"].is_string())
        .expect("an entry with a tenant")["session"]
        .clone();
    for e in &parsed {
        if e["session"] == b_session {
            assert_eq!(e["tenant"], "team \"b\"", "{e}");
        } else {
            assert!(e.get("tenant").is_none(), "{e}");
        }
    }
    // The tenant is part of what is chained and signed: changing it is found.
    let mut edited = lines.clone();
    let i = edited
        .iter()
        .position(|l| l.contains("\"tenant\""))
        .unwrap();
    edited[i] = edited[i].replace("team \\\"b\\\"", "team c");
    assert_ne!(edited[i], lines[i]);
    assert!(!run(&edited, &keyed()).problems.is_empty());
}

#[test]
fn an_edit_a_removal_a_swap_and_an_insertion_are_named_by_line() {
    let log = signed_log();
    let mut edited = log.clone();
    edited[4] = edited[4].replace("policy_loaded", "policy_LOADED");
    assert_eq!(at(&run(&edited, &Options::default())), vec![5]);

    let mut removed = log.clone();
    removed.remove(4);
    let r = run(&removed, &Options::default());
    assert!(at(&r).contains(&4), "{:#?}", r.problems);
    assert!(
        r.problems.iter().any(|p| p.what.contains("missing")),
        "{:#?}",
        r.problems
    );

    let mut swapped = log.clone();
    swapped.swap(6, 7);
    let r = run(&swapped, &Options::default());
    assert!(
        r.problems
            .iter()
            .any(|p| p.line == 7 && p.what.contains("out of order")),
        "{:#?}",
        r.problems
    );

    let mut inserted = log.clone();
    inserted.insert(3, log[2].replace("a1", "a1 again"));
    let r = run(&inserted, &Options::default());
    assert!(at(&r).contains(&4), "{:#?}", r.problems);
}

#[test]
fn a_cut_a_missing_start_and_the_wrong_or_a_forged_signature() {
    let log = signed_log();
    // Whole lines cut from the end: both sessions lose their closing checkpoint.
    let r = run(&log[..log.len() - 2], &keyed());
    assert_eq!(r.problems.len(), 2, "{:#?}", r.problems);
    assert!(r
        .problems
        .iter()
        .all(|p| p.what.contains("no closing checkpoint")));
    let open = Options {
        allow_open: true,
        ..keyed()
    };
    let r = run(&log[..log.len() - 2], &open);
    assert!(r.problems.is_empty() && r.notes.len() == 2, "{r:#?}");

    // The first lines gone: the chain starts from nowhere, unless --partial.
    let r = run(&log[3..], &Options::default());
    assert_eq!(at(&r)[0], 1, "{:#?}", r.problems);
    let partial = Options {
        partial: true,
        ..Options::default()
    };
    assert!(run(&log[3..], &partial).problems.is_empty());

    // Another key; a signature changed in one digit.
    let other = Options {
        key: Some(Key::from_seed([1; 32]).public()),
        ..Options::default()
    };
    let r = run(&log, &other);
    assert!(r
        .problems
        .iter()
        .any(|p| p.what.contains("not by the given key")));
    let last = log.len() - 1;
    let mut forged = log.clone();
    let sig_digit = forged[last].len() - 3;
    let flipped = if &forged[last][sig_digit..sig_digit + 1] == "0" {
        "1"
    } else {
        "0"
    };
    forged[last].replace_range(sig_digit..sig_digit + 1, flipped);
    let r = run(&forged, &keyed());
    assert_eq!(
        at(&r),
        vec![last as u64 + 1, last as u64 + 1],
        "{:#?}",
        r.problems
    );
    assert!(
        r.problems[0].what.contains("does not verify")
            || r.problems[1].what.contains("does not verify")
    );
}

#[test]
fn a_line_cut_mid_way_and_a_line_that_is_not_json() {
    let log = signed_log();
    let mut text: String = log.iter().map(|l| format!("{l}\n")).collect();
    text.truncate(text.len() - 20);
    let r = verify(vec![Box::new(text.as_bytes())], &Options::default());
    assert!(
        r.problems
            .iter()
            .any(|p| p.line == 16 && p.what.contains("cut short")),
        "{:#?}",
        r.problems
    );
    let mut junk = log.clone();
    junk[2] = "not json".into();
    assert!(at(&run(&junk, &Options::default())).contains(&3));
}
