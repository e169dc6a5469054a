//! Bearer tokens (`--tokens FILE`, for `sentinel serve`): the file maps the SHA-256 of each
//! token (never the token itself) to a tenant and the policy profile it selects. A request's
//! `Authorization: Bearer TOKEN` is hashed and compared with every entry in constant time;
//! the file is reloaded when it changes, like the policy, and a file that does not load never
//! replaces the one in force.
//!
//! ```yaml
//! tokens:
//!   - sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//!     tenant: team-a
//!     profile: readonly   # optional: the tenant's name is used when omitted
//! ```

use crate::base::hex::{hex, unhex};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Who a request is for: the tenant its token maps to, and the policy profile it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub name: String,
    pub profile: String,
}

/// Why a request was not authenticated (each is a 401 with `WWW-Authenticate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer TOKEN`.
    Malformed,
    /// A token the file does not list.
    Unknown,
}

impl AuthFailure {
    /// The `error` of the `WWW-Authenticate` challenge (RFC 6750 section 3).
    pub fn challenge(self) -> &'static str {
        match self {
            AuthFailure::Missing => "Bearer realm=\"sentinel\"",
            AuthFailure::Malformed => "Bearer realm=\"sentinel\", error=\"invalid_request\"",
            AuthFailure::Unknown => "Bearer realm=\"sentinel\", error=\"invalid_token\"",
        }
    }
}

/// A tokens file that cannot be used: the file and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub struct TokensError(pub String);

impl std::fmt::Display for TokensError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    tokens: Vec<EntryDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryDoc {
    sha256: String,
    tenant: String,
    #[serde(default)]
    profile: Option<String>,
}

struct Entry {
    hash: [u8; 32],
    tenant: Arc<Tenant>,
}

/// What the file held when it was last read, and how to tell that it changed.
struct Loaded {
    entries: Vec<Entry>,
    stamp: Option<(SystemTime, u64)>,
}

/// The tokens file in force.
pub struct Tokens {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl Tokens {
    /// Reads the file; an error names the file and what is wrong (a bad hash names its entry).
    pub fn load(path: &Path) -> Result<Tokens, TokensError> {
        let (entries, stamp) = read(path)?;
        Ok(Tokens {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded { entries, stamp }),
        })
    }

    /// Reads the file again if it changed since it was last read. Returns the error when the
    /// new file cannot be used; the tokens in force then stay as they were.
    pub fn reload_if_changed(&self) -> Result<bool, TokensError> {
        let stamp = stamp(&self.path);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_some() && stamp == loaded.stamp {
            return Ok(false);
        }
        let (entries, stamp) = read(&self.path)?;
        *loaded = Loaded { entries, stamp };
        Ok(true)
    }

    /// The tenant of a request's `Authorization` header.
    pub fn check(&self, authorization: Option<&str>) -> Result<Arc<Tenant>, AuthFailure> {
        let header = authorization.ok_or(AuthFailure::Missing)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or(AuthFailure::Malformed)?;
        let token = token.trim_start();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
            return Err(AuthFailure::Malformed);
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        // Every entry is compared, each in constant time, so the time taken says nothing about
        // which entry (or how much of one) matched.
        let mut found = None;
        for e in &loaded.entries {
            if constant_time_eq(&e.hash, &hash) {
                found = Some(e.tenant.clone());
            }
        }
        found.ok_or(AuthFailure::Unknown)
    }
}

/// The SHA-256 of a token as the tokens file holds it (lower-case hex).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

type Read = (Vec<Entry>, Option<(SystemTime, u64)>);

fn read(path: &Path) -> Result<Read, TokensError> {
    let fail = |what: String| TokensError(format!("tokens file {}: {what}", path.display()));
    let stamp = stamp(path);
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let doc: FileDoc = serde_saphyr::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let mut entries: Vec<Entry> = Vec::with_capacity(doc.tokens.len());
    for (i, e) in doc.tokens.into_iter().enumerate() {
        let n = i + 1;
        let hash = unhex::<32>(e.sha256.trim()).ok_or_else(|| {
            fail(format!(
                "entry {n}: sha256 must be 64 hexadecimal digits (the SHA-256 of the token, as \
                 `printf %s TOKEN | sha256sum` prints it), never the token itself"
            ))
        })?;
        if e.tenant.trim().is_empty() {
            return Err(fail(format!("entry {n}: tenant is empty")));
        }
        if entries.iter().any(|x| x.hash == hash) {
            return Err(fail(format!(
                "entry {n}: the same token is listed twice; each token maps to one tenant"
            )));
        }
        let profile = e.profile.unwrap_or_else(|| e.tenant.clone());
        entries.push(Entry {
            hash,
            tenant: Arc::new(Tenant {
                name: e.tenant,
                profile,
            }),
        });
    }
    Ok((entries, stamp))
}

/// Equality of two hashes whose time does not depend on where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for i in 0..32 {
        diff |= a[i] ^ b[i];
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests;
