//! Argument conditions, the `when:` of a rule: where a condition looks (a JSON Pointer into
//! `params.arguments`, each element of the array there, or every string), the tests it applies
//! (equals, one of, regex, prefix, bounds, lengths, negation, absence, a server's default for
//! an absent argument), how a string is read as a file path the way servers resolve it
//! (`normalize: path`), and how conditions read in `explain`.

use super::walk::{find_string, pointer};
use crate::base::jsonrpc::Json;
use std::fmt::Write as _;

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

/// What of the value at a pointer the tests look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elements {
    /// The value itself.
    Value,
    /// Each element of an array: holds if every one passes (an empty array passes).
    Every,
    /// Each element of an array: holds if at least one passes.
    Any,
}

/// One argument condition: all its tests must hold (or, with `negate`, not all).
#[derive(Clone, Debug)]
pub struct Condition {
    pub target: Target,
    pub tests: Vec<Test>,
    pub negate: bool,
    /// `absent: true|false`: the condition is whether the pointer finds nothing (true) or
    /// something (false); `tests` is then empty.
    pub absent: Option<bool>,
    /// The value the tests look at when the pointer finds nothing: the server's default for
    /// an argument it lets the caller leave out.
    pub default: Option<Json<'static>>,
    pub elements: Elements,
    /// Strings are read as file paths first (`normalize: path`), see [`path_readings`].
    pub path: Option<PathReading>,
    /// When a string has several readings, whether every one must pass (an `allow` rule: it
    /// exempts a call only if it is harmless however the server reads it) or one is enough
    /// (rules that refuse or record: one bad reading is enough).
    pub strict: bool,
}

impl Condition {
    /// Whether the condition holds. A condition on a path that is absent never holds, negated
    /// or not, unless it has a `default` (then the default is tested) or is an `absent` test.
    pub(super) fn holds(&self, args: Option<&Json>) -> bool {
        match &self.target {
            Target::Pointer(p) => {
                let found = args.and_then(|a| p.get(a));
                if let Some(want) = self.absent {
                    return found.is_none() == want;
                }
                let Some(v) = found.or(self.default.as_ref()) else {
                    return false;
                };
                match (self.elements, v) {
                    (Elements::Value, _) => self.value_holds(v),
                    (Elements::Every, Json::Arr(items)) => {
                        items.iter().all(|i| self.value_holds(i))
                    }
                    (Elements::Any, Json::Arr(items)) => items.iter().any(|i| self.value_holds(i)),
                    // Not an array: there are no elements to speak of.
                    _ => false,
                }
            }
            Target::AnyString => {
                args.is_some_and(|a| self.first_string(a).is_some()) != self.negate
            }
        }
    }

    /// Whether one value passes the tests (negated with `not`), over its readings.
    fn value_holds(&self, v: &Json) -> bool {
        match (&self.path, v) {
            (Some(reading), Json::Str(s)) => {
                let mut each = path_readings(s, reading)
                    .into_iter()
                    .map(|r| self.passes(&Json::Str(r.into())) != self.negate);
                if self.strict {
                    each.all(|b| b)
                } else {
                    each.any(|b| b)
                }
            }
            _ => self.passes(v) != self.negate,
        }
    }

    fn passes(&self, v: &Json) -> bool {
        self.tests.iter().all(|t| t.holds(v))
    }

    /// The JSON Pointer of the value the condition looked at (for reports; not on the hot path):
    /// with `any_element`, the first element that passes.
    pub(super) fn location(&self, args: Option<&Json>) -> String {
        match &self.target {
            Target::Pointer(p) if self.elements == Elements::Any => {
                match args.and_then(|a| p.get(a)) {
                    Some(Json::Arr(items)) => {
                        match items.iter().position(|i| self.value_holds(i)) {
                            Some(i) => format!("{}/{i}", p.as_str()),
                            None => p.as_str().to_owned(),
                        }
                    }
                    _ => p.as_str().to_owned(),
                }
            }
            Target::Pointer(p) => p.as_str().to_owned(),
            Target::AnyString => args.and_then(|a| self.first_string(a)).unwrap_or_default(),
        }
    }

    /// The pointer of the first string that passes every test. With several readings of a
    /// string, "passes" is chosen so that the negated or plain result is the strict one when
    /// `strict` is set: an `allow` rule's `not` must hold for every reading.
    fn first_string(&self, args: &Json) -> Option<String> {
        let mut path = Vec::new();
        let any_reading = self.strict == self.negate;
        let mut test = |s: &str, _: bool| match &self.path {
            Some(reading) => {
                let mut each = path_readings(s, reading)
                    .into_iter()
                    .map(|r| self.passes(&Json::Str(r.into())));
                if any_reading {
                    each.any(|b| b)
                } else {
                    each.all(|b| b)
                }
            }
            None => self.passes(&Json::Str(s.into())),
        };
        find_string(args, false, &mut path, &mut test, &|_| false, false).then(|| pointer(&path))
    }

    pub(super) fn describe(&self) -> String {
        let target = match (&self.target, self.elements) {
            (Target::Pointer(p), Elements::Value) => format!("argument {:?}", p.as_str()),
            (Target::Pointer(p), Elements::Every) => {
                format!("every element of argument {:?}", p.as_str())
            }
            (Target::Pointer(p), Elements::Any) => {
                format!("an element of argument {:?}", p.as_str())
            }
            (Target::AnyString, _) => "any string argument".to_owned(),
        };
        if let Some(absent) = self.absent {
            return format!("{target} is {}", if absent { "absent" } else { "present" });
        }
        let tests: Vec<String> = self.tests.iter().map(Test::describe).collect();
        let not = if self.negate { "not " } else { "" };
        let mut out = format!("{target} {not}{}", tests.join(" and "));
        if self.path.is_some() {
            out.push_str(" (read as a normalised path)");
        }
        if let Some(d) = &self.default {
            let _ = write!(out, " (default {} when absent)", json_text(d));
        }
        out
    }
}

/// How `normalize: path` reads a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathReading {
    /// What a leading `~` stands for (`$HOME`, which the server Sentinel starts inherits and
    /// Node's `os.homedir()` reads); `None` leaves `~` as it is.
    pub home: Option<String>,
}

/// The ways a server may read `s` as a file path, each normalised as Node's `path.resolve`
/// does (`.` segments and repeated slashes dropped, `..` removing the segment before it, never
/// above the root, no trailing slash): the text as it is and, when it holds `%XX` escapes,
/// percent-decoded once (a server or HTTP layer that decodes); each of those again with
/// backslashes as separators when it has any (a server on Windows). A leading `~` is expanded
/// as the reference filesystem server does. A relative path stays relative (a leading `..`
/// is kept), so it never reads as an absolute path.
pub fn path_readings(s: &str, reading: &PathReading) -> Vec<String> {
    let mut texts: Vec<String> = vec![s.to_owned()];
    if let Some(decoded) = percent_decoded(s) {
        texts.push(decoded);
    }
    for i in 0..texts.len() {
        if texts[i].contains('\\') {
            let slashed = texts[i].replace('\\', "/");
            texts.push(slashed);
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(texts.len());
    for t in texts {
        let n = resolve(&expand_home(&t, reading.home.as_deref()));
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn expand_home(p: &str, home: Option<&str>) -> String {
    match home {
        Some(h) if p == "~" => h.to_owned(),
        Some(h) if p.starts_with("~/") => format!("{}/{}", h.trim_end_matches('/'), &p[2..]),
        _ => p.to_owned(),
    }
}

/// `p` with dot segments and repeated slashes resolved, lexically.
fn resolve(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // Above the root is the root; above a relative start stays relative.
                _ if absolute => {}
                _ => parts.push(".."),
            },
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// `s` with its `%XX` escapes decoded (once; invalid UTF-8 replaced), if it has any.
fn percent_decoded(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                changed = true;
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// A policy value as an argument value (for `default:`).
pub fn json_of(v: &serde_json::Value) -> Json<'static> {
    use serde_json::Value as V;
    match v {
        V::Null => Json::Null,
        V::Bool(b) => Json::Bool(*b),
        V::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Json::Int(i),
            (None, Some(u)) => Json::UInt(u),
            _ => Json::Float(n.as_f64().unwrap_or(0.0)),
        },
        V::String(s) => Json::Str(s.clone().into()),
        V::Array(a) => Json::Arr(a.iter().map(json_of).collect()),
        V::Object(o) => Json::Obj(
            o.iter()
                .map(|(k, v)| (k.clone().into(), json_of(v)))
                .collect(),
        ),
    }
}

/// Compact JSON text of a value (for `explain`).
fn json_text(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Int(n) => n.to_string(),
        Json::UInt(n) => n.to_string(),
        Json::Float(f) => f.to_string(),
        Json::Str(s) => serde_json::Value::String(s.to_string()).to_string(),
        Json::Arr(items) => {
            let parts: Vec<String> = items.iter().map(json_text).collect();
            format!("[{}]", parts.join(","))
        }
        Json::Obj(members) => {
            let parts: Vec<String> = members
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.to_string()),
                        json_text(v)
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(s: &str, home: Option<&str>) -> Vec<String> {
        path_readings(
            s,
            &PathReading {
                home: home.map(str::to_owned),
            },
        )
    }

    #[test]
    fn paths_resolve_as_node_path_resolve_does() {
        for (raw, want) in [
            ("/srv/data/x", "/srv/data/x"),
            ("/srv/data/./x", "/srv/data/x"),
            ("/srv//data///x/", "/srv/data/x"),
            ("//srv/data", "/srv/data"),
            ("/srv/data/../etc/passwd", "/srv/etc/passwd"),
            ("/srv/data/../../../../etc", "/etc"),
            ("/srv/data/a/b/../../c", "/srv/data/c"),
            ("/..", "/"),
            ("/", "/"),
            ("a/./b", "a/b"),
            ("a/../../etc", "../etc"),
            ("..", ".."),
            ("", "."),
            ("./", "."),
            ("/srv/data/notes..v2.txt", "/srv/data/notes..v2.txt"),
            ("/srv/data/...", "/srv/data/..."),
        ] {
            assert_eq!(readings(raw, None), vec![want.to_owned()], "{raw:?}");
        }
    }

    #[test]
    fn escapes_and_backslashes_add_readings() {
        assert_eq!(
            readings("/srv/data/%2e%2e/%2E%2E/etc/passwd", None),
            vec!["/srv/data/%2e%2e/%2E%2E/etc/passwd", "/etc/passwd"]
        );
        assert_eq!(
            readings("/srv/data%2f..%2f..%2fetc", None),
            vec!["/srv/data%2f..%2f..%2fetc", "/etc"]
        );
        // Decoded once: a double escape is a single one for the server that decodes.
        assert_eq!(
            readings("/a/%252e%252e/b", None),
            vec!["/a/%252e%252e/b", "/a/%2e%2e/b"]
        );
        // Not escapes: a lone '%', '%zz', a '%' two characters from the end.
        assert_eq!(readings("/a/100%/b%zz%4", None), vec!["/a/100%/b%zz%4"]);
        assert_eq!(
            readings("/srv/data/..\\..\\etc\\shadow", None),
            vec!["/srv/data/..\\..\\etc\\shadow", "/etc/shadow"]
        );
        assert_eq!(
            readings("/x/%5c..%5c..%5cetc", None),
            vec!["/x/%5c..%5c..%5cetc", "/x/\\..\\..\\etc", "/etc"]
        );
        // Invalid UTF-8 after decoding is replaced, never a panic.
        assert_eq!(readings("/a%ff", None), vec!["/a%ff", "/a\u{fffd}"]);
    }

    #[test]
    fn a_leading_tilde_is_the_home_directory_when_it_is_known() {
        let home = Some("/home/alice");
        assert_eq!(
            readings("~/.ssh/id_rsa", home),
            vec!["/home/alice/.ssh/id_rsa"]
        );
        assert_eq!(readings("~", home), vec!["/home/alice"]);
        assert_eq!(readings("~/../../srv/data/x", home), vec!["/srv/data/x"]);
        // Only a whole first segment: ~alice and a/~ are names.
        assert_eq!(readings("~alice/x", home), vec!["~alice/x"]);
        assert_eq!(readings("a/~/b", home), vec!["a/~/b"]);
        // Unknown home: left as it is, a relative path.
        assert_eq!(readings("~/.ssh", None), vec!["~/.ssh"]);
        assert_eq!(readings("~/../../etc", None), vec!["../etc"]);
    }

    #[test]
    fn policy_values_become_argument_values() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,-2,3.5,18446744073709551615,true,null,"s"]}"#).unwrap();
        assert_eq!(
            json_text(&json_of(&v)),
            r#"{"a":[1,-2,3.5,18446744073709551615,true,null,"s"]}"#
        );
    }
}
