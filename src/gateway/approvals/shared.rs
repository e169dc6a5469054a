//! What the 2026-07-28 approvals must remember beyond one call, behind [`ApprovalState`]: the
//! key sealed states are made with, and the nonces of states already used (a state is good
//! once). [`MemoryApprovals`] keeps both in this process (a key drawn at random at start, the
//! nonces in a map pruned as they expire): the default. [`RedisApprovals`] keeps them where
//! every Sentinel on one Redis sees them, so a state sealed by one instance opens at another
//! and is still good only once across all of them: the key is `sentinel:approvals:key` (set
//! once with `SET NX` by whichever instance comes first, then read by all), and a used nonce
//! is `sentinel:approvals:nonce:<hex>`, set with `SET NX` (atomic: one instance wins) and a
//! time to live that ends when the state expires. A store that cannot be reached fails closed:
//! nothing is sealed and no retry is let through.

use super::seal;
use crate::base::redis::{Failure, Outage, Redis};
use crate::guards::breaker::{StoreError, StoreErrorKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The key of the shared sealing key.
pub const KEY: &str = "sentinel:approvals:key";
/// What the keys of used nonces start with.
pub const NONCE_PREFIX: &str = "sentinel:approvals:nonce:";

/// Where the approvals' sealing key and used nonces live.
pub trait ApprovalState: Send + Sync {
    /// The key states are sealed and opened with.
    fn sealing_key(&self) -> Result<[u8; 32], StoreError>;

    /// Records `nonce` as used until `expires_ms`: true the first time, false for a replay.
    fn first_use(&self, nonce: &[u8; 16], expires_ms: u64, now_ms: u64)
        -> Result<bool, StoreError>;

    /// The store's outage flag, for stores that can fail.
    fn outage(&self) -> Option<&Outage> {
        None
    }
}

/// The key and nonces in this process's memory.
pub struct MemoryApprovals {
    key: [u8; 32],
    /// Nonces of states already used, with their expiry (Unix ms).
    used: Mutex<HashMap<[u8; 16], u64>>,
}

impl MemoryApprovals {
    /// With a fresh random key.
    pub fn new() -> MemoryApprovals {
        MemoryApprovals {
            key: seal::random(),
            used: Mutex::new(HashMap::new()),
        }
    }
}

impl ApprovalState for MemoryApprovals {
    fn sealing_key(&self) -> Result<[u8; 32], StoreError> {
        Ok(self.key)
    }

    fn first_use(
        &self,
        nonce: &[u8; 16],
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|_, exp| *exp >= now_ms);
        Ok(used.insert(*nonce, expires_ms).is_none())
    }
}

/// The key and nonces in Redis, shared by every Sentinel using it.
pub struct RedisApprovals {
    redis: Arc<Redis>,
}

impl RedisApprovals {
    pub fn new(redis: Arc<Redis>) -> RedisApprovals {
        RedisApprovals { redis }
    }

    fn error(&self, f: Failure) -> StoreError {
        StoreError {
            store: self.redis.name().to_owned(),
            kind: if f.unreachable {
                StoreErrorKind::Unreachable
            } else {
                StoreErrorKind::Refused
            },
            detail: f.detail,
        }
    }
}

impl ApprovalState for RedisApprovals {
    fn sealing_key(&self) -> Result<[u8; 32], StoreError> {
        // Read every time (approvals are rare): a Redis that lost its data gets a new key from
        // whichever instance asks first, and all instances follow it.
        let fresh = seal::hex(&seal::random::<32>());
        let stored: Option<String> = self
            .redis
            .run(|con| {
                let (stored,): (Option<String>,) = redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(KEY)
                    .arg(&fresh)
                    .arg("NX")
                    .ignore()
                    .cmd("GET")
                    .arg(KEY)
                    .query(con)?;
                Ok(stored)
            })
            .map_err(|f| self.error(f))?;
        let key = stored
            .as_deref()
            .and_then(unhex32)
            .ok_or_else(|| StoreError {
                store: self.redis.name().to_owned(),
                kind: StoreErrorKind::Unreadable,
                detail: format!("{KEY} is not 64 hexadecimal digits (delete it to make a new key)"),
            })?;
        Ok(key)
    }

    fn first_use(
        &self,
        nonce: &[u8; 16],
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let key = format!("{NONCE_PREFIX}{}", seal::hex(nonce));
        // Kept until the state expires (and a little past it, for clocks slightly apart).
        let ttl = expires_ms.saturating_sub(now_ms).saturating_add(60_000);
        let set: redis::Value = self
            .redis
            .run(|con| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query(con)
            })
            .map_err(|f| self.error(f))?;
        Ok(set != redis::Value::Nil)
    }

    fn outage(&self) -> Option<&Outage> {
        Some(self.redis.outage())
    }
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_a_nonce_is_good_once_until_it_expires() {
        let m = MemoryApprovals::new();
        assert_eq!(m.first_use(&[1; 16], 100, 0), Ok(true));
        assert_eq!(m.first_use(&[1; 16], 100, 50), Ok(false));
        assert_eq!(m.first_use(&[2; 16], 100, 50), Ok(true));
        assert_eq!(m.sealing_key(), m.sealing_key());
    }
}
