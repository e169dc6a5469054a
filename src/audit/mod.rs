//! The audit log: JSON Lines, one object per decision worth keeping (every block, every
//! monitored call) and per gateway event (policy reloads, circuits changing state), appended and
//! flushed entry by entry so a crash loses nothing already decided. This module owns where the
//! log lives (the default `security_audit.log` in the working directory, or a per-user state
//! directory when that is not writable), the entry format documented in README (with the
//! `session`, `seq` and `prev` every entry carries, and the signed checkpoints), and the rule
//! that a failing write is reported but never stops a block or the proxy. `log.rs` is the
//! shared file (lock, chain, rotation), `chain.rs` the hashes, `keys.rs` the signing keys,
//! `verify.rs` what `sentinel audit verify` checks, `flock.rs` the one platform call.

pub mod chain;
mod flock;
pub mod keys;
pub mod log;
pub mod verify;

pub mod location;

use crate::base::clock::{push_rfc3339, Clock};
use crate::base::dirs::state_dir;
use crate::base::jsonrpc::{push_json_str, RawId};
use crate::base::term::Term;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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

/// How the log is written and signed (the `--audit-*` options).
#[derive(Debug)]
pub struct Settings {
    pub log: log::LogOptions,
    /// Signs a checkpoint every `checkpoint_every` entries of a session and when it closes.
    pub key: Option<Arc<keys::Key>>,
    pub checkpoint_every: u64,
}

/// The `rule` of checkpoint entries.
pub const CHECKPOINT_RULE: &str = "sentinel.audit_checkpoint";

/// Entries between two checkpoints of a session, by default.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            log: log::LogOptions::default(),
            key: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        }
    }
}

/// One session's append-only view of a JSON Lines audit log: its entries carry its `session`
/// id and its own `seq`, and are chained (`prev`) with every other line of the file. Today a
/// gateway process is one session; [`Audit::session`] opens another on the same file (one per
/// MCP session of an HTTP transport).
pub struct Audit {
    log: Arc<log::Log>,
    session: String,
    /// The tenant of an HTTP session (from its bearer token), written in every entry; none
    /// for stdio.
    tenant: Option<String>,
    /// The last `seq` given out (entries are numbered from 1).
    seq: AtomicU64,
    /// Entries since this session's last checkpoint.
    since_checkpoint: AtomicU64,
    server: String,
    clock: Arc<dyn Clock>,
    term: Term,
    failures: AtomicU64,
    /// Whether the lock's failure was reported (once per session).
    unlocked_reported: AtomicBool,
    key: Option<Arc<keys::Key>>,
    checkpoint_every: u64,
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
        settings: Settings,
    ) -> Result<Audit, OpenError> {
        let open = |p: &Path| {
            log::Log::open(p, settings.log.clone()).map_err(|error| OpenError {
                path: p.to_path_buf(),
                error,
            })
        };
        let file = match explicit {
            Some(p) => open(p)?,
            None => match open(Path::new(DEFAULT_FILE)) {
                Ok(f) => f,
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
                        .and_then(|()| open(&fallback))?;
                    term.warn(&format!(
                        "cannot write {DEFAULT_FILE} in the working directory ({}); audit log is \
                         {}",
                        first.error,
                        fallback.display()
                    ));
                    f
                }
            },
        };
        Ok(Audit::on(
            Arc::new(file),
            server,
            clock,
            term,
            settings.key,
            settings.checkpoint_every,
        ))
    }

    fn on(
        log: Arc<log::Log>,
        server: String,
        clock: Arc<dyn Clock>,
        term: Term,
        key: Option<Arc<keys::Key>>,
        checkpoint_every: u64,
    ) -> Audit {
        Audit {
            log,
            session: new_session_id(),
            tenant: None,
            seq: AtomicU64::new(0),
            since_checkpoint: AtomicU64::new(0),
            server,
            clock,
            term,
            failures: AtomicU64::new(0),
            unlocked_reported: AtomicBool::new(false),
            key,
            checkpoint_every: checkpoint_every.max(1),
        }
    }

    /// A new session on the same file, with the same settings: its own id and `seq`, and the
    /// tenant it serves (written in each of its entries). One per MCP session of the HTTP
    /// transport.
    #[cfg_attr(not(test), allow(dead_code))] // issue 12: the HTTP transport's seam
    pub fn session(&self, server: String, tenant: Option<String>) -> Audit {
        let mut audit = Audit::on(
            self.log.clone(),
            server,
            self.clock.clone(),
            self.term.clone(),
            self.key.clone(),
            self.checkpoint_every,
        );
        audit.tenant = tenant;
        audit
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// This session's id (32 hex digits, random).
    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// Appends one entry as a single write. Failures are reported on stderr (the first, then
    /// every 1000th) and otherwise ignored: the decision already stands.
    pub fn record(&self, e: &Entry) {
        self.append(&self.format(e));
    }

    /// Ends the session: with a key, writes its closing checkpoint (signed, `final: true`).
    /// Without a key there is nothing to sign and nothing is written.
    pub fn close(&self) {
        if self.key.is_some() {
            self.checkpoint(true);
        }
    }

    /// Appends `body` (the entry after its `prev`, from `,"message_id":` to the newline) with
    /// this session's head, then a checkpoint when one is due.
    fn append(&self, body: &[u8]) {
        let mut seq = None;
        let result = self.log.append(&mut |prev| {
            let n = *seq.get_or_insert_with(|| self.seq.fetch_add(1, Ordering::Relaxed) + 1);
            let mut line = Vec::with_capacity(160 + body.len());
            self.head(&mut line, n, prev);
            line.extend_from_slice(body);
            line
        });
        self.report(result);
        if self.key.is_some()
            && self.since_checkpoint.fetch_add(1, Ordering::Relaxed) + 1 == self.checkpoint_every
        {
            self.since_checkpoint
                .fetch_sub(self.checkpoint_every, Ordering::Relaxed);
            self.checkpoint(false);
        }
    }

    /// `{"timestamp":...,"session":...,"seq":N,"prev":...`
    fn head(&self, out: &mut Vec<u8>, seq: u64, prev: &str) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        push_rfc3339(out, self.clock.now());
        out.extend_from_slice(b"\",\"session\":\"");
        out.extend_from_slice(self.session.as_bytes());
        out.push(b'"');
        if let Some(tenant) = &self.tenant {
            out.extend_from_slice(b",\"tenant\":");
            crate::base::jsonrpc::push_json_str(out, tenant);
        }
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b",\"prev\":\"");
        out.extend_from_slice(prev.as_bytes());
        out.push(b'"');
    }

    /// A signed checkpoint entry: the line up to its signature is what is signed, so the
    /// signature commits to the session, its `seq`, the time, the key id and (through `prev`)
    /// every line before it in the file.
    fn checkpoint(&self, last: bool) {
        let Some(key) = &self.key else { return };
        let mut body = Vec::with_capacity(512);
        body.extend_from_slice(b",\"message_id\":null");
        field(&mut body, "method", None);
        field(&mut body, "reason", Some("Audit checkpoint"));
        field(&mut body, "rule", Some(CHECKPOINT_RULE));
        field(&mut body, "tool", None);
        field(&mut body, "action", Some("checkpoint"));
        let explanation = if last {
            "the session's closing checkpoint: the entries before it are signed"
        } else {
            "a periodic checkpoint: the entries before it are signed"
        };
        field(&mut body, "explanation", Some(explanation));
        field(&mut body, "server", Some(&self.server));
        body.extend_from_slice(b",\"details\":null,\"checkpoint\":{\"final\":");
        body.extend_from_slice(if last { b"true" } else { b"false" });
        field(&mut body, "key_id", Some(key.id()));
        body.push(b'}');
        let mut seq = None;
        let result = self.log.append(&mut |prev| {
            let n = *seq.get_or_insert_with(|| self.seq.fetch_add(1, Ordering::Relaxed) + 1);
            let mut line = Vec::with_capacity(400 + body.len());
            self.head(&mut line, n, prev);
            line.extend_from_slice(&body);
            let signature = key.sign(&line);
            line.extend_from_slice(keys::SIGNATURE_FIELD);
            line.extend_from_slice(signature.as_bytes());
            line.extend_from_slice(b"\"}\n");
            line
        });
        self.report(result);
    }

    fn report(&self, result: std::io::Result<log::Written>) {
        let err = match result {
            Ok(log::Written { unlocked: None }) => return,
            Ok(log::Written { unlocked: Some(e) }) => {
                if !self.unlocked_reported.swap(true, Ordering::Relaxed) {
                    self.term.warn(&format!(
                        "could not lock the audit log {} ({e}); entries are still written, but \
                         Sentinels sharing this file may break its hash chain: put the log on a \
                         local file system",
                        self.path().display()
                    ));
                }
                return;
            }
            Err(e) => e,
        };
        let n = self.failures.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(1000) {
            self.term.error(&format!(
                "could not write the audit log {} ({err}); the message was still blocked. \
                 Free disk space or fix permissions; {} entries lost so far",
                self.path().display(),
                n + 1
            ));
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
        out.extend_from_slice(b",\"message_id\":null");
        field(&mut out, "method", None);
        field(&mut out, "reason", Some(reason));
        field(&mut out, "rule", Some(rule));
        field(&mut out, "tool", tool);
        field(&mut out, "action", Some(action));
        field(&mut out, "explanation", Some(explanation));
        field(&mut out, "server", Some(&self.server));
        out.extend_from_slice(b",\"details\":null}\n");
        self.append(&out);
    }

    fn format(&self, e: &Entry) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + e.details.len());
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

/// A random session id: 128 bits as 32 hex digits.
fn new_session_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    chain::hex(&b)
}
