//! The gateway's use of the circuit breaker: asking it about a `tools/call` the policy let
//! through (a refusal, or what would have been one in monitor mode), and logging and auditing
//! its circuits changing state. The breaker's decisions themselves are `guards::breaker`'s.

use super::{answers::internal_error, Gateway};
use crate::base::clock;
use crate::base::jsonrpc::{Kind, Message, RawId};
use crate::guards::breaker::{self, CallFacts, Transition};
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
            .map(RawId::key);
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
                refusal = breaker::admit(cfg, st, &call, now, mode == Mode::Monitor, &mut changes);
            })
        }));
        self.transitions(&changes);
        if judged.is_err() {
            return Some(internal_error());
        }
        refusal.map(|r| Hit {
            rule: r.rule.to_owned(),
            action: policy::Action::Block,
            enforced: mode == Mode::Enforce,
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
