//! Description scanning: what a server lists (one tool, prompt, resource or resource
//! template, as `tools/list`, `prompts/list`, `resources/list` or `resources/templates/list`
//! return it) judged for text aimed at the model rather than the person. Every string and every
//! object key in the item is read: names, titles, descriptions, schemas (descriptions, titles,
//! enum values, defaults, examples), annotations, prompt arguments, URIs and MIME types.
//! Four classes of finding (`Class`): instructions to the model (`phrases`), invisible and
//! bidirectional Unicode and ANSI escapes (`chars`), and texts too long to review. `scan`
//! reports; `sanitise` rewrites the item so that `scan` finds nothing in it and says what it
//! changed. Bounded: values nested deeper than `MAX_DEPTH` are not descended into (a finding,
//! and `sanitise` cuts them), and the work is linear in the size of the item.

use serde_json::{Map, Value};

mod chars;
mod phrases;
#[cfg(test)]
mod tests;

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Text that instructs the model: tag blocks, "ignore previous instructions", requests
    /// to read credential files or to pass data in a parameter, side-channel parameters.
    Instructions,
    /// Characters a person does not see, or that reorder what they read.
    Invisible,
    /// Terminal escape sequences.
    Ansi,
    /// A text longer than `Limits::max_text`, or nesting deeper than `MAX_DEPTH`.
    TooLong,
}

impl Class {
    /// The stable name used in findings, rule ids and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Instructions => "instructions",
            Class::Invisible => "invisible_unicode",
            Class::Ansi => "ansi_escape",
            Class::TooLong => "too_long",
        }
    }
}

/// One finding in one listed item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// A JSON Pointer inside the item: `/description`,
    /// `/inputSchema/properties/path/description`; for an object key that carries text
    /// (a property name), the pointer of that member, `/inputSchema/properties/<key>`, and
    /// the detail starts with "key: ".
    pub field: String,
    pub class: Class,
    /// Short and printable: `<IMPORTANT> block`, `"do not tell the user"`,
    /// `12 characters U+E0000..U+E007F (tag characters)`, `U+202E RIGHT-TO-LEFT OVERRIDE`,
    /// `ANSI escape ESC[2J`, `9120 characters (limit 8192)`.
    pub detail: String,
}

/// How long a text may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Characters (Unicode scalar values) per string; longer is `TooLong`. Default 8192: the
    /// longest text of the reference servers is under 3000 characters (sequentialthinking's
    /// description), and a description that long is already more than a person reviews.
    /// Strings inside an `icons` member (data: URIs of images) are exempt.
    pub max_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_text: 8192 }
    }
}

/// What `sanitise` puts where it removed instructions.
pub const REMOVED: &str = "[removed by Sentinel: instructions to the model]";
/// What `sanitise` appends where it cut a text too long.
pub const CUT: &str = " [... cut by Sentinel]";
/// How deep values are read; deeper ones are a `TooLong` finding.
pub const MAX_DEPTH: usize = 64;
/// At most this many findings per item (a hostile list must not make a huge report).
pub const MAX_FINDINGS: usize = 100;
/// Instruction findings per string.
const PER_STRING: usize = 8;

/// Property names that exist to carry data out of the conversation ("sidenote"), compared
/// lowercase without `_`, `-` and spaces.
const SIDE_CHANNELS: &[&str] = &[
    "sidenote",
    "sidenotes",
    "sidechannel",
    "notetoself",
    "hiddennote",
    "hiddencontext",
    "hiddendata",
    "secretnote",
    "exfil",
    "exfiltrate",
    "exfiltration",
    "covertchannel",
];

/// Everything in `item` aimed at the model, hidden, escaped or too long.
pub fn scan(item: &Value, limits: &Limits) -> Vec<Finding> {
    let mut w = Walk {
        limits,
        path: Vec::new(),
        out: Vec::new(),
    };
    w.visit(item, 0, false);
    w.out
}

/// Rewrites `item` so that `scan` finds nothing in it: hidden characters and escapes
/// removed, instruction blocks and sentences replaced by `REMOVED`, long texts cut (with
/// `CUT`), side-channel properties removed (and from `required`), too-deep values replaced
/// by `CUT`. Returns the findings it acted on (those `scan` reported before).
pub fn sanitise(item: &mut Value, limits: &Limits) -> Vec<Finding> {
    let mut w = Walk {
        limits,
        path: Vec::new(),
        out: Vec::new(),
    };
    w.fix(item, 0, false);
    w.out
}

/// A JSON Pointer from path segments (RFC 6901: `~` as `~0`, `/` as `~1`).
fn pointer(path: &[String]) -> String {
    let mut p = String::new();
    for s in path {
        p.push('/');
        p.push_str(&s.replace('~', "~0").replace('/', "~1"));
    }
    p
}

/// Whether a key of a `properties` object names a side channel.
fn side_channel(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SIDE_CHANNELS.contains(&k.as_str())
}

/// The findings for one string: (class, detail).
fn judge(s: &str, limits: &Limits, long_ok: bool) -> Vec<(Class, String)> {
    let mut out = Vec::new();
    let odd = chars::find(s);
    if let Some(d) = odd.hidden_detail() {
        out.push((Class::Invisible, d));
    }
    if let Some(d) = odd.escape_detail() {
        out.push((Class::Ansi, d));
    }
    let stripped;
    let text = if odd.hidden_count + odd.escapes > 0 {
        stripped = chars::strip(s);
        &stripped
    } else {
        s
    };
    for h in phrases::find(text).into_iter().take(PER_STRING) {
        out.push((Class::Instructions, h.detail));
    }
    if odd.hidden_count > 0 {
        if let Some(t) = chars::tag_text(s) {
            for h in phrases::find(&t).into_iter().take(PER_STRING) {
                out.push((
                    Class::Instructions,
                    format!("in tag characters: {}", h.detail),
                ));
            }
        }
    }
    if !long_ok && s.len() > limits.max_text {
        let n = s.chars().count();
        if n > limits.max_text {
            out.push((
                Class::TooLong,
                format!("{n} characters (limit {})", limits.max_text),
            ));
        }
    }
    out
}

/// One round of repair: hidden characters and escapes out, instructions replaced, cut.
fn repair(s: &str, limits: &Limits, long_ok: bool) -> String {
    let t = chars::strip(s);
    let mut ranges: Vec<_> = phrases::find(&t).into_iter().map(|h| h.remove).collect();
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(t.len());
    let mut at = 0;
    for r in ranges {
        if r.end <= at {
            continue;
        }
        let start = r.start.max(at);
        out.push_str(&t[at..start]);
        // Keep a separating space where a sentence in the middle of a text went.
        if !out.is_empty() && !out.ends_with([' ', '\n']) {
            out.push(' ');
        }
        out.push_str(REMOVED);
        if r.end < t.len() && !t[r.end..].starts_with([' ', '\n']) {
            out.push(' ');
        }
        at = r.end;
    }
    out.push_str(&t[at..]);
    if !long_ok && out.chars().count() > limits.max_text {
        out = cut(&out, limits.max_text);
    }
    out
}

/// The first characters of `s`, with `CUT`, in at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    let keep = max.saturating_sub(CUT.chars().count());
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    let mut out = s[..end].to_string();
    if keep > 0 {
        out.push_str(CUT);
    }
    out
}

/// `s` rewritten until `judge` finds nothing in it, or `None` when it was clean.
fn clean(s: &str, limits: &Limits, long_ok: bool) -> Option<String> {
    let mut cur = repair(s, limits, long_ok);
    for _ in 0..4 {
        if judge(&cur, limits, long_ok).is_empty() {
            return Some(cur);
        }
        cur = repair(&cur, limits, long_ok);
    }
    if judge(&cur, limits, long_ok).is_empty() {
        return Some(cur);
    }
    // Whatever survives four rounds goes whole.
    Some(if long_ok || REMOVED.len() <= limits.max_text {
        REMOVED.to_string()
    } else {
        String::new()
    })
}

struct Walk<'a> {
    limits: &'a Limits,
    path: Vec<String>,
    out: Vec<Finding>,
}

impl Walk<'_> {
    fn report(&mut self, found: Vec<(Class, String)>, key: bool) {
        for (class, detail) in found {
            if self.out.len() >= MAX_FINDINGS {
                return;
            }
            self.out.push(Finding {
                field: pointer(&self.path),
                class,
                detail: if key {
                    format!("key: {detail}")
                } else {
                    detail
                },
            });
        }
    }

    fn in_properties(&self) -> bool {
        self.path.len() >= 2 && self.path[self.path.len() - 2] == "properties"
    }

    fn too_deep(&mut self) {
        self.report(
            vec![(
                Class::TooLong,
                format!("nested deeper than {MAX_DEPTH} levels"),
            )],
            false,
        );
    }

    fn key(&mut self, k: &str, long_ok: bool) -> Vec<(Class, String)> {
        let mut found = judge(k, self.limits, long_ok);
        if self.in_properties() && side_channel(k) {
            found.push((
                Class::Instructions,
                format!("parameter {} (a side channel)", phrases_quote(k)),
            ));
        }
        found
    }

    fn visit(&mut self, v: &Value, depth: usize, icons: bool) {
        if self.out.len() >= MAX_FINDINGS {
            return;
        }
        match v {
            Value::String(s) => {
                let found = judge(s, self.limits, icons);
                self.report(found, false);
            }
            _ if depth >= MAX_DEPTH && (v.is_array() || v.is_object()) => self.too_deep(),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.path.push(i.to_string());
                    self.visit(x, depth + 1, icons);
                    self.path.pop();
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    self.path.push(k.clone());
                    let found = self.key(k, icons);
                    self.report(found, true);
                    self.visit(x, depth + 1, icons || k == "icons");
                    self.path.pop();
                }
            }
            _ => {}
        }
    }

    /// Repairs `v`; true when it is an object that lost or renamed a member.
    fn fix(&mut self, v: &mut Value, depth: usize, icons: bool) -> bool {
        match v {
            Value::String(s) => {
                let found = judge(s, self.limits, icons);
                if !found.is_empty() {
                    self.report(found, false);
                    if let Some(c) = clean(s, self.limits, icons) {
                        *s = c;
                    }
                }
                false
            }
            _ if depth >= MAX_DEPTH && (v.is_array() || v.is_object()) => {
                self.too_deep();
                *v = Value::String(CUT.trim_start().to_string());
                false
            }
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    self.path.push(i.to_string());
                    self.fix(x, depth + 1, icons);
                    self.path.pop();
                }
                false
            }
            Value::Object(m) => {
                let old = std::mem::take(m);
                let mut dropped = false;
                let mut pruned = false;
                let mut next = Map::new();
                for (k, mut x) in old {
                    self.path.push(k.clone());
                    let found = self.key(&k, icons);
                    let mut key = k.clone();
                    if !found.is_empty() {
                        self.report(found, true);
                        key = clean(&k, self.limits, icons).unwrap_or(k.clone());
                    }
                    let side = self.in_properties() && (side_channel(&k) || side_channel(&key));
                    if side || next.contains_key(&key) || (key != k && key.is_empty()) {
                        dropped = true;
                        self.path.pop();
                        continue;
                    }
                    dropped |= key != k;
                    let lost = self.fix(&mut x, depth + 1, icons || k == "icons");
                    pruned |= lost && k == "properties";
                    self.path.pop();
                    next.insert(key, x);
                }
                if pruned {
                    prune_required(&mut next);
                }
                *m = next;
                dropped
            }
            _ => false,
        }
    }
}

/// After properties were removed from a schema's `properties`, `required` names only those
/// left (and any nested `properties` object that lost members is pruned by its own object).
fn prune_required(m: &mut Map<String, Value>) {
    let Some(Value::Object(props)) = m.get("properties") else {
        return;
    };
    let names: Vec<String> = props.keys().cloned().collect();
    if let Some(Value::Array(req)) = m.get_mut("required") {
        req.retain(|r| r.as_str().is_some_and(|n| names.iter().any(|k| k == n)));
    }
}

fn phrases_quote(s: &str) -> String {
    let shown: String = s.chars().take(40).filter(|c| !c.is_control()).collect();
    format!("\"{shown}\"")
}
