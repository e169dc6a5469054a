//! The circuit breaker: per-session limits that need memory across calls. This module owns
//! the breaker's settings ([`Config`], compiled from a policy profile's `breaker:` section), the
//! state of one session ([`SessionState`]: token buckets, recent call fingerprints, call counts
//! and spend, one breaker per tool), the [`Store`] interface that state lives behind (in memory
//! per gateway process by default; [`RedisStore`] shares it between processes), and the
//! decisions made on it: [`admit`] for a `tools/call` about to be forwarded, [`observe`] for
//! the server's answer to one, and [`unchecked`] for a call whose state could not be reached
//! (refused unless `--state-fail open`). Time is passed in as milliseconds from the gateway's clock, so nothing here
//! reads a clock or sleeps. Breaker states per tool: closed -> open (calls refused until a
//! cooldown passes) -> half-open (one probe call) -> closed, or open again if the probe fails.

use crate::base::glob::Glob;
use crate::base::jsonrpc::Json;

mod config;
mod fingerprint;
pub mod redis;
mod state;
#[cfg(test)]
mod tests;

pub use config::{duration_text, Config, LoopRule, RateLimit, ToolBudget};
pub use fingerprint::fingerprint;
pub use redis::RedisStore;
use state::Bucket;
pub use state::{MemoryStore, SessionState, State, Store, StoreError, StoreErrorKind};

/// Most call fingerprints remembered for loop detection, whatever the window.
const MAX_RECENT: usize = 10_000;

/// Why a call was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// `breaker.open`, `breaker.half_open`, `breaker.loop`, `breaker.rate`,
    /// `breaker.max_calls`, `breaker.budget`.
    pub rule: &'static str,
    /// Stable audit category.
    pub reason: &'static str,
    pub detail: String,
    pub hint: String,
    /// When a retry can succeed (ms since the epoch), if the refusal is temporary.
    pub retry_at_ms: Option<u64>,
}

/// A breaker changing state, to be logged and audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub tool: String,
    pub from: &'static str,
    pub to: &'static str,
    /// Why, in words.
    pub why: String,
    /// For an opening: when it half-opens (ms since the epoch).
    pub until_ms: Option<u64>,
}

/// What a call meets when its session's state cannot be loaded or saved (`--state-fail`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoreFail {
    /// Refused: budgets and rate limits that cannot be checked do not hold (the default).
    #[default]
    Closed,
    /// Let through unchecked, recorded as what would have been refused.
    Open,
}

/// The rule id of a call whose state could not be checked.
pub const STATE_STORE_RULE: &str = "breaker.state_store";

/// The refusal of a call whose session state the store could not load or save: under
/// `--state-fail closed` it is enforced; under `open` the caller lets the call through and
/// records this as what would have been done.
pub fn unchecked(err: &StoreError, fail: StoreFail) -> Refusal {
    let outcome = match fail {
        StoreFail::Closed => {
            "so the call is refused; restore Redis or start Sentinel with --state-fail open"
        }
        StoreFail::Open => "and the call is let through unchecked (--state-fail open)",
    };
    Refusal {
        rule: STATE_STORE_RULE,
        reason: "State Store Unavailable",
        detail: format!("{err}; budgets and rate limits cannot be checked, {outcome}"),
        hint: "this is not about the call itself: retry it later, or tell the user that \
               Sentinel's shared state is unavailable"
            .into(),
        retry_at_ms: None,
    }
}

/// The call being judged.
pub struct CallFacts<'a, 'j> {
    pub tool: &'a str,
    pub arguments: Option<&'a Json<'j>>,
    /// The request id's key, if it has one (a probe is matched to its answer by it).
    pub request: Option<&'a str>,
}

/// Decides whether a `tools/call` may go to the server and, if so, counts it. A refused call
/// is not counted (it never reaches the server). In monitor mode the caller forwards the call
/// anyway and passes `forwarded = true`: it is then counted like an admitted one.
pub fn admit(
    cfg: &Config,
    st: &mut SessionState,
    call: &CallFacts,
    now: u64,
    forwarded_anyway: bool,
    changes: &mut Vec<Transition>,
) -> Option<Refusal> {
    cfg.mode?;
    let tool = call.tool;
    let fingerprint = cfg
        .loop_rule
        .as_ref()
        .map(|l| fingerprint(tool, call.arguments, &l.ignore_fields));
    let refusal = check(cfg, st, call, fingerprint, now, changes);
    if refusal.is_none() || forwarded_anyway {
        count(cfg, st, tool, fingerprint, now);
    } else if let Some(b) = st.breakers.get_mut(tool) {
        // A probe refused by another check (a budget, a rate limit) never reaches the
        // server: the next call may be the probe.
        if let State::HalfOpen { probe } = &mut b.state {
            if probe.is_some() && probe.as_deref() == call.request {
                *probe = None;
            }
        }
    }
    refusal
}

fn check(
    cfg: &Config,
    st: &mut SessionState,
    call: &CallFacts,
    fingerprint: Option<u64>,
    now: u64,
    changes: &mut Vec<Transition>,
) -> Option<Refusal> {
    let tool = call.tool;
    // 1. The tool's breaker.
    if let Some(b) = st.breakers.get_mut(tool) {
        match b.state.clone() {
            State::Closed => {}
            State::Open { until_ms } if now < until_ms => {
                return Some(Refusal {
                    rule: "breaker.open",
                    reason: "Circuit Open",
                    detail: format!(
                        "calls to tool {tool:?} are paused until {} (in {}) because {}",
                        crate::base::clock::rfc3339(crate::base::clock::from_millis(until_ms)),
                        duration_text(until_ms - now),
                        b.cause
                    ),
                    hint: "do not call this tool again before then: use what you already have, \
                           change approach, or tell the user what is going wrong"
                        .into(),
                    retry_at_ms: Some(until_ms),
                });
            }
            State::Open { .. } => {
                b.state = State::HalfOpen {
                    probe: call.request.map(str::to_owned),
                };
                b.probe_at = now;
                changes.push(Transition {
                    tool: tool.to_owned(),
                    from: "open",
                    to: "half-open",
                    why: "the cooldown is over: one probe call is let through".into(),
                    until_ms: None,
                });
                // This call is the probe; the remaining checks still apply to it.
            }
            State::HalfOpen { probe: Some(_) }
                if now < b.probe_at.saturating_add(cfg.cooldown_ms) =>
            {
                let expires = b.probe_at.saturating_add(cfg.cooldown_ms);
                return Some(Refusal {
                    rule: "breaker.half_open",
                    reason: "Circuit Open",
                    detail: format!(
                        "tool {tool:?} is on probation after {}: one probe call is in flight \
                         and decides whether calls resume",
                        b.cause
                    ),
                    hint: format!(
                        "wait for the probe call's answer, then retry (if it never comes, \
                         another probe is allowed in {})",
                        duration_text(expires - now)
                    ),
                    retry_at_ms: Some(expires),
                });
            }
            // No probe yet, or the last one went unanswered for a whole cooldown (a hung
            // call, a cancelled one): this call is the probe.
            State::HalfOpen { .. } => {
                b.state = State::HalfOpen {
                    probe: call.request.map(str::to_owned),
                };
                b.probe_at = now;
            }
        }
    }
    // 2. Budgets: calls in the session, calls of this tool, money.
    if let Some(max) = cfg.max_calls {
        if st.calls >= max {
            return Some(budget_refusal(
                "breaker.max_calls",
                format!("this session has made its maximum of {max} tool calls"),
            ));
        }
    }
    let per_tool = cfg.budget_for(tool);
    if let Some(max) = per_tool.and_then(|b| b.max_calls) {
        let made = st.tool_calls.get(tool).copied().unwrap_or(0);
        if made >= max {
            return Some(budget_refusal(
                "breaker.max_calls",
                format!("tool {tool:?} has been called its maximum of {max} times this session"),
            ));
        }
    }
    let cost = per_tool.map_or(0.0, |b| b.cost);
    if let Some(budget) = cfg.budget {
        if cost > 0.0 && st.spent + cost > budget + 1e-9 {
            return Some(budget_refusal(
                "breaker.budget",
                format!(
                    "this call costs {cost} and the session has spent {} of its budget of \
                     {budget}",
                    round(st.spent)
                ),
            ));
        }
    }
    // 3. Rate limits: every bucket covering the tool needs a token.
    for limit in cfg.rate_limits.iter().filter(|r| r.covers(tool)) {
        let bucket = *refill(st, limit, now);
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) / limit.per_ms).ceil().max(1.0) as u64;
            let tools: Vec<&str> = limit.tools.iter().map(Glob::as_str).collect();
            return Some(Refusal {
                rule: "breaker.rate",
                reason: "Rate Limited",
                detail: format!(
                    "tool {tool:?} is over the rate limit of {} (burst {}) for tools [{}]",
                    limit.rate,
                    limit.burst,
                    tools.join(", ")
                ),
                hint: format!(
                    "slow down: retry in {} at the earliest, and batch work into fewer calls",
                    duration_text(wait)
                ),
                retry_at_ms: Some(now + wait),
            });
        }
    }
    // 4. Loops: the same call too often within the window opens the tool's breaker.
    if let (Some(rule), Some(fp)) = (&cfg.loop_rule, fingerprint) {
        if rule.repeats > 0 {
            prune(st, now, rule.window_ms);
            let seen = u64::from(st.recent_counts.get(&fp).copied().unwrap_or(0));
            if seen + 1 >= u64::from(rule.repeats) {
                let cause = format!(
                    "the same call was made {} times within {}",
                    seen + 1,
                    duration_text(rule.window_ms)
                );
                let until = trip(cfg, st, tool, &cause, now, changes);
                return Some(Refusal {
                    rule: "breaker.loop",
                    reason: "Loop Detected",
                    detail: format!(
                        "{cause} (tool {tool:?}); calls to it are paused until {} (in {})",
                        crate::base::clock::rfc3339(crate::base::clock::from_millis(until)),
                        duration_text(until - now)
                    ),
                    hint: "repeating the call will not change its result: use what it \
                           returned, change the arguments, or stop and report to the user"
                        .into(),
                    retry_at_ms: Some(until),
                });
            }
        }
    }
    None
}

fn budget_refusal(rule: &'static str, detail: String) -> Refusal {
    Refusal {
        rule,
        reason: "Budget Exhausted",
        detail,
        hint: "finish with what you have, or ask the user to start a new session or raise the \
               budget in the policy"
            .into(),
        retry_at_ms: None,
    }
}

/// Records a forwarded call: tokens, counts, spend, fingerprint.
fn count(cfg: &Config, st: &mut SessionState, tool: &str, fingerprint: Option<u64>, now: u64) {
    for limit in cfg.rate_limits.iter().filter(|r| r.covers(tool)) {
        let b = refill(st, limit, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
    st.calls += 1;
    match st.tool_calls.get_mut(tool) {
        Some(n) => *n += 1,
        None => {
            st.tool_calls.insert(tool.to_owned(), 1);
        }
    }
    st.spent += cfg.budget_for(tool).map_or(0.0, |b| b.cost);
    if let Some(fp) = fingerprint {
        st.recent.push_back((fp, now));
        *st.recent_counts.entry(fp).or_insert(0) += 1;
        if st.recent.len() > MAX_RECENT {
            forget_oldest(st);
        }
    }
}

/// Brings `limit`'s bucket up to `now` (a clock going backwards adds nothing).
fn refill<'s>(st: &'s mut SessionState, limit: &RateLimit, now: u64) -> &'s mut Bucket {
    if !st.buckets.contains_key(&limit.key) {
        st.buckets.insert(
            limit.key.clone(),
            Bucket {
                tokens: limit.burst,
                at_ms: now,
            },
        );
    }
    let b = st
        .buckets
        .get_mut(&limit.key)
        .unwrap_or_else(|| unreachable!("inserted above"));
    if now > b.at_ms {
        b.tokens = (b.tokens + (now - b.at_ms) as f64 * limit.per_ms).min(limit.burst);
        b.at_ms = now;
    }
    b
}

fn prune(st: &mut SessionState, now: u64, window: u64) {
    while st
        .recent
        .front()
        .is_some_and(|(_, at)| at.saturating_add(window) <= now)
    {
        forget_oldest(st);
    }
}

fn forget_oldest(st: &mut SessionState) {
    if let Some((fp, _)) = st.recent.pop_front() {
        if let Some(n) = st.recent_counts.get_mut(&fp) {
            *n -= 1;
            if *n == 0 {
                st.recent_counts.remove(&fp);
            }
        }
    }
}

/// Opens `tool`'s breaker; returns when it half-opens.
fn trip(
    cfg: &Config,
    st: &mut SessionState,
    tool: &str,
    cause: &str,
    now: u64,
    changes: &mut Vec<Transition>,
) -> u64 {
    let b = st.breakers.entry(tool.to_owned()).or_default();
    b.trips += 1;
    let until = now + cfg.cooldown(b.trips);
    let from = b.state.name();
    b.state = State::Open { until_ms: until };
    b.cause = cause.to_owned();
    b.consecutive_errors = 0;
    changes.push(Transition {
        tool: tool.to_owned(),
        from,
        to: "open",
        why: cause.to_owned(),
        until_ms: Some(until),
    });
    until
}

/// The client cancelled a forwarded call of `tool`: if it was the probe, the next call may be.
pub fn forget(st: &mut SessionState, tool: &str, request: &str) {
    if let Some(b) = st.breakers.get_mut(tool) {
        if let State::HalfOpen { probe } = &mut b.state {
            if probe.as_deref() == Some(request) {
                *probe = None;
            }
        }
    }
}

/// Takes note of the server's answer to a forwarded call of `tool` (`request`: its id key).
pub fn observe(
    cfg: &Config,
    st: &mut SessionState,
    tool: &str,
    request: &str,
    failed: bool,
    now: u64,
    changes: &mut Vec<Transition>,
) {
    if cfg.mode.is_none() || (!failed && !st.breakers.contains_key(tool)) {
        return; // a success of a tool that never failed changes nothing
    }
    let b = st.breakers.entry(tool.to_owned()).or_default();
    let reopen = match &b.state {
        State::HalfOpen { probe: Some(p) } if p == request => {
            if failed {
                Some(format!("its probe call failed too (after {})", b.cause))
            } else {
                b.state = State::Closed;
                b.trips = 0;
                b.consecutive_errors = 0;
                changes.push(Transition {
                    tool: tool.to_owned(),
                    from: "half-open",
                    to: "closed",
                    why: "the probe call succeeded".into(),
                    until_ms: None,
                });
                None
            }
        }
        State::Closed if !failed => {
            b.consecutive_errors = 0;
            None
        }
        State::Closed => {
            b.consecutive_errors += 1;
            cfg.error_threshold
                .filter(|n| *n > 0 && b.consecutive_errors >= *n)
                .map(|_| format!("its last {} calls failed in a row", b.consecutive_errors))
        }
        // Answers to calls made before the breaker opened do not change it.
        _ => None,
    };
    if let Some(cause) = reopen {
        trip(cfg, st, tool, &cause, now, changes);
    }
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
