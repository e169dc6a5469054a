//! The policy in force: an ordered list of compiled rules and what they decide about one
//! `tools/call`. This module owns evaluation semantics (first match decides; `monitor` rules
//! only record; monitor mode turns blocks into records), rule ids, and the trace that
//! `sentinel explain` prints. The rule kinds are one file each (`conditions`, `sql_rule`,
//! `egress_rule`, over the argument walks of `walk`); where a policy comes from (the built-in
//! default or a file with profiles) is `file`'s business, `live` holds the one in force and
//! `reload` replaces it, `tooling` checks, tests and explains policies. Wire formats and
//! transports are not known here.

use crate::base::glob::{self, Glob};
use crate::base::jsonrpc::Json;
use crate::guards::egress::DomainList;
use crate::guards::secrets;
use crate::guards::sql::{Check, SqlGuard};
pub use crate::guards::Mode;
use std::fmt::Write as _;

pub mod audit_policy;
mod conditions;
mod egress_rule;
pub mod file;
mod live;
pub mod reload;
pub mod server;
pub mod sql_args;
mod sql_rule;
pub mod tooling;
mod walk;

pub use conditions::{Condition, JsonPointer, Target, Test};
pub use egress_rule::{EgressCheck, EgressRule};
pub use live::Live;
pub use sql_args::ToolDef;
pub use sql_rule::{check_id, check_title, SqlContext, SqlRule};
use walk::json_size;

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
    /// How its `approve` is asked for (ignored by other actions).
    pub approval: Approval,
}

/// How a person's approval is asked for: through which channels, how long Sentinel waits,
/// and whether "approve for this session" is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Approval {
    pub channel: Channel,
    /// Denied when nobody has answered by then.
    pub timeout: std::time::Duration,
    /// Whether this exact call may be approved for the rest of the session.
    pub allow_session: bool,
}

/// The approval channels a rule allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The client's (elicitation, the 2026-07-28 retry), else this host's.
    Any,
    /// Only the client's.
    Client,
    /// Only a person on this host (`sentinel approvals`): a client can be set to accept
    /// elicitations automatically.
    Local,
}

/// The default wait: below the 60 s request timeout of the official TypeScript SDK.
pub const DEFAULT_APPROVAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(50);

impl Default for Approval {
    fn default() -> Self {
        Approval {
            channel: Channel::Any,
            timeout: DEFAULT_APPROVAL_TIMEOUT,
            allow_session: true,
        }
    }
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
    /// For `approve`: how the approval is asked for.
    pub approval: Option<Approval>,
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
    /// What the audit log records beyond refusals (`audit:`).
    pub audit: audit_policy::AuditPolicy,
    /// Server-side inspection (`server:`).
    pub server: server::ServerPolicy,
}

/// The message facts a decision depends on.
pub struct Call<'a, 'j> {
    pub server: &'a str,
    pub tool: Option<&'a str>,
    pub arguments: Option<&'a Json<'j>>,
    /// The tool's definition, when the server listed it in `tools/list`.
    pub def: Option<&'a ToolDef>,
    /// The database behind the server, when the gateway inferred it.
    pub target: Option<crate::guards::sql::Convention>,
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
                    approval: Approval::default(),
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
                        keys: None,
                        prose: Vec::new(),
                        checks: vec![Check::UnboundedRead, Check::Export, Check::Destructive],
                        unparseable: Action::Block,
                        unrecognised: Action::Approve,
                        destructive: Some(Action::Approve),
                    }),
                    action: Action::Block,
                    mode: Mode::Enforce,
                    reason: None,
                    hint: None,
                    approval: Approval::default(),
                },
            ],
            default_action: Action::Allow,
            default_mode: Mode::Enforce,
            breaker: crate::guards::breaker::Config::defaults(),
            audit: Default::default(),
            server: server::ServerPolicy::builtin(max_rows),
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
                        approval: None,
                    }
                }
                (Some(sql), None) => {
                    let cx = SqlContext {
                        tool,
                        def: call.def,
                        target: call.target,
                    };
                    let Some((finding, at)) = call.arguments.and_then(|a| sql.finding(a, &cx))
                    else {
                        note(&|| "no match: no SQL problem found in the arguments".into());
                        continue;
                    };
                    let action = sql.action_for(finding.check, rule.action);
                    Hit {
                        rule: format!("{}.{}", rule.id, check_id(finding.check)),
                        action,
                        enforced: true,
                        reason: check_title(finding.check).to_owned(),
                        detail: finding.detail,
                        hint: finding.hint,
                        pointer: at,
                        retry_at: None,
                        approval: None,
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
                    approval: None,
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
                    approval: None,
                },
            };
            if let Some(r) = &rule.reason {
                hit.reason = r.clone();
            }
            if let Some(h) = &rule.hint {
                hit.hint = h.clone();
            }
            if hit.action == Action::Approve {
                hit.approval = Some(rule.approval);
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
                approval: None,
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
