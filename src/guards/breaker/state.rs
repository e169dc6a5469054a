//! What the breaker remembers: one session's token buckets, recent call fingerprints, call
//! counts, spend and per-tool breakers ([`SessionState`]), and the [`Store`] seam that state
//! lives behind (in this process's memory today; a store shared by gateway processes later).

use crate::base::small_str::IdHashing;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The breaker's tables, hashed with the fast keyed hash the gateway's id tables use: every
/// call looks up several of them (SipHash made the lookups most of the breaker's cost). Their
/// keys are the client's tool names and call fingerprints, so crafted collisions could only
/// slow down the client's own session.
type Map<K, V> = HashMap<K, V, IdHashing>;

/// Where one tool's breaker is.
#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug)]
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

#[derive(Clone, Copy, Debug)]
pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) at_ms: u64,
}

/// Everything the breaker remembers about one session.
#[derive(Default, Debug)]
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

/// Where session state lives. The gateway holds one; today it is [`MemoryStore`] (the
/// gateway process is the session). A store shared by many gateway processes serving one
/// tenant implements the same call: load the session, let `f` change it, save it atomically.
pub trait Store: Send + Sync {
    fn with_session(&self, session: &str, f: &mut dyn FnMut(&mut SessionState));
}

/// Session state in this process's memory.
#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<Map<String, SessionState>>,
}

impl Store for MemoryStore {
    fn with_session(&self, session: &str, f: &mut dyn FnMut(&mut SessionState)) {
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = all.get_mut(session) {
            f(state);
        } else {
            f(all.entry(session.to_owned()).or_default());
        }
    }
}
