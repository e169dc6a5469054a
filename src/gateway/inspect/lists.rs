//! Judging what a server lists (`tools/list`, `prompts/list`, `resources/list`,
//! `resources/templates/list`): tools the policy refuses outright are hidden; tools whose
//! pinned definition changed (or that appeared after the server was pinned) are reported,
//! or hidden under `pins: enforce`; every item's texts are scanned for instructions aimed at
//! the model, hidden characters, ANSI escapes and overlong text, and reported, removed or
//! sanitised as the policy says. What was removed is remembered, so calls to it are refused.

use super::{ListKind, Removal};
use crate::audit::{Action as AuditAction, Entry};
use crate::base::jsonrpc::RawId;
use crate::gateway::Gateway;
use crate::guards::descriptions::{self, Finding, Limits};
use crate::guards::pins::Page;
use crate::guards::Mode;
use crate::policy::server::DescriptionAction;
use crate::policy::Policy;
use serde_json::Value;
use std::collections::HashMap;

/// Longest item definition kept in an audit entry's `details`.
const MAX_DETAILS: usize = 64 * 1024;

/// Whether judging a list can change it (an uninspectable list is then withheld).
pub(super) fn enforces(policy: &Policy) -> bool {
    let s = &policy.server;
    matches!(
        s.descriptions,
        DescriptionAction::Remove | DescriptionAction::Sanitise
    ) || s.pins == Some(Mode::Enforce)
        || s.hide_refused_tools
}

/// What pinning says of one listed tool.
#[derive(Clone, Debug)]
pub(in crate::gateway) enum PinNote {
    /// Its definition is the pinned one (or was pinned just now, at first sight).
    Trusted,
    /// Changed since it was pinned, or new on a server pinned before: `what` says how.
    Untrusted { what: String, escalation: bool },
}

/// One audit entry about a listed item.
struct ItemNote<'a> {
    kind: ListKind,
    name: &'a str,
    item: &'a Value,
    action: AuditAction,
    rule: &'a str,
    reason: &'a str,
    explanation: &'a str,
    hint: &'a str,
    field: Option<&'a str>,
    would_have: Option<&'a str>,
}

impl Gateway {
    /// Judges one list result in place; true when it was changed.
    pub(super) fn judge_list(
        &self,
        policy: &Policy,
        kind: ListKind,
        continued: bool,
        result: &mut Value,
    ) -> bool {
        let more = result.get("nextCursor").is_some_and(|c| !c.is_null());
        let (member, key) = kind.members();
        let Some(items) = result.get_mut(member).and_then(Value::as_array_mut) else {
            return false;
        };
        let sp = &policy.server;
        let limits = Limits {
            max_text: sp.max_text,
        };
        let pins: HashMap<String, PinNote> = match (kind, sp.pins) {
            (ListKind::Tools, Some(mode)) => self.pin_notes(items, mode, Page { continued, more }),
            _ => HashMap::new(),
        };
        let mut removed = HashMap::new();
        let mut changed = false;
        let mut kept = Vec::with_capacity(items.len());
        for mut item in items.drain(..) {
            let name = item
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let mut removal = None;
            if kind == ListKind::Tools && sp.hide_refused_tools {
                if let Some(rule) = policy.refuses_outright(&self.server_name, &name) {
                    let detail = format!(
                        "the policy refuses every call to {name} (rule {rule}), so it is not listed"
                    );
                    let hint = "the policy does not allow this tool; ask an administrator";
                    self.note_item(&ItemNote {
                        kind,
                        name: &name,
                        item: &item,
                        action: AuditAction::Hidden,
                        rule,
                        reason: "refused_by_policy",
                        explanation: &detail,
                        hint,
                        field: None,
                        would_have: None,
                    });
                    removal = Some(Removal {
                        rule: rule.to_owned(),
                        reason: "refused_by_policy".into(),
                        detail,
                        hint: hint.into(),
                    });
                }
            }
            if removal.is_none() {
                if let Some(PinNote::Untrusted { what, escalation }) = pins.get(&name) {
                    let enforce = sp.pins == Some(Mode::Enforce);
                    let reason = if *escalation {
                        "pin_escalated"
                    } else {
                        "pin_changed"
                    };
                    let hint = format!(
                        "a person checks the change with `sentinel pins diff {server} {name}` \
                         and trusts it with `sentinel pins accept {server} {name}`",
                        server = shell_word(&self.pins_identity())
                    );
                    let explanation = format!("tool {name}: {what}");
                    self.alert_item(kind, &name, "server.pins", &explanation, enforce);
                    self.note_item(&ItemNote {
                        kind,
                        name: &name,
                        item: &item,
                        action: if enforce {
                            AuditAction::Hidden
                        } else {
                            AuditAction::Monitored
                        },
                        rule: "server.pins",
                        reason,
                        explanation: &explanation,
                        hint: &hint,
                        field: None,
                        would_have: (!enforce).then_some("hide"),
                    });
                    if enforce {
                        removal = Some(Removal {
                            rule: "server.pins".into(),
                            reason: reason.into(),
                            detail: format!(
                                "{explanation}; it is hidden until a person trusts the change"
                            ),
                            hint,
                        });
                    }
                }
            }
            if removal.is_none() && sp.descriptions != DescriptionAction::Off {
                let findings = descriptions::scan(&item, &limits);
                if !findings.is_empty() {
                    let summary = summarise(&findings);
                    let noun = kind.noun();
                    let field = findings[0].field.clone();
                    let hint = "do not trust this server's descriptions: ask its operator, or \
                                remove the server";
                    // What becomes of the item, and how the audit entry says it.
                    let (action, would_have, outcome) = match sp.descriptions {
                        DescriptionAction::Remove => (AuditAction::Hidden, None, "; removed"),
                        DescriptionAction::Sanitise => (AuditAction::Sanitised, None, "; cut out"),
                        _ => (AuditAction::Monitored, Some("remove"), ""),
                    };
                    let before = (action == AuditAction::Sanitised).then(|| item.clone());
                    let explanation = format!("{noun} {name}: {summary}{outcome}");
                    let reason = findings[0].class.as_str();
                    self.alert_item(
                        kind,
                        &name,
                        "server.descriptions",
                        &summary,
                        action != AuditAction::Monitored,
                    );
                    self.note_item(&ItemNote {
                        kind,
                        name: &name,
                        item: before.as_ref().unwrap_or(&item),
                        action,
                        rule: "server.descriptions",
                        reason,
                        explanation: &explanation,
                        hint,
                        field: Some(&field),
                        would_have,
                    });
                    match action {
                        AuditAction::Hidden => {
                            removal = Some(Removal {
                                rule: "server.descriptions".into(),
                                reason: reason.into(),
                                detail: format!(
                                    "{noun} {name} was removed from the list: {summary}"
                                ),
                                hint: hint.into(),
                            });
                        }
                        AuditAction::Sanitised => {
                            descriptions::sanitise(&mut item, &limits);
                            changed = true;
                        }
                        _ => {}
                    }
                }
            }
            match removal {
                Some(r) => {
                    removed.insert((kind, name), r);
                    changed = true;
                }
                None => kept.push(item),
            }
        }
        *items = kept;
        let mut ins = self.inspect();
        ins.removed.retain(|(k, _), _| *k != kind);
        ins.removed.extend(removed);
        changed
    }

    fn alert_item(&self, kind: ListKind, name: &str, rule: &str, what: &str, enforced: bool) {
        let verb = if enforced { "changed" } else { "passed on" };
        self.term.alert(|| {
            (
                format!("{} {} {name} rule={rule}", kind.method(), kind.noun()),
                vec![format!("{what} ({verb})")],
            )
        });
    }

    fn note_item(&self, n: &ItemNote) {
        let details = serde_json::to_string(n.item).unwrap_or_default();
        let (details, is_json) = if details.len() <= MAX_DETAILS {
            (details, true)
        } else {
            (details, false)
        };
        let redactor = self.policy().redactor();
        let explanation = crate::gateway::answers::clean(&redactor, n.explanation);
        let method = n.kind.method();
        self.audit.record(&Entry {
            message_id: None::<&RawId>,
            method: Some(method),
            tool: (n.kind == ListKind::Tools).then_some(n.name),
            rule: n.rule,
            reason: n.reason,
            explanation: &explanation,
            hint: n.hint,
            argument: n.field,
            action: n.action,
            would_have: n.would_have,
            details: details.as_bytes(),
            details_is_json: is_json,
            approval: None,
        });
    }
}

/// "instructions (/description: <IMPORTANT> block); invisible_unicode (...)", at most three.
fn summarise(findings: &[Finding]) -> String {
    let mut parts: Vec<String> = findings
        .iter()
        .take(3)
        .map(|f| format!("{} ({}: {})", f.class.as_str(), f.field, f.detail))
        .collect();
    if findings.len() > 3 {
        parts.push(format!("and {} more", findings.len() - 3));
    }
    parts.join("; ")
}

/// `text`, quoted for a shell when it needs to be.
pub(in crate::gateway) fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
