//! Argument conditions, the `when:` of a rule: where a condition looks (a JSON Pointer into
//! `params.arguments`, or every string), the tests it applies (equals, one of, regex, prefix,
//! bounds, lengths, negation), and how they read in `explain`.

use super::walk::{find_string, pointer};
use crate::base::jsonrpc::Json;

/// A comparison applied to one argument value.
#[derive(Clone, Debug)]
pub enum Test {
    Equals(serde_json::Value),
    OneOf(Vec<serde_json::Value>),
    Regex(regex_lite::Regex),
    Prefix(String),
    Min(f64),
    Max(f64),
    MinLength(usize),
    MaxLength(usize),
}

impl Test {
    pub(super) fn holds(&self, v: &Json) -> bool {
        match self {
            Test::Equals(want) => json_eq(v, want),
            Test::OneOf(list) => list.iter().any(|w| json_eq(v, w)),
            Test::Regex(re) => v.as_str().is_some_and(|s| re.is_match(s)),
            Test::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Test::Min(n) => number(v).is_some_and(|x| x >= *n),
            Test::Max(n) => number(v).is_some_and(|x| x <= *n),
            Test::MinLength(n) => length(v).is_some_and(|l| l >= *n),
            Test::MaxLength(n) => length(v).is_some_and(|l| l <= *n),
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Test::Equals(v) => format!("equals {v}"),
            Test::OneOf(v) => format!("one of {}", serde_json::Value::Array(v.clone())),
            Test::Regex(r) => format!("matches /{}/", r.as_str()),
            Test::Prefix(p) => format!("starts with {p:?}"),
            Test::Min(n) => format!(">= {n}"),
            Test::Max(n) => format!("<= {n}"),
            Test::MinLength(n) => format!("length >= {n}"),
            Test::MaxLength(n) => format!("length <= {n}"),
        }
    }
}

pub(super) fn number(v: &Json) -> Option<f64> {
    match v {
        Json::Int(n) => Some(*n as f64),
        Json::UInt(n) => Some(*n as f64),
        Json::Float(n) => Some(*n),
        _ => None,
    }
}

/// Characters of a string, items of an array, members of an object.
fn length(v: &Json) -> Option<usize> {
    match v {
        Json::Str(s) => Some(s.chars().count()),
        Json::Arr(a) => Some(a.len()),
        Json::Obj(o) => Some(o.len()),
        _ => None,
    }
}

fn json_eq(v: &Json, w: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (v, w) {
        (Json::Null, V::Null) => true,
        (Json::Bool(a), V::Bool(b)) => a == b,
        (Json::Str(a), V::String(b)) => a == b,
        (_, V::Number(b)) => number(v).is_some_and(|a| Some(a) == b.as_f64()),
        (Json::Arr(a), V::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
        }
        (Json::Obj(a), V::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k.as_ref()).is_some_and(|y| json_eq(x, y)))
        }
        _ => false,
    }
}

/// Where a condition looks.
#[derive(Clone, Debug)]
pub enum Target {
    /// The value at this JSON Pointer inside `params.arguments` ("" is the whole object).
    Pointer(JsonPointer),
    /// Every string anywhere in the arguments; holds if one of them passes.
    AnyString,
}

/// One argument condition: all its tests must hold (or, with `negate`, not all).
#[derive(Clone, Debug)]
pub struct Condition {
    pub target: Target,
    pub tests: Vec<Test>,
    pub negate: bool,
}

impl Condition {
    /// Whether the condition holds, and the pointer of the value that made it hold.
    /// Whether the condition holds. A condition on a path that is absent never holds, negated
    /// or not.
    pub(super) fn holds(&self, args: Option<&Json>) -> bool {
        let hit = match &self.target {
            Target::Pointer(p) => match args.and_then(|a| p.get(a)) {
                Some(v) => self.tests.iter().all(|t| t.holds(v)),
                None => return false,
            },
            Target::AnyString => args.is_some_and(|a| self.first_string(a).is_some()),
        };
        hit != self.negate
    }

    /// The JSON Pointer of the value the condition looked at (for reports; not on the hot path).
    pub(super) fn location(&self, args: Option<&Json>) -> String {
        match &self.target {
            Target::Pointer(p) => p.as_str().to_owned(),
            Target::AnyString => args.and_then(|a| self.first_string(a)).unwrap_or_default(),
        }
    }

    /// The pointer of the first string that passes every test.
    fn first_string(&self, args: &Json) -> Option<String> {
        let mut path = Vec::new();
        let mut test = |s: &str, _: bool| {
            let v = Json::Str(s.into());
            self.tests.iter().all(|t| t.holds(&v))
        };
        find_string(args, false, &mut path, &mut test, &|_| false, false).then(|| pointer(&path))
    }

    pub(super) fn describe(&self) -> String {
        let target = match &self.target {
            Target::Pointer(p) => format!("argument {:?}", p.as_str()),
            Target::AnyString => "any string argument".to_owned(),
        };
        let tests: Vec<String> = self.tests.iter().map(Test::describe).collect();
        let not = if self.negate { "not " } else { "" };
        format!("{target} {not}{}", tests.join(" and "))
    }
}

/// An RFC 6901 JSON Pointer, split and unescaped once when the policy is compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

impl JsonPointer {
    /// `text` must be "" or start with '/' (checked by the policy loader).
    pub fn new(text: &str) -> JsonPointer {
        let tokens = match text.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => Vec::new(),
        };
        JsonPointer {
            text: text.to_owned(),
            tokens,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn get<'a, 'j>(&self, mut v: &'a Json<'j>) -> Option<&'a Json<'j>> {
        for token in &self.tokens {
            v = match v {
                Json::Obj(_) => v.get(token)?,
                Json::Arr(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}
