//! A streaming scanner for server->client traffic. The server's output is forwarded chunk by
//! chunk as it arrives (memory stays bounded whatever the message size); this scanner watches
//! the same bytes go by and reports, for every JSON-RPC object that completes, its top-level
//! `id`, whether it was a response, and whether that response reports a failure (a JSON-RPC
//! `error` member, or a tool result with `"isError": true`). It never rejects anything: server
//! output is not policed, only accounted for, so the gateway knows which requests are still
//! waiting and which tools keep failing (the circuit breaker counts those).
//!
//! Only the top-level members and the members directly inside `result` matter; everything
//! nested deeper (a tool's content) is skipped a machine word at a time for strings and by a
//! byte table for the rest, so the cost per byte stays near that of copying it.

use crate::base::bytes::{find_any3, find_byte};

/// Longest id text remembered; longer ids are not tracked (and so never matched).
const MAX_ID: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyState {
    ExpectKey,
    InKey,
    ExpectColon,
    InValue,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Id,
    Method,
    Error,
    Result,
    Other,
}

/// What was seen of the keys directly inside a top-level `result` object (looking for
/// `"isError": true`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Inner {
    /// Not inside `result`'s object, or between its members.
    Idle,
    /// Reading a member name of `result`.
    InKey,
    /// The member name was `isError`; waiting for its value.
    IsErrorKey,
    /// The value of `isError` starts at the next non-space byte.
    IsErrorValue,
}

/// What the string being read is to the scanner.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// Nothing: skipped to its end.
    Skip,
    /// A key of the top-level object.
    TopKey,
    /// A key directly inside `result`.
    InnerKey,
    /// Part of the `id` value (kept, quotes and escapes included).
    Id,
}

/// Bytes that matter where nothing but nesting is tracked.
static QUIET_STOP: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// Incremental scanner state; feed it every byte of the stream in order.
pub struct Scanner {
    depth: u32,
    in_string: bool,
    role: Role,
    escape: bool,
    top_is_array: bool,
    state: KeyState,
    key: [u8; 8],
    key_len: usize,
    field: Field,
    id: Vec<u8>,
    id_overflow: bool,
    has_method: bool,
    /// The current object reports a failure.
    failed: bool,
    inner: Inner,
    inner_key: [u8; 8],
    inner_len: usize,
    /// Inside `result`'s object, the next string starts a member name.
    inner_at_key: bool,
    /// A line has started and not yet ended.
    mid_line: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            depth: 0,
            in_string: false,
            role: Role::Skip,
            escape: false,
            top_is_array: false,
            state: KeyState::ExpectKey,
            key: [0; 8],
            key_len: 0,
            field: Field::Other,
            id: Vec::with_capacity(32),
            id_overflow: false,
            has_method: false,
            failed: false,
            inner: Inner::Idle,
            inner_key: [0; 8],
            inner_len: 0,
            inner_at_key: false,
            mid_line: false,
        }
    }
}

impl Scanner {
    /// True when the bytes fed so far end inside a line (a message is half written).
    pub fn mid_line(&self) -> bool {
        self.mid_line
    }

    fn object_depth(&self) -> u32 {
        if self.top_is_array {
            2
        } else {
            1
        }
    }

    fn reset_object(&mut self) {
        self.state = KeyState::ExpectKey;
        self.key_len = 0;
        self.field = Field::Other;
        self.id.clear();
        self.id_overflow = false;
        self.has_method = false;
        self.failed = false;
        self.inner = Inner::Idle;
    }

    /// True while directly inside the object that is the value of the top-level `result`.
    fn in_result_object(&self) -> bool {
        self.field == Field::Result
            && self.state == KeyState::InValue
            && self.depth == self.object_depth() + 1
    }

    fn capturing(&self) -> bool {
        self.state == KeyState::InValue && self.field == Field::Id
    }

    /// Whether only nesting matters where the scanner is (outside strings): deeper than the
    /// members of the top-level object and of its `result`, and not inside the id.
    fn quiet(&self) -> bool {
        let od = self.object_depth();
        self.depth > od && !self.capturing() && !self.in_result_object()
    }

    /// Feeds a chunk; calls `on_response(id, failed)` for every completed response that has
    /// an id.
    pub fn feed(&mut self, chunk: &[u8], on_response: &mut impl FnMut(&str, bool)) {
        // A line that starts and ends in this chunk is read whole, as JSON, when it is JSON
        // (nearly always); the byte-by-byte machine takes the rest, and partial lines.
        let mut rest = chunk;
        if self.mid_line {
            // The end of a line begun in an earlier chunk.
            let Some(end) = find_byte(b'\n', rest) else {
                return self.stream(rest, on_response);
            };
            self.stream(&rest[..end], on_response);
            self.finish_line();
            rest = &rest[end + 1..];
        }
        while let Some(end) = find_byte(b'\n', rest) {
            let line = &rest[..end];
            if !whole_line(line, on_response) {
                self.stream(line, on_response);
                self.finish_line();
            }
            rest = &rest[end + 1..];
        }
        self.stream(rest, on_response);
    }

    /// The byte-by-byte machine.
    fn stream(&mut self, chunk: &[u8], on_response: &mut impl FnMut(&str, bool)) {
        let n = chunk.len();
        let mut i = 0;
        while i < n {
            if self.in_string {
                self.mid_line = true;
                i = self.string_bytes(chunk, i);
                continue;
            }
            if self.quiet() {
                // Only quotes, brackets and the end of the line matter here.
                match chunk[i..].iter().position(|&c| QUIET_STOP[usize::from(c)]) {
                    Some(k) => i += k,
                    None => {
                        self.mid_line = true;
                        return;
                    }
                }
            }
            let b = chunk[i];
            i += 1;
            if b == b'\n' {
                // A raw newline never occurs inside valid JSON text: the line is over.
                self.finish_line();
                continue;
            }
            self.mid_line = true;
            self.structural(b, on_response);
        }
    }

    /// Reads the bytes of the current string from `chunk[i..]`; returns where it stopped (after
    /// the closing quote, on a newline, or at the end of the chunk).
    fn string_bytes(&mut self, chunk: &[u8], mut i: usize) -> usize {
        let n = chunk.len();
        while i < n {
            if self.escape {
                self.escape = false;
                self.keep(chunk[i]);
                i += 1;
                continue;
            }
            if self.role == Role::Skip {
                // Skip quickly to the next byte that can end or escape the string.
                match find_any3(b'"', b'\\', b'\n', &chunk[i..]) {
                    Some(k) => i += k,
                    None => return n,
                }
            }
            let b = chunk[i];
            match b {
                // The line is over, string or not: the caller sees the newline.
                b'\n' => {
                    self.in_string = false;
                    return i;
                }
                b'"' => {
                    self.in_string = false;
                    self.keep(b);
                    self.string_done();
                    return i + 1;
                }
                b'\\' => self.escape = true,
                _ => {}
            }
            self.keep(b);
            i += 1;
        }
        n
    }

    /// Keeps a byte of the current string where its role wants it.
    fn keep(&mut self, b: u8) {
        match self.role {
            Role::Skip => {}
            Role::Id => self.capture(b),
            Role::TopKey => {
                if self.key_len < self.key.len() {
                    self.key[self.key_len] = b;
                    self.key_len += 1;
                } else {
                    // Longer than every key looked for.
                    self.key[0] = b'\0';
                }
            }
            Role::InnerKey => {
                if self.inner_len < self.inner_key.len() {
                    self.inner_key[self.inner_len] = b;
                    self.inner_len += 1;
                } else {
                    self.inner_key[0] = b'\0';
                }
            }
        }
    }

    /// A string just closed (its closing quote was kept by its role, and is dropped here from
    /// keys).
    fn string_done(&mut self) {
        match self.role {
            Role::TopKey => {
                self.key_len = self.key_len.saturating_sub(1);
                self.state = KeyState::ExpectColon;
                self.field = match &self.key[..self.key_len] {
                    b"id" => Field::Id,
                    b"method" => Field::Method,
                    b"error" => Field::Error,
                    b"result" => Field::Result,
                    _ => Field::Other,
                };
            }
            Role::InnerKey => {
                self.inner_len = self.inner_len.saturating_sub(1);
                self.inner = if &self.inner_key[..self.inner_len] == b"isError" {
                    Inner::IsErrorKey
                } else {
                    Inner::Idle
                };
            }
            Role::Id | Role::Skip => {}
        }
        self.role = Role::Skip;
    }

    fn capture(&mut self, b: u8) {
        if self.id.len() < MAX_ID {
            self.id.push(b);
        } else {
            self.id_overflow = true;
        }
    }

    /// A byte outside strings.
    fn structural(&mut self, b: u8, on_response: &mut impl FnMut(&str, bool)) {
        let od = self.object_depth();
        let mut inner_key = false;
        if self.in_result_object() {
            match (self.inner, b) {
                (Inner::IsErrorValue, _) if !b.is_ascii_whitespace() => {
                    if b == b't' {
                        self.failed = true;
                    }
                    self.inner = Inner::Idle;
                }
                (Inner::IsErrorKey, b':') => self.inner = Inner::IsErrorValue,
                // A member name starts where a key is expected: at the object's start or after a
                // comma (tracked by `inner_at_key`).
                (Inner::Idle, b'"') if self.inner_at_key => {
                    self.inner = Inner::InKey;
                    self.inner_len = 0;
                    self.inner_at_key = false;
                    inner_key = true;
                }
                (_, b',') => self.inner_at_key = true,
                _ => {}
            }
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.role = if self.depth == od && self.state == KeyState::ExpectKey {
                    self.state = KeyState::InKey;
                    self.key_len = 0;
                    Role::TopKey
                } else if inner_key {
                    Role::InnerKey
                } else if self.capturing() {
                    Role::Id
                } else {
                    Role::Skip
                };
                if self.role == Role::Id {
                    self.capture(b);
                }
                return;
            }
            b'{' | b'[' => {
                if self.depth == 0 && b == b'[' {
                    self.top_is_array = true;
                }
                self.depth += 1;
                if self.depth == self.object_depth() && b == b'{' {
                    self.reset_object();
                    return;
                }
                if self.in_result_object() && b == b'{' {
                    self.inner = Inner::Idle;
                    self.inner_at_key = true;
                }
            }
            b'}' | b']' => {
                if self.depth == od && b == b'}' {
                    self.complete_object(on_response);
                }
                self.depth = self.depth.saturating_sub(1);
                return;
            }
            b':' if self.depth == od && self.state == KeyState::ExpectColon => {
                self.state = KeyState::InValue;
                match self.field {
                    Field::Method => self.has_method = true,
                    Field::Error => self.failed = true,
                    _ => {}
                }
                return;
            }
            b',' if self.depth == od && self.state == KeyState::InValue => {
                self.state = KeyState::ExpectKey;
                self.field = Field::Other;
                return;
            }
            _ => {}
        }
        if self.capturing() && !b.is_ascii_whitespace() {
            self.capture(b);
        }
    }

    fn complete_object(&mut self, on_response: &mut impl FnMut(&str, bool)) {
        if !self.has_method && !self.id.is_empty() && !self.id_overflow {
            if let Ok(id) = std::str::from_utf8(&self.id) {
                on_response(id, self.failed);
            }
        }
        self.reset_object();
    }

    fn finish_line(&mut self) {
        self.depth = 0;
        self.in_string = false;
        self.role = Role::Skip;
        self.escape = false;
        self.top_is_array = false;
        self.reset_object();
        self.mid_line = false;
    }
}

/// Reads one complete line and reports its responses, when it has the shape of JSON-RPC
/// messages (an object, or a batch of them, whose members are each a string key, a colon and
/// a value); false, reporting nothing, when the byte-by-byte machine must read it instead:
/// any other shape, or a repeated `id`, `method`, `error` or `result` member. Values are
/// skipped by their brackets and strings, as the machine skips them (the scanner never judges
/// server output, it only finds each response), and keys are matched as written: an escaped
/// key is no key the scanner knows, for the machine either.
fn whole_line(line: &[u8], on_response: &mut impl FnMut(&str, bool)) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scanner reports for `chunks` fed one by one; fed as one chunk (where whole
    /// lines are read as JSON, not byte by byte) it must report the same.
    fn responses(chunks: &[&str]) -> Vec<(String, bool)> {
        let feed = |chunks: &[&str]| {
            let mut s = Scanner::default();
            let mut out = Vec::new();
            for c in chunks {
                s.feed(c.as_bytes(), &mut |id, failed| {
                    out.push((id.to_owned(), failed))
                });
            }
            out
        };
        let out = feed(chunks);
        assert_eq!(feed(&[&chunks.concat()]), out, "whole lines: {chunks:?}");
        out
    }

    /// Lines that are not JSON, or that repeat a member the scanner reads, are left to the
    /// byte-by-byte machine (whatever it makes of them, both ways of feeding agree).
    #[test]
    fn lines_that_are_not_clean_json_are_read_byte_by_byte() {
        assert_eq!(ids(&["{\"id\":1,\"result\":{}} trailing\n"]), vec!["1"]);
        assert_eq!(ids(&["{\"id\":1,\"result\":{},}\n"]), vec!["1"]);
        let twice = responses(&["{\"id\":1,\"result\":{},\"error\":{},\"error\":1}\n"]);
        assert_eq!(twice, vec![("1".to_owned(), true)]);
        // Escaped keys are no keys the scanner knows, either way.
        assert!(ids(&["{\"\\u0069d\":1,\"result\":{}}\n"]).is_empty());
        assert_eq!(
            responses(&["{\"id\":1,\"result\":{\"\\u0069sError\":true}}\n"]),
            vec![("1".to_owned(), false)]
        );
        // Not UTF-8.
        let mut s = Scanner::default();
        let mut out = Vec::new();
        s.feed(b"{\"id\":1,\"result\":{\"x\":\"\xff\"}}\n", &mut |id, f| {
            out.push((id.to_owned(), f))
        });
        assert_eq!(out, vec![("1".to_owned(), false)]);
    }

    fn ids(chunks: &[&str]) -> Vec<String> {
        responses(chunks).into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn tells_failures_from_successes() {
        let one = |text: &str| {
            let got = responses(&[text, "\n"]);
            assert_eq!(got.len(), 1, "{text}");
            got[0].1
        };
        assert!(one(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#
        ));
        assert!(one(r#"{"id":1,"result":{"content":[],"isError":true}}"#));
        assert!(one(
            r#"{"id":1,"result":{ "isError" : true ,"content":[]}}"#
        ));
        assert!(!one(r#"{"id":1,"result":{"content":[],"isError":false}}"#));
        assert!(!one(r#"{"id":1,"result":{"content":[{"isError":true}]}}"#));
        assert!(!one(
            r#"{"id":1,"result":{"content":[{"text":"isError"}],"x":"true"}}"#
        ));
        assert!(!one(r#"{"id":1,"result":{"meta":{"isError":true}}}"#));
        assert!(!one(r#"{"id":1,"result":{"isErrorX":true}}"#));
        assert!(!one(r#"{"id":1,"result":{"a":"isError","b":true}}"#));
        assert!(!one(r#"{"id":1,"result":{"isError":"true"}}"#));
        assert!(!one(r#"{"id":1,"result":"error"}"#));
        assert!(!one(r#"{"id":1,"result":{}}"#));
        // Split anywhere, the verdict is the same.
        let text =
            r#"{"id":7,"result":{"content":[{"type":"text","text":"a,\"b"}],"isError":true}}"#;
        for cut in 1..text.len() {
            let got = responses(&[&text[..cut], &text[cut..], "\n"]);
            assert_eq!(got, vec![("7".to_owned(), true)], "cut at {cut}");
        }
        // In a batch, each response has its own verdict.
        assert_eq!(
            responses(&[
                r#"[{"id":1,"result":{"isError":true}},{"id":2,"result":{}}]"#,
                "\n"
            ]),
            vec![("1".to_owned(), true), ("2".to_owned(), false)]
        );
    }

    #[test]
    fn finds_ids_wherever_they_are() {
        assert_eq!(
            ids(&[
                r#"{"result":{"id":9,"x":"}\"{"},"jsonrpc":"2.0","id":"a,b"}"#,
                "\n"
            ]),
            vec![r#""a,b""#]
        );
        assert_eq!(
            ids(&[
                "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890123,\"res",
                "ult\":{}}\n"
            ]),
            vec!["12345678901234567890123"]
        );
        // Requests from the server are not responses.
        assert!(ids(&["{\"id\":1,\"method\":\"sampling/createMessage\"}\n"]).is_empty());
        // Batches.
        assert_eq!(
            ids(&["[{\"id\":1,\"result\":{}},{\"id\":2,\"error\":{}}]\n"]),
            vec!["1", "2"]
        );
    }

    /// A line cut short inside a string (a server that died mid-message, then Sentinel's own
    /// newline) counts for nothing, and the next line is read from its start.
    #[test]
    fn a_newline_inside_a_string_ends_the_line() {
        assert_eq!(
            ids(&[
                "{\"id\":1,\"result\":{\"content\":[{\"text\":\"abc\n",
                "{\"id\":2,\"result\":{\"x\":\"y\n{\"id\":3,\"result\":{}}\n",
                "{\"id\":\"4\n{\"id\":5,\"error\":{}}\n",
            ]),
            vec!["3", "5"]
        );
    }

    /// Deep content is skipped, but every bracket and quote in it is still followed: the
    /// members after it, and the next response, are read right.
    #[test]
    fn nesting_inside_results_is_followed() {
        let deep = r#"{"jsonrpc":"2.0","result":{"content":[{"a":[[{"}":"]"}],"\"{["],"b":{"c":"d"}}],"isError":true},"id":"x"}"#;
        for cut in 1..deep.len() {
            let got = responses(&[
                &deep[..cut],
                &deep[cut..],
                "\n",
                r#"{"id":2,"result":{}}"#,
                "\n",
            ]);
            assert_eq!(
                got,
                vec![(r#""x""#.to_owned(), true), ("2".to_owned(), false)],
                "cut at {cut}"
            );
        }
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A random JSON value, at most `depth` levels deep, with the keys and strings a response
    /// may hold (those the scanner looks for among them).
    fn value(rng: &mut Rng, depth: usize) -> serde_json::Value {
        use serde_json::Value as V;
        const WORDS: &[&str] = &[
            "id", "isError", "error", "result", "method", "x", "}", "{\"", "]\\", "\n", "a,b",
            "isErrorX", "true", "é",
        ];
        match rng.below(if depth == 0 { 5 } else { 8 }) {
            0 => V::Null,
            1 => V::Bool(rng.below(2) == 0),
            2 => V::from(rng.next() as i64 >> rng.below(60)),
            3 => V::from(rng.below(1000) as f64 / 7.0),
            4 => V::from(WORDS[rng.below(WORDS.len())]),
            5 | 6 => {
                let mut m = serde_json::Map::new();
                for _ in 0..rng.below(4) {
                    m.insert(
                        WORDS[rng.below(WORDS.len())].to_owned(),
                        value(rng, depth - 1),
                    );
                }
                V::Object(m)
            }
            _ => V::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        }
    }

    /// What the scanner must report for one message, from a real JSON parse.
    fn expected(text: &str) -> Option<(String, bool)> {
        let top: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(text).ok()?;
        if top.contains_key("method") {
            return None;
        }
        let id = top.get("id")?.get().to_owned();
        let failed = top.contains_key("error")
            || top.get("result").is_some_and(|r| {
                serde_json::from_str::<serde_json::Value>(r.get())
                    .ok()
                    .and_then(|v| v.get("isError").cloned())
                    == Some(serde_json::Value::Bool(true))
            });
        Some((id, failed))
    }

    /// The scanner agrees with a real JSON parse on generated responses, requests and
    /// notifications, fed in random pieces, one message or a batch per line
    /// (`SENTINEL_DIFF_ITERATIONS` / 5 rounds; default 3000).
    #[test]
    fn agrees_with_a_json_parser_on_generated_messages() {
        let rounds: usize = std::env::var("SENTINEL_DIFF_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(3000, |n: usize| n / 5);
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for round in 0..rounds {
            let mut lines = Vec::new();
            let mut want = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let batch = rng.below(4) == 0;
                let mut members = Vec::new();
                for _ in 0..1 + usize::from(batch) * rng.below(3) {
                    let mut m = serde_json::Map::new();
                    let keys = ["jsonrpc", "id", "result", "error", "method", "params", "x"];
                    for _ in 0..1 + rng.below(5) {
                        let k = keys[rng.below(keys.len())];
                        let v = match (k, rng.below(3)) {
                            // JSON-RPC ids are scalars (a client's composite id is refused).
                            ("id", 0) => serde_json::Value::from("a\"b\\c"),
                            ("id", _) => value(&mut rng, 0),
                            ("result", 0) => {
                                serde_json::json!({"content": [], "isError": rng.below(2) == 0})
                            }
                            _ => value(&mut rng, 4),
                        };
                        m.insert(k.to_owned(), v);
                    }
                    let text = serde_json::to_string(&m).expect("JSON");
                    // Pretty-printed messages have spaces where compact ones have none.
                    let text = if rng.below(3) == 0 {
                        serde_json::to_string_pretty(&m)
                            .expect("JSON")
                            .replace('\n', " ")
                    } else {
                        text
                    };
                    want.extend(expected(&text));
                    members.push(text);
                }
                lines.push(if batch {
                    format!("[{}]", members.join(","))
                } else {
                    members.pop().unwrap_or_default()
                });
            }
            let stream = lines.join("\n") + "\n";
            let mut got = Vec::new();
            let mut scanner = Scanner::default();
            let mut rest = stream.as_bytes();
            // Every other round in random pieces (the byte-by-byte machine), else in pieces
            // that hold whole lines (read as JSON).
            let most = if round % 2 == 0 { 40 } else { rest.len() };
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(1 + rng.below(rest.len().min(most)));
                scanner.feed(piece, &mut |id, failed| got.push((id.to_owned(), failed)));
                rest = tail;
            }
            // Ids are compared as the gateway keys them (the scanner reads the raw text).
            let key = |v: Vec<(String, bool)>| -> Vec<(String, bool)> {
                v.into_iter()
                    .map(|(id, f)| (crate::base::jsonrpc::id_key(&id).into_owned(), f))
                    .collect()
            };
            assert_eq!(key(got), key(want), "round {round}: {stream:?}");
            assert!(!scanner.mid_line());
        }
    }

    #[test]
    fn tracks_partial_lines() {
        let mut s = Scanner::default();
        s.feed(b"{\"id\":1,", &mut |_, _| {});
        assert!(s.mid_line());
        s.feed(b"\"result\":{}}\n", &mut |_, _| {});
        assert!(!s.mid_line());
    }
}
