//! Strict JSON-RPC 2.0 framing: turns one newline-delimited line from the client into a parsed
//! message without ever guessing, and builds the gateway's own responses. This module owns the
//! rules for ambiguous input (bad UTF-8, invalid JSON, duplicate object keys at any depth,
//! nesting deeper than [`MAX_DEPTH`]), the raw text of request ids (so an id is echoed exactly,
//! big integers included), and the error codes Sentinel answers with. It knows nothing about
//! policy: it only says what a line *is*.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A parsed JSON value that borrows its strings from the input line where it can (one
/// allocation per array or object instead of one per string), with object members in document
/// order. Duplicate keys never get this far.
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

/// Deepest nesting of arrays and objects accepted in one message, the message itself counting
/// as level 1. Deeper input is refused with a parse error (it is a classic parser-differential
/// and stack-exhaustion vector, and no MCP message needs it).
pub const MAX_DEPTH: usize = 100;

/// JSON-RPC "Parse error": the line is not one unambiguous JSON value.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC "Invalid Request": valid JSON, but not a message the gateway can judge or answer.
pub const INVALID_REQUEST: i64 = -32600;
/// Sentinel: the request was blocked by policy (implementation-defined range -32000..-32019).
pub const BLOCKED: i64 = -32010;
/// Sentinel: the request needs a person's approval (refused until approvals exist).
pub const APPROVAL_REQUIRED: i64 = -32012;
/// Sentinel: the MCP server exited or stopped reading before it answered this request.
pub const SERVER_GONE: i64 = -32011;

/// The exact JSON text of a request id as the client wrote it (`1`, `"abc"`,
/// `123456789012345678901234567890`), so responses carry it back unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawId(String);

impl RawId {
    /// Wraps JSON text that is already known to be a valid id value.
    pub fn new(text: &str) -> RawId {
        RawId(text.trim().to_owned())
    }

    /// The id as JSON text, ready to be written into a message.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// A key under which ids that mean the same thing compare equal: see [`id_key`].
    pub fn key(&self) -> String {
        id_key(&self.0).into_owned()
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
        let elements: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| Refusal::parse(Problem::Syntax(short(&e)), None))?;
        if elements.is_empty() {
            return Err(Refusal::invalid(Problem::EmptyBatch, None));
        }
        let parsed = elements
            .into_iter()
            .map(|raw| (raw.get(), parse_object(raw.get(), 2)))
            .collect();
        return Ok(Some(Parsed::Batch(parsed)));
    }
    parse_object(text, 1).map(|m| Some(Parsed::Single(m)))
}

/// Parses one JSON-RPC object found at nesting level `level`.
fn parse_object(text: &str, level: usize) -> Result<Message<'_>, Refusal> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = match (TopSeed { level }).deserialize(&mut de).and_then(|f| {
        de.end()?;
        Ok(f)
    }) {
        Ok(f) => f,
        Err(e) => {
            let problem = classify(&e);
            // The id is readable unambiguously only if the text is otherwise valid JSON with a
            // single top-level "id" member.
            let id = match problem {
                Problem::DuplicateKey(_) | Problem::TooDeep => lenient_id(text),
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

fn short(e: &serde_json::Error) -> String {
    e.to_string()
}

const DUP_PREFIX: &str = "sentinel-duplicate-key:";
const DEEP_MARK: &str = "sentinel-too-deep";
const NOT_OBJECT_MARK: &str = "sentinel-not-object";

fn classify(e: &serde_json::Error) -> Problem {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix(DUP_PREFIX) {
        let key = rest.split(" at line ").next().unwrap_or(rest);
        return Problem::DuplicateKey(key.to_owned());
    }
    if msg.starts_with(DEEP_MARK) || msg.starts_with("recursion limit exceeded") {
        return Problem::TooDeep;
    }
    if msg.starts_with(NOT_OBJECT_MARK) {
        return Problem::NotAnObject;
    }
    Problem::Syntax(msg)
}

/// Reads the top-level `"id"` of syntactically valid JSON, ignoring everything else; `None`
/// when it is missing, duplicated, or not a scalar id.
fn lenient_id(text: &str) -> Option<RawId> {
    struct IdOnly;
    impl<'de> Visitor<'de> for IdOnly {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut id: Option<&'de RawValue> = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "id" {
                    if id.is_some() {
                        return Err(de::Error::custom("duplicate id"));
                    }
                    id = Some(map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(id)
        }
    }
    struct Seed;
    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Option<&'de RawValue>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(IdOnly)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let raw = Seed.deserialize(&mut de).ok()??;
    let t = raw.get().trim_start();
    (t.starts_with('"') || t.starts_with('-') || t.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| RawId::new(raw.get()))
}

struct TopFields<'de> {
    id: Option<&'de str>,
    method: Option<Json<'de>>,
    params: Option<Json<'de>>,
}

/// Deserializes the top-level object: `id` is kept as raw text, everything else is checked for
/// duplicate keys and depth.
struct TopSeed {
    level: usize,
}

impl<'de> DeserializeSeed<'de> for TopSeed {
    type Value = TopFields<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed {
    type Value = TopFields<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = TopFields {
            id: None,
            method: None,
            params: None,
        };
        let mut seen_id = false;
        let mut seen_method = false;
        // Other members are checked, then dropped; their keys are kept for duplicate checks.
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match &*key {
                "id" => {
                    if std::mem::replace(&mut seen_id, true) {
                        return Err(de::Error::custom(format_args!("{DUP_PREFIX}id")));
                    }
                    let raw: &'de RawValue = map.next_value()?;
                    // The id is a scalar in every valid message; check the rare composite one
                    // for ambiguity too.
                    if raw.get().trim_start().starts_with(['{', '[']) {
                        check_nested(raw.get(), self.level + 1).map_err(de::Error::custom)?;
                    }
                    fields.id = Some(raw.get());
                }
                "method" => {
                    if std::mem::replace(&mut seen_method, true) {
                        return Err(de::Error::custom(format_args!("{DUP_PREFIX}method")));
                    }
                    fields.method = Some(map.next_value_seed(Checked {
                        level: self.level + 1,
                    })?);
                }
                _ => {
                    let value = map.next_value_seed(Checked {
                        level: self.level + 1,
                    })?;
                    if others.contains(&key) {
                        return Err(de::Error::custom(format_args!("{DUP_PREFIX}{key}")));
                    }
                    if key == "params" {
                        fields.params = Some(value);
                    }
                    others.push(key);
                }
            }
        }
        Ok(fields)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(NOT_OBJECT_MARK))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT_MARK))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT_MARK))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT_MARK))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT_MARK))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT_MARK))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT_MARK))
    }
}

fn check_nested(text: &str, level: usize) -> Result<Json<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    Checked { level }.deserialize(&mut de)
}

/// Deserializes an object key, borrowing it when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Objects with more members than this check duplicates with a hash set instead of a scan.
const LINEAR_DUP_CHECK: usize = 16;

/// Deserializes any JSON value into a [`Json`], refusing duplicate keys and nesting beyond
/// [`MAX_DEPTH`]. `level` is the nesting level the value would open if it is a container.
struct Checked {
    level: usize,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = Json<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Json<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        Ok(Json::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        if self.level > MAX_DEPTH {
            return Err(de::Error::custom(DEEP_MARK));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Checked {
            level: self.level + 1,
        })? {
            out.push(v);
        }
        Ok(Json::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        if self.level > MAX_DEPTH {
            return Err(de::Error::custom(DEEP_MARK));
        }
        let mut out: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        let mut many: Option<std::collections::HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(Checked {
                level: self.level + 1,
            })?;
            let duplicate = match &mut many {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = out.iter().any(|(k, _)| *k == key);
                    if !dup && out.len() == LINEAR_DUP_CHECK {
                        let mut set: std::collections::HashSet<_> =
                            out.iter().map(|(k, _)| k.clone()).collect();
                        set.insert(key.clone());
                        many = Some(set);
                    }
                    dup
                }
            };
            if duplicate {
                return Err(de::Error::custom(format_args!("{DUP_PREFIX}{key}")));
            }
            out.push((key, value));
        }
        Ok(Json::Obj(out))
    }
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

/// Appends a JSON-RPC error response line (with its newline) to `out`.
pub fn write_error(
    out: &mut Vec<u8>,
    id: Option<&RawId>,
    code: i64,
    message: &str,
    data: Option<&[u8]>,
) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawId::as_json).as_bytes());
    out.extend_from_slice(b",\"error\":{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    push_json_str(out, message);
    if let Some(data) = data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data);
    }
    out.extend_from_slice(b"}}\n");
}

/// A JSON object whose members are all strings (`None` writes `null`), as JSON text.
pub fn string_object(members: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(&mut out, key);
        out.push(b':');
        match value {
            Some(v) => push_json_str(&mut out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    out
}

/// Appends a JSON-RPC success response line (with its newline) carrying `result` (JSON text)
/// to `out`.
pub fn write_result(out: &mut Vec<u8>, id: Option<&RawId>, result: &[u8]) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawId::as_json).as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result);
    out.extend_from_slice(b"}\n");
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing JSON to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(line: &str) -> Message<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Some(Parsed::Single(m))) => m,
            other => panic!("expected a single message, got {other:?}"),
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
