//! Tables written as text: CSV (RFC 4180: a header record and records of the same width,
//! quoted fields with doubled quotes, commas and line breaks inside quotes) and a markdown
//! table (a header row, a `|---|` separator, rows; prose around one table is allowed). Each
//! reader says where the rows start and where each ends, so a result can be cut between rows
//! of its original text; anything inconsistent (ragged rows, two tables, a stray quote) is
//! not a table. Linear, no recursion.

/// Where a table's rows lie in its text: `head_end` is where the first row would start,
/// `ends[i]` where row `i` ends (after its line break), `tail` where the text after the last
/// row starts.
pub struct Spans {
    pub head_end: usize,
    pub ends: Vec<usize>,
    pub tail: usize,
}

/// Reads a CSV text: at least two columns, header names without surrounding spaces (prose
/// with commas has them), every record as wide as the header, no blank line inside.
pub fn csv(text: &str) -> Option<Spans> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut width = None;
    let mut head_end = 0;
    let mut ends = Vec::new();
    while i < b.len() {
        let (fields, end, header_ok) = record(b, i)?;
        match width {
            None => {
                if fields < 2 || !header_ok {
                    return None;
                }
                width = Some(fields);
                head_end = end;
            }
            Some(w) if w == fields => ends.push(end),
            Some(_) => return None,
        }
        i = end;
    }
    width?;
    Some(Spans {
        head_end,
        ends,
        tail: b.len(),
    })
}

/// One CSV record from `i`: its number of fields, where it ends (after its line break), and
/// whether its fields would do as a header (non-empty, unquoted or quoted, no surrounding
/// spaces, at most 64 bytes).
fn record(b: &[u8], mut i: usize) -> Option<(usize, usize, bool)> {
    let mut fields = 0;
    let mut header_ok = true;
    loop {
        let start = i;
        if b.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match b.get(i)? {
                    b'"' if b.get(i + 1) == Some(&b'"') => i += 2,
                    b'"' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
        } else {
            while i < b.len() && !matches!(b[i], b',' | b'\n' | b'\r') {
                if b[i] == b'"' {
                    return None;
                }
                i += 1;
            }
        }
        let field = &b[start..i];
        let inner = field
            .strip_prefix(b"\"")
            .and_then(|f| f.strip_suffix(b"\""))
            .unwrap_or(field);
        if inner.is_empty()
            || inner.len() > 64
            || inner[0].is_ascii_whitespace()
            || inner[inner.len() - 1].is_ascii_whitespace()
        {
            header_ok = false;
        }
        fields += 1;
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'\r') if b.get(i + 1) == Some(&b'\n') => return Some((fields, i + 2, header_ok)),
            Some(b'\n') => return Some((fields, i + 1, header_ok)),
            None => return Some((fields, i, header_ok)),
            // A bare CR, or text right after a closing quote.
            _ => return None,
        }
    }
}

/// The cells of a markdown table line: one leading and one trailing `|` dropped, split at
/// unescaped `|`. `None` when the line has no `|`.
fn cells(line: &str) -> Option<Vec<&str>> {
    let t = line.trim();
    if !t.contains('|') {
        return None;
    }
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = if t.ends_with('|') && !t.ends_with("\\|") {
        &t[..t.len() - 1]
    } else {
        t
    };
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'|' => {
                out.push(t[start..i].trim());
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push(t[start.min(t.len())..].trim());
    Some(out)
}

fn separator(cells: &[&str]) -> bool {
    cells.iter().all(|c| {
        let c = c.strip_prefix(':').unwrap_or(c);
        let c = c.strip_suffix(':').unwrap_or(c);
        !c.is_empty() && c.bytes().all(|b| b == b'-')
    })
}

/// Reads the one markdown table in `text` (prose before and after it allowed).
pub fn markdown(text: &str) -> Option<Spans> {
    // Lines with their end offsets (after the line break).
    let mut lines: Vec<(&str, usize)> = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        at += l.len();
        lines.push((l.trim_end_matches(['\n', '\r']), at));
    }
    let mut found: Option<Spans> = None;
    let mut k = 0;
    while k + 1 < lines.len() {
        let (Some(head), Some(sep)) = (cells(lines[k].0), cells(lines[k + 1].0)) else {
            k += 1;
            continue;
        };
        if sep.len() != head.len() || !separator(&sep) {
            k += 1;
            continue;
        }
        if found.is_some() {
            return None; // Two tables: which one is the result?
        }
        let head_end = lines[k + 1].1;
        let mut ends = Vec::new();
        let mut j = k + 2;
        while j < lines.len() {
            let Some(row) = cells(lines[j].0) else { break };
            if row.len() != head.len() {
                return None;
            }
            ends.push(lines[j].1);
            j += 1;
        }
        let tail = ends.last().copied().unwrap_or(head_end);
        found = Some(Spans {
            head_end,
            ends,
            tail,
        });
        k = j;
    }
    found
}
