//! The guards: each judges text or session state and returns findings (what is wrong and what
//! to do instead); what a finding means for a message (block, monitor, approve) is the
//! policy's business. `sql` reads SQL with sqlparser, `egress` finds network destinations in
//! text, `secrets` finds and redacts credentials, `breaker` keeps per-session limits (rates,
//! loops, budgets, failing tools); on the server side `descriptions` scans what a server
//! lists, `rows` counts a SQL result's rows, `pins` keeps tool definitions per server. They
//! import only from `base`. `Mode` is here, below both
//! the policy that compiles guards' settings and the gateway that applies them.

pub mod breaker;
pub mod descriptions;
pub mod egress;
pub mod pins;
pub mod rows;
pub mod secrets;
pub mod sql;

/// Whether refusals are carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    /// Decide and audit, but forward: the audit entry says what would have happened.
    Monitor,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}
