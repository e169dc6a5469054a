//! What the driver sends and what it expects back: the JSON-RPC lines it writes (small calls,
//! blocked calls, calls with given arguments), the SQL shapes and prose they carry, the check
//! that an answer is the echo server's reply passed on unchanged, and the check that an audit
//! log stayed empty.

use std::fs;
use std::path::Path;

use crate::procs::{count_lines, snippet, Res};

/// The blocked call of the benchmark: an unbounded read.
pub(crate) const BLOCKED_QUERY: &str = "SELECT * FROM users";
/// The same, made distinct per message (`{n}` is replaced by a 6-digit number), so that no
/// verdict cache can answer it.
pub(crate) const BLOCKED_DISTINCT: &str = "SELECT * FROM users WHERE id > {n}";

/// SQL shapes for the inspection-time measurement: (label, query). All are allowed by the
/// default policy, so every line is forwarded and nothing is audited. `{n}` is replaced by a
/// 6-digit number: distinct per line for the cold-cache figures, always the same for the
/// repeated-query figure.
pub(crate) const SQL_SHAPES: &[(&str, &str)] = &[
    (
        "simple",
        "SELECT id, name FROM users WHERE id = {n} ORDER BY name LIMIT 10",
    ),
    (
        "join",
        "SELECT u.id, u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id \
         WHERE u.id = {n} AND o.status = 'paid' ORDER BY o.created_at DESC LIMIT 20",
    ),
    (
        "CTE",
        "WITH recent AS (SELECT user_id, total FROM orders WHERE created_at > '2024-01-01' \
         LIMIT 500) SELECT user_id, total FROM recent WHERE total > {n} LIMIT 50",
    ),
    (
        "aggregate",
        "SELECT status, COUNT(*) AS n, SUM(total) AS revenue FROM orders \
         WHERE created_at > '2024-01-01' AND total > {n} GROUP BY status ORDER BY n DESC \
         LIMIT 10",
    ),
];

/// `template` with `{n}` replaced by the 6-digit number `100000 + i`.
pub(crate) fn fill(template: &str, i: u64) -> String {
    template.replace("{n}", &(100_000 + i % 900_000).to_string())
}

/// Filler for the non-SQL baseline lines (its first word is not a SQL keyword, so the guard's
/// pre-filter skips it, as it does for prose).
pub(crate) const PROSE: &str =
    "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod \
     tempor incididunt ut labore et dolore magna aliqua Ut enim ad minim veniam \
     quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo";

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":TOOL,"arguments":{KEY:"VALUE"}}}\n`
/// (VALUE must need no escaping).
pub(crate) fn tools_call(out: &mut Vec<u8>, id: u64, tool: &str, key: &str, value: &str) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    push_u64(out, id);
    out.extend_from_slice(b",\"method\":\"tools/call\",\"params\":{\"name\":\"");
    out.extend_from_slice(tool.as_bytes());
    out.extend_from_slice(b"\",\"arguments\":{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\"}}}\n");
}

/// `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":TOOL,"arguments":ARGS}}\n`
/// (ARGS: a JSON object).
fn args_call(out: &mut Vec<u8>, id: u64, tool: &str, args: &str) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    push_u64(out, id);
    out.extend_from_slice(b",\"method\":\"tools/call\",\"params\":{\"name\":\"");
    out.extend_from_slice(tool.as_bytes());
    out.extend_from_slice(b"\",\"arguments\":");
    out.extend_from_slice(args.as_bytes());
    out.extend_from_slice(b"}}\n");
}

fn small_call(out: &mut Vec<u8>, id: u64) {
    tools_call(out, id, "echo", "text", "hello world");
}

fn blocked_call(out: &mut Vec<u8>, id: u64) {
    tools_call(out, id, "query", "query", BLOCKED_QUERY);
}

fn blocked_distinct_call(out: &mut Vec<u8>, id: u64) {
    tools_call(out, id, "query", "query", &fill(BLOCKED_DISTINCT, id));
}

/// What a session sends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// Small allowed calls.
    Small,
    /// The same blocked query every time.
    Blocked,
    /// A different blocked query every time.
    BlockedDistinct,
    /// Allowed calls of `echo` with these arguments, `{n}` filled with the id (so each call
    /// is different).
    Args(&'static str),
}

impl Load {
    pub(crate) fn blocked(self) -> bool {
        matches!(self, Load::Blocked | Load::BlockedDistinct)
    }

    /// Appends message number `id`.
    pub(crate) fn message(self, out: &mut Vec<u8>, id: u64) {
        match self {
            Load::Small => small_call(out, id),
            Load::Blocked => blocked_call(out, id),
            Load::BlockedDistinct => blocked_distinct_call(out, id),
            Load::Args(template) => args_call(out, id, "echo", &fill(template, id)),
        }
    }
}

/// Whether `line` is the echo server's answer to request `id`, passed on unchanged: a
/// forwarded call, not a refusal.
pub(crate) fn is_echo_answer(line: &[u8], id: u64) -> bool {
    let mut want = Vec::with_capacity(64);
    want.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    push_u64(&mut want, id);
    want.extend_from_slice(ECHO_RESULT);
    line.starts_with(&want)
}

/// What follows the id in every answer of the echo server to a small `tools/call`.
const ECHO_RESULT: &[u8] = b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n";

/// An empty audit log: nothing was refused, and nothing was recorded as monitored.
pub(crate) fn audit_empty(audit: Option<&Path>) -> Res<()> {
    let Some(path) = audit else {
        return Ok(());
    };
    match count_lines(path)? {
        0 => Ok(()),
        n => {
            let data = fs::read(path).unwrap_or_default();
            let first = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
            Err(format!(
                "{n} audit entries for calls that should all pass (first: {})",
                snippet(first)
            ))
        }
    }
}

/// Checks, line by line as the chunks come, that every answer is the echo server's to the
/// request of the same number (answers come in request order).
#[derive(Default)]
pub(crate) struct EchoCheck {
    partial: Vec<u8>,
    next: u64,
    bad: usize,
    first_bad: Option<String>,
}

impl EchoCheck {
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(at) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = chunk.split_at(at + 1);
            chunk = rest;
            let ok = if self.partial.is_empty() {
                is_echo_answer(line, self.next)
            } else {
                self.partial.extend_from_slice(line);
                let ok = is_echo_answer(&self.partial, self.next);
                if !ok && self.first_bad.is_none() {
                    self.first_bad = Some(snippet(&self.partial));
                }
                self.partial.clear();
                ok
            };
            if !ok {
                self.bad += 1;
                if self.first_bad.is_none() {
                    self.first_bad = Some(snippet(line));
                }
            }
            self.next += 1;
        }
        self.partial.extend_from_slice(chunk);
    }

    pub(crate) fn verdict(&self) -> Res<()> {
        if self.bad == 0 {
            return Ok(());
        }
        Err(format!(
            "{} of {} answers were not forwarded echoes (first: {})",
            self.bad,
            self.next,
            self.first_bad.as_deref().unwrap_or("").trim_end()
        ))
    }
}
