//! The differential oracle for the SQL guard: runs a statement against a real database holding
//! a known fixture and says whether what the database did breaks the guard's promises. The
//! fixture is three tables, `users(id, name, email, ssn, age)`, `orders(id, user_id, item,
//! amount)` and `t(id, a, b, x, name)` (the guard's tests use all three names), each of
//! `max_rows + 1` **marked rows** (ids `1..=max_rows + 1`; every text value of row `i` carries
//! the row's marker, `mku00042q` in users, `mko00042q` in orders, `mkt00042q` in t; order `i`
//! belongs to user `i`) and four unmarked **outlier rows** that a typical targeted predicate
//! does not match ([`OUTLIERS`]): id 0 with empty strings and zeros, id -1 with `O'Brien`-style
//! text and -1s, id 1000000 with long upper-case text and numbers as large (its order belongs
//! to no user, and no order belongs to user 1000000), and id 500000 whose every column but the
//! key is NULL (a user with no orders, an order with no user); the last two ids are one more in
//! orders and two more in t, so a join on `id` is a real filter too. The SQLite and PostgreSQL fixtures
//! are the same text ([`Fixture::setup_sql`]) and read back equal to [`Fixture::table`]. A
//! **read violation** is a statement that (R1) returns more than `max_rows` rows while it reads
//! a fixture table (SQLite: the authorizer saw a read of it; PostgreSQL:
//! `pg_stat_xact_user_tables` counted a scan) or more than `max_rows` rows that carry a marker,
//! or (R2) returns one value, or (R3) one row, whose text holds the markers of more than
//! `max_rows` fixture rows ("in one value as well as in rows"); markers are found verbatim, in
//! any letter case, and hex-encoded (`hex()`, bytea). A **write violation** is a statement after
//! which (W1) a fixture table was written as a whole: every one of its **complete rows** (the
//! rows with no NULL: the marked rows and the outliers 0, -1 and 1000000) is gone or changed.
//! This is the guard's principle that a WHERE is no WHERE when it is true for every non-NULL
//! value of the columns it names (`id IS NOT NULL`, `(id = 2) IS NOT NULL`, `id + 0 = id`,
//! `email IS NOT NULL`, `name LIKE '%'` are whole-table writes; `email IS NULL` is a filter),
//! read as if every statement named every column; because a fixture row is either complete or
//! NULL in every column but the key, it is the same as "every row whose named columns are
//! non-NULL" for any statement that names a column besides the key, and a statement that
//! changes every row of the table is always caught. A real filter leaves an outlier alone
//! (`id > 0`, `age < 1000`, `name <> ''`, `email LIKE '%@example.com'`, a join to `orders`);
//! a predicate that is false only on values no complete fixture row holds (`name <> 'zz'`),
//! or true on every complete row and false only on the NULL row's key (`id <> 500000`), would
//! still be flagged, so the corpus and the generator use none. Further write violations: (W2)
//! a fixture table or one of its columns is gone, renamed or
//! unreadable (added columns and new tables are fine), or (W3) the database attached or wrote a
//! file (SQLite: the authorizer saw an ATTACH of a file, which `VACUUM INTO` also does;
//! PostgreSQL: a file appeared in the oracle's scratch directory, `@DIR@` in a statement), or
//! (W4) a shell program ran (PostgreSQL `COPY ... PROGRAM`: `@PROGRAM@` in a statement becomes
//! a command that creates a flag file), or (W5) it left a trap: an ordinary targeted write done
//! after it (insert, update and delete of one row) writes a table as a whole (W1's test: a
//! trigger or rule). A statement the database rejects is no violation ([`Ran::Rejected`]), but
//! what its earlier statements did is still judged. SQLite runs each statement on a fresh
//! in-memory copy of the fixture in autocommit mode, as a server would (SQLite refuses `VACUUM`
//! inside a transaction, so a rolled-back transaction would hide exactly the file-writing
//! statements); the PostgreSQL engine (tests/differential/postgres.rs) runs it in a transaction
//! that is rolled back. Statements are cut off after a few seconds (a hang is no violation).
#![allow(dead_code)]

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use std::collections::BTreeSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// How long one statement may run before it is interrupted.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Rows kept of one statement's result; more are counted but not stored.
pub const ROW_CAP: usize = 20_000;

/// The fixture's tables: name, marker letter, columns (the first is the integer key; a column
/// whose name is in [`NUMERIC`] holds integers, the others text carrying the row's marker).
pub const TABLES: [(&str, char, &[&str]); 3] = [
    ("users", 'u', &["id", "name", "email", "ssn", "age"]),
    ("orders", 'o', &["id", "user_id", "item", "amount"]),
    ("t", 't', &["id", "a", "b", "x", "name"]),
];

/// The integer columns of [`TABLES`].
pub const NUMERIC: [&str; 4] = ["id", "age", "user_id", "amount"];

/// The kinds of outlier row each table carries besides its marked rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outlier {
    /// Empty strings and zeros.
    Empty,
    /// Negative numbers and upper-case text with a quote (`O'NAME`).
    Negative,
    /// A very large number (an order of user 2000000, who does not exist) and long text.
    Huge,
    /// NULL in every column but the key.
    Null,
}

/// The outlier rows of every table: id and kind; a positive id is the one in users, the table's
/// index in [`TABLES`] is added to it in the others (orders 500001, t 1000002). No order
/// belongs to users 1000000 and 500000; orders 1000001 and 500001 belong to no user.
pub const OUTLIERS: [(i64, Outlier); 4] = [
    (-1, Outlier::Negative),
    (0, Outlier::Empty),
    (500_000, Outlier::Null),
    (1_000_000, Outlier::Huge),
];

/// One row as text (`None` for NULL), in the columns of [`TABLES`].
pub type Row = Vec<Option<String>>;

/// The known content of both tables, and the judge of what a statement did to them.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub max_rows: usize,
}

/// What one run of a statement string did, as an engine observed it.
#[derive(Debug, Default)]
pub struct Observation {
    /// The rows each executed statement returned (at most [`ROW_CAP`] kept).
    pub results: Vec<Vec<Row>>,
    /// The true row count of each result (beyond the cap).
    pub counts: Vec<usize>,
    /// Some statement read a fixture table.
    pub read_fixture: bool,
    /// The database's error, if a statement failed (earlier ones ran).
    pub error: Option<String>,
    /// The fixture tables right after the statement: rows by table, or why they cannot be read.
    pub after: Vec<Result<Vec<Row>, String>>,
    /// The fixture tables after the probe write (see W5); empty if the probe was not possible.
    pub after_probe: Vec<Result<Vec<Row>, String>>,
    /// Files the database attached or wrote.
    pub files: Vec<String>,
    /// A shell program ran.
    pub program_ran: bool,
}

/// What the database did with a statement that broke no promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// It ran; the row count of each statement's result.
    Executed(Vec<usize>),
    /// The database refused it (its message); anything run before the error was judged too.
    Rejected(String),
}

/// A broken promise: the class (`R1`..`R3`, `W1`..`W5`) and what the database did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub class: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.detail)
    }
}

impl Fixture {
    pub fn new(max_rows: usize) -> Fixture {
        Fixture { max_rows }
    }

    /// Rows per table.
    pub fn rows(&self) -> usize {
        self.max_rows + 1
    }

    /// The marker of row `i` (1-based) of the table with marker letter `t`.
    pub fn marker(t: char, i: usize) -> String {
        format!("mk{t}{i:05}q")
    }

    /// The original content of table `t` (index into [`TABLES`]), ordered by id (as
    /// [`Fixture::select_sql`] reads it back).
    pub fn table(&self, t: usize) -> Vec<Row> {
        let mut rows = self.inserted(t);
        rows.sort_by_key(|r| r[0].as_deref().and_then(|k| k.parse::<i64>().ok()));
        rows
    }

    /// Table `t` in the order it is inserted: the marked rows first, so that a read bounded by
    /// a LIMIT without ORDER BY meets marked rows as it did before there were outliers.
    fn inserted(&self, t: usize) -> Vec<Row> {
        let (_, letter, cols) = TABLES[t];
        let mut rows: Vec<Row> = (1..=self.rows())
            .map(|i| {
                let m = Fixture::marker(letter, i);
                cols.iter()
                    .map(|c| {
                        Some(match *c {
                            "id" | "user_id" => i.to_string(),
                            "age" => (20 + i % 50).to_string(),
                            "amount" => (i * 10).to_string(),
                            "email" => format!("{m}@example.com"),
                            "ssn" => format!("{:03}-45-{m}", i % 1000),
                            other => format!("{other}-{m}"),
                        })
                    })
                    .collect()
            })
            .collect();
        for (base, kind) in OUTLIERS {
            // The large keys differ per table, so that a join on `id` is a real filter too.
            let id = if base > 0 { base + t as i64 } else { base };
            let row = cols
                .iter()
                .map(|c| match (kind, *c) {
                    (_, "id") => Some(id.to_string()),
                    (Outlier::Null, _) => None,
                    (Outlier::Huge, "user_id") => Some((2 * id).to_string()),
                    (_, c) if NUMERIC.contains(&c) => Some(id.to_string()),
                    (Outlier::Empty, _) => Some(String::new()),
                    (Outlier::Negative, c) => Some(format!("O'{}", c.to_ascii_uppercase())),
                    (Outlier::Huge, c) => Some(format!("{}-", c.to_ascii_uppercase()).repeat(40)),
                })
                .collect();
            rows.push(row);
        }
        rows
    }

    /// The rows of table `t` with no NULL: the ones W1 requires a whole-table write to change.
    pub fn complete_rows(&self, t: usize) -> Vec<Row> {
        self.table(t)
            .into_iter()
            .filter(|r| r.iter().all(Option::is_some))
            .collect()
    }

    /// The SQL that creates and fills the fixture (the same text for SQLite and PostgreSQL).
    pub fn setup_sql(&self) -> String {
        let mut sql = String::new();
        for (name, _, cols) in TABLES {
            let defs: Vec<String> = cols
                .iter()
                .map(|c| match *c {
                    "id" => "id INTEGER PRIMARY KEY".to_string(),
                    c if NUMERIC.contains(&c) => format!("{c} INTEGER"),
                    c => format!("{c} TEXT"),
                })
                .collect();
            sql.push_str(&format!("CREATE TABLE {name} ({});\n", defs.join(", ")));
        }
        for (t, (name, _, cols)) in TABLES.iter().enumerate() {
            sql.push_str(&format!(
                "INSERT INTO {name} ({}) VALUES\n",
                cols.join(", ")
            ));
            let rows: Vec<String> = self
                .inserted(t)
                .iter()
                .map(|row| {
                    let vals: Vec<String> = row
                        .iter()
                        .zip(cols.iter())
                        .map(|(v, c)| match v {
                            None => "NULL".to_string(),
                            Some(v) if NUMERIC.contains(c) => v.clone(),
                            Some(v) => format!("'{}'", v.replace('\'', "''")),
                        })
                        .collect();
                    format!("({})", vals.join(", "))
                })
                .collect();
            sql.push_str(&rows.join(",\n"));
            sql.push_str(";\n");
        }
        sql
    }

    /// The query that reads table `t` back, in the fixture's column order and by numeric id,
    /// from `schema` (named so that a temporary table of the same name cannot stand in for it;
    /// the qualified key, as PostgreSQL's `ORDER BY id` would sort the text output column).
    pub fn select_sql(t: usize, schema: &str) -> String {
        let (name, _, cols) = TABLES[t];
        let cast: Vec<String> = cols.iter().map(|c| format!("CAST({c} AS TEXT)")).collect();
        format!(
            "SELECT {} FROM {schema}.{name} AS fixture ORDER BY fixture.id",
            cast.join(", ")
        )
    }

    /// The distinct fixture rows (table letter, row number) whose markers `text` holds:
    /// verbatim in any case, or hex-encoded (optionally after a `\x` prefix).
    pub fn markers_in(&self, text: &str, found: &mut BTreeSet<(char, usize)>) {
        scan_markers(&text.to_ascii_lowercase(), self.rows(), found);
        let hex = text.strip_prefix("\\x").unwrap_or(text);
        if hex.len() >= 18
            && hex.len().is_multiple_of(2)
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect();
            let decoded = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
            scan_markers(&decoded, self.rows(), found);
        }
    }

    /// R1-R3 on an observation.
    pub fn judge_read(&self, obs: &Observation) -> Result<(), Violation> {
        let n = self.max_rows;
        for (s, rows) in obs.results.iter().enumerate() {
            let count = obs.counts.get(s).copied().unwrap_or(rows.len());
            let mut marked = 0;
            for row in rows {
                let mut in_row = BTreeSet::new();
                for value in row.iter().flatten() {
                    let mut in_value = BTreeSet::new();
                    self.markers_in(value, &mut in_value);
                    if in_value.len() > n {
                        return Err(Violation {
                            class: "R2",
                            detail: format!(
                                "statement {} returned one value holding the data of {} fixture rows ({} bytes)",
                                s + 1,
                                in_value.len(),
                                value.len()
                            ),
                        });
                    }
                    in_row.extend(in_value);
                }
                if in_row.len() > n {
                    return Err(Violation {
                        class: "R3",
                        detail: format!(
                            "statement {} returned one row holding the data of {} fixture rows",
                            s + 1,
                            in_row.len()
                        ),
                    });
                }
                marked += usize::from(!in_row.is_empty());
            }
            if count > n && (obs.read_fixture || marked > n) {
                return Err(Violation {
                    class: "R1",
                    detail: format!(
                        "statement {} returned {count} rows ({marked} with fixture markers) from a fixture table of {} rows",
                        s + 1,
                        self.rows()
                    ),
                });
            }
        }
        Ok(())
    }

    /// W1-W5 on an observation.
    pub fn judge_write(&self, obs: &Observation) -> Result<(), Violation> {
        if obs.program_ran {
            return Err(Violation {
                class: "W4",
                detail: "a shell program ran on the database server".into(),
            });
        }
        if let Some(file) = obs.files.first() {
            return Err(Violation {
                class: "W3",
                detail: format!("the database attached or wrote the file {file}"),
            });
        }
        self.judge_tables(&obs.after, "W1", "")?;
        if !obs.after_probe.is_empty() && obs.after.iter().all(|t| t.is_ok()) {
            self.judge_tables(
                &obs.after_probe,
                "W5",
                " by an ordinary one-row write made after it (a trigger or rule)",
            )?;
        }
        Ok(())
    }

    fn judge_tables(
        &self,
        after: &[Result<Vec<Row>, String>],
        class: &'static str,
        how: &str,
    ) -> Result<(), Violation> {
        for (t, state) in after.iter().enumerate() {
            let name = TABLES[t].0;
            let rows = match state {
                Ok(rows) => rows,
                Err(e) => {
                    return Err(Violation {
                        class: "W2",
                        detail: format!("table {name} or one of its columns is gone: {e}"),
                    })
                }
            };
            let complete = self.complete_rows(t);
            let changed = changed(&complete, rows);
            if changed == complete.len() {
                return Err(Violation {
                    class,
                    detail: format!(
                        "every one of the {changed} rows of {name} with no NULL was deleted or changed{how} ({} of its {} rows in all)",
                        self.changed_rows(t, rows),
                        self.table(t).len()
                    ),
                });
            }
        }
        Ok(())
    }

    /// How many of table `t`'s original rows are missing from `rows` or differ there.
    pub fn changed_rows(&self, t: usize, rows: &[Row]) -> usize {
        changed(&self.table(t), rows)
    }

    /// The ordinary targeted writes of W5: insert, update and delete of one row of users.
    pub fn probe_sql(&self, schema: &str) -> String {
        let probe = self.rows() + 100;
        format!(
            "INSERT INTO {schema}.users (id, name) VALUES ({probe}, 'probe'); \
             UPDATE {schema}.users SET age = age WHERE id = 1; \
             DELETE FROM {schema}.users WHERE id = {probe};"
        )
    }

    /// Both judgements: reads first, then writes.
    pub fn judge(&self, obs: &Observation) -> Result<Ran, Violation> {
        self.judge_read(obs)?;
        self.judge_write(obs)?;
        Ok(match &obs.error {
            Some(e) => Ran::Rejected(e.clone()),
            None => Ran::Executed(obs.counts.clone()),
        })
    }
}

/// How many of the `original` rows are missing from `now` (matched by key) or differ there.
fn changed(original: &[Row], now: &[Row]) -> usize {
    let now: std::collections::HashMap<&Option<String>, &Row> = now
        .iter()
        .filter_map(|r| r.first().map(|k| (k, r)))
        .collect();
    original
        .iter()
        .filter(|orig| now.get(&orig[0]) != Some(orig))
        .count()
}

/// Adds every `mk<letter><5 digits>q` in `lower` with a row number in `1..=rows`.
fn scan_markers(lower: &str, rows: usize, found: &mut BTreeSet<(char, usize)>) {
    let b = lower.as_bytes();
    let mut i = 0;
    while let Some(p) = lower[i..].find("mk") {
        let s = i + p;
        i = s + 2;
        if s + 9 > b.len() || b[s + 8] != b'q' || !matches!(b[s + 2], b'u' | b'o' | b't') {
            continue;
        }
        let digits = &lower[s + 3..s + 8];
        if let Ok(n) = digits.parse::<usize>() {
            if digits.bytes().all(|d| d.is_ascii_digit()) && (1..=rows).contains(&n) {
                found.insert((b[s + 2] as char, n));
            }
        }
    }
}

/// The oracle on SQLite (bundled by rusqlite): every check runs on a fresh in-memory copy.
pub struct SqliteOracle {
    pub fixture: Fixture,
    setup: String,
}

impl SqliteOracle {
    pub fn new(max_rows: usize) -> SqliteOracle {
        let fixture = Fixture::new(max_rows);
        let setup = fixture.setup_sql();
        SqliteOracle { fixture, setup }
    }

    /// Runs `sql` and judges it as a read (R1-R3).
    pub fn check_read(&self, sql: &str) -> Result<Ran, Violation> {
        let obs = self.observe(sql);
        self.fixture.judge_read(&obs)?;
        Ok(ran(&obs))
    }

    /// Runs `sql` and judges it as a write (W1-W5).
    pub fn check_write(&self, sql: &str) -> Result<Ran, Violation> {
        let obs = self.observe(sql);
        self.fixture.judge_write(&obs)?;
        Ok(ran(&obs))
    }

    /// Runs `sql` once and judges it both ways.
    pub fn check(&self, sql: &str) -> Result<Ran, Violation> {
        self.fixture.judge(&self.observe(sql))
    }

    /// Runs `sql` on a fresh copy of the fixture and records what happened.
    pub fn observe(&self, sql: &str) -> Observation {
        let conn = Connection::open_in_memory().expect("open an in-memory SQLite database");
        conn.execute_batch(&self.setup).expect("create the fixture");
        let reads = Arc::new(Mutex::new(false));
        let files = Arc::new(Mutex::new(Vec::new()));
        let (r, f) = (reads.clone(), files.clone());
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match ctx.action {
                AuthAction::Read { table_name, .. }
                    if TABLES.iter().any(|t| t.0.eq_ignore_ascii_case(table_name)) =>
                {
                    *r.lock().unwrap() = true
                }
                AuthAction::Attach { filename }
                    if !filename.is_empty() && filename != ":memory:" =>
                {
                    f.lock().unwrap().push(filename.to_string())
                }
                _ => {}
            }
            Authorization::Allow
        }));
        let mut obs = Observation::default();
        {
            let _watchdog = Watchdog::start(&conn);
            if let Err(e) = run_batch(&conn, sql, &mut obs) {
                obs.error = Some(e.to_string());
            }
        }
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        obs.read_fixture = *reads.lock().unwrap();
        obs.files = files.lock().unwrap().clone();
        // The statement may have left a transaction open; what it did counts either way.
        obs.after = read_tables(&conn);
        if conn.execute_batch(&self.fixture.probe_sql("main")).is_ok() {
            obs.after_probe = read_tables(&conn);
        }
        obs
    }
}

fn ran(obs: &Observation) -> Ran {
    match &obs.error {
        Some(e) => Ran::Rejected(e.clone()),
        None => Ran::Executed(obs.counts.clone()),
    }
}

/// Runs every statement of `sql` in turn, as `sqlite3_exec` would, keeping their rows.
fn run_batch(conn: &Connection, sql: &str, obs: &mut Observation) -> rusqlite::Result<()> {
    let mut batch = rusqlite::Batch::new(conn, sql);
    while let Some(mut stmt) = batch.next()? {
        let cols = stmt.column_count();
        // EXPLAIN lists the program's opcodes, never rows of a table: its values are still
        // searched for markers, its row count does not count for R1.
        let explain = stmt.is_explain() > 0;
        let mut rows = Vec::new();
        let mut count = 0;
        let mut raw = stmt.raw_query();
        while let Some(row) = raw.next()? {
            count += 1;
            if count > ROW_CAP {
                continue;
            }
            rows.push((0..cols).map(|c| text(row.get_ref_unwrap(c))).collect());
        }
        obs.results.push(rows);
        obs.counts.push(if explain { 0 } else { count });
    }
    Ok(())
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

fn read_tables(conn: &Connection) -> Vec<Result<Vec<Row>, String>> {
    (0..TABLES.len())
        .map(|t| {
            let mut stmt = conn
                .prepare(&Fixture::select_sql(t, "main"))
                .map_err(|e| e.to_string())?;
            let cols = stmt.column_count();
            let rows = stmt
                .query_map([], |row| {
                    Ok((0..cols).map(|c| text(row.get_ref_unwrap(c))).collect())
                })
                .map_err(|e| e.to_string())?;
            rows.collect::<Result<Vec<Row>, _>>()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Interrupts the connection's statement after [`STATEMENT_TIMEOUT`] unless dropped first.
struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(conn: &Connection) -> Watchdog {
        let handle = conn.get_interrupt_handle();
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(STATEMENT_TIMEOUT) == Err(mpsc::RecvTimeoutError::Timeout) {
                handle.interrupt();
            }
        });
        Watchdog {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
