//! Human approval: calls a rule sends to `approve` are held, not refused, while a person
//! answers through the channel this client and host offer (the client's elicitation, the
//! 2026-07-28 retry, or `sentinel approvals` on this host); silence means no.

pub mod local;

use super::Gateway;
use local::{AnswerError, HeldCall, LocalAnswer, LocalChannel};
use std::sync::Arc;

impl Gateway {
    /// Attaches the out-of-band listener (the transport calls this once, before traffic).
    pub fn set_local_channel(&self, channel: Arc<dyn LocalChannel>) {
        let _ = channel; // replaced by the real table of held calls
    }

    /// Every call this gateway holds now, oldest first.
    pub fn held_calls(&self) -> Vec<HeldCall> {
        Vec::new()
    }

    /// A person's answer from this host.
    pub fn answer_local(&self, answer: LocalAnswer) -> Result<(), AnswerError> {
        Err(AnswerError::Unknown(answer.id))
    }
}
