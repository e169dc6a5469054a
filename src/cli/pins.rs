//! `sentinel pins`: a person looking at and answering what the pinning guard recorded. Owns
//! the subcommand's arguments and help, `list` (every pinned server and its tools' state),
//! `diff` (pending changes field by field, old and new text with every character a terminal
//! could hide or obey made visible, "read-only to destructive" named loudly), `accept`,
//! `reset`, and `check` (a `tools/list` result from stdin judged as the gateway judges it, for
//! scripts and tests), each as text for people or `--json`. The pins themselves are
//! `guards::pins`.

use super::approvals::{compact, out, visible};
use super::UsageError;
use crate::base::clock;
use crate::guards::pins::{
    Change, CommandChange, DiffKind, Page, PinError, Pins, Report, State, Status, ESCALATION,
};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

pub const USAGE: &str = "\
sentinel pins - the tool definitions pinned per server, and their changes

Usage:
  sentinel pins list [--json]                 every pinned server, its id and tools' state
  sentinel pins diff SERVER [TOOL] [--json]   what changed since the pin, field by field
  sentinel pins accept SERVER [TOOL]          pin what the server lists now (every change,
                                              the launch command and forgetting removed
                                              tools; or only TOOL's change)
  sentinel pins reset SERVER                  forget the server's pins: its next listing is
                                              pinned afresh
  sentinel pins check SERVER [--command CMD] [--json] < LISTING
                                              judge a tools/list result (JSON on stdin) as
                                              the gateway does, recording it (for scripts)

SERVER is the server's identity (its --server-name, else its command line) or its id as
`list` shows it (12 hex digits; the first 4 or more are enough when only one id starts so).

Options:
      --pins-dir DIR   where the pins are [env: SENTINEL_PINS_DIR] [default:
                       $XDG_STATE_HOME/mcp-sentinel/pins, else
                       ~/.local/state/mcp-sentinel/pins]
      --json           print JSON instead of text
      --command CMD    check: the launch command [default: SERVER]
  -h, --help           print this help

Exit codes: 0 done; 1 the server or tool was not found, nothing to accept, the pins could
not be read or written (a damaged file is named), or `check` found anything not pinned;
2 bad usage.
";

#[derive(Debug, PartialEq, Eq)]
enum Action {
    List,
    Diff(String, Option<String>),
    Accept(String, Option<String>),
    Reset(String),
    Check(String, Option<String>),
    Help,
}

#[derive(Debug)]
struct Args {
    action: Action,
    dir: Option<PathBuf>,
    json: bool,
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(format!("{} (see sentinel pins --help)", message.into()))
}

fn parse(args: Vec<OsString>, env: impl Fn(&str) -> Option<OsString>) -> Result<Args, UsageError> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let err = |e: lexopt::Error| usage(e.to_string());
    let mut dir = env("SENTINEL_PINS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (mut json, mut command) = (false, None::<String>);
    let mut words: Vec<String> = Vec::new();
    while let Some(arg) = parser.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => {
                return Ok(Args {
                    action: Action::Help,
                    dir,
                    json,
                })
            }
            Long("json") => json = true,
            Long("pins-dir") => dir = Some(parser.value().map_err(err)?.into()),
            Long("command") => {
                let v = parser.value().map_err(err)?;
                command = Some(
                    v.into_string()
                        .map_err(|_| usage("--command: not valid UTF-8"))?,
                );
            }
            Value(w) => words.push(
                w.into_string()
                    .map_err(|w| usage(format!("invalid argument {w:?}: not valid UTF-8")))?,
            ),
            _ => return Err(err(arg.unexpected())),
        }
    }
    let sub = words.first().map(String::as_str);
    let rest: Vec<String> = words.iter().skip(1).cloned().collect();
    if command.is_some() && sub != Some("check") {
        return Err(usage("--command is an option of `pins check` only"));
    }
    if json && matches!(sub, Some("accept" | "reset")) {
        return Err(usage(format!(
            "--json is not an option of `pins {}`",
            sub.unwrap_or_default()
        )));
    }
    let action = match (sub, rest.as_slice()) {
        (None, _) => {
            return Err(usage(
                "pins needs a command: list, diff, accept, reset or check",
            ))
        }
        (Some("list"), []) => Action::List,
        (Some("diff"), [s]) => Action::Diff(s.clone(), None),
        (Some("diff"), [s, t]) => Action::Diff(s.clone(), Some(t.clone())),
        (Some("accept"), [s]) => Action::Accept(s.clone(), None),
        (Some("accept"), [s, t]) => Action::Accept(s.clone(), Some(t.clone())),
        (Some("reset"), [s]) => Action::Reset(s.clone()),
        (Some("check"), [s]) => Action::Check(s.clone(), command),
        (Some("list"), _) => return Err(usage("`pins list` takes no argument")),
        (Some("diff"), _) => return Err(usage("usage: sentinel pins diff SERVER [TOOL] [--json]")),
        (Some("accept"), _) => return Err(usage("usage: sentinel pins accept SERVER [TOOL]")),
        (Some("reset"), _) => return Err(usage("usage: sentinel pins reset SERVER")),
        (Some("check"), _) => {
            return Err(usage(
                "usage: sentinel pins check SERVER [--command CMD] [--json] < LISTING",
            ))
        }
        (Some(other), _) => {
            return Err(usage(format!(
                "unknown pins command '{}': expected list, diff, accept, reset or check",
                visible(other)
            )))
        }
    };
    Ok(Args { action, dir, json })
}

/// Runs `sentinel pins ARGS...`; returns the exit code.
pub fn run(args: Vec<OsString>) -> u8 {
    let args = match parse(args, |k| std::env::var_os(k)) {
        Ok(a) => a,
        Err(UsageError(m)) => {
            eprintln!("sentinel: error: {m}");
            return 2;
        }
    };
    if args.action == Action::Help {
        out(USAGE);
        return 0;
    }
    let done = Pins::new(args.dir).and_then(|pins| {
        let now = clock::from_env().now();
        match args.action {
            Action::List => list(&pins, args.json),
            Action::Diff(server, tool) => {
                let d = pins.diff(&server, tool.as_deref())?;
                out(&if args.json {
                    diff_json(&d)
                } else {
                    diff_text(&d)
                });
                Ok(0)
            }
            Action::Accept(server, tool) => {
                let a = pins.accept(&server, tool.as_deref(), now)?;
                let mut text = format!("accepted for {} ({}):", visible(&a.server), a.id);
                for t in &a.tools {
                    text.push_str(&format!("\n  pinned tool {}", visible(t)));
                }
                for t in &a.forgotten {
                    text.push_str(&format!("\n  forgot removed tool {}", visible(t)));
                }
                if let Some(c) = &a.command {
                    text.push_str(&format!("\n  pinned launch command {}", visible(c)));
                }
                text.push('\n');
                out(&text);
                Ok(0)
            }
            Action::Reset(server) => {
                let s = pins.reset(&server)?;
                out(&format!(
                    "forgot the pins of {}; its next tool listing is pinned afresh\n",
                    visible(&s)
                ));
                Ok(0)
            }
            Action::Check(server, command) => check(&pins, &server, command, args.json, now),
            Action::Help => Ok(0),
        }
    });
    match done {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sentinel: error: {e}");
            1
        }
    }
}

fn list(pins: &Pins, json: bool) -> Result<u8, PinError> {
    let servers = pins.list()?;
    let mut code = 0;
    let (mut text, mut docs, mut errors) = (String::new(), Vec::new(), Vec::new());
    for s in &servers {
        let s = match s {
            Ok(s) => s,
            Err(e) => {
                code = 1;
                eprintln!("sentinel: error: {e}");
                errors.push(json!(e.to_string()));
                continue;
            }
        };
        let tools: Vec<Value> = s
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "state": t.state.as_str(),
                       "escalation": t.state == State::Changed { escalation: true },
                       "pinned_at": t.pinned_at, "hash": t.hash})
            })
            .collect();
        docs.push(json!({"id": s.id, "server": s.server, "command": s.command,
                         "pinned_at": s.pinned_at, "pending_command": s.pending_command,
                         "tools": tools}));
        text.push_str(&format!("{}  {}\n", s.id, visible(&s.server)));
        if s.command != s.server {
            text.push_str(&format!("    command {}\n", visible(&s.command)));
        }
        text.push_str(&format!(
            "    pinned {}, {} tool{}\n",
            s.pinned_at,
            s.tools.len(),
            if s.tools.len() == 1 { "" } else { "s" }
        ));
        if let Some(c) = &s.pending_command {
            text.push_str(&format!("    LAUNCH COMMAND CHANGED to {}\n", visible(c)));
        }
        for t in &s.tools {
            text.push_str(&format!(
                "    {}: {}\n",
                visible(&t.name),
                state_word(&t.state)
            ));
        }
    }
    if json {
        out(&json_safe(
            &json!({"dir": pins.dir().display().to_string(), "servers": docs, "errors": errors}),
        ));
    } else if docs.is_empty() && errors.is_empty() {
        out(&format!("no pinned servers in {}\n", pins.dir().display()));
    } else {
        out(&text);
    }
    Ok(code)
}

fn state_word(state: &State) -> String {
    match state {
        State::Pinned => "pinned".into(),
        State::Changed { escalation: true } => format!("CHANGED ({ESCALATION})"),
        State::Changed { escalation: false } => "CHANGED".into(),
        State::Added => "ADDED (not pinned)".into(),
        State::Removed => "removed (no longer listed)".into(),
    }
}

/// JSON text with every character that hides or reorders text written as a `\\u` escape
/// (still the same JSON; `serde_json` escapes only C0 controls), so a consumer that prints a
/// string without decoding it shows nothing hidden.
fn json_safe(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if crate::base::visible::hidden(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    out
}

/// A value for people: strings quoted, every hidden or control character made visible.
fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "(absent)".to_owned(), compact)
}

fn change_text(text: &mut String, c: &Change) {
    if c.escalation {
        text.push_str(&format!(
            "  !! {}: it said it was read-only (or not destructive) and now says it may \
             destroy data\n",
            ESCALATION.to_uppercase()
        ));
    }
    if c.unstored {
        text.push_str(&format!(
            "  the definition is too large to be stored; only its hash is known: sha256 {} \
             -> {}\n",
            c.old_hash, c.new_hash
        ));
    }
    for f in &c.fields {
        let path = if f.path.is_empty() {
            "(whole definition)"
        } else {
            &f.path
        };
        text.push_str(&format!(
            "  {}\n    - {}\n    + {}\n",
            visible(path),
            shown(f.old.as_ref()),
            shown(f.new.as_ref())
        ));
    }
    if c.more > 0 {
        text.push_str(&format!("  ... and {} more changed fields\n", c.more));
    }
}

fn diff_text(d: &crate::guards::pins::ServerDiff) -> String {
    let mut text = format!("server {} ({})\n", visible(&d.server), d.id);
    if d.command.is_none() && d.tools.is_empty() {
        text.push_str("no changes: every tool matches its pin\n");
        return text;
    }
    if let Some(CommandChange { pinned, now }) = &d.command {
        text.push_str(&format!(
            "LAUNCH COMMAND CHANGED\n    - {}\n    + {}\n",
            visible(pinned),
            visible(now)
        ));
    }
    for t in &d.tools {
        let name = visible(&t.name);
        match &t.kind {
            DiffKind::Changed(c) => {
                let loud = if c.escalation {
                    format!(" ({})", ESCALATION.to_uppercase())
                } else {
                    String::new()
                };
                text.push_str(&format!("tool {name}: CHANGED{loud}\n"));
                change_text(&mut text, c);
            }
            DiffKind::Added(def) => {
                text.push_str(&format!("tool {name}: ADDED (not pinned)\n"));
                match def {
                    Some(Value::Object(fields)) => {
                        for (k, v) in fields {
                            text.push_str(&format!("    + {}: {}\n", visible(k), compact(v)));
                        }
                    }
                    Some(v) => text.push_str(&format!("    + {}\n", compact(v))),
                    None => text.push_str("    (too large to be stored; only its hash is known)\n"),
                }
            }
            DiffKind::Removed { since } => {
                text.push_str(&format!(
                    "tool {name}: removed (not listed since {since})\n"
                ));
            }
        }
    }
    text
}

fn change_json(c: &Change) -> Value {
    let fields: Vec<Value> = c
        .fields
        .iter()
        .map(|f| {
            let mut o = serde_json::Map::new();
            o.insert("path".into(), json!(f.path));
            if let Some(v) = &f.old {
                o.insert("old".into(), v.clone());
            }
            if let Some(v) = &f.new {
                o.insert("new".into(), v.clone());
            }
            Value::Object(o)
        })
        .collect();
    json!({"escalation": c.escalation, "unstored": c.unstored, "old_hash": c.old_hash,
           "new_hash": c.new_hash, "fields": fields, "more_fields": c.more})
}

fn command_json(c: &Option<CommandChange>) -> Value {
    c.as_ref()
        .map_or(Value::Null, |c| json!({"pinned": c.pinned, "now": c.now}))
}

fn diff_json(d: &crate::guards::pins::ServerDiff) -> String {
    let tools: Vec<Value> = d
        .tools
        .iter()
        .map(|t| match &t.kind {
            DiffKind::Changed(c) => {
                let mut v = change_json(c);
                v["name"] = json!(t.name);
                v["kind"] = json!("changed");
                v
            }
            DiffKind::Added(def) => json!({"name": t.name, "kind": "added", "definition": def}),
            DiffKind::Removed { since } => {
                json!({"name": t.name, "kind": "removed", "since": since})
            }
        })
        .collect();
    json_safe(
        &json!({"server": d.server, "id": d.id, "command": command_json(&d.command),
                      "tools": tools}),
    )
}

/// The tools of a listing on stdin: a `tools/list` result (`{"tools": [...]}`), a whole
/// JSON-RPC response carrying one, or a bare array.
fn read_listing() -> Result<Vec<Value>, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the listing from stdin: {e}"))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the listing on stdin is not JSON: {e}"))?;
    let tools = match v {
        Value::Array(a) => Some(a),
        Value::Object(mut o) => o
            .remove("result")
            .and_then(|mut r| r.get_mut("tools").map(Value::take))
            .or_else(|| o.remove("tools"))
            .and_then(|t| match t {
                Value::Array(a) => Some(a),
                _ => None,
            }),
        _ => None,
    };
    tools.ok_or_else(|| {
        "the listing on stdin has no tools array: expected {\"tools\": [...]}, a JSON-RPC \
         response with one, or an array"
            .to_owned()
    })
}

fn check(
    pins: &Pins,
    server: &str,
    command: Option<String>,
    json: bool,
    now: std::time::SystemTime,
) -> Result<u8, PinError> {
    let tools = match read_listing() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sentinel: error: {e}");
            return Ok(2);
        }
    };
    let command = command.unwrap_or_else(|| server.to_owned());
    let r = pins.check(server, &command, &tools, Page::WHOLE, now)?;
    out(&if json {
        report_json(&r)
    } else {
        report_text(&r)
    });
    Ok(u8::from(!r.clean()))
}

fn report_json(r: &Report) -> String {
    let tools: Vec<Value> = r
        .tools
        .iter()
        .map(|t| match &t.status {
            Status::Pinned => json!({"name": t.name, "status": "pinned"}),
            Status::Added => json!({"name": t.name, "status": "added"}),
            Status::Untracked => json!({"name": t.name, "status": "untracked"}),
            Status::Duplicate { count, hashes } => {
                json!({"name": t.name, "status": "duplicate", "count": count, "hashes": hashes})
            }
            Status::Changed(c) => {
                let mut v = change_json(c);
                v["name"] = json!(t.name);
                v["status"] = json!("changed");
                v
            }
        })
        .collect();
    json_safe(
        &json!({"server": r.server, "id": r.id, "first_seen": r.first_seen,
                      "tools": tools, "removed": r.removed, "malformed": r.malformed,
                      "command": command_json(&r.command)}),
    )
}

fn report_text(r: &Report) -> String {
    let mut text = format!("server {} ({})", visible(&r.server), r.id);
    text.push_str(if r.first_seen { ": pinned now\n" } else { "\n" });
    if let Some(CommandChange { pinned, now }) = &r.command {
        text.push_str(&format!(
            "LAUNCH COMMAND CHANGED\n    - {}\n    + {}\n",
            visible(pinned),
            visible(now)
        ));
    }
    for t in &r.tools {
        let name = visible(&t.name);
        match &t.status {
            Status::Pinned => text.push_str(&format!("tool {name}: pinned\n")),
            Status::Added => text.push_str(&format!("tool {name}: ADDED (not pinned)\n")),
            Status::Untracked => text.push_str(&format!(
                "tool {name}: not recorded (the server has too many tools)\n"
            )),
            Status::Duplicate { count, .. } => text.push_str(&format!(
                "tool {name}: LISTED {count} TIMES (ambiguous: not judged)\n"
            )),
            Status::Changed(c) => {
                text.push_str(&format!("tool {name}: CHANGED\n"));
                change_text(&mut text, c);
            }
        }
    }
    for name in &r.removed {
        text.push_str(&format!("tool {}: removed\n", visible(name)));
    }
    for i in &r.malformed {
        text.push_str(&format!("entry {i}: not a tool (no string name)\n"));
    }
    let untrusted = r.untrusted();
    if !untrusted.is_empty() {
        let names: Vec<String> = untrusted.iter().map(|n| visible(n)).collect();
        text.push_str(&format!(
            "not as pinned: {} (see sentinel pins diff {})\n",
            names.join(", "),
            r.id
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Result<Args, UsageError> {
        parse(words.iter().map(OsString::from).collect(), |_| None)
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(args(&["list"]).unwrap().action, Action::List);
        assert_eq!(
            args(&["diff", "db", "query", "--json"]).unwrap().action,
            Action::Diff("db".into(), Some("query".into()))
        );
        assert_eq!(
            args(&["accept", "db"]).unwrap().action,
            Action::Accept("db".into(), None)
        );
        assert_eq!(
            args(&["check", "db", "--command", "x y"]).unwrap().action,
            Action::Check("db".into(), Some("x y".into()))
        );
        for bad in [
            &[][..],
            &["list", "x"],
            &["diff"],
            &["reset"],
            &["reset", "a", "b"],
            &["accept", "a", "b", "c"],
            &["frobnicate"],
            &["accept", "db", "--json"],
            &["list", "--command", "x"],
            &["list", "--bogus"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_directory_comes_from_the_option_else_the_environment() {
        let env = |k: &str| (k == "SENTINEL_PINS_DIR").then(|| OsString::from("/from/env"));
        let a = parse(vec!["list".into()], env).unwrap();
        assert_eq!(a.dir, Some(PathBuf::from("/from/env")));
        let a = parse(
            ["list", "--pins-dir", "/opt"].map(OsString::from).to_vec(),
            env,
        )
        .unwrap();
        assert_eq!(a.dir, Some(PathBuf::from("/opt")));
    }
}
