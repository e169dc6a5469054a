//! The SQL guard: one string, judged by `SqlGuard::inspect` in every dialect of `DIALECTS`,
//! under a SQL-named key and under another. Checks: no panic, no hang (scripts/fuzz.sh runs
//! it with libFuzzer's `-timeout`), and the verdict does not depend on the guard's cache (a
//! second look gives the first answer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_sentinel_fuzz::guards::sql::{SqlGuard, DIALECTS};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let max_rows = [1, 10, 100, 1000][usize::from(flags & 3)];
    let sql_key = flags & 4 != 0;
    for dialect in DIALECTS {
        let guard = SqlGuard::new(dialect, max_rows);
        let first = guard.inspect(text, sql_key);
        assert_eq!(guard.inspect(text, sql_key), first, "{dialect}: {text:?}");
    }
});
