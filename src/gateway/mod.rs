//! The transport-independent core: one client message and its direction in, a verdict out.
//! [`Gateway::client_line`] turns a line from the client into what to forward to the server
//! and what to answer the client directly; [`Gateway::server_response`] and
//! [`Gateway::server_gone`] keep the per-session bookkeeping that guarantees every request gets
//! exactly one response. The stdio pumps (and later HTTP handlers) only move bytes and call
//! this; every verdict, alert and audit entry is made here, on one code path.

use crate::audit::{Action as AuditAction, Audit, Entry};
use crate::base::clock::{self, Clock};
use crate::base::jsonrpc::{self, Kind, Message, Parsed, RawId, Refusal};
use crate::base::small_str::{IdHashing, IdMap, SmallStr};
use crate::base::term::Term;
use crate::guards::breaker::{self, CallFacts, Store, Transition};
use crate::policy::{self, Call, Decision, Hit, Live, Mode, Policy};
use crate::secrets;
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

/// How many ids of requests the gateway answered itself are remembered, so that a later
/// `notifications/cancelled` for one of them is not sent to a server that never saw it.
const ANSWERED_MEMORY: usize = 4096;

/// The breaker store's key for this gateway's session (one stdio session per process).
const SESSION: &str = "stdio";

/// How a blocked `tools/call` request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockAs {
    /// A JSON-RPC error with code [`jsonrpc::BLOCKED`].
    Error,
    /// A tool result with `isError: true`, which the model reads as the tool's output.
    Result,
}

/// What to send to the server for one client line.
#[derive(Debug, PartialEq, Eq)]
pub enum Forward {
    /// Nothing reaches the server.
    Nothing,
    /// The original line, byte for byte.
    Original,
    /// A batch with its refused elements removed (the others byte for byte).
    Rewritten(Vec<u8>),
}

/// The verdict on one client line.
#[derive(Debug)]
pub struct Outcome {
    pub forward: Forward,
    /// Lines to write to the client (each ending in a newline); empty for none.
    pub reply: Vec<u8>,
}

/// A request forwarded to the server and not yet answered.
struct Pending {
    /// Its place in the order requests were sent.
    seq: u64,
    /// The id as the client wrote it, when that differs from its key (a string with escapes).
    raw: Option<RawId>,
    /// The tool of a `tools/call`, kept only while the circuit breaker is on (it counts the
    /// tool's failures).
    tool: Option<Box<str>>,
}

/// What one session's two sides share: the requests forwarded to the server and not yet
/// answered, by id key. The client side adds to it, the server side takes from it, each in
/// batches (see [`ClientSide`] and [`ServerSide`]): locking it for every message made its
/// cache line travel between the two pumps' CPUs twice per message.
#[derive(Default)]
struct Session {
    pending: IdMap<Pending>,
}

/// The client side of one session, owned by the one thread that reads the client's lines in
/// order: the ids the gateway answered itself, and the requests forwarded since the last
/// [`Gateway::publish`]. Requests are recorded as waiting for the server only when they are
/// published, so a transport publishes before the bytes it forwards can reach the server.
#[derive(Default)]
pub struct ClientSide {
    staged: Vec<(SmallStr, Pending)>,
    next_seq: u64,
    /// Ids the gateway answered itself, oldest first.
    answered: VecDeque<SmallStr>,
    answered_set: HashSet<SmallStr, IdHashing>,
}

/// The server side of one session, owned by the thread that reads the server's output: the
/// answers seen since the last [`Gateway::publish_answers`].
#[derive(Default)]
pub struct ServerSide {
    answered: Vec<(SmallStr, bool)>,
}

/// The decision core for one session.
pub struct Gateway {
    /// The policy in force, swapped whole on reload: each line is judged by one snapshot.
    policy: Arc<Live>,
    /// The name rules' `servers:` globs are matched against.
    server_name: String,
    audit: Arc<Audit>,
    term: Term,
    block_as: BlockAs,
    /// Whether there is a server whose responses we wait for (false in demo mode).
    track_pending: bool,
    session: Mutex<Session>,
    clock: Arc<dyn Clock>,
    /// The circuit breaker's state for this session.
    store: Box<dyn Store>,
}

/// A decision about one parsed message.
enum Judgement {
    Allow,
    /// A `tools/call` the policy decided (allowed, refused or recorded).
    Decided(Decision),
    /// A cancellation for a request the server never saw.
    Swallow,
}

impl Gateway {
    pub fn new(
        policy: Arc<Live>,
        server_name: String,
        audit: Arc<Audit>,
        term: Term,
        block_as: BlockAs,
        track_pending: bool,
        clock: Arc<dyn Clock>,
    ) -> Gateway {
        Gateway {
            policy,
            server_name,
            audit,
            term,
            block_as,
            track_pending,
            session: Mutex::new(Session::default()),
            clock,
            store: Box::new(breaker::MemoryStore::default()),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.get()
    }

    /// Where the audit log is being written.
    pub fn audit_path(&self) -> &std::path::Path {
        self.audit.path()
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session's client side (one per session; see [`ClientSide`]).
    pub fn client_side(&self) -> ClientSide {
        ClientSide::default()
    }

    /// A new session's server side (one per session; see [`ServerSide`]).
    pub fn server_side(&self) -> ServerSide {
        ServerSide::default()
    }

    /// Judges one line from the client (without its newline).
    pub fn client_line(&self, client: &mut ClientSide, line: &[u8]) -> Outcome {
        let policy = self.policy();
        let mut reply = Vec::new();
        let forward = match jsonrpc::parse_line(line) {
            Ok(None) => Forward::Nothing,
            Err(refusal) => {
                self.refuse(client, &refusal, line, &mut reply);
                Forward::Nothing
            }
            Ok(Some(Parsed::Single(msg))) => {
                if self.decide(client, &policy, &msg, line, &mut reply) {
                    Forward::Original
                } else {
                    Forward::Nothing
                }
            }
            Ok(Some(Parsed::Batch(elements))) => {
                self.batch(client, &policy, line, elements, &mut reply)
            }
        };
        Outcome { forward, reply }
    }

    /// The verdict on a line longer than `max` bytes (already discarded by the reader).
    pub fn client_too_long(&self, client: &mut ClientSide, max: usize) -> Outcome {
        let refusal = Refusal {
            code: jsonrpc::PARSE_ERROR,
            problem: jsonrpc::Problem::TooLarge(max),
            id: None,
        };
        let mut reply = Vec::new();
        self.refuse(client, &refusal, b"(message too large to keep)", &mut reply);
        Outcome {
            forward: Forward::Nothing,
            reply,
        }
    }

    fn batch(
        &self,
        client: &mut ClientSide,
        policy: &Policy,
        line: &[u8],
        elements: Vec<(&str, Result<Message<'_>, Refusal>)>,
        reply: &mut Vec<u8>,
    ) -> Forward {
        let mut kept: Vec<&str> = Vec::with_capacity(elements.len());
        let mut answers: Vec<u8> = Vec::new();
        let total = elements.len();
        for (raw, parsed) in elements {
            let mut one = Vec::new();
            let allowed = match parsed {
                Ok(msg) => self.decide(client, policy, &msg, raw.as_bytes(), &mut one),
                Err(refusal) => {
                    self.refuse(client, &refusal, raw.as_bytes(), &mut one);
                    false
                }
            };
            if allowed {
                kept.push(raw);
            }
            if !one.is_empty() {
                one.pop(); // the newline: batch answers go in one array
                answers.push(if answers.is_empty() { b'[' } else { b',' });
                answers.extend_from_slice(&one);
            }
        }
        if !answers.is_empty() {
            answers.extend_from_slice(b"]\n");
            reply.extend_from_slice(&answers);
        }
        if kept.len() == total {
            return Forward::Original;
        }
        if kept.is_empty() {
            return Forward::Nothing;
        }
        let mut out = Vec::with_capacity(line.len());
        out.push(b'[');
        for (i, raw) in kept.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(raw.as_bytes());
        }
        out.push(b']');
        Forward::Rewritten(out)
    }

    /// Decides one parsed message; true when it goes to the server. Answers go to `reply`.
    fn decide(
        &self,
        client: &mut ClientSide,
        policy: &Policy,
        msg: &Message,
        raw: &[u8],
        reply: &mut Vec<u8>,
    ) -> bool {
        let decision = match self.judge(client, policy, msg, raw) {
            Judgement::Swallow => {
                self.term
                    .info("dropped notifications/cancelled for a request Sentinel answered");
                return false;
            }
            Judgement::Allow => Decision::default(),
            Judgement::Decided(d) => d,
        };
        for hit in &decision.monitored {
            self.record(msg, raw, hit, AuditAction::Monitored);
        }
        if let Some(hit) = decision.refusal() {
            self.block(client, msg, raw, hit, reply);
            return false;
        }
        if let Some(hit) = decision
            .terminal
            .as_ref()
            .filter(|h| h.action != policy::Action::Allow)
        {
            // Monitor mode: what would have been refused is recorded and forwarded.
            self.record(msg, raw, hit, AuditAction::Monitored);
        }
        // The circuit breaker: stateful limits on the calls the policy lets through.
        if msg.method.as_deref() == Some("tools/call") {
            if let Some(hit) = self.breaker_admit(policy, msg) {
                if hit.enforced {
                    self.block(client, msg, raw, &hit, reply);
                    return false;
                }
                self.record(msg, raw, &hit, AuditAction::Monitored);
            }
        }
        if msg.method.as_deref() == Some("tools/call") && self.term.verbose() {
            self.term.allowed(&self.headline(msg));
        }
        if msg.kind == Kind::Request && self.track_pending {
            if let Some(id) = &msg.id {
                let key = jsonrpc::id_key(id.as_json());
                let raw = (*key != *id.as_json()).then(|| id.clone());
                let tool = (policy.breaker.mode.is_some()
                    && msg.method.as_deref() == Some("tools/call"))
                .then(|| msg.tool_name().unwrap_or("").into());
                let key = SmallStr::new(&key);
                let seq = client.next_seq;
                client.next_seq += 1;
                client.staged.push((key, Pending { seq, raw, tool }));
            }
        }
        true
    }

    /// Asks the circuit breaker about a `tools/call` the policy allowed; a refusal (or, in
    /// monitor mode, what would have been one) comes back as a hit.
    fn breaker_admit(&self, policy: &Policy, msg: &Message) -> Option<Hit> {
        let cfg = &policy.breaker;
        let mode = cfg.mode?;
        let tool = msg.tool_name().unwrap_or("");
        let request = msg
            .id
            .as_ref()
            .filter(|_| msg.kind == Kind::Request)
            .map(RawId::key);
        let call = CallFacts {
            tool,
            arguments: msg.params.as_ref().and_then(|p| p.get("arguments")),
            request: request.as_deref(),
        };
        let now = clock::millis(self.clock.now());
        let mut changes = Vec::new();
        let mut refusal = None;
        let judged = catch_unwind(AssertUnwindSafe(|| {
            self.store.with_session(SESSION, &mut |st| {
                refusal = breaker::admit(cfg, st, &call, now, mode == Mode::Monitor, &mut changes);
            })
        }));
        self.transitions(&changes);
        if judged.is_err() {
            return Some(internal_error());
        }
        refusal.map(|r| Hit {
            rule: r.rule.to_owned(),
            action: policy::Action::Block,
            enforced: mode == Mode::Enforce,
            reason: r.reason.to_owned(),
            detail: r.detail,
            hint: r.hint,
            pointer: String::new(),
            retry_at: r
                .retry_at_ms
                .map(|ms| clock::rfc3339(clock::from_millis(ms))),
        })
    }

    /// Logs and audits breakers changing state.
    fn transitions(&self, changes: &[Transition]) {
        for t in changes {
            let text = match t.until_ms {
                Some(until) => format!(
                    "circuit for tool {:?} {} -> {}: {}; calls refused until {}",
                    t.tool,
                    t.from,
                    t.to,
                    t.why,
                    clock::rfc3339(clock::from_millis(until))
                ),
                None => format!(
                    "circuit for tool {:?} {} -> {}: {}",
                    t.tool, t.from, t.to, t.why
                ),
            };
            if t.to == "open" {
                self.term.warn(&text);
            } else {
                self.term.notice(&text);
            }
            let action = match t.to {
                "open" => "breaker_open",
                "half-open" => "breaker_half_open",
                _ => "breaker_closed",
            };
            self.audit.event(
                action,
                "breaker.state",
                "Circuit Breaker",
                Some(&t.tool),
                &text,
            );
        }
    }

    fn judge(
        &self,
        client: &mut ClientSide,
        policy: &Policy,
        msg: &Message,
        raw: &[u8],
    ) -> Judgement {
        match msg.method.as_deref() {
            Some("tools/call") => {
                let params = msg.params.as_ref();
                let call = Call {
                    server: &self.server_name,
                    tool: msg.tool_name(),
                    arguments: params.and_then(|p| p.get("arguments")),
                };
                let decision = catch_unwind(AssertUnwindSafe(|| policy.decide(&call, None)))
                    .unwrap_or_else(|_| Decision {
                        terminal: Some(internal_error()),
                        monitored: Vec::new(),
                    });
                Judgement::Decided(decision)
            }
            Some("notifications/cancelled") if msg.kind == Kind::Notification => {
                let Some(target) = jsonrpc::cancelled_request_id(raw) else {
                    return Judgement::Allow;
                };
                let key = target.key();
                let small = SmallStr::new(&key);
                if client.answered_set.contains(&small) {
                    return Judgement::Swallow;
                }
                // The request is waiting: no answer is expected any more (published or not).
                let cancelled = match client.staged.iter().position(|(k, _)| *k == small) {
                    Some(i) => Some(client.staged.remove(i).1),
                    None => self.session().pending.remove(&small),
                };
                if let Some(Pending {
                    tool: Some(tool), ..
                }) = cancelled
                {
                    // A cancelled probe is never answered: the next call may probe.
                    self.store
                        .with_session(SESSION, &mut |st| breaker::forget(st, &tool, &key));
                }
                Judgement::Allow
            }
            _ => Judgement::Allow,
        }
    }

    /// Audits a decision about a message; returns its explanation, with any secret redacted.
    fn record<'h>(
        &self,
        msg: &Message,
        raw: &[u8],
        hit: &'h Hit,
        action: AuditAction,
    ) -> Cow<'h, str> {
        let would_have = (action == AuditAction::Monitored
            && hit.action != policy::Action::Monitor)
            .then(|| hit.action.as_str());
        let redactor = self.policy().redactor();
        let details = redacted(&redactor, raw);
        // The id and the tool name are the message's too: a secret there is redacted as well.
        let message_id = msg
            .id
            .as_ref()
            .map(|id| match redactor.redact(id.as_json()) {
                Some(r) => Cow::Owned(RawId::new(&r)),
                None => Cow::Borrowed(id),
            });
        let tool = msg.tool_name().map(|t| clean(&redactor, t));
        let explanation = clean(&redactor, &hit.detail);
        self.audit.record(&Entry {
            message_id: message_id.as_deref(),
            method: msg.method.as_deref(),
            tool: tool.as_deref(),
            rule: &hit.rule,
            reason: &hit.reason,
            explanation: &explanation,
            hint: &hit.hint,
            argument: Some(hit.pointer.as_str()).filter(|p| !p.is_empty()),
            action,
            would_have,
            details: details.as_deref().map_or(raw, str::as_bytes),
            details_is_json: true,
        });
        if action == AuditAction::Monitored {
            self.term.monitored(&format!(
                "{} rule={}{}",
                self.headline(msg),
                hit.rule,
                would_have.map_or(String::new(), |w| format!(" (would {w})"))
            ));
        }
        explanation
    }

    /// Text derived from a message (an explanation quoting it, its id, its tool name) with
    /// any secret redacted.
    fn clean<'t>(&self, text: &'t str) -> Cow<'t, str> {
        clean(&self.policy().redactor(), text)
    }

    /// `method id=.. tool=..` for stderr, with any secret in the id or tool name redacted.
    fn headline(&self, msg: &Message) -> String {
        self.clean(&headline(msg)).into_owned()
    }

    fn block(
        &self,
        client: &mut ClientSide,
        msg: &Message,
        raw: &[u8],
        hit: &Hit,
        reply: &mut Vec<u8>,
    ) {
        let approve = hit.action == policy::Action::Approve;
        let action = if approve {
            AuditAction::ApprovalRequired
        } else {
            AuditAction::Blocked
        };
        let detail = self.record(msg, raw, hit, action);
        let rule = hit.rule.as_str();
        self.term.alert(|| {
            (
                format!("{} rule={rule}", self.headline(msg)),
                vec![
                    format!("{}: {detail}", hit.reason),
                    format!("hint: {}", hit.hint),
                ],
            )
        });

        let Some(id) = msg.id.as_ref().filter(|_| msg.kind == Kind::Request) else {
            return; // a notification: dropped and audited, nothing to answer
        };
        // "Blocked by Sentinel (RULE): DETAIL. Hint: HINT."
        let (detail_text, hint_text) =
            (detail.trim_end_matches('.'), hit.hint.trim_end_matches('.'));
        let mut text = String::with_capacity(40 + rule.len() + detail_text.len() + hint_text.len());
        for part in [
            "Blocked by Sentinel (",
            rule,
            "): ",
            detail_text,
            ". Hint: ",
            hint_text,
            ".",
        ] {
            text.push_str(part);
        }
        let tool = msg.tool_name();
        reply.reserve(2 * text.len() + 256);
        match self.block_as {
            BlockAs::Error => {
                let data = jsonrpc::string_object(&[
                    ("rule", Some(rule)),
                    ("reason", Some(&hit.reason)),
                    ("detail", Some(&detail)),
                    ("hint", Some(&hit.hint)),
                    (
                        "argument",
                        Some(hit.pointer.as_str()).filter(|p| !p.is_empty()),
                    ),
                    ("tool", tool),
                    ("action", Some(hit.action.as_str())),
                    ("retry_at", hit.retry_at.as_deref()),
                ]);
                let code = if approve {
                    jsonrpc::APPROVAL_REQUIRED
                } else {
                    jsonrpc::BLOCKED
                };
                jsonrpc::write_error(reply, Some(id), code, &text, Some(&data));
            }
            BlockAs::Result => {
                let mut result = b"{\"content\":[{\"type\":\"text\",\"text\":".to_vec();
                jsonrpc::push_json_str(&mut result, &text);
                result.extend_from_slice(b"}],\"isError\":true}");
                jsonrpc::write_result(reply, Some(id), &result);
            }
        }
        remember_answered(client, id);
    }

    /// Answers and audits a line that could not be parsed unambiguously.
    fn refuse(&self, client: &mut ClientSide, r: &Refusal, raw: &[u8], reply: &mut Vec<u8>) {
        let redactor = self.policy().redactor();
        let problem = clean(&redactor, &r.problem.to_string()).into_owned();
        let details = redacted(&redactor, raw);
        let hint = "send exactly one JSON-RPC 2.0 object (or batch) per line: valid UTF-8 JSON, \
                    no duplicate keys, nested at most 100 levels";
        let (title, rule) = (policy::MALFORMED_TITLE, policy::MALFORMED);
        self.audit.record(&Entry {
            message_id: r.id.as_ref(),
            method: None,
            tool: None,
            rule,
            reason: title,
            explanation: &problem,
            hint,
            argument: None,
            action: AuditAction::Blocked,
            would_have: None,
            details: details.as_deref().map_or(raw, str::as_bytes),
            details_is_json: false,
        });
        self.term.alert(|| {
            (
                format!("malformed message rule={rule}"),
                vec![problem.clone()],
            )
        });
        let message = if r.code == jsonrpc::PARSE_ERROR {
            format!("Parse error: {problem}")
        } else {
            format!("Invalid Request: {problem}")
        };
        let data = jsonrpc::string_object(&[
            ("rule", Some(rule)),
            ("reason", Some(title)),
            ("detail", Some(&problem)),
            ("hint", Some(hint)),
        ]);
        jsonrpc::write_error(reply, r.id.as_ref(), r.code, &message, Some(&data));
        if let Some(id) = &r.id {
            remember_answered(client, id);
        }
    }

    /// Records the requests `client` forwarded since the last call as waiting for the
    /// server. Call it before the bytes of those requests can reach the server.
    pub fn publish(&self, client: &mut ClientSide) {
        if client.staged.is_empty() {
            return;
        }
        let mut s = self.session();
        s.pending.extend(client.staged.drain(..));
    }

    /// Notes that the server answered the request with this id (raw JSON text), and whether
    /// the answer reports a failure (the circuit breaker counts a tool's failures); it takes
    /// effect at the next [`Gateway::publish_answers`].
    pub fn server_response(&self, server: &mut ServerSide, raw_id: &str, failed: bool) {
        if self.track_pending {
            let key = jsonrpc::id_key(raw_id);
            server.answered.push((SmallStr::new(&key), failed));
        }
    }

    /// Takes the requests the server answered since the last call off the waiting list, and
    /// tells the circuit breaker how their tools did.
    pub fn publish_answers(&self, server: &mut ServerSide) {
        if server.answered.is_empty() {
            return;
        }
        let mut done: Vec<(Box<str>, SmallStr, bool)> = Vec::new();
        {
            let mut s = self.session();
            for (key, failed) in server.answered.drain(..) {
                if let Some(Pending {
                    tool: Some(tool), ..
                }) = s.pending.remove(&key)
                {
                    done.push((tool, key, failed));
                }
            }
        }
        if done.is_empty() {
            return;
        }
        let policy = self.policy();
        if policy.breaker.mode.is_none() {
            return;
        }
        let now = clock::millis(self.clock.now());
        let mut changes = Vec::new();
        self.store.with_session(SESSION, &mut |st| {
            for (tool, key, failed) in &done {
                breaker::observe(
                    &policy.breaker,
                    st,
                    tool,
                    key.as_str(),
                    *failed,
                    now,
                    &mut changes,
                );
            }
        });
        self.transitions(&changes);
    }

    /// The server can no longer answer: error responses for every request still waiting, in
    /// the order they were sent.
    pub fn server_gone(&self, why: &str) -> Vec<u8> {
        let mut waiting: Vec<(u64, RawId)> = self
            .session()
            .pending
            .drain()
            .map(|(key, p)| (p.seq, p.raw.unwrap_or_else(|| RawId::new(key.as_str()))))
            .collect();
        waiting.sort_by_key(|(seq, _)| *seq);
        let mut out = Vec::new();
        let data = jsonrpc::string_object(&[
            ("reason", Some("server unavailable")),
            (
                "hint",
                Some(
                    "the MCP server behind Sentinel stopped; check its stderr output, then \
                     restart the session",
                ),
            ),
        ]);
        for (_, id) in &waiting {
            jsonrpc::write_error(
                &mut out,
                Some(id),
                jsonrpc::SERVER_GONE,
                &format!("MCP server {why} before answering this request"),
                Some(&data),
            );
        }
        if !waiting.is_empty() {
            self.term.warn(&format!(
                "answered {} request(s) the server left unanswered",
                waiting.len()
            ));
        }
        out
    }
}

/// The message with every secret in it redacted, when it has one: the audit log never holds
/// a detected secret in clear. Redacted messages are re-serialized (compact, keys sorted); the
/// others are kept byte for byte.
fn redacted(redactor: &secrets::Scanner, raw: &[u8]) -> Option<String> {
    // A judged message is UTF-8 already; only a refused line may not be.
    let text = match std::str::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(raw),
    };
    // Without escapes, every string of the message is in the raw text verbatim: a secret the
    // raw text does not show is in no string either (the common, cheap case).
    let in_clear = redactor.find(&text).is_some();
    if !text.contains('\\') && !in_clear {
        return None;
    }
    // A line JSON cannot represent faithfully (a duplicated key keeps only its last value)
    // may show a secret the parsed form has lost: redact the text itself then.
    redactor
        .redact_json(&text)
        .or_else(|| in_clear.then(|| redactor.redact(&text)).flatten())
}

/// `text` with any secret redacted.
fn clean<'t>(redactor: &secrets::Scanner, text: &'t str) -> Cow<'t, str> {
    redactor
        .redact(text)
        .map_or(Cow::Borrowed(text), Cow::Owned)
}

/// Remembers that the gateway answered the request `id` itself (the last
/// [`ANSWERED_MEMORY`] of them), so that a cancellation of it is not passed on.
fn remember_answered(client: &mut ClientSide, id: &RawId) {
    let key = SmallStr::new(&jsonrpc::id_key(id.as_json()));
    if client.answered_set.insert(key.clone()) {
        client.answered.push_back(key);
        if client.answered.len() > ANSWERED_MEMORY {
            if let Some(old) = client.answered.pop_front() {
                client.answered_set.remove(&old);
            }
        }
    }
}

/// The refusal when inspecting a call panicked (fail closed).
fn internal_error() -> Hit {
    Hit {
        rule: "sentinel.internal_error".into(),
        action: policy::Action::Block,
        enforced: true,
        reason: "Inspection Failed".into(),
        detail: "the arguments could not be inspected (internal error)".into(),
        hint: "simplify the arguments; report this to your Sentinel maintainers".into(),
        pointer: String::new(),
        retry_at: None,
    }
}

fn headline(msg: &Message) -> String {
    let id = msg.id.as_ref().map_or("-", RawId::as_json);
    let method = msg.method.as_deref().unwrap_or("-");
    match msg.tool_name() {
        Some(tool) => format!("{method} id={id} tool={tool}"),
        None => format!("{method} id={id}"),
    }
}
