//! Compiling a profile's `breaker:` section over the breaker's defaults: rate limits, loop
//! detection, call and cost budgets, error tripping, cooldowns; durations (`5s`, `10m`) and
//! rates (`60/minute`) with their units.

use super::rules::globs_or_all;
use super::schema::*;
use super::{PolicyError, PolicyFile};
use crate::base::glob::Glob;
use crate::guards::breaker;
use crate::policy::Mode;
use serde_saphyr::Spanned;

impl PolicyFile {
    /// Compiles a `breaker:` section over the defaults; `mode` is the profile's (the breaker
    /// follows it unless the section says otherwise).
    pub(super) fn breaker(
        &self,
        doc: &Spanned<BreakerDoc>,
        mode: Mode,
    ) -> Result<breaker::Config, PolicyError> {
        let b = &doc.value;
        let fail =
            |at: &serde_saphyr::Location, m: String| Err(self.error(at, format!("breaker: {m}")));
        let mut cfg = breaker::Config::defaults();
        cfg.mode = match b.mode {
            Some(BreakerModeDoc::Off) => None,
            Some(BreakerModeDoc::Monitor) => Some(Mode::Monitor),
            Some(BreakerModeDoc::Enforce) => Some(Mode::Enforce),
            None => Some(mode),
        };
        if let Some(limits) = &b.rate_limits {
            cfg.rate_limits.clear();
            for r in limits {
                let (count, per_ms) = match parse_rate(&r.value.rate.value) {
                    Ok(x) => x,
                    Err(m) => return fail(&r.value.rate.referenced, m),
                };
                let burst = r.value.burst.unwrap_or(count);
                if !(burst >= 1.0 && burst.is_finite()) {
                    return fail(
                        &r.referenced,
                        format!("burst must be at least 1 (got {burst})"),
                    );
                }
                cfg.rate_limits.push(breaker::RateLimit::new(
                    globs_or_all(&r.value.tools),
                    burst,
                    per_ms,
                    r.value.rate.value.trim().to_owned(),
                ));
            }
        }
        if let Some(l) = &b.loop_rule {
            let base = cfg.loop_rule.clone().unwrap_or(breaker::LoopRule {
                repeats: 5,
                window_ms: 5000,
                ignore_fields: Vec::new(),
            });
            let repeats = l.value.repeats.unwrap_or(base.repeats);
            if repeats == 1 {
                return fail(
                    &l.referenced,
                    "loop.repeats must be 0 (off) or at least 2".into(),
                );
            }
            let window_ms = match &l.value.window {
                Some(w) => match parse_duration(&w.value) {
                    Ok(ms) => ms,
                    Err(m) => return fail(&w.referenced, m),
                },
                None => base.window_ms,
            };
            cfg.loop_rule = (repeats > 0).then(|| breaker::LoopRule {
                repeats,
                window_ms,
                ignore_fields: l.value.ignore_fields.clone().unwrap_or(base.ignore_fields),
            });
        }
        if b.max_calls.is_some() {
            cfg.max_calls = b.max_calls;
        }
        if let Some(budget) = &b.budget {
            if !(budget.value >= 0.0 && budget.value.is_finite()) {
                return fail(
                    &budget.referenced,
                    format!("budget must be a number >= 0 (got {})", budget.value),
                );
            }
            cfg.budget = Some(budget.value);
        }
        if let Some(tools) = &b.tools {
            for t in tools {
                let cost = t.value.cost.unwrap_or(0.0);
                if !(cost >= 0.0 && cost.is_finite()) {
                    return fail(
                        &t.referenced,
                        format!("cost must be a number >= 0 (got {cost})"),
                    );
                }
                if t.value.tools.is_empty() {
                    return fail(
                        &t.referenced,
                        "tools: needs at least one tool name or glob".into(),
                    );
                }
                cfg.tools.push(breaker::ToolBudget {
                    tools: t.value.tools.iter().map(|g| Glob::new(g)).collect(),
                    max_calls: t.value.max_calls,
                    cost,
                });
            }
        }
        if let Some(n) = b.consecutive_errors {
            cfg.error_threshold = (n > 0).then_some(n);
        }
        for (field, target) in [
            (&b.cooldown, &mut cfg.cooldown_ms),
            (&b.max_cooldown, &mut cfg.max_cooldown_ms),
        ] {
            if let Some(d) = field {
                match parse_duration(&d.value) {
                    Ok(ms) => *target = ms,
                    Err(m) => return fail(&d.referenced, m),
                }
            }
        }
        if b.max_cooldown.is_none() {
            // Only the cooldown was set: the cap is at least the cooldown itself.
            cfg.max_cooldown_ms = cfg.max_cooldown_ms.max(cfg.cooldown_ms);
        }
        if cfg.max_cooldown_ms < cfg.cooldown_ms {
            return fail(
                &doc.referenced,
                format!(
                    "max_cooldown ({}) is shorter than cooldown ({})",
                    breaker::duration_text(cfg.max_cooldown_ms),
                    breaker::duration_text(cfg.cooldown_ms)
                ),
            );
        }
        Ok(cfg)
    }
}

/// `10ms`, `5s`, `2m`/`2min`, `1h` -> milliseconds (more than zero).
pub(super) fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (write e.g. 500ms, 5s, 2m or 1h)"))?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" | "sec" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            return Err(format!(
                "{text:?} has no unit (write e.g. 500ms, 5s, 2m or 1h)"
            ))
        }
    };
    let ms = (n * scale).round();
    if !(1.0..1e15).contains(&ms) {
        return Err(format!("{text:?} must be at least 1ms"));
    }
    Ok(ms as u64)
}

/// `60/minute` -> (60 calls, tokens per millisecond). Periods: second, minute, hour (or s,
/// min, h).
pub(super) fn parse_rate(text: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{text:?} is not a rate (write e.g. 60/minute, 5/second or 1000/hour)");
    let (n, period) = text.trim().split_once('/').ok_or_else(bad)?;
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let ms = match period.trim() {
        "second" | "s" | "sec" => 1000.0,
        "minute" | "m" | "min" => 60_000.0,
        "hour" | "h" => 3_600_000.0,
        _ => return Err(bad()),
    };
    if !(n > 0.0 && n.is_finite()) {
        return Err(format!("{text:?}: the number of calls must be more than 0"));
    }
    Ok((n, n / ms))
}
