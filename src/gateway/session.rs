//! One session's bookkeeping, which guarantees every request exactly one response: the
//! requests forwarded to the server and not yet answered (shared by the session's two sides),
//! each side's own state (the client side's staged requests and the ids the gateway answered
//! itself; the server side's answers not yet taken off the list), and what the gateway owes
//! the client when the server is gone.

use super::Gateway;
use crate::base::clock;
use crate::base::jsonrpc::{self, RawId};
use crate::base::small_str::{IdHashing, IdMap, SmallStr};
use crate::guards::breaker;
use std::collections::{HashSet, VecDeque};

/// How many ids of requests the gateway answered itself are remembered, so that a later
/// `notifications/cancelled` for one of them is not sent to a server that never saw it.
const ANSWERED_MEMORY: usize = 4096;

/// A request forwarded to the server and not yet answered.
pub(super) struct Pending {
    /// Its place in the order requests were sent.
    pub(super) seq: u64,
    /// The id as the client wrote it, when that differs from its key (a string with escapes).
    pub(super) raw: Option<RawId>,
    /// The tool of a `tools/call`, kept only while the circuit breaker is on (it counts the
    /// tool's failures).
    pub(super) tool: Option<Box<str>>,
}

/// What one session's two sides share: the requests forwarded to the server and not yet
/// answered, by id key. The client side adds to it, the server side takes from it, each in
/// batches (see [`ClientSide`] and [`ServerSide`]): locking it for every message made its
/// cache line travel between the two pumps' CPUs twice per message.
#[derive(Default)]
pub(super) struct Session {
    pub(super) pending: IdMap<Pending>,
}

/// The client side of one session, owned by the one thread that reads the client's lines in
/// order: the ids the gateway answered itself, and the requests forwarded since the last
/// [`Gateway::publish`]. Requests are recorded as waiting for the server only when they are
/// published, so a transport publishes before the bytes it forwards can reach the server.
#[derive(Default)]
pub struct ClientSide {
    pub(super) staged: Vec<(SmallStr, Pending)>,
    pub(super) next_seq: u64,
    /// Ids the gateway answered itself, oldest first.
    answered: VecDeque<SmallStr>,
    pub(super) answered_set: HashSet<SmallStr, IdHashing>,
    /// Judging the elements of a batch (whose answers go in one array).
    pub(super) in_batch: bool,
}

/// The server side of one session, owned by the thread that reads the server's output: the
/// answers seen since the last [`Gateway::publish_answers`].
#[derive(Default)]
pub struct ServerSide {
    answered: Vec<(SmallStr, bool)>,
}

impl Gateway {
    /// A new session's client side (one per session; see [`ClientSide`]).
    pub fn client_side(&self) -> ClientSide {
        ClientSide::default()
    }

    /// A new session's server side (one per session; see [`ServerSide`]).
    pub fn server_side(&self) -> ServerSide {
        ServerSide::default()
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
        let done: Vec<(Box<str>, String, bool)> = done
            .into_iter()
            .map(|(tool, key, failed)| (tool, self.probe_key(key.as_str()), failed))
            .collect();
        let saved = self.store.with_session(&self.store_key, &mut |st| {
            changes.clear();
            for (tool, key, failed) in &done {
                breaker::observe(&policy.breaker, st, tool, key, *failed, now, &mut changes);
            }
        });
        // An answer the store could not record is lost to the breaker (its error count, a
        // probe's result); the outage is reported, and calls meet `--state-fail`.
        match saved {
            Ok(()) => {
                self.store_answered();
                self.transitions(&changes);
            }
            Err(e) => self.store_failed(&e),
        }
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

/// Remembers that the gateway answered the request `id` itself (the last
/// [`ANSWERED_MEMORY`] of them), so that a cancellation of it is not passed on.
pub(super) fn remember_answered(client: &mut ClientSide, id: &RawId) {
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
