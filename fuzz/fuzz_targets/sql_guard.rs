//! The SQL guard: one string, judged by `SqlGuard::inspect` in every dialect of `DIALECTS`,
//! as an argument that carries SQL and as one that only might. Checks: no panic, no hang (scripts/fuzz.sh runs
//! it with libFuzzer's `-timeout`), the verdict does not depend on the guard's cache (a second
//! look gives the first answer), and what the `sqlite` guard allows under a SQL-named key
//! breaks none of the guard's promises when a real SQLite runs it on the differential
//! fixture (`sql_oracle`: at most `max_rows` rows read, in rows or in one value; no file
//! written, no table or column lost, no trap left, not every row changed by a WHERE that is
//! true whatever the row holds). `SENTINEL_FUZZ_SQL_ORACLE=off` leaves the SQLite check out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::guards::sql::{Carrier, SqlGuard, DIALECTS};
use mcp_sentinel_fuzz::sql_oracle::SqliteOracle;
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
    let carrier = if flags & 4 != 0 {
        Carrier::Sql
    } else {
        Carrier::Maybe
    };
    for dialect in DIALECTS {
        let guard = SqlGuard::new(dialect, max_rows);
        let first = guard.inspect(text, carrier, None);
        assert_eq!(
            guard.inspect(text, carrier, None),
            first,
            "{dialect}: {text:?}"
        );
        if *dialect == "sqlite" && carrier == Carrier::Sql && first.is_empty() && oracle_on() {
            let oracle = SqliteOracle::new(max_rows as usize);
            let verdict = oracle.check(text);
            if let Err(v) = verdict {
                panic!("the sqlite guard (max_rows {max_rows}) allows {text:?}, and SQLite: {v}");
            }
        }
    }
});
