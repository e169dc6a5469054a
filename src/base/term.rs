//! Human-facing output on stderr: hand-rolled ANSI colours (on only when stderr is a terminal,
//! `NO_COLOR` is unset and `--no-color` was not given) and the verbosity levels. Every line
//! Sentinel prints for people goes through [`Term`]; stdout belongs to JSON-RPC alone.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this many block alerts are printed per second; the rest are counted and summarised
/// (a looping agent can be blocked thousands of times a second, and every block is in the
/// audit log anyway).
pub const ALERTS_PER_SECOND: u32 = 20;

/// Alert storm control, shared by every clone of a [`Term`].
#[derive(Debug, Default)]
struct Limiter {
    window: Option<Instant>,
    shown: u32,
    suppressed: u64,
}

/// ANSI styles used on stderr.
#[derive(Clone, Copy)]
pub enum Style {
    Red,
    Yellow,
    Green,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Red => "\x1b[1;31m",
            Style::Yellow => "\x1b[33m",
            Style::Green => "\x1b[32m",
            Style::Dim => "\x1b[2m",
        }
    }
}

/// How much to say, and whether in colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Errors, warnings and every block.
    Normal,
    /// Also every allowed tool call.
    Verbose,
}

/// The stderr reporter.
#[derive(Clone, Debug)]
pub struct Term {
    color: bool,
    verbosity: Verbosity,
    limiter: Arc<Mutex<Limiter>>,
}

impl Term {
    /// Colour is used when `want_color` (no `--no-color`), `NO_COLOR` is unset or empty, and
    /// stderr is a terminal.
    pub fn new(want_color: bool, verbosity: Verbosity) -> Term {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Term {
            color: want_color && !no_color_env && std::io::stderr().is_terminal(),
            verbosity,
            limiter: Arc::default(),
        }
    }

    /// Whether `--verbose` output is on (callers skip formatting what would not be shown).
    pub fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    /// `text` wrapped in `style` when colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}\x1b[0m", style.code())
        } else {
            text.to_owned()
        }
    }

    fn emit(&self, line: String) {
        // One write per message so lines from different threads never interleave.
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    /// A security event (a block): shown unless `--quiet`, at most [`ALERTS_PER_SECOND`] a
    /// second. `render` gives the headline and detail lines; it is not called for alerts that
    /// are not shown.
    pub fn alert(&self, render: impl FnOnce() -> (String, Vec<String>)) {
        self.alert_styled("[SENTINEL] BLOCKED", Style::Red, render);
    }

    fn alert_styled(
        &self,
        label: &str,
        style: Style,
        render: impl FnOnce() -> (String, Vec<String>),
    ) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let carried = {
            let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let mut carried = 0;
            if l.window
                .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1))
            {
                carried = std::mem::take(&mut l.suppressed);
                l.window = Some(now);
                l.shown = 0;
            }
            if l.shown >= ALERTS_PER_SECOND {
                l.suppressed += 1;
                return;
            }
            l.shown += 1;
            carried
        };
        let (headline, body) = render();
        let mut out = self.suppressed_note(carried);
        out.push_str(&format!("{} {}\n", self.paint(style, label), headline));
        for line in body {
            out.push_str("           ");
            out.push_str(&line);
            out.push('\n');
        }
        self.emit(out);
    }

    fn suppressed_note(&self, n: u64) -> String {
        if n == 0 {
            return String::new();
        }
        format!(
            "{} {n} more alert(s) not shown (at most {ALERTS_PER_SECOND} alerts a second); the \
             audit log has every one\n",
            self.paint(Style::Red, "[SENTINEL]")
        )
    }

    /// Prints the count of alerts still held back (call before exiting).
    pub fn finish(&self) {
        let n = std::mem::take(
            &mut self
                .limiter
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .suppressed,
        );
        if n > 0 {
            self.emit(self.suppressed_note(n));
        }
    }

    /// Something allowed, shown only with `--verbose`.
    pub fn allowed(&self, headline: &str) {
        if self.verbosity == Verbosity::Verbose {
            self.emit(format!(
                "{} {headline}\n",
                self.paint(Style::Green, "[SENTINEL] allowed")
            ));
        }
    }

    /// A decision recorded but not enforced (monitor): shown unless `--quiet`, rate-limited
    /// with the block alerts.
    pub fn monitored(&self, headline: &str) {
        self.alert_styled("[SENTINEL] monitored", Style::Yellow, || {
            (headline.to_owned(), Vec::new())
        });
    }

    /// Progress information, shown only with `--verbose`.
    pub fn info(&self, text: &str) {
        if self.verbosity == Verbosity::Verbose {
            self.emit(format!("{} {text}\n", self.paint(Style::Dim, "[SENTINEL]")));
        }
    }

    /// A problem Sentinel works around: shown unless `--quiet`.
    pub fn warn(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.emit(format!(
                "{} {text}\n",
                self.paint(Style::Yellow, "[SENTINEL] warning:")
            ));
        }
    }

    /// A state change worth knowing (a policy reload): shown unless `--quiet`.
    pub fn notice(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.emit(format!(
                "{} {text}\n",
                self.paint(Style::Green, "[SENTINEL]")
            ));
        }
    }

    /// A failure: always shown.
    pub fn error(&self, text: &str) {
        self.emit(format!(
            "{} {text}\n",
            self.paint(Style::Red, "sentinel: error:")
        ));
    }
}
