//! Field-by-field differences between two tool definitions: each leaf that differs, with its
//! path (`description`, `inputSchema.properties.path.type`, `annotations.readOnlyHint`; a key
//! that is not a plain word is written `["a.b"]`, an array element `[2]`), its old and new
//! value (absent: `None`). Objects are compared key by key, arrays of equal length element by
//! element, anything else (and arrays whose length changed, and whatever is nested deeper than
//! 32 levels) whole. At most [`MAX_FIELDS`]
//! changes are listed; the rest are counted.

use serde_json::Value;

/// Most changes listed for one tool.
pub const MAX_FIELDS: usize = 200;

/// Deeper than this, values are compared whole (the path stays readable, the walk bounded).
const MAX_DEPTH: usize = 32;

/// One difference between the pinned definition and the new one.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The differences from `old` to `new`, and how many more there were beyond [`MAX_FIELDS`].
pub fn fields(old: &Value, new: &Value) -> (Vec<FieldChange>, usize) {
    let mut out = Diff {
        changes: Vec::new(),
        more: 0,
    };
    out.walk(&mut String::new(), 0, Some(old), Some(new));
    (out.changes, out.more)
}

struct Diff {
    changes: Vec<FieldChange>,
    more: usize,
}

impl Diff {
    fn walk(&mut self, path: &mut String, depth: usize, old: Option<&Value>, new: Option<&Value>) {
        match (old, new) {
            (Some(a), Some(b)) if a == b => {}
            (Some(Value::Object(a)), Some(Value::Object(b))) if depth < MAX_DEPTH => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let len = path.len();
                    push_key(path, key);
                    self.walk(path, depth + 1, a.get(key), b.get(key));
                    path.truncate(len);
                }
            }
            (Some(Value::Array(a)), Some(Value::Array(b)))
                if a.len() == b.len() && depth < MAX_DEPTH =>
            {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    self.walk(path, depth + 1, Some(x), Some(y));
                    path.truncate(len);
                }
            }
            (None, None) => {}
            _ => {
                if self.changes.len() < MAX_FIELDS {
                    self.changes.push(FieldChange {
                        path: path.clone(),
                        old: old.cloned(),
                        new: new.cloned(),
                    });
                } else {
                    self.more += 1;
                }
            }
        }
    }
}

fn push_key(path: &mut String, key: &str) {
    let word = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    if word {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&serde_json::to_string(key).unwrap_or_default());
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(old: Value, new: Value) -> Vec<String> {
        fields(&old, &new).0.into_iter().map(|c| c.path).collect()
    }

    #[test]
    fn nested_leaves_are_named_by_their_path() {
        let old = json!({"name": "read", "inputSchema": {"properties": {"path": {"type": "string"}}},
                         "annotations": {"readOnlyHint": true}});
        let new = json!({"name": "read", "inputSchema": {"properties": {"path": {"type": "array"}}},
                         "annotations": {"readOnlyHint": false}, "description": "new"});
        assert_eq!(
            paths(old, new),
            [
                "annotations.readOnlyHint",
                "description",
                "inputSchema.properties.path.type"
            ]
        );
    }

    #[test]
    fn odd_keys_arrays_and_absent_values() {
        let (changes, more) = fields(
            &json!({"a.b": 1, "required": ["x", "y"], "list": [1, 2]}),
            &json!({"required": ["x", "z"], "list": [1, 2, 3]}),
        );
        let got: Vec<(&str, Option<&Value>, Option<&Value>)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.old.as_ref(), c.new.as_ref()))
            .collect();
        assert_eq!(
            got,
            [
                ("[\"a.b\"]", Some(&json!(1)), None),
                ("list", Some(&json!([1, 2])), Some(&json!([1, 2, 3]))),
                ("required[1]", Some(&json!("y")), Some(&json!("z"))),
            ]
        );
        assert_eq!(more, 0);
    }

    #[test]
    fn the_list_of_changes_is_bounded() {
        let old: serde_json::Map<String, Value> =
            (0..1000).map(|i| (format!("k{i}"), json!(i))).collect();
        let (changes, more) = fields(&Value::Object(old), &json!({}));
        assert_eq!((changes.len(), more), (MAX_FIELDS, 1000 - MAX_FIELDS));
    }
}
