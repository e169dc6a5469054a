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
    let filters =
        || mentions_target(e, targets) && truth(e, targets) & F != 0 && !true_on_samples(e);
    if DOUBLE_QUOTED_STRINGS.with(|c| c.get()) {
        // A double-quoted name may be a column or a string: it must filter either way.
        filters() && with_double_quoted_strings(false, filters)
    } else {
        filters()
    }
}

/// Sample values given to every column in turn when looking for a tautology the symbolic
/// rules miss (`id + 0 = id`, `coalesce(1, id) = 1`, `(id = 2) IS NOT NULL`).
const SAMPLES: &[f64] = &[0.0, 1.0, -7.0, 2.5, 1e6];
const STRING_SAMPLES: &[&str] = &["", "a", "zz9"];

thread_local! {
    /// The values columns take, by name, while [`true_on_samples`] evaluates a condition.
    static COLUMNS: std::cell::RefCell<Vec<(String, Const)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// Set while SQLite's reading is judged: SQLite takes a double-quoted name that is no
    /// column for a string (`"yes" = 'yes'`), so such a name may be either.
    static DOUBLE_QUOTED_STRINGS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with SQLite's double-quoted-string fallback on or off.
pub fn with_double_quoted_strings<T>(on: bool, f: impl FnOnce() -> T) -> T {
    let before = DOUBLE_QUOTED_STRINGS.with(|c| c.replace(on));
    let out = f();
    DOUBLE_QUOTED_STRINGS.with(|c| c.set(before));
    out
}

fn dq_string(e: &Expr) -> Option<&str> {
    match e {
        Expr::Identifier(id)
            if id.quote_style == Some('"') && DOUBLE_QUOTED_STRINGS.with(|c| c.get()) =>
        {
            Some(&id.value)
        }
        _ => None,
    }
}

fn column_key(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(id.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Whether `e` evaluates to true for every sampled non-NULL value of its columns (every
/// combination of samples for one or two columns, rotations of them for more). A condition
/// true for all of them is taken for no filter; one that cannot be evaluated (an unknown
/// function) is not.
fn true_on_samples(e: &Expr) -> bool {
    // The constants of the condition and their neighbours are samples too, so `id <> 5`
    // meets 5 and `id > -100` meets -101.
    let mut numbers: Vec<f64> = SAMPLES.to_vec();
    let mut strings: Vec<String> = STRING_SAMPLES.iter().map(|s| (*s).to_owned()).collect();
    let mut columns: Vec<String> = Vec::new();
    let _ = visit_expressions(e, |x| {
        if let Some(k) = column_key(x) {
            if !columns.contains(&k) && !matches!(k.as_str(), "true" | "false") {
                columns.push(k);
            }
        }
        match fold(x) {
            Some(Const::Num(n)) => numbers.extend([n - 1.0, n, n + 1.0]),
            Some(Const::Str(s)) => {
                let mut next = s.clone();
                next.push('~');
                strings.extend([s, next]);
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    if columns.is_empty() || columns.len() > 8 {
        return false;
    }
    let all_true = |values: Vec<Const>| {
        let n = values.len();
        let rounds: Vec<Vec<usize>> = if columns.len() <= 2 {
            (0..n * n).map(|k| vec![k % n, k / n]).collect()
        } else {
            (0..n)
                .flat_map(|k| (1..4).map(move |stride| (k, stride)))
                .map(|(k, stride)| (0..columns.len()).map(|j| (k + j * stride) % n).collect())
                .collect()
        };
        rounds.iter().all(|pick| {
            let env: Vec<(String, Const)> = columns
                .iter()
                .zip(pick)
                .map(|(c, &i)| (c.clone(), values[i].clone()))
                .collect();
            COLUMNS.with(|c| *c.borrow_mut() = env);
            let r = fold(e).and_then(|c| c.truthy());
            COLUMNS.with(|c| c.borrow_mut().clear());
            r == Some(true)
        })
    };
    let numeric_all_true = all_true(numbers.into_iter().map(Const::Num).collect());
    let string_all_true = all_true(strings.into_iter().map(Const::Str).collect());
    // True for every number, or for every string: the column's type is one of them.
    numeric_all_true || string_all_true
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
                Expr::Identifier(_) if dq_string(e).is_some() => {}
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
fn truth(e: &Expr, targets: &[String]) -> u8 {
    if let Some(c) = fold(e) {
        return of_const(&c);
    }
    match e {
        Expr::Nested(inner) => truth(inner, targets),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => each(truth(left, targets), truth(right, targets), and3),
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
            each(truth(left, targets), truth(right, targets), or3)
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => not3(truth(expr, targets)),
        Expr::IsTrue(x) => is_map(truth(x, targets), T),
        Expr::IsFalse(x) => is_map(truth(x, targets), F),
        Expr::IsNotTrue(x) => not3(is_map(truth(x, targets), T)),
        Expr::IsNotFalse(x) => not3(is_map(truth(x, targets), F)),
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
        // `id IN (SELECT id FROM <the target>)`: every row's own value is in the list.
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } if selects_itself(expr, subquery, targets) => {
            if *negated {
                F | N
            } else {
                T | N
            }
        }
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
                Some(e) => truth(e, targets),
                None => N,
            };
            for w in conditions {
                out |= truth(&w.result, targets);
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

/// Whether `sub` is `SELECT x FROM t` (no WHERE, no LIMIT) for the `x` of `expr` and a
/// target `t`.
fn selects_itself(expr: &Expr, sub: &sqlparser::ast::Query, targets: &[String]) -> bool {
    let sqlparser::ast::SetExpr::Select(s) = &*sub.body else {
        return false;
    };
    if s.selection.is_some()
        || sub.limit_clause.is_some()
        || sub.fetch.is_some()
        || s.from.len() != 1
    {
        return false;
    }
    let from = &s.from[0];
    if !from.joins.is_empty() {
        return false;
    }
    let sqlparser::ast::TableFactor::Table { name, .. } = &from.relation else {
        return false;
    };
    if !targets.contains(&super::bounds::last_name(name)) {
        return false;
    }
    let [sqlparser::ast::SelectItem::UnnamedExpr(col)] = s.projection.as_slice() else {
        return false;
    };
    let bare = |e: &Expr| match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    };
    bare(col).is_some() && bare(col) == bare(unnest(expr))
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
        Expr::Identifier(id)
            if id.quote_style.is_none()
                && matches!(id.value.to_ascii_uppercase().as_str(), "TRUE" | "FALSE") =>
        {
            Some(Const::Bool(id.value.eq_ignore_ascii_case("true")))
        }
        Expr::Identifier(_) if dq_string(e).is_some() => {
            dq_string(e).map(|s| Const::Str(s.to_owned()))
        }
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            let key = column_key(e)?;
            COLUMNS.with(|c| {
                c.borrow()
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
            })
        }
        Expr::Function(f) => fold_function(f),
        Expr::Case {
            operand: None,
            conditions,
            else_result,
            ..
        } => {
            // The first branch whose condition folds to true; when a condition cannot be
            // folded, the value only if every branch has the same one.
            for w in conditions {
                match fold(&w.condition).map(|c| c.truthy()) {
                    Some(Some(true)) => return fold(&w.result),
                    Some(_) => continue,
                    None => {
                        let mut values =
                            conditions
                                .iter()
                                .map(|w| fold(&w.result))
                                .chain(std::iter::once(
                                    else_result.as_deref().map_or(Some(Const::Null), fold),
                                ));
                        let first = values.next()??;
                        return values.all(|v| v.as_ref() == Some(&first)).then_some(first);
                    }
                }
            }
            else_result.as_deref().map_or(Some(Const::Null), fold)
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => {
            let v = fold(left)?;
            let Expr::Array(a) = unnest(right) else {
                return None;
            };
            let mut hit = false;
            for item in &a.elem {
                hit |= compare(&v, &fold(item)?)? == 0;
            }
            Some(Const::Bool(hit))
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

/// A few deterministic scalar functions of constants.
fn fold_function(f: &sqlparser::ast::Function) -> Option<Const> {
    let sqlparser::ast::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let mut args = Vec::new();
    for a in &list.args {
        match a {
            sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(e)) => {
                args.push(fold(e)?)
            }
            _ => return None,
        }
    }
    let name = super::bounds::last_name(&f.name);
    match (name.as_str(), args.as_slice()) {
        ("coalesce" | "ifnull" | "nvl", _) => Some(
            args.iter()
                .find(|a| **a != Const::Null)
                .cloned()
                .unwrap_or(Const::Null),
        ),
        ("abs", [Const::Num(n)]) => Some(Const::Num(n.abs())),
        ("lower" | "upper", [Const::Str(s)]) => Some(Const::Str(if name == "lower" {
            s.to_lowercase()
        } else {
            s.to_uppercase()
        })),
        ("length", [Const::Str(s)]) => Some(Const::Num(s.chars().count() as f64)),
        ("nullif", [a, b]) => Some(if compare(a, b) == Some(0) {
            Const::Null
        } else {
            a.clone()
        }),
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
