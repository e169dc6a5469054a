//! The SQL guard: one string, judged by `SqlGuard::inspect` in every dialect of `DIALECTS`,
//! under a SQL-named key and under another. Checks: no panic, no hang (scripts/fuzz.sh runs
//! it with libFuzzer's `-timeout`), the verdict does not depend on the guard's cache (a second
//! look gives the first answer), and what the `sqlite` guard allows under a SQL-named key
//! breaks none of the guard's promises when a real SQLite runs it on the differential
//! fixture (`sql_oracle`: at most `max_rows` rows read, in rows or in one value; no file
//! written, no table or column lost, no trap left; more than `max_rows` rows changed only by
//! a write whose WHERE names no column, since a fuzzed predicate can match every fixture row
//! and still be a real filter). `SENTINEL_FUZZ_SQL_ORACLE=off` leaves the SQLite check out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::guards::sql::{SqlGuard, DIALECTS};
use mcp_sentinel_fuzz::sql_oracle::{SqliteOracle, TABLES};
use std::sync::OnceLock;

fn oracle_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SENTINEL_FUZZ_SQL_ORACLE").is_none_or(|v| v != "off"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    // Small bounds keep the oracle's fixture (max_rows + 1 rows a table) cheap to build.
    let max_rows = [1, 2, 5, 10][usize::from(flags & 3)];
    let sql_key = flags & 4 != 0;
    for dialect in DIALECTS {
        let guard = SqlGuard::new(dialect, max_rows);
        let first = guard.inspect(text, sql_key);
        assert_eq!(guard.inspect(text, sql_key), first, "{dialect}: {text:?}");
        if *dialect == "sqlite" && sql_key && first.is_none() && oracle_on() {
            let oracle = SqliteOracle::new(max_rows as usize);
            let obs = oracle.observe(text);
            let verdict = oracle.fixture.judge_read(&obs).and_then(|()| {
                match oracle.fixture.judge_write(&obs) {
                    // A fuzzed predicate may match every fixture row and still filter rows
                    // (`WHERE id > 0`): a write that changed too many rows is a finding only
                    // when no WHERE in it could have targeted them.
                    Err(v) if v.class == "W1" && may_filter(text) => Ok(()),
                    other => other,
                }
            });
            if let Err(v) = verdict {
                panic!("the sqlite guard (max_rows {max_rows}) allows {text:?}, and SQLite: {v}");
            }
        }
    }
});

/// Whether some `WHERE` in `text` names a column of the fixture (or a rowid), so that it may
/// be a real filter even though it matched every row of the small fixture. A `WHERE` that
/// names none (`WHERE 2/2`, `WHERE EXISTS (SELECT 1)`) cannot tell rows apart.
fn may_filter(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let Some(at) = words.iter().position(|w| *w == "where") else {
        return false;
    };
    words[at..].iter().any(|w| {
        ["rowid", "oid", "_rowid_"].contains(w)
            || TABLES.iter().any(|(_, _, cols)| cols.contains(w))
    })
}
