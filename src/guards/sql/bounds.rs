//! Whether a read is bounded: the LIMIT, FETCH and TOP clauses and their values against
//! `max_rows`, bodies bounded by nature (aggregates without GROUP BY, VALUES, set operations of
//! bounded parts), and the row-concatenating aggregates that defeat a LIMIT.

use super::{SqlGuard, ROW_CONCAT_AGGREGATES, SCALAR_AGGREGATES};
use sqlparser::ast::{
    visit_expressions, Expr, Fetch, FunctionArguments, GroupByExpr, LimitClause, ObjectName, Query,
    Select, SelectItem, SetExpr, Top, TopQuantity, UnaryOperator, Value,
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
pub(super) fn row_concat_aggregate(q: &Query) -> Option<String> {
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
