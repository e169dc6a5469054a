//! The policy in force: one compiled [`Policy`] behind a lock, replaced whole. The gateway
//! takes a snapshot for each client line (a batch included), so a reload never judges a
//! message half by the old and half by the new policy; the reload thread swaps in a new one
//! only once it compiled completely.

use super::Policy;
use std::sync::{Arc, RwLock};

/// The policy in force (shared by the gateway, which reads it, and the reload thread).
pub struct Live(RwLock<Arc<Policy>>);

impl Live {
    pub fn new(policy: Arc<Policy>) -> Live {
        Live(RwLock::new(policy))
    }

    /// A snapshot of the policy in force.
    pub fn get(&self) -> Arc<Policy> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `policy` in force for every line judged from now on.
    pub fn set(&self, policy: Arc<Policy>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }
}
