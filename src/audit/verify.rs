//! What `sentinel audit verify` checks, over one or more log files read in order (rotated
//! ones oldest first), streaming with bounded memory (a window of recent line hashes and one
//! line of lookahead, plus one record per session): every line is whole JSON; each line's
//! `prev` is the hash of the line before it (across file boundaries too), the first line's
//! the genesis value; each session's `seq` goes 1, 2, 3 ...; with a key, every checkpoint's
//! signature, every session signed and closed by its final checkpoint. Each finding names the
//! file, the line and what is wrong.

use super::chain::{self, Hex, GENESIS};
use super::keys::{PublicKey, SIGNATURE_FIELD};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

/// How strict to be.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Check every checkpoint's signature with this key, and require every session to be
    /// signed and closed.
    pub key: Option<PublicKey>,
    /// A session without its closing checkpoint (a Sentinel still running, or killed) is a note,
    /// not a problem.
    pub allow_open: bool,
    /// The first file may continue one not given (the oldest rotated files are gone): its
    /// first `prev` need not be the genesis value, nor its sessions start at seq 1.
    pub partial: bool,
}

/// One thing found: `file` is the index of the input, `line` counts from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: usize,
    pub line: u64,
    pub what: String,
}

/// What verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// Anything that makes the log not as Sentinel wrote it: exit 1.
    pub problems: Vec<Finding>,
    /// Worth knowing, not wrong (a session still open with `allow_open`, a partial start).
    pub notes: Vec<Finding>,
    pub lines: u64,
    pub sessions: usize,
    pub checkpoints: u64,
    /// Checkpoints whose signature the key verified.
    pub signatures: u64,
}

/// Recent lines remembered to explain a break in the chain.
const WINDOW: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loc {
    file: usize,
    line: u64,
}

struct Line {
    at: Loc,
    bytes: Vec<u8>,
    whole: bool,
    hash: Hex,
}

struct Session {
    id: String,
    server: String,
    first: Loc,
    last: Loc,
    seq: u64,
    checkpoints: u64,
    signed: u64,
    last_checkpoint: Option<Loc>,
    closed: Option<Loc>,
}

/// Reads the inputs in order and checks them.
pub fn verify(inputs: Vec<Box<dyn BufRead + '_>>, opts: &Options) -> Report {
    let mut v = Verifier {
        opts,
        report: Report::default(),
        expected: None,
        window: VecDeque::new(),
        accept: Vec::new(),
        index: 0,
        sessions: HashMap::new(),
        order: Vec::new(),
    };
    let mut lines = Lines {
        inputs,
        current: 0,
        line: 0,
        errors: Vec::new(),
    };
    let mut cur = lines.next();
    while let Some(line) = cur {
        let next = lines.next();
        v.check(&line, next.as_ref().map(|n| &n.hash));
        cur = next;
    }
    v.report.problems.append(&mut lines.errors);
    v.finish()
}

/// The lines of every input in turn.
struct Lines<'a> {
    inputs: Vec<Box<dyn BufRead + 'a>>,
    current: usize,
    line: u64,
    errors: Vec<Finding>,
}

impl Lines<'_> {
    fn next(&mut self) -> Option<Line> {
        while self.current < self.inputs.len() {
            let mut bytes = Vec::new();
            match self.inputs[self.current].read_until(b'\n', &mut bytes) {
                Ok(0) => {}
                Ok(_) => {
                    self.line += 1;
                    let whole = bytes.last() == Some(&b'\n');
                    if whole {
                        bytes.pop();
                    }
                    let hash = chain::hash_line(&bytes);
                    return Some(Line {
                        at: Loc {
                            file: self.current,
                            line: self.line,
                        },
                        bytes,
                        whole,
                        hash,
                    });
                }
                Err(e) => self.errors.push(Finding {
                    file: self.current,
                    line: self.line + 1,
                    what: format!("cannot read this file further: {e}"),
                }),
            }
            self.current += 1;
            self.line = 0;
        }
        None
    }
}

struct Verifier<'o> {
    opts: &'o Options,
    report: Report,
    /// The hash the next line's `prev` must be (None before the first line).
    expected: Option<(Hex, Loc)>,
    window: VecDeque<(Hex, Loc)>,
    /// After a swap: (line index, prev) pairs that are the rest of the same disorder.
    accept: Vec<(u64, Hex)>,
    /// Lines seen so far.
    index: u64,
    sessions: HashMap<String, usize>,
    order: Vec<Session>,
}

impl Verifier<'_> {
    fn problem(&mut self, at: Loc, what: String) {
        self.report.problems.push(Finding {
            file: at.file,
            line: at.line,
            what,
        });
    }

    fn check(&mut self, l: &Line, next: Option<&Hex>) {
        self.index += 1;
        self.report.lines += 1;
        if !l.whole {
            self.problem(
                l.at,
                "cut short: the file ends inside this line (no newline): it was truncated \
                 mid-line, or a writer was stopped in the middle of it"
                    .into(),
            );
        }
        match serde_json::from_slice::<Value>(&l.bytes) {
            Ok(Value::Object(entry)) => self.entry(l, &entry, next),
            Ok(_) => self.problem(
                l.at,
                "not an audit entry: a JSON value but not an object".into(),
            ),
            Err(e) => {
                let what = if l.bytes.is_empty() {
                    "an empty line: not an audit entry".to_owned()
                } else {
                    format!("not whole JSON ({e}): the line was cut or edited")
                };
                self.problem(l.at, what)
            }
        }
        self.window.push_back((l.hash, l.at));
        if self.window.len() > WINDOW {
            self.window.pop_front();
        }
        self.expected = Some((l.hash, l.at));
    }

    fn entry(&mut self, l: &Line, e: &serde_json::Map<String, Value>, next: Option<&Hex>) {
        let prev = e.get("prev").and_then(Value::as_str);
        let session = e.get("session").and_then(Value::as_str);
        let seq = e.get("seq").and_then(Value::as_u64).filter(|&s| s >= 1);
        let missing: Vec<&str> = [
            ("session", session.is_none()),
            ("seq", seq.is_none()),
            ("prev", prev.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
        if !missing.is_empty() {
            self.problem(
                l.at,
                format!(
                    "no valid {}: not an entry of a hash-chained log (written by a Sentinel \
                     before the chain, by another program, or edited)",
                    missing.join(", ")
                ),
            );
        }
        if let Some(prev) = prev {
            self.chain(l, prev, next);
        }
        let (Some(session), Some(seq)) = (session, seq) else {
            return;
        };
        self.sequence(l.at, session, seq, e);
        if e.get("action").and_then(Value::as_str) == Some("checkpoint") {
            self.checkpoint(l, session, e);
        }
    }

    fn chain(&mut self, l: &Line, prev: &str, next: Option<&Hex>) {
        let Some(prev_hex) = hex64(prev) else {
            self.problem(l.at, format!("prev {prev:?} is not 64 hex digits"));
            return;
        };
        let Some((want, before)) = self.expected else {
            if prev != GENESIS {
                let what = "this log continues a line that is not here (its first prev is not \
                            the genesis value): pass the rotated files before it, oldest first \
                            (FILE.2 FILE.1 FILE), or --partial when the oldest were deleted \
                            by rotation; else its first lines were removed"
                    .to_owned();
                if self.opts.partial {
                    self.report.notes.push(Finding {
                        file: l.at.file,
                        line: l.at.line,
                        what,
                    });
                } else {
                    self.problem(l.at, what);
                }
            }
            return;
        };
        if prev_hex == want {
            return;
        }
        if let Some(i) = self
            .accept
            .iter()
            .position(|&(idx, h)| idx == self.index && h == prev_hex)
        {
            self.accept.remove(i);
            return;
        }
        if next == Some(&prev_hex) {
            self.problem(
                l.at,
                "out of order: its prev is the hash of the line after it: lines were swapped \
                 or moved"
                    .into(),
            );
            // The swapped pair's other line, and the line after the pair, then chain as if
            // in order.
            if let Some(&(h, _)) = self.window.back() {
                self.accept.push((self.index + 1, h));
            }
            self.accept.push((self.index + 2, l.hash));
            return;
        }
        if let Some(&(_, at)) = self.window.iter().rev().find(|(h, _)| *h == prev_hex) {
            let what = if at.file == before.file {
                format!(
                    "its prev is the hash of line {}, not of line {}: the line(s) between were \
                     inserted, or this line was moved",
                    at.line, before.line
                )
            } else {
                format!(
                    "its prev is the hash of an earlier line (input {} line {}), not of the \
                     line before it: lines were inserted or moved",
                    at.file + 1,
                    at.line
                )
            };
            self.problem(l.at, what);
            return;
        }
        if before.file != l.at.file {
            self.problem(
                l.at,
                "does not continue the last line of the file before it: the files are out of \
                 order (give rotated files oldest first), one is missing, or the previous \
                 file's last line was changed or its last lines removed"
                    .into(),
            );
        } else {
            self.problem(
                before,
                format!(
                    "changed, or lines after it removed: its hash is not the prev of the next \
                     line ({})",
                    l.at.line
                ),
            );
        }
    }

    fn sequence(&mut self, at: Loc, id: &str, seq: u64, e: &serde_json::Map<String, Value>) {
        let Some(&i) = self.sessions.get(id) else {
            if seq != 1 && !self.opts.partial {
                self.problem(
                    at,
                    format!(
                        "session {id} starts here at seq {seq}: its first {} entries are \
                         missing",
                        seq - 1
                    ),
                );
            }
            self.sessions.insert(id.to_owned(), self.order.len());
            self.order.push(Session {
                id: id.to_owned(),
                server: e
                    .get("server")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                first: at,
                last: at,
                seq,
                checkpoints: 0,
                signed: 0,
                last_checkpoint: None,
                closed: None,
            });
            return;
        };
        let s = &self.order[i];
        let (last, last_at, closed) = (s.seq, s.last, s.closed);
        if let Some(c) = closed {
            self.problem(
                at,
                format!(
                    "an entry of session {id} after its closing checkpoint (line {} of input \
                     {}): added afterwards",
                    c.line,
                    c.file + 1
                ),
            );
        }
        if seq == last + 1 {
        } else if seq > last + 1 {
            self.problem(
                at,
                format!(
                    "session {id} jumps from seq {last} (line {}) to {seq}: {} entr{} missing \
                     before this line",
                    last_at.line,
                    seq - last - 1,
                    if seq - last - 1 == 1 {
                        "y is"
                    } else {
                        "ies are"
                    }
                ),
            );
        } else {
            self.problem(
                at,
                format!(
                    "session {id} seq {seq} comes after seq {last} (line {}): an inserted, \
                     copied or moved line",
                    last_at.line
                ),
            );
        }
        let s = &mut self.order[i];
        s.seq = s.seq.max(seq);
        s.last = at;
    }

    fn checkpoint(&mut self, l: &Line, id: &str, e: &serde_json::Map<String, Value>) {
        self.report.checkpoints += 1;
        let ck = e.get("checkpoint");
        let last = ck.and_then(|c| c.get("final")).and_then(Value::as_bool);
        let key_id = ck.and_then(|c| c.get("key_id")).and_then(Value::as_str);
        let (Some(last), Some(key_id), Some((unsigned, signature))) =
            (last, key_id, split_signature(&l.bytes))
        else {
            self.problem(
                l.at,
                "a checkpoint without its fields (checkpoint.final, checkpoint.key_id) or a \
                 signature ending the line: edited or forged"
                    .into(),
            );
            return;
        };
        let mut signed = false;
        if let Some(key) = &self.opts.key {
            if key_id != key.id {
                self.problem(
                    l.at,
                    format!(
                        "checkpoint signed by key id {key_id}, not by the given key (id {}): \
                         the wrong key, or a forged checkpoint",
                        key.id
                    ),
                );
            } else if !key.verifies(unsigned, signature) {
                self.problem(
                    l.at,
                    "the checkpoint's signature does not verify with the given key: the \
                     checkpoint was forged or its line edited"
                        .into(),
                );
            } else {
                signed = true;
                self.report.signatures += 1;
            }
        }
        let i = self.sessions[id];
        let s = &mut self.order[i];
        s.checkpoints += 1;
        s.signed += u64::from(signed);
        if self.opts.key.is_some() && !signed {
            // With a key, only a checkpoint it verified counts.
            return;
        }
        s.last_checkpoint = Some(l.at);
        if last {
            s.closed = Some(l.at);
        }
    }

    fn finish(mut self) -> Report {
        let keyed = self.opts.key.is_some();
        let order = std::mem::take(&mut self.order);
        self.report.sessions = order.len();
        for s in &order {
            if keyed && s.signed == 0 {
                self.problem(
                    s.first,
                    format!(
                        "session {} ({}) has no checkpoint signed by the given key: its \
                         Sentinel ran without --audit-key (or with another key), or its \
                         checkpoints were removed",
                        s.id, s.server
                    ),
                );
            }
            if (keyed || s.checkpoints > 0) && s.closed.is_none() {
                let after = match s.last_checkpoint {
                    Some(c) => format!("its last checkpoint is line {}", c.line),
                    None => "it has no checkpoint".to_owned(),
                };
                let what = format!(
                    "session {} ({}) has no closing checkpoint; its last line is this one and \
                     {after}: its Sentinel is still running or was killed, or lines were cut \
                     from the end (entries after its last signed checkpoint are only as good \
                     as the chain)",
                    s.id, s.server
                );
                let f = Finding {
                    file: s.last.file,
                    line: s.last.line,
                    what,
                };
                if self.opts.allow_open {
                    self.report.notes.push(f);
                } else {
                    self.report.problems.push(f);
                }
            }
        }
        self.report.problems.sort_by_key(|f| (f.file, f.line));
        self.report
    }
}

/// `prev` as the hash bytes it names (64 lowercase hex digits).
fn hex64(s: &str) -> Option<Hex> {
    let b = s.as_bytes();
    if b.len() != 64
        || !b
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return None;
    }
    let mut h = [0u8; 64];
    h.copy_from_slice(b);
    Some(h)
}

/// A checkpoint line as (the signed bytes, the signature's hex): the line must end with
/// `,"signature":"<128 hex>"}`.
fn split_signature(line: &[u8]) -> Option<(&[u8], &str)> {
    let body = line.strip_suffix(b"\"}")?;
    let sig_start = body.len().checked_sub(128)?;
    let unsigned = body[..sig_start].strip_suffix(SIGNATURE_FIELD)?;
    let sig = std::str::from_utf8(&body[sig_start..]).ok()?;
    Some((unsigned, sig))
}

#[cfg(test)]
mod tests;
