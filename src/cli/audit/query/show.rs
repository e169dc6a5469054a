//! How `tail` and `query` show an entry to a person: one line (time to the second, action,
//! rule, tool, explanation), with every character that could hide, reorder or rewrite what
//! the terminal shows (controls, escapes, bidi and zero-width characters) written as an
//! escape: an entry quotes what an agent sent, and an agent must not drive our terminal.

use super::filter::Head;
use crate::base::clock;
use std::time::{Duration, UNIX_EPOCH};

/// `text` with control and invisible characters written as `\n`, `\t` or `\u{..}`.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || crate::base::visible::hidden(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// One line for a person (no newline).
pub fn line(e: &Head) -> String {
    let time = match e.micros {
        Some(m) => {
            let t = UNIX_EPOCH + Duration::from_micros(u64::try_from(m).unwrap_or(0));
            let mut s = clock::rfc3339(t);
            s.truncate(19);
            s.push('Z');
            s
        }
        None => e.timestamp.as_deref().map_or("-".into(), visible),
    };
    let f = |v: &Option<String>| v.as_deref().map_or("-".into(), visible);
    format!(
        "{time}  {:<9}  {:<20}  {:<12}  {}",
        f(&e.action),
        f(&e.rule),
        f(&e.tool),
        f(&e.explanation)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_cannot_drive_the_terminal() {
        assert_eq!(
            visible("a\u{1b}[2Jb\n\u{202e}c"),
            "a\\u{1b}[2Jb\\n\\u{202e}c"
        );
        let e = Head::parse(
            br#"{"timestamp":"2026-01-13T10:11:36.279646Z","action":"blocked","rule":"r","tool":"t\u0007","explanation":"x"}"#,
        )
        .unwrap();
        assert_eq!(
            line(&e),
            format!(
                "2026-01-13T10:11:36Z  blocked    {:<20}  {:<12}  x",
                "r", "t\\u{7}"
            )
        );
    }
}
