//! Whether a WHERE clause is real: it names a column of the statement's target and, evaluated
//! with SQL's three-valued logic over unknown column values, can be false for some row.
//! Constants are folded (`2/2`, `'' LIKE ''`, `1 IN (1, id)`), identical expressions compared
//! (`id = "id"`), so a destructive statement with a clause that cannot filter counts as
//! unfiltered.

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

/// Possible truth values of a condition, as a set: true, false, unknown (NULL).
const T: u8 = 1;
const F: u8 = 2;
const N: u8 = 4;
const ANY: u8 = T | F | N;

/// Whether a WHERE condition can filter rows of its target: it must name a column of the
/// target (`targets` are the names the statement calls it by) and it must be false for some
/// values of the columns. A condition true or unknown whatever the columns hold (`1 IN (1,
/// id)`, `id = "id"`, `x OR NOT x`) or naming no column of the target (`2/2`, `EXISTS (SELECT
/// 1)`, `random() < 0.5`) is no WHERE.
pub fn filters_rows(e: &Expr, targets: &[String]) -> bool {
    mentions_target(e, targets) && truth(e) & F != 0
}

/// Whether `e` refers to a column of the target: an unqualified column outside subqueries, or
/// a column qualified by one of `targets` anywhere.
fn mentions_target(e: &Expr, targets: &[String]) -> bool {
    struct Finder<'t> {
        targets: &'t [String],
        depth: usize,
    }
    impl sqlparser::ast::Visitor for Finder<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &sqlparser::ast::Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &sqlparser::ast::Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(id) if self.depth == 0 => {
                    let v = id.value.to_ascii_lowercase();
                    if id.quote_style.is_some() || !matches!(v.as_str(), "true" | "false" | "null")
                    {
                        return ControlFlow::Break(());
                    }
                }
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let q = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if self.targets.contains(&q) || (self.depth == 0 && self.targets.is_empty()) {
                        return ControlFlow::Break(());
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Finder { targets, depth: 0 };
    sqlparser::ast::Visit::visit(e, &mut f).is_break()
}

fn each(a: u8, b: u8, op: fn(u8, u8) -> u8) -> u8 {
    let mut out = 0;
    for x in [T, F, N] {
        for y in [T, F, N] {
            if a & x != 0 && b & y != 0 {
                out |= op(x, y);
            }
        }
    }
    out
}

fn and3(a: u8, b: u8) -> u8 {
    if a == F || b == F {
        F
    } else if a == T && b == T {
        T
    } else {
        N
    }
}

fn or3(a: u8, b: u8) -> u8 {
    if a == T || b == T {
        T
    } else if a == F && b == F {
        F
    } else {
        N
    }
}

fn not3(a: u8) -> u8 {
    (if a & T != 0 { F } else { 0 }) | (if a & F != 0 { T } else { 0 }) | (a & N)
}

fn of_const(c: &Const) -> u8 {
    match c.truthy() {
        Some(true) => T,
        Some(false) => F,
        None => N,
    }
}

/// The truth values `e` can take over all values of the columns it names.
fn truth(e: &Expr) -> u8 {
    if let Some(c) = fold(e) {
        return of_const(&c);
    }
    match e {
        Expr::Nested(inner) => truth(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => each(truth(left), truth(right), and3),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            if complementary(left, right) || complementary(right, left) {
                return T | N;
            }
            if null_test_pair(left, right) || null_test_pair(right, left) {
                return T;
            }
            each(truth(left), truth(right), or3)
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => not3(truth(expr)),
        Expr::IsTrue(x) => is_map(truth(x), T),
        Expr::IsFalse(x) => is_map(truth(x), F),
        Expr::IsNotTrue(x) => not3(is_map(truth(x), T)),
        Expr::IsNotFalse(x) => not3(is_map(truth(x), F)),
        Expr::IsNotDistinctFrom(l, r) if same(l, r) => T,
        Expr::IsDistinctFrom(l, r) if same(l, r) => F,
        Expr::BinaryOp { left, op, right } => compare_truth(left, op, right),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = fold(expr);
            let hit = list.iter().any(|item| {
                same(expr, item)
                    || matches!((&v, fold(item)), (Some(a), Some(b)) if compare(a, &b) == Some(0))
            });
            if !hit {
                return ANY;
            }
            let t = if v.is_some() { T } else { T | N };
            if *negated {
                not3(t)
            } else {
                t
            }
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } if same(expr, low) && same(expr, high) => {
            if *negated {
                F | N
            } else {
                T | N
            }
        }
        Expr::Like {
            negated, pattern, ..
        }
        | Expr::ILike {
            negated, pattern, ..
        } => match fold(pattern) {
            Some(Const::Str(p)) if !p.is_empty() && p.chars().all(|c| c == '%') => {
                if *negated {
                    F | N
                } else {
                    T | N
                }
            }
            _ => ANY,
        },
        Expr::Exists { subquery, negated } => {
            let trivial = matches!(&*subquery.body, sqlparser::ast::SetExpr::Select(s)
                if s.from.is_empty() && s.selection.is_none());
            match (trivial, negated) {
                (true, false) => T,
                (true, true) => F,
                _ => T | F,
            }
        }
        Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            let mut out = match else_result {
                Some(e) => truth(e),
                None => N,
            };
            for w in conditions {
                out |= truth(&w.result);
            }
            out
        }
        _ => ANY,
    }
}

/// `x IS TRUE` (`want` = T) or `x IS FALSE` (`want` = F) from the values of `x`.
fn is_map(a: u8, want: u8) -> u8 {
    (if a & want != 0 { T } else { 0 }) | (if a & !want & ANY != 0 { F } else { 0 })
}

fn compare_truth(left: &Expr, op: &BinaryOperator, right: &Expr) -> u8 {
    let cmp = matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    );
    if !cmp {
        return ANY;
    }
    if matches!(fold(left), Some(Const::Null)) || matches!(fold(right), Some(Const::Null)) {
        return N;
    }
    if same(left, right) {
        return match op {
            BinaryOperator::Eq | BinaryOperator::LtEq | BinaryOperator::GtEq => T | N,
            _ => F | N,
        };
    }
    ANY
}

/// `x OR NOT x`.
fn complementary(a: &Expr, b: &Expr) -> bool {
    matches!(unnest(b), Expr::UnaryOp { op: UnaryOperator::Not, expr } if same(a, expr))
}

/// `x IS NULL OR x IS NOT NULL`.
fn null_test_pair(a: &Expr, b: &Expr) -> bool {
    matches!((unnest(a), unnest(b)), (Expr::IsNull(x), Expr::IsNotNull(y)) if same(x, y))
}

/// Whether two expressions always have the same value in one row: the same text (names
/// compared without quotes or case), and no function whose value changes between calls.
fn same(a: &Expr, b: &Expr) -> bool {
    fn key(e: &Expr) -> String {
        unnest(e)
            .to_string()
            .chars()
            .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
            .flat_map(char::to_lowercase)
            .collect()
    }
    // A literal is compared by value (`"FALSE" = FALSE` names a column in PostgreSQL).
    fold(a).is_none() && fold(b).is_none() && !volatile(a) && key(a) == key(b)
}

fn unnest(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

/// Whether `e` holds a subquery or a function that is not a known deterministic scalar one.
fn volatile(e: &Expr) -> bool {
    const CHANGING: &[&str] = &[
        "random",
        "rand",
        "randomblob",
        "gen_random_uuid",
        "uuid",
        "newid",
        "clock_timestamp",
    ];
    visit_expressions(e, |x| {
        let bad = match x {
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => true,
            Expr::Function(f) => {
                let name = super::bounds::last_name(&f.name);
                CHANGING.contains(&name.as_str())
                    || !super::functions::SCALAR_FUNCTIONS.contains(&name.as_str())
            }
            _ => false,
        };
        if bad {
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
        Expr::IsTrue(e) => Some(Const::Bool(fold(e)?.truthy()?)),
        Expr::IsNotFalse(e) => Some(Const::Bool(fold(e)?.truthy() != Some(false))),
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
                BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo => {
                    let (Const::Num(a), Const::Num(b)) = (l, r) else {
                        return None;
                    };
                    // Integer or real division differ between databases: either way a
                    // quotient is folded only when it is exact.
                    return match op {
                        BinaryOperator::Plus => Some(Const::Num(a + b)),
                        BinaryOperator::Minus => Some(Const::Num(a - b)),
                        BinaryOperator::Multiply => Some(Const::Num(a * b)),
                        BinaryOperator::Divide if b != 0.0 && (a / b).fract() == 0.0 => {
                            Some(Const::Num(a / b))
                        }
                        BinaryOperator::Divide => None,
                        _ if b != 0.0 => Some(Const::Num(a % b)),
                        _ => Some(Const::Null),
                    };
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
