//! The audit log: JSON Lines, one object per decision worth keeping (every block, every
//! monitored call) and per gateway event (policy reloads, circuits changing state), appended and
//! flushed entry by entry so a crash loses nothing already decided. This module owns where the
//! log lives (the default `security_audit.log` in the working directory, or a per-user state
//! directory when that is not writable), the entry format documented in README, and the rule
//! that a failing write is reported but never stops a block or the proxy.

pub mod location;

use crate::base::clock::{push_rfc3339, Clock};
use crate::base::jsonrpc::{push_json_str, RawId};
use crate::base::term::Term;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The default file name, in the working directory.
pub const DEFAULT_FILE: &str = "security_audit.log";

/// Longest `details` kept for a message that is not valid JSON (it is stored as a string).
const MAX_RAW_DETAILS: usize = 64 * 1024;

/// Why the audit log could not be opened.
#[derive(Debug)]
pub struct OpenError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// What happened to a message, as written in the `action` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Refused: answered by the gateway (requests) or dropped (notifications).
    Blocked,
    /// Refused because it needs a person's approval.
    ApprovalRequired,
    /// Recorded and forwarded (a `monitor` rule, or monitor mode).
    Monitored,
    /// Held until a person answers (see the entry's `approval`).
    Held,
    /// A held call a person approved: forwarded.
    Approved,
    /// A held call denied (by a person, by the timeout), or dropped (cancelled, disconnected).
    Denied,
    /// Forwarded with nothing to report (written only when the policy logs every decision).
    Allowed,
    /// An item of the server's lists kept from the client (tool, prompt, resource).
    Hidden,
    /// An item of the server's lists passed on with offending text cut out.
    Sanitised,
    /// A server's answer over its response cap: replaced by an error, or cut.
    Capped,
    /// Tool definitions pinned at first sight, or a change to them accepted.
    Pinned,
    /// A request the server sent the client (sampling, elicitation, roots).
    ServerRequest,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Blocked => "blocked",
            Action::ApprovalRequired => "approval_required",
            Action::Monitored => "monitored",
            Action::Held => "held",
            Action::Approved => "approved",
            Action::Denied => "denied",
            Action::Allowed => "allowed",
            Action::Hidden => "hidden",
            Action::Sanitised => "sanitised",
            Action::Capped => "capped",
            Action::Pinned => "pinned",
            Action::ServerRequest => "server_request",
        }
    }
}

/// One audit entry, borrowed from the decision that produced it.
pub struct Entry<'a> {
    pub message_id: Option<&'a RawId>,
    pub method: Option<&'a str>,
    pub tool: Option<&'a str>,
    pub rule: &'a str,
    pub reason: &'a str,
    pub explanation: &'a str,
    pub hint: &'a str,
    /// JSON Pointer of the offending argument, when there is one.
    pub argument: Option<&'a str>,
    pub action: Action,
    /// For `monitored` entries: what enforcement would have done (`block`, `approve`).
    pub would_have: Option<&'a str>,
    /// The message as received: embedded as JSON when `details_is_json`, else as a string.
    pub details: &'a [u8],
    pub details_is_json: bool,
    /// For held, approved and denied calls: how the approval went.
    pub approval: Option<ApprovalNote<'a>>,
}

/// The `approval` object of an entry: the channel asked, who answered, what, and how long it
/// took.
pub struct ApprovalNote<'a> {
    /// `client` (elicitation), `client-retry` (2026-07-28), `local` (`sentinel approvals`),
    /// `session` (approved earlier for the session), `none`.
    pub channel: &'a str,
    /// `the client`, `user NAME (uid N, pid P)`, `timeout`, ... ; None while held.
    pub by: Option<&'a str>,
    /// `approve`, `approve_session`, `deny`, `timeout`, `cancelled`, `dropped`; None while held.
    pub answer: Option<&'a str>,
    /// From holding to the answer.
    pub waited_ms: Option<u64>,
    /// Sentinel's id of the held call (`sentinel approvals approve ID`).
    pub held_id: Option<&'a str>,
}

/// An append-only JSON Lines audit log.
pub struct Audit {
    file: Mutex<File>,
    path: PathBuf,
    server: String,
    clock: Arc<dyn Clock>,
    term: Term,
    failures: AtomicU64,
}

impl Audit {
    /// Opens (creating or appending) the log. With no explicit path, uses [`DEFAULT_FILE`] in the
    /// working directory, falling back to the per-user state directory (reported on stderr) when
    /// that cannot be written.
    pub fn open(
        explicit: Option<&Path>,
        server: String,
        clock: Arc<dyn Clock>,
        term: Term,
    ) -> Result<Audit, OpenError> {
        let (file, path) = match explicit {
            Some(p) => (open_append(p)?, p.to_path_buf()),
            None => match open_append(Path::new(DEFAULT_FILE)) {
                Ok(f) => (f, PathBuf::from(DEFAULT_FILE)),
                Err(first) => {
                    let Some(dir) = state_dir() else {
                        return Err(first);
                    };
                    let fallback = dir.join(DEFAULT_FILE);
                    let f = std::fs::create_dir_all(&dir)
                        .map_err(|error| OpenError {
                            path: dir.clone(),
                            error,
                        })
                        .and_then(|()| open_append(&fallback))?;
                    term.warn(&format!(
                        "cannot write {DEFAULT_FILE} in the working directory ({}); audit log is \
                         {}",
                        first.error,
                        fallback.display()
                    ));
                    (f, fallback)
                }
            },
        };
        Ok(Audit {
            file: Mutex::new(file),
            path,
            server,
            clock,
            term,
            failures: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as a single write. Failures are reported on stderr (the first, then
    /// every 1000th) and otherwise ignored: the decision already stands.
    pub fn record(&self, e: &Entry) {
        self.write(&self.format(e));
    }

    fn write(&self, line: &[u8]) {
        let result = {
            let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(line)
        };
        if let Err(err) = result {
            let n = self.failures.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                self.term.error(&format!(
                    "could not write the audit log {} ({err}); the message was still blocked. \
                     Free disk space or fix permissions; {} entries lost so far",
                    self.path.display(),
                    n + 1
                ));
            }
        }
    }

    /// Appends an entry about the gateway itself (`policy_rejected`, `breaker_open`, ...), with
    /// the same fields as message entries so the jq recipes keep working.
    pub fn event(
        &self,
        action: &str,
        rule: &str,
        reason: &str,
        tool: Option<&str>,
        explanation: &str,
    ) {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"timestamp\":\"");
        push_rfc3339(&mut out, self.clock.now());
        out.push(b'"');
        out.extend_from_slice(b",\"message_id\":null");
        field(&mut out, "method", None);
        field(&mut out, "reason", Some(reason));
        field(&mut out, "rule", Some(rule));
        field(&mut out, "tool", tool);
        field(&mut out, "action", Some(action));
        field(&mut out, "explanation", Some(explanation));
        field(&mut out, "server", Some(&self.server));
        out.extend_from_slice(b",\"details\":null}\n");
        self.write(&out);
    }

    fn format(&self, e: &Entry) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + e.details.len());
        out.extend_from_slice(b"{\"timestamp\":\"");
        push_rfc3339(&mut out, self.clock.now());
        out.push(b'"');
        out.extend_from_slice(b",\"message_id\":");
        out.extend_from_slice(e.message_id.map_or("null", RawId::as_json).as_bytes());
        field(&mut out, "method", e.method);
        field(&mut out, "reason", Some(e.reason));
        field(&mut out, "rule", Some(e.rule));
        field(&mut out, "tool", e.tool);
        field(&mut out, "action", Some(e.action.as_str()));
        if e.action == Action::Monitored {
            field(&mut out, "would_have", e.would_have);
        }
        field(&mut out, "explanation", Some(e.explanation));
        field(&mut out, "hint", Some(e.hint));
        field(&mut out, "argument", e.argument);
        field(&mut out, "server", Some(&self.server));
        if let Some(a) = &e.approval {
            out.extend_from_slice(b",\"approval\":{\"channel\":");
            push_json_str(&mut out, a.channel);
            field(&mut out, "by", a.by);
            field(&mut out, "answer", a.answer);
            out.extend_from_slice(b",\"waited_ms\":");
            match a.waited_ms {
                Some(ms) => out.extend_from_slice(ms.to_string().as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
            field(&mut out, "held_id", a.held_id);
            out.push(b'}');
        }
        out.extend_from_slice(b",\"details\":");
        if e.details_is_json {
            out.extend_from_slice(e.details.trim_ascii());
        } else {
            let cut = e.details.len().min(MAX_RAW_DETAILS);
            push_json_str(&mut out, &String::from_utf8_lossy(&e.details[..cut]));
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

fn field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    match value {
        Some(v) => push_json_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn open_append(path: &Path) -> Result<File, OpenError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| OpenError {
            path: path.to_path_buf(),
            error,
        })
}

/// `$XDG_STATE_HOME/mcp-sentinel`, else `$HOME/.local/state/mcp-sentinel`.
fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(base.join("mcp-sentinel"))
}
