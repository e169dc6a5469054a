//! Text aimed at the model, found in one string: tag blocks (`<IMPORTANT>`, `[SYSTEM]`,
//! chat-template tokens), and phrases matched word by word, case and spacing aside
//! ("ignore all previous instructions", "do not tell the user", "before using this tool ...
//! read", a request to read `~/.ssh`, `.env`, credential or MCP client config files, "pass its
//! content as 'sidenote'", conversation history sent out, another tool's behaviour changed).
//! Each hit carries the byte range a sanitiser removes: a tag block to its closing tag, a
//! phrase to its sentence. Linear: one tokenisation, then a bounded look-ahead per word.

use std::ops::Range;

/// One instruction found: a printable detail and what to remove.
pub struct Hit {
    pub detail: String,
    pub remove: Range<usize>,
}

/// Tag names that wrap instructions for the model (compared lowercase, `_`/`-` as space).
const TAGS: &[&str] = &[
    "important",
    "very important",
    "extremely important",
    "system",
    "system prompt",
    "system message",
    "system override",
    "sys",
    "instructions",
    "instruction",
    "hidden",
    "hidden instructions",
    "secret",
    "secret instructions",
    "admin",
    "critical",
    "urgent",
    "mandatory",
    "override",
    "assistant",
    "ai",
    "ai instructions",
    "note to ai",
    "note to the ai",
    "note to assistant",
    "note to the assistant",
    "note to model",
    "note to the model",
    "llm",
    "inst",
    "priority",
    "attention",
];

/// Words that ask for a file or data to be read, copied or sent.
const ACCESS: &[&str] = &[
    "read",
    "cat",
    "open",
    "load",
    "send",
    "pass",
    "include",
    "upload",
    "copy",
    "content",
    "contents",
    "provide",
    "attach",
    "print",
    "output",
    "share",
    "extract",
    "append",
    "concatenate",
    "concat",
    "give",
    "forward",
    "post",
    "email",
    "fetch",
    "access",
    "retrieve",
    "grab",
    "collect",
    "exfiltrate",
    "dump",
    "paste",
    "insert",
    "embed",
    "put",
    "get",
    "view",
];

/// Credential and client-configuration files, as lowercase fragments of a path.
const FILES: &[&str] = &[
    "~/.ssh",
    ".ssh/",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "id_dsa",
    "authorized_keys",
    ".aws/credentials",
    ".aws/config",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".git-credentials",
    ".docker/config.json",
    ".kube/config",
    "/etc/passwd",
    "/etc/shadow",
    ".gnupg",
    "mcp.json",
    "claude_desktop_config",
    ".claude.json",
    ".cursor/",
    "credentials.json",
    ".bash_history",
    ".zsh_history",
    "wallet.dat",
];

/// The words of a text: lowercase ASCII alphanumerics, apostrophes (`'`, `’`) dropped so
/// "don't", "don’t" and "dont" are one word.
struct Words {
    /// Byte range in the text, and range in `norm`.
    at: Vec<(u32, u32, u32, u32)>,
    norm: Vec<u8>,
}

impl Words {
    fn new(lower: &[u8]) -> Words {
        let mut w = Words {
            at: Vec::new(),
            norm: Vec::new(),
        };
        let mut i = 0;
        while i < lower.len() {
            if !lower[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let (start, nstart) = (i, w.norm.len());
            while i < lower.len() {
                let b = lower[i];
                if b.is_ascii_alphanumeric() {
                    w.norm.push(b);
                    i += 1;
                } else if b == b'\'' && lower.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                } else if lower[i..].starts_with("’".as_bytes())
                    && lower.get(i + 3).is_some_and(u8::is_ascii_alphabetic)
                {
                    i += 3;
                } else {
                    break;
                }
            }
            w.at.push((start as u32, i as u32, nstart as u32, w.norm.len() as u32));
        }
        w
    }

    fn len(&self) -> usize {
        self.at.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        match self.at.get(i) {
            Some(&(_, _, a, b)) => &self.norm[a as usize..b as usize],
            None => b"",
        }
    }

    fn is(&self, i: usize, any: &[&str]) -> bool {
        let w = self.get(i);
        any.iter().any(|a| a.as_bytes() == w)
    }

    /// The first word in `from..from + within` (bounded by the text) that is one of `any`.
    fn find(&self, from: usize, within: usize, any: &[&str]) -> Option<usize> {
        (from..(from + within).min(self.len())).find(|&j| self.is(j, any))
    }

    fn start(&self, i: usize) -> usize {
        self.at[i].0 as usize
    }

    fn end(&self, i: usize) -> usize {
        self.at[i].1 as usize
    }

    /// The index of the first word that starts at or after byte `pos`.
    fn at_byte(&self, pos: usize) -> usize {
        self.at.partition_point(|&(s, _, _, _)| (s as usize) < pos)
    }
}

/// How far a sentence reaches around a phrase, in bytes.
const SENTENCE: usize = 400;
/// At most this many hits of each kind (tags, phrases, files) per text: a text with more is
/// hostile, and a sanitiser that still finds some after a few rounds removes it whole.
pub const MAX_HITS: usize = 256;

/// The instructions aimed at the model in `text` (already stripped of hidden characters).
pub fn find(text: &str) -> Vec<Hit> {
    let lower = text.to_ascii_lowercase();
    let mut hits = Vec::new();
    tags(text, &lower, &mut hits);
    let words = Words::new(lower.as_bytes());
    let tagged = hits.len();
    for i in 0..words.len() {
        if hits.len() - tagged >= MAX_HITS {
            break;
        }
        if let Some(last) = phrase(&words, lower.as_bytes(), i) {
            hits.push(sentence(text, words.start(i), words.end(last)));
        }
    }
    files(text, &lower, &words, &mut hits);
    hits
}

/// A hit for the phrase at `start..end`, removing its sentence.
fn sentence(text: &str, start: usize, end: usize) -> Hit {
    let b = text.as_bytes();
    let stop = |c: u8| matches!(c, b'.' | b'!' | b'?' | b'\n');
    // A sentence reaches at most `SENTENCE` bytes either side of the phrase (a text without
    // full stops must not make each hit cost the whole text).
    let mut s = start;
    while s > 0 && start - s < SENTENCE && !stop(b[s - 1]) {
        s -= 1;
    }
    while !text.is_char_boundary(s) {
        s += 1;
    }
    let mut e = end;
    while e < b.len() && e - end < SENTENCE && !stop(b[e]) {
        e += 1;
    }
    if e < b.len() && stop(b[e]) {
        e += 1;
    }
    while !text.is_char_boundary(e) {
        e += 1;
    }
    Hit {
        detail: quote(&text[start..end]),
        remove: s..e,
    }
}

/// `s` quoted, whitespace collapsed, cut to about 60 characters.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    let mut n = 0;
    for w in s.split_whitespace() {
        if n > 0 {
            out.push(' ');
        }
        for c in w.chars() {
            if n >= 60 {
                out.push_str("...\"");
                return out;
            }
            out.push(if c.is_control() { '?' } else { c });
            n += 1;
        }
        n += 1;
    }
    out.push('"');
    out
}

/// A tag's name as compared: lowercase, `_` and `-` as spaces, spaces collapsed.
fn tag_name(raw: &str) -> String {
    raw.replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tag blocks: `<NAME>` ... `</NAME>` (else to the end of the text), `[NAME]` to the end of
/// its paragraph, chat-template tokens (`<|im_start|>`, `<<SYS>>`) and ```` ```system ````.
fn tags(text: &str, lower: &str, hits: &mut Vec<Hit>) {
    let b = lower.as_bytes();
    let mut i = 0;
    while i < b.len() && hits.len() < MAX_HITS {
        let open = b[i];
        if open != b'<' && open != b'[' && open != b'`' {
            i += 1;
            continue;
        }
        if open == b'`' {
            if lower[i..].starts_with("```system") || lower[i..].starts_with("```instructions") {
                let end = lower[i + 3..].find("```").map_or(b.len(), |e| i + 6 + e);
                hits.push(Hit {
                    detail: "```system block".into(),
                    remove: i..end,
                });
                i = end;
            } else {
                i += 1;
            }
            continue;
        }
        if lower[i..].starts_with("<|") {
            let window = &b[i + 2..(i + 28).min(b.len())];
            if let Some(e) = window.windows(2).position(|p| p == b"|>") {
                let end = i + 2 + e + 2;
                hits.push(Hit {
                    detail: format!("{} token", printable(&text[i..end])),
                    remove: i..end,
                });
                i = end;
                continue;
            }
        }
        if lower[i..].starts_with("<<sys>>") {
            let end = lower[i..].find("<</sys>>").map_or(b.len(), |e| i + e + 8);
            hits.push(Hit {
                detail: "<<SYS>> block".into(),
                remove: i..end,
            });
            i = end;
            continue;
        }
        let close = if open == b'<' { b'>' } else { b']' };
        let mut j = i + 1;
        let closing = b.get(j) == Some(&b'/');
        if closing {
            j += 1;
        }
        let name_start = j;
        while j < b.len()
            && j - name_start <= 32
            && (b[j].is_ascii_alphabetic() || b" _-".contains(&b[j]))
        {
            j += 1;
        }
        if j >= b.len() || b[j] != close || j == name_start {
            i += 1;
            continue;
        }
        let name = tag_name(&lower[name_start..j]);
        if !TAGS.contains(&name.as_str()) {
            i = j;
            continue;
        }
        let tag_end = j + 1;
        let end = if closing {
            tag_end
        } else if open == b'<' {
            let closer = format!("</{}>", &lower[name_start..j]);
            lower[tag_end..]
                .find(&closer)
                .map_or(b.len(), |e| tag_end + e + closer.len())
        } else {
            lower[tag_end..]
                .find("\n\n")
                .map_or(b.len(), |e| tag_end + e)
        };
        let (o, c) = if open == b'<' { ('<', '>') } else { ('[', ']') };
        let slash = if closing { "/" } else { "" };
        let written = printable(&text[name_start..j]);
        hits.push(Hit {
            detail: if closing {
                format!("{o}{slash}{written}{c} tag")
            } else {
                format!("{o}{written}{c} block")
            },
            remove: i..end,
        });
        i = end;
    }
}

fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

const NOUNS: &[&str] = &[
    "instructions",
    "instruction",
    "prompt",
    "prompts",
    "rules",
    "guidelines",
    "directives",
    "directions",
    "context",
    "messages",
    "guidance",
    "policies",
    "commands",
    "constraints",
];
const TELL: &[&str] = &[
    "tell",
    "inform",
    "notify",
    "alert",
    "mention",
    "reveal",
    "disclose",
    "telling",
    "informing",
    "notifying",
    "alerting",
    "mentioning",
    "revealing",
    "disclosing",
];
const SECRETS: &[&str] = &[
    "history",
    "conversation",
    "conversations",
    "transcript",
    "key",
    "keys",
    "token",
    "tokens",
    "secret",
    "secrets",
    "password",
    "passwords",
    "credential",
    "credentials",
    "cookies",
];
const INTO: &[&str] = &[
    "as", "in", "into", "inside", "via", "through", "within", "to",
];
const PARAM: &[&str] = &["parameter", "param", "argument", "arg", "field", "input"];

/// The phrase rules; each returns the index of its last word when the phrase starts at `i`.
fn phrase(w: &Words, lower: &[u8], i: usize) -> Option<usize> {
    let word = w.get(i);
    match word {
        // "ignore (all) previous instructions", "disregard the above".
        b"ignore" | b"disregard" | b"forget" | b"override" | b"overrule" | b"bypass" => {
            let q = w.find(
                i + 1,
                4,
                &[
                    "previous",
                    "prior",
                    "above",
                    "earlier",
                    "preceding",
                    "former",
                    "original",
                    "system",
                    "safety",
                    "all",
                    "any",
                    "your",
                ],
            )?;
            if w.is(q, &["above"]) {
                return Some(q);
            }
            w.find(q + 1, 3, NOUNS)
        }
        // "do not tell the user", "don't reveal", "without informing the user".
        b"dont" | b"never" | b"not" | b"without" | b"nor" => {
            if word == b"not"
                && !w.is(
                    i.wrapping_sub(1),
                    &["do", "must", "should", "shall", "will", "need"],
                )
            {
                return None;
            }
            let v = w.find(i + 1, 2, TELL)?;
            if w.is(v, &["mention", "mentioning"]) {
                return w.find(
                    v + 1,
                    5,
                    &[
                        "user", "users", "human", "anyone", "anybody", "this", "that", "it",
                        "these", "them",
                    ],
                );
            }
            Some(v)
        }
        // "the user (must|should) not know", "(could|would) upset the user".
        b"upset" | b"alarm" | b"worry" | b"scare" => {
            if w.is(
                i.wrapping_sub(1),
                &["could", "would", "might", "will", "even", "may"],
            ) {
                w.find(i + 1, 2, &["user", "users", "human"])
            } else {
                None
            }
        }
        b"hide" | b"conceal" | b"keep" => {
            let t = w.find(i + 1, 4, &["secret", "hidden", "confidential", "from"])?;
            w.find(t, 4, &["user", "users", "human"])
        }
        // "before using this tool, ... read".
        b"before" => {
            let u = w.find(
                i + 1,
                3,
                &[
                    "using",
                    "calling",
                    "invoking",
                    "running",
                    "executing",
                    "use",
                    "call",
                    "invoke",
                    "run",
                ],
            )?;
            let t = w.find(u + 1, 3, &["tool", "function", "this"])?;
            w.find(
                t + 1,
                25,
                &[
                    "read", "cat", "open", "load", "fetch", "access", "retrieve", "send", "pass",
                    "include",
                ],
            )
        }
        // "pass its content as 'sidenote'", "include the conversation history in ...".
        b"pass" | b"put" | b"include" | b"insert" | b"send" | b"add" | b"append" | b"provide"
        | b"place" | b"embed" | b"concatenate" | b"copy" | b"attach" | b"supply" | b"forward"
        | b"share" | b"leak" | b"dump" => {
            let what = (i + 1..(i + 9).min(w.len())).find(|&j| {
                w.is(j, SECRETS)
                    || (w.is(j, &["content", "contents"])
                        && (w.is(j - 1, &["its", "their", "whose", "files", "file"])
                            || w.is(j + 1, &["of"])))
                    || (w.is(j, &["prompt"]) && w.is(j - 1, &["system"]))
            })?;
            if w.is(
                what,
                &["history", "conversation", "conversations", "transcript"],
            ) || w.is(what, &["prompt"])
            {
                return Some(what);
            }
            let into = w.find(what + 1, 8, INTO)?;
            if let Some(p) = w.find(into + 1, 4, PARAM) {
                return Some(p);
            }
            // A quoted parameter name right after "as" or "in": 'sidenote', `notes`.
            let mut k = w.end(into);
            while k < lower.len() && lower[k] == b' ' {
                k += 1;
            }
            let quoted = k < lower.len() && b"'\"`".contains(&lower[k]);
            (quoted && into + 1 < w.len() && w.start(into + 1) == k + 1).then_some(into + 1)
        }
        // "has a side effect on the send_email tool", "all emails must be sent to".
        b"side" => {
            let e = w.find(i + 1, 1, &["effect", "effects"])?;
            w.find(e + 1, 10, &["tool", "tools", "function"])
        }
        b"all" | b"every" | b"any" => {
            let m = w.find(
                i + 1,
                1,
                &[
                    "emails",
                    "email",
                    "messages",
                    "mail",
                    "mails",
                    "payments",
                    "transfers",
                ],
            )?;
            let s = w.find(
                m + 1,
                4,
                &["sent", "forwarded", "redirected", "bcc", "cc", "routed"],
            )?;
            w.find(s + 1, 2, &["to"])
        }
        // "you are now ...", "from now on", "new instructions:".
        b"you" if w.is(i + 1, &["are"]) && w.is(i + 2, &["now"]) => Some(i + 2),
        b"from" if w.is(i + 1, &["now"]) && w.is(i + 2, &["on"]) => Some(i + 2),
        b"new" | b"updated" | b"real" | b"actual" | b"secret" | b"hidden"
            if w.is(i + 1, &["instructions"]) =>
        {
            Some(i + 1)
        }
        b"very" if w.is(i + 1, &["very"]) && w.is(i + 2, &["important"]) => Some(i + 2),
        _ => None,
    }
}

/// Requests to read a credential or client-configuration file: a path from `FILES` (or a
/// `.env` file) with a word of access near it.
fn files(text: &str, lower: &str, w: &Words, hits: &mut Vec<Hit>) {
    // One pass: at each `.`, `~` or `/`, and at each word start, the fragments that begin
    // with that byte (a fragment starting with a letter is matched at word starts only).
    let b = lower.as_bytes();
    let mut found: Vec<(usize, usize)> = Vec::new();
    for p in 0..b.len() {
        let c = b[p];
        let word_start = c.is_ascii_alphabetic() && (p == 0 || !b[p - 1].is_ascii_alphanumeric());
        if !matches!(c, b'.' | b'~' | b'/') && !word_start {
            continue;
        }
        for f in FILES {
            if f.as_bytes()[0] == c && b[p..].starts_with(f.as_bytes()) {
                found.push((p, p + f.len()));
            }
        }
        if c == b'.' && b[p..].starts_with(b".env") {
            let before_ok = p == 0 || !b[p - 1].is_ascii_alphanumeric();
            let after_ok = b
                .get(p + 4)
                .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_');
            if before_ok && after_ok {
                found.push((p, p + 4));
            }
        }
    }
    let mut last_end = 0;
    let before = hits.len();
    for (p, e) in found {
        if p < last_end {
            continue;
        }
        if hits.len() - before >= MAX_HITS {
            break;
        }
        // The whole path-like token around the fragment.
        let edge = |c: u8| b" \t\n'\"`(),;<>[]{}".contains(&c);
        let mut s = p;
        while s > 0 && p - s < 200 && !edge(b[s - 1]) {
            s -= 1;
        }
        while !text.is_char_boundary(s) {
            s += 1;
        }
        let mut end = e;
        while end < b.len() && end - e < 200 && !edge(b[end]) {
            end += 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        while end > e && b[end - 1] == b'.' {
            end -= 1;
        }
        last_end = end;
        let at = w.at_byte(s);
        let from = at.saturating_sub(12);
        let verb = (from..(at + 6).min(w.len())).find(|&j| w.is(j, ACCESS));
        if let Some(v) = verb {
            let (a, z) = if v < at {
                (w.start(v), end)
            } else {
                (s, w.end(v))
            };
            let mut hit = sentence(text, a, z);
            hit.detail = format!("request to read {}", quote(&text[s..end]));
            hits.push(hit);
        }
    }
}
