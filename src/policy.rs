//! The policy: what Sentinel decides about one `tools/call`. Today this is the built-in default
//! guard (the SQL checks of [`crate::sql`] applied to every string in the call's arguments);
//! the policy file of the roadmap will configure the same [`Policy`]. This module owns the rule
//! ids, their titles, and how a tool call's arguments are walked; it knows nothing about wire
//! formats or transports.

use crate::jsonrpc::Json;
use crate::sql::{Check, Finding, SqlGuard};

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
    /// document order.
    pub fn check_tool_call(&self, params: Option<&Json>) -> Option<Violation> {
        let args = params?.get("arguments")?;
        let mut path = Vec::new();
        let finding = self.walk(args, false, &mut path)?;
        Some(Violation {
            rule: Rule::from_check(finding.check),
            detail: finding.detail,
            hint: finding.hint,
            pointer: pointer(&path),
        })
    }

    /// Depth-first search for the first finding; `path` holds the way to it on success.
    fn walk<'j>(&self, v: &'j Json, sql_key: bool, path: &mut Vec<Segment<'j>>) -> Option<Finding> {
        match v {
            Json::Str(s) => self.sql.inspect(s, sql_key),
            Json::Arr(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(Segment::Index(i));
                let found = self.walk(item, sql_key, path);
                if found.is_none() {
                    path.pop();
                }
                found
            }),
            Json::Obj(members) => members.iter().find_map(|(k, item)| {
                path.push(Segment::Key(k));
                let is_sql = SQL_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                let found = self.walk(item, is_sql, path);
                if found.is_none() {
                    path.pop();
                }
                found
            }),
            _ => None,
        }
    }
}

/// One step of a JSON Pointer.
enum Segment<'j> {
    Key(&'j str),
    Index(usize),
}

/// RFC 6901 JSON Pointer text for `path`.
fn pointer(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Segment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}
