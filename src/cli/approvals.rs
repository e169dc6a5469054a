//! `sentinel approvals`: a person on this host answering the calls running Sentinels hold for
//! approval. Owns the subcommand's arguments and help, `list` (every running Sentinel's held
//! calls, as a table or JSON), `approve` and `deny` (one call, by its `<pid>-<n>` id), and how
//! a held call is shown to a person: every character the agent chose (arguments, but also tool
//! and server names) is made visible, never interpreted by the terminal (control, bidi,
//! zero-width and escape characters appear as `\x1b`, `\u{202e}`). `watch` lives in
//! `watch.rs`; the socket protocol in `transport::local`.

use super::UsageError;
use crate::base::clock;
use crate::base::term::{Term, Verbosity};
use crate::transport::local::{Client, Held, Reach, Request};
use crate::transport::rundir::{Entry, RunDir};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a Sentinel may take to answer one request.
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub const USAGE: &str = "\
sentinel approvals - answer the tool calls running Sentinels hold for a person's approval

Usage:
  sentinel approvals list [--json]            the calls waiting now, of every running Sentinel
  sentinel approvals approve ID [--session]   let call ID through (--session: also every
                                              identical call for the rest of its session,
                                              when its rule allows that)
  sentinel approvals deny ID [--reason TEXT]  refuse call ID (TEXT is told to the agent)
  sentinel approvals watch                    show calls as they are held and answer them

ID is the call's id as `list` shows it: PID-N (the Sentinel's process id, then a number).
A call is held only while someone can answer it: a rule with `action: approve` holds a call
on this host while a `sentinel approvals watch` of yours runs; nobody answering in time means
no.

watch: in a terminal, each call is shown whole (server, tool, rule, reason, arguments with
control, bidi and zero-width characters made visible), and one key answers it: y approve,
s approve for the session, n deny (keys typed before a call was shown do not count); q or
Ctrl-C stops. Without a terminal (a script), each event is one JSON line on stdout
({\"event\":\"held\",...}, {\"event\":\"resolved\",...}, {\"event\":\"answered\",...}) and answers
are lines on stdin: `approve ID`, `approve ID --session`, `deny ID [REASON...]`, or y, s, n
for the oldest unanswered call. At the end of stdin it goes on watching until SIGINT or
SIGTERM; it exits 0 then.

Calls of all your running Sentinels are found through the sockets in
$XDG_RUNTIME_DIR/mcp-sentinel/ (else /tmp/mcp-sentinel-UID/), a directory only you may use.

Exit codes: 0 done; 1 the call or its Sentinel was not found, the answer was refused, or the
runtime directory is unusable; 2 bad usage.
";

/// What `sentinel approvals` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    List { json: bool },
    Approve { id: String, session: bool },
    Deny { id: String, reason: Option<String> },
    Watch,
    Help,
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(format!(
        "{} (see sentinel approvals --help)",
        message.into()
    ))
}

/// Parses the arguments after `approvals`.
pub fn parse(args: Vec<OsString>) -> Result<Action, UsageError> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let err = |e: lexopt::Error| usage(e.to_string());
    let (mut json, mut session, mut reason) = (false, false, None::<String>);
    let mut words: Vec<String> = Vec::new();
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Action::Help),
            Long("json") => json = true,
            Long("session") => session = true,
            Long("reason") => {
                let v = parser.value().map_err(err)?;
                reason = Some(
                    v.into_string()
                        .map_err(|_| usage("--reason: not valid UTF-8"))?,
                );
            }
            Value(w) => words.push(
                w.into_string()
                    .map_err(|w| usage(format!("invalid argument {w:?}: not valid UTF-8")))?,
            ),
            _ => return Err(err(arg.unexpected())),
        }
    }
    let command = words.first().map(String::as_str);
    let only = |allowed: &str| -> Result<(), UsageError> {
        let given = [
            ("--json", json),
            ("--session", session),
            ("--reason", reason.is_some()),
        ];
        match given.iter().find(|(name, on)| *on && *name != allowed) {
            Some((name, _)) => Err(usage(format!(
                "{name} is not an option of `approvals {}`",
                command.unwrap_or_default()
            ))),
            None => Ok(()),
        }
    };
    match (command, &words[1.min(words.len())..]) {
        (None, _) => Err(usage(
            "approvals needs a command: list, approve, deny or watch",
        )),
        (Some("list"), []) => only("--json").map(|()| Action::List { json }),
        (Some("watch"), []) => only("").map(|()| Action::Watch),
        (Some("approve"), [id]) => {
            only("--session")?;
            check_id(id)?;
            Ok(Action::Approve {
                id: id.clone(),
                session,
            })
        }
        (Some("deny"), [id]) => {
            only("--reason")?;
            check_id(id)?;
            Ok(Action::Deny {
                id: id.clone(),
                reason,
            })
        }
        (Some("approve"), _) => Err(usage("usage: sentinel approvals approve ID [--session]")),
        (Some("deny"), _) => Err(usage("usage: sentinel approvals deny ID [--reason TEXT]")),
        (Some(c @ ("list" | "watch")), _) => {
            Err(usage(format!("`approvals {c}` takes no argument")))
        }
        (Some(other), _) => Err(usage(format!(
            "unknown approvals command '{}': expected list, approve, deny or watch",
            visible(other)
        ))),
    }
}

/// The Sentinel's pid in a call id `PID-N`, or why the id is not one.
pub fn id_pid(id: &str) -> Result<u32, String> {
    let bad = || {
        format!(
            "invalid call id '{}': expected PID-N, as `sentinel approvals list` shows it",
            visible(id)
        )
    };
    let (pid, n) = id.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !n.bytes().all(|b| b.is_ascii_alphanumeric()) || n.is_empty() {
        return Err(bad());
    }
    pid.parse().map_err(|_| bad())
}

fn check_id(id: &str) -> Result<(), UsageError> {
    id_pid(id).map(|_| ()).map_err(usage)
}

/// Writes to stdout; a reader that went away (`| head`) is not an error worth a panic.
pub fn out(text: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// Runs an action; returns the exit code.
pub fn run(action: Action) -> u8 {
    let term = Term::new(true, Verbosity::Normal);
    if action == Action::Help {
        out(USAGE);
        return 0;
    }
    let dir = match RunDir::open() {
        Ok(d) => d,
        Err(e) => {
            term.error(&e.to_string());
            return 1;
        }
    };
    match action {
        Action::List { json } => list(&dir, json, &term),
        Action::Approve { id, session } => {
            answer_command(&dir, Request::Approve { id, session }, &term)
        }
        Action::Deny { id, reason } => answer_command(&dir, Request::Deny { id, reason }, &term),
        Action::Watch => super::watch::run(dir, term),
        Action::Help => 0,
    }
}

/// Every held call of every running Sentinel, oldest first, as the Sentinels sent them.
/// Sockets nobody listens on are removed as they are met.
pub fn collect(dir: &RunDir, term: &Term) -> Vec<Value> {
    let mut calls: Vec<Value> = Vec::new();
    for entry in dir.entries() {
        let Entry::Sentinel(pid) = entry else {
            continue;
        };
        let mut client = match Client::connect(dir, pid, TIMEOUT) {
            Ok(c) => c,
            Err(Reach::Missing | Reach::Stale) => continue,
            Err(Reach::Io(e)) => {
                term.warn(&format!("cannot reach the Sentinel of pid {pid}: {e}"));
                continue;
            }
        };
        match client.request(&Request::List) {
            Ok(Ok(mut reply)) => {
                if let Some(Value::Array(held)) = reply.get_mut("held").map(Value::take) {
                    calls.extend(held.into_iter().filter(Value::is_object));
                }
            }
            Ok(Err(message)) => term.warn(&format!("the Sentinel of pid {pid}: {message}")),
            Err(e) => term.warn(&format!("the Sentinel of pid {pid} did not answer: {e}")),
        }
    }
    let key = |v: &Value| {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        (s("since"), s("id"))
    };
    calls.sort_by_key(key);
    calls
}

fn list(dir: &RunDir, json: bool, term: &Term) -> u8 {
    let calls = collect(dir, term);
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&calls).unwrap_or_else(|_| "[]".into())
        ));
    } else if calls.is_empty() {
        out("no calls are waiting for approval\n");
    } else {
        let now = clock::from_env().now();
        let held: Vec<Held> = calls
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap_or_default())
            .collect();
        out(&table(&held, now));
    }
    0
}

/// The table `list` prints.
pub fn table(calls: &[Held], now: SystemTime) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "ID".into(),
        "SERVER".into(),
        "TOOL".into(),
        "RULE".into(),
        "WAITED".into(),
        "ARGUMENTS".into(),
    ]];
    for c in calls {
        let mut rule = abbreviate(&visible(&c.rule), 32);
        if !c.local {
            rule.push_str(" (client only)");
        }
        rows.push([
            abbreviate(&visible(&c.id), 24),
            abbreviate(&visible(&c.server), 24),
            abbreviate(&visible(&c.tool), 24),
            rule,
            waited(&c.since, now),
            abbreviate(&compact(&c.arguments), 60),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `approve` and `deny`: one answer, said on stdout; errors on stderr with exit 1.
fn answer_command(dir: &RunDir, request: Request, term: &Term) -> u8 {
    match answer(dir, &request) {
        Ok(done) => {
            out(&format!("{done}\n"));
            0
        }
        Err(message) => {
            term.error(&message);
            1
        }
    }
}

/// Sends one answer to the Sentinel that holds the call; `Ok` says what was done.
pub fn answer(dir: &RunDir, request: &Request) -> Result<String, String> {
    let (id, verb) = match request {
        Request::Approve { id, session: false } => (id, "approved"),
        Request::Approve { id, session: true } => (id, "approved for the rest of the session"),
        Request::Deny { id, .. } => (id, "denied"),
        Request::List | Request::Watch => return Err("not an answer".into()),
    };
    let pid = id_pid(id)?;
    let mut client = match Client::connect(dir, pid, TIMEOUT) {
        Ok(c) => c,
        Err(Reach::Missing | Reach::Stale) => {
            return Err(format!(
                "no running Sentinel has pid {pid}, so there is no call {id}: it ended, or \
                 the id is mistyped (see `sentinel approvals list`)"
            ))
        }
        Err(Reach::Io(e)) => return Err(format!("cannot reach the Sentinel of pid {pid}: {e}")),
    };
    // What the call is, to say what was answered (best effort: the answer is what counts).
    let what = match client.request(&Request::List) {
        Ok(Ok(reply)) => reply
            .get("held")
            .and_then(Value::as_array)
            .and_then(|held| {
                held.iter()
                    .find(|h| h.get("id").and_then(Value::as_str) == Some(id))
            })
            .and_then(|h| serde_json::from_value::<Held>(h.clone()).ok())
            .map(|h| format!(": {} on {}", visible(&h.tool), visible(&h.server))),
        _ => None,
    };
    match client.request(request) {
        Ok(Ok(_)) => Ok(format!("{verb} call {id}{}", what.unwrap_or_default())),
        Ok(Err(message)) => Err(message),
        Err(e) => Err(format!(
            "the Sentinel of pid {pid} did not confirm the answer ({e}); see `sentinel \
             approvals list`"
        )),
    }
}

/// `s` with every character a terminal could hide or act on made visible: backslash as
/// `\\`, `\n`, `\r`, `\t`, other C0 controls and DEL as `\xNN`, C1 controls and invisible or
/// direction-changing characters as `\u{NNNN}`.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    out
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if crate::base::visible::hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// A JSON value on one line, strings quoted and [`visible`] (a `"` inside as `\"`).
pub fn compact(v: &Value) -> String {
    let mut out = String::new();
    push_compact(&mut out, v);
    out
}

fn push_string(out: &mut String, s: &str) {
    out.push('"');
    push_inner(out, s);
    out.push('"');
}

/// A string's text between its quotes.
fn push_inner(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '"' {
            out.push_str("\\\"");
        } else {
            push_visible(out, c);
        }
    }
}

fn push_compact(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_compact(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_string(out, k);
                out.push_str(": ");
                push_compact(out, item);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The arguments as a person reads them before answering: one line per top-level argument,
/// string arguments whole (a newline shown as `\n` and then broken, so the text's lines stay
/// readable and none can pass for ours), other values on one line.
pub fn arguments_block(v: &Value, indent: &str) -> String {
    let mut out = String::new();
    let Value::Object(map) = v else {
        out.push_str(indent);
        out.push_str(&compact(v));
        out.push('\n');
        return out;
    };
    if map.is_empty() {
        out.push_str(indent);
        out.push_str("(none)\n");
    }
    for (k, item) in map {
        let key = visible(k);
        out.push_str(indent);
        out.push_str(&key);
        out.push_str(": ");
        match item {
            Value::String(s) => {
                let cont = format!("\n{indent}{}", " ".repeat(key.chars().count() + 3));
                out.push('"');
                for (i, line) in s.split('\n').enumerate() {
                    if i > 0 {
                        out.push_str("\\n");
                        out.push_str(&cont);
                    }
                    push_inner(&mut out, line);
                }
                out.push('"');
            }
            other => out.push_str(&compact(other)),
        }
        out.push('\n');
    }
    out
}

/// At most `max` characters of `s`, the cut marked with `…`.
pub fn abbreviate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Reads the RFC 3339 times Sentinel writes (`2026-01-13T10:11:36.279646Z`; an offset
/// instead of `Z` is honoured).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u32 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits: String = frac[..n]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        nanos = digits.parse().ok()?;
        rest = &frac[n..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let hh: i64 = o[1..3].parse().ok()?;
            let mm: i64 = o[4..6].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration for people: `45s`, `3m05s`, `2h10m`, `3d04h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// How long ago `since` was.
pub fn waited(since: &str, now: SystemTime) -> String {
    match parse_time(since) {
        Some(t) => human(now.duration_since(t).unwrap_or_default()),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse(args(&["list"])).unwrap(),
            Action::List { json: false }
        );
        assert_eq!(
            parse(args(&["list", "--json"])).unwrap(),
            Action::List { json: true }
        );
        assert_eq!(parse(args(&["watch"])).unwrap(), Action::Watch);
        assert_eq!(parse(args(&["--help"])).unwrap(), Action::Help);
        assert_eq!(parse(args(&["approve", "-h"])).unwrap(), Action::Help);
        assert_eq!(
            parse(args(&["approve", "12-3", "--session"])).unwrap(),
            Action::Approve {
                id: "12-3".into(),
                session: true
            }
        );
        assert_eq!(
            parse(args(&["deny", "12-3", "--reason", "too broad"])).unwrap(),
            Action::Deny {
                id: "12-3".into(),
                reason: Some("too broad".into())
            }
        );
        assert_eq!(
            parse(args(&["deny", "--reason=no", "12-3"])).unwrap(),
            Action::Deny {
                id: "12-3".into(),
                reason: Some("no".into())
            }
        );
    }

    #[test]
    fn bad_usage_is_named() {
        let err = |a: &[&str]| parse(args(a)).unwrap_err().0;
        assert!(err(&[]).contains("needs a command"));
        assert!(err(&["frob"]).contains("unknown approvals command 'frob'"));
        assert!(err(&["approve"]).contains("approve ID"));
        assert!(err(&["approve", "1-2", "3-4"]).contains("approve ID"));
        assert!(err(&["deny"]).contains("deny ID"));
        assert!(err(&["approve", "abc"]).contains("invalid call id 'abc'"));
        assert!(err(&["approve", "12-"]).contains("invalid call id"));
        assert!(err(&["approve", "-12"]).contains("invalid"));
        assert!(err(&["approve", "1-2", "--reason", "x"]).contains("--reason is not an option"));
        assert!(err(&["deny", "1-2", "--session"]).contains("--session"));
        assert!(err(&["list", "--session"]).contains("--session"));
        assert!(err(&["list", "x"]).contains("takes no argument"));
        assert!(err(&["watch", "--json"]).contains("--json"));
        assert!(err(&["list", "--bogus"]).contains("--bogus"));
        assert!(err(&["frob\x1b[2J"]).contains("frob\\x1b[2J"));
    }

    #[test]
    fn ids_name_their_sentinel() {
        assert_eq!(id_pid("4242-1"), Ok(4242));
        assert_eq!(id_pid("4242-a1"), Ok(4242));
        for bad in [
            "",
            "-",
            "4242",
            "x-1",
            "1-",
            "1-2-3",
            "99999999999-1",
            "1-\u{202e}",
        ] {
            assert!(id_pid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn visible_shows_what_a_terminal_would_hide_or_obey() {
        assert_eq!(visible("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
        assert_eq!(visible("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(visible("a\nb\tc\rd\0e\x7f"), "a\\nb\\tc\\rd\\x00e\\x7f");
        assert_eq!(visible("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(
            visible("zero\u{200b}width\u{feff}"),
            "zero\\u{200b}width\\u{feff}"
        );
        assert_eq!(visible("\u{2066}iso\u{2069}"), "\\u{2066}iso\\u{2069}");
        assert_eq!(visible("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(visible("c1\u{9b}31m"), "c1\\u{9b}31m");
        // A literal backslash cannot pass for an escape.
        assert_eq!(visible("\\x1b"), "\\\\x1b");
    }

    #[test]
    fn arguments_are_shown_whole_and_visible() {
        let v = json!({"query": "DELETE FROM t;\n-- \u{202e}ok", "n": 3, "deep": {"k": ["\x1b]0;x\x07"]}});
        let block = arguments_block(&v, "  ");
        assert_eq!(
            block,
            "  deep: {\"k\": [\"\\x1b]0;x\\x07\"]}\n  n: 3\n  query: \"DELETE FROM t;\\n\n          -- \\u{202e}ok\"\n"
        );
        assert_eq!(
            compact(&json!({"a": "say \"hi\""})),
            "{\"a\": \"say \\\"hi\\\"\"}"
        );
        assert_eq!(arguments_block(&json!({}), ""), "(none)\n");
        let long = "x".repeat(10_000);
        assert!(arguments_block(&json!({ "s": long }), "").contains(&long));
    }

    #[test]
    fn the_table_abbreviates_and_escapes() {
        let now = parse_time("2026-01-01T00:01:05Z").unwrap();
        let held = Held {
            id: "7-1".into(),
            server: "db\x1b[2J".into(),
            tool: "write_query".into(),
            rule: "sql.destructive".into(),
            arguments: json!({"query": "x".repeat(200)}),
            since: "2026-01-01T00:00:00.000000Z".into(),
            local: true,
            ..Held::default()
        };
        let text = table(&[held], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID "));
        assert!(lines[1].contains("db\\x1b[2J"));
        assert!(lines[1].contains("1m05s"));
        assert!(lines[1].ends_with('…'));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn times_parse() {
        let t = parse_time("2026-01-13T10:11:36.279646Z").unwrap();
        assert_eq!(clock::rfc3339(t), "2026-01-13T10:11:36.279646Z");
        assert_eq!(
            parse_time("2026-01-13T11:11:36+01:00"),
            parse_time("2026-01-13T10:11:36Z")
        );
        assert_eq!(
            parse_time("2000-02-29T00:00:00Z"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        for bad in [
            "",
            "2026-01-13",
            "2026-13-01T00:00:00Z",
            "2026-01-13T10:11:36",
            "x026-01-13T10:11:36Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_secs(185)), "3m05s");
        assert_eq!(human(Duration::from_secs(7800)), "2h10m");
        assert_eq!(
            human(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)),
            "3d04h"
        );
    }
}
