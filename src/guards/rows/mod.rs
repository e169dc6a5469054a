//! Counting the rows of a SQL tool's result (a `tools/call` result object), for the response
//! cap behind the LIMIT rule, and cutting a result to its first rows. Rows are read from
//! `structuredContent` first (an array, or an object with one array of rows such as `rows`,
//! `results`, `data` or `items`), else from the text content as the reference servers write
//! it: a JSON array (`JSON.stringify(rows, null, 2)`), a Python list literal (`str(results)`,
//! `literal`), CSV or one markdown table (`text`). Several text items are summed; text that is
//! not a table (prose) is not counted, and anything that looks like a table but does not read
//! as one makes the count `None`: a count is never guessed.

use serde_json::Value;

mod literal;
#[cfg(test)]
mod tests;
mod text;

use literal::Kind;
use text::Spans;

/// How the rows were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Structured,
    JsonArray,
    PythonLiteral,
    Csv,
    Markdown,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Structured => "structured",
            Shape::JsonArray => "json",
            Shape::PythonLiteral => "python",
            Shape::Csv => "csv",
            Shape::Markdown => "markdown",
        }
    }
}

/// Member names of an object that hold its rows, when it has several members.
const ROW_KEYS: &[&str] = &[
    "rows", "results", "data", "items", "records", "result", "values",
];

/// The note `truncate_rows` adds.
pub fn note(shown: usize, total: usize) -> String {
    format!("{shown} of {total} rows shown; the rest was withheld by Sentinel's response cap")
}

/// The number of rows in a `tools/call` result and how they were written, or `None` when it
/// holds no rows Sentinel can count without guessing.
pub fn count_rows(result: &Value) -> Option<(usize, Shape)> {
    if let Some(n) = result
        .get("structuredContent")
        .and_then(|s| structured(s).map(|(_, n)| n))
    {
        return Some((n, Shape::Structured));
    }
    let mut total = 0;
    let mut shape = None;
    for t in texts(result) {
        match read(t) {
            Reading::Rows(table) => {
                if shape.is_some_and(|s| s != table.shape) {
                    return None;
                }
                shape = Some(table.shape);
                total += table.rows();
            }
            Reading::Prose => {}
            Reading::Broken => return None,
        }
    }
    shape.map(|s| (total, s))
}

/// Cuts `result` to its first `max` rows (structured content and every text item that holds
/// rows, each in its own shape, cut in its original text where it can be), and adds a text
/// item with `note`. Returns the count before cutting (`count_rows`), `None` when it could not
/// count (then nothing is changed). A result within `max` is left as it is.
pub fn truncate_rows(result: &mut Value, max: usize) -> Option<usize> {
    let (total, _) = count_rows(result)?;
    if total <= max {
        return Some(total);
    }
    if let Some(sc) = result.get_mut("structuredContent") {
        if let Some((rows, _)) = structured_mut(sc) {
            rows.truncate(max);
        }
    }
    let mut left = max;
    if let Some(obj) = result.as_object_mut() {
        if !obj.get("content").is_some_and(Value::is_array) {
            obj.insert("content".into(), Value::Array(Vec::new()));
        }
    }
    if let Some(Value::Array(content)) = result.get_mut("content") {
        for item in content.iter_mut() {
            if item.get("type").and_then(Value::as_str) != Some("text") {
                continue;
            }
            let Some(Value::String(t)) = item.get_mut("text") else {
                continue;
            };
            if let Reading::Rows(table) = read(t) {
                let keep = left.min(table.rows());
                left -= keep;
                *t = table.cut(t, keep);
            }
        }
        content.push(serde_json::json!({"type": "text", "text": note(max, total)}));
    }
    Some(total)
}

/// The text of each `text` content item.
fn texts(result: &Value) -> impl Iterator<Item = &str> {
    result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|c| c.get("text").and_then(Value::as_str))
}

/// Which member of an object holds its rows: the only member, or the only array among
/// `ROW_KEYS` (an object with one array member besides scalars, e.g. `{rows, count}`, counts).
fn row_key(m: &serde_json::Map<String, Value>) -> Option<&str> {
    let arrays: Vec<&String> = m
        .iter()
        .filter(|(_, v)| v.is_array())
        .map(|(k, _)| k)
        .collect();
    if arrays.len() == 1 && (m.len() == 1 || ROW_KEYS.contains(&arrays[0].as_str())) {
        return Some(arrays[0]);
    }
    let named: Vec<&&String> = arrays
        .iter()
        .filter(|k| ROW_KEYS.contains(&k.as_str()))
        .collect();
    (named.len() == 1).then(|| named[0].as_str())
}

/// The rows of structured content and their number.
fn structured(v: &Value) -> Option<(&Vec<Value>, usize)> {
    let rows = match v {
        Value::Array(a) => a,
        Value::Object(m) => m.get(row_key(m)?)?.as_array()?,
        _ => return None,
    };
    Some((rows, rows.len()))
}

fn structured_mut(v: &mut Value) -> Option<(&mut Vec<Value>, usize)> {
    let key = match v {
        Value::Object(m) => Some(row_key(m)?.to_string()),
        Value::Array(_) => None,
        _ => return None,
    };
    let rows = match key {
        Some(k) => v.get_mut(&k)?.as_array_mut()?,
        None => v.as_array_mut()?,
    };
    let n = rows.len();
    Some((rows, n))
}

/// What one text item is.
enum Reading {
    Rows(Table),
    /// Not a table: not counted.
    Prose,
    /// Looks like a table (starts like a list or object) but does not read as one.
    Broken,
}

/// A table found in a text.
struct Table {
    shape: Shape,
    how: How,
}

enum How {
    /// Cut between rows of the original text.
    Spans(Spans),
    /// A JSON object whose rows member is cut and re-serialised.
    Object(Value, usize),
}

impl Table {
    fn rows(&self) -> usize {
        match &self.how {
            How::Spans(s) => s.ends.len(),
            How::Object(_, n) => *n,
        }
    }

    /// `text` with only its first `keep` rows.
    fn cut(self, text: &str, keep: usize) -> String {
        match self.how {
            How::Spans(s) => {
                if keep >= s.ends.len() {
                    return text.to_string();
                }
                let end = if keep == 0 {
                    s.head_end
                } else {
                    s.ends[keep - 1]
                };
                format!("{}{}", &text[..end], &text[s.tail..])
            }
            How::Object(mut v, _) => {
                if let Some((rows, _)) = structured_mut(&mut v) {
                    rows.truncate(keep);
                }
                let out = if text.contains('\n') {
                    serde_json::to_string_pretty(&v)
                } else {
                    serde_json::to_string(&v)
                };
                out.unwrap_or_default()
            }
        }
    }
}

/// Reads one text item.
fn read(t: &str) -> Reading {
    let trimmed = t.trim_start();
    match trimmed.as_bytes().first() {
        Some(b'[') => list(t),
        Some(b'{') => match serde_json::from_str::<Value>(t) {
            Ok(v @ Value::Object(_)) => match structured(&v) {
                Some((rows, n)) if rows_like(rows) => Reading::Rows(Table {
                    shape: Shape::JsonArray,
                    how: How::Object(v, n),
                }),
                // A JSON object that is not a set of rows (a status, one record).
                _ => Reading::Prose,
            },
            _ => Reading::Broken,
        },
        _ => {
            if let Some(s) = text::markdown(t) {
                return Reading::Rows(Table {
                    shape: Shape::Markdown,
                    how: How::Spans(s),
                });
            }
            match text::csv(t) {
                Some(s) => Reading::Rows(Table {
                    shape: Shape::Csv,
                    how: How::Spans(s),
                }),
                None => Reading::Prose,
            }
        }
    }
}

/// Elements that are rows: all objects, or all arrays (an empty list is zero rows).
fn rows_like(rows: &[Value]) -> bool {
    rows.iter().all(Value::is_object) || rows.iter().all(Value::is_array)
}

/// A text starting with `[`: a JSON array, else a Python literal; elements all dicts/objects
/// or all tuples/lists.
fn list(t: &str) -> Reading {
    let Some(l) = literal::read(t) else {
        return Reading::Broken;
    };
    let kinds_ok =
        l.elements.iter().all(|e| e.1 == Kind::Map) || l.elements.iter().all(|e| e.1 == Kind::Seq);
    if !kinds_ok {
        return Reading::Broken;
    }
    let shape = match serde_json::from_str::<Value>(t) {
        Ok(_) => Shape::JsonArray,
        Err(_) => Shape::PythonLiteral,
    };
    let ends: Vec<usize> = l.elements.iter().map(|e| e.0).collect();
    // The text after the last element, without a trailing comma (a cut to no rows must not
    // leave `[,]`).
    let mut tail = ends.last().copied().unwrap_or(l.open_end);
    let b = t.as_bytes();
    let mut k = tail;
    while k < b.len() && b[k].is_ascii_whitespace() {
        k += 1;
    }
    if b.get(k) == Some(&b',') {
        tail = k + 1;
    }
    Reading::Rows(Table {
        shape,
        how: How::Spans(Spans {
            head_end: l.open_end,
            ends,
            tail,
        }),
    })
}
