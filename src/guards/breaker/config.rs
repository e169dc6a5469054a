//! The breaker's settings: rate limits (token buckets over groups of tools), loop detection,
//! call and cost budgets, error tripping and cooldowns, as compiled from a policy profile's
//! `breaker:` section, with the one-line summary `sentinel` prints at start-up.

use crate::base::glob::{self, Glob};
use crate::guards::Mode;

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
    pub(super) key: String,
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

    pub(super) fn covers(&self, tool: &str) -> bool {
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

    pub(super) fn budget_for(&self, tool: &str) -> Option<&ToolBudget> {
        self.tools.iter().find(|b| glob::any(&b.tools, tool))
    }

    /// The cooldown after the `trips`-th opening in a row (doubling, capped).
    pub(super) fn cooldown(&self, trips: u32) -> u64 {
        let factor = 1u64 << trips.saturating_sub(1).min(20);
        self.cooldown_ms
            .saturating_mul(factor)
            .min(self.max_cooldown_ms.max(self.cooldown_ms))
    }
}

/// Argument keys ignored by default when fingerprinting calls for loop detection.
pub const DEFAULT_IGNORE_FIELDS: &[&str] = &["timestamp", "nonce", "request_id"];

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
