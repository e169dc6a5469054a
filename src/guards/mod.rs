//! The guards: each judges text or session state and returns findings (what is wrong and what
//! to do instead); what a finding means for a message (block, monitor, approve) is the
//! policy's business. `sql` reads SQL with sqlparser, `breaker` keeps per-session limits
//! (rates, loops, budgets, failing tools). They import only from `base`.

pub mod breaker;
pub mod sql;
