//! The whole-line fast path: a complete line that has the shape of JSON-RPC messages is read
//! in one pass over its members, skipping values by their brackets and strings; anything else
//! goes back to the byte-by-byte machine in mod.rs.

use super::{MAX_ID, QUIET_STOP};
use crate::base::bytes::find_any3;

/// Reads one complete line and reports its responses, when it has the shape of JSON-RPC
/// messages (an object, or a batch of them, whose members are each a string key, a colon and
/// a value); false, reporting nothing, when the byte-by-byte machine must read it instead:
/// any other shape, or a repeated `id`, `method`, `error` or `result` member. Values are
/// skipped by their brackets and strings, as the machine skips them (the scanner never judges
/// server output, it only finds each response), and keys are matched as written: an escaped
/// key is no key the scanner knows, for the machine either.
pub(super) fn whole_line(line: &[u8], on_response: &mut impl FnMut(&str, bool)) -> bool {
    let mut r = Line { b: line, i: 0 };
    let mut single = None;
    let mut batch = Vec::new();
    let read = (|| {
        match r.ws() {
            None => return Some(()),
            Some(b'{') => single = r.object()?,
            Some(b'[') => {
                // A batch: its objects are messages, anything else is skipped.
                r.i += 1;
                if r.ws()? == b']' {
                    r.i += 1;
                } else {
                    loop {
                        if r.ws()? == b'{' {
                            batch.extend(r.object()?);
                        } else {
                            r.value()?;
                        }
                        match r.ws()? {
                            b',' => r.i += 1,
                            b']' => {
                                r.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
            }
            Some(_) => return None,
        }
        // Only whitespace after the message.
        r.ws().is_none().then_some(())
    })();
    if read.is_none() {
        return false;
    }
    for (id, failed) in single.into_iter().chain(batch) {
        // The id as text (the machine drops one that is not UTF-8 the same way).
        if let Ok(id) = std::str::from_utf8(id) {
            on_response(id, failed);
        }
    }
    true
}

/// A cursor over one complete line of server output.
struct Line<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Line<'a> {
    /// The next byte that is not JSON whitespace (not consumed), if any.
    fn ws(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\r') {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// Moves past the string that starts at the cursor; its bytes between the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i + 1;
        let mut i = start;
        loop {
            // Keys and short values byte by byte; the rest a word at a time.
            let rest = self.b.get(i..)?;
            let head = &rest[..rest.len().min(16)];
            i += match head.iter().position(|&c| c == b'"' || c == b'\\') {
                Some(k) => k,
                None => head.len() + find_any3(b'"', b'\\', b'\\', &rest[head.len()..])?,
            };
            if self.b[i] == b'"' {
                self.i = i + 1;
                return Some(&self.b[start..i]);
            }
            i += 2; // a backslash and the byte it escapes
        }
    }

    /// Moves past the value that starts at the cursor (after whitespace).
    fn value(&mut self) -> Option<()> {
        match self.ws()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0u32;
                loop {
                    let k = self.b[self.i..]
                        .iter()
                        .position(|&c| QUIET_STOP[usize::from(c)])?;
                    self.i += k;
                    match self.b[self.i] {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        _ => depth -= 1, // `}` or `]` (the line has no newline)
                    }
                    self.i += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
            }
            // A number or a literal: up to where the next member or the end would start.
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                let rest = &self.b[self.i..];
                let k = rest
                    .iter()
                    .position(|&c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r'))
                    .unwrap_or(rest.len());
                self.i += k;
                Some(())
            }
            _ => None,
        }
    }

    /// Reads the object at the cursor: its id's text and whether it failed, if it is a
    /// response with an id; `None` when the machine must read the line.
    #[allow(clippy::type_complexity)]
    fn object(&mut self) -> Option<Option<(&'a [u8], bool)>> {
        let (mut id, mut method, mut error, mut result) = (None, false, false, false);
        let mut failed = false;
        self.members(|r, key| {
            match key {
                b"id" => {
                    let start = r.i;
                    r.value()?;
                    if id.replace(&r.b[start..r.i]).is_some() {
                        return None;
                    }
                }
                b"method" | b"error" => {
                    let seen = if key == b"method" {
                        &mut method
                    } else {
                        &mut error
                    };
                    if std::mem::replace(seen, true) {
                        return None;
                    }
                    r.value()?;
                }
                b"result" => {
                    if std::mem::replace(&mut result, true) {
                        return None;
                    }
                    if r.ws()? == b'{' {
                        r.members(|r, key| {
                            if key == b"isError" && r.ws()? == b't' {
                                failed = true;
                            }
                            r.value()
                        })?;
                    } else {
                        r.value()?;
                    }
                }
                _ => r.value()?,
            }
            Some(())
        })?;
        Some(
            id.filter(|id| !method && id.len() <= MAX_ID)
                .map(|id| (id, failed || error)),
        )
    }

    /// Reads the members of the object at the cursor, calling `member(self, key)` with the
    /// cursor on each value.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Line<'a>, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.i += 1; // `{`
        if self.ws()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            if self.ws()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if self.ws()? != b':' {
                return None;
            }
            self.i += 1;
            member(self, key)?;
            match self.ws()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}
