//! What of a tool is pinned and how it is hashed: the definition is the object of the tool's
//! fields `name`, `title`, `description`, `inputSchema`, `outputSchema` and `annotations`
//! (those present, whole), written as canonical JSON (object keys sorted, no whitespace, the
//! strings and numbers as `serde_json` writes them), and its SHA-256 in lowercase hex. Also the
//! two facts about a definition that a change is judged by: read-only and destructive, from
//! `annotations.readOnlyHint` and `annotations.destructiveHint` with the MCP defaults (not
//! read-only; destructive unless read-only or `destructiveHint: false`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fields of a tool that are pinned, in the order they are shown.
pub const FIELDS: [&str; 6] = [
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
];

/// One tool of a listing, ready to be compared and stored.
#[derive(Clone, Debug)]
pub struct Definition {
    pub value: Value,
    pub hash: String,
    /// Length of the canonical JSON in bytes.
    pub size: usize,
    pub read_only: bool,
    pub destructive: bool,
}

/// The pinned part of a tool object (other members, e.g. `_meta` or `icons`, are not pinned).
pub fn definition(tool: &Map<String, Value>) -> Definition {
    let mut pinned = Map::new();
    for field in FIELDS {
        if let Some(v) = tool.get(field) {
            pinned.insert(field.to_owned(), v.clone());
        }
    }
    let value = Value::Object(pinned);
    let text = canonical(&value);
    let (read_only, destructive) = hints(&value);
    Definition {
        hash: sha256_hex(text.as_bytes()),
        size: text.len(),
        value,
        read_only,
        destructive,
    }
}

/// Canonical JSON: object keys sorted (by their UTF-8 bytes), no whitespace, strings and
/// numbers as `serde_json` writes them. Sorted here rather than trusting the map's order, so a
/// dependency switching on `serde_json/preserve_order` cannot change every hash.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v);
    out
}

fn write(out: &mut String, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write(out, &map[k]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap_or_default()),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// (read-only, destructive) as the MCP annotations say, defaults included: `readOnlyHint`
/// defaults to false; `destructiveHint` to true, and it means nothing for a read-only tool.
pub fn hints(definition: &Value) -> (bool, bool) {
    let annotations = definition.get("annotations");
    let flag = |name: &str| {
        annotations
            .and_then(|a| a.get(name))
            .and_then(Value::as_bool)
    };
    let read_only = flag("readOnlyHint") == Some(true);
    let destructive = !read_only && flag("destructiveHint") != Some(false);
    (read_only, destructive)
}

/// Whether going from `old` to `new` is the change named "read-only to destructive": the
/// tool said it was read-only and no longer does, or it was not destructive and now is.
pub fn escalates(old: (bool, bool), new: (bool, bool)) -> bool {
    let ((old_ro, old_destructive), (new_ro, new_destructive)) = (old, new);
    (old_ro && !new_ro) || (!old_destructive && new_destructive)
}
