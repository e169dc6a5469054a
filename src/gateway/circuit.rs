//! The gateway's use of the circuit breaker: asking it about a `tools/call` the policy let
//! through (a refusal, or what would have been one in monitor mode), and logging and auditing
//! its circuits changing state and a shared store's outages (once when it starts failing, once
//! when it answers again). The breaker's decisions themselves are `guards::breaker`'s.

use super::{answers::internal_error, Gateway};
use crate::base::clock;
use crate::base::jsonrpc::{Kind, Message};
use crate::base::redis::Outage;
use crate::guards::breaker::{self, CallFacts, StoreError, StoreFail, Transition};
use crate::policy::{self, Hit, Mode, Policy};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The breaker store's key for a gateway's session unless `Gateway::with_store` says otherwise
/// (one stdio session per process).
pub(super) const SESSION: &str = "stdio";

impl Gateway {
    /// Asks the circuit breaker about a `tools/call` the policy allowed; a refusal (or, in
    /// monitor mode, what would have been one) comes back as a hit.
    pub(super) fn breaker_admit(&self, policy: &Policy, msg: &Message) -> Option<Hit> {
        let cfg = &policy.breaker;
        let mode = cfg.mode?;
        let tool = msg.tool_name().unwrap_or("");
        let request = msg
            .id
            .as_ref()
            .filter(|_| msg.kind == Kind::Request)
            .map(|id| self.probe_key(&id.key()));
        let call = CallFacts {
            tool,
            arguments: msg.params.as_ref().and_then(|p| p.get("arguments")),
            request: request.as_deref(),
        };
        let now = clock::millis(self.clock.now());
        let mut changes = Vec::new();
        let mut refusal = None;
        let judged = catch_unwind(AssertUnwindSafe(|| {
            self.store.with_session(&self.store_key, &mut |st| {
                // A shared store may run this again on a fresh copy: start over each time.
                changes.clear();
                refusal = breaker::admit(cfg, st, &call, now, mode == Mode::Monitor, &mut changes);
            })
        }));
        let enforced = match judged {
            Err(_) => return Some(internal_error()),
            Ok(Ok(())) => {
                self.store_answered();
                self.transitions(&changes);
                mode == Mode::Enforce
            }
            Ok(Err(e)) => {
                self.store_failed(&e);
                refusal = Some(breaker::unchecked(&e, self.state_fail));
                mode == Mode::Enforce && self.state_fail == StoreFail::Closed
            }
        };
        refusal.map(|r| Hit {
            rule: r.rule.to_owned(),
            action: policy::Action::Block,
            enforced,
            reason: r.reason.to_owned(),
            detail: r.detail,
            hint: r.hint,
            pointer: String::new(),
            retry_at: r
                .retry_at_ms
                .map(|ms| clock::rfc3339(clock::from_millis(ms))),
            approval: None,
        })
    }

    /// A request's key as the breaker's probe is known by: with this session's id first, so a
    /// store shared by many sessions never takes another session's request `1` for ours.
    pub(super) fn probe_key(&self, key: &str) -> String {
        format!("{}/{key}", self.audit.session_id())
    }

    /// A call to the breaker's store failed: said on stderr and audited when it starts an
    /// outage (every call refused or let through unchecked is audited on its own anyway).
    pub(super) fn store_failed(&self, e: &StoreError) {
        let Some(outage) = self.store.outage() else {
            return;
        };
        let what = match self.state_fail {
            StoreFail::Closed => {
                "budgets and rate limits cannot be checked, so tool calls are refused until it \
                 answers again (restore Redis or start Sentinel with --state-fail open)"
            }
            StoreFail::Open => {
                "budgets and rate limits cannot be checked, and tool calls are let through \
                 unchecked until it answers again (--state-fail open)"
            }
        };
        self.store_down(outage, &format!("{e}; {what}"));
    }

    /// A call to the breaker's store worked: said once when it ends an outage.
    pub(super) fn store_answered(&self) {
        if let Some(outage) = self.store.outage() {
            self.store_up(outage);
        }
    }

    /// Says (once per outage) that a shared store stopped answering.
    pub(super) fn store_down(&self, outage: &Outage, text: &str) {
        if outage.went_down() {
            self.term.warn(text);
            self.audit.event(
                "state_store_down",
                breaker::STATE_STORE_RULE,
                "State Store Unavailable",
                None,
                text,
            );
        }
    }

    /// Says (once) that a shared store answers again after an outage.
    pub(super) fn store_up(&self, outage: &Outage) {
        if outage.came_back() {
            let text = format!(
                "the shared state store ({}) answers again: budgets, rate limits and \
                 approvals are checked against it again",
                outage.name()
            );
            self.term.notice(&text);
            self.audit.event(
                "state_store_up",
                breaker::STATE_STORE_RULE,
                "State Store Restored",
                None,
                &text,
            );
        }
    }

    /// Logs and audits breakers changing state.
    pub(super) fn transitions(&self, changes: &[Transition]) {
        for t in changes {
            let text = match t.until_ms {
                Some(until) => format!(
                    "circuit for tool {:?} {} -> {}: {}; calls refused until {}",
                    t.tool,
                    t.from,
                    t.to,
                    t.why,
                    clock::rfc3339(clock::from_millis(until))
                ),
                None => format!(
                    "circuit for tool {:?} {} -> {}: {}",
                    t.tool, t.from, t.to, t.why
                ),
            };
            if t.to == "open" {
                self.term.warn(&text);
            } else {
                self.term.notice(&text);
            }
            let action = match t.to {
                "open" => "breaker_open",
                "half-open" => "breaker_half_open",
                _ => "breaker_closed",
            };
            self.audit.event(
                action,
                "breaker.state",
                "Circuit Breaker",
                Some(&t.tool),
                &text,
            );
        }
    }
}
