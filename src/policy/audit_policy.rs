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

/// Why `text` is not a JSON Pointer (RFC 6901) to a value inside the arguments, if it is not:
/// it must start with '/' (the whole arguments object is not a path to redact) and use `~`
/// only in the escapes `~0` (for `~`) and `~1` (for `/`).
pub fn pointer_problem(text: &str) -> Option<&'static str> {
    if !text.starts_with('/') {
        return Some(
            "is not a JSON Pointer: it must start with '/' (e.g. /password, /db/credentials/0)",
        );
    }
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Some("has a '~' that is not ~0 (for '~') or ~1 (for '/'), as RFC 6901 says");
        }
    }
    None
}

/// The reference tokens of a pointer [`pointer_problem`] accepts, unescaped (`~1` before `~0`,
/// as RFC 6901 says: `~01` is the token `~1`).
pub fn pointer_tokens(text: &str) -> Vec<String> {
    text.strip_prefix('/')
        .map(|rest| {
            rest.split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_checked_and_unescaped_as_rfc_6901_says() {
        assert_eq!(pointer_problem("/password"), None);
        assert_eq!(pointer_problem("/db/credentials/0"), None);
        assert_eq!(pointer_problem("/a~1b/c~0d"), None);
        assert!(pointer_problem("password").is_some());
        assert!(pointer_problem("").is_some());
        assert!(pointer_problem("/a~2").is_some());
        assert!(pointer_problem("/a~").is_some());
        assert_eq!(pointer_tokens("/a~1b/c~0d/~01"), ["a/b", "c~d", "~1"]);
        assert_eq!(pointer_tokens("/"), [""]);
        assert_eq!(
            pointer_tokens("/db/credentials/0"),
            ["db", "credentials", "0"]
        );
    }
}
