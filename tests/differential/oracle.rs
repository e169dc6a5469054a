//! The oracle itself is tested before it judges the guard: every violation class is caught on
//! a statement known to commit it, and known-harmless statements pass, so a silent oracle
//! cannot make the harness green.

use crate::sql_oracle::{Ran, SqliteOracle, OUTLIERS, TABLES};
use std::collections::BTreeSet;

/// The class of violation the SQLite oracle finds in `sql`, or "ok"/"rejected".
fn sqlite_class(oracle: &SqliteOracle, sql: &str) -> String {
    match oracle.check(sql) {
        Ok(Ran::Executed(_)) => "ok".into(),
        Ok(Ran::Rejected(_)) => "rejected".into(),
        Err(v) => v.class.into(),
    }
}

/// Statements with the verdict the oracle must give on a fixture of 6 rows (max_rows 5).
pub const KNOWN: &[(&str, &str)] = &[
    ("SELECT * FROM users LIMIT 5", "ok"),
    ("SELECT * FROM users", "R1"),
    ("SELECT id FROM users", "R1"),
    ("SELECT count(*) FROM users", "ok"),
    ("SELECT 1 UNION ALL SELECT 2", "ok"),
    ("SELECT group_concat(ssn) FROM users", "R2"),
    ("SELECT upper(group_concat(name)) FROM users", "R2"),
    ("SELECT hex(group_concat(email)) FROM users", "R2"),
    ("SELECT a.name, b.name, c.name FROM users a, users b, users c WHERE a.id = 1 AND b.id = 2 AND c.id = 3 LIMIT 1", "ok"),
    ("DELETE FROM users WHERE id = 3", "ok"),
    ("DELETE FROM users", "W1"),
    ("UPDATE users SET name = 'x' WHERE 1 IN (1, id)", "W1"),
    ("UPDATE orders SET amount = 0 WHERE id < 6", "ok"),
    // Real filters that match every marked row but not the outliers.
    ("DELETE FROM users WHERE id > 0", "ok"),
    ("DELETE FROM users WHERE id IN (SELECT user_id FROM orders)", "ok"),
    ("DELETE FROM orders WHERE user_id IN (SELECT id FROM users)", "ok"),
    ("DELETE FROM users WHERE email LIKE '%@example.com'", "ok"),
    ("UPDATE users SET name = 'x' WHERE name <> ''", "ok"),
    ("UPDATE users SET age = 0 WHERE age BETWEEN 1 AND 999", "ok"),
    ("DELETE FROM t WHERE a = lower(a)", "ok"),
    ("DELETE FROM users WHERE email IS NULL", "ok"),
    ("UPDATE users SET ssn = 'x' WHERE ssn IS NULL", "ok"),
    // True for every non-NULL value of the columns they name: whole-table writes.
    ("DELETE FROM users WHERE email IS NOT NULL", "W1"),
    ("DELETE FROM users WHERE id IS NOT NULL", "W1"),
    ("UPDATE users SET name = 'x' WHERE (id = 2) IS NOT NULL", "W1"),
    ("DELETE FROM users WHERE id + 0 = id", "W1"),
    ("DELETE FROM users WHERE name LIKE '%'", "W1"),
    ("DELETE FROM orders WHERE amount = amount", "W1"),
    ("UPDATE t SET a = NULL WHERE a IS NOT NULL", "W1"),
    ("DROP TABLE users", "W2"),
    ("ALTER TABLE users DROP COLUMN ssn", "W2"),
    ("ALTER TABLE users RENAME TO u2", "W2"),
    ("ALTER TABLE users ADD COLUMN extra TEXT", "ok"),
    ("CREATE TABLE t2 (a)", "ok"),
    ("INSERT INTO users (id, name) VALUES (100, 'x')", "ok"),
    ("ATTACH DATABASE ':memory:' AS m", "ok"),
    ("CREATE TRIGGER trap AFTER INSERT ON users BEGIN DELETE FROM orders; END", "W5"),
    ("SELECT * FROM users WHERE", "rejected"),
    ("SELECT 1; DELETE FROM orders; SELECT * FROM nosuchtable", "W1"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c", "rejected"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50) SELECT x FROM c", "ok"),
];

/// The fixture as SQLite stores it is the fixture the oracle judges against; every table has
/// its marked rows, complete outliers a targeted predicate misses, and a NULL row.
#[test]
fn the_sqlite_fixture_reads_back_as_modelled() {
    let oracle = SqliteOracle::new(5);
    let obs = oracle.observe("SELECT 1");
    for (t, state) in obs.after.iter().enumerate() {
        let want = oracle.fixture.table(t);
        assert_eq!(state.as_ref().ok(), Some(&want), "table {}", TABLES[t].0);
        let complete = oracle.fixture.complete_rows(t);
        assert_eq!(want.len(), 6 + OUTLIERS.len());
        assert_eq!(complete.len(), 6 + OUTLIERS.len() - 1, "one NULL row");
        let mut marked = BTreeSet::new();
        for v in want.iter().flatten().flatten() {
            oracle.fixture.markers_in(v, &mut marked);
        }
        assert_eq!(
            marked.len(),
            6,
            "max_rows + 1 marked rows in {}",
            TABLES[t].0
        );
    }
}

#[test]
fn the_sqlite_oracle_tells_violations_from_harmless_statements() {
    let oracle = SqliteOracle::new(5);
    let mut wrong = Vec::new();
    for (sql, want) in KNOWN {
        let got = sqlite_class(&oracle, sql);
        if got != *want {
            wrong.push(format!("{sql}: expected {want}, got {got}"));
        }
    }
    let dir = std::env::temp_dir().join(format!("sql-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("copy.db");
    let vacuum = format!("; VACUUM INTO '{}'", file.display());
    if sqlite_class(&oracle, &vacuum) != "W3" {
        wrong.push(format!("{vacuum}: expected W3"));
    }
    let attach = format!("ATTACH DATABASE '{}' AS x", dir.join("a.db").display());
    if sqlite_class(&oracle, &attach) != "W3" {
        wrong.push(format!("{attach}: expected W3"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        wrong.is_empty(),
        "the oracle is wrong:\n{}",
        wrong.join("\n")
    );
}
