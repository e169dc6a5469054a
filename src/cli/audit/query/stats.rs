//! `sentinel audit stats`: counts of the chosen entries, in total per action and grouped by
//! reason, rule, tool, server, session and hour (or the fields `--by` names), printed as
//! aligned tables sorted by count (hours in time order) or as one JSON object.

use super::filter::{Field, Head};
use super::show::visible;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The counts, built one entry at a time (memory: one counter per distinct value).
pub struct Stats {
    fields: Vec<Field>,
    pub entries: u64,
    first: Option<(i64, String)>,
    last: Option<(i64, String)>,
    actions: HashMap<Option<String>, u64>,
    groups: Vec<HashMap<Option<String>, u64>>,
}

impl Stats {
    pub fn new(fields: Vec<Field>) -> Stats {
        let groups = fields.iter().map(|_| HashMap::new()).collect();
        Stats {
            fields,
            entries: 0,
            first: None,
            last: None,
            actions: HashMap::new(),
            groups,
        }
    }

    pub fn add(&mut self, e: &Head) {
        self.entries += 1;
        if let (Some(m), Some(t)) = (e.micros, &e.timestamp) {
            if self.first.as_ref().is_none_or(|f| m < f.0) {
                self.first = Some((m, t.clone()));
            }
            if self.last.as_ref().is_none_or(|l| m > l.0) {
                self.last = Some((m, t.clone()));
            }
        }
        *self.actions.entry(e.action.clone()).or_default() += 1;
        for (field, counts) in self.fields.iter().zip(&mut self.groups) {
            *counts.entry(e.get(*field)).or_default() += 1;
        }
    }

    /// Largest count first, then by value; hours in time order.
    fn sorted(
        field: Option<Field>,
        counts: &HashMap<Option<String>, u64>,
    ) -> Vec<(&Option<String>, u64)> {
        let mut rows: Vec<_> = counts.iter().map(|(v, c)| (v, *c)).collect();
        if field == Some(Field::Hour) {
            rows.sort_by(|a, b| a.0.cmp(b.0));
        } else {
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        }
        rows
    }

    pub fn json(&self, checkpoints: u64, malformed: u64) -> Value {
        let mut actions = Map::new();
        for (v, c) in Stats::sorted(None, &self.actions) {
            actions.insert(v.clone().unwrap_or_default(), json!(c));
        }
        let mut by = Map::new();
        for (field, counts) in self.fields.iter().zip(&self.groups) {
            let rows: Vec<Value> = Stats::sorted(Some(*field), counts)
                .into_iter()
                .map(|(v, c)| json!({"value": v, "count": c}))
                .collect();
            by.insert(field.name().to_owned(), Value::Array(rows));
        }
        json!({
            "entries": self.entries,
            "first": self.first.as_ref().map(|f| &f.1),
            "last": self.last.as_ref().map(|l| &l.1),
            "actions": actions,
            "by": by,
            "checkpoints": checkpoints,
            "malformed": malformed,
        })
    }

    pub fn human(&self, checkpoints: u64) -> String {
        let mut out = format!("{} entries", self.entries);
        if let (Some(f), Some(l)) = (&self.first, &self.last) {
            out.push_str(&format!(", {} .. {}", visible(&f.1), visible(&l.1)));
        }
        if checkpoints > 0 {
            out.push_str(&format!(" (and {checkpoints} checkpoints)"));
        }
        out.push('\n');
        table(&mut out, "action", &Stats::sorted(None, &self.actions));
        for (field, counts) in self.fields.iter().zip(&self.groups) {
            table(&mut out, field.name(), &Stats::sorted(Some(*field), counts));
        }
        out
    }
}

/// `\nby FIELD:` and one `  VALUE  COUNT` row per value, the counts right-aligned.
fn table(out: &mut String, name: &str, rows: &[(&Option<String>, u64)]) {
    out.push_str(&format!("\nby {name}:\n"));
    if rows.is_empty() {
        out.push_str("  (no entries)\n");
        return;
    }
    let shown: Vec<(String, u64)> = rows
        .iter()
        .map(|(v, c)| (v.as_deref().map_or("(none)".into(), visible), *c))
        .collect();
    let width = shown
        .iter()
        .map(|(v, _)| v.chars().count())
        .max()
        .unwrap_or(0);
    let cw = shown
        .iter()
        .map(|(_, c)| c.to_string().len())
        .max()
        .unwrap_or(1);
    for (v, c) in shown {
        let pad = width - v.chars().count();
        out.push_str(&format!("  {v}{}  {c:>cw$}\n", " ".repeat(pad)));
    }
}
