//! Human-facing output on stderr: hand-rolled ANSI colours (on only when stderr is a terminal,
//! `NO_COLOR` is unset and `--no-color` was not given) and the verbosity levels. Every line
//! Sentinel prints for people goes through [`Term`]; stdout belongs to JSON-RPC alone.

use std::io::{IsTerminal, Write};

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
}

impl Term {
    /// Colour is used when `want_color` (no `--no-color`), `NO_COLOR` is unset or empty, and
    /// stderr is a terminal.
    pub fn new(want_color: bool, verbosity: Verbosity) -> Term {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Term {
            color: want_color && !no_color_env && std::io::stderr().is_terminal(),
            verbosity,
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

    /// A security event (a block): shown unless `--quiet`.
    pub fn alert(&self, headline: &str, body: &[String]) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let mut out = format!(
            "{} {}\n",
            self.paint(Style::Red, "[SENTINEL] BLOCKED"),
            headline
        );
        for line in body {
            out.push_str("           ");
            out.push_str(line);
            out.push('\n');
        }
        self.emit(out);
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

    /// A failure: always shown.
    pub fn error(&self, text: &str) {
        self.emit(format!(
            "{} {text}\n",
            self.paint(Style::Red, "sentinel: error:")
        ));
    }
}
