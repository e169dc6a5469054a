//! What pinning tells its callers: the [`Page`] a listing is, the [`Report`] of
//! [`Pins::check`](super::Pins::check) (each tool's [`Status`], with the [`Change`] field by
//! field), and what `accept`, `list` and `diff` return.

pub use super::diff::FieldChange;
use serde_json::Value;

/// Which part of a `tools/list` answer a listing is (results can come in pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// The request carried a `cursor`: this continues an earlier page.
    pub continued: bool,
    /// The result carries a `nextCursor`: more pages follow.
    pub more: bool,
}

impl Page {
    /// A listing in one piece: the only kind that can tell a tool was removed.
    pub const WHOLE: Page = Page {
        continued: false,
        more: false,
    };

    pub(super) fn whole(self) -> bool {
        !self.continued && !self.more
    }
}

/// What [`Pins::check`] found in one listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub server: String,
    pub id: String,
    /// Tools were pinned by this listing (the server's first, or a later page of it).
    pub first_seen: bool,
    /// One entry per distinct name, in the order of the listing.
    pub tools: Vec<ToolReport>,
    /// Pinned tools a whole listing no longer has (only reported).
    pub removed: Vec<String>,
    /// Positions of entries that are not objects with a string `name`.
    pub malformed: Vec<usize>,
    /// The launch command differs from the pinned one.
    pub command: Option<CommandChange>,
}

impl ToolReport {
    /// Whether the tool is listed as it was pinned (anything else is not to be trusted:
    /// changed, added, listed twice, not recorded).
    pub fn trusted(&self) -> bool {
        self.status == Status::Pinned
    }
}

impl Report {
    /// The names of listed tools that are not [`ToolReport::trusted`], in listing order.
    pub fn untrusted(&self) -> Vec<&str> {
        self.tools
            .iter()
            .filter(|t| !t.trusted())
            .map(|t| t.name.as_str())
            .collect()
    }

    /// Whether everything listed matches its pin (nothing to report).
    pub fn clean(&self) -> bool {
        self.tools.iter().all(ToolReport::trusted)
            && self.removed.is_empty()
            && self.malformed.is_empty()
            && self.command.is_none()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolReport {
    pub name: String,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Matches its pin (or was pinned just now).
    Pinned,
    /// Differs from its pin; recorded as pending.
    Changed(Change),
    /// Not in the pins; recorded as pending, not pinned.
    Added,
    /// Listed `count` times with these distinct hashes: not judged, nothing recorded.
    Duplicate { count: usize, hashes: Vec<String> },
    /// Not recorded: the server already has [`MAX_TOOLS`] tools.
    Untracked,
}

/// How a tool's definition changed from its pin.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub fields: Vec<FieldChange>,
    /// Changes beyond the [`diff::MAX_FIELDS`] listed.
    pub more: usize,
    /// One side was stored by hash only: the fields cannot be told.
    pub unstored: bool,
    /// Named [`ESCALATION`]: it was read-only (or not destructive) and is destructive now.
    pub escalation: bool,
    pub old_hash: String,
    pub new_hash: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommandChange {
    pub pinned: String,
    pub now: String,
}

/// What [`Pins::accept`] pinned.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub server: String,
    pub id: String,
    pub tools: Vec<String>,
    /// Removed tools forgotten.
    pub forgotten: Vec<String>,
    /// The new launch command, when it was accepted.
    pub command: Option<String>,
}

/// One server as [`Pins::list`] shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerPins {
    pub server: String,
    pub id: String,
    pub command: String,
    pub pinned_at: String,
    pub pending_command: Option<String>,
    pub tools: Vec<ToolPinsSummary>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolPinsSummary {
    pub name: String,
    pub state: State,
    /// When it was pinned (`None` for a tool only added).
    pub pinned_at: Option<String>,
    pub hash: Option<String>,
}

/// A stored tool's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pinned,
    Changed { escalation: bool },
    Added,
    Removed,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pinned => "pinned",
            State::Changed { .. } => "changed",
            State::Added => "added",
            State::Removed => "removed",
        }
    }
}

/// A server's pending changes as [`Pins::diff`] shows them.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerDiff {
    pub server: String,
    pub id: String,
    pub command: Option<CommandChange>,
    pub tools: Vec<ToolDiff>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolDiff {
    pub name: String,
    pub kind: DiffKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiffKind {
    Changed(Change),
    /// A tool not pinned: its whole definition (`None`: stored by hash only).
    Added(Option<Value>),
    Removed {
        since: String,
    },
}
