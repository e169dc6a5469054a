//! Compiling one rule of a profile: its scope (servers, tools, except_tools), argument
//! conditions, SQL and egress sections, size limit, action, mode, reason and hint, each checked
//! with the rule's place in the file.

use super::schema::*;
use super::{PolicyError, PolicyFile};
use crate::base::glob::Glob;
use crate::guards::egress::DomainList;
use crate::guards::secrets;
use crate::guards::sql::{self, Check, SqlGuard};
use crate::policy::conditions::{json_of, Elements, PathReading};
use crate::policy::{
    Action, Approval, Channel, Condition, EgressCheck, EgressRule, JsonPointer, Rule, SqlRule,
    Target, Test,
};
use serde_saphyr::Spanned;

impl PolicyFile {
    pub(super) fn rule(&self, spanned: &Spanned<RuleDoc>) -> Result<Rule, PolicyError> {
        let r = &spanned.value;
        let at = &spanned.referenced;
        let fail = |message: String| Err(self.error(at, format!("rule {:?}: {message}", r.id)));
        if r.id.is_empty()
            || !r
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return fail("ids use only letters, digits, '_', '-' and '.'".into());
        }
        let globs = |v: &Option<Vec<String>>| -> Vec<Glob> {
            v.iter().flatten().map(|g| Glob::new(g)).collect()
        };
        let action = ActionDoc::compile(r.action);
        let mut conditions = Vec::new();
        for c in r.when.iter().flatten() {
            match condition(&c.value, action == Action::Allow) {
                Ok(cond) => conditions.push(cond),
                Err(m) => {
                    return Err(self.error(&c.referenced, format!("rule {:?}: {m}", r.id)));
                }
            }
        }
        let sql = match &r.sql {
            None => None,
            Some(s) => {
                let dialect = s.dialect.as_ref().map_or("auto", |d| d.value.as_str());
                if !sql::is_dialect(dialect) {
                    let where_ = s.dialect.as_ref().map_or(at, |d| &d.referenced);
                    return Err(self.error(
                        where_,
                        format!(
                            "rule {:?}: unknown SQL dialect {dialect:?} (one of {})",
                            r.id,
                            sql::DIALECTS.join(", ")
                        ),
                    ));
                }
                if action == Action::Allow {
                    return fail("a sql rule finds problems; its action cannot be allow".into());
                }
                let checks = s.checks.clone().unwrap_or_else(|| {
                    vec![
                        CheckDoc::UnboundedRead,
                        CheckDoc::Export,
                        CheckDoc::Destructive,
                    ]
                });
                Some(SqlRule {
                    guard: SqlGuard::new(dialect, s.max_rows.unwrap_or(1000)),
                    keys: s.keys.clone(),
                    prose: s.prose.clone().unwrap_or_default(),
                    checks: checks
                        .iter()
                        .map(|c| match c {
                            CheckDoc::UnboundedRead => Check::UnboundedRead,
                            CheckDoc::Export => Check::Export,
                            CheckDoc::Destructive => Check::Destructive,
                        })
                        .collect(),
                    unparseable: ActionDoc::compile(s.unparseable),
                    unrecognised: s
                        .unrecognised
                        .map_or(Action::Block, |a| ActionDoc::compile(Some(a))),
                    destructive: s.destructive.map(|a| ActionDoc::compile(Some(a))),
                })
            }
        };
        let egress = match &r.egress {
            None => None,
            Some(e) => {
                if sql.is_some() {
                    return fail("a rule has either sql: or egress:, not both".into());
                }
                if action == Action::Allow {
                    return fail(
                        "an egress rule finds problems; its action cannot be allow".into(),
                    );
                }
                let list = |v: &Option<Vec<String>>, what: &str| {
                    DomainList::new(v.as_deref().unwrap_or(&[]))
                        .map_err(|m| self.error(at, format!("rule {:?}: {what}: {m}", r.id)))
                };
                let mut scanner = secrets::Scanner::default();
                if let Some(t) = e.entropy_threshold {
                    if !(0.0..=8.0).contains(&t) {
                        return fail(format!(
                            "entropy_threshold is in bits per character, 0 (off) to 8 (got {t})"
                        ));
                    }
                    scanner.entropy_threshold = t;
                }
                if let Some(n) = e.entropy_min_length {
                    scanner.min_length = n.max(8);
                }
                Some(EgressRule {
                    allowed: list(&e.allowed_domains, "allowed_domains")?,
                    denied: list(&e.denied_domains, "denied_domains")?,
                    checks: match &e.checks {
                        None => EgressCheck::ALL.to_vec(),
                        Some(cs) => cs
                            .iter()
                            .map(|c| match c {
                                EgressCheckDoc::Denied => EgressCheck::Denied,
                                EgressCheckDoc::Unlisted => EgressCheck::Unlisted,
                                EgressCheckDoc::Private => EgressCheck::Private,
                                EgressCheckDoc::Metadata => EgressCheck::Metadata,
                                EgressCheckDoc::Secrets => EgressCheck::Secrets,
                            })
                            .collect(),
                    },
                    secrets: scanner,
                })
            }
        };
        let approval = match &r.approval {
            None => Approval::default(),
            Some(doc) => {
                let a = &doc.value;
                let timeout = match &a.timeout {
                    None => Approval::default().timeout,
                    Some(t) => match super::limits::parse_duration(&t.value) {
                        Ok(ms) => std::time::Duration::from_millis(ms),
                        Err(m) => {
                            return Err(self.error(
                                &t.referenced,
                                format!("rule {:?}: approval timeout: {m}", r.id),
                            ))
                        }
                    },
                };
                Approval {
                    channel: match a.channel {
                        None | Some(ChannelDoc::Any) => Channel::Any,
                        Some(ChannelDoc::Client) => Channel::Client,
                        Some(ChannelDoc::Local) => Channel::Local,
                    },
                    timeout,
                    allow_session: a.allow_session.unwrap_or(true),
                }
            }
        };
        Ok(Rule {
            approval,
            id: r.id.clone(),
            servers: globs(&r.servers),
            tools: globs(&r.tools),
            except_tools: globs(&r.except_tools),
            conditions,
            max_argument_bytes: r.max_argument_bytes,
            egress,
            sql,
            action,
            mode: ModeDoc::compile(r.mode),
            reason: r.reason.clone(),
            hint: r.hint.clone(),
        })
    }
}

/// Tool globs, `*` when none are given.
pub(super) fn globs_or_all(v: &Option<Vec<String>>) -> Vec<Glob> {
    match v {
        Some(list) if !list.is_empty() => list.iter().map(|g| Glob::new(g)).collect(),
        _ => vec![Glob::new("*")],
    }
}

/// Compiles one `when:` condition. `strict` is set for `allow` rules: a string with several
/// readings (`normalize: path`) passes only if every reading does.
pub(super) fn condition(c: &ConditionDoc, strict: bool) -> Result<Condition, String> {
    let target = match (&c.path, c.any_string) {
        (Some(p), None | Some(false)) => {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(format!(
                    "path {p:?} is not a JSON Pointer (it starts with '/', e.g. /query)"
                ));
            }
            Target::Pointer(JsonPointer::new(p))
        }
        (None, Some(true)) => Target::AnyString,
        (Some(_), Some(true)) => {
            return Err("give either path or any_string: true, not both".into())
        }
        (None, _) => return Err("a condition needs path: /json/pointer or any_string: true".into()),
    };
    let any_string = matches!(target, Target::AnyString);
    let elements = match (c.every_element, c.any_element) {
        (Some(true), Some(true)) => {
            return Err(
                "give every_element: true or any_element: true, not both (every: all elements \
                 must pass; any: one is enough)"
                    .into(),
            )
        }
        (Some(true), _) => Elements::Every,
        (_, Some(true)) => Elements::Any,
        _ => Elements::Value,
    };
    if any_string && elements != Elements::Value {
        return Err(
            "every_element/any_element look into the array at a path: give path: /json/pointer \
             instead of any_string (any_string already looks at every string, array elements \
             included)"
                .into(),
        );
    }
    let mut tests = Vec::new();
    if let Some(v) = &c.equals {
        tests.push(Test::Equals(v.clone()));
    }
    if let Some(v) = &c.one_of {
        tests.push(Test::OneOf(v.clone()));
    }
    if let Some(r) = &c.regex {
        let re = regex_lite::Regex::new(r).map_err(|e| format!("invalid regex {r:?}: {e}"))?;
        tests.push(Test::Regex(re));
    }
    if let Some(p) = &c.prefix {
        tests.push(Test::Prefix(p.clone()));
    }
    if let Some(n) = c.min {
        tests.push(Test::Min(n));
    }
    if let Some(n) = c.max {
        tests.push(Test::Max(n));
    }
    if let Some(n) = c.min_length {
        tests.push(Test::MinLength(n));
    }
    if let Some(n) = c.max_length {
        tests.push(Test::MaxLength(n));
    }
    if let Some(absent) = c.absent {
        let say = if absent {
            "absent: true"
        } else {
            "absent: false"
        };
        if any_string {
            return Err(format!(
                "{say} is about one argument: give path: /json/pointer instead of any_string"
            ));
        }
        if !tests.is_empty() || elements != Elements::Value || c.normalize.is_some() {
            return Err(format!(
                "{say} is a test of its own and takes no other test, element or normalize \
                 option (put those in a second condition on the same path)"
            ));
        }
        if c.default.is_some() {
            return Err(format!(
                "{say} and default: contradict each other (default: is tested when the \
                 argument is absent); keep one"
            ));
        }
        if c.not == Some(true) {
            let other = if absent {
                "absent: false"
            } else {
                "absent: true"
            };
            return Err(format!(
                "{say} with not: true is {other}; write that instead"
            ));
        }
        return Ok(Condition {
            target,
            tests,
            negate: false,
            absent: Some(absent),
            default: None,
            elements,
            path: None,
            strict,
        });
    }
    if tests.is_empty() {
        return Err(
            "a condition needs a test: equals, one_of, regex, prefix, min, max, min_length, \
             max_length, or absent: true|false"
                .into(),
        );
    }
    let numeric = tests
        .iter()
        .any(|t| matches!(t, Test::Min(_) | Test::Max(_)));
    if any_string && numeric {
        return Err("min/max compare numbers; any_string looks at strings".into());
    }
    if any_string && c.default.is_some() {
        return Err(
            "default: is the server's value for one absent argument: give path: /json/pointer \
             instead of any_string"
                .into(),
        );
    }
    let path = match c.normalize {
        None => None,
        Some(NormalizeDoc::Path) => {
            if numeric {
                return Err(
                    "normalize: path reads strings as file paths; min/max compare numbers \
                     (drop one of them)"
                        .into(),
                );
            }
            Some(PathReading {
                home: std::env::var("HOME")
                    .ok()
                    .filter(|h| h.starts_with('/'))
                    .map(|h| h.trim_end_matches('/').to_owned())
                    .map(|h| if h.is_empty() { "/".to_owned() } else { h }),
            })
        }
    };
    Ok(Condition {
        target,
        tests,
        negate: c.not.unwrap_or(false),
        absent: None,
        default: c.default.as_ref().map(json_of),
        elements,
        path,
        strict,
    })
}
