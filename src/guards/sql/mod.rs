//! The SQL exfiltration guard: decides, from sqlparser's AST and never from substrings, what
//! one string of SQL does as the database will read it. The text is first read under each
//! lexical convention it may meet (`conventions`: the target database's when it is known,
//! every one otherwise) and the strictest verdict of the readings wins. Statements are judged
//! on an allow-list (`statements`): what is proven harmless passes, destructive and exporting
//! forms are named, anything else is `unrecognised`. This module owns the meaning of
//! "bounded" (`bounds`: known scalar aggregates and functions, catalog reads, the
//! row-concatenating aggregates), "a real WHERE" (`fold`), and which findings count for an
//! argument that carries SQL and for one that only might. It returns findings; the policy
//! decides what they mean for a message.

use sqlparser::ast::{Expr, Query};
use sqlparser::dialect::{dialect_from_str, Dialect, GenericDialect};
use sqlparser::parser::{Parser, ParserError};

mod bounds;
pub mod conventions;
mod fold;
mod functions;
mod lexical;
mod normal;
mod statements;

use bounds::row_concat_aggregate;
pub use conventions::Convention;
use conventions::{LexError, Reading as Read, Stmt};
use fold::filters_rows;
use lexical::{exports_into_file, is_keyword};
pub use normal::normal_form;

/// The dialect names `--dialect` accepts (sqlparser's own names; `auto` and `generic` mean the
/// target database is not known: every convention is tried).
pub const DIALECTS: &[&str] = &[
    "auto",
    "generic",
    "sqlite",
    "postgres",
    "postgresql",
    "mysql",
    "mssql",
    "snowflake",
    "redshift",
    "bigquery",
    "clickhouse",
    "duckdb",
    "databricks",
    "hive",
    "spark",
    "oracle",
    "teradata",
    "ansi",
];

/// Aggregates that pack any number of rows into one value: one in a query's output carries a
/// whole table in a single row, so no LIMIT bounds it.
pub const ROW_CONCAT_AGGREGATES: &[&str] = &[
    "group_concat",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_group_array",
    "json_group_object",
    "json_object_agg",
    "jsonb_object_agg",
    "listagg",
    "xmlagg",
    "json_arrayagg",
    "json_objectagg",
    "collect_list",
    "collect_set",
    "grouparray",
    "array",
    // PostgreSQL's XML exporters put a whole table, query result or database in one value.
    "table_to_xml",
    "query_to_xml",
    "cursor_to_xml",
    "schema_to_xml",
    "database_to_xml",
    "table_to_xml_and_xmlschema",
    "query_to_xml_and_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml_and_xmlschema",
];

/// The class of problem a finding belongs to. The policy maps each to a rule id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    UnboundedRead,
    Export,
    Destructive,
    /// Parsed, but not a statement or form proven harmless.
    Unrecognised,
    /// Cannot be read with certainty (sqlparser cannot parse it, or the database would reject
    /// it as written).
    Unparseable,
}

impl Check {
    /// Higher is stricter: the verdict reported when readings or statements disagree.
    fn severity(self) -> u8 {
        match self {
            Check::Destructive => 5,
            Check::Export => 4,
            Check::UnboundedRead => 3,
            Check::Unrecognised => 2,
            Check::Unparseable => 1,
        }
    }
}

/// How sure it is that an argument's text is run as SQL (see README, "SQL-bearing
/// arguments"). Prose arguments never reach the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// The argument runs SQL: every finding counts, unverifiable text included.
    Sql,
    /// It might: text that starts like SQL and parses is judged; text that cannot be read
    /// as SQL is taken for prose.
    Maybe,
}

/// One problem found in a SQL string, with what to tell the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: Check,
    /// What is wrong, specifically (e.g. "SELECT without LIMIT").
    pub detail: String,
    /// What the agent can do instead.
    pub hint: String,
}

/// Verdicts remembered per guard: agents repeat their queries (and a loop repeats one query
/// thousands of times), while parsing costs microseconds. Bounded in entries and text length.
const CACHE_ENTRIES: usize = 512;
const CACHE_MAX_TEXT: usize = 2048;

/// Verdicts by how the text is read (carrier and target), then by text: a hit allocates
/// nothing.
type VerdictCache = std::collections::HashMap<
    (Carrier, Option<Convention>),
    std::collections::HashMap<String, Vec<Finding>>,
>;

/// Which readings a guard makes of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// The target is not known: the database's convention if the caller learnt it, every
    /// convention otherwise.
    Auto,
    /// One database, by the policy.
    Fixed(Convention),
    /// A dialect with no convention of its own here: sqlparser's own reading.
    Native,
}

/// Settings of the guard, and its verdict cache (a pure function of text and settings).
#[derive(Debug)]
pub struct SqlGuard {
    dialect: String,
    reading: Reading,
    max_rows: u64,
    cache: std::sync::Mutex<VerdictCache>,
}

impl Clone for SqlGuard {
    fn clone(&self) -> SqlGuard {
        SqlGuard::new(&self.dialect, self.max_rows)
    }
}

impl SqlGuard {
    /// `dialect` must be one of [`DIALECTS`] (checked by the caller, see [`is_dialect`]).
    pub fn new(dialect: &str, max_rows: u64) -> SqlGuard {
        let dialect = dialect.to_ascii_lowercase();
        let reading = match dialect.as_str() {
            "auto" | "generic" | "ansi" => Reading::Auto,
            d => Convention::of_dialect(d).map_or(Reading::Native, Reading::Fixed),
        };
        SqlGuard {
            dialect,
            reading,
            max_rows,
            cache: std::sync::Mutex::new(VerdictCache::default()),
        }
    }

    /// Every finding in one string argument, strictest first (one per check). `carrier`
    /// says how sure it is that the text runs as SQL; `target` is the database the server
    /// fronts when the gateway learnt it (used when the policy leaves the dialect to `auto`).
    pub fn inspect(
        &self,
        text: &str,
        carrier: Carrier,
        target: Option<Convention>,
    ) -> Vec<Finding> {
        let target = match self.reading {
            Reading::Auto => target,
            Reading::Fixed(c) => Some(c),
            Reading::Native => None,
        };
        if text.len() > CACHE_MAX_TEXT {
            return self.analyse(text, carrier, target);
        }
        let key = (carrier, target);
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key).and_then(|m| m.get(text)).cloned())
        {
            return hit;
        }
        let verdict = self.analyse(text, carrier, target);
        if let Ok(mut cache) = self.cache.lock() {
            let map = cache.entry(key).or_default();
            if map.len() >= CACHE_ENTRIES {
                map.clear();
            }
            map.insert(text.to_owned(), verdict.clone());
        }
        verdict
    }

    fn analyse(&self, text: &str, carrier: Carrier, target: Option<Convention>) -> Vec<Finding> {
        let mut found = Vec::new();
        if self.reading == Reading::Native {
            let dialect =
                dialect_from_str(&self.dialect).unwrap_or_else(|| Box::new(GenericDialect));
            let read = Read {
                whole: text.to_owned(),
                stmts: vec![Stmt {
                    first: lexical::first_word(text),
                    text: text.to_owned(),
                }],
            };
            self.judge_reading(&read, &[&*dialect], carrier, None, &mut found);
            return finish(found, carrier);
        }
        let convs: &[Convention] = match &target {
            Some(c) => std::slice::from_ref(c),
            None => &conventions::ALL,
        };
        let readings: Vec<(Convention, Result<Read, LexError>)> = convs
            .iter()
            .map(|&c| (c, conventions::read_whole(text, c)))
            .collect();
        // Text that starts with no SQL keyword in any reading is not SQL, unless the argument
        // is known to carry SQL.
        if carrier == Carrier::Maybe
            && !readings.iter().any(|(_, r)| {
                r.as_ref().is_ok_and(|r| {
                    r.stmts
                        .iter()
                        .any(|st| st.first.as_ref().is_some_and(is_keyword))
                })
            })
        {
            return Vec::new();
        }
        let same = readings.windows(2).all(|w| match (&w[0].1, &w[1].1) {
            (Ok(a), Ok(b)) => a.whole == b.whole,
            _ => false,
        });
        if same && readings.len() > 1 {
            // Every database reads the same statements: parse them once, with any dialect
            // that can (the grammar is the only difference left).
            if let (_, Ok(read)) = &readings[0] {
                let generic = GenericDialect;
                let mut dialects: Vec<Box<dyn Dialect>> = Vec::new();
                for c in convs {
                    dialects.push(parser_dialect(*c));
                }
                let mut all: Vec<&dyn Dialect> = vec![&generic];
                all.extend(dialects.iter().map(|d| &**d));
                self.judge_reading(read, &all, carrier, None, &mut found);
            }
            return finish(found, carrier);
        }
        for (conv, reading) in &readings {
            let as_read = (readings.len() > 1).then_some(*conv);
            match reading {
                Ok(read) => {
                    let d = parser_dialect(*conv);
                    fold::with_double_quoted_strings(*conv == Convention::Sqlite, || {
                        self.judge_reading(read, &[&*d], carrier, as_read, &mut found)
                    });
                }
                Err(e) => found.push(Finding {
                    check: Check::Unparseable,
                    detail: format!("{} would not run this text: {e}", conv.label()),
                    hint: "close every string, quoted name and comment; send one plain \
                           statement"
                        .into(),
                }),
            }
        }
        finish(found, carrier)
    }

    /// Judges one reading: parsed whole with the first of `dialects` that can; when none
    /// can, statement by statement (so what can be read is still judged), and unverifiable.
    fn judge_reading(
        &self,
        read: &Read,
        dialects: &[&dyn Dialect],
        carrier: Carrier,
        as_read: Option<Convention>,
        found: &mut Vec<Finding>,
    ) {
        let before = found.len();
        let prose_start = carrier == Carrier::Maybe
            && !read
                .stmts
                .iter()
                .any(|s| s.first.as_ref().is_some_and(is_keyword));
        if prose_start {
            return;
        }
        if read
            .stmts
            .iter()
            .any(|s| exports_into_file(dialects[0], &s.text))
        {
            found.push(export(
                "SELECT ... INTO OUTFILE/DUMPFILE or VACUUM INTO writes data to a file",
            ));
        }
        if let Some(ast) = dialects
            .iter()
            .find_map(|d| Parser::parse_sql(*d, &read.whole).ok())
        {
            for s in &ast {
                self.statement(s, found);
            }
        } else {
            self.judge_statements(&read.stmts, dialects, carrier, found);
        }
        if let Some(conv) = as_read {
            for f in &mut found[before..] {
                f.detail.push_str(&format!(
                    " (as {} reads the text: its comments, strings or quoting differ from \
                     other databases')",
                    conv.label()
                ));
            }
        }
    }

    /// Judges statements one by one: each parsed with the first of `dialects` that can; one
    /// none can parse is unverifiable.
    fn judge_statements(
        &self,
        stmts: &[Stmt],
        dialects: &[&dyn Dialect],
        carrier: Carrier,
        found: &mut Vec<Finding>,
    ) {
        for stmt in stmts {
            if carrier == Carrier::Maybe && !stmt.first.as_ref().is_some_and(is_keyword) {
                continue;
            }
            if statements::plain_pragma(dialects[0], &stmt.text) {
                continue;
            }
            let mut parsed = None;
            let mut first_err = None;
            for d in dialects {
                match Parser::parse_sql(*d, &stmt.text) {
                    Ok(ast) => {
                        parsed = Some(ast);
                        break;
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            match (parsed, first_err) {
                (Some(ast), _) => {
                    for s in &ast {
                        self.statement(s, found);
                    }
                }
                (None, Some(err)) => found.push(self.unparseable(stmt, &err)),
                (None, None) => {}
            }
        }
        let pragmas = stmts
            .iter()
            .filter(|s| statements::plain_pragma(dialects[0], &s.text))
            .count();
        // A PRAGMA sqlparser cannot parse makes the whole fail; otherwise statements that
        // parse alone but not together are split differently by the parser.
        if stmts.len() > 1 && pragmas == 0 && !found.iter().any(|f| f.check == Check::Unparseable) {
            found.push(Finding {
                check: Check::Unparseable,
                detail: "the statements parse one by one but not together, so how the database \
                         splits them cannot be verified"
                    .into(),
                hint: "send one plain statement at a time".into(),
            });
        }
    }

    fn unparseable(&self, stmt: &Stmt, err: &ParserError) -> Finding {
        let what = stmt
            .first
            .as_ref()
            .filter(|w| is_keyword(w))
            .map_or_else(|| "the text".to_owned(), |w| format!("{} statement", &**w));
        let too_deep = matches!(err, ParserError::RecursionLimitExceeded);
        Finding {
            check: if too_deep {
                Check::Unrecognised
            } else {
                Check::Unparseable
            },
            detail: format!(
                "{what} could not be parsed as {} ({err}), so it cannot be verified",
                match self.reading {
                    Reading::Auto => "SQL".to_owned(),
                    _ => format!("{} SQL", self.dialect),
                }
            ),
            hint: "rewrite the statement in plain standard SQL that can be checked (one \
                   statement, no vendor extensions), with LIMIT on reads"
                .into(),
        }
    }

    fn where_clause(
        &self,
        verb: &str,
        selection: Option<&Expr>,
        targets: &[String],
    ) -> Option<Finding> {
        let hint = format!(
            "add a WHERE clause to the {verb} that selects the specific rows to change by their \
             columns (for example WHERE id = ...); statements that touch every row need a \
             person's approval"
        );
        match selection {
            None => Some(destructive(
                &format!("{verb} without WHERE affects every row"),
                &hint,
            )),
            Some(e) if !filters_rows(e, targets) => Some(destructive(
                &format!(
                    "{verb} with a WHERE ({e}) that does not filter rows (true whatever the \
                     columns hold, or naming no column of the table) affects every row"
                ),
                &hint,
            )),
            Some(_) => None,
        }
    }

    fn unbounded(&self, detail: String) -> Finding {
        Finding {
            check: Check::UnboundedRead,
            detail,
            hint: format!(
                "add LIMIT {} or fewer to the outermost query (limits inside subqueries or \
                 CTEs do not count), or aggregate (COUNT, SUM, ...) instead of listing rows",
                self.max_rows
            ),
        }
    }

    /// A row-returning query: bounded, or a finding saying why not.
    fn read(&self, q: &Query) -> Option<Finding> {
        if let Some(f) = bounds::unknown_function(q) {
            return Some(self.unbounded(format!(
                "{f}() is not a function known to return one value per row: an unknown or \
                 user-defined aggregate can pack every row into one value"
            )));
        }
        if bounds::catalog_only(q) {
            return None;
        }
        if let Some(name) = bounds::recursive_cte(q) {
            return Some(self.unbounded(format!(
                "the recursive CTE {name} can accumulate any number of rows into one value, so \
                 no LIMIT bounds what it returns"
            )));
        }
        if let Some(name) = row_concat_aggregate(q) {
            return Some(Finding {
                check: Check::UnboundedRead,
                detail: format!(
                    "{name}() concatenates every matching row into one value, so LIMIT cannot \
                     bound what it returns"
                ),
                hint: format!(
                    "select the rows themselves with LIMIT {} or fewer instead of aggregating them \
                     into one value",
                    self.max_rows
                ),
            });
        }
        self.query_bound(q).err().map(|why| self.unbounded(why))
    }
}

/// The parser for one convention's canonical text.
fn parser_dialect(c: Convention) -> Box<dyn Dialect> {
    dialect_from_str(c.parser_name()).unwrap_or_else(|| Box::new(GenericDialect))
}

/// The findings that count for `carrier`, strictest first, one per check.
fn finish(mut found: Vec<Finding>, carrier: Carrier) -> Vec<Finding> {
    if carrier == Carrier::Maybe {
        found.retain(|f| !matches!(f.check, Check::Unparseable | Check::Unrecognised));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.check.severity()));
    let mut seen = Vec::new();
    found.retain(|f| {
        let new = !seen.contains(&f.check);
        seen.push(f.check);
        new
    });
    found
}

fn export(detail: &str) -> Finding {
    Finding {
        check: Check::Export,
        detail: detail.into(),
        hint: "exporting data out of the database is not allowed through this gateway; read the \
               rows you need with a bounded SELECT (LIMIT) instead"
            .into(),
    }
}

fn unrecognised(what: &str) -> Finding {
    Finding {
        check: Check::Unrecognised,
        detail: format!("{what} is not a statement proven harmless"),
        hint: "send a bounded SELECT, an INSERT of values, a targeted UPDATE or DELETE (WHERE \
               on the table's columns), or a CREATE TABLE/INDEX/VIEW; other statements need a \
               person's approval or a policy that allows them"
            .into(),
    }
}

fn destructive(detail: &str, hint: &str) -> Finding {
    Finding {
        check: Check::Destructive,
        detail: detail.into(),
        hint: hint.into(),
    }
}

/// Whether `name` is a dialect `--dialect` accepts.
pub fn is_dialect(name: &str) -> bool {
    DIALECTS.contains(&name.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> Option<Check> {
        SqlGuard::new("generic", 1000)
            .inspect(sql, Carrier::Sql, None)
            .first()
            .map(|f| f.check)
    }

    #[test]
    fn bounded_and_unbounded_reads() {
        assert_eq!(check("SELECT * FROM users"), Some(Check::UnboundedRead));
        assert_eq!(check("SELECT * FROM users LIMIT 10"), None);
        assert_eq!(
            check("SELECT * FROM users LIMIT 1001"),
            Some(Check::UnboundedRead)
        );
        assert_eq!(check("SELECT count(*) FROM users"), None);
        assert_eq!(check("SELECT 1"), None);
        assert_eq!(
            check("SELECT group_concat(ssn) FROM users LIMIT 1"),
            Some(Check::UnboundedRead)
        );
    }

    #[test]
    fn constant_true_where() {
        assert_eq!(check("DELETE FROM t WHERE 1=1"), Some(Check::Destructive));
        assert_eq!(
            check("DELETE FROM t WHERE id = 3 OR 'a'='a'"),
            Some(Check::Destructive)
        );
        assert_eq!(check("DELETE FROM t WHERE id = 3"), None);
        assert_eq!(
            check("UPDATE t SET a = 1 WHERE id = id"),
            Some(Check::Destructive)
        );
    }

    #[test]
    fn negative_limit_is_called_negative() {
        for dialect in ["sqlite", "generic"] {
            let f = SqlGuard::new(dialect, 1000).inspect(
                "SELECT * FROM t LIMIT -1",
                Carrier::Sql,
                None,
            );
            assert_eq!(f[0].check, Check::UnboundedRead);
            assert!(
                f[0].detail
                    .starts_with("LIMIT -1 is negative, which means no limit in SQLite"),
                "{dialect}: {}",
                f[0].detail
            );
        }
    }

    #[test]
    fn maybe_sql_drops_unverifiable_findings() {
        let g = SqlGuard::new("auto", 100);
        assert!(g
            .inspect("drop shipping suppliers in europe", Carrier::Maybe, None)
            .is_empty());
        assert_eq!(
            g.inspect("drop shipping suppliers in europe", Carrier::Sql, None)[0].check,
            Check::Unparseable
        );
        assert_eq!(
            g.inspect("DROP TABLE users", Carrier::Maybe, None)[0].check,
            Check::Destructive
        );
    }
}
