//! What the policy asks of the server side: scanning what a server lists (tools, prompts,
//! resources) for text aimed at the model, pinning tool definitions, hiding the tools the
//! policy refuses outright, and capping responses (bytes, and rows for SQL tools). The
//! gateway applies it to the server's answers; this module only says what is asked, and
//! which tools a policy refuses whatever their arguments.

use super::{Action, Policy};
use crate::base::glob::{self, Glob};
use crate::guards::Mode;

/// What description findings do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptionAction {
    /// Not scanned.
    Off,
    /// Reported (audit and stderr); the list reaches the client unchanged.
    Monitor,
    /// The item is removed from the list; calls to it are refused.
    Remove,
    /// The offending text is cut out of the item, which stays listed.
    Sanitise,
}

/// What a response over its cap becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapAction {
    /// Reported; the response reaches the client unchanged.
    Monitor,
    /// Replaced by an error result saying why.
    Block,
    /// Cut to the cap, with a note saying so.
    Truncate,
}

/// One response cap: for the tools it names, the largest response and (for tools that take
/// SQL) the most rows a result may carry.
#[derive(Clone, Debug)]
pub struct ResponseCap {
    /// Where it was written (`server.responses[N]`), for audit entries.
    pub id: String,
    /// Globs on the tool name; empty = every tool.
    pub tools: Vec<Glob>,
    /// Largest response line, in bytes.
    pub max_bytes: Option<usize>,
    /// Most rows in the result of a tool that takes SQL.
    pub max_rows: Option<u64>,
    pub action: CapAction,
}

/// The `server:` section of a profile, compiled.
#[derive(Clone, Debug)]
pub struct ServerPolicy {
    pub descriptions: DescriptionAction,
    /// Longest text (characters) a listed item's field may hold before it is a finding.
    pub max_text: usize,
    /// Pinning: `None` off, else whether a changed tool is hidden (enforce) or reported.
    pub pins: Option<Mode>,
    /// Tools the policy refuses outright are removed from `tools/list`.
    pub hide_refused_tools: bool,
    pub responses: Vec<ResponseCap>,
}

/// The default longest text of a listed item's field.
pub const DEFAULT_MAX_TEXT: usize = 8192;

impl Default for ServerPolicy {
    /// The built-in default: everything reported, nothing changed; refused tools hidden.
    fn default() -> Self {
        ServerPolicy {
            descriptions: DescriptionAction::Monitor,
            max_text: DEFAULT_MAX_TEXT,
            pins: Some(Mode::Monitor),
            hide_refused_tools: true,
            responses: Vec::new(),
        }
    }
}

impl ServerPolicy {
    /// The built-in default with a row cap on SQL tools' results (reported, not enforced).
    pub fn builtin(max_rows: u64) -> ServerPolicy {
        ServerPolicy {
            responses: vec![ResponseCap {
                id: "server.responses[0]".into(),
                tools: Vec::new(),
                max_bytes: None,
                max_rows: Some(max_rows),
                action: CapAction::Monitor,
            }],
            ..ServerPolicy::default()
        }
    }

    /// The first cap that names `tool`.
    pub fn cap_for(&self, tool: &str) -> Option<&ResponseCap> {
        self.responses
            .iter()
            .find(|c| c.tools.is_empty() || glob::any(&c.tools, tool))
    }

    /// Monitor mode (the profile's `mode: monitor`) turns every enforcement into a report.
    pub fn in_monitor_mode(mut self) -> ServerPolicy {
        if matches!(
            self.descriptions,
            DescriptionAction::Remove | DescriptionAction::Sanitise
        ) {
            self.descriptions = DescriptionAction::Monitor;
        }
        if self.pins.is_some() {
            self.pins = Some(Mode::Monitor);
        }
        self.hide_refused_tools = false;
        for c in &mut self.responses {
            c.action = CapAction::Monitor;
        }
        self
    }
}

impl Policy {
    /// The rule that refuses every call to `tool` on `server`, whatever its arguments: an
    /// enforced `block` rule that names the tool (or every tool) with no condition on the
    /// arguments, or `default_action: block` with no rule that could allow it first.
    /// `None` when some call to the tool could pass.
    pub fn refuses_outright(&self, server: &str, tool: &str) -> Option<&str> {
        for rule in &self.rules {
            let applies = (rule.servers.is_empty() || glob::any(&rule.servers, server))
                && (rule.tools.is_empty() || glob::any(&rule.tools, tool))
                && !glob::any(&rule.except_tools, tool);
            if !applies {
                continue;
            }
            let unconditional = rule.conditions.is_empty()
                && rule.max_argument_bytes.is_none()
                && rule.sql.is_none()
                && rule.egress.is_none();
            match rule.action {
                // A monitor rule only records; an approve rule may let it through.
                Action::Monitor | Action::Approve => {}
                // A conditional allow may let some call through: not refused outright.
                Action::Allow => return None,
                Action::Block if unconditional && rule.mode == Mode::Enforce => {
                    return Some(&rule.id)
                }
                Action::Block => {}
            }
        }
        (self.default_action == Action::Block && self.default_mode == Mode::Enforce)
            .then_some("default_action")
    }
}
