//! What the breaker remembers: one session's token buckets, recent call fingerprints, call
//! counts, spend and per-tool breakers ([`SessionState`], serialisable: every time in it is
//! Unix milliseconds from the gateway's clock, so it means the same on every host), the
//! [`Store`] seam that state lives behind (this process's memory, [`MemoryStore`], or a store
//! shared by gateway processes, `redis::RedisStore`), and the [`StoreError`] a shared store can
//! fail with.

use crate::base::redis::Outage;
use crate::base::small_str::IdHashing;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The breaker's tables, hashed with the fast keyed hash the gateway's id tables use: every
/// call looks up several of them (SipHash made the lookups most of the breaker's cost). Their
/// keys are the client's tool names and call fingerprints, so crafted collisions could only
/// slow down the client's own session.
type Map<K, V> = HashMap<K, V, IdHashing>;

/// Where one tool's breaker is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Closed,
    /// Refusing calls until this time (ms since the epoch).
    Open {
        until_ms: u64,
    },
    /// One probe call is allowed; its answer closes or reopens the breaker.
    HalfOpen {
        /// The probe's request id (its key), once one was let through.
        probe: Option<String>,
    },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half-open",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ToolBreaker {
    pub(super) state: State,
    pub(super) consecutive_errors: u32,
    /// Openings since the breaker was last closed (for the doubling cooldown).
    pub(super) trips: u32,
    /// Why it opened last, for refusals.
    pub(super) cause: String,
    /// When the current probe was let through (a probe never answered is replaced after a
    /// cooldown, so a hung call cannot keep the circuit half-open for good).
    pub(super) probe_at: u64,
}

impl Default for ToolBreaker {
    fn default() -> Self {
        ToolBreaker {
            state: State::Closed,
            consecutive_errors: 0,
            trips: 0,
            cause: String::new(),
            probe_at: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) at_ms: u64,
}

/// Everything the breaker remembers about one session.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct SessionState {
    pub(super) buckets: Map<String, Bucket>,
    /// (fingerprint, when) of forwarded calls, oldest first.
    pub(super) recent: VecDeque<(u64, u64)>,
    /// How many times each fingerprint is in `recent` (so a check is O(1), not a scan).
    pub(super) recent_counts: Map<u64, u32>,
    pub(super) calls: u64,
    pub(super) tool_calls: Map<String, u64>,
    pub(super) spent: f64,
    pub(super) breakers: Map<String, ToolBreaker>,
}

impl SessionState {
    /// The state of `tool`'s breaker.
    #[cfg(test)]
    pub fn state(&self, tool: &str) -> State {
        self.breakers
            .get(tool)
            .map_or(State::Closed, |b| b.state.clone())
    }
}

/// Why a store could not load, change or save a session's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// The store, as messages name it (`redis://HOST:PORT/DB`, without credentials).
    pub store: String,
    pub kind: StoreErrorKind,
    /// What went wrong, in the words of the layer that saw it.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The store could not be reached, or stopped answering in time.
    Unreachable,
    /// The store answered with an error (authentication, wrong type, out of memory, ...).
    Refused,
    /// Other writers changed the session every time it was about to be saved.
    Contended,
    /// What the store holds under the key is not a session state this Sentinel can read.
    Unreadable,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            StoreErrorKind::Unreachable => "is unreachable",
            StoreErrorKind::Refused => "refused the change",
            StoreErrorKind::Contended => "could not apply the change",
            StoreErrorKind::Unreadable => "holds a state Sentinel cannot read",
        };
        write!(
            f,
            "the shared state store ({}) {what}: {}",
            self.store, self.detail
        )
    }
}

/// Where session state lives. The gateway holds one: [`MemoryStore`] by default (the gateway
/// process is the session), or a store shared by many gateway processes serving one tenant.
/// Each call loads the session, lets `f` change it and saves it atomically; a shared store may
/// call `f` more than once (on a fresh copy each time) when another writer got in between, so
/// `f` must start over each time rather than accumulate.
pub trait Store: Send + Sync {
    fn with_session(
        &self,
        session: &str,
        f: &mut dyn FnMut(&mut SessionState),
    ) -> Result<(), StoreError>;

    /// The store's outage flag, for stores that can fail (the memory store cannot).
    fn outage(&self) -> Option<&Outage> {
        None
    }
}

/// Session state in this process's memory.
#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<Map<String, SessionState>>,
}

impl Store for MemoryStore {
    fn with_session(
        &self,
        session: &str,
        f: &mut dyn FnMut(&mut SessionState),
    ) -> Result<(), StoreError> {
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = all.get_mut(session) {
            f(state);
        } else {
            f(all.entry(session.to_owned()).or_default());
        }
        Ok(())
    }
}
