//! What each kind of statement is, on an allow-list: the statement kinds and forms proven
//! harmless (bounded reads, inserts of values, creating tables, indexes and views, adding
//! columns, targeted updates and deletes, plans that do not execute, catalog introspection,
//! transaction control) pass; destructive forms are named as such whatever keyword they start
//! with (DROP, TRUNCATE, writes without a real WHERE, upserts and MERGEs that rewrite every
//! row, `CREATE OR REPLACE TABLE`, `ALTER TABLE ... DROP`, programs run by COPY); exports are
//! named; everything else is `unrecognised`.

use super::{destructive, export, unrecognised, Check, Finding, SqlGuard};
use sqlparser::ast::{
    visit_statements, AlterTableOperation, CopyTarget, Expr, Insert, MergeAction, OnConflictAction,
    OnInsert, SelectItem, SetExpr, SqliteOnConflict, Statement, TableFactor,
};
use std::ops::ControlFlow;

impl SqlGuard {
    /// Every finding of one parsed statement, with the statements nested in it (a DELETE
    /// inside a CTE, the statement of a PREPARE).
    pub(super) fn statement(&self, stmt: &Statement, out: &mut Vec<Finding>) {
        if let Some(f) = super::bounds::dangerous_function(stmt) {
            out.push(f);
        }
        if let Some(f) = super::bounds::credential_relation(stmt) {
            out.push(f);
        }
        if let Statement::Explain {
            analyze,
            statement,
            options,
            ..
        } = stmt
        {
            if !analyze && !analyze_option(options.as_deref()) {
                // A plan only: nothing runs.
                return;
            }
            // EXPLAIN ANALYZE runs the statement: judge it, but a read returns its plan, not
            // its rows.
            let mut inner = Vec::new();
            self.statement(statement, &mut inner);
            out.extend(inner.into_iter().filter(|f| {
                !(f.check == Check::UnboundedRead && matches!(**statement, Statement::Query(_)))
            }));
            return;
        }
        let _ = visit_statements(stmt, |s| {
            if let Some(f) = self.single(s) {
                out.push(f);
            }
            ControlFlow::<()>::Continue(())
        });
    }

    fn single(&self, stmt: &Statement) -> Option<Finding> {
        match stmt {
            Statement::Query(q) => self.read(q),
            Statement::Insert(i) => self.insert(i),
            Statement::Update(u) => self
                .where_clause("UPDATE", u.selection.as_ref(), &target_of(&u.table.relation))
                .or_else(|| self.returning(u.returning.as_deref(), u.limit.as_ref())),
            Statement::Delete(d) => {
                let targets = delete_targets(d);
                self.where_clause("DELETE", d.selection.as_ref(), &targets)
                    .or_else(|| self.returning(d.returning.as_deref(), d.limit.as_ref()))
            }
            Statement::Merge(m) => self.merge(m),
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
            Statement::CreateTable(t) if t.or_replace => Some(destructive(
                "CREATE OR REPLACE TABLE drops the existing table and its rows",
                "create the table under a new name, or ask a person to replace it",
            )),
            Statement::AlterTable(a) => alter_table(&a.operations),
            Statement::Copy { to: true, .. } => {
                Some(export("COPY ... TO copies data out of the database"))
            }
            Statement::Copy {
                target: CopyTarget::Program { .. },
                ..
            } => Some(destructive(
                "COPY ... FROM PROGRAM runs a shell command on the database server",
                "COPY with PROGRAM is not allowed through this gateway; insert the rows with \
                 INSERT",
            )),
            // Rows sent by the client itself.
            Statement::Copy {
                target: CopyTarget::Stdin,
                ..
            } => None,
            Statement::Unload { .. } => Some(export("UNLOAD copies data out of the database")),
            Statement::ExportData(_) => Some(export("EXPORT DATA copies data out of the database")),
            Statement::AttachDatabase { .. } | Statement::AttachDuckDBDatabase { .. } => Some(
                export("ATTACH DATABASE opens another database file, a way to copy data out"),
            ),
            Statement::Pragma { name, .. } => pragma(&name.to_string()),
            // Proven harmless: creating things, describing the schema, transactions, plans.
            Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::CreateView(_)
            | Statement::CreateSchema { .. }
            | Statement::CreateSequence { .. }
            | Statement::Comment { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowCollation { .. }
            | Statement::ShowCharset(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Analyze(_)
            | Statement::Prepare { .. }
            // Control flow: the statements inside are judged on their own.
            | Statement::If(_)
            | Statement::While(_)
            | Statement::Case(_) => None,
            other => Some(unrecognised(statement_kind(other))),
        }
    }

    fn insert(&self, i: &Insert) -> Option<Finding> {
        let replaces = i.replace_into
            || matches!(i.or, Some(SqliteOnConflict::Replace))
            || matches!(&i.on, Some(OnInsert::DuplicateKeyUpdate(_)))
            || matches!(
                &i.on,
                Some(OnInsert::OnConflict(c)) if matches!(c.action, OnConflictAction::DoUpdate(_))
            );
        let source_bounded = i
            .source
            .as_deref()
            .is_none_or(|q| matches!(*q.body, SetExpr::Values(_)) || self.query_bound(q).is_ok());
        if replaces && !source_bounded {
            return Some(destructive(
                "an INSERT ... SELECT that replaces or updates rows on conflict (ON CONFLICT DO \
                 UPDATE, ON DUPLICATE KEY UPDATE, OR REPLACE, REPLACE INTO) can rewrite every \
                 row of the table",
                "insert explicit VALUES, or bound the SELECT with a LIMIT; rewriting a whole \
                 table needs a person's approval",
            ));
        }
        if i.returning.is_some() && !source_bounded {
            return Some(self.unbounded(
                "INSERT ... SELECT ... RETURNING returns a row for every row it inserts".into(),
            ));
        }
        None
    }

    fn returning(&self, items: Option<&[SelectItem]>, limit: Option<&Expr>) -> Option<Finding> {
        items?;
        if let Some(n) = limit {
            if self.count("LIMIT", n).is_ok() {
                return None;
            }
        }
        Some(
            self.unbounded(
                "RETURNING returns a row for every row the statement changes, so it reads like a \
             SELECT without LIMIT"
                    .into(),
            ),
        )
    }

    fn merge(&self, m: &sqlparser::ast::Merge) -> Option<Finding> {
        let deletes = m
            .clauses
            .iter()
            .any(|c| matches!(c.action, MergeAction::Delete { .. }));
        let updates = m
            .clauses
            .iter()
            .any(|c| matches!(c.action, MergeAction::Update(_)));
        let bounded_source = match &m.source {
            TableFactor::Derived { subquery, .. } => self.query_bound(subquery).is_ok(),
            _ => false,
        };
        let on_filters = super::fold::filters_rows(&m.on, &target_of(&m.table));
        if deletes || (updates && (!bounded_source || !on_filters)) {
            return Some(destructive(
                "MERGE with WHEN MATCHED THEN DELETE/UPDATE can delete or rewrite every row the \
                 source matches",
                "use targeted UPDATE or DELETE statements with a WHERE clause; a MERGE that \
                 rewrites a table needs a person's approval",
            ));
        }
        None
    }
}

/// `EXPLAIN (ANALYZE)`, `EXPLAIN (ANALYZE true, ...)`: the options say it executes.
fn analyze_option(options: Option<&[sqlparser::ast::UtilityOption]>) -> bool {
    options.unwrap_or(&[]).iter().any(|o| {
        let name = o.name.value.to_ascii_lowercase();
        (name == "analyze" || name == "analyse")
            && o.arg.as_ref().is_none_or(|a| {
                !matches!(
                    a.to_string().to_ascii_lowercase().as_str(),
                    "false" | "off" | "0" | "'false'" | "'off'"
                )
            })
    })
}

fn alter_table(ops: &[AlterTableOperation]) -> Option<Finding> {
    for op in ops {
        match op {
            AlterTableOperation::AddColumn { .. } | AlterTableOperation::AddConstraint { .. } => {}
            AlterTableOperation::DropColumn { .. }
            | AlterTableOperation::DropConstraint { .. }
            | AlterTableOperation::DropPrimaryKey { .. }
            | AlterTableOperation::DropForeignKey { .. }
            | AlterTableOperation::DropIndex { .. }
            | AlterTableOperation::DropPartitions { .. }
            | AlterTableOperation::DropProjection { .. } => {
                return Some(destructive(
                    "ALTER TABLE ... DROP removes a column, constraint or partition and its data",
                    "dropping part of a table needs a person's approval",
                ))
            }
            other => {
                return Some(unrecognised(&format!(
                    "ALTER TABLE ... {}",
                    other
                        .to_string()
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ")
                )))
            }
        }
    }
    None
}

/// Whether `text` is exactly `PRAGMA [schema.]name[(argument)]` for a read-only pragma, an
/// argument being a name, a number or a string: SQLite's form `PRAGMA table_info(users)`,
/// which sqlparser does not parse, read token by token.
pub(super) fn plain_pragma(dialect: &dyn sqlparser::dialect::Dialect, text: &str) -> bool {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(dialect, text).tokenize() else {
        return false;
    };
    let t: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let word = |i: usize| match t.get(i) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_lowercase()),
        _ => None,
    };
    if word(0).as_deref() != Some("pragma") {
        return false;
    }
    let mut i = 1;
    let mut name = word(i);
    if matches!(t.get(i + 1), Some(Token::Period)) {
        i += 2;
        name = word(i);
    }
    let Some(name) = name else {
        return false;
    };
    if !READ_ONLY.contains(&name.as_str()) {
        return false;
    }
    let rest = &t[i + 1..];
    matches!(
        rest,
        [] | [
            Token::LParen,
            Token::Word(_) | Token::Number(..) | Token::SingleQuotedString(_),
            Token::RParen
        ]
    )
}

/// Read-only pragmas that describe the schema; any other pragma, or any assignment, is not
/// proven harmless (`PRAGMA writable_schema = 1`).
fn pragma(name: &str) -> Option<Finding> {
    if READ_ONLY.contains(
        &name
            .rsplit('.')
            .next()
            .unwrap_or(name)
            .to_ascii_lowercase()
            .as_str(),
    ) {
        return None;
    }
    Some(unrecognised(&format!("PRAGMA {name}")))
}

const READ_ONLY: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "database_list",
];

/// The names a write's WHERE may refer to its target by: the table's name and its alias.
pub(super) fn target_of(t: &TableFactor) -> Vec<String> {
    match t {
        TableFactor::Table { name, alias, .. } => {
            let mut v = vec![super::bounds::last_name(name)];
            if let Some(a) = alias {
                v.push(a.name.value.to_ascii_lowercase());
            }
            v
        }
        _ => Vec::new(),
    }
}

fn delete_targets(d: &sqlparser::ast::Delete) -> Vec<String> {
    let from = match &d.from {
        sqlparser::ast::FromTable::WithFromKeyword(t)
        | sqlparser::ast::FromTable::WithoutKeyword(t) => t,
    };
    let mut v: Vec<String> = from.iter().flat_map(|t| target_of(&t.relation)).collect();
    v.extend(d.tables.iter().map(super::bounds::last_name));
    v
}

/// The first words of a statement, for the message about an unrecognised one.
fn statement_kind(s: &Statement) -> &str {
    match s {
        Statement::Execute { .. } => "EXECUTE (runs SQL that cannot be checked)",
        Statement::CreateFunction(_) | Statement::CreateProcedure { .. } => {
            "CREATE FUNCTION/PROCEDURE (a body of SQL that runs later and cannot be checked)"
        }
        Statement::CreateTrigger(_) => {
            "CREATE TRIGGER (statements that run later on every matching change)"
        }
        Statement::Call(_) => "CALL (runs a procedure whose statements cannot be checked)",
        Statement::Set(_) => "SET (changes session settings)",
        Statement::Grant { .. } | Statement::Revoke { .. } | Statement::Deny(_) => {
            "GRANT/REVOKE (changes privileges)"
        }
        Statement::Copy { .. } => "COPY ... FROM (loads server-side data)",
        Statement::Vacuum(_) => "VACUUM",
        _ => "this kind of statement",
    }
}
