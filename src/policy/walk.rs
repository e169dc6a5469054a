//! Walking the values of `params.arguments` for the rules: every string (and, for the egress
//! rule, every key) in document order with the JSON Pointer of the one a rule stops at, and
//! the size of the arguments as compact JSON (`max_argument_bytes`).

use crate::base::jsonrpc::Json;
use std::fmt::Write as _;

/// The size of `v` written as compact JSON, in bytes (without building the text).
pub fn json_size(v: &Json) -> usize {
    match v {
        Json::Null => 4,
        Json::Bool(true) => 4,
        Json::Bool(false) => 5,
        Json::Int(n) => n.to_string().len(),
        Json::UInt(n) => n.to_string().len(),
        Json::Float(f) => serde_json::Number::from_f64(*f).map_or(4, |n| n.to_string().len()),
        Json::Str(s) => string_size(s),
        Json::Arr(items) => {
            2 + items.len().saturating_sub(1) + items.iter().map(json_size).sum::<usize>()
        }
        Json::Obj(members) => {
            2 + members.len().saturating_sub(1)
                + members
                    .iter()
                    .map(|(k, v)| string_size(k) + 1 + json_size(v))
                    .sum::<usize>()
        }
    }
}

fn string_size(s: &str) -> usize {
    2 + s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 8 | 12 => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// Calls `f` on every string in `v` (document order) until it returns true; `path` then holds
/// the way to that string, innermost step first (see [`pointer`]); it is only written on the
/// way back from a hit, so a walk that finds nothing allocates nothing. `f` also learns
/// what `marks` says of the nearest object key above it (through arrays). With `keys`,
/// object keys are strings too (each before its value; the path of a key
/// is its member's).
pub(super) fn find_string<'j, M: Copy>(
    v: &'j Json,
    marked: M,
    path: &mut Vec<Segment<'j>>,
    f: &mut dyn FnMut(&str, M) -> bool,
    marks: &dyn Fn(&str) -> M,
    keys: bool,
) -> bool {
    match v {
        Json::Str(s) => f(s, marked),
        Json::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                if find_string(item, marked, path, f, marks, keys) {
                    path.push(Segment::Index(i));
                    return true;
                }
            }
            false
        }
        Json::Obj(members) => {
            for (k, item) in members {
                if (keys && f(k, marked)) || find_string(item, marks(k), path, f, marks, keys) {
                    path.push(Segment::Key(k));
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// [`find_string`] over every object key and every string: the egress guard looks at keys
/// too, since `{"https://x.example/": 1}` sends a URL as surely as a value does.
pub(super) fn find_text<'j>(
    v: &'j Json,
    path: &mut Vec<Segment<'j>>,
    f: &mut dyn FnMut(&str) -> bool,
) -> bool {
    find_string(v, false, path, &mut |s, _| f(s), &|_| false, true)
}

/// One step of a JSON Pointer.
pub(super) enum Segment<'j> {
    Key(&'j str),
    Index(usize),
}

/// RFC 6901 JSON Pointer text for `path` (innermost step first, as [`find_string`] leaves it).
pub(super) fn pointer(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path.iter().rev() {
        out.push('/');
        match seg {
            Segment::Key(k) => {
                for c in k.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Segment::Index(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json<'_> {
        let mut p = crate::base::json::Parser::new(text);
        let v = p.value(1).unwrap();
        p.end().unwrap();
        v
    }

    #[test]
    fn json_size_is_the_length_of_the_compact_json_text() {
        for (text, size) in [
            ("[]", 2),
            ("[1]", 3),
            ("[1,2]", 5),
            ("[1,2,3,4]", 9),
            ("[[],[[]],[1,[2,[3,4,5]]]]", 25),
            ("{}", 2),
            (r#"{"a":1}"#, 7),
            (r#"{"a":1,"bc":[true,false,null]}"#, 30),
            (r#"{"a":{"b":{}},"c":[{},{"d":[-1,2.5]}]}"#, 38),
            (r#""\u0001""#, 8),
            (r#""\u001f\b\f\n\r\t\"\\/é\u007f""#, 26),
            (r#"{"\u0002k":["\u0000",""]}"#, 25),
        ] {
            let compact =
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(text).unwrap())
                    .unwrap();
            assert_eq!(compact.len(), size, "test setup: {text} is {compact}");
            assert_eq!(json_size(&parse(text)), size, "{text}");
        }
        // Spacing and escapes on the wire do not count; numbers count as written compactly.
        let spaced = " { \"a\" : [ 1 , \"\\u0078\" , { } ] , \"b\" : -0.5e1 } ";
        let compact =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(spaced).unwrap())
                .unwrap();
        assert_eq!(json_size(&parse(spaced)), compact.len(), "{compact}");
    }
}
