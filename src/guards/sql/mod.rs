//! The SQL exfiltration guard: decides, from sqlparser's AST and never from substrings, whether
//! one string of SQL reads an unbounded number of rows, exports data out of the database, or
//! destroys data. This module owns the meaning of "bounded" (see README's rules), the list of
//! row-concatenating aggregates, constant-true `WHERE` detection, and the cheap pre-filter that
//! keeps natural-language strings away from the parser. It returns findings; the policy decides
//! what they mean for a message.

use sqlparser::ast::{visit_statements, Expr, Query, Statement};
use sqlparser::dialect::{dialect_from_str, Dialect};
use sqlparser::parser::{Parser, ParserError};
use std::ops::ControlFlow;

mod bounds;
mod fold;
mod lexical;
mod normal;

use bounds::row_concat_aggregate;
use fold::always_true;
use lexical::first_word;
use lexical::{exports_into_file, is_keyword, mysql_unhide};
pub use normal::normal_form;

/// The dialect names `--dialect` accepts (sqlparser's own names).
pub const DIALECTS: &[&str] = &[
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

/// Statement keywords that make an unparseable string under a SQL-named key fail closed.
pub const FAIL_CLOSED_STARTS: &[&str] = &[
    "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "DROP", "TRUNCATE",
    "ALTER", "COPY", "ATTACH", "GRANT", "TABLE",
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

/// Aggregates that return one value for any number of rows.
const SCALAR_AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "total",
    "every",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "median",
    "any_value",
    "count_big",
];

/// The class of problem a finding belongs to. The policy maps each to a rule id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    UnboundedRead,
    Export,
    Destructive,
    Unparseable,
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

/// One map for strings under SQL-named keys, one for the rest (the verdicts can differ).
type VerdictCache = [std::collections::HashMap<String, Option<Finding>>; 2];

/// Settings of the guard, and its verdict cache (a pure function of text and settings).
#[derive(Debug)]
pub struct SqlGuard {
    dialect: String,
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
        SqlGuard {
            dialect: dialect.to_ascii_lowercase(),
            max_rows,
            cache: std::sync::Mutex::new(VerdictCache::default()),
        }
    }

    fn parser_dialect(&self) -> Box<dyn Dialect> {
        dialect_from_str(&self.dialect)
            .unwrap_or_else(|| Box::new(sqlparser::dialect::GenericDialect))
    }

    /// Inspects one string argument. `sql_key` says whether it sits under a key that names SQL
    /// (then unparseable statements fail closed). Returns the first finding, or `None` when the
    /// string is not SQL or is harmless SQL.
    pub fn inspect(&self, text: &str, sql_key: bool) -> Option<Finding> {
        // MySQL runs the text of /*! ... */ comments: judge it as the server will see it.
        if let Some(unhidden) = mysql_unhide(text) {
            if let Some(f) = self.inspect_text(&unhidden, sql_key) {
                return Some(f);
            }
        }
        self.inspect_text(text, sql_key)
    }

    fn inspect_text(&self, text: &str, sql_key: bool) -> Option<Finding> {
        let first = first_word(text)?;
        // Every statement sqlparser understands begins with one of its keywords; anything else
        // (prose, paths, identifiers) is not SQL and is never parsed.
        if !is_keyword(&first) {
            return None;
        }
        if text.len() > CACHE_MAX_TEXT {
            return self.analyse(text, &first, sql_key);
        }
        let slot = usize::from(sql_key);
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c[slot].get(text).cloned())
        {
            return hit;
        }
        let verdict = self.analyse(text, &first, sql_key);
        if let Ok(mut cache) = self.cache.lock() {
            let map = &mut cache[slot];
            if map.len() >= CACHE_ENTRIES {
                map.clear();
            }
            map.insert(text.to_owned(), verdict.clone());
        }
        verdict
    }

    fn analyse(&self, text: &str, first: &str, sql_key: bool) -> Option<Finding> {
        let dialect = self.parser_dialect();
        match Parser::parse_sql(&*dialect, text) {
            Ok(statements) => statements.iter().find_map(|s| self.statement(s)),
            Err(err) => self.unparseable(&*dialect, text, first, sql_key, &err),
        }
    }

    fn unparseable(
        &self,
        dialect: &dyn Dialect,
        text: &str,
        first: &str,
        sql_key: bool,
        err: &ParserError,
    ) -> Option<Finding> {
        if exports_into_file(dialect, text) {
            return Some(Finding {
                check: Check::Export,
                detail: "SELECT ... INTO OUTFILE/DUMPFILE or VACUUM INTO writes data to a file"
                    .into(),
                hint: "return the rows to the conversation with a bounded SELECT (LIMIT) instead \
                       of writing them to a file"
                    .into(),
            });
        }
        let too_deep = matches!(err, ParserError::RecursionLimitExceeded);
        if too_deep || (sql_key && FAIL_CLOSED_STARTS.contains(&first)) {
            return Some(Finding {
                check: Check::Unparseable,
                detail: format!(
                    "{first} statement could not be parsed as {} SQL ({err}), so it cannot be \
                     verified",
                    self.dialect
                ),
                hint: "rewrite the statement in plain standard SQL that can be checked (one \
                       statement, no vendor extensions), with LIMIT on reads"
                    .into(),
            });
        }
        None
    }

    /// Checks one parsed statement, including statements nested in it (a DELETE inside a CTE).
    fn statement(&self, stmt: &Statement) -> Option<Finding> {
        // EXPLAIN without ANALYZE only plans the statement; EXPLAIN ANALYZE runs it.
        if let Statement::Explain { analyze: false, .. } = stmt {
            return None;
        }
        let mut found = None;
        let _ = visit_statements(stmt, |s| match self.single_statement(s) {
            Some(f) => {
                found = Some(f);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        });
        found
    }

    fn single_statement(&self, stmt: &Statement) -> Option<Finding> {
        match stmt {
            Statement::Query(q) => self.read(q),
            Statement::Copy { to: true, .. } => {
                Some(export("COPY ... TO copies data out of the database"))
            }
            Statement::Unload { .. } => Some(export("UNLOAD copies data out of the database")),
            Statement::ExportData(_) => Some(export("EXPORT DATA copies data out of the database")),
            Statement::AttachDatabase { .. } | Statement::AttachDuckDBDatabase { .. } => Some(
                export("ATTACH DATABASE opens another database file, a way to copy data out"),
            ),
            Statement::Drop { .. }
            | Statement::DropFunction(_)
            | Statement::DropDomain(_)
            | Statement::DropProcedure { .. }
            | Statement::DropSecret { .. }
            | Statement::DropPolicy(_)
            | Statement::DropConnector { .. }
            | Statement::DropExtension(_)
            | Statement::DropOperator(_)
            | Statement::DropOperatorFamily(_)
            | Statement::DropOperatorClass(_)
            | Statement::DropTrigger(_) => Some(destructive(
                "DROP removes a database object and its data",
                "DROP needs a person's approval; it is not allowed through this gateway",
            )),
            Statement::Truncate(_) => Some(destructive(
                "TRUNCATE deletes every row of a table",
                "TRUNCATE needs a person's approval; to remove specific rows use DELETE with a \
                 WHERE clause that selects them",
            )),
            Statement::Delete(d) => self.where_clause("DELETE", d.selection.as_ref()),
            Statement::Update(u) => self.where_clause("UPDATE", u.selection.as_ref()),
            _ => None,
        }
    }

    fn where_clause(&self, verb: &str, selection: Option<&Expr>) -> Option<Finding> {
        let hint = format!(
            "add a WHERE clause to the {verb} that selects the specific rows to change (for \
             example WHERE id = ...); statements that touch every row need a person's approval"
        );
        match selection {
            None => Some(destructive(
                &format!("{verb} without WHERE affects every row"),
                &hint,
            )),
            Some(e) if always_true(e) => Some(destructive(
                &format!("{verb} with an always-true WHERE ({e}) affects every row"),
                &hint,
            )),
            Some(_) => None,
        }
    }

    /// A row-returning query: bounded, or a finding saying why not.
    fn read(&self, q: &Query) -> Option<Finding> {
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
        match self.query_bound(q) {
            Ok(()) => None,
            Err(why) => Some(Finding {
                check: Check::UnboundedRead,
                detail: why,
                hint: format!(
                    "add LIMIT {} or fewer to the outermost query (limits inside subqueries or \
                     CTEs do not count), or aggregate (COUNT, SUM, ...) instead of listing rows",
                    self.max_rows
                ),
            }),
        }
    }
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
            .inspect(sql, true)
            .map(|f| f.check)
    }

    #[test]
    fn first_word_skips_comments_and_parens() {
        assert_eq!(
            first_word("  /* x */ -- y\n ((select 1").as_deref(),
            Some("SELECT")
        );
        assert_eq!(first_word("best pizza").as_deref(), Some("BEST"));
        assert_eq!(first_word("-- only a comment"), None);
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
    fn first_word_is_one_to_sixteen_letters() {
        assert_eq!(first_word(""), None);
        assert_eq!(first_word("  ( ; "), None);
        assert_eq!(first_word("42 rows"), None);
        assert_eq!(first_word("(1)"), None);
        assert_eq!(
            first_word("-- note\n# more\nupdate t").as_deref(),
            Some("UPDATE")
        );
        assert_eq!(
            first_word("character_length(x)").as_deref(),
            Some("CHARACTER_LENGTH")
        );
        assert_eq!(first_word("abcdefghijklmnopq rest"), None);
        assert_eq!(first_word("character_lengths(x)"), None);
    }

    #[test]
    fn negative_limit_is_called_negative() {
        for dialect in ["sqlite", "generic"] {
            let f = SqlGuard::new(dialect, 1000)
                .inspect("SELECT * FROM t LIMIT -1", true)
                .expect("LIMIT -1 is refused");
            assert_eq!(f.check, Check::UnboundedRead);
            assert_eq!(
                f.detail, "LIMIT -1 is negative, which means no limit in SQLite",
                "{dialect}"
            );
        }
    }
}
