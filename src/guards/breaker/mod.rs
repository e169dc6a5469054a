//! The circuit breaker: per-session limits that need memory across calls. This module owns
//! the breaker's settings ([`Config`], compiled from a policy profile's `breaker:` section), the
//! state of one session ([`SessionState`]: token buckets, recent call fingerprints, call counts
//! and spend, one breaker per tool), the [`Store`] interface that state lives behind (in memory
//! per gateway process today; a shared store can back it later), and the two decisions made on
//! it: [`admit`] for a `tools/call` about to be forwarded, and [`observe`] for the server's
//! answer to one. Time is passed in as milliseconds from the gateway's clock, so nothing here
//! reads a clock or sleeps. Breaker states per tool: closed -> open (calls refused until a
//! cooldown passes) -> half-open (one probe call) -> closed, or open again if the probe fails.

use crate::base::glob::{self, Glob};
use crate::base::jsonrpc::Json;
use crate::guards::Mode;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// Most call fingerprints remembered for loop detection, whatever the window.
const MAX_RECENT: usize = 10_000;

/// A token bucket over a group of tools (`tools: ["*"]` is the overall limit).
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    pub tools: Vec<Glob>,
    /// Most calls at once (the bucket's size).
    pub burst: f64,
    /// Tokens added per millisecond.
    pub per_ms: f64,
    /// The rate as written, for messages (`60/minute`).
    pub rate: String,
    /// The key its bucket is kept under: the same limit keeps its state across a reload.
    key: String,
}

impl RateLimit {
    pub fn new(tools: Vec<Glob>, burst: f64, per_ms: f64, rate: String) -> RateLimit {
        let names: Vec<&str> = tools.iter().map(Glob::as_str).collect();
        let key = format!("{}|{rate}|{burst}", names.join(","));
        RateLimit {
            tools,
            burst,
            per_ms,
            rate,
            key,
        }
    }

    fn covers(&self, tool: &str) -> bool {
        self.tools.is_empty() || glob::any(&self.tools, tool)
    }
}

/// Loop detection: the same call `repeats` times within `window_ms` trips the tool's breaker.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopRule {
    pub repeats: u32,
    pub window_ms: u64,
    /// Argument keys (at any depth) left out of the fingerprint, so calls differing only in
    /// them count as repeats.
    pub ignore_fields: Vec<String>,
}

/// Call limits and costs for a group of tools.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolBudget {
    pub tools: Vec<Glob>,
    /// Most calls per session of each matching tool.
    pub max_calls: Option<u64>,
    /// What one call costs against the session budget.
    pub cost: f64,
}

/// The breaker's settings (a profile's `breaker:` section, compiled).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `None`: the breaker is off.
    pub mode: Option<Mode>,
    pub rate_limits: Vec<RateLimit>,
    pub loop_rule: Option<LoopRule>,
    /// Most calls per session, all tools together.
    pub max_calls: Option<u64>,
    pub tools: Vec<ToolBudget>,
    /// The session's spending limit, in the unit of the tools' `cost`.
    pub budget: Option<f64>,
    /// Consecutive failed answers from one tool that open its breaker.
    pub error_threshold: Option<u32>,
    pub cooldown_ms: u64,
    pub max_cooldown_ms: u64,
}

impl Config {
    /// The defaults: loop detection (5 identical calls within 5 s), 5 consecutive tool errors
    /// open a tool's breaker for 30 s (doubling to at most 10 min while probes fail), and an
    /// overall rate limit of 600 calls a minute with bursts of 200. No call or cost budgets.
    pub fn defaults() -> Config {
        Config {
            mode: Some(Mode::Enforce),
            rate_limits: vec![RateLimit::new(
                vec![Glob::new("*")],
                200.0,
                600.0 / 60_000.0,
                "600/minute".into(),
            )],
            loop_rule: Some(LoopRule {
                repeats: 5,
                window_ms: 5_000,
                ignore_fields: DEFAULT_IGNORE_FIELDS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            }),
            max_calls: None,
            tools: Vec::new(),
            budget: None,
            error_threshold: Some(5),
            cooldown_ms: 30_000,
            max_cooldown_ms: 600_000,
        }
    }

    /// The breaker switched off.
    #[cfg(test)]
    pub fn off() -> Config {
        Config {
            mode: None,
            ..Config::defaults()
        }
    }

    /// A one-line description for `explain` and the start-up notice.
    pub fn summary(&self) -> String {
        let Some(mode) = self.mode else {
            return "circuit breaker off".into();
        };
        let mut parts = Vec::new();
        if let Some(l) = &self.loop_rule {
            parts.push(format!(
                "loop {}x in {}",
                l.repeats,
                duration_text(l.window_ms)
            ));
        }
        for r in &self.rate_limits {
            let tools: Vec<&str> = r.tools.iter().map(Glob::as_str).collect();
            parts.push(format!(
                "rate {} burst {} [{}]",
                r.rate,
                r.burst,
                tools.join(",")
            ));
        }
        if let Some(n) = self.error_threshold {
            parts.push(format!("{n} consecutive errors"));
        }
        if let Some(n) = self.max_calls {
            parts.push(format!("max {n} calls"));
        }
        if let Some(b) = self.budget {
            parts.push(format!("budget {b}"));
        }
        format!(
            "circuit breaker {} ({}; cooldown {})",
            mode.as_str(),
            parts.join(", "),
            duration_text(self.cooldown_ms)
        )
    }

    fn budget_for(&self, tool: &str) -> Option<&ToolBudget> {
        self.tools.iter().find(|b| glob::any(&b.tools, tool))
    }

    /// The cooldown after the `trips`-th opening in a row (doubling, capped).
    fn cooldown(&self, trips: u32) -> u64 {
        let factor = 1u64 << trips.saturating_sub(1).min(20);
        self.cooldown_ms
            .saturating_mul(factor)
            .min(self.max_cooldown_ms.max(self.cooldown_ms))
    }
}

/// Argument keys ignored by default when fingerprinting calls for loop detection.
pub const DEFAULT_IGNORE_FIELDS: &[&str] = &["timestamp", "nonce", "request_id"];

/// Where one tool's breaker is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Closed,
    /// Refusing calls until this time (ms since the epoch).
    Open {
        until_ms: u64,
    },
    /// One probe call is allowed; its answer closes or reopens the breaker.
    HalfOpen {
        /// The probe's request id (its key), once one was let through.
        probe: Option<String>,
    },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half-open",
        }
    }
}

#[derive(Clone, Debug)]
struct ToolBreaker {
    state: State,
    consecutive_errors: u32,
    /// Openings since the breaker was last closed (for the doubling cooldown).
    trips: u32,
    /// Why it opened last, for refusals.
    cause: String,
    /// When the current probe was let through (a probe never answered is replaced after a
    /// cooldown, so a hung call cannot keep the circuit half-open for good).
    probe_at: u64,
}

impl Default for ToolBreaker {
    fn default() -> Self {
        ToolBreaker {
            state: State::Closed,
            consecutive_errors: 0,
            trips: 0,
            cause: String::new(),
            probe_at: 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

/// Everything the breaker remembers about one session.
#[derive(Default, Debug)]
pub struct SessionState {
    buckets: HashMap<String, Bucket>,
    /// (fingerprint, when) of forwarded calls, oldest first.
    recent: VecDeque<(u64, u64)>,
    /// How many times each fingerprint is in `recent` (so a check is O(1), not a scan).
    recent_counts: HashMap<u64, u32>,
    calls: u64,
    tool_calls: HashMap<String, u64>,
    spent: f64,
    breakers: HashMap<String, ToolBreaker>,
}

impl SessionState {
    /// The state of `tool`'s breaker.
    #[cfg(test)]
    pub fn state(&self, tool: &str) -> State {
        self.breakers
            .get(tool)
            .map_or(State::Closed, |b| b.state.clone())
    }
}

/// Where session state lives. The gateway holds one; today it is [`MemoryStore`] (the
/// gateway process is the session). A store shared by many gateway processes serving one
/// tenant implements the same call: load the session, let `f` change it, save it atomically.
pub trait Store: Send + Sync {
    fn with_session(&self, session: &str, f: &mut dyn FnMut(&mut SessionState));
}

/// Session state in this process's memory.
#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, SessionState>>,
}

impl Store for MemoryStore {
    fn with_session(&self, session: &str, f: &mut dyn FnMut(&mut SessionState)) {
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = all.get_mut(session) {
            f(state);
        } else {
            f(all.entry(session.to_owned()).or_default());
        }
    }
}

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

/// A fingerprint of the call that ignores key order, whitespace and number spelling, and the
/// keys in `ignore` at any depth.
pub fn fingerprint(tool: &str, args: Option<&Json>, ignore: &[String]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    tool.hash(&mut h);
    if let Some(a) = args {
        hash_json(a, ignore, &mut h);
    }
    h.finish()
}

fn hash_json(v: &Json, ignore: &[String], h: &mut impl Hasher) {
    match v {
        Json::Null => 0u8.hash(h),
        Json::Bool(b) => (1u8, b).hash(h),
        Json::Int(n) => hash_number(*n as f64, h),
        Json::UInt(n) => hash_number(*n as f64, h),
        Json::Float(f) => hash_number(*f, h),
        Json::Str(s) => (3u8, s.as_ref()).hash(h),
        Json::Arr(items) => {
            (4u8, items.len()).hash(h);
            for item in items {
                hash_json(item, ignore, h);
            }
        }
        Json::Obj(members) => {
            let mut kept: Vec<&(std::borrow::Cow<str>, Json)> = members
                .iter()
                .filter(|(k, _)| !ignore.iter().any(|i| i == k))
                .collect();
            kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            (5u8, kept.len()).hash(h);
            for (k, item) in kept {
                k.as_ref().hash(h);
                hash_json(item, ignore, h);
            }
        }
    }
}

fn hash_number(f: f64, h: &mut impl Hasher) {
    // 1, 1.0 and 1e0 are the same number.
    (2u8, if f == 0.0 { 0 } else { f.to_bits() }).hash(h);
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `1500` -> `1.5 s`, `90000` -> `90 s`, `600000` -> `10 min`.
pub fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 || !ms.is_multiple_of(60_000) {
        let s = ms as f64 / 1000.0;
        if s.fract() == 0.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    } else if ms.is_multiple_of(3_600_000) {
        format!("{} h", ms / 3_600_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::jsonrpc::{parse_line, Parsed};

    fn args(text: &str) -> Json<'static> {
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{text}}}}}"#
        );
        let leaked: &'static str = Box::leak(line.into_boxed_str());
        match parse_line(leaked.as_bytes()).unwrap().unwrap() {
            Parsed::Single(m) => m.params.unwrap().get("arguments").unwrap().clone(),
            Parsed::Batch(_) => unreachable!(),
        }
    }

    fn call<'a>(tool: &'a str, a: &'a Json<'static>, id: &'a str) -> CallFacts<'a, 'static> {
        CallFacts {
            tool,
            arguments: Some(a),
            request: Some(id),
        }
    }

    #[test]
    fn fingerprints_ignore_key_order_spacing_numbers_and_volatile_fields() {
        let ignore = vec!["timestamp".to_owned()];
        let fp = |t: &str| fingerprint("t", Some(&args(t)), &ignore);
        assert_eq!(
            fp(r#"{"a":1,"b":[1,2]}"#),
            fp(r#"{ "b" : [1, 2.0], "a" : 1 }"#)
        );
        assert_eq!(
            fp(r#"{"a":1,"timestamp":"2026-01-01"}"#),
            fp(r#"{"a":1,"timestamp":"2027-01-01"}"#)
        );
        assert_eq!(
            fp(r#"{"x":{"timestamp":1,"q":"s"}}"#),
            fp(r#"{"x":{"q":"s","timestamp":2}}"#)
        );
        assert_ne!(fp(r#"{"a":1}"#), fp(r#"{"a":2}"#));
        assert_ne!(fp(r#"{"a":[1,2]}"#), fp(r#"{"a":[2,1]}"#));
        assert_ne!(fp(r#"{"a":"1"}"#), fp(r#"{"a":1}"#));
        assert_ne!(
            fingerprint("t", Some(&args("{}")), &ignore),
            fingerprint("u", Some(&args("{}")), &ignore)
        );
    }

    #[test]
    fn a_burst_of_the_same_call_trips_but_polling_does_not() {
        let cfg = Config::defaults();
        let a = args(r#"{"job":"42"}"#);
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        // Polling every 2 s for ten minutes.
        for i in 0..300 {
            let r = admit(
                &cfg,
                &mut st,
                &call("status", &a, "p"),
                i * 2000,
                false,
                &mut ch,
            );
            assert_eq!(r, None, "poll #{i}");
        }
        // A burst: the fifth identical call within 5 s opens the breaker.
        let t0 = 1_000_000;
        for i in 0..4 {
            assert_eq!(
                admit(
                    &cfg,
                    &mut st,
                    &call("status", &a, "b"),
                    t0 + i * 100,
                    false,
                    &mut ch
                ),
                None
            );
        }
        let r = admit(
            &cfg,
            &mut st,
            &call("status", &a, "b"),
            t0 + 400,
            false,
            &mut ch,
        )
        .unwrap();
        assert_eq!(r.rule, "breaker.loop");
        assert_eq!(r.retry_at_ms, Some(t0 + 400 + 30_000));
        assert_eq!(ch.last().unwrap().to, "open");
        assert_eq!(
            st.state("status"),
            State::Open {
                until_ms: t0 + 30_400
            }
        );
    }

    #[test]
    fn open_half_open_closed_and_reopen_with_a_longer_cooldown() {
        let mut cfg = Config::defaults();
        cfg.error_threshold = Some(2);
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for id in ["1", "2"] {
            assert_eq!(
                admit(&cfg, &mut st, &call("x", &a, id), 0, false, &mut ch),
                None
            );
        }
        observe(&cfg, &mut st, "x", "1", true, 10, &mut ch);
        assert_eq!(st.state("x"), State::Closed);
        observe(&cfg, &mut st, "x", "2", true, 20, &mut ch);
        assert_eq!(st.state("x"), State::Open { until_ms: 30_020 });
        let r = admit(&cfg, &mut st, &call("x", &a, "3"), 30_019, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.open");
        assert!(r.detail.contains("in 1 ms"), "{}", r.detail);
        // Other tools are not affected.
        assert_eq!(
            admit(&cfg, &mut st, &call("y", &a, "4"), 30_019, false, &mut ch),
            None
        );
        // Cooldown over: one probe.
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, "5"), 30_020, false, &mut ch),
            None
        );
        assert_eq!(
            st.state("x"),
            State::HalfOpen {
                probe: Some("5".into())
            }
        );
        let r = admit(&cfg, &mut st, &call("x", &a, "6"), 30_021, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.half_open");
        // The probe fails: open again for twice as long.
        observe(&cfg, &mut st, "x", "5", true, 30_100, &mut ch);
        assert_eq!(st.state("x"), State::Open { until_ms: 90_100 });
        // Next probe succeeds: closed, and the cooldown is back to its start.
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, "7"), 90_100, false, &mut ch),
            None
        );
        observe(&cfg, &mut st, "x", "7", false, 90_200, &mut ch);
        assert_eq!(st.state("x"), State::Closed);
        let steps: Vec<(&str, &str)> = ch.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            steps,
            vec![
                ("closed", "open"),
                ("open", "half-open"),
                ("half-open", "open"),
                ("open", "half-open"),
                ("half-open", "closed")
            ]
        );
    }

    #[test]
    fn successes_reset_the_error_count() {
        let mut cfg = Config::defaults();
        cfg.error_threshold = Some(3);
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for (i, failed) in [true, true, false, true, true].iter().enumerate() {
            observe(&cfg, &mut st, "x", &i.to_string(), *failed, 0, &mut ch);
        }
        assert_eq!(st.state("x"), State::Closed);
        observe(&cfg, &mut st, "x", "9", true, 0, &mut ch);
        assert!(matches!(st.state("x"), State::Open { .. }));
    }

    #[test]
    fn rate_limits_refill_over_time() {
        let mut cfg = Config::defaults();
        cfg.loop_rule = None;
        cfg.rate_limits = vec![RateLimit::new(
            vec![Glob::new("search*")],
            2.0,
            1.0 / 1000.0,
            "60/minute".into(),
        )];
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        assert_eq!(
            admit(&cfg, &mut st, &call("search", &a, "1"), 0, false, &mut ch),
            None
        );
        assert_eq!(
            admit(&cfg, &mut st, &call("search2", &a, "2"), 0, false, &mut ch),
            None
        );
        let r = admit(&cfg, &mut st, &call("search", &a, "3"), 250, false, &mut ch).unwrap();
        assert_eq!((r.rule, r.retry_at_ms), ("breaker.rate", Some(1000)));
        assert_eq!(
            admit(&cfg, &mut st, &call("other", &a, "4"), 250, false, &mut ch),
            None
        );
        assert_eq!(
            admit(
                &cfg,
                &mut st,
                &call("search", &a, "5"),
                1000,
                false,
                &mut ch
            ),
            None
        );
        assert!(admit(
            &cfg,
            &mut st,
            &call("search", &a, "6"),
            1000,
            false,
            &mut ch
        )
        .is_some());
    }

    #[test]
    fn budgets_count_calls_and_cost() {
        let mut cfg = Config::defaults();
        cfg.loop_rule = None;
        cfg.max_calls = Some(10);
        cfg.budget = Some(0.05);
        cfg.tools = vec![ToolBudget {
            tools: vec![Glob::new("paid")],
            max_calls: Some(5),
            cost: 0.02,
        }];
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for id in ["1", "2"] {
            assert_eq!(
                admit(&cfg, &mut st, &call("paid", &a, id), 0, false, &mut ch),
                None
            );
        }
        let r = admit(&cfg, &mut st, &call("paid", &a, "3"), 0, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.budget");
        assert!(
            r.detail.contains("spent 0.04 of its budget of 0.05"),
            "{}",
            r.detail
        );
        for i in 0..8 {
            assert_eq!(
                admit(&cfg, &mut st, &call("free", &a, "f"), i, false, &mut ch),
                None
            );
        }
        let r = admit(&cfg, &mut st, &call("free", &a, "x"), 9, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.max_calls");
    }

    #[test]
    fn off_admits_everything() {
        let cfg = Config::off();
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for _ in 0..1000 {
            assert_eq!(
                admit(&cfg, &mut st, &call("x", &a, "1"), 0, false, &mut ch),
                None
            );
        }
        assert!(ch.is_empty());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(250), "250 ms");
        assert_eq!(duration_text(1500), "1.5 s");
        assert_eq!(duration_text(30_000), "30 s");
        assert_eq!(duration_text(600_000), "10 min");
        assert_eq!(duration_text(7_200_000), "2 h");
    }

    #[test]
    fn whole_minutes_from_two_minutes_on_read_as_minutes() {
        assert_eq!(duration_text(999), "999 ms");
        assert_eq!(duration_text(1000), "1 s");
        assert_eq!(duration_text(60_000), "60 s");
        assert_eq!(duration_text(90_000), "90 s");
        assert_eq!(duration_text(119_000), "119 s");
        assert_eq!(duration_text(120_000), "2 min");
        assert_eq!(duration_text(150_000), "150 s");
        assert_eq!(duration_text(180_000), "3 min");
        assert_eq!(duration_text(3_600_000), "1 h");
    }

    #[test]
    fn the_summary_names_the_mode_and_every_limit() {
        assert_eq!(
            Config::defaults().summary(),
            "circuit breaker enforce (loop 5x in 5 s, rate 600/minute burst 200 [*], 5 \
             consecutive errors; cooldown 30 s)"
        );
        let cfg = Config {
            mode: Some(Mode::Monitor),
            rate_limits: vec![RateLimit::new(
                vec![Glob::new("web_*"), Glob::new("fetch")],
                10.0,
                30.0 / 60_000.0,
                "30/minute".into(),
            )],
            loop_rule: None,
            max_calls: Some(100),
            budget: Some(2.5),
            error_threshold: None,
            cooldown_ms: 120_000,
            ..Config::defaults()
        };
        assert_eq!(
            cfg.summary(),
            "circuit breaker monitor (rate 30/minute burst 10 [web_*,fetch], max 100 calls, \
             budget 2.5; cooldown 2 min)"
        );
        assert_eq!(Config::off().summary(), "circuit breaker off");
    }

    #[test]
    fn a_call_that_spends_exactly_the_budget_is_admitted() {
        // Sums of costs are not exact in binary floating point: the budget allows 1e-9 of
        // rounding, and a call that reaches exactly that is still within it.
        let mut cfg = Config::defaults();
        cfg.loop_rule = None;
        cfg.budget = Some(1.0);
        cfg.tools = vec![ToolBudget {
            tools: vec![Glob::new("paid")],
            max_calls: None,
            cost: 1.0 + 1e-9,
        }];
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        assert_eq!(
            admit(&cfg, &mut st, &call("paid", &a, "1"), 0, false, &mut ch),
            None
        );
        let r = admit(&cfg, &mut st, &call("paid", &a, "2"), 0, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.budget");
    }

    #[test]
    fn once_over_the_budget_in_monitor_mode_free_calls_are_not_refused() {
        let mut cfg = Config::defaults();
        cfg.mode = Some(Mode::Monitor);
        cfg.loop_rule = None;
        cfg.budget = Some(0.05);
        cfg.tools = vec![ToolBudget {
            tools: vec![Glob::new("paid")],
            max_calls: None,
            cost: 0.02,
        }];
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        let mut refused = Vec::new();
        for (id, tool) in [("1", "paid"), ("2", "paid"), ("3", "paid"), ("4", "free")] {
            // Monitor mode: forwarded (and counted) whatever the verdict.
            if let Some(r) = admit(&cfg, &mut st, &call(tool, &a, id), 0, true, &mut ch) {
                refused.push((id, r.rule));
            }
        }
        assert_eq!(refused, vec![("3", "breaker.budget")]);
    }

    #[test]
    fn loop_detection_with_zero_repeats_never_trips() {
        let mut cfg = Config::defaults();
        cfg.rate_limits.clear();
        cfg.loop_rule = Some(LoopRule {
            repeats: 0,
            window_ms: 5_000,
            ignore_fields: Vec::new(),
        });
        let a = args(r#"{"same":1}"#);
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for i in 0..20 {
            assert_eq!(
                admit(&cfg, &mut st, &call("x", &a, "1"), i, false, &mut ch),
                None,
                "call #{i}"
            );
        }
        assert!(ch.is_empty(), "{ch:?}");
    }

    #[test]
    fn an_error_threshold_of_zero_never_opens_a_circuit() {
        let mut cfg = Config::defaults();
        cfg.error_threshold = Some(0);
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for i in 0..10 {
            observe(&cfg, &mut st, "x", &i.to_string(), true, i, &mut ch);
        }
        assert_eq!(st.state("x"), State::Closed);
        assert!(ch.is_empty(), "{ch:?}");
    }

    #[test]
    fn answers_change_nothing_while_the_breaker_is_off() {
        let cfg = Config::off();
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        for i in 0..10 {
            observe(&cfg, &mut st, "x", &i.to_string(), true, i, &mut ch);
        }
        assert!(ch.is_empty(), "{ch:?}");
        assert_eq!(st.state("x"), State::Closed);
        assert!(st.breakers.is_empty());
    }

    #[test]
    fn only_the_probes_own_answer_decides_a_half_open_circuit() {
        let mut cfg = Config::defaults();
        cfg.loop_rule = None;
        cfg.error_threshold = Some(1);
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        // Two calls in flight; the first answer fails and opens the circuit.
        for id in ["early", "1"] {
            assert_eq!(
                admit(&cfg, &mut st, &call("x", &a, id), 0, false, &mut ch),
                None
            );
        }
        observe(&cfg, &mut st, "x", "1", true, 10, &mut ch);
        assert_eq!(st.state("x"), State::Open { until_ms: 30_010 });
        // The cooldown is over: call 2 is the probe.
        assert_eq!(
            admit(&cfg, &mut st, &call("x", &a, "2"), 30_010, false, &mut ch),
            None
        );
        let probing = State::HalfOpen {
            probe: Some("2".into()),
        };
        assert_eq!(st.state("x"), probing);
        // The late answers to the call made before the circuit opened decide nothing.
        observe(&cfg, &mut st, "x", "early", false, 30_020, &mut ch);
        assert_eq!(st.state("x"), probing);
        observe(&cfg, &mut st, "x", "early", true, 30_030, &mut ch);
        assert_eq!(st.state("x"), probing);
        // The probe's own answer does.
        observe(&cfg, &mut st, "x", "2", false, 30_040, &mut ch);
        assert_eq!(st.state("x"), State::Closed);
        let steps: Vec<(&str, &str)> = ch.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            steps,
            vec![
                ("closed", "open"),
                ("open", "half-open"),
                ("half-open", "closed")
            ]
        );
    }

    #[test]
    fn loop_detection_remembers_max_recent_calls() {
        let mut cfg = Config::defaults();
        cfg.rate_limits.clear();
        cfg.loop_rule = Some(LoopRule {
            repeats: 2,
            window_ms: 86_400_000,
            ignore_fields: Vec::new(),
        });
        let a = args("{}");
        let mut st = SessionState::default();
        let mut ch = Vec::new();
        let names: Vec<String> = (0..MAX_RECENT).map(|i| format!("t{i}")).collect();
        // t0, then every other name once: MAX_RECENT calls, all remembered.
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                admit(
                    &cfg,
                    &mut st,
                    &call(name, &a, "1"),
                    i as u64,
                    false,
                    &mut ch
                ),
                None,
                "{name}"
            );
        }
        // t0 again is a repeat.
        let r = admit(&cfg, &mut st, &call("t0", &a, "2"), 20_000, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.loop");
        // One more call: the oldest (t0) is forgotten to make room, t1 is still remembered.
        let r = admit(&cfg, &mut st, &call("new", &a, "3"), 20_001, false, &mut ch);
        assert_eq!(r, None);
        let r = admit(&cfg, &mut st, &call("t1", &a, "4"), 20_002, false, &mut ch).unwrap();
        assert_eq!(r.rule, "breaker.loop");
        assert_eq!(st.recent.len(), MAX_RECENT);
    }
}
