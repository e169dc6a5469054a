//! What the policy asks of the audit log: whether every decision is logged (allowed calls
//! too), which argument paths are redacted from every entry, and whether the server's own
//! requests to the client (sampling, elicitation, roots) are recorded.

/// The `audit:` section of a profile, compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPolicy {
    /// Log allowed calls too (action `allowed`).
    pub log_allowed: bool,
    /// JSON Pointers into a call's `arguments` whose values are redacted in every entry.
    pub redact: Vec<String>,
    /// Record the server's requests to the client.
    pub server_requests: bool,
}
