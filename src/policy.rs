//! The policy: what Sentinel decides about one `tools/call`. Today this is the built-in default
//! guard (the SQL checks of [`crate::sql`] applied to every string in the call's arguments);
//! the policy file of the roadmap will configure the same [`Policy`]. This module owns the rule
//! ids, their titles, and how a tool call's arguments are walked; it knows nothing about wire
//! formats or transports.

use crate::sql::{Check, SqlGuard};
use serde_json::Value;

/// Argument keys whose strings are SQL by name: an unparseable statement under one of them is
/// refused instead of being treated as prose. Compared case-insensitively.
pub const SQL_KEYS: &[&str] = &["sql", "query", "statement", "stmt"];

/// A stable rule id, as it appears in error responses and audit entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    UnboundedRead,
    Export,
    Destructive,
    UnparseableSql,
    MalformedMessage,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::UnboundedRead => "sql.unbounded_read",
            Rule::Export => "sql.export",
            Rule::Destructive => "sql.destructive",
            Rule::UnparseableSql => "sql.unparseable",
            Rule::MalformedMessage => "jsonrpc.malformed",
        }
    }

    /// The audit log's `reason`: a stable category to count blocks by.
    pub fn title(self) -> &'static str {
        match self {
            Rule::UnboundedRead => "Data Exfiltration Prevention",
            Rule::Export => "Data Export Prevention",
            Rule::Destructive => "Destructive Statement Prevention",
            Rule::UnparseableSql => "Unverifiable SQL",
            Rule::MalformedMessage => "Malformed Message",
        }
    }

    fn from_check(check: Check) -> Rule {
        match check {
            Check::UnboundedRead => Rule::UnboundedRead,
            Check::Export => Rule::Export,
            Check::Destructive => Rule::Destructive,
            Check::Unparseable => Rule::UnparseableSql,
        }
    }
}

/// Why a message is refused: the rule, the specifics, and what the agent can do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub detail: String,
    pub hint: String,
    /// JSON Pointer of the offending argument inside `params.arguments` ("" for the message).
    pub pointer: String,
}

/// The decision-making settings in force.
#[derive(Clone, Debug)]
pub struct Policy {
    sql: SqlGuard,
}

impl Policy {
    /// The built-in default policy.
    pub fn builtin(dialect: &str, max_rows: u64) -> Policy {
        Policy {
            sql: SqlGuard::new(dialect, max_rows),
        }
    }

    /// Judges the `params` of a `tools/call`: the first violation found in its arguments, in
    /// document order of the walk (object keys in sorted order, array items in order).
    pub fn check_tool_call(&self, params: Option<&Value>) -> Option<Violation> {
        let args = params?.get("arguments")?;
        let mut pointer = String::new();
        self.walk(args, false, &mut pointer)
    }

    fn walk(&self, v: &Value, sql_key: bool, pointer: &mut String) -> Option<Violation> {
        match v {
            Value::String(s) => self.sql.inspect(s, sql_key).map(|f| Violation {
                rule: Rule::from_check(f.check),
                detail: f.detail,
                hint: f.hint,
                pointer: pointer.clone(),
            }),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                let found = self.walk(item, sql_key, pointer);
                pointer.truncate(len);
                found
            }),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                let is_sql = SQL_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                let found = self.walk(item, is_sql, pointer);
                pointer.truncate(len);
                found
            }),
            _ => None,
        }
    }
}
