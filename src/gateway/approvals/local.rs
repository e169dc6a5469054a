//! The gateway's side of the out-of-band channel on this host: what a held call looks like
//! to a person at `sentinel approvals list|watch` ([`HeldCall`]), the answers that come back
//! ([`LocalAnswer`]), and the seam the transport's socket listener implements
//! ([`LocalChannel`]) so the gateway can ask whether anyone is watching and tell them about
//! calls being held and resolved. The socket, its directory and the wire format belong to
//! `transport::local`; this module knows nothing about them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One held call as a person sees it (`sentinel approvals list --json` prints these). The
/// clients of the socket read it back with every field but `id` optional, so a Sentinel of
/// another version is still understood.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeldCall {
    /// Unique among this user's running Sentinels: `<pid>-<n>`.
    pub id: String,
    /// The Sentinel process that holds it.
    pub pid: u32,
    /// The server's name (`--server-name`, else its command line).
    pub server: String,
    pub tool: String,
    pub rule: String,
    pub reason: String,
    /// Why the rule matched (the guard's explanation).
    pub detail: String,
    /// The call's arguments exactly as sent (secrets redacted).
    pub arguments: serde_json::Value,
    /// When it was held (RFC 3339).
    pub since: String,
    /// When it is denied if nobody answers (RFC 3339).
    pub deadline: String,
    /// Whether `approve --session` is allowed by the rule.
    pub session_allowed: bool,
    /// Whether a person on this host may answer it (false when the rule insists on the
    /// client's channel, or the call waits on a channel that is not local).
    #[serde(default = "yes")]
    pub local: bool,
}

fn yes() -> bool {
    true
}

/// What the gateway tells the watchers.
#[derive(Clone, Debug)]
pub enum Announcement {
    /// A call is now held.
    Held(HeldCall),
    /// A held call is no longer held: `outcome` is `approved`, `denied`, `timed out`,
    /// `cancelled` or `dropped`.
    Resolved { id: String, outcome: String },
}

/// A person's answer from this host.
#[derive(Clone, Debug)]
pub struct LocalAnswer {
    pub id: String,
    pub approve: bool,
    /// Approve this exact call (tool + canonical arguments) for the rest of the session.
    pub session: bool,
    /// For a denial: told to the agent.
    pub reason: Option<String>,
    /// Who answered, for the audit log (`user NAME (uid N, pid P)`).
    pub by: String,
}

/// Why a local answer was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// No call with this id is held (never was, or already answered, timed out, cancelled).
    Unknown(String),
    /// The rule forbids approving for the session.
    SessionForbidden(String),
    /// The rule allows only the client's channel for this call.
    NotLocal(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Unknown(id) => write!(
                f,
                "no held call {id}: it was answered, timed out or cancelled already \
                 (see `sentinel approvals list`)"
            ),
            AnswerError::SessionForbidden(id) => write!(
                f,
                "call {id}: its rule forbids approving for the session; approve it once \
                 (without --session)"
            ),
            AnswerError::NotLocal(id) => write!(
                f,
                "call {id}: its rule allows only the client's own approval prompt, not this \
                 host's"
            ),
        }
    }
}

/// The transport's out-of-band listener, as the gateway sees it.
pub trait LocalChannel: Send + Sync {
    /// Whether a person can answer on this host now: at least one `sentinel approvals watch`
    /// of this user is running.
    fn is_open(&self) -> bool;
    /// Tells every watcher (never blocks on a slow one).
    fn announce(&self, event: &Announcement);
}
