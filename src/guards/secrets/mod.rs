//! Secrets in text: finds credentials by their well-known shapes (cloud and SaaS API keys,
//! private-key blocks, JWTs, bearer tokens) and, optionally, by randomness (high-entropy
//! runs), and redacts them. This module owns the finding kinds (stable snake_case names used
//! in rule ids and audit entries), the shapes and their boundaries, and redaction of plain text
//! and of whole JSON-RPC messages. `Scanner::find` runs on every string argument of every tool
//! call: one pass over the bytes, no allocation, linear time.

use serde_json::Value;

mod escapes;
mod shapes;
#[cfg(test)]
mod tests;

use escapes::unescape;
use shapes::{named_at, second_fits, ALNUM, BYTE, ESCAPE, FIRST, RUN, URL_END};

/// Every kind a finding can have, in the order the README lists them.
#[cfg(test)]
pub const KINDS: &[&str] = &[
    "aws_access_key_id",
    "private_key",
    "github_token",
    "slack_token",
    "stripe_key",
    "anthropic_key",
    "openai_key",
    "google_api_key",
    "google_oauth_token",
    "npm_token",
    "jwt",
    "bearer_token",
    "high_entropy",
];

/// Runs longer than this are not judged by the entropy detector: they are encoded files and
/// images (`data:` URLs, attachments), not credentials. The shape detectors still apply.
pub const MAX_ENTROPY_RUN: usize = 1024;

/// The shortest text any shape detector reports: a Slack token (`xoxb-` and 10 characters).
/// Every other shape is longer (an AWS key id 20, a JWT 26, a bearer token 27).
const SHORTEST_SHAPE: usize = 15;

/// One secret: its kind and its byte range in the scanned string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
}

/// The detectors' settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scanner {
    /// Shannon entropy, in bits per character, at or above which a run is a secret;
    /// `0.0` disables the entropy detector.
    pub entropy_threshold: f64,
    /// Shortest run the entropy detector looks at.
    pub min_length: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            entropy_threshold: 4.5,
            min_length: 32,
        }
    }
}

impl Scanner {
    /// The first secret in `s`.
    pub fn find(&self, s: &str) -> Option<Finding> {
        let mut first = None;
        self.scan(s.as_bytes(), &mut |f| {
            first = Some(f);
            false
        });
        first
    }

    /// Appends every secret in `s` to `out`: in order, never overlapping.
    pub fn find_all(&self, s: &str, out: &mut Vec<Finding>) {
        self.scan(s.as_bytes(), &mut |f| {
            out.push(f);
            true
        });
    }

    /// `s` with each secret replaced by `[REDACTED <kind>]`; `None` when there is none.
    pub fn redact(&self, s: &str) -> Option<String> {
        let mut found = Vec::new();
        self.find_all(s, &mut found);
        (!found.is_empty()).then(|| splice(s, &found))
    }

    /// `raw` is one JSON text (a JSON-RPC message). Every string, and every object key, that
    /// holds a secret is redacted, and the result re-serialized compactly (serde_json: object
    /// keys come out sorted). `None` when there is nothing to redact. When `raw` is not valid
    /// JSON, the text itself is redacted, secrets hidden by JSON escapes (`\n` inside a PEM
    /// block, `\u0041KIA...`) included, leaving everything else as it was.
    pub fn redact_json(&self, raw: &str) -> Option<String> {
        match serde_json::from_str::<Value>(raw) {
            Ok(mut v) => {
                if self.redact_value(&mut v) {
                    serde_json::to_string(&v).ok()
                } else {
                    None
                }
            }
            Err(_) => self.redact_escaped(raw),
        }
    }

    /// Redacts in place; whether anything changed.
    fn redact_value(&self, v: &mut Value) -> bool {
        match v {
            Value::String(s) => match self.redact(s) {
                Some(r) => {
                    *s = r;
                    true
                }
                None => false,
            },
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |acc, item| self.redact_value(item) | acc),
            Value::Object(map) => {
                if map.keys().any(|k| self.find(k).is_some()) {
                    let old = std::mem::take(map);
                    for (k, mut item) in old {
                        self.redact_value(&mut item);
                        let k = self.redact(&k).unwrap_or(k);
                        map.insert(k, item);
                    }
                    return true;
                }
                map.values_mut()
                    .fold(false, |acc, item| self.redact_value(item) | acc)
            }
            _ => false,
        }
    }

    /// Text that is not JSON: secrets found in the text as it is and in the text with JSON
    /// string escapes undone (ranges mapped back onto the raw text) are both redacted.
    fn redact_escaped(&self, raw: &str) -> Option<String> {
        let mut spans = Vec::new();
        self.find_all(raw, &mut spans);
        if raw.contains('\\') {
            let (text, map) = unescape(raw);
            let before = spans.len();
            self.find_all(&text, &mut spans);
            for f in &mut spans[before..] {
                f.start = map[f.start];
                f.end = map[f.end];
            }
            spans.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
            let mut merged: Vec<Finding> = Vec::with_capacity(spans.len());
            for f in spans {
                match merged.last_mut() {
                    Some(last) if f.start < last.end => last.end = last.end.max(f.end),
                    _ => merged.push(f),
                }
            }
            spans = merged;
        }
        (!spans.is_empty()).then(|| splice(raw, &spans))
    }

    /// The one pass, run by run (a run is a maximal stretch of base64 characters; nothing
    /// starts outside one): shape detectors at each boundary and each `-` inside the run,
    /// then, if none matched, the entropy detector on the whole run. `emit` returns whether
    /// to go on.
    fn scan(&self, b: &[u8], emit: &mut dyn FnMut(Finding) -> bool) {
        let n = b.len();
        // Shorter than every shape and than the entropy detector's runs: nothing to find.
        let entropy_min = if self.entropy_threshold > 0.0 {
            self.min_length.max(1)
        } else {
            usize::MAX
        };
        if n < SHORTEST_SHAPE.min(entropy_min) {
            return;
        }
        let mut i = 0;
        // Inside a URL (from `://` to the next blank, quote or bracket), where host names,
        // paths and fragments are opaque ids, not credentials.
        let mut in_url = false;
        'runs: while i < n {
            let c = b[i];
            if BYTE[c as usize] & RUN == 0 {
                if c == b':' && b.get(i + 1..i + 3) == Some(b"//") {
                    in_url = true;
                } else if BYTE[c as usize] & URL_END != 0 {
                    in_url = false;
                }
                i += 1;
                continue;
            }
            let start = i;
            // Flags of the byte before `i`: a shape starts after a non-alphanumeric byte, or
            // after an escape like `\n` in escaped text (see `boundary`).
            let mut prev = if i == 0 { 0 } else { BYTE[b[i - 1] as usize] };
            let escaped = if i > 0 && b[i - 1] == b'\\' && BYTE[b[i] as usize] & ESCAPE != 0 {
                i + 1
            } else {
                usize::MAX
            };
            while i < n {
                let c = b[i];
                let f = BYTE[c as usize];
                if f & RUN == 0 {
                    break;
                }
                if f & FIRST != 0
                    && (prev & ALNUM == 0 || c == b'-' || i == escaped)
                    && second_fits(c, b.get(i + 1).copied().unwrap_or(0))
                {
                    if let Some(found) = named_at(b, i) {
                        if !emit(found) {
                            return;
                        }
                        // Go on after it, as if a run started there.
                        i = found.end.max(i + 1);
                        continue 'runs;
                    }
                }
                prev = f;
                i += 1;
                if f & ALNUM != 0 {
                    // No shape starts inside an alphanumeric word (after an alphanumeric byte,
                    // not at the escape boundary): skip to its end. `prev` stays alphanumeric.
                    while i < n && i != escaped && BYTE[b[i] as usize] & ALNUM != 0 {
                        i += 1;
                    }
                }
            }
            while i < n && b[i] == b'=' {
                i += 1;
            }
            // In a URL only parameter values (`?key=...`) are judged.
            let opaque = in_url && start > 0 && b[start - 1] != b'=';
            if i - start >= self.min_length
                && !opaque
                && self.entropy_threshold > 0.0
                && self.high_entropy(b, start, i)
                && !emit(Finding {
                    kind: "high_entropy",
                    start,
                    end: i,
                })
            {
                return;
            }
        }
    }

    /// Whether the run `b[i..e]`, which holds no shape, is random enough to be a secret.
    fn high_entropy(&self, b: &[u8], i: usize, e: usize) -> bool {
        let len = e - i;
        if len < self.min_length.max(1) || len > MAX_ENTROPY_RUN {
            return false;
        }
        let run = &b[i..e];
        let (mut upper, mut lower, mut digit) = (false, false, false);
        // Characters in word-like stretches (`[A-Z]?[a-z]{3,}`): paths, identifiers and prose
        // are mostly words; random tokens rarely have half their length in them.
        let (mut wordy, mut lower_run, mut capital, mut prev_upper) = (0, 0, false, false);
        for &c in run {
            if c.is_ascii_lowercase() {
                lower = true;
                if lower_run == 0 {
                    capital = prev_upper;
                }
                lower_run += 1;
            } else {
                if lower_run >= 3 {
                    wordy += lower_run + usize::from(capital);
                }
                lower_run = 0;
            }
            prev_upper = c.is_ascii_uppercase();
            upper |= prev_upper;
            digit |= c.is_ascii_digit();
        }
        if lower_run >= 3 {
            wordy += lower_run + usize::from(capital);
        }
        if !(upper && lower && digit) || wordy * 2 >= len {
            return false;
        }
        // Subresource-integrity and lockfile hashes; base64 payloads of data URLs.
        if [&b"sha1-"[..], b"sha256-", b"sha384-", b"sha512-"]
            .iter()
            .any(|p| run.starts_with(p))
            || b[..i].ends_with(b"base64,")
        {
            return false;
        }
        shannon(run) >= self.entropy_threshold
    }
}

/// Bits per character of `run` (at most `MAX_ENTROPY_RUN` bytes).
fn shannon(run: &[u8]) -> f64 {
    let mut counts = [0u16; 256];
    for &c in run {
        counts[c as usize] += 1;
    }
    let n = run.len() as f64;
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum()
}

/// `s` with `found` (ordered, not overlapping) replaced by `[REDACTED <kind>]`.
fn splice(s: &str, found: &[Finding]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for f in found {
        out.push_str(s.get(at..f.start).unwrap_or(""));
        out.push_str("[REDACTED ");
        out.push_str(f.kind);
        out.push(']');
        at = f.end;
    }
    out.push_str(s.get(at..).unwrap_or(""));
    out
}
