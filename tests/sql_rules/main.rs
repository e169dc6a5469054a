//! End-to-end tests of the SQL guard's rules, driving the real `sentinel` binary in demo mode
//! (no server: JSON-RPC lines on stdin, allowed messages echoed and block errors on stdout).
//!
//! Every case is a row in a table: a name, the message, and the expected verdict (allow, or the
//! rule id that must block it). The cases of one configuration run in ONE process: each gets its
//! own id (alternately a number and a string, to check ids keep their JSON type) and the output
//! lines and audit entries are mapped back by id. A test reports every failing case by name,
//! not just the first.

#[path = "../util/mod.rs"]
mod util;

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const BLOCKED_CODE: i64 = -32010;
const APPROVAL_CODE: i64 = -32012;
const UNBOUNDED_READ: &str = "sql.unbounded_read";
const EXPORT: &str = "sql.export";
const DESTRUCTIVE: &str = "sql.destructive";
const UNPARSEABLE: &str = "sql.unparseable";
const UNRECOGNISED: &str = "sql.unrecognised";

/// The verdict a case expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Echoed to stdout byte for byte, nothing in the audit log.
    Allow,
    /// Answered with a block error naming this rule, and audited.
    Block(&'static str),
    /// Blocked by one of these rules (where the spec does not say which one applies).
    BlockAny(&'static [&'static str]),
}
use Expect::{Allow, Block, BlockAny};

const UNBOUNDED: Expect = Block(UNBOUNDED_READ);
const EXPORTS: Expect = Block(EXPORT);
const DESTROYS: Expect = Block(DESTRUCTIVE);
const UNPARSED: Expect = Block(UNPARSEABLE);

/// One row of a table.
struct Case {
    name: String,
    method: &'static str,
    params: Option<Value>,
    expect: Expect,
    /// The expected `data.argument` when blocked.
    pointer: &'static str,
}

const TOOL: &str = "run_sql";

/// A `tools/call` with the SQL under the `query` key.
fn sql(name: &str, text: &str, expect: Expect) -> Case {
    args(name, json!({ "query": text }), expect, "/query")
}

/// A `tools/call` with these arguments; `pointer` is where the block must point.
fn args(name: &str, arguments: Value, expect: Expect, pointer: &'static str) -> Case {
    tool_args(name, TOOL, arguments, expect, pointer)
}

/// A `tools/call` of another tool than [`TOOL`].
fn tool_args(
    name: &str,
    tool: &str,
    arguments: Value,
    expect: Expect,
    pointer: &'static str,
) -> Case {
    call(
        name,
        "tools/call",
        Some(json!({ "name": tool, "arguments": arguments })),
        expect,
        pointer,
    )
}

/// Any request.
fn call(
    name: &str,
    method: &'static str,
    params: Option<Value>,
    expect: Expect,
    pointer: &'static str,
) -> Case {
    Case {
        name: name.to_owned(),
        method,
        params,
        expect,
        pointer,
    }
}

/// What one run of the binary produced.
struct Run {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    audit: String,
    dir: PathBuf,
}

/// A fresh, empty directory for one run.
fn temp_dir(label: &str) -> PathBuf {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "sentinel-sql-rules-{label}-{}-{nanos}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Runs `sentinel --no-color --audit-log <dir>/audit.log OPTS` in demo mode with `input` on
/// stdin, in a fresh working directory.
fn sentinel(label: &str, opts: &[&str], input: Vec<u8>) -> Run {
    let dir = temp_dir(label);
    let audit_path = dir.join("audit.log");
    let mut child = util::bare(&dir)
        .arg("--no-color")
        .arg("--audit-log")
        .arg(&audit_path)
        .args(opts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sentinel");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // A refused write (the binary exited early) shows up as missing output below.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for sentinel");
    writer.join().expect("stdin writer");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        audit: std::fs::read_to_string(&audit_path).unwrap_or_default(),
        dir,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !s.ends_with('Z') {
        return false;
    }
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let rest = &s[19..s.len() - 1];
    shape
        && (rest.is_empty()
            || (rest.len() > 1
                && rest.starts_with('.')
                && rest[1..].bytes().all(|c| c.is_ascii_digit())))
}

/// A short description of a case's input for failure messages.
fn shown(case: &Case) -> String {
    match &case.params {
        Some(p) if case.method == "tools/call" => match p.get("arguments") {
            Some(a) => format!("arguments {a}"),
            None => format!("params {p}"),
        },
        Some(p) => format!("{} params {p}", case.method),
        None => format!("{} without params", case.method),
    }
}

/// Runs every case through one process with `opts` and checks stdout and the audit log.
/// Panics listing every failing case.
fn check(label: &str, opts: &[&str], max_rows: u64, cases: &[Case]) {
    let mut names = HashSet::new();
    for c in cases {
        assert!(
            names.insert(c.name.as_str()),
            "duplicate case name {}",
            c.name
        );
    }

    let ids: Vec<Value> = (0..cases.len())
        .map(|i| {
            if i % 2 == 0 {
                json!(i)
            } else {
                json!(format!("case-{i}"))
            }
        })
        .collect();
    let lines: Vec<String> = cases
        .iter()
        .zip(&ids)
        .map(|(c, id)| {
            let mut msg = json!({ "jsonrpc": "2.0", "id": id, "method": c.method });
            if let Some(p) = &c.params {
                msg["params"] = p.clone();
            }
            serde_json::to_string(&msg).expect("serialize")
        })
        .collect();
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');

    let run = sentinel(label, opts, input);
    let mut failures = Vec::new();
    if !run.status.success() {
        failures.push(format!(
            "exit status {} (stderr: {})",
            run.status, run.stderr
        ));
    }

    // Output lines by id.
    let mut out: HashMap<String, Vec<&str>> = HashMap::new();
    for line in run.stdout.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.entry(v["id"].to_string()).or_default().push(line),
            Err(e) => failures.push(format!("stdout line is not JSON ({e}): {line}")),
        }
    }
    // Audit entries by message_id.
    let mut audit: HashMap<String, Vec<Value>> = HashMap::new();
    for line in run.audit.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => audit
                .entry(v["message_id"].to_string())
                .or_default()
                .push(v),
            Err(e) => failures.push(format!("audit line is not JSON ({e}): {line}")),
        }
    }

    for ((case, id), line) in cases.iter().zip(&ids).zip(&lines) {
        let key = id.to_string();
        let name = &case.name;
        let what = shown(case);
        let outs = out.get(&key).map_or(&[][..], Vec::as_slice);
        let entries = audit.get(&key).map_or(&[][..], Vec::as_slice);
        let [got] = outs else {
            failures.push(format!(
                "[{name}] {what}: expected exactly one output line for id {key}, got {outs:?}"
            ));
            continue;
        };
        let rules: &[&str] = match &case.expect {
            Allow => {
                if got != line {
                    failures.push(format!("[{name}] {what}: expected allow (echo), got {got}"));
                }
                if !entries.is_empty() {
                    failures.push(format!("[{name}] {what}: allowed but audited: {entries:?}"));
                }
                continue;
            }
            Block(rule) => std::slice::from_ref(rule),
            BlockAny(rules) => rules,
        };
        let expected = rules.join(" or ");
        let v: Value = serde_json::from_str(got).expect("parsed above");
        let Some(err) = v.get("error") else {
            failures.push(format!(
                "[{name}] {what}: expected block ({expected}), got allow: {got}"
            ));
            continue;
        };
        let rule = err["data"]["rule"].as_str().unwrap_or("<none>");
        if !rules.contains(&rule) {
            failures.push(format!(
                "[{name}] {what}: expected {expected}, blocked by {rule}: {}",
                err["message"]
            ));
            continue;
        }
        let mut problems = Vec::new();
        if v["jsonrpc"] != "2.0" || v.get("result").is_some() {
            problems.push("not a JSON-RPC 2.0 error response".to_owned());
        }
        // The built-in policy sends destructive and unrecognised statements to a person's
        // approval; with no approval channel open (none is, here) they are refused at once.
        let approval = !opts.contains(&"--policy")
            && (rule.ends_with(".destructive") || rule.ends_with(".unrecognised"));
        let (code, action) = if approval {
            (APPROVAL_CODE, "approval_required")
        } else {
            (BLOCKED_CODE, "blocked")
        };
        if err["code"] != code {
            problems.push(format!("code {} instead of {code}", err["code"]));
        }
        let prefix = format!("Blocked by Sentinel ({rule}): ");
        if !err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&prefix) && m.len() > prefix.len())
        {
            problems.push(format!(
                "message {} does not start with {prefix:?}",
                err["message"]
            ));
        }
        let hint = err["data"]["hint"].as_str().unwrap_or("");
        if hint.trim().is_empty() {
            problems.push("empty or missing data.hint".to_owned());
        }
        if rule == UNBOUNDED_READ && !hint.contains(&format!("LIMIT {max_rows}")) {
            problems.push(format!("hint {hint:?} does not mention LIMIT {max_rows}"));
        }
        if err["data"]["argument"] != case.pointer {
            problems.push(format!(
                "data.argument {} instead of {:?}",
                err["data"]["argument"], case.pointer
            ));
        }
        // The audit entry.
        match entries {
            [e] => {
                let original: Value = serde_json::from_str(line).expect("own input");
                if !e["timestamp"].as_str().is_some_and(is_rfc3339_utc) {
                    problems.push(format!(
                        "audit timestamp {} is not RFC 3339 UTC",
                        e["timestamp"]
                    ));
                }
                if e["message_id"] != *id {
                    problems.push(format!(
                        "audit message_id {} instead of {id}",
                        e["message_id"]
                    ));
                }
                if e["method"] != case.method {
                    problems.push(format!("audit method {}", e["method"]));
                }
                if e["reason"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("audit reason {}", e["reason"]));
                }
                if e["rule"] != rule {
                    problems.push(format!("audit rule {} instead of {rule}", e["rule"]));
                }
                let tool = case
                    .params
                    .as_ref()
                    .map_or(Value::Null, |p| p["name"].clone());
                if e["tool"] != tool {
                    problems.push(format!("audit tool {} instead of {tool}", e["tool"]));
                }
                if e["action"] != action {
                    problems.push(format!("audit action {}", e["action"]));
                }
                if e["details"] != original {
                    problems.push(format!(
                        "audit details {} differ from the message",
                        e["details"]
                    ));
                }
            }
            _ => problems.push(format!("expected one audit entry, got {}", entries.len())),
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{name}] {what}: blocked by {rule} as expected, but: {}",
                problems.join("; ")
            ));
        }
    }

    let blocked = cases.iter().filter(|c| !matches!(c.expect, Allow)).count();
    let audited = run.audit.lines().count();
    if audited != blocked && failures.is_empty() {
        failures.push(format!("{audited} audit lines for {blocked} blocked cases"));
    }

    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&run.dir);
    } else {
        panic!(
            "{} of {} cases failed with `sentinel {}` (run dir {}):\n  {}",
            failures.len(),
            cases.len(),
            opts.join(" "),
            run.dir.display(),
            failures.join("\n  ")
        );
    }
}

mod dialects;
mod folding;
mod principles;
mod reads;
mod writes;
