//! Constant `WHERE` folding and aggregate-only projections.

use super::*;

/// `DELETE FROM t WHERE k = 5 OR (cond)` for each `(cond, expect)`: the table of a
/// constant-folding test. The `k = 5` names a column of the table (a WHERE naming none is no
/// WHERE at all), so the verdict turns on whether `cond` folds to true.
fn where_cases(conds: &[(&str, Expect)]) -> Vec<Case> {
    conds
        .iter()
        .map(|&(cond, expect)| {
            sql(
                &format!("delete where {cond}"),
                &format!("DELETE FROM t WHERE k = 5 OR ({cond})"),
                expect,
            )
        })
        .collect()
}

/// Constant folding of each operator, with a case on each side of its boundary. Operands are
/// never written identically on both sides (`2 <= 2` is caught as `x <= x` without folding).
#[test]
fn constant_where_folds_every_operator() {
    let conds = [
        // Comparisons: less, equal (written differently) and greater.
        ("1 < 2", DESTROYS),
        ("2 < 1", Allow),
        ("2 < 1 + 1", Allow),
        ("2 <= 3", DESTROYS),
        ("2 <= 1 + 1", DESTROYS),
        ("3 <= 2", Allow),
        ("3 > 2", DESTROYS),
        ("1 + 1 > 2", Allow),
        ("3 >= 2", DESTROYS),
        ("2 >= 1 + 1", DESTROYS),
        ("2 >= 3", Allow),
        // Arithmetic.
        ("5 - 2 = 3", DESTROYS),
        ("5 - 2 = 7", Allow),
        ("5 - 2 = 10", Allow),
        ("5 - 2 = 2.5", Allow),
        ("2 * 3 = 6", DESTROYS),
        ("2 * 3 = 5", Allow),
        ("(1 + 1) = 2", DESTROYS),
        ("CAST(1 AS INT) = 1", DESTROYS),
        // Unary operators inside a comparison.
        ("-2 < 0", DESTROYS),
        ("-2 > 0", Allow),
        ("+2 > 0", DESTROYS),
        ("+2 < 0", Allow),
        ("(NOT 0) = TRUE", DESTROYS),
        ("(NOT 1) = TRUE", Allow),
        // AND / OR folded as values inside a comparison.
        ("(1 AND 1) = TRUE", DESTROYS),
        ("(1 AND 0) = FALSE", DESTROYS),
        ("(1 AND 0) = TRUE", Allow),
        ("(1 OR 0) = TRUE", DESTROYS),
        ("(0 OR 0) = TRUE", Allow),
        // IS tests.
        ("1 IS NOT NULL", DESTROYS),
        ("NULL IS NOT NULL", Allow),
        ("(1 = 1) IS TRUE", DESTROYS),
        ("(1 = 0) IS TRUE", Allow),
        ("(1 = 1) IS NOT FALSE", DESTROYS),
        ("(1 = 0) IS NOT FALSE", Allow),
        // BETWEEN and IN.
        ("5 BETWEEN 0 AND 2", Allow),
        ("5 NOT BETWEEN 0 AND 2", DESTROYS),
        ("3 IN (3)", DESTROYS),
        ("5 IN (1, 2)", Allow),
        ("5 NOT IN (1, 2)", DESTROYS),
        // LIKE / ILIKE: only the match-everything pattern folds.
        ("'abc' LIKE '%'", DESTROYS),
        ("'abc' LIKE '%%'", DESTROYS),
        ("'abc' ILIKE '%'", DESTROYS),
        ("'abc' NOT LIKE '%'", Allow),
        ("'abc' NOT ILIKE '%'", Allow),
        ("'abc' LIKE 'x%'", Allow),
        ("'abc' LIKE 'x'", Allow),
        ("'abc' LIKE ''", Allow),
        // Strings, numeric strings and booleans.
        ("'a' < 'b'", DESTROYS),
        ("'b' < 'a'", Allow),
        ("'1' = 1", DESTROYS),
        ("'2' = 1", Allow),
        ("TRUE > FALSE", DESTROYS),
        ("TRUE < FALSE", Allow),
        ("TRUE <> FALSE", DESTROYS),
        // A string on its own is true when it is a non-zero number.
        ("'1'", DESTROYS),
        ("'0'", Allow),
        ("'abc'", Allow),
        // A quoted "TRUE" is a column, not the constant.
        ("\"TRUE\"", Allow),
        ("\"FALSE\" = FALSE", Allow),
    ];
    check("fold-operators", &[], 1000, &where_cases(&conds));
}

/// How AND, OR, NOT, parentheses and `x = x` combine conditions that fold only partly.
#[test]
fn constant_where_combines_conditions() {
    let conds = [
        ("1 = 1 AND 2 = 2", DESTROYS),
        ("id = id AND 1 = 1", DESTROYS),
        ("NOT (FALSE AND id = 5)", DESTROYS),
        ("NOT (id = 5 AND 1 = 0)", DESTROYS),
        ("NOT (id = 5 AND 1 = 1)", Allow),
        ("NOT (1 = 0 OR 2 = 3)", DESTROYS),
        ("NOT (1 = 0 OR id = 5)", Allow),
        ("(id = id)", DESTROYS),
        ("((id <= id))", DESTROYS),
        // A function call may differ between its two sides.
        ("random() = random()", Allow),
        ("(SELECT max(id) FROM t) = (SELECT max(id) FROM t)", Allow),
    ];
    check("fold-combinations", &[], 1000, &where_cases(&conds));
}

/// Dialects without boolean literals parse TRUE and FALSE as identifiers: unquoted they still
/// mean the constants, quoted they are columns.
#[test]
fn true_and_false_identifiers_without_boolean_literals() {
    let conds = [
        ("TRUE", DESTROYS),
        ("true", DESTROYS),
        ("NOT FALSE", DESTROYS),
        ("FALSE", Allow),
        ("NOT TRUE", Allow),
        ("\"TRUE\"", Allow),
        ("[TRUE]", Allow),
        ("NOT \"FALSE\"", Allow),
    ];
    check(
        "bool-idents-mssql",
        &["--dialect", "mssql"],
        1000,
        &where_cases(&conds),
    );
    let conds = [
        ("TRUE", DESTROYS),
        ("NOT FALSE", DESTROYS),
        ("FALSE", Allow),
        ("\"TRUE\"", Allow),
    ];
    check(
        "bool-idents-oracle",
        &["--dialect", "oracle"],
        1000,
        &where_cases(&conds),
    );
}

/// Aggregate-only projections stay one row through unary operators, parentheses, casts and
/// arithmetic between aggregates.
#[test]
fn aggregate_only_projection_through_operators() {
    let cases = [
        sql("negated count", "SELECT -count(*) FROM t", Allow),
        sql("parenthesised count", "SELECT (count(*)) FROM t", Allow),
        sql("cast count", "SELECT CAST(count(*) AS TEXT) FROM t", Allow),
        sql(
            "count plus count",
            "SELECT count(*) + count(*) FROM t",
            Allow,
        ),
        sql("count plus constant", "SELECT count(*) + 1 FROM t", Allow),
        sql("constant sum of columns", "SELECT 1 + 1 FROM t", UNBOUNDED),
        sql("negated column", "SELECT -id FROM t", UNBOUNDED),
        sql("parenthesised column", "SELECT (id) FROM t", UNBOUNDED),
        sql(
            "count plus column",
            "SELECT count(*) + id FROM t",
            UNBOUNDED,
        ),
    ];
    check("aggregate-operators", &[], 1000, &cases);
}
