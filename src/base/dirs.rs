//! Sentinel's per-user state directory: `$XDG_STATE_HOME/mcp-sentinel`, else
//! `$HOME/.local/state/mcp-sentinel` (the XDG base-directory rule). The audit log falls back
//! to it and pins live under it; creating it, and its permissions, are each user's business.

use std::path::PathBuf;

/// `$XDG_STATE_HOME/mcp-sentinel`, else `$HOME/.local/state/mcp-sentinel`; `None` without
/// either variable.
pub fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(base.join("mcp-sentinel"))
}
