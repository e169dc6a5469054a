//! The markdown table: one row per metric, one column per target, each row with its target
//! text and, in the sentinel columns, a verdict; and how its values are shown (us, ms, rates,
//! MiB, percentages, ratios).

use std::fmt::Write as _;
use std::fs;

use crate::measure::{Figures, MIB};
use crate::procs::{Res, Target};

pub(crate) struct Table {
    pub(crate) targets: Vec<Target>,
    pub(crate) figures: Vec<Figures>,
    pub(crate) rows: String,
}

pub(crate) enum Kind {
    /// The raw figure for every target.
    Plain,
    /// Sentinel minus direct.
    Added,
    /// Sentinel divided by direct.
    Ratio,
}

impl Table {
    pub(crate) fn get(&self, i: usize, key: &str) -> Option<&Res<f64>> {
        self.figures[i].get(key)
    }

    /// Adds a row. `show` formats a value; `target` is the target text and `pass` its test
    /// (applied to the value shown in the sentinel columns).
    pub(crate) fn row(
        &mut self,
        metric: &str,
        key: &str,
        kind: Kind,
        show: impl Fn(f64) -> String,
        target: &str,
        pass: Option<&dyn Fn(f64) -> bool>,
    ) {
        let mut cells = Vec::new();
        let mut verdicts = Vec::new();
        let direct = self.get(0, key).cloned();
        for i in 0..self.targets.len() {
            let value: Option<Res<f64>> = match (&kind, i) {
                (Kind::Plain, _) => self.get(i, key).cloned(),
                (_, 0) => None,
                (k, _) => match (self.get(i, key), &direct) {
                    (Some(Ok(s)), Some(Ok(d))) => Some(Ok(match k {
                        Kind::Added => s - d,
                        _ => s / d,
                    })),
                    (Some(Err(e)), _) => Some(Err(e.clone())),
                    (_, Some(Err(_))) => Some(Err("direct run failed".into())),
                    _ => None,
                },
            };
            cells.push(match &value {
                None => "—".to_owned(),
                Some(Ok(v)) => show(*v),
                Some(Err(e)) => format!("error: {e}"),
            });
            if self.targets[i].sentinel().is_some() {
                if let Some(test) = pass {
                    let label = &self.targets[i].label;
                    verdicts.push(match &value {
                        Some(Ok(v)) if test(*v) => format!("{label} pass"),
                        Some(Ok(_)) => format!("{label} **MISS**"),
                        _ => format!("{label} n/a"),
                    });
                }
            }
        }
        if cells.iter().all(|c| c == "—") {
            return;
        }
        let _ = writeln!(
            self.rows,
            "| {metric} | {} | {target} | {} |",
            cells.join(" | "),
            verdicts.join(", ")
        );
    }
}

/// The CPU idle setup, which decides what a cross-CPU wake-up costs.
pub(crate) fn idle_note() -> String {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let driver = read("/sys/devices/system/cpu/cpuidle/current_driver");
    let poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    match (driver, poll) {
        (Some(d), Some(p)) => format!(" (here: cpuidle driver {d}, guest_halt_poll_ns={p})"),
        (Some(d), None) => format!(" (here: cpuidle driver {d})"),
        _ => String::new(),
    }
}

pub(crate) fn us(v: f64) -> String {
    format!("{:.1} us", v * 1e6)
}
pub(crate) fn ms(v: f64) -> String {
    format!("{:.2} ms", v * 1e3)
}
pub(crate) fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else if v < 1e4 {
        format!("{v:.0}/s")
    } else {
        format!("{:.0} k/s", v / 1e3)
    }
}
pub(crate) fn mib(v: f64) -> String {
    format!("{:.1} MiB", v / MIB as f64)
}
pub(crate) fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}
pub(crate) fn times(v: f64) -> String {
    format!("{v:.2}x")
}
