//! `sentinel approvals watch`: subscribes to every running Sentinel of this user and answers
//! their held calls as they arrive. It leaves a marker socket `watch-<pid>.sock` in the runtime
//! directory (a Sentinel's connection to it means "a Sentinel started, rescan now"; the
//! directory is also rescanned every 500 ms), removed at exit and on SIGINT, SIGTERM and
//! SIGHUP (received by a thread of their own with `sigwait`). In a terminal each call is shown
//! whole and answered by one key (`keys.rs`); without one, events are JSON lines on stdout and
//! answers lines on stdin. One thread per Sentinel reads its stream; the main thread owns all
//! state and is the only writer of stdout.

use super::approvals::{answer, arguments_block, human, parse_time, visible, TIMEOUT};
use super::keys::RawMode;
use crate::base::clock::{self, Clock};
use crate::base::term::{Style, Term};
use crate::transport::local::{self, Client, Held, Reach, Request};
use crate::transport::rundir::{Entry, RunDir};
use crate::transport::signals;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{self, BufRead, IsTerminal, Read};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often the directory is rescanned for new Sentinels.
pub const RESCAN: Duration = Duration::from_millis(500);
/// Keys pressed sooner than this after a call is shown were typed before it was read.
pub const KEY_GUARD: Duration = Duration::from_millis(300);

enum Event {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// A connection to the marker: rescan now.
    Rescan,
    /// A line from Sentinel `pid`'s watch stream.
    Message(u32, Value),
    /// Sentinel `pid`'s stream ended (`true`) or could not be opened (`false`).
    Gone(u32, bool),
    /// A key, and when it was read.
    Key(u8, Instant),
    /// A line of stdin (no terminal).
    Line(String),
    /// The end of stdin.
    InputEnd,
}

/// Runs the watch until a signal (or `q`); returns the exit code.
pub fn run(dir: RunDir, term: Term) -> u8 {
    // Before any thread starts, so the signals reach only the signal thread and the marker
    // is always removed.
    signals::block_forwarded_signals();
    let (marker_listener, marker) =
        match local::listen(&dir.entry(&Entry::Watch(std::process::id()))) {
            Ok(l) => l,
            Err(e) => {
                term.error(&format!("cannot start watching: {e}"));
                return 1;
            }
        };
    let (tx, rx) = mpsc::channel::<Event>();
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        let _ = thread::Builder::new().name(name.into()).spawn(f);
    };
    {
        let tx = tx.clone();
        spawn(
            "signals",
            Box::new(move || loop {
                let _ = signals::wait_signal();
                if tx.send(Event::Signal).is_err() {
                    return;
                }
            }),
        );
    }
    {
        let tx = tx.clone();
        spawn(
            "watch-marker",
            Box::new(move || {
                for conn in marker_listener.incoming() {
                    drop(conn);
                    if tx.send(Event::Rescan).is_err() {
                        return;
                    }
                }
            }),
        );
    }
    let tty = io::stdin().is_terminal();
    let raw = if tty { RawMode::enter(0).ok() } else { None };
    {
        let tx = tx.clone();
        spawn("input", Box::new(move || read_input(tty, &tx)));
    }
    let mut w = Watch {
        dir,
        tty,
        term,
        raw,
        clock: clock::from_env(),
        subscribed: HashSet::new(),
        pending: Vec::new(),
        answered: HashSet::new(),
        resolved: HashSet::new(),
        current: None,
        prompt_open: false,
        stdout_gone: false,
    };
    if tty {
        w.say(&format!(
            "{} watching for calls that wait for your approval in {} (y approve, s approve \
             for the session, n deny, q quit)\n",
            w.term.paint(Style::Green, "[SENTINEL]"),
            w.dir.path().display()
        ));
    }
    w.rescan(&tx);
    let mut scanned = Instant::now();
    loop {
        match rx.recv_timeout(RESCAN.saturating_sub(scanned.elapsed())) {
            Ok(Event::Signal) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Event::Rescan) => {
                w.rescan(&tx);
                scanned = Instant::now();
            }
            Ok(event) => {
                if !w.handle(event) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if w.stdout_gone {
            break;
        }
        if scanned.elapsed() >= RESCAN {
            w.rescan(&tx);
            scanned = Instant::now();
        }
    }
    if w.prompt_open {
        w.out("\n");
    }
    drop(w); // restores the terminal
    drop(marker); // removes the marker
    0
}

/// Reads keys (terminal) or lines (no terminal) from stdin into events.
fn read_input(tty: bool, tx: &Sender<Event>) {
    if tty {
        let mut stdin = io::stdin().lock();
        let mut byte = [0u8; 1];
        loop {
            match stdin.read(&mut byte) {
                Ok(1) => {
                    if tx.send(Event::Key(byte[0], Instant::now())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
    } else {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(Event::Line(line)).is_err() {
                return;
            }
        }
    }
    let _ = tx.send(Event::InputEnd);
}

/// One Sentinel's watch stream, on a thread of its own.
fn subscribe(dir: RunDir, pid: u32, tx: Sender<Event>) {
    let run = move || {
        let mut client = match Client::connect(&dir, pid, TIMEOUT) {
            Ok(c) => c,
            Err(Reach::Missing | Reach::Stale | Reach::Io(_)) => {
                let _ = tx.send(Event::Gone(pid, false));
                return;
            }
        };
        if !matches!(client.request(&Request::Watch), Ok(Ok(_))) {
            let _ = tx.send(Event::Gone(pid, false));
            return;
        }
        let _ = client.set_read_timeout(None);
        while let Ok(Some(v)) = client.next() {
            if tx.send(Event::Message(pid, v)).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Gone(pid, true));
    };
    let _ = thread::Builder::new()
        .name(format!("watch-{pid}"))
        .spawn(run);
}

/// What an input line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Nothing,
    /// `y`, `s` or `n`: the oldest unanswered call.
    Oldest {
        approve: bool,
        session: bool,
    },
    Answer(Request),
}

/// Reads one answer line: `approve ID [--session]`, `deny ID [REASON...]`, `y`, `s`, `n`.
pub fn parse_input(line: &str) -> Result<Input, String> {
    let line = line.trim();
    let mut words = line.split_whitespace();
    let bad = || {
        format!(
            "unknown answer '{}': expected approve ID [--session], deny ID [REASON...], y, s \
             or n",
            visible(line)
        )
    };
    let check = |id: &str| super::approvals::id_pid(id).map(|_| id.to_owned());
    match words.next() {
        None => Ok(Input::Nothing),
        Some("y" | "Y" | "yes") if words.next().is_none() => Ok(Input::Oldest {
            approve: true,
            session: false,
        }),
        Some("s" | "S") if words.next().is_none() => Ok(Input::Oldest {
            approve: true,
            session: true,
        }),
        Some("n" | "N" | "no") if words.next().is_none() => Ok(Input::Oldest {
            approve: false,
            session: false,
        }),
        Some("approve") => {
            let rest: Vec<&str> = words.collect();
            let (session, ids): (Vec<&str>, Vec<&str>) =
                rest.iter().partition(|w| **w == "--session");
            match ids.as_slice() {
                [id] => Ok(Input::Answer(Request::Approve {
                    id: check(id)?,
                    session: !session.is_empty(),
                })),
                _ => Err("usage: approve ID [--session]".into()),
            }
        }
        Some("deny") => {
            let Some(id) = words.next() else {
                return Err("usage: deny ID [REASON...]".into());
            };
            let id = check(id)?;
            // The reason is the rest of the line as typed.
            let after = line["deny".len()..].trim_start();
            let reason = after[after.find(id.as_str()).unwrap_or(0) + id.len()..].trim();
            Ok(Input::Answer(Request::Deny {
                id,
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
            }))
        }
        Some(_) => Err(bad()),
    }
}

struct Watch {
    dir: RunDir,
    tty: bool,
    term: Term,
    raw: Option<RawMode>,
    clock: Arc<dyn Clock>,
    /// Sentinels whose stream is open or being opened.
    subscribed: HashSet<u32>,
    /// Held calls not yet resolved nor answered here, oldest first.
    pending: Vec<Held>,
    /// Calls answered here (their resolution is still shown).
    answered: HashSet<String>,
    /// Calls resolved: a late `held` for one (the snapshot racing the event) is ignored.
    resolved: HashSet<String>,
    /// Terminal: the call the keys answer and when it was shown.
    current: Option<(String, Instant)>,
    /// Terminal: the prompt line is printed and not ended.
    prompt_open: bool,
    /// Writing to stdout failed (its reader is gone): the watch ends.
    stdout_gone: bool,
}

impl Watch {
    /// Writes to stdout; when nobody reads it any more the watch ends.
    fn out(&mut self, text: &str) {
        if !super::approvals::out(text) {
            self.stdout_gone = true;
        }
    }

    /// A JSON line (no terminal).
    fn line(&mut self, v: &Value) {
        self.out(&format!("{v}\n"));
    }

    /// Terminal: prints `text` on lines of its own, then the prompt again if one is open.
    fn say(&mut self, text: &str) {
        let mut s = String::new();
        if self.prompt_open {
            s.push('\n');
        }
        s.push_str(text);
        self.prompt_open = false;
        if self.current.is_some() {
            s.push_str(&self.prompt());
            self.prompt_open = true;
        }
        self.out(&s);
    }

    fn prompt(&self) -> String {
        let session = self.current_call().is_some_and(|c| c.session_allowed);
        format!(
            "  answer: y approve{}, n deny > ",
            if session {
                ", s approve for the session"
            } else {
                ""
            }
        )
    }

    fn current_call(&self) -> Option<&Held> {
        let (id, _) = self.current.as_ref()?;
        self.pending.iter().find(|c| &c.id == id)
    }

    fn rescan(&mut self, tx: &Sender<Event>) {
        for entry in self.dir.entries() {
            if let Entry::Sentinel(pid) = entry {
                if self.subscribed.insert(pid) {
                    subscribe(self.dir.clone(), pid, tx.clone());
                }
            }
        }
    }

    /// Handles one event; `false` ends the watch.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Message(pid, v) => self.message(pid, v),
            Event::Gone(pid, was_open) => self.gone(pid, was_open),
            Event::Key(key, at) => return self.key(key, at),
            Event::Line(text) => self.input_line(&text),
            Event::InputEnd | Event::Signal | Event::Rescan => {}
        }
        true
    }

    fn message(&mut self, pid: u32, v: Value) {
        match v.get("event").and_then(Value::as_str) {
            Some("held") => {
                let Ok(mut call) = serde_json::from_value::<Held>(v.clone()) else {
                    return;
                };
                if call.id.is_empty()
                    || self.resolved.contains(&call.id)
                    || self.answered.contains(&call.id)
                    || self.pending.iter().any(|c| c.id == call.id)
                {
                    return;
                }
                if call.pid == 0 {
                    call.pid = pid;
                }
                self.pending.push(call.clone());
                if !self.tty {
                    self.line(&v);
                } else if !call.local {
                    self.say(&format!(
                        "{} call {} ({} on {}) is held, but its rule allows only the client's \
                         own prompt: it cannot be answered here\n",
                        self.term.paint(Style::Yellow, "[SENTINEL]"),
                        visible(&call.id),
                        visible(&call.tool),
                        visible(&call.server),
                    ));
                } else if self.current.is_none() {
                    self.advance();
                } else {
                    let waiting = self.pending.len();
                    self.say(&format!(
                        "{} call {} is waiting too: {} on {} ({waiting} waiting)\n",
                        self.term.paint(Style::Yellow, "[SENTINEL]"),
                        visible(&call.id),
                        visible(&call.tool),
                        visible(&call.server),
                    ));
                }
            }
            Some("resolved") => {
                let id = v.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                let outcome = v
                    .get("outcome")
                    .and_then(Value::as_str)
                    .unwrap_or("resolved");
                let known = self.answered.contains(&id) || self.pending.iter().any(|c| c.id == id);
                let was_current = self.current.as_ref().is_some_and(|(c, _)| *c == id);
                let call = self
                    .pending
                    .iter()
                    .position(|c| c.id == id)
                    .map(|i| self.pending.remove(i));
                self.resolved.insert(id.clone());
                if !known {
                    return;
                }
                if !self.tty {
                    self.line(&v);
                    return;
                }
                if was_current {
                    self.current = None;
                }
                let what = call.map_or_else(String::new, |c| {
                    format!(" ({} on {})", visible(&c.tool), visible(&c.server))
                });
                self.say(&format!(
                    "{} call {}{what}: {}\n",
                    self.term.paint(Style::Dim, "[SENTINEL]"),
                    visible(&id),
                    visible(outcome)
                ));
                if self.current.is_none() {
                    self.advance();
                }
            }
            _ => {}
        }
    }

    fn gone(&mut self, pid: u32, was_open: bool) {
        self.subscribed.remove(&pid);
        if !was_open {
            return;
        }
        let (lost, kept): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|c| c.pid == pid);
        self.pending = kept;
        let ids: Vec<&str> = lost.iter().map(|c| c.id.as_str()).collect();
        if !self.tty {
            self.line(&json!({"event": "gone", "pid": pid, "ids": ids}));
            return;
        }
        if ids.is_empty() {
            return;
        }
        if self
            .current
            .as_ref()
            .is_some_and(|(c, _)| ids.contains(&c.as_str()))
        {
            self.current = None;
        }
        self.say(&format!(
            "{} lost Sentinel {pid}; its waiting call(s) {} are shown again if it still holds them\n",
            self.term.paint(Style::Yellow, "[SENTINEL]"),
            ids.join(", ")
        ));
        if self.current.is_none() {
            self.advance();
        }
    }

    /// Terminal: shows the oldest call this host can answer, if any, and prompts for it.
    fn advance(&mut self) {
        let Some(call) = self.pending.iter().find(|c| c.local).cloned() else {
            self.current = None;
            return;
        };
        if let Some(raw) = &self.raw {
            raw.discard_typed_ahead();
        }
        let now = self.clock.now();
        let waited = parse_time(&call.since)
            .map(|t| human(now.duration_since(t).unwrap_or_default()))
            .unwrap_or_else(|| "?".into());
        let left = match parse_time(&call.deadline) {
            Some(t) => match t.duration_since(now) {
                Ok(d) => format!("denied in {} if nobody answers", human(d)),
                Err(_) => "past its deadline".into(),
            },
            None => "no deadline given".into(),
        };
        let others = self.pending.len() - 1;
        let mut text = format!(
            "\n{} call {} waits for your approval{}\n",
            self.term.paint(Style::Yellow, "[SENTINEL]"),
            visible(&call.id),
            if others > 0 {
                format!(" ({others} more waiting)")
            } else {
                String::new()
            }
        );
        for (label, value) in [
            ("server", &call.server),
            ("tool", &call.tool),
            ("rule", &call.rule),
            ("reason", &call.reason),
            ("detail", &call.detail),
        ] {
            if !value.is_empty() {
                text.push_str(&format!("  {label:<9} {}\n", visible(value)));
            }
        }
        text.push_str(&format!("  {:<9} {waited}; {left}\n", "waiting"));
        text.push_str("  arguments:\n");
        text.push_str(&arguments_block(&call.arguments, "    "));
        self.current = Some((call.id.clone(), Instant::now()));
        self.prompt_open = false;
        self.say(&text);
    }

    /// Terminal: one key. `false` ends the watch.
    fn key(&mut self, key: u8, at: Instant) -> bool {
        if matches!(key, b'q' | b'Q' | 0x03 | 0x04) {
            return false;
        }
        let Some((id, shown)) = self.current.clone() else {
            return true;
        };
        if at < shown + KEY_GUARD {
            return true;
        }
        let session_allowed = self.current_call().is_some_and(|c| c.session_allowed);
        let request = match key {
            b'y' | b'Y' => Request::Approve { id, session: false },
            b's' | b'S' if session_allowed => Request::Approve { id, session: true },
            b's' | b'S' => {
                self.say("  its rule does not allow approving for the session: y or n\n");
                return true;
            }
            b'n' | b'N' => Request::Deny { id, reason: None },
            _ => return true,
        };
        self.send(request);
        true
    }

    /// No terminal: one answer line.
    fn input_line(&mut self, text: &str) {
        let request = match parse_input(text) {
            Ok(Input::Nothing) => return,
            Ok(Input::Answer(r)) => r,
            Ok(Input::Oldest { approve, session }) => {
                let Some(call) = self.pending.iter().find(|c| c.local) else {
                    self.line(
                        &json!({"event": "error", "error": "no call is waiting for an answer"}),
                    );
                    return;
                };
                let id = call.id.clone();
                if approve {
                    Request::Approve { id, session }
                } else {
                    Request::Deny { id, reason: None }
                }
            }
            Err(message) => {
                self.line(&json!({"event": "error", "error": message}));
                return;
            }
        };
        self.send(request);
    }

    /// Sends an answer and says how it went.
    fn send(&mut self, request: Request) {
        let (id, verdict, session) = match &request {
            Request::Approve { id, session } => (id.clone(), "approve", *session),
            Request::Deny { id, .. } => (id.clone(), "deny", false),
            Request::List | Request::Watch => return,
        };
        let result = answer(&self.dir, &request);
        if result.is_ok() {
            self.pending.retain(|c| c.id != id);
            self.answered.insert(id.clone());
        }
        if !self.tty {
            let mut v = json!({"event": "answered", "id": id, "answer": verdict, "session": session, "ok": result.is_ok()});
            if let Err(e) = &result {
                v["error"] = Value::from(e.as_str());
            }
            self.line(&v);
            return;
        }
        let text = match &result {
            Ok(done) => format!("{} {done}\n", self.term.paint(Style::Green, "[SENTINEL]")),
            Err(e) => format!("{} {e}\n", self.term.paint(Style::Red, "sentinel: error:")),
        };
        if result.is_ok() {
            self.current = None;
        }
        self.say(&text);
        if self.current.is_none() {
            self.advance();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approve(id: &str, session: bool) -> Input {
        Input::Answer(Request::Approve {
            id: id.into(),
            session,
        })
    }

    #[test]
    fn answer_lines_parse() {
        assert_eq!(parse_input("  "), Ok(Input::Nothing));
        assert_eq!(
            parse_input("y"),
            Ok(Input::Oldest {
                approve: true,
                session: false
            })
        );
        assert_eq!(
            parse_input("s\n"),
            Ok(Input::Oldest {
                approve: true,
                session: true
            })
        );
        assert_eq!(
            parse_input("n"),
            Ok(Input::Oldest {
                approve: false,
                session: false
            })
        );
        assert_eq!(parse_input("approve 12-3"), Ok(approve("12-3", false)));
        assert_eq!(
            parse_input("approve 12-3 --session"),
            Ok(approve("12-3", true))
        );
        assert_eq!(
            parse_input("approve --session 12-3"),
            Ok(approve("12-3", true))
        );
        assert_eq!(
            parse_input("deny 12-3"),
            Ok(Input::Answer(Request::Deny {
                id: "12-3".into(),
                reason: None
            }))
        );
        assert_eq!(
            parse_input("deny 12-3   too  broad, ask first "),
            Ok(Input::Answer(Request::Deny {
                id: "12-3".into(),
                reason: Some("too  broad, ask first".into())
            }))
        );
        assert!(parse_input("approve").unwrap_err().contains("usage"));
        assert!(parse_input("approve 1-2 3-4")
            .unwrap_err()
            .contains("usage"));
        assert!(parse_input("deny").unwrap_err().contains("usage"));
        assert!(parse_input("approve x")
            .unwrap_err()
            .contains("invalid call id"));
        assert!(parse_input("y please")
            .unwrap_err()
            .contains("unknown answer"));
        assert!(parse_input("yolo\x1b[2J")
            .unwrap_err()
            .contains("yolo\\x1b[2J"));
    }
}
