//! A bounded reader of list literals as servers print query results: a JSON array, or a
//! Python `repr` of a list (`str(results)` of dicts or tuples: quotes and escapes, `b''`
//! bytes, `None`/`True`/`False`, numbers, nested lists, dicts, tuples and sets, calls such
//! as `datetime.date(2024, 1, 1)` or `Decimal('1.5')`). It validates the syntax and finds where
//! each top-level element ends, so a result can be cut at an element boundary in its original
//! text. Recursion is bounded by `MAX_DEPTH`; every byte is looked at once.

/// Deeper nesting than this is refused (the reader returns `None`).
pub const MAX_DEPTH: usize = 64;

/// What a top-level element is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `{...}`: a dict, a JSON object (or a set).
    Map,
    /// `(...)` or `[...]`: a tuple or a list.
    Seq,
    /// Anything else: a string, a number, a name, a call.
    Scalar,
}

/// A list literal: the byte offset just after its `[`, and the end offset and kind of each
/// element.
pub struct List {
    pub open_end: usize,
    pub elements: Vec<(usize, Kind)>,
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

/// Reads `text` as one list literal (surrounding whitespace allowed), or `None`.
pub fn read(text: &str) -> Option<List> {
    let mut r = Reader {
        b: text.as_bytes(),
        i: 0,
    };
    r.space();
    if r.peek()? != b'[' {
        return None;
    }
    r.i += 1;
    let open_end = r.i;
    let mut elements = Vec::new();
    r.space();
    if r.peek()? == b']' {
        r.i += 1;
    } else {
        loop {
            let kind = r.value(1)?;
            elements.push((r.i, kind));
            r.space();
            match r.peek()? {
                b',' => {
                    r.i += 1;
                    r.space();
                    if r.peek()? == b']' {
                        r.i += 1;
                        break;
                    }
                }
                b']' => {
                    r.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    r.space();
    (r.i == r.b.len()).then_some(List { open_end, elements })
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// One value; returns its kind, leaves `i` just after it.
    fn value(&mut self, depth: usize) -> Option<Kind> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.space();
        let c = self.peek()?;
        match c {
            b'[' => self.items(b']', depth, false).map(|_| Kind::Seq),
            b'(' => self.items(b')', depth, false).map(|_| Kind::Seq),
            b'{' => self.items(b'}', depth, true).map(|_| Kind::Map),
            b'\'' | b'"' => self.string().map(|_| Kind::Scalar),
            b'0'..=b'9' | b'-' | b'+' | b'.' => self.number().map(|_| Kind::Scalar),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    self.i += 1;
                }
                // A string prefix: b'..', r"..", rb'..', u'..'.
                let word = &self.b[start..self.i];
                if matches!(self.peek(), Some(b'\'' | b'"'))
                    && word.len() <= 2
                    && word.iter().all(|c| b"bBrRuUfF".contains(c))
                {
                    return self.string().map(|_| Kind::Scalar);
                }
                if self.peek() == Some(b'(') {
                    self.items(b')', depth, false)?;
                }
                Some(Kind::Scalar)
            }
            _ => None,
        }
    }

    /// A quoted string: a backslash escapes the next byte; no raw line break inside.
    fn string(&mut self) -> Option<()> {
        let q = self.peek()?;
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'\n' | b'\r' => return None,
                c if c == q => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-' | b'_'))
        {
            self.i += 1;
        }
        // A sign must be followed by something: `-` alone is not a number, `-inf` is.
        (self.i > start
            && self.b[start..self.i]
                .iter()
                .any(|c| c.is_ascii_alphanumeric()))
        .then_some(())
    }

    /// `open` items `close`, separated by commas (a trailing comma allowed). In a dict, items
    /// are `key: value` (or set members); in a call's parentheses, `name=value` is allowed.
    fn items(&mut self, close: u8, depth: usize, dict: bool) -> Option<()> {
        self.i += 1;
        loop {
            self.space();
            if self.peek()? == close {
                self.i += 1;
                return Some(());
            }
            self.value(depth + 1)?;
            self.space();
            match self.peek()? {
                b':' if dict => {
                    self.i += 1;
                    self.value(depth + 1)?;
                    self.space();
                }
                b'=' if close == b')' => {
                    self.i += 1;
                    self.value(depth + 1)?;
                    self.space();
                }
                _ => {}
            }
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}
