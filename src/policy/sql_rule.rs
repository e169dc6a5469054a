//! The SQL guard as a rule kind: which argument keys name SQL, which of the guard's checks are
//! on, what to do with SQL that cannot be parsed, and the ids and titles its findings carry.

use super::walk::{find_string, pointer};
use super::Action;
use crate::base::jsonrpc::Json;
use crate::guards::sql::{Check, Finding, SqlGuard};

/// Argument keys whose strings are SQL by name in the built-in policy: an unparseable
/// statement under one of them is refused instead of being treated as prose.
pub const SQL_KEYS: &[&str] = &["sql", "query", "statement", "stmt"];

/// The SQL guard as a rule: which keys name SQL, which checks are on, and what to do with SQL
/// that cannot be parsed.
#[derive(Clone, Debug)]
pub struct SqlRule {
    pub guard: SqlGuard,
    pub keys: Vec<String>,
    pub checks: Vec<Check>,
    /// `Block`, `Monitor` or `Allow` for unparseable SQL under a SQL-named key.
    pub unparseable: Action,
}

impl SqlRule {
    /// The first enabled finding in the arguments, with the JSON Pointer of its string.
    pub(super) fn finding(&self, args: &Json) -> Option<(Finding, String)> {
        let mut path = Vec::new();
        let mut found = None;
        find_string(
            args,
            false,
            &mut path,
            &mut |s, under_sql_key| {
                let Some(f) = self.guard.inspect(s, under_sql_key) else {
                    return false;
                };
                let on = if f.check == Check::Unparseable {
                    self.unparseable != Action::Allow
                } else {
                    self.checks.contains(&f.check)
                };
                if on {
                    found = Some(f);
                }
                on
            },
            &|key| self.keys.iter().any(|k| key.eq_ignore_ascii_case(k)),
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
        Check::Unparseable => "Unverifiable SQL",
    }
}

/// The suffix a SQL check adds to its rule's id.
pub fn check_id(check: Check) -> &'static str {
    match check {
        Check::UnboundedRead => "unbounded_read",
        Check::Export => "export",
        Check::Destructive => "destructive",
        Check::Unparseable => "unparseable",
    }
}
