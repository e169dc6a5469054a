//! The SQL guard as a rule kind: which arguments carry SQL (decided by `sql_args`), which of
//! the guard's checks are on, what to do with SQL that cannot be verified or is not proven
//! harmless, and the ids and titles its findings carry.

use super::sql_args::{self, ArgKind, ToolDef};
use super::walk::{find_string, pointer};
use super::Action;
use crate::base::jsonrpc::Json;
use crate::guards::sql::{Carrier, Check, Convention, Finding, SqlGuard};

/// The SQL guard as a rule: which arguments carry SQL (see [`super::sql_args`]), which checks
/// are on, and what to do with SQL that cannot be verified or is not proven harmless.
#[derive(Clone, Debug)]
pub struct SqlRule {
    pub guard: SqlGuard,
    /// Argument names that carry SQL by the policy's word; `None` leaves it to the evidence.
    pub keys: Option<Vec<String>>,
    /// Argument names that never carry SQL.
    pub prose: Vec<String>,
    pub checks: Vec<Check>,
    /// `Block`, `Monitor` or `Allow` for SQL that cannot be verified.
    pub unparseable: Action,
    /// `Block`, `Monitor`, `Approve` or `Allow` for statements not proven harmless.
    pub unrecognised: Action,
    /// The action for destructive statements, when it differs from the rule's.
    pub destructive: Option<Action>,
}

/// What the SQL rule knows of the call beyond its arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqlContext<'a> {
    pub tool: &'a str,
    /// The tool's definition, when the server listed it.
    pub def: Option<&'a ToolDef>,
    /// The database the server fronts, when the gateway inferred it.
    pub target: Option<Convention>,
}

impl SqlRule {
    /// The action a finding of `check` takes under this rule (whose own action is `action`).
    pub fn action_for(&self, check: Check, action: Action) -> Action {
        match check {
            Check::Unparseable => self.unparseable,
            Check::Unrecognised => self.unrecognised,
            Check::Destructive => self.destructive.unwrap_or(action),
            _ => action,
        }
    }

    fn enabled(&self, check: Check) -> bool {
        match check {
            Check::Unparseable => self.unparseable != Action::Allow,
            Check::Unrecognised => self.unrecognised != Action::Allow,
            c => self.checks.contains(&c),
        }
    }

    /// The first enabled finding in the arguments, with the JSON Pointer of its string.
    pub(super) fn finding(&self, args: &Json, cx: &SqlContext) -> Option<(Finding, String)> {
        let mut path = Vec::new();
        let mut found = None;
        let kind_of =
            |key: &str| sql_args::classify(self.keys.as_deref(), &self.prose, cx.tool, cx.def, key);
        // A string not under any key (an argument array) is judged as "maybe SQL".
        find_string(
            args,
            ArgKind::Maybe,
            &mut path,
            &mut |s, kind| {
                let carrier = match kind {
                    ArgKind::Prose => return false,
                    ArgKind::Sql => Carrier::Sql,
                    ArgKind::Maybe => Carrier::Maybe,
                };
                found = self
                    .guard
                    .inspect(s, carrier, cx.target)
                    .into_iter()
                    .find(|f| self.enabled(f.check));
                found.is_some()
            },
            &kind_of,
            false,
        );
        found.map(|f| (f, pointer(&path)))
    }
}

/// The stable category of a SQL check, used as the audit `reason`.
pub fn check_title(check: Check) -> &'static str {
    match check {
        Check::UnboundedRead => "Data Exfiltration Prevention",
        Check::Export => "Data Export Prevention",
        Check::Destructive => "Destructive Statement Prevention",
        Check::Unrecognised => "Unrecognised SQL",
        Check::Unparseable => "Unverifiable SQL",
    }
}

/// The suffix a SQL check adds to its rule's id.
pub fn check_id(check: Check) -> &'static str {
    match check {
        Check::UnboundedRead => "unbounded_read",
        Check::Export => "export",
        Check::Destructive => "destructive",
        Check::Unrecognised => "unrecognised",
        Check::Unparseable => "unparseable",
    }
}
