//! Human approval: a `tools/call` a rule sends to `approve` is held, not refused, while a
//! person answers through the channel this client and host offer, tried in this order: the
//! client's own elicitation (`elicitation/create`, protocol 2025-06-18 to 2025-11-25), the
//! 2026-07-28 multi round-trip retry (an `input_required` answer with a sealed
//! `requestState`, `seal`), and a person on this host (`sentinel approvals`, through the
//! transport's socket listener behind [`local::LocalChannel`]). No channel: refused at once.
//! This module owns the table of held calls, their release (forwarded byte for byte, through
//! the transport's [`Outlet`]) or denial, the timeout thread, cancellation and disconnect, and
//! the session's approvals of exact calls. What is shown to a person is `elicit`'s; where the
//! sealing key and used nonces live (this process, or Redis), `shared`'s.

mod elicit;
pub mod local;
mod retry;
mod seal;
mod shared;

use super::session::{ClientSide, Pending};
use super::Gateway;
use crate::audit::{Action as AuditAction, ApprovalNote};
use crate::base::clock;
use crate::base::jsonrpc::{self, Message, Parsed, RawId};
use crate::base::small_str::SmallStr;
use crate::policy::{Approval, Channel, Hit};
use local::{Announcement, AnswerError, HeldCall, LocalAnswer, LocalChannel};
use serde_json::{json, Value};
pub use shared::{ApprovalState, MemoryApprovals, RedisApprovals};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The key of Sentinel's own entry in a 2026-07-28 `inputRequests` / `inputResponses`.
const INPUT_KEY: &str = "sentinel_approval";
/// The first protocol version of multi round-trip requests.
const MRTR_VERSION: &str = "2026-07-28";
/// How often a held call with a progress token gets `notifications/progress`: every 10 s, or
/// four times within a shorter timeout.
fn progress_every(timeout: Duration) -> Duration {
    Duration::from_secs(10)
        .min(timeout / 4)
        .max(Duration::from_millis(100))
}
/// How many ids of held calls already resolved are remembered (their cancellations are not
/// passed on to a server that never saw them).
const RESOLVED_MEMORY: usize = 4096;

/// Where a released call and the gateway's later answers go: the transport's two outputs.
pub trait Outlet: Send + Sync {
    /// Writes one line (ending in a newline) to the server; false when it no longer reads.
    fn to_server(&self, line: &[u8]) -> bool;
    /// Writes whole lines to the client.
    fn to_client(&self, bytes: &[u8]);
}

/// The approvals of one gateway session.
pub(super) struct Approvals {
    table: Mutex<Table>,
    /// Wakes the timeout thread (a call held or resolved) and `wait_settled`.
    changed: Condvar,
    outlet: OnceLock<Arc<dyn Outlet>>,
    local: OnceLock<Arc<dyn LocalChannel>>,
    /// The sealing key and used nonces of 2026-07-28 states (`shared`).
    pub(in crate::gateway) state: Arc<dyn ApprovalState>,
    /// Sentinel's own request ids to the client start with this (random per process), so
    /// they never meet the server's server->client request ids.
    id_prefix: String,
    pid: u32,
}

#[derive(Default)]
struct Table {
    held: Vec<Held>,
    next_elicitation: u64,
    /// `tool \0 canonical arguments` of calls approved for the rest of the session.
    session_ok: HashSet<String>,
    resolved: VecDeque<SmallStr>,
    resolved_set: HashSet<SmallStr>,
    client: ClientFacts,
    /// The client is gone: nothing held is ever forwarded.
    closed: bool,
}

/// What the client's `initialize` said.
#[derive(Default, Clone)]
pub(super) struct ClientFacts {
    /// It declared form-mode elicitation.
    elicitation: bool,
    name: Option<String>,
}

/// One held call.
struct Held {
    /// `<pid>-<n>`.
    id: String,
    /// The id of Sentinel's open `elicitation/create`, when the client was asked.
    elicitation: Option<String>,
    key: SmallStr,
    request_id: RawId,
    seq: u64,
    raw: Vec<u8>,
    canonical: String,
    hit: Hit,
    approval: Approval,
    channel: &'static str,
    started: Instant,
    deadline: Instant,
    progress: Option<Value>,
    next_progress: Instant,
    view: HeldCall,
}

/// How a held call ends.
enum End {
    Approve { session: bool },
    Deny(String),
    Timeout,
    Cancelled,
    Dropped,
}

impl End {
    fn answer(&self) -> &'static str {
        match self {
            End::Approve { session: false } => "approve",
            End::Approve { session: true } => "approve_session",
            End::Deny(_) => "deny",
            End::Timeout => "timeout",
            End::Cancelled => "cancelled",
            End::Dropped => "dropped",
        }
    }
    fn outcome(&self) -> &'static str {
        match self {
            End::Approve { .. } => "approved",
            End::Deny(_) => "denied",
            End::Timeout => "timed out",
            End::Cancelled => "cancelled",
            End::Dropped => "dropped",
        }
    }
}

/// What [`Gateway::hold`] made of a call that needs approval.
pub(super) enum Hold {
    /// Answered or held: nothing goes to the server now.
    Done,
    /// Approved already (for the session, or by a valid 2026-07-28 retry): forward it, as
    /// it came (`None`) or with Sentinel's own fields removed.
    Proceed(Option<Vec<u8>>),
}

impl Approvals {
    pub(super) fn new() -> Approvals {
        Approvals {
            table: Mutex::new(Table::default()),
            changed: Condvar::new(),
            outlet: OnceLock::new(),
            local: OnceLock::new(),
            state: Arc::new(MemoryApprovals::new()),
            id_prefix: format!("sentinel-{}-", seal::random_hex::<12>()),
            pid: std::process::id(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Table {
    fn remember_resolved(&mut self, key: SmallStr) {
        if self.resolved_set.insert(key.clone()) {
            self.resolved.push_back(key);
            if self.resolved.len() > RESOLVED_MEMORY {
                if let Some(old) = self.resolved.pop_front() {
                    self.resolved_set.remove(&old);
                }
            }
        }
    }
}

/// `params` of the raw message, parsed again with serde_json (a held call is rare; the
/// fast path never comes here).
fn params_of(raw: &[u8]) -> Value {
    serde_json::from_slice::<Value>(raw)
        .ok()
        .and_then(|mut v| v.get_mut("params").map(Value::take))
        .unwrap_or(Value::Null)
}

/// What a 2026-07-28 request's `_meta` says: its protocol version is at least 2026-07-28 and
/// it declares form elicitation.
fn mrtr_client(params: &Value) -> bool {
    let meta = &params["_meta"];
    let version = meta["io.modelcontextprotocol/protocolVersion"].as_str();
    version.is_some_and(|v| v >= MRTR_VERSION)
        && form_elicitation(&meta["io.modelcontextprotocol/clientCapabilities"]["elicitation"])
}

/// A declared `elicitation` capability that includes form mode (`{}` means form only).
fn form_elicitation(cap: &Value) -> bool {
    match cap.as_object() {
        Some(m) => m.is_empty() || m.contains_key("form"),
        None => false,
    }
}

impl Gateway {
    /// Attaches the transport's outputs and starts the timeout thread. Until this is called
    /// (`explain`, `policy test`), calls needing approval are refused as having no channel.
    pub fn attach(self: &Arc<Self>, outlet: Arc<dyn Outlet>) {
        if self.approvals.outlet.set(outlet).is_err() {
            return;
        }
        let me = self.clone();
        std::thread::Builder::new()
            .name("approvals".into())
            .spawn(move || me.timeouts())
            .expect("cannot start the approvals thread");
    }

    /// Attaches the out-of-band listener (the transport calls this once, before traffic).
    pub fn set_local_channel(&self, channel: Arc<dyn LocalChannel>) {
        let _ = self.approvals.local.set(channel);
    }

    /// Every call this gateway holds now, oldest first.
    pub fn held_calls(&self) -> Vec<HeldCall> {
        self.approvals
            .lock()
            .held
            .iter()
            .map(|h| h.view.clone())
            .collect()
    }

    /// A person's answer from this host.
    pub fn answer_local(&self, answer: LocalAnswer) -> Result<(), AnswerError> {
        let held = {
            let mut t = self.approvals.lock();
            let Some(i) = t.held.iter().position(|h| h.id == answer.id) else {
                return Err(AnswerError::Unknown(answer.id));
            };
            let h = &t.held[i];
            if h.approval.channel == Channel::Client {
                return Err(AnswerError::NotLocal(answer.id));
            }
            if answer.approve && answer.session && !h.approval.allow_session {
                return Err(AnswerError::SessionForbidden(answer.id));
            }
            t.held.remove(i)
        };
        let end = if answer.approve {
            End::Approve {
                session: answer.session,
            }
        } else {
            End::Deny(
                match answer.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    Some(r) => format!("{} denied it: {r}", answer.by),
                    None => format!("{} denied it", answer.by),
                },
            )
        };
        self.finish(held, end, "local", &answer.by);
        Ok(())
    }

    /// Notes what the client's `initialize` declared.
    pub(super) fn client_initialize(&self, raw: &[u8]) {
        let params = params_of(raw);
        let facts = ClientFacts {
            elicitation: form_elicitation(&params["capabilities"]["elicitation"])
                && params["protocolVersion"]
                    .as_str()
                    .is_none_or(|v| v < MRTR_VERSION),
            name: params["clientInfo"]["name"].as_str().map(str::to_owned),
        };
        self.approvals.lock().client = facts;
    }

    /// Whether a response from the client answers one of Sentinel's own requests (then it is
    /// taken here and never forwarded: the server never asked it).
    pub(super) fn client_answer(&self, msg: &Message, raw: &[u8]) -> bool {
        let Some(id) = &msg.id else { return false };
        // Keys are JSON text: Sentinel's ids are strings, so `"sentinel-...`.
        let key = id.key();
        let Some(plain) = key
            .strip_prefix('"')
            .and_then(|k| k.strip_suffix('"'))
            .filter(|k| k.starts_with(&self.approvals.id_prefix))
        else {
            return false;
        };
        let held = {
            let mut t = self.approvals.lock();
            let i = t
                .held
                .iter()
                .position(|h| h.elicitation.as_deref() == Some(plain));
            i.map(|i| t.held.remove(i))
        };
        let Some(mut held) = held else {
            // An answer to a request already resolved (timed out, answered on this host).
            return true;
        };
        held.elicitation = None; // answered: nothing to cancel
        let value = serde_json::from_slice::<Value>(raw).unwrap_or(Value::Null);
        let end = match value.get("result") {
            Some(result) => match elicit::read_result(result) {
                elicit::Reading::Approve { session } => End::Approve {
                    session: session && held.approval.allow_session,
                },
                elicit::Reading::Deny(why) => End::Deny(why),
            },
            None => End::Deny(format!(
                "the client answered the approval request with an error: {}",
                elicit::visible(value["error"]["message"].as_str().unwrap_or("(no message)"))
            )),
        };
        let by = self.client_name();
        self.finish(held, end, "client", &by);
        true
    }

    fn client_name(&self) -> String {
        match &self.approvals.lock().client.name {
            Some(n) => format!("the client ({})", elicit::visible(n)),
            None => "the client".to_owned(),
        }
    }

    /// A `notifications/cancelled` for a held call, or one resolved here: true when the
    /// server never saw the request (the cancellation is not passed on).
    pub(super) fn cancel_held(&self, key: &SmallStr) -> bool {
        let held = {
            let mut t = self.approvals.lock();
            if t.resolved_set.contains(key) {
                return true;
            }
            let i = t.held.iter().position(|h| h.key == *key);
            i.map(|i| t.held.remove(i))
        };
        match held {
            Some(h) => {
                self.finish(h, End::Cancelled, "client", "the client");
                true
            }
            None => false,
        }
    }

    /// The client is gone: every held call is dropped, never forwarded later.
    pub fn client_gone(&self) {
        let held = {
            let mut t = self.approvals.lock();
            t.closed = true;
            std::mem::take(&mut t.held)
        };
        for h in held {
            self.finish(h, End::Dropped, "client", "the client disconnected");
        }
        // The timeout thread ends with the session (an HTTP gateway must not outlive it).
        self.approvals.changed.notify_all();
    }

    /// Blocks until no call is held (demo mode at the end of its input: each held call is
    /// answered or times out).
    pub fn wait_settled(&self) {
        let mut t = self.approvals.lock();
        while !t.held.is_empty() {
            t = self
                .approvals
                .changed
                .wait(t)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A call the policy sends to `approve`: approved already, asked for, or refused for
    /// want of a channel.
    pub(super) fn hold(
        &self,
        client: &mut ClientSide,
        msg: &Message,
        raw: &[u8],
        hit: &Hit,
        reply: &mut Vec<u8>,
    ) -> Hold {
        let Some(id) = msg.id.clone() else {
            self.block(client, msg, raw, hit, reply);
            return Hold::Done;
        };
        let approval = hit.approval.unwrap_or_default();
        let tool = msg.tool_name().unwrap_or("").to_owned();
        let params = params_of(raw);
        let args = params.get("arguments").cloned().unwrap_or(Value::Null);
        let canonical_args = args.to_string();
        let canonical = format!("{tool}\0{canonical_args}");
        let (client_facts, closed, approved_before) = {
            let t = self.approvals.lock();
            (
                t.client.clone(),
                t.closed,
                t.session_ok.contains(&canonical),
            )
        };
        if approved_before {
            let note = ApprovalNote {
                channel: "session",
                by: Some("an earlier approval for this session"),
                answer: Some("approve_session"),
                waited_ms: Some(0),
                held_id: None,
            };
            self.record_note(msg, raw, hit, AuditAction::Approved, Some(note));
            return Hold::Proceed(None);
        }
        let attached = self.approvals.outlet.get().is_some() && !closed;
        let client_ok = approval.channel != Channel::Local;
        // 2. The 2026-07-28 retry: stateless, nothing is held here.
        if client_ok && mrtr_client(&params) {
            return self.mrtr(
                client,
                msg,
                raw,
                hit,
                &id,
                &tool,
                &canonical_args,
                &params,
                reply,
            );
        }
        let elicit = attached && client_ok && client_facts.elicitation;
        let local_open = attached
            && approval.channel != Channel::Client
            && self.approvals.local.get().is_some_and(|l| l.is_open());
        if !elicit && !local_open {
            let mut refused = hit.clone();
            refused.detail = format!(
                "{}; this needs a person's approval, and no approval channel is open: {}",
                hit.detail,
                match approval.channel {
                    Channel::Local =>
                        "its rule allows only this host's channel, and nobody \
                                       runs `sentinel approvals watch` here",
                    Channel::Client =>
                        "its rule allows only the client's prompt, and this \
                                        client did not declare elicitation",
                    Channel::Any =>
                        "the client did not declare elicitation, and nobody runs \
                                     `sentinel approvals watch` on this host",
                }
            );
            let open = match approval.channel {
                Channel::Client => "use a client that supports elicitation, then retry",
                _ => {
                    "run `sentinel approvals watch` in a terminal on this host (same user), then \
                     retry the call"
                }
            };
            refused.hint = format!("{open}; or {}", hit.hint);
            self.block(client, msg, raw, &refused, reply);
            return Hold::Done;
        }
        let policy = self.policy();
        let redactor = policy.redactor();
        let shown_args = redactor
            .redact_json(&canonical_args)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| args.clone());
        let now = Instant::now();
        let since = self.clock.now();
        // Numbered across the process: the sessions of `sentinel serve` share one listener.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let held_id = format!("{}-{n}", self.approvals.pid);
        let rule = self.clean(&hit.rule).into_owned();
        let detail = self.clean(&hit.detail).into_owned();
        let view = HeldCall {
            id: held_id.clone(),
            pid: self.approvals.pid,
            server: self.server_name.clone(),
            tool: self.clean(&tool).into_owned(),
            rule: rule.clone(),
            reason: hit.reason.clone(),
            detail: detail.clone(),
            arguments: shown_args.clone(),
            since: clock::rfc3339(since),
            deadline: clock::rfc3339(since + approval.timeout),
            session_allowed: approval.allow_session,
            local: approval.channel != Channel::Client,
        };
        let elicitation = elicit.then(|| {
            let mut t = self.approvals.lock();
            t.next_elicitation += 1;
            format!("{}{}", self.approvals.id_prefix, t.next_elicitation)
        });
        let seq = client.next_seq;
        client.next_seq += 1;
        let held = Held {
            id: held_id.clone(),
            elicitation: elicitation.clone(),
            key: SmallStr::new(&id.key()),
            request_id: id,
            seq,
            raw: raw.to_vec(),
            canonical,
            hit: hit.clone(),
            approval,
            channel: if elicit { "client" } else { "local" },
            started: now,
            deadline: now + approval.timeout,
            progress: params["_meta"].get("progressToken").cloned(),
            next_progress: now + progress_every(approval.timeout),
            view: view.clone(),
        };
        let channel = held.channel;
        self.approvals.lock().held.push(held);
        self.approvals.changed.notify_all();
        let note = ApprovalNote {
            channel,
            by: None,
            answer: None,
            waited_ms: None,
            held_id: Some(&held_id),
        };
        self.record_note(msg, raw, hit, AuditAction::Held, Some(note));
        self.term.alert(|| {
            (
                format!("{} rule={rule} HELD for approval", self.headline(msg)),
                vec![
                    format!("{}: {detail}", hit.reason),
                    match channel {
                        "client" => format!(
                            "asked the client to approve (id {held_id}); denied in {} s \
                             without an answer",
                            approval.timeout.as_secs()
                        ),
                        _ => format!(
                            "answer with `sentinel approvals approve {held_id}` or `deny \
                             {held_id}`; denied in {} s without an answer",
                            approval.timeout.as_secs()
                        ),
                    },
                ],
            )
        });
        if let Some(eid) = &elicitation {
            let req = elicit::Request {
                server: &self.server_name,
                tool: &view.tool,
                rule: &rule,
                reason: &hit.reason,
                detail: &detail,
                arguments: Some(&shown_args),
                timeout_s: approval.timeout.as_secs(),
                allow_session: approval.allow_session,
            };
            let line = json!({
                "jsonrpc": "2.0",
                "id": eid,
                "method": "elicitation/create",
                "params": elicit::params(&req),
            });
            let mut bytes = line.to_string().into_bytes();
            bytes.push(b'\n');
            if client.in_batch {
                if let Some(o) = self.approvals.outlet.get() {
                    o.to_client(&bytes);
                }
            } else {
                reply.extend_from_slice(&bytes);
            }
        }
        if view.local {
            if let Some(l) = self.approvals.local.get() {
                l.announce(&Announcement::Held(view));
            }
        }
        Hold::Done
    }

    /// Ends a held call (already taken off the table): forwards it or answers it, audits it,
    /// tells the watchers, and cancels Sentinel's open elicitation for it.
    fn finish(&self, held: Held, end: End, channel: &str, by: &str) {
        let outlet = self.approvals.outlet.get();
        let waited = held.started.elapsed().as_millis() as u64;
        {
            let mut t = self.approvals.lock();
            t.remember_resolved(held.key.clone());
            if let End::Approve { session: true } = end {
                t.session_ok.insert(held.canonical.clone());
            }
        }
        self.approvals.changed.notify_all();
        if let (Some(eid), Some(o)) = (&held.elicitation, outlet) {
            if !matches!(end, End::Dropped) {
                let cancel = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": eid, "reason": format!("approval {}", end.outcome())},
                });
                o.to_client(format!("{cancel}\n").as_bytes());
            }
        }
        if held.view.local {
            if let Some(l) = self.approvals.local.get() {
                l.announce(&Announcement::Resolved {
                    id: held.id.clone(),
                    outcome: end.outcome().to_owned(),
                });
            }
        }
        let Ok(Some(Parsed::Single(msg))) = jsonrpc::parse_line(&held.raw) else {
            return; // judged once already: cannot happen
        };
        let note = ApprovalNote {
            channel,
            by: Some(by),
            answer: Some(end.answer()),
            waited_ms: Some(waited),
            held_id: Some(&held.id),
        };
        let reason = match &end {
            End::Approve { .. } => None,
            End::Deny(why) => Some(why.clone()),
            End::Timeout => Some(format!(
                "nobody answered within {} s",
                held.approval.timeout.as_secs()
            )),
            End::Cancelled => Some("the client cancelled the request".into()),
            End::Dropped => Some("the client disconnected".into()),
        };
        let Some(why) = reason else {
            self.record_note(
                &msg,
                &held.raw,
                &held.hit,
                AuditAction::Approved,
                Some(note),
            );
            self.term.notice(&format!(
                "{} approved by {by} after {} ms (held {})",
                self.headline(&msg),
                waited,
                held.id
            ));
            self.release(&msg, &held, outlet);
            return;
        };
        let mut denied = held.hit.clone();
        denied.detail = format!("{}; {why}", held.hit.detail);
        self.record_note(&msg, &held.raw, &denied, AuditAction::Denied, Some(note));
        self.term.notice(&format!(
            "{} {} (held {}): {why}",
            self.headline(&msg),
            end.outcome(),
            held.id
        ));
        if matches!(end, End::Deny(_) | End::Timeout) {
            if let Some(o) = outlet {
                let mut out = Vec::new();
                let detail = self.clean(&denied.detail).into_owned();
                let outcome = if matches!(end, End::Timeout) {
                    "timed out"
                } else {
                    "denied"
                };
                self.write_refusal(
                    &msg,
                    &held.request_id,
                    &denied,
                    &detail,
                    Some(outcome),
                    &mut out,
                );
                o.to_client(&out);
            }
        }
    }

    /// Sends an approved call on: the circuit breaker counts it now (it may still refuse),
    /// it waits for the server's answer like any request, and its bytes go as they came.
    fn release(&self, msg: &Message, held: &Held, outlet: Option<&Arc<dyn Outlet>>) {
        let Some(outlet) = outlet else { return };
        if self.approvals.lock().closed {
            return;
        }
        let policy = self.policy();
        if let Some(hit) = self.breaker_admit(&policy, msg) {
            if hit.enforced {
                let detail = self.record(msg, &held.raw, &hit, AuditAction::Blocked);
                let mut out = Vec::new();
                self.write_refusal(msg, &held.request_id, &hit, &detail, None, &mut out);
                outlet.to_client(&out);
                return;
            }
            self.record(msg, &held.raw, &hit, AuditAction::Monitored);
        }
        if self.track_pending {
            let key = held.key.clone();
            let raw =
                (*key.as_str() != *held.request_id.as_json()).then(|| held.request_id.clone());
            let tool = policy
                .breaker
                .mode
                .is_some()
                .then(|| msg.tool_name().unwrap_or("").into());
            self.session().pending.insert(
                key,
                Pending {
                    seq: held.seq,
                    raw,
                    tool,
                },
            );
        }
        let mut line = held.raw.clone();
        line.push(b'\n');
        outlet.to_server(&line);
    }

    /// The timeout thread: denies held calls past their deadline and keeps clients that sent
    /// a progress token informed while they wait.
    fn timeouts(&self) {
        let mut t = self.approvals.lock();
        loop {
            if t.closed && t.held.is_empty() {
                return;
            }
            let now = Instant::now();
            let mut expired = Vec::new();
            let mut i = 0;
            while i < t.held.len() {
                if t.held[i].deadline <= now {
                    expired.push(t.held.remove(i));
                } else {
                    i += 1;
                }
            }
            let mut progress = Vec::new();
            for h in t.held.iter_mut().filter(|h| h.progress.is_some()) {
                if h.next_progress <= now {
                    h.next_progress = now + progress_every(h.approval.timeout);
                    let waited = h.started.elapsed().as_secs();
                    progress.push(json!({
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {
                            "progressToken": h.progress,
                            "progress": waited,
                            "message": format!(
                                "waiting for a person's approval ({waited} s of {} s)",
                                h.approval.timeout.as_secs()
                            ),
                        },
                    }));
                }
            }
            if !expired.is_empty() || !progress.is_empty() {
                drop(t);
                for h in expired {
                    self.finish(h, End::Timeout, "none", "timeout");
                }
                if let Some(o) = self.approvals.outlet.get() {
                    for p in progress {
                        o.to_client(format!("{p}\n").as_bytes());
                    }
                }
                t = self.approvals.lock();
                continue;
            }
            let next = t
                .held
                .iter()
                .map(|h| {
                    if h.progress.is_some() {
                        h.deadline.min(h.next_progress)
                    } else {
                        h.deadline
                    }
                })
                .min();
            t = match next {
                None => self
                    .approvals
                    .changed
                    .wait(t)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(at) => {
                    self.approvals
                        .changed
                        .wait_timeout(t, at.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}
