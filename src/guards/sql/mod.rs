//! The SQL exfiltration guard: decides, from sqlparser's AST and never from substrings, whether
//! one string of SQL reads an unbounded number of rows, exports data out of the database, or
//! destroys data. This module owns the meaning of "bounded" (see README's rules), the list of
//! row-concatenating aggregates, constant-true `WHERE` detection, and the cheap pre-filter that
//! keeps natural-language strings away from the parser. It returns findings; the policy decides
//! what they mean for a message.

use sqlparser::ast::{
    visit_expressions, visit_statements, BinaryOperator, Expr, Fetch, FunctionArguments,
    GroupByExpr, LimitClause, ObjectName, Query, Select, SelectItem, SetExpr, Statement, Top,
    TopQuantity, UnaryOperator, Value,
};
use sqlparser::dialect::{dialect_from_str, Dialect};
use sqlparser::keywords::ALL_KEYWORDS;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};
use std::ops::ControlFlow;

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

    /// Ok when the query's own LIMIT/FETCH bounds it or its body is bounded by nature.
    fn query_bound(&self, q: &Query) -> Result<(), String> {
        match self.clause_bound(q) {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => match self.body_bound(&q.body) {
                Ok(()) => Ok(()),
                Err(_) => Err(why),
            },
            None => self.body_bound(&q.body),
        }
    }

    /// `Some(Ok)` when LIMIT/FETCH bound the query, `Some(Err)` when one is present but does not
    /// bound it, `None` when there is neither.
    fn clause_bound(&self, q: &Query) -> Option<Result<(), String>> {
        let mut verdict = None;
        if let Some(limit) = &q.limit_clause {
            verdict = Some(match limit {
                LimitClause::LimitOffset {
                    limit: Some(n),
                    limit_by,
                    ..
                } if limit_by.is_empty() => self.count("LIMIT", n),
                LimitClause::LimitOffset { limit: Some(_), .. } => {
                    Err("LIMIT ... BY limits rows per group, not in total".into())
                }
                LimitClause::LimitOffset { limit: None, .. } => {
                    Err("LIMIT ALL / OFFSET without LIMIT does not bound the rows".into())
                }
                LimitClause::OffsetCommaLimit { limit, .. } => self.count("LIMIT", limit),
            });
        }
        if let Some(fetch) = &q.fetch {
            let f = self.fetch_bound(fetch);
            if f.is_ok() || verdict.is_none() {
                verdict = Some(f);
            }
        }
        verdict
    }

    fn fetch_bound(&self, fetch: &Fetch) -> Result<(), String> {
        if fetch.percent {
            return Err("FETCH ... PERCENT is a share of the table, not a row count".into());
        }
        if fetch.with_ties {
            return Err("FETCH ... WITH TIES can return more rows than its count".into());
        }
        match &fetch.quantity {
            None => Ok(()),
            Some(n) => self.count("FETCH FIRST", n),
        }
    }

    fn top_bound(&self, top: &Top) -> Result<(), String> {
        if top.percent {
            return Err("TOP ... PERCENT is a share of the table, not a row count".into());
        }
        if top.with_ties {
            return Err("TOP ... WITH TIES can return more rows than its count".into());
        }
        match &top.quantity {
            Some(TopQuantity::Constant(n)) => self.within(*n, "TOP"),
            Some(TopQuantity::Expr(e)) => self.count("TOP", e),
            None => Err("TOP without a count".into()),
        }
    }

    /// A row count written as a literal integer within `max_rows`.
    fn count(&self, clause: &str, e: &Expr) -> Result<(), String> {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => match n.parse::<u64>() {
                    Ok(n) => self.within(n, clause),
                    Err(_) => Err(format!("{clause} {n} is not a whole row count")),
                },
                Value::Placeholder(p) => Err(format!(
                    "{clause} {p} is a placeholder; its value cannot be checked"
                )),
                other => Err(format!("{clause} {other} is not a row count")),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                ..
            } => Err(format!(
                "{clause} {e} is negative, which means no limit in SQLite"
            )),
            _ => Err(format!(
                "{clause} {e} is an expression; only a literal row count can be checked"
            )),
        }
    }

    fn within(&self, n: u64, clause: &str) -> Result<(), String> {
        if n <= self.max_rows {
            Ok(())
        } else {
            Err(format!(
                "{clause} {n} exceeds the maximum of {} rows",
                self.max_rows
            ))
        }
    }

    fn body_bound(&self, body: &SetExpr) -> Result<(), String> {
        match body {
            SetExpr::Select(s) => self.select_bound(s),
            SetExpr::Query(q) => self.query_bound(q),
            SetExpr::SetOperation {
                op, left, right, ..
            } => self
                .body_bound(left)
                .and_then(|()| self.body_bound(right))
                .map_err(|why| {
                    format!("{op} without an outer LIMIT has an unbounded branch: {why}")
                }),
            SetExpr::Values(_) => Ok(()),
            SetExpr::Table(t) => Err(format!(
                "TABLE {} returns every row",
                t.table_name.as_deref().unwrap_or("")
            )),
            // Data-changing statements are judged by the destructive check.
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                Ok(())
            }
        }
    }

    fn select_bound(&self, s: &Select) -> Result<(), String> {
        if let Some(top) = &s.top {
            if self.top_bound(top).is_ok() {
                return Ok(());
            }
        }
        if s.from.is_empty() {
            return Ok(());
        }
        let no_group_by = match &s.group_by {
            GroupByExpr::Expressions(e, m) => e.is_empty() && m.is_empty(),
            GroupByExpr::All(_) => false,
        };
        if no_group_by && !s.projection.is_empty() && s.projection.iter().all(aggregate_item) {
            return Ok(());
        }
        if let Some(top) = &s.top {
            self.top_bound(top)?;
        }
        Err(if no_group_by {
            "SELECT without LIMIT returns every matching row".into()
        } else {
            "SELECT ... GROUP BY without LIMIT returns a row per group".into()
        })
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

/// Longest first word looked up among sqlparser's keywords (longer words are never SQL).
const MAX_WORD: usize = 16;

/// A word of at most [`MAX_WORD`] ASCII letters and underscores, upper-cased, kept inline: the
/// pre-filter runs on every string of every call and allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Word {
    bytes: [u8; MAX_WORD],
    len: u8,
}

impl Word {
    fn new(word: &[u8]) -> Word {
        let mut bytes = [0u8; MAX_WORD];
        for (b, c) in bytes.iter_mut().zip(word) {
            *b = c.to_ascii_uppercase();
        }
        Word {
            bytes,
            len: word.len() as u8,
        }
    }

    /// The word as one number (big-endian bytes, zero-padded): one comparison per keyword.
    fn packed(&self) -> u128 {
        u128::from_be_bytes(self.bytes)
    }
}

impl std::ops::Deref for Word {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII letters and underscores are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// Whether `word` is one of sqlparser's keywords (every statement it parses starts with one).
fn is_keyword(word: &Word) -> bool {
    static KEYWORDS: std::sync::OnceLock<Vec<u128>> = std::sync::OnceLock::new();
    let packed = KEYWORDS.get_or_init(|| {
        let mut v: Vec<u128> = ALL_KEYWORDS
            .iter()
            .filter(|k| k.len() <= MAX_WORD)
            .map(|k| Word::new(k.as_bytes()).packed())
            .collect();
        v.sort_unstable();
        v
    });
    packed.binary_search(&word.packed()).is_ok()
}

/// The first word of `text` in upper case, skipping whitespace, SQL comments, opening
/// parentheses and empty statements (`;`); `None` if it does not start with a word (of at most
/// 16 letters).
pub fn first_word(text: &str) -> Option<Word> {
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'(' || b[i] == b';') {
            i += 1;
        }
        if b[i..].starts_with(b"--") || b[i..].starts_with(b"#") {
            match b[i..].iter().position(|&c| c == b'\n') {
                Some(n) => i += n + 1,
                None => return None,
            }
        } else if b[i..].starts_with(b"/*") {
            match text[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => return None,
            }
        } else {
            break;
        }
    }
    let end = b[i..]
        .iter()
        .position(|c| !(c.is_ascii_alphabetic() || *c == b'_'))
        .map_or(b.len(), |n| i + n);
    (end > i && end - i <= MAX_WORD).then(|| Word::new(&b[i..end]))
}

/// `text` with MySQL's executable comments (`/*! ... */`, `/*!50000 ... */`) opened up, when it
/// has any: MySQL executes their contents as SQL.
fn mysql_unhide(text: &str) -> Option<String> {
    if crate::base::bytes::find_byte(b'!', text.as_bytes()).is_none() || !text.contains("/*!") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*!") {
        out.push_str(&rest[..start]);
        let body = rest[start + 3..].trim_start_matches(|c: char| c.is_ascii_digit());
        match body.find("*/") {
            Some(end) => {
                out.push(' ');
                out.push_str(&body[..end]);
                out.push(' ');
                rest = &body[end + 2..];
            }
            None => {
                out.push_str(body);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// `SELECT ... INTO OUTFILE|DUMPFILE`, which sqlparser does not parse, found by tokens (so the
/// words inside string literals and comments do not count); also SQLite's `VACUUM ... INTO
/// 'file'`, which copies the whole database to a file.
fn exports_into_file(dialect: &dyn Dialect, text: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(dialect, text).tokenize() else {
        return false;
    };
    let mut words = tokens.iter().filter_map(|t| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        Token::Whitespace(_) => None,
        _ => Some(String::new()),
    });
    let mut prev_into = false;
    let mut vacuum = false;
    for (i, w) in words.by_ref().enumerate() {
        if prev_into && (w == "OUTFILE" || w == "DUMPFILE") {
            return true;
        }
        vacuum |= i == 0 && w == "VACUUM";
        if vacuum && w == "INTO" {
            return true;
        }
        prev_into = w == "INTO";
    }
    false
}

fn function_name(name: &ObjectName) -> String {
    name.0
        .last()
        .map(|p| {
            p.to_string()
                .trim_matches(['"', '`', '[', ']'])
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The first row-concatenating aggregate anywhere in the query (output, subqueries, CTEs).
fn row_concat_aggregate(q: &Query) -> Option<String> {
    let mut found = None;
    let _ = visit_expressions(q, |e| {
        if let Expr::Function(f) = e {
            let name = function_name(&f.name);
            if ROW_CONCAT_AGGREGATES.contains(&name.as_str()) {
                found = Some(name);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

fn aggregate_item(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            aggregate_only(e) == Some(true)
        }
        _ => false,
    }
}

/// `Some(true)`: built from aggregates and constants with at least one aggregate;
/// `Some(false)`: constants only; `None`: refers to a row outside an aggregate, or is something
/// this check does not understand (which counts as not aggregate-only).
fn aggregate_only(e: &Expr) -> Option<bool> {
    match e {
        Expr::Value(_) => Some(false),
        Expr::Nested(e) | Expr::UnaryOp { expr: e, .. } | Expr::Cast { expr: e, .. } => {
            aggregate_only(e)
        }
        Expr::BinaryOp { left, right, .. } => Some(aggregate_only(left)? | aggregate_only(right)?),
        Expr::Function(f) => {
            if f.over.is_some() {
                return None;
            }
            let name = function_name(&f.name);
            if SCALAR_AGGREGATES.contains(&name.as_str()) {
                return Some(true);
            }
            // A scalar function of aggregates, e.g. round(avg(x), 2).
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let mut any = false;
            for arg in &list.args {
                let expr = match arg {
                    sqlparser::ast::FunctionArg::Unnamed(a)
                    | sqlparser::ast::FunctionArg::Named { arg: a, .. }
                    | sqlparser::ast::FunctionArg::ExprNamed { arg: a, .. } => a,
                };
                match expr {
                    sqlparser::ast::FunctionArgExpr::Expr(e) => any |= aggregate_only(e)?,
                    _ => return None,
                }
            }
            Some(any)
        }
        _ => None,
    }
}

/// A literal value during constant folding of a WHERE clause.
#[derive(Debug, Clone, PartialEq)]
enum Const {
    Bool(bool),
    Num(f64),
    Str(String),
    Null,
}

impl Const {
    fn truthy(&self) -> Option<bool> {
        match self {
            Const::Bool(b) => Some(*b),
            Const::Num(n) => Some(*n != 0.0),
            Const::Str(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .map(|n| n != 0.0)
                .or(Some(false)),
            Const::Null => None,
        }
    }
}

/// Whether a WHERE condition is true for every row: it folds to a true constant (`1=1`, `TRUE`,
/// `'a'='a'`, `x = 1 OR 1=1`), or compares an expression with itself (`id = id`).
pub fn always_true(e: &Expr) -> bool {
    truth(e) == Some(true)
}

fn truth(e: &Expr) -> Option<bool> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => match (truth(left), truth(right)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => match (truth(left), truth(right)) {
            (Some(true), Some(true)) => Some(true),
            (Some(false), _) | (_, Some(false)) => Some(false),
            _ => None,
        },
        Expr::BinaryOp { left, op, right }
            if unnest(left) == unnest(right)
                && matches!(
                    op,
                    BinaryOperator::Eq | BinaryOperator::LtEq | BinaryOperator::GtEq
                )
                && !contains_function(left) =>
        {
            Some(true)
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => truth(expr).map(|b| !b),
        Expr::Nested(inner) => truth(inner),
        _ => fold(e)?.truthy(),
    }
}

fn unnest(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

fn contains_function(e: &Expr) -> bool {
    visit_expressions(e, |x| {
        if matches!(x, Expr::Function(_) | Expr::Subquery(_)) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// Folds an expression made of literals to its value.
fn fold(e: &Expr) -> Option<Const> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok().map(Const::Num),
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s) => Some(Const::Str(s.clone())),
            Value::Boolean(b) => Some(Const::Bool(*b)),
            Value::Null => Some(Const::Null),
            _ => None,
        },
        Expr::Identifier(id) if id.quote_style.is_none() => {
            match id.value.to_ascii_uppercase().as_str() {
                "TRUE" => Some(Const::Bool(true)),
                "FALSE" => Some(Const::Bool(false)),
                _ => None,
            }
        }
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => fold(e),
        Expr::UnaryOp { op, expr } => {
            let v = fold(expr)?;
            match (op, v) {
                (UnaryOperator::Not, v) => v.truthy().map(|b| Const::Bool(!b)),
                (UnaryOperator::Minus, Const::Num(n)) => Some(Const::Num(-n)),
                (UnaryOperator::Plus, Const::Num(n)) => Some(Const::Num(n)),
                _ => None,
            }
        }
        Expr::IsNull(e) => Some(Const::Bool(fold(e)? == Const::Null)),
        Expr::IsNotNull(e) => Some(Const::Bool(fold(e)? != Const::Null)),
        Expr::IsTrue(e) => Some(Const::Bool(truth(e)?)),
        Expr::IsNotFalse(e) => Some(Const::Bool(truth(e) != Some(false))),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let (v, lo, hi) = (fold(expr)?, fold(low)?, fold(high)?);
            let inside = compare(&lo, &v)? <= 0 && compare(&v, &hi)? <= 0;
            Some(Const::Bool(inside != *negated))
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = fold(expr)?;
            let mut hit = false;
            for item in list {
                hit |= compare(&v, &fold(item)?)? == 0;
            }
            Some(Const::Bool(hit != *negated))
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => {
            let (Const::Str(_), Const::Str(p)) = (fold(expr)?, fold(pattern)?) else {
                return None;
            };
            // Only the match-everything pattern is folded.
            (p.chars().all(|c| c == '%') && !p.is_empty()).then_some(Const::Bool(!*negated))
        }
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (fold(left)?, fold(right)?);
            let ord = || compare(&l, &r);
            let b = match op {
                BinaryOperator::Eq => ord()? == 0,
                BinaryOperator::NotEq => ord()? != 0,
                BinaryOperator::Lt => ord()? < 0,
                BinaryOperator::LtEq => ord()? <= 0,
                BinaryOperator::Gt => ord()? > 0,
                BinaryOperator::GtEq => ord()? >= 0,
                BinaryOperator::And => l.truthy()? && r.truthy()?,
                BinaryOperator::Or => l.truthy()? || r.truthy()?,
                BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply => {
                    let (Const::Num(a), Const::Num(b)) = (l, r) else {
                        return None;
                    };
                    return Some(Const::Num(match op {
                        BinaryOperator::Plus => a + b,
                        BinaryOperator::Minus => a - b,
                        _ => a * b,
                    }));
                }
                _ => return None,
            };
            Some(Const::Bool(b))
        }
        _ => None,
    }
}

/// Orders two constants of comparable kinds (numbers with numbers, strings with strings);
/// `None` when SQL would yield NULL or the comparison depends on the database's casting rules.
fn compare(a: &Const, b: &Const) -> Option<i8> {
    let ord = match (a, b) {
        (Const::Num(x), Const::Num(y)) => x.partial_cmp(y)?,
        (Const::Str(x), Const::Str(y)) => x.cmp(y),
        // Most databases coerce a numeric string to a number here ('1' = 1): assume they do,
        // so a tautology written that way is still caught.
        (Const::Num(x), Const::Str(s)) => x.partial_cmp(&s.trim().parse::<f64>().ok()?)?,
        (Const::Str(s), Const::Num(y)) => s.trim().parse::<f64>().ok()?.partial_cmp(y)?,
        (Const::Bool(x), Const::Bool(y)) => x.cmp(y),
        _ => return None,
    };
    Some(ord as i8)
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
