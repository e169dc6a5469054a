//! Tests of row counting and truncation: each shape as the reference servers write it, edge
//! cases (empty, one row, separators inside quoted values, unterminated literals), hostile
//! input, and truncation round-trips (the count after cutting is the cap).

use super::*;
use serde_json::json;

fn text(t: &str) -> Value {
    json!({"content": [{"type": "text", "text": t}]})
}

fn count(t: &str) -> Option<(usize, Shape)> {
    count_rows(&text(t))
}

/// Cuts `result` to `max` rows and checks the round trip: the original count is returned,
/// the count after cutting is `max` in the same shape, and the note is there.
fn round_trip(mut result: Value, max: usize) -> Value {
    let (n, shape) = count_rows(&result).expect("countable");
    assert!(n > max, "{n} rows, cap {max}");
    assert_eq!(truncate_rows(&mut result, max), Some(n));
    let notes: Vec<&str> = texts(&result)
        .filter(|t| t.ends_with("response cap"))
        .collect();
    assert_eq!(notes, [note(max, n).as_str()]);
    // The note is prose: it does not change the count. (An empty Python list is also JSON.)
    let after = count_rows(&result).expect("countable after cutting");
    assert_eq!(after.0, max, "{result}");
    if max > 0 {
        assert_eq!(after.1, shape, "{result}");
    }
    result
}

/// mcp-server-sqlite's `str(results)` of real rows (Python 3.11, sqlite3.Row as dicts):
/// quotes of both kinds, an escaped newline and backslash, bytes, None, floats.
const SQLITE: &str = r#"[{'id': 1, 'name': "O'Brien", 'note': 'a]b, "q" }', 'v': 1.5, 'b': b"\x00\xff'"}, {'id': 2, 'name': 'x\ny\\', 'note': None, 'v': -2e+30, 'b': None}, {'id': 3, 'name': 'é ✓ 😀', 'note': '', 'v': 1e-07, 'b': b''}]"#;

#[test]
fn python_literals_as_mcp_server_sqlite_writes_them() {
    assert_eq!(count(SQLITE), Some((3, Shape::PythonLiteral)));
    assert_eq!(count("[{'count(*)': 3}]"), Some((1, Shape::PythonLiteral)));
    assert_eq!(
        count("[{'affected_rows': 1}]"),
        Some((1, Shape::PythonLiteral))
    );
    assert_eq!(
        count(r"[{'id': 1, 'name': 'O\'Brien'}, {'x': None}]"),
        Some((2, Shape::PythonLiteral))
    );
    // Tuples, nested values, calls, pprint's line breaks, True/False, a trailing comma.
    let t = "[(1, 'a', (2, 3), [4, {'k': ']'}], True),\n (2, datetime.date(2024, 1, 1), Decimal('1.5'), {1, 2}, False),\n (3, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), -inf, nan, u'x'),]";
    assert_eq!(count(t), Some((3, Shape::PythonLiteral)));
    let cut = round_trip(text(SQLITE), 1);
    assert_eq!(
        cut["content"][0]["text"],
        r#"[{'id': 1, 'name': "O'Brien", 'note': 'a]b, "q" }', 'v': 1.5, 'b': b"\x00\xff'"}]"#
    );
    let cut = round_trip(text(t), 2);
    assert!(cut["content"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with("False)]"));
    // fuzz/FOUND.md, rows-1 (fixed): a cut to no rows of a list with a trailing comma.
    let cut = round_trip(text("[\r \r{\n  },\n\n]"), 0);
    assert_eq!(cut["content"][0]["text"], "[\n\n]");
    let cut = round_trip(text(SQLITE), 0);
    assert_eq!(cut["content"][0]["text"], "[]");
}

#[test]
fn json_arrays_as_the_postgres_server_writes_them() {
    let rows: Vec<Value> = (0..5)
        .map(|i| json!({"id": i, "name": format!("n]{i}, \"q\""), "z": null, "a": [1, {"b": "]"}]}))
        .collect();
    let pretty = serde_json::to_string_pretty(&rows).unwrap();
    assert_eq!(count(&pretty), Some((5, Shape::JsonArray)));
    let cut = round_trip(text(&pretty), 2);
    let t = cut["content"][0]["text"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(t).unwrap(), json!(rows[..2]));
    // The original text is cut, not re-rendered: key order and layout stay.
    assert!(pretty.starts_with(t.trim_end_matches("\n]")), "{t}");
    assert_eq!(count("[]"), Some((0, Shape::JsonArray)));
    assert_eq!(count(" [ {\"a\": 1} ] \n"), Some((1, Shape::JsonArray)));
    assert_eq!(count("[[1, 2], [3, 4]]"), Some((2, Shape::JsonArray)));
    // A JSON object around the rows (the text twin of structured content).
    let obj = json!({"rows": rows, "rowCount": 5}).to_string();
    assert_eq!(count(&obj), Some((5, Shape::JsonArray)));
    let cut = round_trip(text(&obj), 3);
    let v: Value = serde_json::from_str(cut["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 3);
    // An object that is not rows is prose.
    assert_eq!(count("{\"status\": \"ok\"}"), None);
}

#[test]
fn structured_content_comes_first() {
    let rows: Vec<Value> = (0..4).map(|i| json!({"id": i})).collect();
    let r = json!({"content": [{"type": "text", "text": serde_json::to_string(&rows).unwrap()}], "structuredContent": {"rows": rows, "count": 4}});
    assert_eq!(count_rows(&r), Some((4, Shape::Structured)));
    let cut = round_trip(r, 1);
    assert_eq!(cut["structuredContent"]["rows"], json!([{"id": 0}]));
    assert_eq!(cut["structuredContent"]["count"], 4);
    // The text twin is cut too: the rows do not leak through it.
    assert_eq!(cut["content"][0]["text"], "[{\"id\":0}]");

    for (sc, n) in [
        (json!([{"a": 1}, {"a": 2}]), 2),
        (json!({"results": [1, 2, 3]}), 3),
        (json!({"data": [], "next": null}), 0),
        (json!({"anything": [1]}), 1),
    ] {
        assert_eq!(
            count_rows(&json!({"structuredContent": sc})),
            Some((n, Shape::Structured)),
            "{sc}"
        );
    }
    // Two arrays, neither named as rows: ambiguous; a scalar: no rows.
    assert_eq!(
        count_rows(&json!({"structuredContent": {"a": [1], "b": [2]}})),
        None
    );
    assert_eq!(
        count_rows(&json!({"structuredContent": {"rows": [1], "items": [2]}})),
        None
    );
    assert_eq!(count_rows(&json!({"structuredContent": 7})), None);
    // A result with structured content only gets a content array for the note.
    let cut = round_trip(json!({"structuredContent": [{"a": 1}, {"a": 2}]}), 1);
    assert_eq!(cut["content"][0]["text"], note(1, 2));
    // Uncountable structured content falls back to the text.
    assert_eq!(
        count_rows(
            &json!({"structuredContent": {"ok": true}, "content": [{"type": "text", "text": "[{'a': 1}]"}]})
        ),
        Some((1, Shape::PythonLiteral))
    );
}

#[test]
fn csv_with_quoted_fields() {
    let t = "id,name,note\r\n1,\"O'Brien, Jr.\",\"line\nbreak \"\"quoted\"\"\"\r\n2,x,\r\n3,\"|\",\"]\"\r\n";
    assert_eq!(count(t), Some((3, Shape::Csv)));
    let cut = round_trip(text(t), 1);
    assert_eq!(
        cut["content"][0]["text"],
        "id,name,note\r\n1,\"O'Brien, Jr.\",\"line\nbreak \"\"quoted\"\"\"\r\n"
    );
    assert_eq!(count("a,b\n1,2"), Some((1, Shape::Csv)));
    assert_eq!(count("a,b\n"), Some((0, Shape::Csv)));
    let cut = round_trip(text("a,b\n1,2\n3,4\n"), 0);
    assert_eq!(cut["content"][0]["text"], "a,b\n");
    // Ragged, unterminated quotes, stray quotes, a blank line, one column: not CSV.
    for bad in [
        "a,b\n1,2,3\n",
        "a,b\n1,\"2\n",
        "a,b\n1,2\"x\n",
        "a,b\n\n1,2\n",
        "a\n1\n2\n",
    ] {
        assert_eq!(count(bad), None, "{bad:?}");
    }
}

#[test]
fn markdown_tables() {
    let t = "Query results:\n\n| id | name | expr |\n|---:|:-----|------|\n| 1 | a \\| b | `x` |\n| 2 | [c] | d, e |\n| 3 | | f |\n\n3 rows.";
    assert_eq!(count(t), Some((3, Shape::Markdown)));
    let cut = round_trip(text(t), 2);
    assert_eq!(
        cut["content"][0]["text"],
        "Query results:\n\n| id | name | expr |\n|---:|:-----|------|\n| 1 | a \\| b | `x` |\n| 2 | [c] | d, e |\n\n3 rows."
    );
    assert_eq!(count("a | b\n--- | ---\n1 | 2"), Some((1, Shape::Markdown)));
    assert_eq!(count("| a |\n|---|\n"), Some((0, Shape::Markdown)));
    // Ragged rows and two tables are ambiguous.
    assert_eq!(count("| a | b |\n|---|---|\n| 1 |\n"), None);
    assert_eq!(count("| a |\n|---|\n| 1 |\n\n| b |\n|---|\n| 2 |\n"), None);
}

#[test]
fn prose_and_broken_tables_are_not_counted() {
    for t in [
        "",
        "Table created successfully",
        "Found 1000 rows matching your query.",
        "Hello, world. It was fine, really.",
        "Database error: no such table: x",
        "a | b without a separator",
    ] {
        assert_eq!(count(t), None, "{t:?}");
    }
    for t in [
        "[{'a': 1}, {'b': 2}",    // unterminated list
        "[{'a': 'x}]",            // unterminated string
        "[{'a': 1}] trailing",    // text after the list
        "[1, 2, 3]",              // scalars are not rows
        "[{'a': 1}, (2,)]",       // mixed kinds
        "[{'a': 'line\nbreak'}]", // a raw line break inside a quote
        "[{'a' 1}]",              // no colon
        "{\"a\": ",               // broken JSON object
    ] {
        assert_eq!(count(t), None, "{t:?}");
    }
    assert_eq!(count_rows(&json!({"content": "x"})), None);
    assert_eq!(
        count_rows(&json!({"content": [{"type": "image", "data": "[{}]"}]})),
        None
    );
    let mut r = text("Found 1000 rows");
    assert_eq!(truncate_rows(&mut r, 1), None);
    assert_eq!(r, text("Found 1000 rows"));
}

#[test]
fn several_text_items_are_summed_and_cut_in_order() {
    let r = json!({"content": [
        {"type": "text", "text": "[{'a': 1}, {'a': 2}]"},
        {"type": "text", "text": "Page 2:"},
        {"type": "text", "text": "[{'a': 3}, {'a': 4}, {'a': 5}]"}
    ]});
    assert_eq!(count_rows(&r), Some((5, Shape::PythonLiteral)));
    let cut = round_trip(r, 3);
    assert_eq!(cut["content"][0]["text"], "[{'a': 1}, {'a': 2}]");
    assert_eq!(cut["content"][2]["text"], "[{'a': 3}]");
    // Different shapes in one result, or one broken item: no count.
    let mixed = json!({"content": [{"type": "text", "text": "[{'a': 1}]"}, {"type": "text", "text": "a,b\n1,2"}]});
    assert_eq!(count_rows(&mixed), None);
    let broken = json!({"content": [{"type": "text", "text": "[{'a': 1}]"}, {"type": "text", "text": "[{'a'"}]});
    assert_eq!(count_rows(&broken), None);
    // Within the cap: nothing changes.
    let mut small = text("[{'a': 1}]");
    assert_eq!(truncate_rows(&mut small, 1), Some(1));
    assert_eq!(small, text("[{'a': 1}]"));
}

#[test]
fn hostile_input_is_bounded() {
    // Deep nesting: refused, not a stack overflow.
    let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(count(&deep), None);
    let deep = format!(
        "[({})]",
        "(".repeat(literal::MAX_DEPTH) + &")".repeat(literal::MAX_DEPTH)
    );
    assert_eq!(count(&deep), None);
    // Many rows: linear.
    let many = format!("[{}{{'a': 0}}]", "{'a': 1, 'b': 'x]y'}, ".repeat(200_000));
    assert_eq!(count(&many), Some((200_001, Shape::PythonLiteral)));
    round_trip(text(&many), 10);
    let csv = format!("a,b\n{}", "1,\"x\n,y\"\n".repeat(200_000));
    assert_eq!(count(&csv), Some((200_000, Shape::Csv)));
    // Truncated escapes and quotes at the very end.
    for t in [
        "[{'a': '\\",
        "[{'a': b'",
        "[{'a': -",
        "[{'a': x(",
        "a,b\n\"",
        "| a |\n|---|\n| \\",
    ] {
        let _ = count(t);
    }
    assert_eq!(count("[{'a': -}]"), None);
}

#[test]
fn shape_names_are_stable() {
    let names: Vec<_> = [
        Shape::Structured,
        Shape::JsonArray,
        Shape::PythonLiteral,
        Shape::Csv,
        Shape::Markdown,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    assert_eq!(names, ["structured", "json", "python", "csv", "markdown"]);
}

/// Random texts from pieces of literals, CSV and tables: never a panic, and whenever a count
/// comes out, cutting to fewer rows round-trips.
#[test]
fn generated_texts_never_panic_and_cuts_round_trip() {
    let pieces = [
        "[", "]", "{", "}", "(", ")", "'", "\"", "\\", ",", ":", " ", "\n", "|", "---", "a", "1",
        "None", "b'", "é", "\r\n", "x(", "=", "-",
    ];
    let mut rng = crate::base::Rng(0xc0ffee);
    for _ in 0..20_000 {
        let n = (rng.next() % 24) as usize;
        let s: String = (0..n)
            .map(|_| pieces[(rng.next() % pieces.len() as u64) as usize])
            .collect();
        if let Some((rows, shape)) = count(&s) {
            if rows > 0 {
                let mut r = text(&s);
                assert_eq!(truncate_rows(&mut r, rows - 1), Some(rows), "{s:?}");
                assert_eq!(count_rows(&r), Some((rows - 1, shape)), "{s:?} -> {r}");
            }
        }
    }
}
