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

mod line;
#[cfg(test)]
mod tests;

use line::whole_line;

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
