//! The serde_json reading of a client line that `json` replaced on the hot path, kept as the
//! oracle of the differential test in `jsonrpc::tests`: every generated line must get the same
//! answer from both (test builds only).

use super::{message, Message, Parsed, Problem, RawId, Refusal, TopFields, MAX_DEPTH};
use crate::base::json::Json;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

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

/// Parses one JSON-RPC object found at nesting level `level`: serde_json reads it, the
/// JSON-RPC rules on top are the hot path's own (`message`), so the two differ only in reading.
fn parse_object(text: &str, level: usize) -> Result<Message<'_>, Refusal> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = (TopSeed { level })
        .deserialize(&mut de)
        .and_then(|f| {
            de.end()?;
            Ok(f)
        })
        .map_err(|e| classify(&e));
    message(text, fields, lenient_id)
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
pub fn lenient_id(text: &str) -> Option<RawId> {
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
