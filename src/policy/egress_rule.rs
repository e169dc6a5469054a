//! The egress guard as a rule kind: network destinations and secrets in any string argument
//! judged against the rule's allow and deny lists, which checks are on, and what each finding
//! tells the agent.

use super::walk::{find_text, pointer};
use crate::base::jsonrpc::Json;
use crate::guards::egress::{self, Class, Destination, DomainList};
use crate::guards::secrets;

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
    pub(super) fn title(self) -> &'static str {
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
pub(super) struct EgressFinding {
    pub(super) check: EgressCheck,
    pub(super) detail: String,
    pub(super) hint: String,
}

impl EgressRule {
    pub(super) fn on(&self, c: EgressCheck) -> bool {
        self.checks.contains(&c)
    }

    /// The class a destination falls in under this rule, if it is a finding.
    pub(super) fn judge(&self, d: &Destination) -> Option<EgressCheck> {
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
    pub(super) fn finding(&self, args: &Json) -> Option<(EgressFinding, String)> {
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
    pub(super) fn report(&self, check: EgressCheck, d: &Destination, s: &str) -> EgressFinding {
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
