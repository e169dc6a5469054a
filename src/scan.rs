//! A streaming scanner for server->client traffic. The server's output is forwarded chunk by
//! chunk as it arrives (memory stays bounded whatever the message size); this scanner watches
//! the same bytes go by and reports, for every JSON-RPC object that completes, its top-level
//! `id`, whether it was a response, and whether that response reports a failure (a JSON-RPC
//! `error` member, or a tool result with `"isError": true`). It never rejects anything: server
//! output is not policed, only accounted for, so the gateway knows which requests are still
//! waiting and which tools keep failing (the circuit breaker counts those).

use crate::bytes::find_any3;

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

/// Incremental scanner state; feed it every byte of the stream in order.
pub struct Scanner {
    depth: u32,
    in_string: bool,
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

    /// Feeds a chunk; calls `on_response(id, failed)` for every completed response that has
    /// an id.
    pub fn feed(&mut self, chunk: &[u8], on_response: &mut impl FnMut(&str, bool)) {
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            if b == b'\n' {
                // A raw newline never occurs inside valid JSON text: the line is over.
                self.finish_line();
                i += 1;
                continue;
            }
            self.mid_line = true;
            if self.in_string {
                if self.capturing() {
                    self.capture(b);
                }
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.state == KeyState::InKey && self.depth == self.object_depth() {
                        self.state = KeyState::ExpectColon;
                        self.field = match &self.key[..self.key_len] {
                            b"id" => Field::Id,
                            b"method" => Field::Method,
                            b"error" => Field::Error,
                            b"result" => Field::Result,
                            _ => Field::Other,
                        };
                    } else if self.inner == Inner::InKey && self.in_result_object() {
                        self.inner = if &self.inner_key[..self.inner_len] == b"isError" {
                            Inner::IsErrorKey
                        } else {
                            Inner::Idle
                        };
                    }
                } else if self.inner == Inner::InKey && self.in_result_object() {
                    if self.inner_len < self.inner_key.len() {
                        self.inner_key[self.inner_len] = b;
                        self.inner_len += 1;
                    } else {
                        self.inner_key[0] = b'\0';
                    }
                } else if self.state == KeyState::InKey && self.depth == self.object_depth() {
                    if self.key_len < self.key.len() {
                        self.key[self.key_len] = b;
                        self.key_len += 1;
                    } else {
                        self.field = Field::Other;
                        self.key_len = self.key.len();
                        self.key[0] = b'\0';
                    }
                } else if !self.capturing() && self.inner != Inner::InKey {
                    // Skip quickly to the next byte that can end or escape the string.
                    let rest = &chunk[i + 1..];
                    let skip = find_any3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len());
                    i += skip;
                }
                i += 1;
                continue;
            }
            self.structural(b, on_response);
            i += 1;
        }
    }

    fn capturing(&self) -> bool {
        self.state == KeyState::InValue && self.field == Field::Id
    }

    fn capture(&mut self, b: u8) {
        if self.id.len() < MAX_ID {
            self.id.push(b);
        } else {
            self.id_overflow = true;
        }
    }

    fn structural(&mut self, b: u8, on_response: &mut impl FnMut(&str, bool)) {
        let od = self.object_depth();
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
                }
                (_, b',') => self.inner_at_key = true,
                _ => {}
            }
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == od && self.state == KeyState::ExpectKey {
                    self.state = KeyState::InKey;
                    self.key_len = 0;
                    return;
                }
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
        self.escape = false;
        self.top_is_array = false;
        self.reset_object();
        self.mid_line = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn responses(chunks: &[&str]) -> Vec<(String, bool)> {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c.as_bytes(), &mut |id, failed| {
                out.push((id.to_owned(), failed))
            });
        }
        out
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

    #[test]
    fn tracks_partial_lines() {
        let mut s = Scanner::default();
        s.feed(b"{\"id\":1,", &mut |_, _| {});
        assert!(s.mid_line());
        s.feed(b"\"result\":{}}\n", &mut |_, _| {});
        assert!(!s.mid_line());
    }
}
