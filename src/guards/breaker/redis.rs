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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::breaker::{admit, CallFacts, Config};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// A private `redis-server` on a free port, killed on drop.
    struct Server(Child, String);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn server() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed (Debian: apt-get install redis-server)");
        let s = Server(child, format!("redis://127.0.0.1:{port}/0"));
        let start = Instant::now();
        while Redis::open(&s.1).unwrap().ping().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// Threads with a connection each change one session at once: every change lands (the
    /// transaction starts over when another got in first), and a call limit holds exactly.
    #[test]
    fn concurrent_writers_lose_no_change_and_hold_a_limit_exactly() {
        let s = server();
        let mut cfg = Config::defaults();
        cfg.max_calls = Some(50);
        cfg.loop_rule = None;
        cfg.rate_limits.clear();
        let cfg = Arc::new(cfg);
        let allowed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let store = RedisStore::new(Arc::new(Redis::open(&s.1).unwrap()));
                    let cfg = cfg.clone();
                    scope.spawn(move || {
                        let mut allowed = 0;
                        for _ in 0..30 {
                            let mut refused = None;
                            store
                                .with_session("t", &mut |st| {
                                    let call = CallFacts {
                                        tool: "echo",
                                        arguments: None,
                                        request: None,
                                    };
                                    refused = admit(&cfg, st, &call, 1, false, &mut Vec::new());
                                })
                                .unwrap();
                            allowed += usize::from(refused.is_none());
                        }
                        allowed
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(allowed, 50);
        let store = RedisStore::new(Arc::new(Redis::open(&s.1).unwrap()));
        let mut calls = 0;
        store.with_session("t", &mut |st| calls = st.calls).unwrap();
        assert_eq!(calls, 50);
    }

    #[test]
    fn unreadable_state_and_a_missing_server_are_typed_errors() {
        let s = server();
        let redis = Arc::new(Redis::open(&s.1).unwrap());
        redis
            .run(|c| {
                redis::cmd("SET")
                    .arg("sentinel:breaker:bad")
                    .arg("{")
                    .exec(c)
            })
            .unwrap();
        let store = RedisStore::with_ttl(redis, Duration::from_secs(60));
        let e = store.with_session("bad", &mut |_| {}).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Unreadable, "{e}");
        assert!(e.to_string().contains("delete the key"), "{e}");
        // A fresh key gets the TTL asked for.
        store.with_session("good", &mut |st| st.calls = 7).unwrap();
        let ttl: i64 = store
            .redis
            .run(|c| redis::cmd("PTTL").arg("sentinel:breaker:good").query(c))
            .unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
        let url = s.1.clone();
        drop(s);
        let gone = RedisStore::new(Arc::new(Redis::open(&url).unwrap()));
        let e = gone.with_session("good", &mut |_| {}).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Unreachable, "{e}");
        assert!(e
            .to_string()
            .starts_with(&format!("the shared state store ({url}) is unreachable: ")));
    }
}
