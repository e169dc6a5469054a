//! Where readers of the audit log (`sentinel audit stats|tail|query|verify`) find it when
//! they are not told: the same places the gateway writes it, in the same order of precedence
//! (`--audit-log`/`SENTINEL_AUDIT_LOG`, else `./security_audit.log`, else the per-user state
//! directory's file the gateway falls back to).

use super::{state_dir, DEFAULT_FILE};
use std::path::{Path, PathBuf};

/// The environment variable the gateway's `--audit-log` falls back to.
pub const ENV: &str = "SENTINEL_AUDIT_LOG";

/// The log to read: `explicit` when given, else `$SENTINEL_AUDIT_LOG` when set, else
/// `./security_audit.log` when it exists, else the state directory's file when it exists.
/// `Err` lists the places looked at (nothing there to read).
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, Vec<PathBuf>> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut looked = vec![PathBuf::from(DEFAULT_FILE)];
    if Path::new(DEFAULT_FILE).exists() {
        return Ok(PathBuf::from(DEFAULT_FILE));
    }
    if let Some(dir) = state_dir() {
        let p = dir.join(DEFAULT_FILE);
        if p.exists() {
            return Ok(p);
        }
        looked.push(p);
    }
    Err(looked)
}
