//! Tests of the strict reader: values of every kind, borrowing, refusals, skipping at any
//! depth, and syntax errors in serde_json's words and at its column.

use super::*;

fn build(text: &str) -> Result<Json<'_>, Error> {
    let mut p = Parser::new(text);
    let v = p.value(1)?;
    p.end()?;
    Ok(v)
}

#[test]
fn values_of_every_kind() {
    assert_eq!(
        build(r#" {"a":[1,-2,3.5,true,false,null,"x\n\u00e9\ud83d\ude00"]} "#).unwrap(),
        Json::Obj(vec![(
            "a".into(),
            Json::Arr(vec![
                Json::UInt(1),
                Json::Int(-2),
                Json::Float(3.5),
                Json::Bool(true),
                Json::Bool(false),
                Json::Null,
                Json::Str("x\né😀".into()),
            ])
        )])
    );
    assert_eq!(build("-0").unwrap(), Json::Float(-0.0));
    assert_eq!(
        build("18446744073709551616").unwrap(),
        Json::Float(18446744073709551616.0)
    );
    assert_eq!(build("-9223372036854775808").unwrap(), Json::Int(i64::MIN));
}

#[test]
fn strings_borrow_unless_escaped() {
    assert!(matches!(
        build(r#""plain""#),
        Ok(Json::Str(Cow::Borrowed("plain")))
    ));
    assert!(matches!(build(r#""a\"b""#), Ok(Json::Str(Cow::Owned(s))) if s == "a\"b"));
    let long = format!("\"{}\"", "x".repeat(100));
    assert!(matches!(build(&long), Ok(Json::Str(Cow::Borrowed(s))) if s.len() == 100));
}

#[test]
fn refusals() {
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        ".5",
        "+1",
        "-",
        "1e",
        "tru",
        "nul",
        "\"a",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\u{1}\"",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "1e400",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "{} x",
    ] {
        assert!(
            matches!(build(bad), Err(Error::Syntax(_))),
            "{bad:?}: {:?}",
            build(bad)
        );
    }
    assert_eq!(
        build(r#"{"a":1,"\u0061":2}"#),
        Err(Error::Duplicate("a".into()))
    );
    let deep = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(build(&deep).is_ok());
    let deeper = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(build(&deeper), Err(Error::TooDeep));
}

#[test]
fn skipping_checks_syntax_at_any_depth_without_recursion() {
    let deep = format!("{}1{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    assert_eq!(Parser::new(&deep).skip(), Ok((0, deep.len())));
    // Objects and arrays alternating past the inline stack, closed in the right order.
    let mixed = format!("{}1{}", "[{\"a\":".repeat(100), "}]".repeat(100));
    assert_eq!(Parser::new(&mixed).skip(), Ok((0, mixed.len())));
    let wrong = format!("{}1{}", "[{\"a\":".repeat(100), "]}".repeat(100));
    assert!(Parser::new(&wrong).skip().is_err());
    // Lone surrogates and out-of-range numbers pass a skip, as in serde_json raw values.
    assert!(Parser::new(r#"["\ud800", 1e400, {"a": [{}]}]"#)
        .skip()
        .is_ok());
    for bad in [
        "[1,]",
        "{\"a\"}",
        "[\"\\q\"]",
        "[01]",
        "{\"a\":1 \"b\":2}",
        "[",
    ] {
        assert!(Parser::new(bad).skip().is_err(), "{bad:?}");
    }
}

/// Syntax errors point where serde_json points (the line is the whole message, so always
/// line 1), building and skipping: the column is what a user reads in the -32700 answer.
#[test]
fn syntax_errors_point_where_serde_json_points() {
    for bad in [
        "\"ab\u{1}c\"",
        "\"a\\nb\u{1}c\"",
        "\"\\u00e9\u{1f}\"",
        "\"\\ud800x\"",
        "\"\\ud800\\x\"",
        "\"\\ud800\"",
        "\"\\ud800",
        "\"\\ud800\\",
        "\"\\ud800\\u0041\"",
        "\"\\x\"",
        "[\"a\", \"b\u{2}\"]",
        "{\"a\":1,}",
        "[1,]",
        "\"abc",
        "tru",
        "1.",
        "-",
        "[",
        "[1,",
        "{\"a\":1,",
        "\"\\u12x4\"",
        "\"\\u12",
        "1e400",
        "[1 2]",
        "{} x",
    ] {
        let serde = serde_json::from_str::<serde_json::Value>(bad).unwrap_err();
        assert_eq!(build(bad), Err(Error::Syntax(serde.to_string())), "{bad:?}");
    }
    for bad in [
        "[\"ab\u{1}c\"]",
        "[\"a\\nb\u{1}c\"]",
        "[\"\\q\"]",
        "{\"a\":\"b\u{3}\"}",
        "[\"abc",
        "[1,]",
        "{\"a\":1,}",
        "[-",
        "[1.",
        "[[",
        "{\"a\":1,",
        "[\"\\u00zz\"]",
    ] {
        let serde = serde_json::from_str::<&serde_json::value::RawValue>(bad).unwrap_err();
        let ours = Parser::new(bad).skip().map(|_| ());
        assert_eq!(ours, Err(Error::Syntax(serde.to_string())), "skip {bad:?}");
    }
    // A batch's elements, as serde_json reads a `Vec<&RawValue>`.
    for bad in ["[", "[ ", "[1,", "[1,]", "[1 2]", "[1] x", "[\"a"] {
        let serde = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(bad).unwrap_err();
        let ours = Parser::new(bad).array_elements().map(|_| ());
        assert_eq!(
            ours,
            Err(Error::Syntax(serde.to_string())),
            "elements {bad:?}"
        );
    }
}
