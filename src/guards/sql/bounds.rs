//! Whether a read is bounded: the LIMIT, FETCH and TOP clauses and their values against
//! `max_rows`, bodies bounded by nature (known aggregates without GROUP BY, VALUES, set
//! operations of bounded parts, reads of the catalog only), and what no LIMIT bounds: the
//! row-concatenating aggregates, recursive CTEs and functions the guard does not know.

use super::functions::{
    CATALOG, CREDENTIALS, OUTSIDE_FUNCTIONS, QUALIFIED_CATALOG, SCALAR_AGGREGATES, SCALAR_FUNCTIONS,
};
use super::{export, Finding, SqlGuard, ROW_CONCAT_AGGREGATES};
use sqlparser::ast::{
    visit_expressions, visit_relations, Expr, Fetch, FunctionArguments, GroupByExpr, LimitClause,
    ObjectName, Query, Select, SelectItem, SetExpr, Statement, Top, TopQuantity, UnaryOperator,
    Value,
};
use std::ops::ControlFlow;

impl SqlGuard {
    /// Ok when the query's own LIMIT/FETCH bounds it or its body is bounded by nature.
    pub(super) fn query_bound(&self, q: &Query) -> Result<(), String> {
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
    pub(super) fn count(&self, clause: &str, e: &Expr) -> Result<(), String> {
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
            } => {
                self.body_bound(left)
                    .and_then(|()| self.body_bound(right))
                    .map_err(|why| {
                        format!("{op} without an outer LIMIT has an unbounded branch: {why}")
                    })?;
                let n = self.rows_upper(body);
                if n > self.max_rows {
                    return Err(format!(
                        "{op} of bounded parts can return up to {n} rows, over the maximum of {}",
                        self.max_rows
                    ));
                }
                Ok(())
            }
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

    /// The most rows a bounded body can return (`u64::MAX` when it is not known).
    fn rows_upper(&self, body: &SetExpr) -> u64 {
        let literal = |e: &Expr| match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse::<u64>().ok(),
                _ => None,
            },
            _ => None,
        };
        match body {
            SetExpr::Select(s) => {
                if let Some(Top {
                    quantity: Some(TopQuantity::Constant(n)),
                    percent: false,
                    with_ties: false,
                    ..
                }) = &s.top
                {
                    return *n;
                }
                let no_group_by = matches!(&s.group_by,
                    GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
                if s.from.is_empty() || (no_group_by && one_row_projection(&s.projection)) {
                    1
                } else {
                    u64::MAX
                }
            }
            SetExpr::Query(q) => {
                let limit = match &q.limit_clause {
                    Some(LimitClause::LimitOffset {
                        limit: Some(n),
                        limit_by,
                        ..
                    }) if limit_by.is_empty() => literal(n),
                    Some(LimitClause::OffsetCommaLimit { limit, .. }) => literal(limit),
                    _ => None,
                };
                limit.unwrap_or(u64::MAX).min(self.rows_upper(&q.body))
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.rows_upper(left).saturating_add(self.rows_upper(right))
            }
            SetExpr::Values(v) => v.rows.len() as u64,
            _ => u64::MAX,
        }
    }

    fn select_bound(&self, s: &Select) -> Result<(), String> {
        if let Some(top) = &s.top {
            if self.top_bound(top).is_ok() {
                return Ok(());
            }
        }
        if s.from.is_empty() {
            // One row (the functions in it are known scalar ones: see `unknown_function`).
            return Ok(());
        }
        let no_group_by = match &s.group_by {
            GroupByExpr::Expressions(e, m) => e.is_empty() && m.is_empty(),
            GroupByExpr::All(_) => false,
        };
        if no_group_by && one_row_projection(&s.projection) {
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

fn function_name(name: &ObjectName) -> String {
    last_name(name)
}

/// The last part of a name, unquoted and in lower case.
pub(super) fn last_name(name: &ObjectName) -> String {
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
pub(super) fn row_concat_aggregate(q: &Query) -> Option<String> {
    first_function(q, |name| ROW_CONCAT_AGGREGATES.contains(&name))
}

/// The first function in the query that is neither a known scalar function nor a known
/// scalar aggregate (nor a row-concatenating one, which is judged on its own).
pub(super) fn unknown_function(q: &Query) -> Option<String> {
    first_function(q, |name| {
        !(SCALAR_FUNCTIONS.contains(&name)
            || SCALAR_AGGREGATES.contains(&name)
            || ROW_CONCAT_AGGREGATES.contains(&name)
            || OUTSIDE_FUNCTIONS.contains(&name))
    })
}

fn first_function<V: sqlparser::ast::Visit>(v: &V, hit: impl Fn(&str) -> bool) -> Option<String> {
    let mut found = None;
    let _ = visit_expressions(v, |e| {
        if let Expr::Function(f) = e {
            let name = function_name(&f.name);
            if hit(&name) {
                found = Some(name);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// A function anywhere in the statement that reads or writes files, runs programs or reaches
/// another server.
pub(super) fn dangerous_function(s: &Statement) -> Option<Finding> {
    let name = first_function(s, |name| OUTSIDE_FUNCTIONS.contains(&name))?;
    Some(export(&format!(
        "{name}() reaches outside the database (files, programs, other servers or sessions)"
    )))
}

/// A relation holding credentials the statement reads (`pg_authid`, `mysql.user`).
pub(super) fn credential_relation(s: &Statement) -> Option<Finding> {
    let mut found = None;
    let _ = visit_relations(s, |name| {
        let bare = last_name(name);
        let schema = name.0.len().checked_sub(2).map(|i| {
            name.0[i]
                .to_string()
                .trim_matches(['"', '`', '[', ']'])
                .to_ascii_lowercase()
        });
        // `user` is a credential table only as `mysql.user`; `sql_logins` only as `sys.`.
        let hit = match bare.as_str() {
            "user" => schema.as_deref() == Some("mysql"),
            "sql_logins" => schema.as_deref() == Some("sys"),
            b => CREDENTIALS.contains(&b),
        };
        if hit {
            found = Some(bare);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found.map(|name| {
        export(&format!(
            "{name} holds the database's credentials (password hashes, user mappings)"
        ))
    })
}

/// Whether every relation the query reads is a catalog relation (the schema, no user data).
pub(super) fn catalog_only(q: &Query) -> bool {
    let mut any = false;
    let all = visit_relations(q, |name| {
        any = true;
        if is_catalog(name) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    })
    .is_continue();
    any && all
}

fn is_catalog(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.to_string()
                .trim_matches(['"', '`', '[', ']'])
                .to_ascii_lowercase()
        })
        .collect();
    let Some((bare, schema)) = parts.split_last() else {
        return false;
    };
    let schema = schema.last().map(String::as_str);
    if matches!(schema, None | Some("pg_catalog" | "main" | "temp"))
        && CATALOG.contains(&bare.as_str())
    {
        return true;
    }
    QUALIFIED_CATALOG
        .iter()
        .any(|(s, names)| schema == Some(*s) && names.contains(&bare.as_str()))
}

/// The name of a CTE that refers to itself (recursive, with or without the RECURSIVE
/// keyword: SQLite and SQL Server need none).
pub(super) fn recursive_cte(q: &Query) -> Option<String> {
    let mut stack = vec![q];
    while let Some(q) = stack.pop() {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_ascii_lowercase();
                let refers = visit_relations(&*cte.query, |r| {
                    if last_name(r) == name {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .is_break();
                if refers {
                    return Some(cte.alias.name.value.clone());
                }
                stack.push(&cte.query);
            }
        }
    }
    None
}

/// A projection that makes one row of a SELECT without GROUP BY: known aggregates and
/// constants (`COUNT(*) AS n, 1 AS one`), with at least one aggregate.
fn one_row_projection(items: &[SelectItem]) -> bool {
    let mut any = false;
    for item in items {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                match aggregate_only(e) {
                    Some(a) => any |= a,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
    any
}

/// `Some(true)`: built from aggregates and constants with at least one aggregate;
/// `Some(false)`: constants only; `None`: refers to a row outside an aggregate, or is something
/// this check does not understand (which counts as not aggregate-only).
fn aggregate_only(e: &Expr) -> Option<bool> {
    match e {
        Expr::Value(_) | Expr::TypedString { .. } => Some(false),
        // A scalar subquery is one value.
        Expr::Subquery(_) => Some(false),
        Expr::Nested(e)
        | Expr::UnaryOp { expr: e, .. }
        | Expr::Cast { expr: e, .. }
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e) => aggregate_only(e),
        Expr::BinaryOp { left, right, .. } => Some(aggregate_only(left)? | aggregate_only(right)?),
        Expr::Between {
            expr, low, high, ..
        } => Some(aggregate_only(expr)? | aggregate_only(low)? | aggregate_only(high)?),
        Expr::InList { expr, list, .. } => {
            let mut any = aggregate_only(expr)?;
            for item in list {
                any |= aggregate_only(item)?;
            }
            Some(any)
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let mut any = match operand {
                Some(o) => aggregate_only(o)?,
                None => false,
            };
            for w in conditions {
                any |= aggregate_only(&w.condition)? | aggregate_only(&w.result)?;
            }
            if let Some(e) = else_result {
                any |= aggregate_only(e)?;
            }
            Some(any)
        }
        Expr::Function(f) => {
            if f.over.is_some() {
                return None;
            }
            let name = function_name(&f.name);
            if SCALAR_AGGREGATES.contains(&name.as_str()) {
                return Some(true);
            }
            if !SCALAR_FUNCTIONS.contains(&name.as_str()) {
                return None;
            }
            // A scalar function of aggregates, e.g. round(avg(x), 2).
            let FunctionArguments::List(list) = &f.args else {
                return match &f.args {
                    FunctionArguments::None => Some(false),
                    _ => None,
                };
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
