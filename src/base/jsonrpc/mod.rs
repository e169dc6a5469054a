//! Strict JSON-RPC 2.0 framing: turns one newline-delimited line from the client into a parsed
//! message without ever guessing; `write` builds the gateway's own responses. This module owns
//! the rules for ambiguous input (bad UTF-8, invalid JSON, duplicate object keys at any depth,
//! nesting deeper than [`MAX_DEPTH`]), the raw text of request ids (so an id is echoed exactly,
//! big integers included), and the error codes Sentinel answers with. It knows nothing about
//! policy: it only says what a line *is*.

use crate::base::json;
use crate::base::small_str::SmallStr;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

#[cfg(test)]
mod reference;
mod write;

pub use write::{push_json_str, string_object, write_error, write_result};

pub use crate::base::json::{Json, MAX_DEPTH};

/// JSON-RPC "Parse error": the line is not one unambiguous JSON value.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC "Invalid Request": valid JSON, but not a message the gateway can judge or answer.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC "Invalid params": a `tools/call` whose `params` the gateway cannot read as MCP's
/// `{name, arguments}` object.
pub const INVALID_PARAMS: i64 = -32602;
/// Sentinel: the request was blocked by policy (implementation-defined range -32000..-32019).
pub const BLOCKED: i64 = -32010;
/// Sentinel: the request needs a person's approval (refused until approvals exist).
pub const APPROVAL_REQUIRED: i64 = -32012;
/// Sentinel: the MCP server exited or stopped reading before it answered this request.
pub const SERVER_GONE: i64 = -32011;
/// Sentinel: the server's answer was withheld (over a response cap, or not inspectable).
pub const WITHHELD: i64 = -32013;

/// The exact JSON text of a request id as the client wrote it (`1`, `"abc"`,
/// `123456789012345678901234567890`), so responses carry it back unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawId(SmallStr);

impl RawId {
    /// Wraps JSON text that is already known to be a valid id value.
    pub fn new(text: &str) -> RawId {
        RawId(SmallStr::new(text.trim()))
    }

    /// The id as JSON text, ready to be written into a message.
    pub fn as_json(&self) -> &str {
        self.0.as_str()
    }

    /// A key under which ids that mean the same thing compare equal: see [`id_key`].
    pub fn key(&self) -> String {
        id_key(self.0.as_str()).into_owned()
    }
}

/// A key under which id texts that mean the same thing compare equal: strings by their decoded
/// value (`"\u0041"` is `"A"`), numbers by their literal text. Borrows unless re-encoding.
pub fn id_key(raw: &str) -> Cow<'_, str> {
    let raw = raw.trim();
    if raw.starts_with('"') && raw.contains('\\') {
        if let Ok(s) = serde_json::from_str::<String>(raw) {
            if let Ok(canonical) = serde_json::to_string(&s) {
                return Cow::Owned(canonical);
            }
        }
    }
    Cow::Borrowed(raw)
}

/// What kind of JSON-RPC message a parsed object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Has `method` and `id`: the other side must answer it.
    Request,
    /// Has `method` and no `id`.
    Notification,
    /// Has no `method`: a result or error for an earlier request.
    Response,
}

/// One parsed JSON-RPC object. The original bytes are not kept here; callers forward those.
#[derive(Debug)]
pub struct Message<'a> {
    pub id: Option<RawId>,
    pub method: Option<Cow<'a, str>>,
    pub params: Option<Json<'a>>,
    pub kind: Kind,
}

impl Message<'_> {
    /// `params.name` of a `tools/call`, when it is a string.
    pub fn tool_name(&self) -> Option<&str> {
        self.params.as_ref()?.get("name")?.as_str()
    }
}

/// One line from the client, parsed.
#[derive(Debug)]
pub enum Parsed<'a> {
    Single(Message<'a>),
    /// A JSON-RPC batch: each element with its original text.
    Batch(Vec<(&'a str, Result<Message<'a>, Refusal>)>),
}

/// Why a line (or a batch element) was refused, with the id to answer when it could be read
/// unambiguously.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: i64,
    pub problem: Problem,
    pub id: Option<RawId>,
}

/// The specific defect in a refused line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NotUtf8,
    Syntax(String),
    DuplicateKey(String),
    TooDeep,
    TooLarge(usize),
    EmptyBatch,
    NotAnObject,
    BadField(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8 => f.write_str("message is not valid UTF-8"),
            Problem::Syntax(e) => write!(f, "message is not valid JSON ({e})"),
            Problem::DuplicateKey(k) => write!(
                f,
                "duplicate object key \"{k}\" (ambiguous: parsers disagree on which value wins)"
            ),
            Problem::TooDeep => write!(f, "message nests deeper than {MAX_DEPTH} levels"),
            Problem::TooLarge(max) => write!(f, "message is larger than {max} bytes"),
            Problem::EmptyBatch => f.write_str("empty JSON-RPC batch"),
            Problem::NotAnObject => f.write_str("a JSON-RPC message must be an object"),
            Problem::BadField(which) => write!(f, "invalid JSON-RPC member \"{which}\""),
        }
    }
}

impl Refusal {
    fn parse(problem: Problem, id: Option<RawId>) -> Refusal {
        Refusal {
            code: PARSE_ERROR,
            problem,
            id,
        }
    }
    fn invalid(problem: Problem, id: Option<RawId>) -> Refusal {
        Refusal {
            code: INVALID_REQUEST,
            problem,
            id,
        }
    }
}

/// Parses one line (without its newline). Whitespace-only lines are `Ok(None)`.
pub fn parse_line(line: &[u8]) -> Result<Option<Parsed<'_>>, Refusal> {
    let text = std::str::from_utf8(line).map_err(|_| Refusal::parse(Problem::NotUtf8, None))?;
    let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
    if trimmed.trim_end_matches([' ', '\t', '\r', '\n']).is_empty() {
        return Ok(None);
    }
    if trimmed.starts_with('[') {
        // The whole batch must be JSON before any element is judged (a syntax error anywhere
        // refuses the line); then each element is read as a message of its own.
        let elements = json::Parser::new(text)
            .array_elements()
            .map_err(|e| Refusal::parse(problem(e), None))?;
        if elements.is_empty() {
            return Err(Refusal::invalid(Problem::EmptyBatch, None));
        }
        let parsed = elements
            .into_iter()
            .map(|raw| (raw, parse_object(raw, 2)))
            .collect();
        return Ok(Some(Parsed::Batch(parsed)));
    }
    parse_object(text, 1).map(|m| Some(Parsed::Single(m)))
}

fn problem(e: json::Error) -> Problem {
    match e {
        json::Error::Syntax(s) => Problem::Syntax(s),
        json::Error::Duplicate(k) => Problem::DuplicateKey(k),
        json::Error::TooDeep => Problem::TooDeep,
    }
}

/// The top-level members the gateway reads.
struct TopFields<'a> {
    pub(super) id: Option<&'a str>,
    pub(super) method: Option<Json<'a>>,
    pub(super) params: Option<Json<'a>>,
}

/// Reads one JSON-RPC object found at nesting level `level`.
fn top_fields(text: &str, level: usize) -> Result<TopFields<'_>, Problem> {
    let mut p = json::Parser::new(text);
    match p.ws() {
        Some(b'{') => {}
        // Not an object: refused as such once the value itself has been read (a value that
        // is not even JSON is a syntax error), whatever follows it.
        Some(b'[') => return Err(Problem::NotAnObject),
        _ => {
            return match p.value(level) {
                Ok(_) => Err(Problem::NotAnObject),
                Err(e) => Err(problem(e)),
            }
        }
    }
    let mut fields = TopFields {
        id: None,
        method: None,
        params: None,
    };
    let (mut seen_id, mut seen_method) = (false, false);
    // Other members are checked, then dropped; their keys are kept for duplicate checks
    // (the first few without an allocation: a message has `jsonrpc` and `params`).
    let mut few: [Option<Cow<'_, str>>; 4] = [None, None, None, None];
    let mut more: Vec<Cow<'_, str>> = Vec::new();
    p.object(|key, p| {
        match &*key {
            "id" => {
                if std::mem::replace(&mut seen_id, true) {
                    return Err(json::Error::Duplicate("id".into()));
                }
                p.colon()?;
                // Read as a raw value (its text is echoed back exactly); the rare composite id
                // is then checked for ambiguity too.
                let (from, to) = p.skip()?;
                let raw = p.slice(from, to);
                if raw.starts_with(['{', '[']) {
                    json::Parser::new(raw).value(level + 1)?;
                }
                fields.id = Some(raw);
            }
            "method" => {
                if std::mem::replace(&mut seen_method, true) {
                    return Err(json::Error::Duplicate("method".into()));
                }
                p.colon()?;
                fields.method = Some(p.value(level + 1)?);
            }
            _ => {
                p.colon()?;
                let value = p.value(level + 1)?;
                if few.iter().flatten().chain(&more).any(|k| *k == key) {
                    return Err(json::Error::Duplicate(key.into_owned()));
                }
                if key == "params" {
                    fields.params = Some(value);
                }
                match few.iter_mut().find(|k| k.is_none()) {
                    Some(slot) => *slot = Some(key),
                    None => more.push(key),
                }
            }
        }
        Ok(())
    })
    .and_then(|()| p.end())
    .map_err(problem)?;
    Ok(fields)
}

/// Parses one JSON-RPC object found at nesting level `level`.
fn parse_object(text: &str, level: usize) -> Result<Message<'_>, Refusal> {
    message(text, top_fields(text, level), lenient_id)
}

/// The message (or the refusal) that the top-level members of `text`, as read, make: the
/// JSON-RPC rules on top of the JSON reading. `lenient` reads the id of a refused line.
fn message<'a>(
    text: &'a str,
    fields: Result<TopFields<'a>, Problem>,
    lenient: fn(&str) -> Option<RawId>,
) -> Result<Message<'a>, Refusal> {
    let fields = match fields {
        Ok(f) => f,
        Err(problem) => {
            // The id is readable unambiguously only if the text is otherwise valid JSON with a
            // single top-level "id" member.
            let id = match problem {
                Problem::DuplicateKey(_) | Problem::TooDeep => lenient(text),
                _ => None,
            };
            return Err(match problem {
                Problem::NotAnObject => Refusal::invalid(problem, None),
                p => Refusal::parse(p, id),
            });
        }
    };
    let TopFields { id, method, params } = fields;
    let id = match id {
        Some(raw) => {
            let t = raw.trim_start();
            if t.starts_with('{') || t.starts_with('[') || t == "null" {
                return Err(Refusal::invalid(Problem::BadField("id"), None));
            }
            Some(RawId::new(raw))
        }
        None => None,
    };
    let method = match method {
        None => None,
        Some(Json::Str(s)) => Some(s),
        Some(_) => return Err(Refusal::invalid(Problem::BadField("method"), id)),
    };
    let kind = match (&method, &id) {
        (Some(_), Some(_)) => Kind::Request,
        (Some(_), None) => Kind::Notification,
        (None, _) => Kind::Response,
    };
    Ok(Message {
        id,
        method,
        params,
        kind,
    })
}

/// Reads the top-level `"id"` of an object whose members are otherwise valid JSON, ignoring
/// everything else; `None` when it is missing, duplicated, or not a scalar id (the cold path
/// of a refused line).
fn lenient_id(text: &str) -> Option<RawId> {
    let mut p = json::Parser::new(text);
    let mut id: Option<&str> = None;
    p.object(|key, p| {
        if key == "id" && id.is_some() {
            return Err(json::Error::Duplicate("id".into()));
        }
        p.colon()?;
        let (from, to) = p.skip()?;
        if key == "id" {
            id = Some(p.slice(from, to));
        }
        Ok(())
    })
    .ok()?;
    let raw = id?;
    (raw.starts_with('"') || raw.starts_with('-') || raw.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| RawId::new(raw))
}

/// The exact text of `params.requestId` of a `notifications/cancelled` line (already known to
/// be valid, duplicate-free JSON), so big-integer ids match the request they cancel.
pub fn cancelled_request_id(raw: &[u8]) -> Option<RawId> {
    type Members<'a> = std::collections::HashMap<Cow<'a, str>, &'a RawValue>;
    let top: Members = serde_json::from_slice(raw).ok()?;
    let params: Members = serde_json::from_str(top.get("params")?.get()).ok()?;
    let id = params.get("requestId")?.get().trim();
    (id.starts_with('"') || id.starts_with('-') || id.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| RawId::new(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers compare by value (serde_json rounds some long decimals differently from the
    /// standard library by an ulp); everything else exactly.
    fn same_json(a: &Json, b: &Json) -> bool {
        let num = |v: &Json| match v {
            Json::Int(n) => Some(*n as f64),
            Json::UInt(n) => Some(*n as f64),
            Json::Float(f) => Some(*f),
            _ => None,
        };
        match (a, b) {
            (Json::Arr(x), Json::Arr(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
            }
            (Json::Obj(x), Json::Obj(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((k, a), (l, b))| k == l && same_json(a, b))
            }
            _ => match (num(a), num(b)) {
                (Some(x), Some(y)) => x == y || ((x - y) / x).abs() < 1e-15,
                _ => a == b,
            },
        }
    }

    fn same_message(a: &Result<Message, Refusal>, b: &Result<Message, Refusal>) -> bool {
        match (a, b) {
            (Ok(x), Ok(y)) => {
                x.id == y.id
                    && x.method == y.method
                    && x.kind == y.kind
                    && match (&x.params, &y.params) {
                        (Some(p), Some(q)) => same_json(p, q),
                        (None, None) => true,
                        _ => false,
                    }
            }
            (Err(x), Err(y)) => {
                x.code == y.code
                    && x.id == y.id
                    && match (&x.problem, &y.problem) {
                        // serde_json stops reading an exponent of more than 9 digits where it
                        // overflows, and reports that column; json.rs reports the number's end.
                        (Problem::Syntax(p), Problem::Syntax(q))
                            if p.starts_with("number out of range") =>
                        {
                            q.starts_with("number out of range")
                        }
                        (p, q) => p == q,
                    }
            }
            _ => false,
        }
    }

    fn same_line(a: &Result<Option<Parsed>, Refusal>, b: &Result<Option<Parsed>, Refusal>) -> bool {
        match (a, b) {
            (Ok(None), Ok(None)) => true,
            (Ok(Some(Parsed::Single(x))), Ok(Some(Parsed::Single(y)))) => {
                same_message(&Ok(clone(x)), &Ok(clone(y)))
            }
            (Ok(Some(Parsed::Batch(x))), Ok(Some(Parsed::Batch(y)))) => {
                x.len() == y.len()
                    && x.iter().zip(y).all(|((r, m), (s, n))| {
                        r == s
                            && same_message(
                                &m.as_ref().map(clone).map_err(Clone::clone),
                                &n.as_ref().map(clone).map_err(Clone::clone),
                            )
                    })
            }
            (Err(x), Err(y)) => same_message(&Err(x.clone()), &Err(y.clone())),
            _ => false,
        }
    }

    fn clone<'a>(m: &Message<'a>) -> Message<'a> {
        Message {
            id: m.id.clone(),
            method: m.method.clone(),
            params: m.params.clone(),
            kind: m.kind,
        }
    }

    use crate::base::Rng;

    const SEEDS: &[&str] = &[
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"query":"SELECT * FROM users","n":[1,2.5,-3e2,true,null]}}}"#,
        r#"{"jsonrpc":"2.0","id":"a\u0062c","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"t","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":123456789012345678901234567890,"reason":"x"}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"e","arguments":{}}}]"#,
        r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"ok \"q\" \\ \/ \b\f\n\r\t \ud83d\ude00"}],"isError":false}}"#,
        r#" {"id" : -0 , "method" : "m" , "params" : { "a" : { "b" : [ [ [ { } ] ] ] } } } "#,
        r#"{"id":{"x":1},"method":"m"}"#,
        r#"{"id":null,"method":5}"#,
        r#"[1,"x",{"id":3},[]]"#,
        r#"{"jsonrpc":"2.0","id":1e400,"method":"m","params":{"big":1e308,"neg":-9223372036854775809,"u":18446744073709551615}}"#,
        r#"{"id":"\ud800","method":"m","params":{"k":"\u00e9\u0000"}}"#,
    ];

    /// Bytes that matter to a JSON reader, inserted and substituted at random.
    const ALPHABET: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        ":",
        ",",
        " ",
        "\t",
        "\r",
        "0",
        "1",
        "9",
        "-",
        "+",
        ".",
        "e",
        "E",
        "t",
        "true",
        "f",
        "n",
        "null",
        "u",
        "\\u",
        "\\ud800",
        "\\udc00",
        "\\u0041",
        "\u{1}",
        "\u{1f}",
        "é",
        "\u{7f}",
        "\"id\"",
        "\"id\":",
        "\"method\":",
        "\"params\":",
        "\"a\":1,",
        "\"\\u0069d\":",
        "[[[[[[[[[[",
        "]]]]]]]]]]",
        "x",
        "1e999",
        "-0",
        "00",
    ];

    fn mutate(rng: &mut Rng, line: &str) -> String {
        let mut s = line.to_string();
        for _ in 0..=rng.below(3) {
            // Work on char boundaries so the line stays UTF-8 (bad UTF-8 is refused earlier).
            let cuts: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
            let k = rng.below(cuts.len());
            let at = cuts[k];
            let to = |n: usize| cuts[(k + n).min(cuts.len() - 1)];
            let piece = ALPHABET[rng.below(ALPHABET.len())];
            match rng.below(5) {
                0 => s.insert_str(at, piece),
                1 => {
                    let end = to(1 + rng.below(3));
                    s.replace_range(at..end, "");
                }
                2 => {
                    let end = to(1);
                    s.replace_range(at..end, piece);
                }
                3 => {
                    // Repeat a stretch: duplicated keys and members.
                    let end = to(rng.below(12));
                    let copy = s[at..end].to_string();
                    s.insert_str(end, &copy);
                }
                _ => {
                    // Nest a value around the depth limit.
                    let n = 90 + rng.below(20);
                    s.insert_str(at, &format!("{}1{}", "[".repeat(n), "]".repeat(n)));
                }
            }
        }
        s
    }

    /// The parser that replaced serde_json's on the hot path gives the same answer as the
    /// serde_json reading (`reference`) on every line: the seeds and many mutants of them.
    /// `SENTINEL_DIFF_ITERATIONS` sets how many (default 20000).
    #[test]
    fn the_strict_parser_agrees_with_serde_json_on_generated_lines() {
        let n: usize = std::env::var("SENTINEL_DIFF_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut accepted, mut refused) = (0, 0);
        for i in 0..n {
            let seed = SEEDS[i % SEEDS.len()];
            let line = if i < SEEDS.len() {
                seed.to_string()
            } else {
                mutate(&mut rng, seed)
            };
            let ours = parse_line(line.as_bytes());
            let theirs = reference::parse_line(line.as_bytes());
            assert!(
                same_line(&ours, &theirs),
                "line {line:?}:\n  ours:   {ours:?}\n  serde:  {theirs:?}"
            );
            match ours {
                Ok(Some(_)) => accepted += 1,
                _ => refused += 1,
            }
        }
        assert!(
            accepted > n / 10 && refused > n / 10,
            "the mutants must be both accepted and refused: {accepted} / {refused}"
        );
    }

    fn single(line: &str) -> Message<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Some(Parsed::Single(m))) => m,
            other => panic!("expected a single message, got {other:?}"),
        }
    }

    /// The hand-written string writer writes what serde_json writes, byte for byte.
    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        let pieces = [
            "a",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{8}",
            "\u{c}",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "😀",
            "\u{2028}",
            "plain text ",
            "/",
            "<",
            "'",
        ];
        for _ in 0..5000 {
            let s: String = (0..rng.below(40))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            let mut ours = Vec::new();
            push_json_str(&mut ours, &s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn keeps_big_integer_ids_exactly() {
        let m = single(r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"x"}"#);
        assert_eq!(m.id.unwrap().as_json(), "123456789012345678901234567890");
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth_but_reads_the_id() {
        let e = parse_line(br#"{"id":7,"method":"tools/call","params":{"a":{"b":1,"b":2}}}"#)
            .unwrap_err();
        assert_eq!(e.problem, Problem::DuplicateKey("b".into()));
        assert_eq!(e.id.unwrap().as_json(), "7");
        let e = parse_line(br#"{"id":7,"id":8,"method":"x"}"#).unwrap_err();
        assert!(e.id.is_none());
    }

    #[test]
    fn depth_limit_is_exact() {
        let nest = |n: usize| {
            format!(
                r#"{{"id":1,"method":"m","params":{}1{}}}"#,
                "[".repeat(n - 1),
                "]".repeat(n - 1)
            )
        };
        assert!(parse_line(nest(MAX_DEPTH).as_bytes()).is_ok());
        let e = parse_line(nest(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(e.problem, Problem::TooDeep);
    }

    #[test]
    fn escaped_duplicate_key_is_still_a_duplicate() {
        let e = parse_line(br#"{"method":"a","\u006dethod":"tools/call","id":1}"#).unwrap_err();
        assert_eq!(e.problem, Problem::DuplicateKey("method".into()));
    }
}
