//! The client-line oracle: the rules `base::json` and `base::jsonrpc` implement, written again
//! on top of serde_json (duplicate keys and depth checked by visitors, raw values where the
//! hot path skips), independently of the hot path's code and of its test-only reference. A
//! fuzz input where the two disagree is a bug in one of them.

use crate::base::json::{Json, MAX_DEPTH};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// Why a text was refused, as the hot path classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Syntax,
    Duplicate(String),
    TooDeep,
}

const DUP: &str = "oracle-duplicate:";
const DEEP: &str = "oracle-too-deep";

fn classify(e: &serde_json::Error) -> Refused {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix(DUP) {
        let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
        return Refused::Duplicate(key.to_owned());
    }
    if msg.starts_with(DEEP) || msg.starts_with("recursion limit exceeded") {
        return Refused::TooDeep;
    }
    Refused::Syntax
}

/// A value at nesting `level` (the message is level 1): containers deeper than
/// [`MAX_DEPTH`] and duplicate keys (after their value is read, as the hot path checks) are
/// errors.
struct Level(usize);

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.0 > MAX_DEPTH {
            return Err(de::Error::custom(DEEP));
        }
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Level(self.0 + 1))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.0 > MAX_DEPTH {
            return Err(de::Error::custom(DEEP));
        }
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Level(self.0 + 1))?;
            if members.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUP}{key}")));
            }
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// The whole of `text` as one value at `level`, read strictly.
pub fn value(text: &str, level: usize) -> Result<Value, Refused> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Level(level)
        .deserialize(&mut de)
        .map_err(|e| classify(&e))?;
    de.end().map_err(|e| classify(&e))?;
    Ok(v)
}

/// Whether the hot path's [`Json`] is the same value as serde_json's (numbers by value:
/// serde_json and the standard library may round a long decimal an ulp apart).
pub fn same(a: &Json, b: &Value) -> bool {
    match (a, b) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(x), Value::Bool(y)) => x == y,
        (Json::Str(x), Value::String(y)) => x == y,
        (Json::Arr(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Obj(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(&**k).is_some_and(|b| same(a, b)))
        }
        (Json::Int(x), Value::Number(n)) => n.as_i64() == Some(*x),
        (Json::UInt(x), Value::Number(n)) => n.as_u64() == Some(*x),
        (Json::Float(x), Value::Number(n)) => {
            !n.is_i64() && !n.is_u64() && n.as_f64().is_some_and(|y| close(*x, y))
        }
        _ => false,
    }
}

fn close(x: f64, y: f64) -> bool {
    x == y || ((x - y) / x).abs() < 1e-15
}

/// A JSON-RPC message as the rules say it reads.
#[derive(Debug)]
pub struct Msg {
    /// The id's text, trimmed.
    pub id: Option<String>,
    pub method: Option<String>,
    pub params: Option<Value>,
}

/// One client line as the rules say it reads: `Err(code)` for a refused line or element.
#[derive(Debug)]
pub enum Line {
    Blank,
    Single(Result<Msg, i64>),
    Batch(Vec<(String, Result<Msg, i64>)>),
    Refused(i64),
}

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

const WS: [char; 4] = [' ', '\t', '\r', '\n'];

/// Reads one line (without its newline).
pub fn line(bytes: &[u8]) -> Line {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Line::Refused(PARSE_ERROR);
    };
    let start = text.trim_start_matches(WS);
    if start.trim_end_matches(WS).is_empty() {
        return Line::Blank;
    }
    if start.starts_with('[') {
        // The batch is JSON as a whole first; its elements are raw values (syntax only).
        let Ok(elements) = serde_json::from_str::<Vec<&RawValue>>(text) else {
            return Line::Refused(PARSE_ERROR);
        };
        if elements.is_empty() {
            return Line::Refused(INVALID_REQUEST);
        }
        return Line::Batch(
            elements
                .into_iter()
                .map(|raw| (raw.get().to_owned(), object(raw.get(), 2)))
                .collect(),
        );
    }
    Line::Single(object(text, 1))
}

/// The top-level members of a message: `id` as a raw value (a composite one then read
/// strictly), the others strictly; duplicates refused.
struct Top(usize);

struct TopMembers {
    id: Option<String>,
    method: Option<Value>,
    params: Option<Value>,
}

impl<'de> Visitor<'de> for Top {
    type Value = TopMembers;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopMembers, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut top = TopMembers {
            id: None,
            method: None,
            params: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == "id" {
                if seen.iter().any(|k| k == "id") {
                    return Err(de::Error::custom(format!("{DUP}id")));
                }
                let raw: &RawValue = map.next_value()?;
                let text = raw.get();
                if text.starts_with(['{', '[']) {
                    value(text, self.0 + 1).map_err(|e| match e {
                        Refused::Duplicate(k) => de::Error::custom(format!("{DUP}{k}")),
                        Refused::TooDeep => de::Error::custom(DEEP),
                        Refused::Syntax => de::Error::custom("syntax"),
                    })?;
                }
                top.id = Some(text.trim().to_owned());
            } else {
                if key == "method" && seen.iter().any(|k| k == "method") {
                    // The hot path refuses a second `method` before reading its value.
                    return Err(de::Error::custom(format!("{DUP}method")));
                }
                let v = map.next_value_seed(Level(self.0 + 1))?;
                if seen.contains(&key) {
                    return Err(de::Error::custom(format!("{DUP}{key}")));
                }
                match key.as_str() {
                    "method" => top.method = Some(v),
                    "params" => top.params = Some(v),
                    _ => {}
                }
            }
            seen.push(key);
        }
        Ok(top)
    }
}

/// One message found at nesting `level`.
fn object(text: &str, level: usize) -> Result<Msg, i64> {
    let first = text.trim_start_matches(WS).as_bytes().first().copied();
    let mut de = serde_json::Deserializer::from_str(text);
    if first != Some(b'{') {
        // Not an object: refused as such once the value itself reads, whatever follows.
        if first == Some(b'[') {
            return Err(INVALID_REQUEST);
        }
        return match Level(level).deserialize(&mut de) {
            Ok(_) => Err(INVALID_REQUEST),
            Err(_) => Err(PARSE_ERROR),
        };
    }
    if level > MAX_DEPTH {
        return Err(PARSE_ERROR);
    }
    let top = serde::Deserializer::deserialize_map(&mut de, Top(level))
        .and_then(|t| de.end().map(|()| t))
        .map_err(|_| PARSE_ERROR)?;
    let id = match top.id {
        Some(t) if t.starts_with(['{', '[']) || t == "null" => return Err(INVALID_REQUEST),
        id => id,
    };
    let method = match top.method {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(INVALID_REQUEST),
    };
    Ok(Msg {
        id,
        method,
        params: top.params,
    })
}
