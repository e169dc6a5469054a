//! The differential harness: every statement the real `sentinel` binary allows is run against
//! a real database (SQLite through rusqlite, PostgreSQL started by the test) holding a fixture
//! of `max_rows + 1` marked rows, and the oracle (`tests/support/sql_oracle.rs`) says whether
//! the database did what the guard promised it could not: return more than `max_rows` rows (in
//! rows or in one value), or destroy rows, columns or tables. The statements are the corpus in
//! `corpus.sql` (the guard's own tests and the adversarial classes) and generated ones
//! (`generator.rs`, fixed seed). Sentinel judges them in demo mode, one process per batch: an
//! allowed call is echoed unchanged, a blocked one answered with an error naming its rule.
//! `SENTINEL_SQL_DIFF_CASES` and `SENTINEL_SQL_DIFF_SEED` set the number of generated
//! statements and the seed (scripts/sql-differential.sh). Every violation is reported with the
//! statement, the policy, the database and what it did; the test fails if there is one.

#[path = "../util/mod.rs"]
mod util;

#[path = "../support/sql_oracle.rs"]
mod sql_oracle;

mod generator;
mod oracle;
mod postgres;

use generator::{Dialect, Gen};
use serde_json::json;
use sql_oracle::{Ran, SqliteOracle, Violation};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The `max_rows` of the harness's own policies (the built-in policy's is 1000).
pub const MAX_ROWS: usize = 5;
/// Calls per sentinel process: below the built-in breaker's burst of 200 calls.
const BATCH: usize = 150;

/// How Sentinel is configured for one run: a policy file's text, or the built-in policy.
#[derive(Clone, Copy)]
pub struct Config {
    pub name: &'static str,
    pub policy: Option<&'static str>,
    pub max_rows: usize,
}

pub const SQLITE_POLICY: Config = Config {
    name: "policy sql {dialect: sqlite, max_rows: 5}",
    policy: Some(
        "version: 1\nprofiles:\n  default:\n    breaker: {mode: off}\n    rules:\n      - id: sql\n        sql: {dialect: sqlite, max_rows: 5}\n        action: block\n",
    ),
    max_rows: MAX_ROWS,
};
pub const POSTGRES_POLICY: Config = Config {
    name: "policy sql {dialect: postgres, max_rows: 5}",
    policy: Some(
        "version: 1\nprofiles:\n  default:\n    breaker: {mode: off}\n    rules:\n      - id: sql\n        sql: {dialect: postgres, max_rows: 5}\n        action: block\n",
    ),
    max_rows: MAX_ROWS,
};
pub const BUILT_IN: Config = Config {
    name: "built-in policy",
    policy: None,
    max_rows: 1000,
};

/// Sentinel's verdict on one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Blocked(String),
}

/// Sentinel's verdict on each statement, as a `tools/call` of `execute_sql` with the
/// statement under `sql`, judged in demo mode.
pub fn verdicts(config: Config, statements: &[String]) -> Vec<Verdict> {
    let dir = util::scratch("differential");
    let mut out = Vec::with_capacity(statements.len());
    for (b, chunk) in statements.chunks(BATCH).enumerate() {
        let mut input = String::new();
        for (i, sql) in chunk.iter().enumerate() {
            let msg = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "execute_sql", "arguments": {"sql": sql}}});
            input.push_str(&msg.to_string());
            input.push('\n');
        }
        let mut cmd = util::command(&dir);
        cmd.arg("-q");
        if let Some(policy) = config.policy {
            let file = dir.join("policy.yaml");
            std::fs::write(&file, policy).expect("write the policy");
            cmd.arg("--policy").arg(file);
        }
        let (status, stdout, stderr) =
            util::run(&mut cmd, input.as_bytes(), Duration::from_secs(120));
        assert!(status.success(), "sentinel failed in batch {b}: {stderr}");
        let mut by_id: HashMap<u64, Verdict> = HashMap::new();
        for line in util::json_lines(&stdout) {
            let id = line["id"]
                .as_u64()
                .expect("every answer carries a numeric id");
            let verdict = if line.get("method").is_some() {
                Verdict::Allowed
            } else {
                let rule = line["error"]["data"]["rule"].as_str().unwrap_or("?");
                Verdict::Blocked(rule.to_string())
            };
            assert!(
                by_id.insert(id, verdict).is_none(),
                "two answers to id {id}"
            );
        }
        for (i, sql) in chunk.iter().enumerate() {
            let v = by_id
                .remove(&(i as u64))
                .unwrap_or_else(|| panic!("no answer to {sql}"));
            assert!(
                !matches!(&v, Verdict::Blocked(r) if r.starts_with("breaker.")),
                "the breaker refused a call; the batch is too large: {v:?}"
            );
            out.push(v);
        }
    }
    out
}

/// The corpus for one database: `corpus.sql` decoded, lines for the other database dropped.
pub fn corpus(dialect: Dialect) -> Vec<String> {
    let text = include_str!("corpus.sql");
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with("##") {
            continue;
        }
        let (only, body) = if let Some(b) = line.strip_prefix("[sqlite] ") {
            (Some(Dialect::Sqlite), b)
        } else if let Some(b) = line.strip_prefix("[postgres] ") {
            (Some(Dialect::Postgres), b)
        } else {
            (None, line)
        };
        if only.is_some_and(|d| d != dialect) {
            continue;
        }
        out.push(unescape(body));
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// The generated statements of one run: the count and seed from the environment, else a
/// modest default.
pub fn generated(dialect: Dialect, max_rows: usize) -> Vec<String> {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let cases = env("SENTINEL_SQL_DIFF_CASES", 250) as usize;
    let seed = env("SENTINEL_SQL_DIFF_SEED", 9);
    let mut g = Gen::new(seed, dialect, max_rows);
    (0..cases).map(|_| g.statement()).collect()
}

/// One violation: which configuration allowed which statement and what the database did.
pub struct Finding {
    pub config: &'static str,
    pub database: &'static str,
    pub sql: String,
    pub violation: Violation,
}

/// Fails with every finding, grouped by class, the shortest statements first; the full list
/// goes to a file in the target directory.
pub fn report(findings: Vec<Finding>) {
    if findings.is_empty() {
        return;
    }
    let mut by_class: BTreeMap<(&str, &str, &str), Vec<&Finding>> = BTreeMap::new();
    for f in &findings {
        by_class
            .entry((f.violation.class, f.database, f.config))
            .or_default()
            .push(f);
    }
    let mut text = String::new();
    let mut full = String::new();
    for ((class, db, config), mut list) in by_class {
        list.sort_by_key(|f| f.sql.len());
        text.push_str(&format!(
            "\n{class} on {db} under {config}: {} statements, e.g.\n",
            list.len()
        ));
        for f in list.iter().take(6) {
            text.push_str(&format!("  {:?}\n      -> {}\n", f.sql, f.violation.detail));
        }
        for f in &list {
            full.push_str(&format!(
                "{class}\t{db}\t{config}\t{:?}\t{}\n",
                f.sql, f.violation.detail
            ));
        }
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sql-differential-{}.tsv",
        findings[0].database.to_lowercase()
    ));
    let _ = std::fs::write(&path, full);
    panic!(
        "{} statements the guard allowed broke its promises on a real database (full list: {}):{text}",
        findings.len(),
        path.display()
    );
}

/// Statements whose verdicts prove the harness reads Sentinel's answers: the first must be
/// allowed and the second blocked under every configuration.
const CANARIES: [&str; 2] = ["SELECT * FROM users LIMIT 1", "DELETE FROM users"];

/// Judges `statements` under `config`, runs every allowed one through `check`, and reports.
pub fn differential(
    config: Config,
    database: &'static str,
    mut statements: Vec<String>,
    mut check: impl FnMut(&str) -> Result<Ran, Violation>,
) -> Vec<Finding> {
    let mut all: Vec<String> = CANARIES.iter().map(|s| s.to_string()).collect();
    all.append(&mut statements);
    let verdicts = verdicts(config, &all);
    assert_eq!(
        verdicts[0],
        Verdict::Allowed,
        "{}: {}",
        config.name,
        CANARIES[0]
    );
    assert!(
        matches!(&verdicts[1], Verdict::Blocked(r) if r.ends_with("destructive")),
        "{}: {} got {:?}",
        config.name,
        CANARIES[1],
        verdicts[1]
    );
    let (mut allowed, mut rejected) = (0, 0);
    let mut findings = Vec::new();
    for (sql, verdict) in all.iter().zip(&verdicts).skip(CANARIES.len()) {
        if *verdict != Verdict::Allowed {
            continue;
        }
        allowed += 1;
        match check(sql) {
            Ok(Ran::Rejected(_)) => rejected += 1,
            Ok(Ran::Executed(_)) => {}
            Err(violation) => findings.push(Finding {
                config: config.name,
                database,
                sql: sql.clone(),
                violation,
            }),
        }
    }
    eprintln!(
        "{database} under {}: {} statements, {allowed} allowed, {rejected} of them rejected by the database, {} violations",
        config.name,
        all.len() - CANARIES.len(),
        findings.len()
    );
    findings
}

/// The scratch directory SQLite statements may name (`@DIR@`).
fn sqlite_statements(config: Config, dir: &std::path::Path) -> Vec<String> {
    let mut s = corpus(Dialect::Sqlite);
    s.extend(generated(Dialect::Sqlite, config.max_rows));
    s.iter()
        .map(|q| q.replace("@DIR@", &dir.display().to_string()))
        .collect()
}

#[test]
fn sqlite_under_the_sqlite_and_built_in_policies() {
    let dir = util::scratch("sqlite-files");
    let mut findings = Vec::new();
    for config in [SQLITE_POLICY, BUILT_IN] {
        let oracle = SqliteOracle::new(config.max_rows);
        let statements = sqlite_statements(config, &dir);
        findings.extend(differential(config, "SQLite", statements, |sql| {
            oracle.check(sql)
        }));
    }
    report(findings);
}

/// Statements with the verdict the PostgreSQL oracle must give (max_rows 5).
const PG_KNOWN: &[(&str, &str)] = &[
    ("SELECT * FROM users LIMIT 5", "ok"),
    ("SELECT * FROM users", "R1"),
    ("SELECT generate_series(1, 100)", "ok"),
    ("SELECT string_agg(ssn, ',') FROM users", "R2"),
    (
        "SELECT encode(string_agg(ssn, '')::bytea, 'hex') FROM users",
        "R2",
    ),
    ("COPY users TO STDOUT", "R1"),
    ("DELETE FROM users WHERE id = 2", "ok"),
    ("DELETE FROM users WHERE id > 0", "ok"),
    (
        "DELETE FROM users u USING orders o WHERE o.user_id = u.id",
        "ok",
    ),
    (
        "UPDATE users SET name = 'x' FROM orders WHERE orders.user_id = users.id",
        "ok",
    ),
    ("DELETE FROM orders WHERE user_id IS NULL", "ok"),
    ("DELETE FROM users WHERE email IS NOT NULL", "W1"),
    (
        "UPDATE users SET name = 'x' WHERE (id = 2) IS NOT NULL",
        "W1",
    ),
    ("DELETE FROM users u WHERE u IS NOT NULL", "W1"),
    ("DELETE FROM users WHERE id + 0 = id", "W1"),
    ("DELETE FROM users", "W1"),
    ("DROP TABLE users", "W2"),
    ("COMMIT; DROP TABLE orders", "W2"),
    ("SELECT count(*) FROM orders", "ok"),
    ("COPY users TO '@DIR@/x.csv'", "W3"),
    ("COPY users FROM PROGRAM '@PROGRAM@'", "W4"),
    (
        "CREATE RULE r AS ON INSERT TO users DO ALSO DELETE FROM orders",
        "W5",
    ),
    ("COPY users FROM STDIN", "rejected"),
    ("SELECT * FROM users WHERE", "rejected"),
    ("SELECT pg_terminate_backend(pg_backend_pid())", "rejected"),
    ("SELECT * FROM users LIMIT 5", "ok"),
];

#[test]
fn postgres_under_the_postgres_and_built_in_policies() {
    let server = postgres::Server::start();
    let pid = server.pid();
    let mut wrong = Vec::new();
    {
        let mut oracle = postgres::PgOracle::new(&server, MAX_ROWS);
        // The same fixture as SQLite's, read back as the oracle models it.
        let obs = oracle.observe("SELECT 1");
        for (t, state) in obs.after.iter().enumerate() {
            let want = oracle.fixture.table(t);
            if state.as_ref().ok() != Some(&want) {
                wrong.push(format!(
                    "fixture table {t} reads back as {state:?}, not {want:?}"
                ));
            }
        }
        for (sql, want) in PG_KNOWN {
            let obs = oracle.observe(sql);
            let got = match oracle.fixture.judge(&obs) {
                Ok(Ran::Executed(_)) => "ok".to_string(),
                Ok(Ran::Rejected(_)) => "rejected".to_string(),
                Err(v) => v.class.to_string(),
            };
            if got != *want {
                wrong.push(format!(
                    "{sql}: expected {want}, got {got} ({:?})",
                    obs.error
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the PostgreSQL oracle is wrong:\n{}",
        wrong.join("\n")
    );
    let mut findings = Vec::new();
    for config in [POSTGRES_POLICY, BUILT_IN] {
        let mut oracle = postgres::PgOracle::new(&server, config.max_rows);
        let mut statements = corpus(Dialect::Postgres);
        statements.extend(generated(Dialect::Postgres, config.max_rows));
        findings.extend(differential(config, "PostgreSQL", statements, |sql| {
            let obs = oracle.observe(sql);
            oracle.fixture.judge(&obs)
        }));
    }
    drop(server);
    assert!(!util::alive(pid), "postgres {pid} outlived the test");
    report(findings);
}
