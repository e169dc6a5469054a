//! `--state` and `--state-fail`: where the breaker's sessions and the approvals' sealing key
//! and used nonces live, read from the command line ([`parse_url`], [`parse_fail`]) and opened
//! for a session ([`open_state`]): this process's memory (the default, each gateway as it
//! always was), or a Redis every Sentinel using it shares (`redis://HOST:PORT/DB`). A Redis
//! that cannot be reached at start does not stop Sentinel: it says so loudly, and each call
//! then meets `--state-fail` until Redis answers.

use super::Options;
use crate::base::redis::Redis;
use crate::base::term::Term;
use crate::gateway::approvals::{ApprovalState, MemoryApprovals, RedisApprovals};
use crate::gateway::Gateway;
use crate::guards::breaker::{MemoryStore, RedisStore, Store, StoreFail};
use std::sync::Arc;

/// The state a session's gateways use.
pub struct State {
    /// Where the breaker's sessions live.
    pub store: Arc<dyn Store>,
    /// Where the approvals' sealing key and used nonces live.
    pub approvals: Arc<dyn ApprovalState>,
    /// What a call meets when the store fails.
    pub fail: StoreFail,
    /// The shared store's name (`redis://HOST:PORT/DB`), or `None` for memory.
    pub shared: Option<String>,
}

impl State {
    /// `gateway` with this state, its breaker state under `key`. In memory a proxy or demo
    /// gateway keeps its own (one session per process, as without `--state`); a caller with
    /// many gateways (HTTP) passes each tenant's key and they share this store.
    pub fn apply(&self, gateway: Gateway, key: String) -> Gateway {
        gateway
            .with_store(self.store.clone(), key)
            .with_approval_state(self.approvals.clone())
            .with_state_fail(self.fail)
    }
}

/// `--state`'s value: `None` for `memory`, else the checked `redis://` URL.
pub fn parse_url(v: &str) -> Result<Option<String>, String> {
    if v == "memory" {
        return Ok(None);
    }
    crate::base::redis::check(v)?;
    Ok(Some(v.to_owned()))
}

/// `--state-fail`'s value.
pub fn parse_fail(v: &str) -> Result<StoreFail, String> {
    match v {
        "closed" => Ok(StoreFail::Closed),
        "open" => Ok(StoreFail::Open),
        _ => Err(format!(
            "invalid value '{v}' for --state-fail: expected 'closed' or 'open'"
        )),
    }
}

/// The state `opts` asks for. A Redis that does not answer now is warned about, not refused:
/// Sentinel starts, and each call meets `--state-fail` until it answers.
pub fn open_state(opts: &Options, term: &Term) -> Result<State, String> {
    let Some(url) = opts.state.as_deref() else {
        return Ok(State {
            store: Arc::new(MemoryStore::default()),
            approvals: Arc::new(MemoryApprovals::new()),
            fail: opts.state_fail,
            shared: None,
        });
    };
    let redis = Arc::new(Redis::open(url)?);
    let name = redis.name().to_owned();
    match redis.ping() {
        Ok(()) => term.info(&format!(
            "state: shared in {name} (breaker keys {}*, approvals {}*; --state-fail {})",
            crate::guards::breaker::redis::PREFIX,
            "sentinel:approvals:",
            fail_name(opts.state_fail)
        )),
        Err(e) => term.warn(&format!(
            "the shared state store ({name}) is unreachable at start: {}; Sentinel starts \
             anyway, and until it answers {}, and 2026-07-28 approvals are refused",
            e.detail,
            match opts.state_fail {
                StoreFail::Closed =>
                    "every tool call the breaker checks is refused (--state-fail closed)",
                StoreFail::Open =>
                    "tool calls are let through without budgets or rate limits (--state-fail open)",
            }
        )),
    }
    Ok(State {
        store: Arc::new(RedisStore::new(redis.clone())),
        approvals: Arc::new(RedisApprovals::new(redis)),
        fail: opts.state_fail,
        shared: Some(name),
    })
}

fn fail_name(f: StoreFail) -> &'static str {
    match f {
        StoreFail::Closed => "closed",
        StoreFail::Open => "open",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_values_are_checked() {
        assert_eq!(parse_url("memory"), Ok(None));
        assert_eq!(
            parse_url("redis://127.0.0.1:6379/0"),
            Ok(Some("redis://127.0.0.1:6379/0".into()))
        );
        assert!(parse_url("rediss://h/0").is_err());
        assert!(parse_url("postgres://h/0").is_err());
        assert_eq!(parse_fail("open"), Ok(StoreFail::Open));
        assert!(parse_fail("maybe").is_err());
    }
}
