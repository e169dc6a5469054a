//! The 2026-07-28 multi round-trip approval: a first call is answered `input_required` with
//! Sentinel's form in `inputRequests` and a sealed `requestState` (`seal`); the client's retry
//! goes on when the state verifies, is used once, and carries an approving answer, with
//! Sentinel's own fields removed (the one place a forwarded message is rewritten). Nothing is
//! held in this flow.

use super::{elicit, seal, End, Hold, INPUT_KEY};
use crate::audit::{Action as AuditAction, ApprovalNote};
use crate::base::clock;
use crate::base::jsonrpc::{self, Message, RawId};
use crate::gateway::session::{remember_answered, ClientSide};
use crate::gateway::Gateway;
use crate::policy::Hit;
use serde_json::{json, Value};

impl Gateway {
    /// The 2026-07-28 flow: a first call is answered `input_required` with a sealed state;
    /// a retry with a valid state and an approving answer goes on, without Sentinel's fields.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn mrtr(
        &self,
        client: &mut ClientSide,
        msg: &Message,
        raw: &[u8],
        hit: &Hit,
        id: &RawId,
        tool: &str,
        canonical_args: &str,
        params: &Value,
        reply: &mut Vec<u8>,
    ) -> Hold {
        let approval = hit.approval.unwrap_or_default();
        let binding = seal::Binding {
            method: "tools/call",
            tool,
            canonical_args,
        };
        let now_ms = clock::millis(self.clock.now());
        let state = params.get("requestState").and_then(Value::as_str);
        let response = params.get("inputResponses").and_then(|r| r.get(INPUT_KEY));
        let sealer = match self.approvals.state.sealing_key() {
            Ok(key) => {
                self.approvals_store_answered();
                seal::Sealer::from_key(key)
            }
            Err(e) => {
                // Fail closed: without the shared key nothing can be sealed or opened.
                self.approvals_store_failed(&e);
                let mut refused = hit.clone();
                refused.detail = format!(
                    "{}; {e}; the approval cannot be sealed or checked, so the call is refused",
                    hit.detail
                );
                refused.hint = "retry the call later, when Sentinel's shared state is back".into();
                self.block(client, msg, raw, &refused, reply);
                return Hold::Done;
            }
        };
        let Some(state) = state.filter(|s| s.starts_with("sntl1.") || response.is_some()) else {
            // The first round: ask.
            let nonce = seal::random::<16>();
            let expires = now_ms + approval.timeout.as_millis() as u64;
            let sealed = sealer.seal(&binding, expires, &nonce);
            let tool_shown = self.clean(tool).into_owned();
            let req = elicit::Request {
                server: &self.server_name,
                tool: &tool_shown,
                rule: &hit.rule,
                reason: &hit.reason,
                detail: &self.clean(&hit.detail),
                arguments: params.get("arguments"),
                timeout_s: approval.timeout.as_secs(),
                allow_session: approval.allow_session,
            };
            let result = json!({
                "resultType": "input_required",
                "inputRequests": {
                    INPUT_KEY: {"method": "elicitation/create", "params": elicit::params(&req)},
                },
                "requestState": sealed,
            });
            let note = ApprovalNote {
                channel: "client-retry",
                by: None,
                answer: None,
                waited_ms: None,
                held_id: None,
            };
            self.record_note(msg, raw, hit, AuditAction::Held, Some(note));
            self.term.alert(|| {
                (
                    format!(
                        "{} rule={} asked for approval",
                        self.headline(msg),
                        hit.rule
                    ),
                    vec![format!(
                        "{}: {} (2026-07-28: answered input_required; the client's retry \
                         carries the answer)",
                        hit.reason,
                        self.clean(&hit.detail)
                    )],
                )
            });
            jsonrpc::write_result(reply, Some(id), result.to_string().as_bytes());
            remember_answered(client, id);
            return Hold::Done;
        };
        let opened = match sealer.open(state, &binding, now_ms) {
            Err(e) => Err(e.describe().to_owned()),
            Ok((nonce, expires)) => match self.approvals.state.first_use(&nonce, expires, now_ms) {
                Ok(true) => Ok(()),
                Ok(false) => Err(seal::StateError::Replayed.describe().to_owned()),
                Err(e) => {
                    // Fail closed: a state whose single use cannot be recorded is not used.
                    self.approvals_store_failed(&e);
                    Err(format!(
                        "{e}; the state's single use cannot be checked, so the call is refused"
                    ))
                }
            },
        };
        let reading = response.map(elicit::read_result);
        let end = match (opened, reading) {
            (Err(e), _) => {
                let mut refused = hit.clone();
                refused.detail = format!("{}; {e}", hit.detail);
                refused.hint = "retry the call without requestState to be asked again".into();
                self.block(client, msg, raw, &refused, reply);
                return Hold::Done;
            }
            (Ok(()), Some(elicit::Reading::Approve { session })) => End::Approve {
                session: session && approval.allow_session,
            },
            (Ok(()), Some(elicit::Reading::Deny(why))) => End::Deny(why),
            (Ok(()), None) => End::Deny("the retry carried no answer to Sentinel's request".into()),
        };
        let by = self.client_name();
        let note = ApprovalNote {
            channel: "client-retry",
            by: Some(&by),
            answer: Some(end.answer()),
            waited_ms: None,
            held_id: None,
        };
        match end {
            End::Approve { session } => {
                if session {
                    self.approvals
                        .lock()
                        .session_ok
                        .insert(format!("{tool}\0{canonical_args}"));
                }
                self.record_note(msg, raw, hit, AuditAction::Approved, Some(note));
                self.term.notice(&format!(
                    "{} approved by {by} (2026-07-28 retry)",
                    self.headline(msg)
                ));
                Hold::Proceed(Some(strip_sentinel_fields(raw)))
            }
            End::Deny(why) => {
                let mut denied = hit.clone();
                denied.detail = format!("{}; {why}", hit.detail);
                self.record_note(msg, raw, &denied, AuditAction::Denied, Some(note));
                self.write_refusal(msg, id, &denied, &denied.detail, Some("denied"), reply);
                remember_answered(client, id);
                Hold::Done
            }
            _ => unreachable!("a retry is approved or denied"),
        }
    }
}

impl Gateway {
    /// The approvals' shared store failed: said once per outage (see `circuit`).
    fn approvals_store_failed(&self, e: &crate::guards::breaker::StoreError) {
        if let Some(outage) = self.approvals.state.outage() {
            self.store_down(
                outage,
                &format!(
                    "{e}; 2026-07-28 approvals cannot be sealed or checked for single use, so \
                     they are refused until it answers again"
                ),
            );
        }
    }

    fn approvals_store_answered(&self) {
        if let Some(outage) = self.approvals.state.outage() {
            self.store_up(outage);
        }
    }
}

/// The retry without Sentinel's `requestState` and its entry in `inputResponses`: the one
/// place a forwarded message is rewritten (re-serialized compactly, keys sorted).
fn strip_sentinel_fields(raw: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(raw) else {
        return raw.to_vec();
    };
    if let Some(p) = v.get_mut("params").and_then(Value::as_object_mut) {
        p.remove("requestState");
        let empty = match p.get_mut("inputResponses").and_then(Value::as_object_mut) {
            Some(r) => {
                r.remove(INPUT_KEY);
                r.is_empty()
            }
            None => false,
        };
        if empty {
            p.remove("inputResponses");
        }
    }
    v.to_string().into_bytes()
}
