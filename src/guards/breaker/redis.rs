//! The breaker's state shared by every Sentinel that names the same Redis (`--state
//! redis://...`): [`RedisStore`] keeps each session as JSON under `sentinel:breaker:<key>`
//! and changes it atomically with an optimistic transaction (`WATCH`, `GET`, the change made
//! here, then `SET` inside `MULTI`/`EXEC`, which Redis refuses when another writer changed the
//! key after the `WATCH`: then the whole read-change-write starts over, at most
//! [`TRIES`] times). Each write renews the key's time to live, so the state of a tenant or
//! server nobody calls any more expires by itself.

use super::state::{SessionState, Store, StoreError, StoreErrorKind};
use crate::base::redis::{Failure, Outage, Redis};
use std::sync::Arc;
use std::time::Duration;

/// What every breaker key starts with.
pub const PREFIX: &str = "sentinel:breaker:";

/// How long a session's state outlives its last change (24 hours): far past the longest
/// window, cooldown or refill the breaker works with in practice (the defaults' longest is the
/// 10-minute `max_cooldown`), so only state nobody has touched for a day is forgotten; its
/// budgets and counts then start again, like a new session's.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How many times a change is tried when other writers keep changing the same session first.
pub const TRIES: usize = 64;

/// Session states in Redis.
pub struct RedisStore {
    redis: Arc<Redis>,
    ttl_ms: u64,
}

impl RedisStore {
    pub fn new(redis: Arc<Redis>) -> RedisStore {
        RedisStore::with_ttl(redis, TTL)
    }

    pub fn with_ttl(redis: Arc<Redis>, ttl: Duration) -> RedisStore {
        RedisStore {
            redis,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1),
        }
    }

    fn error(&self, kind: StoreErrorKind, detail: String) -> StoreError {
        StoreError {
            store: self.redis.name().to_owned(),
            kind,
            detail,
        }
    }
}

/// How one attempt ended, inside the connection's call.
enum Attempt {
    Saved,
    Unreadable(String),
    Contended,
}

impl Store for RedisStore {
    fn with_session(
        &self,
        session: &str,
        f: &mut dyn FnMut(&mut SessionState),
    ) -> Result<(), StoreError> {
        let key = format!("{PREFIX}{session}");
        let ttl = self.ttl_ms;
        let attempt = self.redis.run(|con| {
            for _ in 0..TRIES {
                redis::cmd("WATCH").arg(&key).exec(con)?;
                let old: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(con)?;
                let mut state = match old.as_deref().map(serde_json::from_slice) {
                    None => SessionState::default(),
                    Some(Ok(state)) => state,
                    Some(Err(e)) => {
                        redis::cmd("UNWATCH").exec(con)?;
                        return Ok(Attempt::Unreadable(format!("key {key}: {e}")));
                    }
                };
                f(&mut state);
                let new = serde_json::to_vec(&state)
                    .unwrap_or_else(|e| unreachable!("a session state always serialises: {e}"));
                let saved: Option<()> = redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(&key)
                    .arg(new)
                    .arg("PX")
                    .arg(ttl)
                    .ignore()
                    .query(con)?;
                if saved.is_some() {
                    return Ok(Attempt::Saved);
                }
                // Another writer changed the session after our WATCH: start over.
            }
            Ok(Attempt::Contended)
        });
        match attempt {
            Ok(Attempt::Saved) => Ok(()),
            Ok(Attempt::Unreadable(why)) => Err(self.error(
                StoreErrorKind::Unreadable,
                format!("{why} (delete the key to start this session's state afresh)"),
            )),
            Ok(Attempt::Contended) => Err(self.error(
                StoreErrorKind::Contended,
                format!("other writers changed {key} first {TRIES} times in a row"),
            )),
            Err(Failure {
                unreachable,
                detail,
            }) => Err(self.error(
                if unreachable {
                    StoreErrorKind::Unreachable
                } else {
                    StoreErrorKind::Refused
                },
                detail,
            )),
        }
    }

    fn outage(&self) -> Option<&Outage> {
        Some(self.redis.outage())
    }
}
