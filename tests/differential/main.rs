//! The differential harness (placeholder while it is built): the oracle's own tests.

#[path = "../support/sql_oracle.rs"]
mod sql_oracle;

mod oracle;
