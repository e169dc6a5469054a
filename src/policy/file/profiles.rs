//! Profiles and `extends:`: a profile overrides only what it states; its rules override the
//! parent's rules of the same id field by field (keeping their place), new rules go after the
//! parent's, and `remove_rules` drops some; its `breaker:` and `audit:` merge field by field.

use super::schema::*;
use super::{PolicyError, PolicyFile};

impl PolicyFile {
    /// Applies `extends:` chains: a profile overrides only what it states; its rules override
    /// the parent's rules of the same id field by field (keeping their place) and new rules go
    /// after the parent's.
    pub(super) fn resolve(
        &self,
        name: &str,
        chain: &mut Vec<String>,
    ) -> Result<ProfileDoc, PolicyError> {
        let Some(profile) = self.doc.profiles.get(name) else {
            return Err(self.error_at(
                0,
                0,
                format!(
                    "no profile {name:?} in this file (it has: {})",
                    self.profiles().join(", ")
                ),
            ));
        };
        if chain.iter().any(|c| c == name) {
            chain.push(name.to_owned());
            return Err(self.error(
                &profile.referenced,
                format!(
                    "profiles extend each other in a cycle: {}",
                    chain.join(" -> ")
                ),
            ));
        }
        chain.push(name.to_owned());
        let own = &profile.value;
        let Some(parent_name) = &own.extends else {
            if let Some(r) = own.remove_rules.first() {
                return Err(self.error(
                    &r.referenced,
                    format!("profile {name:?} has remove_rules but extends no profile"),
                ));
            }
            return Ok(own.clone());
        };
        if !self.doc.profiles.contains_key(&parent_name.value) {
            return Err(self.error(
                &parent_name.referenced,
                format!(
                    "profile {name:?} extends unknown profile {:?}",
                    parent_name.value
                ),
            ));
        }
        let mut merged = self.resolve(&parent_name.value, chain)?;
        if own.mode.is_some() {
            merged.mode = own.mode;
        }
        if own.default_action.is_some() {
            merged.default_action = own.default_action;
        }
        match (&mut merged.server, &own.server) {
            (Some(base), Some(child)) => merge_server(&mut base.value, &child.value),
            (None, Some(child)) => merged.server = Some(child.clone()),
            _ => {}
        }
        match (&mut merged.breaker, &own.breaker) {
            (Some(base), Some(child)) => merge_breaker(&mut base.value, &child.value),
            (None, Some(child)) => merged.breaker = Some(child.clone()),
            _ => {}
        }
        match (&mut merged.audit, &own.audit) {
            (Some(base), Some(child)) => merge_audit(&mut base.value, &child.value),
            (None, Some(child)) => merged.audit = Some(child.clone()),
            _ => {}
        }
        for removed in &own.remove_rules {
            let before = merged.rules.len();
            merged.rules.retain(|r| r.value.id != removed.value);
            if merged.rules.len() == before {
                return Err(self.error(
                    &removed.referenced,
                    format!(
                        "remove_rules names {:?}, which no parent profile has",
                        removed.value
                    ),
                ));
            }
        }
        for rule in &own.rules {
            match merged
                .rules
                .iter_mut()
                .find(|r| r.value.id == rule.value.id)
            {
                Some(existing) => merge_rule(&mut existing.value, &rule.value),
                None => merged.rules.push(rule.clone()),
            }
        }
        merged.extends = None;
        Ok(merged)
    }
}

/// `child` overrides the `server:` fields it states (`responses` whole).
pub(super) fn merge_server(base: &mut ServerDoc, child: &ServerDoc) {
    macro_rules! take {
        ($($f:ident),*) => { $( if child.$f.is_some() { base.$f = child.$f.clone(); } )* };
    }
    take!(descriptions, max_text, pins, hide_refused_tools, responses);
}

/// `child` overrides the breaker fields it states.
pub(super) fn merge_breaker(base: &mut BreakerDoc, child: &BreakerDoc) {
    macro_rules! take {
        ($($f:ident),*) => { $( if child.$f.is_some() { base.$f = child.$f.clone(); } )* };
    }
    take!(
        mode,
        rate_limits,
        loop_rule,
        max_calls,
        budget,
        tools,
        consecutive_errors,
        cooldown,
        max_cooldown
    );
}

/// `child` overrides the audit fields it states (a `redact` list replaces the parent's whole).
pub(super) fn merge_audit(base: &mut AuditDoc, child: &AuditDoc) {
    if child.log_allowed.is_some() {
        base.log_allowed = child.log_allowed;
    }
    if child.redact.is_some() {
        base.redact = child.redact.clone();
    }
    if child.server_requests.is_some() {
        base.server_requests = child.server_requests;
    }
}

/// `child` overrides the fields it states.
pub(super) fn merge_rule(base: &mut RuleDoc, child: &RuleDoc) {
    macro_rules! take {
        ($($f:ident),*) => { $( if child.$f.is_some() { base.$f = child.$f.clone(); } )* };
    }
    take!(
        description,
        servers,
        tools,
        except_tools,
        when,
        max_argument_bytes,
        egress,
        action,
        mode,
        reason,
        hint,
        approval
    );
    if let Some(cs) = &child.sql {
        let bs = base.sql.get_or_insert_with(SqlDoc::default);
        if cs.dialect.is_some() {
            bs.dialect = cs.dialect.clone();
        }
        if cs.max_rows.is_some() {
            bs.max_rows = cs.max_rows;
        }
        if cs.keys.is_some() {
            bs.keys = cs.keys.clone();
        }
        if cs.checks.is_some() {
            bs.checks = cs.checks.clone();
        }
        if cs.unparseable.is_some() {
            bs.unparseable = cs.unparseable;
        }
        if cs.unrecognised.is_some() {
            bs.unrecognised = cs.unrecognised;
        }
        if cs.destructive.is_some() {
            bs.destructive = cs.destructive;
        }
        if cs.prose.is_some() {
            bs.prose = cs.prose.clone();
        }
    }
}
