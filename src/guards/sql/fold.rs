//! Constant folding of WHERE clauses: whether a condition is true for every row
//! (`WHERE 1=1`, `WHERE 'a' = 'a' OR x`), with SQL's three-valued logic, so a destructive
//! statement with such a clause counts as unfiltered.

use sqlparser::ast::{visit_expressions, BinaryOperator, Expr, UnaryOperator, Value};
use std::ops::ControlFlow;

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
