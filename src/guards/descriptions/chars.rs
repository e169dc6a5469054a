//! The characters of a listed text that a person would not see: invisible and bidirectional
//! Unicode (the shared list in `base::visible`, plus C0 controls other than tab and line
//! breaks) and ANSI escape sequences (ESC and the C1 CSI/OSC forms). Finds them, names them
//! in a short printable detail, strips them, and decodes what tag characters spell.

use crate::base::visible;

/// What one text holds of the two character classes.
#[derive(Default)]
pub struct Odd {
    /// The hidden characters, in order (at most `KEEP` kept; `hidden_count` counts all).
    hidden: Vec<char>,
    pub hidden_count: usize,
    /// The first ANSI escape sequence as written, and how many there are.
    first_escape: Option<String>,
    pub escapes: usize,
}

const KEEP: usize = 64;

/// The C1 forms of CSI and OSC (the string terminator ST is U+009C, bytes C2 9C).
const C1_CSI: char = '\u{9b}';
const C1_OSC: char = '\u{9d}';

/// True for a character this module counts as hidden, given its neighbours: the shared list
/// and C0 controls (not tab, LF, CR, nor ESC, which starts an escape). One variation selector
/// right after a visible character, and a zero-width joiner between two visible non-ASCII
/// characters, are how emoji are written (`⚠️`, family emoji), not hiding.
fn hides(prev: Option<char>, c: char, next: Option<char>) -> bool {
    let visible_before = prev.is_some_and(|p| !p.is_control() && !visible::hidden(p) && p != ' ');
    match c as u32 {
        0xfe0e | 0xfe0f => !visible_before,
        0x200d => {
            let joins = visible_before
                && prev.is_some_and(|p| !p.is_ascii())
                && next.is_some_and(|n| !n.is_ascii() && !visible::hidden(n));
            !joins
        }
        0x1b | 0x9b | 0x9d => false,
        0x09 | 0x0a | 0x0d => false,
        0x00..=0x1f | 0x7f => true,
        _ => visible::hidden(c),
    }
}

/// Where an escape sequence starting at byte `i` of `s` (at an ESC, CSI or OSC) ends.
fn escape_end(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let (body, osc) = match s[i..].chars().next() {
        Some('\u{1b}') => match b.get(i + 1) {
            Some(b'[') => (i + 2, false),
            Some(b']' | b'P' | b'_' | b'^' | b'X') => (i + 2, true),
            Some(c) if (0x20..0x7f).contains(c) => return i + 2,
            _ => return i + 1,
        },
        Some(C1_CSI) => (i + 2, false),
        Some(C1_OSC) => (i + 2, true),
        _ => return i + 1,
    };
    if osc {
        // Up to BEL, ESC \ or ST, else the end of the text.
        let mut j = body;
        while j < b.len() {
            if b[j] == 0x07 {
                return j + 1;
            }
            if b[j] == 0x1b {
                return if b.get(j + 1) == Some(&b'\\') {
                    j + 2
                } else {
                    j
                };
            }
            if b[j] == 0xc2 && b.get(j + 1) == Some(&0x9c) {
                return j + 2;
            }
            j += 1;
        }
        return b.len();
    }
    // CSI: parameter bytes, intermediate bytes, one final byte.
    let mut j = body;
    while j < b.len() && (0x30..=0x3f).contains(&b[j]) {
        j += 1;
    }
    while j < b.len() && (0x20..=0x2f).contains(&b[j]) {
        j += 1;
    }
    if j < b.len() && (0x40..=0x7e).contains(&b[j]) {
        j += 1;
    }
    j
}

/// Calls `f` for each run of `s` that is kept (text between hidden characters and escapes),
/// and `odd` for each character or escape that is not. One pass, linear.
fn walk(s: &str, mut kept: impl FnMut(&str), mut odd: impl FnMut(Option<char>, &str)) {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c == '\u{1b}' || c == C1_CSI || c == C1_OSC {
            kept(&s[start..i]);
            let end = escape_end(s, i);
            odd(None, &s[i..end]);
            while it.peek().is_some_and(|&(j, _)| j < end) {
                it.next();
            }
            start = end;
            prev = None;
            continue;
        }
        let next = it.peek().map(|&(_, n)| n);
        if hides(prev, c, next) {
            kept(&s[start..i]);
            odd(Some(c), "");
            start = i + c.len_utf8();
            // A run of hidden characters: the next one has no visible character before it.
            prev = Some(c);
            continue;
        }
        prev = Some(c);
    }
    kept(&s[start..]);
}

/// What `s` holds that a person would not see.
pub fn find(s: &str) -> Odd {
    let mut o = Odd::default();
    if s.is_ascii() && !s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return o;
    }
    walk(
        s,
        |_| {},
        |c, esc| match c {
            Some(c) => {
                o.hidden_count += 1;
                if o.hidden.len() < KEEP {
                    o.hidden.push(c);
                }
            }
            None => {
                o.escapes += 1;
                if o.first_escape.is_none() {
                    o.first_escape = Some(esc.to_string());
                }
            }
        },
    );
    o
}

/// `s` without its hidden characters and escape sequences.
pub fn strip(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    walk(s, |k| out.push_str(k), |_, _| {});
    out
}

/// What the tag characters in `s` spell (U+E0020..U+E007E are ASCII shifted up), if any.
pub fn tag_text(s: &str) -> Option<String> {
    let t: String = s
        .chars()
        .filter_map(|c| match c as u32 {
            0xe0020..=0xe007e => char::from_u32(c as u32 - 0xe0000),
            _ => None,
        })
        .collect();
    (!t.trim().is_empty()).then_some(t)
}

fn name(c: char) -> Option<&'static str> {
    Some(match c as u32 {
        0x00ad => "SOFT HYPHEN",
        0x034f => "COMBINING GRAPHEME JOINER",
        0x061c => "ARABIC LETTER MARK",
        0x200b => "ZERO WIDTH SPACE",
        0x200c => "ZERO WIDTH NON-JOINER",
        0x200d => "ZERO WIDTH JOINER",
        0x200e => "LEFT-TO-RIGHT MARK",
        0x200f => "RIGHT-TO-LEFT MARK",
        0x2028 => "LINE SEPARATOR",
        0x2029 => "PARAGRAPH SEPARATOR",
        0x202a => "LEFT-TO-RIGHT EMBEDDING",
        0x202b => "RIGHT-TO-LEFT EMBEDDING",
        0x202c => "POP DIRECTIONAL FORMATTING",
        0x202d => "LEFT-TO-RIGHT OVERRIDE",
        0x202e => "RIGHT-TO-LEFT OVERRIDE",
        0x2060 => "WORD JOINER",
        0x2066 => "LEFT-TO-RIGHT ISOLATE",
        0x2067 => "RIGHT-TO-LEFT ISOLATE",
        0x2068 => "FIRST STRONG ISOLATE",
        0x2069 => "POP DIRECTIONAL ISOLATE",
        0xfeff => "ZERO WIDTH NO-BREAK SPACE",
        _ => return None,
    })
}

/// The named range a character belongs to, for a detail about many of them.
fn range(c: char) -> (&'static str, &'static str) {
    match c as u32 {
        0xe0000..=0xe007f => ("U+E0000..U+E007F", "tag characters"),
        0xe0100..=0xe0fff => ("U+E0100..U+E01EF", "variation selectors"),
        0xfe00..=0xfe0f => ("U+FE00..U+FE0F", "variation selectors"),
        0x00..=0x1f | 0x7f => ("U+0000..U+001F", "control characters"),
        0x80..=0x9f => ("U+0080..U+009F", "C1 control characters"),
        0x202a..=0x202e | 0x2066..=0x2069 | 0x200e | 0x200f | 0x061c => {
            ("bidi", "bidirectional controls")
        }
        0x200b..=0x200d | 0x2060..=0x2064 | 0xfeff => ("zero-width", "zero-width characters"),
        _ => ("", "invisible characters"),
    }
}

fn code(c: char) -> String {
    match name(c) {
        Some(n) => format!("U+{:04X} {n}", c as u32),
        None => format!("U+{:04X}", c as u32),
    }
}

impl Odd {
    /// A short printable detail about the hidden characters, if any: one character by name,
    /// a run from one range by its range, else the first few by name.
    pub fn hidden_detail(&self) -> Option<String> {
        let first = *self.hidden.first()?;
        let n = self.hidden_count;
        let mut distinct: Vec<char> = Vec::new();
        for &c in &self.hidden {
            if !distinct.contains(&c) {
                distinct.push(c);
            }
        }
        if distinct.len() == 1 {
            return Some(if n == 1 {
                code(first)
            } else {
                format!("{n} × {}", code(first))
            });
        }
        let (span, what) = range(first);
        if !span.is_empty() && self.hidden.iter().all(|&c| range(c).0 == span) {
            let span = if span.starts_with('U') {
                format!("{span} ")
            } else {
                String::new()
            };
            return Some(format!("{n} characters {span}({what})"));
        }
        let shown: Vec<String> = distinct.iter().take(3).map(|&c| code(c)).collect();
        let more = if distinct.len() > 3 { ", ..." } else { "" };
        Some(format!("{n} characters: {}{more}", shown.join(", ")))
    }

    /// A short printable detail about the escape sequences, if any.
    pub fn escape_detail(&self) -> Option<String> {
        let first = self.first_escape.as_deref()?;
        let mut shown = String::new();
        for c in first.chars() {
            if shown.chars().count() >= 24 {
                shown.push_str("...");
                break;
            }
            match c {
                '\u{1b}' => shown.push_str("ESC"),
                C1_CSI => shown.push_str("CSI"),
                C1_OSC => shown.push_str("OSC"),
                '\u{7}' => shown.push_str("BEL"),
                c if c.is_control() => shown.push_str(&format!("\\x{:02x}", c as u32)),
                c => shown.push(c),
            }
        }
        Some(if self.escapes == 1 {
            format!("ANSI escape {shown}")
        } else {
            format!("{} ANSI escapes, the first {shown}", self.escapes)
        })
    }
}
