//! The server-output oracle: what the scanner must report for one complete line of server
//! output, from a real JSON parse (serde_json). A line it cannot judge (not JSON, a member the
//! scanner looks for given twice, a composite id) gets `None`: server output is never refused,
//! and there the scanner only has to stay standing.
//!
//! Keys are matched as the scanner documents it: as written, so an escaped key (`"\u0069d"`)
//! is no key it knows. serde_json hands a key over borrowed exactly when it has no escape.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The scanner's longest remembered id (`scan::MAX_ID`).
pub const MAX_ID: usize = 256;

/// One top-level value's members, each key with whether it was written without escapes.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    out.push((k.0, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A key, borrowed when written without escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The key as the scanner reads it: its name when written plainly.
fn plain<'k>(k: &'k Cow<'_, str>) -> Option<&'k str> {
    match k {
        Cow::Borrowed(s) => Some(s),
        Cow::Owned(_) => None,
    }
}

/// What the scanner must report for the object `raw`: `Ok(None)` when it reports nothing,
/// `Err(())` when the object is outside what the oracle judges.
fn object(raw: &str) -> Result<Option<(String, bool)>, ()> {
    let members: Members = serde_json::from_str(raw).map_err(|_| ())?;
    let members = members.0;
    let count = |name: &str| {
        members
            .iter()
            .filter(|(k, _)| plain(k) == Some(name))
            .count()
    };
    if ["id", "method", "error", "result"]
        .iter()
        .any(|n| count(n) > 1)
    {
        return Err(());
    }
    let get = |name: &str| {
        members
            .iter()
            .find(|(k, _)| plain(k) == Some(name))
            .map(|(_, v)| v.get())
    };
    let Some(id) = get("id") else {
        return Ok(None);
    };
    if id.starts_with(['{', '[']) {
        return Err(());
    }
    if get("method").is_some() || id.len() > MAX_ID {
        return Ok(None);
    }
    let mut failed = get("error").is_some();
    if let Some(result) = get("result").filter(|r| r.starts_with('{')) {
        let inner: Members = serde_json::from_str(result).map_err(|_| ())?;
        let flags: Vec<&str> = inner
            .0
            .iter()
            .filter(|(k, _)| plain(k) == Some("isError"))
            .map(|(_, v)| v.get())
            .collect();
        if flags.len() > 1 {
            return Err(());
        }
        failed |= flags.first() == Some(&"true");
    }
    Ok(Some((id.to_owned(), failed)))
}

/// Every report the scanner must make for one complete line (no newline in it), in order;
/// `None` when the line is outside what the oracle judges.
pub fn line(line: &[u8]) -> Option<Vec<(String, bool)>> {
    let text = std::str::from_utf8(line).ok()?;
    // A real parse first: only JSON is judged.
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let t = text.trim_start_matches([' ', '\t', '\r']);
    match t.as_bytes().first() {
        None => Some(Vec::new()),
        Some(b'{') => Some(object(text).ok()?.into_iter().collect()),
        Some(b'[') => {
            // A batch: its objects are messages, anything else is skipped.
            let elements: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            let mut out = Vec::new();
            for e in elements {
                if e.get().starts_with('{') {
                    out.extend(object(e.get()).ok()?);
                }
            }
            Some(out)
        }
        Some(_) => Some(Vec::new()),
    }
}

/// Ids compared as the gateway keys them: strings by their decoded value.
pub fn keyed(v: &[(String, bool)]) -> Vec<(String, bool)> {
    v.iter()
        .map(|(id, f)| (crate::base::jsonrpc::id_key(id).into_owned(), *f))
        .collect()
}
