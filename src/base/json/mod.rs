//! Strict JSON (RFC 8259) for client lines, in one pass that builds only what the gateway
//! reads: [`Json`] values whose strings borrow from the line unless they hold escapes, with
//! duplicate object keys and nesting beyond [`MAX_DEPTH`] refused as they are met. It accepts
//! exactly what serde_json accepts and reports the first problem in document order, in
//! serde_json's words and at its column (what a client reads in a -32700 answer did not change
//! when this reader replaced serde_json): the serde_json reading it replaces stays in the tests
//! as the oracle (`jsonrpc::reference`), and a differential test holds the two to the same
//! answers, wording included, on every generated line. The one known difference: an exponent
//! too long for serde_json to read is reported at the number's end, not where serde_json stops.
//!
//! Two modes, as serde_json has: *building* (values, decoded strings, paired surrogates, numbers
//! in range, duplicate keys and depth checked) and *skipping* (syntax only, iterative, any
//! depth), which is how serde_json reads a raw value (a request id, the elements of a batch).

use std::borrow::Cow;

/// Deepest nesting of arrays and objects accepted in one message, the message itself counting
/// as level 1. Deeper input is refused (it is a classic parser-differential and
/// stack-exhaustion vector, and no MCP message needs it).
pub const MAX_DEPTH: usize = 100;

/// Objects with more members than this check duplicates with a hash set instead of a scan.
const LINEAR_DUP_CHECK: usize = 16;

/// A parsed JSON value that borrows its strings from the input line where it can, with object
/// members in document order. Duplicate keys never get this far.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not JSON: what was expected, and where (`... at line 1 column N`, N counting bytes).
    Syntax(String),
    /// An object has this key twice (decoded: `"\u0069d"` is `"id"`).
    Duplicate(String),
    /// A container opens deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// The containers [`Parser::skip`] is inside: the first 64 without an allocation.
struct Stack {
    inline: [u8; 64],
    len: usize,
    more: Vec<u8>,
}

impl Default for Stack {
    fn default() -> Stack {
        Stack {
            inline: [0; 64],
            len: 0,
            more: Vec::new(),
        }
    }
}

impl Stack {
    fn push(&mut self, c: u8) {
        if self.len < self.inline.len() {
            self.inline[self.len] = c;
        } else {
            self.more.push(c);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        if self.len > self.inline.len() {
            self.more.pop();
        }
        self.len = self.len.saturating_sub(1);
    }

    fn last(&self) -> Option<&u8> {
        match self.len {
            0 => None,
            n if n <= self.inline.len() => self.inline.get(n - 1),
            _ => self.more.last(),
        }
    }
}

/// A cursor over one JSON text.
pub struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    /// The text between two offsets.
    pub fn slice(&self, from: usize, to: usize) -> &'a str {
        &self.text[from..to]
    }

    /// An error about the byte at the cursor, reported past it (serde_json's "peek" position:
    /// column = the byte's 1-based place, the end of the line at EOF).
    #[cold]
    #[inline(never)]
    fn error(&self, what: &str) -> Error {
        Self::syntax(what, (self.i + 1).min(self.b.len()))
    }

    /// An error about what was just consumed, reported at the cursor (serde_json's position
    /// after a read: the column of the last byte read), as in strings and their escapes.
    #[cold]
    #[inline(never)]
    fn error_here(&self, what: &str) -> Error {
        Self::syntax(what, self.i)
    }

    fn syntax(what: &str, column: usize) -> Error {
        Error::Syntax(format!("{what} at line 1 column {column}"))
    }

    /// Skips JSON whitespace; the next byte, if any.
    #[inline]
    pub fn ws(&mut self) -> Option<u8> {
        let b = self.b;
        let mut i = self.i;
        while let Some(&c) = b.get(i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i = i;
                return Some(c);
            }
            i += 1;
        }
        self.i = i;
        None
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<(), Error> {
        match self.ws() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Reads the members of the object that starts at the cursor (after whitespace): for
    /// each, its decoded key, then `member(key, parser)`, which must read the colon (with
    /// [`Parser::colon`], after any check it makes on the key alone, as serde_json's visitors
    /// do) and the value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(Cow<'a, str>, &mut Parser<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.ws() != Some(b'{') {
            return Err(self.error("expected `{`"));
        }
        self.i += 1;
        match self.ws() {
            Some(b'}') => {
                self.i += 1;
                return Ok(());
            }
            Some(b'"') => {}
            Some(_) => return Err(self.error("key must be a string")),
            None => return Err(self.error("EOF while parsing an object")),
        }
        loop {
            let key = self.string()?;
            member(key, self)?;
            match self.ws() {
                Some(b',') => {
                    self.i += 1;
                    match self.ws() {
                        Some(b'"') => {}
                        Some(b'}') => return Err(self.error("trailing comma")),
                        Some(_) => return Err(self.error("key must be a string")),
                        None => return Err(self.error("EOF while parsing a value")),
                    }
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
    }

    /// Reads one value, building it. A container opened at `level` (the top-level message
    /// being level 1) deeper than [`MAX_DEPTH`] is refused.
    pub fn value(&mut self, level: usize) -> Result<Json<'a>, Error> {
        match self.ws() {
            Some(b'"') => self.string().map(Json::Str),
            Some(b'{') => {
                if level > MAX_DEPTH {
                    return Err(Error::TooDeep);
                }
                let mut members: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
                let mut many: Option<std::collections::HashSet<Cow<'a, str>>> = None;
                self.object(|key, p| {
                    p.colon()?;
                    let value = p.value(level + 1)?;
                    let duplicate = match &mut many {
                        Some(set) => !set.insert(key.clone()),
                        None => {
                            let dup = members.iter().any(|(k, _)| *k == key);
                            if !dup && members.len() == LINEAR_DUP_CHECK {
                                let mut set: std::collections::HashSet<_> =
                                    members.iter().map(|(k, _)| k.clone()).collect();
                                set.insert(key.clone());
                                many = Some(set);
                            }
                            dup
                        }
                    };
                    if duplicate {
                        return Err(Error::Duplicate(key.into_owned()));
                    }
                    members.push((key, value));
                    Ok(())
                })?;
                Ok(Json::Obj(members))
            }
            Some(b'[') => {
                if level > MAX_DEPTH {
                    return Err(Error::TooDeep);
                }
                let mut items = Vec::new();
                self.array(|p| {
                    items.push(p.value(level + 1)?);
                    Ok(())
                })?;
                Ok(Json::Arr(items))
            }
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Json<'a>) -> Result<Json<'a>, Error> {
        self.skip_literal(word)?;
        Ok(value)
    }

    fn skip_literal(&mut self, word: &[u8]) -> Result<(), Error> {
        for &c in word {
            match self.b.get(self.i) {
                Some(&x) if x == c => self.i += 1,
                Some(_) => return Err(self.error("expected ident")),
                None => return Err(self.error("EOF while parsing a value")),
            }
        }
        Ok(())
    }

    /// The extent of a number at the cursor, checked against JSON's grammar; whether it is an
    /// integer (no fraction, no exponent). A number cut short by the end of the line is "EOF
    /// while parsing a value" when building and "invalid number" when `skipping`, as serde_json
    /// words them.
    fn number_extent(&mut self, skipping: bool) -> Result<(usize, bool), Error> {
        let eof = if skipping {
            "invalid number"
        } else {
            "EOF while parsing a value"
        };
        let start = self.i;
        let digits = |p: &mut Parser| {
            let from = p.i;
            while p.b.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i - from
        };
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => {
                self.i += 1;
                if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                digits(self);
            }
            Some(_) => return Err(self.error("invalid number")),
            None => return Err(self.error(eof)),
        }
        let mut integer = true;
        if self.b.get(self.i) == Some(&b'.') {
            integer = false;
            self.i += 1;
            if digits(self) == 0 {
                return Err(match self.b.get(self.i) {
                    Some(_) => self.error("invalid number"),
                    None => self.error(eof),
                });
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            integer = false;
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(match self.b.get(self.i) {
                    Some(_) => self.error("invalid number"),
                    None => self.error(eof),
                });
            }
        }
        Ok((start, integer))
    }

    /// A number: non-negative integers that fit become `UInt`, negative ones `Int`, the rest
    /// `Float` (a value beyond f64's range is refused, as serde_json refuses it).
    fn number(&mut self) -> Result<Json<'a>, Error> {
        let (start, integer) = self.number_extent(false)?;
        let lit = &self.text[start..self.i];
        if integer {
            if let Some(digits) = lit.strip_prefix('-') {
                if let Ok(n) = digits.parse::<u64>() {
                    if n > 0 && n <= 1 << 63 {
                        return Ok(Json::Int((n as i64).wrapping_neg()));
                    }
                }
            } else if let Ok(n) = lit.parse::<u64>() {
                return Ok(Json::UInt(n));
            }
        }
        match lit.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Json::Float(f)),
            // At the number's end, as serde_json reports `1e400` (an exponent too long for it
            // to read is reported where it stops reading: the one column that differs).
            _ => Err(self.error_here("number out of range")),
        }
    }

    /// A string at the cursor (which is on its opening quote), decoded.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.i += 1;
        let start = self.i;
        self.plain_run();
        match self.b.get(self.i) {
            Some(b'"') => {
                let s = &self.text[start..self.i];
                self.i += 1;
                Ok(Cow::Borrowed(s))
            }
            Some(b'\\') => {
                let mut out = String::with_capacity(self.i - start + 16);
                out.push_str(&self.text[start..self.i]);
                loop {
                    match self.b.get(self.i) {
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(Cow::Owned(out));
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            self.escape(&mut out)?;
                        }
                        Some(_) => {
                            self.i += 1;
                            return Err(self.control());
                        }
                        None => return Err(self.error_here("EOF while parsing a string")),
                    }
                    let from = self.i;
                    self.plain_run();
                    out.push_str(&self.text[from..self.i]);
                }
            }
            Some(_) => {
                self.i += 1;
                Err(self.control())
            }
            None => Err(self.error_here("EOF while parsing a string")),
        }
    }

    #[cold]
    fn control(&self) -> Error {
        self.error_here("control character (\\u0000-\\u001F) found while parsing a string")
    }

    /// Moves the cursor to the next byte that ends a plain run (quote, backslash, control):
    /// a machine word at a time from the start, since the line goes on after a short string.
    #[inline]
    fn plain_run(&mut self) {
        self.i += crate::base::bytes::find_string_stop(&self.b[self.i..]);
    }

    /// One escape (after its backslash), decoded into `out`; `\u` escapes must pair their
    /// surrogates.
    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.error_here("EOF while parsing a string"));
        };
        self.i += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = self.hex4()?;
                if (0xDC00..=0xDFFF).contains(&n) {
                    return Err(self.error_here("lone leading surrogate in hex escape"));
                }
                if !(0xD800..=0xDBFF).contains(&n) {
                    char::from_u32(n).unwrap_or('\u{fffd}')
                } else {
                    match self.b.get(self.i) {
                        Some(b'\\') => self.i += 1,
                        Some(_) => {
                            self.i += 1;
                            return Err(self.error_here("unexpected end of hex escape"));
                        }
                        None => return Err(self.error_here("EOF while parsing a string")),
                    }
                    match self.b.get(self.i) {
                        Some(b'u') => {}
                        Some(_) => {
                            self.i += 1;
                            return Err(self.error_here("unexpected end of hex escape"));
                        }
                        None => return Err(self.error_here("EOF while parsing a string")),
                    }
                    self.i += 1;
                    let low = self.hex4()?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(self.error_here("lone leading surrogate in hex escape"));
                    }
                    let code = 0x1_0000 + ((n - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).unwrap_or('\u{fffd}')
                }
            }
            _ => return Err(self.error_here("invalid escape")),
        };
        out.push(ch);
        Ok(())
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u32, Error> {
        // As serde_json does: four bytes are taken whole, then judged.
        let Some(digits) = self.b.get(self.i..self.i + 4) else {
            self.i = self.b.len();
            return Err(self.error_here("EOF while parsing a string"));
        };
        self.i += 4;
        let mut n = 0;
        for &c in digits {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(self.error_here("invalid escape")),
            };
            n = n * 16 + u32::from(d);
        }
        Ok(n)
    }

    /// Skips a string at the cursor (on its opening quote), checking its syntax only: escapes
    /// need not pair surrogates (as in serde_json's raw values).
    fn skip_string(&mut self) -> Result<(), Error> {
        self.i += 1;
        loop {
            self.plain_run();
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(&c) = self.b.get(self.i) else {
                        return Err(self.error_here("EOF while parsing a string"));
                    };
                    self.i += 1;
                    match c {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            self.hex4()?;
                        }
                        _ => return Err(self.error_here("invalid escape")),
                    }
                }
                // Reported at the character itself, as serde_json's raw values do.
                Some(_) => return Err(self.control()),
                None => return Err(self.error_here("EOF while parsing a string")),
            }
        }
    }

    /// Skips one value, checking its syntax only (any depth, without recursion: a line of a
    /// million `[` costs a byte of stack each in a vector, not a stack frame). Returns where the
    /// value starts and ends.
    pub fn skip(&mut self) -> Result<(usize, usize), Error> {
        let mut open = Stack::default();
        let mut start = None;
        loop {
            // A value.
            let c = match self.ws() {
                Some(c) => c,
                None => return Err(self.error("EOF while parsing a value")),
            };
            start.get_or_insert(self.i);
            let mut closed = match c {
                b'"' => {
                    self.skip_string()?;
                    true
                }
                b'{' => {
                    self.i += 1;
                    match self.ws() {
                        Some(b'}') => {
                            self.i += 1;
                            true
                        }
                        Some(b'"') => {
                            self.skip_string()?;
                            self.colon()?;
                            open.push(b'{');
                            false
                        }
                        Some(_) => return Err(self.error("key must be a string")),
                        None => return Err(self.error("EOF while parsing an object")),
                    }
                }
                b'[' => {
                    self.i += 1;
                    match self.ws() {
                        Some(b']') => {
                            self.i += 1;
                            true
                        }
                        Some(_) => {
                            open.push(b'[');
                            false
                        }
                        None => return Err(self.error("EOF while parsing a list")),
                    }
                }
                b't' => self.skip_literal(b"true").map(|()| true)?,
                b'f' => self.skip_literal(b"false").map(|()| true)?,
                b'n' => self.skip_literal(b"null").map(|()| true)?,
                b'-' | b'0'..=b'9' => self.number_extent(true).map(|_| true)?,
                _ => return Err(self.error("expected value")),
            };
            // After a complete value: close containers, or move to the next member.
            while closed {
                let Some(&frame) = open.last() else {
                    return Ok((start.unwrap_or(0), self.i));
                };
                match (self.ws(), frame) {
                    (Some(b','), _) => {
                        self.i += 1;
                        if frame == b'{' {
                            match self.ws() {
                                Some(b'"') => {
                                    self.skip_string()?;
                                    self.colon()?;
                                }
                                // serde_json's raw values word a trailing comma so.
                                Some(_) => return Err(self.error("key must be a string")),
                                None => return Err(self.error("EOF while parsing an object")),
                            }
                        } else if self.ws() == Some(b']') {
                            return Err(self.error("expected value"));
                        }
                        closed = false;
                    }
                    (Some(b'}'), b'{') | (Some(b']'), b'[') => {
                        self.i += 1;
                        open.pop();
                    }
                    (Some(_), b'{') => return Err(self.error("expected `,` or `}`")),
                    (Some(_), _) => return Err(self.error("expected `,` or `]`")),
                    (None, b'{') => return Err(self.error("EOF while parsing an object")),
                    (None, _) => return Err(self.error("EOF while parsing a list")),
                }
            }
        }
    }

    /// The `:` after an object key.
    #[inline]
    pub fn colon(&mut self) -> Result<(), Error> {
        if self.b.get(self.i) == Some(&b':') {
            self.i += 1;
            return Ok(());
        }
        match self.ws() {
            Some(b':') => {
                self.i += 1;
                Ok(())
            }
            Some(_) => Err(self.error("expected `:`")),
            None => Err(self.error("EOF while parsing an object")),
        }
    }

    /// Reads the elements of the array that starts at the cursor (after whitespace), each
    /// with `item`, as [`Parser::object`] reads members.
    fn array(
        &mut self,
        mut item: impl FnMut(&mut Parser<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.ws() != Some(b'[') {
            return Err(self.error("expected `[`"));
        }
        self.i += 1;
        match self.ws() {
            Some(b']') => {
                self.i += 1;
                return Ok(());
            }
            Some(_) => {}
            None => return Err(self.error("EOF while parsing a list")),
        }
        loop {
            item(self)?;
            match self.ws() {
                Some(b',') => {
                    self.i += 1;
                    if self.ws() == Some(b']') {
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => return Err(self.error("EOF while parsing a list")),
            }
        }
    }

    /// The elements of the array at the cursor, each as its exact text, syntax checked (the
    /// whole text must be that one array).
    pub fn array_elements(&mut self) -> Result<Vec<&'a str>, Error> {
        let mut out = Vec::new();
        self.array(|p| {
            let (from, to) = p.skip()?;
            out.push(p.slice(from, to));
            Ok(())
        })?;
        self.end().map(|()| out)
    }
}

#[cfg(test)]
mod tests;
