//! The transport-independent core: one client message and its direction in, a verdict out.
//! [`Gateway::client_line`] turns a line from the client into what to forward to the server
//! and what to answer the client directly: strict parsing, the policy's decision, then the
//! circuit breaker (`circuit`). `session` keeps the bookkeeping that guarantees every request
//! exactly one response; `answers` writes what a refusal says to the client, to stderr and to
//! the audit log. The stdio pumps (and later HTTP handlers) only move bytes and call this;
//! every verdict, alert and audit entry is made here, on one code path.

mod answers;
pub mod approvals;
mod circuit;
mod facts;
mod inspect;
mod session;

pub use inspect::{Overflow, PinContext, ServerVerdict};
pub use session::ClientSide;

use answers::internal_error;
use session::{Pending, Session};

use crate::audit::{Action as AuditAction, Audit};
use crate::base::clock::Clock;
use crate::base::jsonrpc::{self, Kind, Message, Parsed, Refusal};
use crate::base::small_str::SmallStr;
use crate::base::term::Term;
use crate::guards::breaker::{self, Store};
use crate::policy::{self, Call, Decision, Live, Policy};
use circuit::SESSION;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

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
    /// The circuit breaker's state, under `store_key`: this process's memory by default, or a
    /// store shared by many gateways of one tenant (`with_store`).
    store: Arc<dyn Store>,
    store_key: String,
    /// What a call meets when `store` fails (`--state-fail`).
    state_fail: breaker::StoreFail,
    /// What the server's answers told about it (`facts`).
    facts: Mutex<facts::Facts>,
    /// Whether an answer the gateway reads is awaited (see [`Gateway::wants_server_lines`]).
    wants_lines: std::sync::atomic::AtomicBool,
    /// The database the server name alone points to.
    name_target: Option<crate::guards::sql::Convention>,
    /// Calls held for a person's approval (`approvals`).
    approvals: approvals::Approvals,
    /// The server's answers being inspected, and what was removed from its lists.
    inspect: Mutex<inspect::Inspect>,
    /// Where this server's tool definitions are pinned (or why they cannot be).
    pins: Result<PinContext, String>,
}

/// What one judged message is sent on as.
enum Pass {
    No,
    Original,
    Rewritten(Vec<u8>),
}

/// A decision about one parsed message.
enum Judgement {
    Allow,
    /// A `tools/call` the policy decided (allowed, refused or recorded).
    Decided(Decision),
    /// A cancellation for a request the server never saw.
    Swallow,
    /// The client's answer to Sentinel's own request, or the cancellation of a held call:
    /// taken here, never forwarded.
    Mine,
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
            name_target: crate::guards::sql::conventions::infer(&[&server_name]),
            facts: Mutex::new(facts::Facts::default()),
            wants_lines: std::sync::atomic::AtomicBool::new(false),
            server_name,
            audit,
            term,
            block_as,
            track_pending,
            session: Mutex::new(Session::default()),
            clock,
            store: Arc::new(breaker::MemoryStore::default()),
            store_key: SESSION.to_owned(),
            state_fail: breaker::StoreFail::Closed,
            approvals: approvals::Approvals::new(),
            inspect: Mutex::new(inspect::Inspect::default()),
            pins: Err("no pins directory was given".into()),
        }
    }

    /// Sets where the server's tool definitions are pinned (or why they cannot be).
    pub fn with_pins(mut self, pins: Result<PinContext, String>) -> Gateway {
        self.pins = pins;
        self
    }

    /// Keeps the breaker's state in `store` under `key` (one key per tenant for HTTP, so that
    /// every session of a tenant, in this process or another, shares its limits and budgets).
    pub fn with_store(mut self, store: Arc<dyn Store>, key: String) -> Gateway {
        self.store = store;
        self.store_key = key;
        self
    }

    /// What a call meets when the breaker's store fails: refused (the default) or let through
    /// unchecked and recorded (`--state-fail open`).
    pub fn with_state_fail(mut self, fail: breaker::StoreFail) -> Gateway {
        self.state_fail = fail;
        self
    }

    /// Where the 2026-07-28 approvals' sealing key and used nonces live (this gateway's memory
    /// by default; shared by every Sentinel on one Redis with `--state redis://`).
    pub fn with_approval_state(mut self, state: Arc<dyn approvals::ApprovalState>) -> Gateway {
        self.approvals.state = state;
        self
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
                match self.decide(client, &policy, &msg, line, &mut reply) {
                    Pass::Original => Forward::Original,
                    Pass::No => Forward::Nothing,
                    Pass::Rewritten(bytes) => Forward::Rewritten(bytes),
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
        let mut kept: Vec<std::borrow::Cow<[u8]>> = Vec::with_capacity(elements.len());
        let mut answers: Vec<u8> = Vec::new();
        let total = elements.len();
        let mut rewritten = false;
        client.in_batch = true;
        for (raw, parsed) in elements {
            let mut one = Vec::new();
            let pass = match parsed {
                Ok(msg) => self.decide(client, policy, &msg, raw.as_bytes(), &mut one),
                Err(refusal) => {
                    self.refuse(client, &refusal, raw.as_bytes(), &mut one);
                    Pass::No
                }
            };
            match pass {
                Pass::No => {}
                Pass::Original => kept.push(raw.as_bytes().into()),
                Pass::Rewritten(b) => {
                    rewritten = true;
                    kept.push(b.into());
                }
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
        client.in_batch = false;
        if kept.len() == total && !rewritten {
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
            out.extend_from_slice(raw);
        }
        out.push(b']');
        Forward::Rewritten(out)
    }

    /// Decides one parsed message: whether (and as what) it goes to the server. Answers go to
    /// `reply`.
    fn decide(
        &self,
        client: &mut ClientSide,
        policy: &Policy,
        msg: &Message,
        raw: &[u8],
        reply: &mut Vec<u8>,
    ) -> Pass {
        let decision = match self.judge(client, policy, msg, raw) {
            Judgement::Swallow => {
                self.term
                    .info("dropped notifications/cancelled for a request Sentinel answered");
                return Pass::No;
            }
            Judgement::Mine => return Pass::No,
            Judgement::Allow => Decision::default(),
            Judgement::Decided(d) => d,
        };
        for hit in &decision.monitored {
            self.record(msg, raw, hit, AuditAction::Monitored);
        }
        // Whether an entry says what became of this call already (`audit.log_allowed`).
        let mut recorded = !decision.monitored.is_empty();
        let mut pass = Pass::Original;
        if let Some(hit) = decision.refusal() {
            recorded = true; // held, then approved (or approved for the session): audited
            if hit.action != policy::Action::Approve || msg.kind != Kind::Request {
                self.block(client, msg, raw, hit, reply);
                return Pass::No;
            }
            match self.hold(client, msg, raw, hit, reply) {
                approvals::Hold::Done => return Pass::No,
                approvals::Hold::Proceed(None) => {}
                approvals::Hold::Proceed(Some(bytes)) => pass = Pass::Rewritten(bytes),
            }
        }
        if let Some(hit) = decision
            .terminal
            .as_ref()
            .filter(|h| h.action != policy::Action::Allow)
        {
            // Monitor mode: what would have been refused is recorded and forwarded.
            self.record(msg, raw, hit, AuditAction::Monitored);
            recorded = true;
        }
        // The circuit breaker: stateful limits on the calls the policy lets through.
        if msg.method.as_deref() == Some("tools/call") {
            if let Some(hit) = self.breaker_admit(policy, msg) {
                if hit.enforced {
                    self.block(client, msg, raw, &hit, reply);
                    return Pass::No;
                }
                self.record(msg, raw, &hit, AuditAction::Monitored);
                recorded = true;
            }
            if policy.audit.log_allowed && !recorded {
                let hit = decision.terminal.unwrap_or_else(|| answers::allowed(msg));
                self.record(msg, raw, &hit, AuditAction::Allowed);
            }
        }
        if msg.method.as_deref() == Some("tools/call") && self.term.verbose() {
            self.term.allowed(&self.headline(msg));
        }
        if msg.kind == Kind::Request && self.track_pending {
            if let (Some(method), Some(id)) = (msg.method.as_deref(), &msg.id) {
                let continued = msg
                    .params
                    .as_ref()
                    .and_then(|p| p.get("cursor"))
                    .is_some_and(|c| !matches!(c, crate::base::json::Json::Null));
                if let Some(hit) = self.watch_answer(policy, method, msg.tool_name(), continued, id)
                {
                    self.block(client, msg, raw, &hit, reply);
                    return Pass::No;
                }
            }
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
        pass
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
                if let Some(hit) = answers::invalid_params(msg) {
                    return Judgement::Decided(Decision {
                        terminal: Some(hit),
                        monitored: Vec::new(),
                    });
                }
                if let Some(hit) = self.removed_item(msg) {
                    return Judgement::Decided(hit);
                }
                let params = msg.params.as_ref();
                let (def, target) = self.server_facts(msg.tool_name());
                let call = Call {
                    server: &self.server_name,
                    tool: msg.tool_name(),
                    arguments: params.and_then(|p| p.get("arguments")),
                    def: def.as_deref(),
                    target,
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
                if self.cancel_held(&small) {
                    return Judgement::Mine;
                }
                // The request is waiting: no answer is expected any more (published or not).
                // One that comes anyway is still inspected (see `inspect::Inspect::cancelled`).
                self.watch_cancelled(&key);
                let cancelled = match client.staged.iter().position(|(k, _)| *k == small) {
                    Some(i) => Some(client.staged.remove(i).1),
                    None => self.session().pending.remove(&small),
                };
                if let Some(Pending {
                    tool: Some(tool), ..
                }) = cancelled
                {
                    // A cancelled probe is never answered: the next call may probe.
                    let probe = self.probe_key(&key);
                    let forgot = self.store.with_session(&self.store_key, &mut |st| {
                        breaker::forget(st, &tool, &probe)
                    });
                    match forgot {
                        Ok(()) => self.store_answered(),
                        Err(e) => self.store_failed(&e),
                    }
                }
                Judgement::Allow
            }
            Some("prompts/get" | "resources/read") => match self.removed_item(msg) {
                Some(hit) => Judgement::Decided(hit),
                None => Judgement::Allow,
            },
            Some("initialize") if msg.kind == Kind::Request => {
                self.client_initialize(raw);
                Judgement::Allow
            }
            None if msg.kind == Kind::Response && self.client_answer(msg, raw) => Judgement::Mine,
            _ => Judgement::Allow,
        }
    }
}
