//! The policy in force: an ordered list of compiled rules and what they decide about one
//! `tools/call`. This module owns evaluation semantics (first match decides; `monitor` rules
//! only record; monitor mode turns blocks into records), rule ids, and the trace that
//! `sentinel explain` prints. Where a policy comes from (the built-in default or a file with
//! profiles) is `policy_file`'s business; wire formats and transports are not known here.

use crate::base::glob::{self, Glob};
use crate::base::jsonrpc::Json;
use crate::egress::{self, Class, Destination, DomainList};
use crate::guards::sql::{Check, Finding, SqlGuard};
pub use crate::guards::Mode;
use crate::secrets;
use std::fmt::Write as _;

pub mod file;
mod live;
pub mod reload;
pub mod tooling;

pub use live::Live;

/// Argument keys whose strings are SQL by name in the built-in policy: an unparseable
/// statement under one of them is refused instead of being treated as prose.
pub const SQL_KEYS: &[&str] = &["sql", "query", "statement", "stmt"];

/// Rule id of the refusal of a malformed line (not a policy rule: always on).
pub const MALFORMED: &str = "jsonrpc.malformed";
/// The audit `reason` of a malformed line.
pub const MALFORMED_TITLE: &str = "Malformed Message";

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Forward, and stop evaluating.
    Allow,
    /// Refuse, and stop evaluating.
    Block,
    /// Record (audit) and go on evaluating; never refuses.
    Monitor,
    /// Needs a person's approval. Until approvals exist this refuses, saying so.
    Approve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Monitor => "monitor",
            Action::Approve => "approve",
        }
    }
}

/// A comparison applied to one argument value.
#[derive(Clone, Debug)]
pub enum Test {
    Equals(serde_json::Value),
    OneOf(Vec<serde_json::Value>),
    Regex(regex_lite::Regex),
    Prefix(String),
    Min(f64),
    Max(f64),
    MinLength(usize),
    MaxLength(usize),
}

impl Test {
    fn holds(&self, v: &Json) -> bool {
        match self {
            Test::Equals(want) => json_eq(v, want),
            Test::OneOf(list) => list.iter().any(|w| json_eq(v, w)),
            Test::Regex(re) => v.as_str().is_some_and(|s| re.is_match(s)),
            Test::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Test::Min(n) => number(v).is_some_and(|x| x >= *n),
            Test::Max(n) => number(v).is_some_and(|x| x <= *n),
            Test::MinLength(n) => length(v).is_some_and(|l| l >= *n),
            Test::MaxLength(n) => length(v).is_some_and(|l| l <= *n),
        }
    }

    fn describe(&self) -> String {
        match self {
            Test::Equals(v) => format!("equals {v}"),
            Test::OneOf(v) => format!("one of {}", serde_json::Value::Array(v.clone())),
            Test::Regex(r) => format!("matches /{}/", r.as_str()),
            Test::Prefix(p) => format!("starts with {p:?}"),
            Test::Min(n) => format!(">= {n}"),
            Test::Max(n) => format!("<= {n}"),
            Test::MinLength(n) => format!("length >= {n}"),
            Test::MaxLength(n) => format!("length <= {n}"),
        }
    }
}

fn number(v: &Json) -> Option<f64> {
    match v {
        Json::Int(n) => Some(*n as f64),
        Json::UInt(n) => Some(*n as f64),
        Json::Float(n) => Some(*n),
        _ => None,
    }
}

/// Characters of a string, items of an array, members of an object.
fn length(v: &Json) -> Option<usize> {
    match v {
        Json::Str(s) => Some(s.chars().count()),
        Json::Arr(a) => Some(a.len()),
        Json::Obj(o) => Some(o.len()),
        _ => None,
    }
}

fn json_eq(v: &Json, w: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (v, w) {
        (Json::Null, V::Null) => true,
        (Json::Bool(a), V::Bool(b)) => a == b,
        (Json::Str(a), V::String(b)) => a == b,
        (_, V::Number(b)) => number(v).is_some_and(|a| Some(a) == b.as_f64()),
        (Json::Arr(a), V::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
        }
        (Json::Obj(a), V::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k.as_ref()).is_some_and(|y| json_eq(x, y)))
        }
        _ => false,
    }
}

/// Where a condition looks.
#[derive(Clone, Debug)]
pub enum Target {
    /// The value at this JSON Pointer inside `params.arguments` ("" is the whole object).
    Pointer(JsonPointer),
    /// Every string anywhere in the arguments; holds if one of them passes.
    AnyString,
}

/// One argument condition: all its tests must hold (or, with `negate`, not all).
#[derive(Clone, Debug)]
pub struct Condition {
    pub target: Target,
    pub tests: Vec<Test>,
    pub negate: bool,
}

impl Condition {
    /// Whether the condition holds, and the pointer of the value that made it hold.
    /// Whether the condition holds. A condition on a path that is absent never holds, negated
    /// or not.
    fn holds(&self, args: Option<&Json>) -> bool {
        let hit = match &self.target {
            Target::Pointer(p) => match args.and_then(|a| p.get(a)) {
                Some(v) => self.tests.iter().all(|t| t.holds(v)),
                None => return false,
            },
            Target::AnyString => args.is_some_and(|a| self.first_string(a).is_some()),
        };
        hit != self.negate
    }

    /// The JSON Pointer of the value the condition looked at (for reports; not on the hot path).
    fn location(&self, args: Option<&Json>) -> String {
        match &self.target {
            Target::Pointer(p) => p.as_str().to_owned(),
            Target::AnyString => args.and_then(|a| self.first_string(a)).unwrap_or_default(),
        }
    }

    /// The pointer of the first string that passes every test.
    fn first_string(&self, args: &Json) -> Option<String> {
        let mut path = Vec::new();
        let mut test = |s: &str, _: bool| {
            let v = Json::Str(s.into());
            self.tests.iter().all(|t| t.holds(&v))
        };
        find_string(args, false, &mut path, &mut test, &|_| false, false).then(|| pointer(&path))
    }

    fn describe(&self) -> String {
        let target = match &self.target {
            Target::Pointer(p) => format!("argument {:?}", p.as_str()),
            Target::AnyString => "any string argument".to_owned(),
        };
        let tests: Vec<String> = self.tests.iter().map(Test::describe).collect();
        let not = if self.negate { "not " } else { "" };
        format!("{target} {not}{}", tests.join(" and "))
    }
}

/// An RFC 6901 JSON Pointer, split and unescaped once when the policy is compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

impl JsonPointer {
    /// `text` must be "" or start with '/' (checked by the policy loader).
    pub fn new(text: &str) -> JsonPointer {
        let tokens = match text.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => Vec::new(),
        };
        JsonPointer {
            text: text.to_owned(),
            tokens,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn get<'a, 'j>(&self, mut v: &'a Json<'j>) -> Option<&'a Json<'j>> {
        for token in &self.tokens {
            v = match v {
                Json::Obj(_) => v.get(token)?,
                Json::Arr(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

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
    fn finding(&self, args: &Json) -> Option<(Finding, String)> {
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

/// What the egress guard looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgressCheck {
    /// A destination on the deny list.
    Denied,
    /// A public destination not on the allow list (only when there is an allow list).
    Unlisted,
    /// A private, loopback or link-local address (server-side request forgery).
    Private,
    /// A cloud metadata endpoint.
    Metadata,
    /// A secret in a call whose destinations are not all allow-listed.
    Secrets,
}

impl EgressCheck {
    pub const ALL: [EgressCheck; 5] = [
        EgressCheck::Denied,
        EgressCheck::Unlisted,
        EgressCheck::Private,
        EgressCheck::Metadata,
        EgressCheck::Secrets,
    ];

    /// The suffix it adds to its rule's id.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressCheck::Denied => "denied",
            EgressCheck::Unlisted => "unlisted",
            EgressCheck::Private => "private",
            EgressCheck::Metadata => "metadata",
            EgressCheck::Secrets => "secret",
        }
    }

    /// The stable audit category.
    fn title(self) -> &'static str {
        match self {
            EgressCheck::Denied => "Denied Destination",
            EgressCheck::Unlisted => "Destination Not Allow-Listed",
            EgressCheck::Private => "Server-Side Request Forgery",
            EgressCheck::Metadata => "Cloud Metadata Access",
            EgressCheck::Secrets => "Secret in Arguments",
        }
    }
}

/// The egress guard as a rule: network destinations and secrets in any string argument.
#[derive(Clone, Debug)]
pub struct EgressRule {
    pub allowed: DomainList,
    pub denied: DomainList,
    pub checks: Vec<EgressCheck>,
    pub secrets: secrets::Scanner,
}

/// What the egress guard found, ready to report.
struct EgressFinding {
    check: EgressCheck,
    detail: String,
    hint: String,
}

impl EgressRule {
    fn on(&self, c: EgressCheck) -> bool {
        self.checks.contains(&c)
    }

    /// The class a destination falls in under this rule, if it is a finding.
    fn judge(&self, d: &Destination) -> Option<EgressCheck> {
        if self.denied.matches(d) {
            return Some(EgressCheck::Denied);
        }
        if self.allowed.matches(d) {
            return None;
        }
        match d.class {
            Class::Metadata => Some(EgressCheck::Metadata),
            Class::Private => Some(EgressCheck::Private),
            Class::Public if !self.allowed.is_empty() => Some(EgressCheck::Unlisted),
            Class::Public => None,
        }
    }

    /// The first enabled finding in the arguments, with the JSON Pointer of its string: the
    /// first destination finding in document order; else, when the call's destinations are not
    /// all allow-listed, the first secret. One walk over the strings does both.
    fn finding(&self, args: &Json) -> Option<(EgressFinding, String)> {
        let known = |name: &str| self.allowed.matches_name(name) || self.denied.matches_name(name);
        let secrets = self.on(EgressCheck::Secrets);
        let mut found: Vec<Destination> = Vec::new();
        let (mut any, mut all_allowed) = (false, true);
        let mut hit = None;
        // The first string holding a secret: its number in walk order, and the secret's kind.
        let (mut strings, mut secret) = (0usize, None);
        let mut path = Vec::new();
        find_text(args, &mut path, &mut |s| {
            strings += 1;
            found.clear();
            egress::destinations(s, &known, &mut found);
            for d in &found {
                any = true;
                match self.judge(d) {
                    Some(c) if self.on(c) => {
                        hit = Some(self.report(c, d, s));
                        return true;
                    }
                    None if self.allowed.matches(d) => {}
                    _ => all_allowed = false,
                }
            }
            if secrets && secret.is_none() {
                secret = self.secrets.find(s).map(|f| (strings, f.kind));
            }
            false
        });
        if let Some(h) = hit {
            return Some((h, pointer(&path)));
        }
        if !secrets || (any && all_allowed) {
            return None;
        }
        let (at, kind) = secret?;
        // The path to that string: walk again, to it.
        let (mut path, mut n) = (Vec::new(), 0);
        find_text(args, &mut path, &mut |_| {
            n += 1;
            n == at
        });
        let where_ = if any {
            "the call's destinations are not all allow-listed"
        } else {
            "the call names no allow-listed destination"
        };
        Some((
            EgressFinding {
                check: EgressCheck::Secrets,
                detail: format!(
                    "an argument contains what looks like a secret ({}) and {where_}; the value \
                     is not logged",
                    kind.replace('_', " ")
                ),
                hint: "never pass credentials or keys in tool arguments; remove the secret, or \
                       ask the user to allow-list the destination"
                    .into(),
            },
            pointer(&path),
        ))
    }

    /// The finding for destination `d`, found in string `s`.
    fn report(&self, check: EgressCheck, d: &Destination, s: &str) -> EgressFinding {
        // A string that also holds a secret may hold it in the host name itself (normalised to
        // lower case, where the redactor would no longer recognise it): do not quote the host.
        let host = if self.secrets.find(s).is_some() {
            "a host (not shown: the argument holds a secret)"
        } else {
            d.host.as_str()
        };
        let what = match d.kind {
            egress::Kind::Url => format!("a URL to {host}"),
            egress::Kind::Email => format!("an e-mail address at {host}"),
            egress::Kind::Host => format!("the host name {host}"),
            egress::Kind::Ip => format!("the address {host}"),
        };
        let (why, hint) = match check {
            EgressCheck::Denied => (
                "which the policy denies".to_owned(),
                "do not send data to this destination; use one the user has approved",
            ),
            EgressCheck::Unlisted => (
                "which is not on the policy's allow-list".to_owned(),
                "use only allow-listed destinations; ask the user to add this one to the policy \
                 if it is really needed",
            ),
            EgressCheck::Private => (
                "a private, loopback or link-local address (internal network)".to_owned(),
                "tool calls must not reach internal addresses; use a public, approved \
                 destination",
            ),
            EgressCheck::Metadata | EgressCheck::Secrets => (
                "a cloud metadata endpoint, which hands out the host's credentials".to_owned(),
                "never fetch cloud metadata endpoints from a tool call",
            ),
        };
        EgressFinding {
            check,
            detail: format!("an argument contains {what}, {why}"),
            hint: hint.to_owned(),
        }
    }
}

/// The size of `v` written as compact JSON, in bytes (without building the text).
pub fn json_size(v: &Json) -> usize {
    match v {
        Json::Null => 4,
        Json::Bool(true) => 4,
        Json::Bool(false) => 5,
        Json::Int(n) => n.to_string().len(),
        Json::UInt(n) => n.to_string().len(),
        Json::Float(f) => serde_json::Number::from_f64(*f).map_or(4, |n| n.to_string().len()),
        Json::Str(s) => string_size(s),
        Json::Arr(items) => {
            2 + items.len().saturating_sub(1) + items.iter().map(json_size).sum::<usize>()
        }
        Json::Obj(members) => {
            2 + members.len().saturating_sub(1)
                + members
                    .iter()
                    .map(|(k, v)| string_size(k) + 1 + json_size(v))
                    .sum::<usize>()
        }
    }
}

fn string_size(s: &str) -> usize {
    2 + s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 8 | 12 => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// Calls `f` on every string in `v` (document order) until it returns true; `path` then holds
/// the way to that string, innermost step first (see [`pointer`]); it is only written on the
/// way back from a hit, so a walk that finds nothing allocates nothing. `f` also learns
/// whether the string sits under a key `marks` (the nearest object key above it, through
/// arrays). With `keys`, object keys are strings too (each before its value; the path of a key
/// is its member's).
fn find_string<'j>(
    v: &'j Json,
    marked: bool,
    path: &mut Vec<Segment<'j>>,
    f: &mut dyn FnMut(&str, bool) -> bool,
    marks: &dyn Fn(&str) -> bool,
    keys: bool,
) -> bool {
    match v {
        Json::Str(s) => f(s, marked),
        Json::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                if find_string(item, marked, path, f, marks, keys) {
                    path.push(Segment::Index(i));
                    return true;
                }
            }
            false
        }
        Json::Obj(members) => {
            for (k, item) in members {
                if (keys && f(k, marked)) || find_string(item, marks(k), path, f, marks, keys) {
                    path.push(Segment::Key(k));
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// [`find_string`] over every object key and every string: the egress guard looks at keys
/// too, since `{"https://x.example/": 1}` sends a URL as surely as a value does.
fn find_text<'j>(
    v: &'j Json,
    path: &mut Vec<Segment<'j>>,
    f: &mut dyn FnMut(&str) -> bool,
) -> bool {
    find_string(v, false, path, &mut |s, _| f(s), &|_| false, true)
}

/// One step of a JSON Pointer.
enum Segment<'j> {
    Key(&'j str),
    Index(usize),
}

/// RFC 6901 JSON Pointer text for `path` (innermost step first, as [`find_string`] leaves it).
fn pointer(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path.iter().rev() {
        out.push('/');
        match seg {
            Segment::Key(k) => {
                for c in k.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Segment::Index(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
    out
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    /// Globs on the server name; empty = every server.
    pub servers: Vec<Glob>,
    /// Globs on the tool name; empty = every tool.
    pub tools: Vec<Glob>,
    pub except_tools: Vec<Glob>,
    pub conditions: Vec<Condition>,
    /// Matches only calls whose arguments are larger than this (compact JSON bytes).
    pub max_argument_bytes: Option<usize>,
    pub sql: Option<SqlRule>,
    pub egress: Option<EgressRule>,
    pub action: Action,
    pub mode: Mode,
    /// Custom reason (the audit `reason` and the start of what the agent is told).
    pub reason: Option<String>,
    /// Custom hint.
    pub hint: Option<String>,
}

/// A rule that matched: what the gateway reports and audits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The rule id, with the SQL check appended for SQL rules (`sql.unbounded_read`).
    pub rule: String,
    pub action: Action,
    /// False in monitor mode: the decision is recorded, not carried out.
    pub enforced: bool,
    /// The audit `reason`: a stable category, or the rule's custom reason.
    pub reason: String,
    pub detail: String,
    pub hint: String,
    /// JSON Pointer of the offending argument inside `params.arguments`, when there is one.
    pub pointer: String,
    /// When a retry can succeed (RFC 3339), for temporary refusals (the circuit breaker's).
    pub retry_at: Option<String>,
}

/// The decision on one `tools/call`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The deciding rule (allow, block or approve), if any matched.
    pub terminal: Option<Hit>,
    /// `monitor` rules that matched before it.
    pub monitored: Vec<Hit>,
}

impl Decision {
    /// The hit that refuses the call, if the decision is carried out as a refusal.
    pub fn refusal(&self) -> Option<&Hit> {
        self.terminal
            .as_ref()
            .filter(|h| h.enforced && matches!(h.action, Action::Block | Action::Approve))
    }

    /// The verdict word used by `policy test` and `explain`: allow, block, approve or monitor.
    pub fn verdict(&self) -> &'static str {
        match &self.terminal {
            Some(h) if h.enforced && h.action != Action::Allow => h.action.as_str(),
            Some(h) if h.action != Action::Allow => "monitor",
            _ if !self.monitored.is_empty() => "monitor",
            _ => "allow",
        }
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

/// The decision-making settings in force: a profile of a policy, compiled.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Where it came from, for messages ("built-in default" or "FILE (profile P)").
    pub source: String,
    pub rules: Vec<Rule>,
    /// What happens when no rule decides: `Allow` (default) or `Block` (allow-list style).
    pub default_action: Action,
    pub default_mode: Mode,
    /// The circuit breaker's settings (stateful: applied by the gateway, not by `decide`).
    pub breaker: crate::guards::breaker::Config,
}

/// The message facts a decision depends on.
pub struct Call<'a, 'j> {
    pub server: &'a str,
    pub tool: Option<&'a str>,
    pub arguments: Option<&'a Json<'j>>,
}

impl Policy {
    /// The built-in default policy: the egress guard reporting (not blocking) destinations
    /// and secrets, then the SQL guard on every string of every tool call; the circuit
    /// breaker's defaults.
    pub fn builtin(dialect: &str, max_rows: u64) -> Policy {
        Policy {
            source: "built-in default policy".into(),
            rules: vec![
                Rule {
                    id: "egress".into(),
                    servers: Vec::new(),
                    tools: Vec::new(),
                    except_tools: Vec::new(),
                    conditions: Vec::new(),
                    max_argument_bytes: None,
                    sql: None,
                    egress: Some(EgressRule {
                        allowed: DomainList::new(&[]).unwrap_or_else(|_| unreachable!()),
                        denied: DomainList::new(&[]).unwrap_or_else(|_| unreachable!()),
                        checks: EgressCheck::ALL.to_vec(),
                        secrets: secrets::Scanner::default(),
                    }),
                    action: Action::Monitor,
                    mode: Mode::Enforce,
                    reason: None,
                    hint: None,
                },
                Rule {
                    id: "sql".into(),
                    servers: Vec::new(),
                    tools: Vec::new(),
                    except_tools: Vec::new(),
                    conditions: Vec::new(),
                    max_argument_bytes: None,
                    egress: None,
                    sql: Some(SqlRule {
                        guard: SqlGuard::new(dialect, max_rows),
                        keys: SQL_KEYS.iter().map(|s| s.to_string()).collect(),
                        checks: vec![Check::UnboundedRead, Check::Export, Check::Destructive],
                        unparseable: Action::Block,
                    }),
                    action: Action::Block,
                    mode: Mode::Enforce,
                    reason: None,
                    hint: None,
                },
            ],
            default_action: Action::Allow,
            default_mode: Mode::Enforce,
            breaker: crate::guards::breaker::Config::defaults(),
        }
    }

    /// Decides a `tools/call`. With `trace`, appends one line per rule saying why it matched
    /// or not.
    pub fn decide(&self, call: &Call, mut trace: Option<&mut Vec<String>>) -> Decision {
        let mut decision = Decision::default();
        let tool = call.tool.unwrap_or("");
        for rule in &self.rules {
            // Trace lines are only formatted when someone asked for a trace.
            let mut note = |text: &dyn Fn() -> String| {
                if let Some(t) = trace.as_deref_mut() {
                    t.push(format!("{}: {}", rule.id, text()));
                }
            };
            if !rule.servers.is_empty() && !glob::any(&rule.servers, call.server) {
                note(&|| format!("skipped: server {:?} is not in its servers", call.server));
                continue;
            }
            if !rule.tools.is_empty() && !glob::any(&rule.tools, tool) {
                note(&|| format!("skipped: tool {tool:?} is not in its tools"));
                continue;
            }
            if glob::any(&rule.except_tools, tool) {
                note(&|| format!("skipped: tool {tool:?} is in its except_tools"));
                continue;
            }
            if let Some(c) = rule.conditions.iter().find(|c| !c.holds(call.arguments)) {
                note(&|| format!("no match: {} does not hold", c.describe()));
                continue;
            }
            let mut size_detail = None;
            if let Some(max) = rule.max_argument_bytes {
                let size = call.arguments.map_or(0, json_size);
                if size <= max {
                    note(&|| format!("no match: arguments are {size} bytes, within {max}"));
                    continue;
                }
                size_detail = Some(format!(
                    "the arguments are {size} bytes, over this tool's limit of {max} bytes"
                ));
            }
            let pointer_at = rule
                .conditions
                .first()
                .map(|c| c.location(call.arguments))
                .unwrap_or_default();
            let mut hit = match (&rule.sql, &rule.egress) {
                (_, Some(eg)) => {
                    let Some((f, at)) = call.arguments.and_then(|a| eg.finding(a)) else {
                        note(&|| "no match: no destination or secret to report".into());
                        continue;
                    };
                    Hit {
                        rule: format!("{}.{}", rule.id, f.check.as_str()),
                        action: rule.action,
                        enforced: true,
                        reason: f.check.title().to_owned(),
                        detail: f.detail,
                        hint: f.hint,
                        pointer: at,
                        retry_at: None,
                    }
                }
                (Some(sql), None) => {
                    let Some((finding, at)) = call.arguments.and_then(|a| sql.finding(a)) else {
                        note(&|| "no match: no SQL problem found in the arguments".into());
                        continue;
                    };
                    let action = if finding.check == Check::Unparseable {
                        sql.unparseable
                    } else {
                        rule.action
                    };
                    Hit {
                        rule: format!("{}.{}", rule.id, check_id(finding.check)),
                        action,
                        enforced: true,
                        reason: check_title(finding.check).to_owned(),
                        detail: finding.detail,
                        hint: finding.hint,
                        pointer: at,
                        retry_at: None,
                    }
                }
                (None, None) if size_detail.is_some() => Hit {
                    rule: rule.id.clone(),
                    action: rule.action,
                    enforced: true,
                    reason: "Argument Too Large".to_owned(),
                    detail: size_detail.unwrap_or_default(),
                    hint: "send less data in one call: split it, or pass a reference (a path, an \
                           id) instead of the content"
                        .into(),
                    pointer: pointer_at,
                    retry_at: None,
                },
                (None, None) => Hit {
                    rule: rule.id.clone(),
                    action: rule.action,
                    enforced: true,
                    reason: default_reason(rule.action).to_owned(),
                    detail: match rule.conditions.len() {
                        0 if rule.tools.is_empty() => "every tool call matches".to_owned(),
                        0 => format!("tool {tool:?} matches {}", globs(&rule.tools)),
                        _ => rule
                            .conditions
                            .iter()
                            .map(Condition::describe)
                            .collect::<Vec<_>>()
                            .join(" and "),
                    },
                    hint: default_hint(rule.action).to_owned(),
                    pointer: pointer_at,
                    retry_at: None,
                },
            };
            if let Some(r) = &rule.reason {
                hit.reason = r.clone();
            }
            if let Some(h) = &rule.hint {
                hit.hint = h.clone();
            }
            if hit.action == Action::Approve {
                hit.detail = format!(
                    "{} (needs a person's approval, which this version of Sentinel cannot ask \
                     for yet)",
                    hit.detail
                );
            }
            hit.enforced = rule.mode == Mode::Enforce && self.default_mode == Mode::Enforce;
            note(&|| {
                format!(
                    "matched: {} -> {}{}",
                    hit.detail,
                    hit.action.as_str(),
                    if hit.enforced || hit.action == Action::Allow {
                        ""
                    } else {
                        " (monitor mode: recorded, not enforced)"
                    }
                )
            });
            // A `monitor` rule, or a rule on trial in monitor mode, only records: the rules
            // after it still apply (a trial must not switch off enforcement).
            if hit.action == Action::Monitor
                || (rule.mode == Mode::Monitor && hit.action != Action::Allow)
            {
                decision.monitored.push(hit);
                continue;
            }
            decision.terminal = Some(hit);
            return decision;
        }
        if self.default_action != Action::Allow {
            let enforced = self.default_mode == Mode::Enforce;
            if let Some(t) = trace {
                t.push(format!(
                    "(default): no rule decided -> {}",
                    self.default_action.as_str()
                ));
            }
            decision.terminal = Some(Hit {
                rule: "default".into(),
                action: self.default_action,
                enforced,
                reason: "Not Allow-Listed".into(),
                detail: format!("no rule of the policy allows tool {tool:?}"),
                hint: "use only the tools this policy allows".into(),
                pointer: String::new(),
                retry_at: None,
            });
        }
        decision
    }

    /// The secret detectors used to redact what is written about a message: the built-in
    /// settings, made stricter by any egress rule's own (a secret one rule found must never
    /// be written in clear because the redactor's thresholds were looser).
    pub fn redactor(&self) -> secrets::Scanner {
        let mut r = secrets::Scanner::default();
        for eg in self.rules.iter().filter_map(|rule| rule.egress.as_ref()) {
            let t = eg.secrets.entropy_threshold;
            if t > 0.0 && t < r.entropy_threshold {
                r.entropy_threshold = t;
            }
            if t > 0.0 {
                r.min_length = r.min_length.min(eg.secrets.min_length);
            }
        }
        r
    }

    /// A one-paragraph description for `explain`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{} ({} rule(s), mode {}, default {})",
            self.source,
            self.rules.len(),
            self.default_mode.as_str(),
            self.default_action.as_str()
        );
        s
    }
}

fn globs(g: &[Glob]) -> String {
    g.iter().map(Glob::as_str).collect::<Vec<_>>().join(", ")
}

fn default_reason(action: Action) -> &'static str {
    match action {
        Action::Allow => "Allowed by Policy",
        Action::Block => "Blocked by Policy",
        Action::Monitor => "Monitored by Policy",
        Action::Approve => "Approval Required",
    }
}

fn default_hint(action: Action) -> &'static str {
    match action {
        Action::Approve => {
            "ask the user to carry out this action themselves, or to change the policy"
        }
        _ => "this call is not allowed by the gateway's policy; do not retry it unchanged",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json<'_> {
        let mut p = crate::base::json::Parser::new(text);
        let v = p.value(1).unwrap();
        p.end().unwrap();
        v
    }

    #[test]
    fn json_size_is_the_length_of_the_compact_json_text() {
        for (text, size) in [
            ("[]", 2),
            ("[1]", 3),
            ("[1,2]", 5),
            ("[1,2,3,4]", 9),
            ("[[],[[]],[1,[2,[3,4,5]]]]", 25),
            ("{}", 2),
            (r#"{"a":1}"#, 7),
            (r#"{"a":1,"bc":[true,false,null]}"#, 30),
            (r#"{"a":{"b":{}},"c":[{},{"d":[-1,2.5]}]}"#, 38),
            (r#""\u0001""#, 8),
            (r#""\u001f\b\f\n\r\t\"\\/é\u007f""#, 26),
            (r#"{"\u0002k":["\u0000",""]}"#, 25),
        ] {
            let compact =
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(text).unwrap())
                    .unwrap();
            assert_eq!(compact.len(), size, "test setup: {text} is {compact}");
            assert_eq!(json_size(&parse(text)), size, "{text}");
        }
        // Spacing and escapes on the wire do not count; numbers count as written compactly.
        let spaced = " { \"a\" : [ 1 , \"\\u0078\" , { } ] , \"b\" : -0.5e1 } ";
        let compact =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(spaced).unwrap())
                .unwrap();
        assert_eq!(json_size(&parse(spaced)), compact.len(), "{compact}");
    }

    /// A policy whose egress rules have these entropy settings (threshold, min_length).
    fn with_egress(settings: &[(f64, usize)]) -> Policy {
        let mut p = Policy::builtin("generic", 1000);
        let template = p.rules[0].clone();
        assert!(template.egress.is_some());
        p.rules.clear();
        for (i, (t, n)) in settings.iter().enumerate() {
            let mut r = template.clone();
            r.id = format!("egress{i}");
            let eg = r.egress.as_mut().unwrap();
            eg.secrets.entropy_threshold = *t;
            eg.secrets.min_length = *n;
            p.rules.push(r);
        }
        p
    }

    #[test]
    fn the_redactor_takes_the_strictest_entropy_settings_in_force() {
        let r = |settings: &[(f64, usize)]| {
            let s = with_egress(settings).redactor();
            (s.entropy_threshold, s.min_length)
        };
        let default = secrets::Scanner::default();
        let builtin = (default.entropy_threshold, default.min_length);
        assert_eq!(builtin, (4.5, 32));
        assert_eq!(r(&[]), builtin);
        let b = Policy::builtin("generic", 1000).redactor();
        assert_eq!((b.entropy_threshold, b.min_length), builtin);
        // A rule with its entropy detector off neither switches redaction's off nor lends it
        // its run length.
        assert_eq!(r(&[(0.0, 24)]), builtin);
        // Looser settings do not loosen redaction.
        assert_eq!(r(&[(5.0, 40)]), builtin);
        assert_eq!(r(&[(4.5, 32)]), builtin);
        // Stricter ones make it stricter, each setting on its own.
        assert_eq!(r(&[(3.5, 16)]), (3.5, 16));
        assert_eq!(r(&[(5.0, 16)]), (4.5, 16));
        assert_eq!(r(&[(3.5, 40)]), (3.5, 32));
        assert_eq!(r(&[(4.0, 48), (3.0, 40), (0.0, 8), (3.5, 20)]), (3.0, 20));
    }
}
