//! Response caps: a `tools/call` answer larger than its cap's `max_bytes`, or (for a tool that
//! takes SQL) carrying more rows than its `max_rows`, is reported, replaced by an error result
//! saying why, or cut to the cap with a note, as the cap says. Rows are counted by
//! `guards::rows` from structured content or from the text shapes servers write.

use super::CallWatch;
use crate::audit::{Action as AuditAction, Entry};
use crate::base::jsonrpc::{self, RawId};
use crate::gateway::Gateway;
use crate::guards::rows;
use crate::policy::server::{CapAction, ResponseCap};
use crate::policy::{Action, Hit};
use serde_json::{json, Value};

/// How an answer went over its cap.
enum Over {
    Bytes {
        size: usize,
        max: usize,
    },
    Rows {
        rows: usize,
        max: u64,
        shape: rows::Shape,
    },
}

impl Over {
    fn reason(&self) -> &'static str {
        match self {
            Over::Bytes { .. } => "response_too_large",
            Over::Rows { .. } => "too_many_rows",
        }
    }

    fn says(&self) -> String {
        match self {
            Over::Bytes { size, max } => {
                format!("it is {size} bytes, over the cap of {max} bytes")
            }
            Over::Rows { rows, max, shape } => format!(
                "it has {rows} rows ({} text), over the cap of {max} rows",
                shape.as_str()
            ),
        }
    }

    fn hint(&self) -> String {
        match self {
            Over::Bytes { .. } => {
                "ask for less at a time (a smaller range, a page, a narrower path)".into()
            }
            Over::Rows { max, .. } => {
                format!("ask for at most {max} rows (add LIMIT {max}) or narrow the query")
            }
        }
    }
}

/// The refusal of a capped call when too many answers are awaited to inspect one more.
pub(super) fn too_many(cap: &ResponseCap) -> Hit {
    Hit {
        rule: cap.id.clone(),
        action: Action::Block,
        enforced: true,
        reason: "too_many_inspected".into(),
        detail: format!(
            "more than {} answers are awaited at once, and this tool's answer must be inspected",
            super::MAX_WATCHED
        ),
        hint: "wait for earlier calls to finish, then retry".into(),
        pointer: String::new(),
        retry_at: None,
        approval: None,
    }
}

/// The error result that replaces a withheld answer.
fn error_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// What replaces an answer to a capped call that was too large to hold at all.
pub(super) fn oversized(gw: &Gateway, c: &CallWatch, id: &str, size: usize) -> Vec<u8> {
    let over = Over::Bytes {
        size,
        max: c.cap.max_bytes.unwrap_or(super::MAX_INSPECTED),
    };
    gw.note_cap(c, id, &over, AuditAction::Capped, None);
    let text = format!(
        "Sentinel withheld this response ({}): {} (it was not held whole). Hint: {}.",
        c.cap.id,
        over.says(),
        over.hint()
    );
    let result = serde_json::to_vec(&error_result(&text)).unwrap_or_default();
    let mut out = Vec::new();
    jsonrpc::write_result(&mut out, Some(&RawId::new(id)), &result);
    out
}

/// Reports a monitored cap's answer that went over it and was streamed on.
pub(super) fn streamed_over(gw: &Gateway, c: &CallWatch, id: &str, size: usize, max: usize) {
    let over = Over::Bytes { size, max };
    gw.note_cap(c, id, &over, AuditAction::Monitored, Some("block"));
}

impl Gateway {
    /// Judges the answer `msg` (a whole response object of `size` bytes) to a capped call;
    /// true when it was changed.
    pub(super) fn judge_response(
        &self,
        c: &CallWatch,
        id: &str,
        msg: &mut Value,
        size: usize,
    ) -> bool {
        let Some(result) = msg.get_mut("result") else {
            return false;
        };
        let mut over = None;
        if let Some(max) = c.cap.max_bytes {
            if size > max {
                over = Some(Over::Bytes { size, max });
            }
        }
        if over.is_none() && c.sql {
            if let Some(max) = c.cap.max_rows {
                if let Some((rows, shape)) = rows::count_rows(result) {
                    if rows as u64 > max {
                        over = Some(Over::Rows { rows, max, shape });
                    }
                }
            }
        }
        let Some(over) = over else { return false };
        match c.cap.action {
            CapAction::Monitor => {
                self.note_cap(c, id, &over, AuditAction::Monitored, Some("block"));
                false
            }
            CapAction::Block => {
                self.note_cap(c, id, &over, AuditAction::Capped, None);
                let text = format!(
                    "Sentinel withheld this response ({}): {}. Hint: {}.",
                    c.cap.id,
                    over.says(),
                    over.hint()
                );
                *result = error_result(&text);
                true
            }
            CapAction::Truncate => {
                self.note_cap(c, id, &over, AuditAction::Capped, Some("truncate"));
                match &over {
                    Over::Rows { max, .. } => {
                        let max = usize::try_from(*max).unwrap_or(usize::MAX);
                        if rows::truncate_rows(result, max).is_none() {
                            cut_text(result, size.min(1 << 20), &c.cap.id);
                        }
                    }
                    Over::Bytes { max, .. } => cut_text(result, *max, &c.cap.id),
                }
                true
            }
        }
    }

    fn note_cap(
        &self,
        c: &CallWatch,
        id: &str,
        over: &Over,
        action: AuditAction,
        would_have: Option<&str>,
    ) {
        let says = over.says();
        let (bytes, rows, shape) = match over {
            Over::Bytes { size, .. } => (Some(*size), None, None),
            Over::Rows { rows, shape, .. } => (None, Some(*rows), Some(shape.as_str())),
        };
        let details = json!({"bytes": bytes, "rows": rows, "shape": shape}).to_string();
        let explanation = format!("the answer to {}: {says}", c.tool);
        let verb = match (action, would_have) {
            (AuditAction::Monitored, _) => "passed on",
            (_, Some("truncate")) => "cut to the cap",
            _ => "replaced by an error",
        };
        self.term.alert(|| {
            (
                format!("tools/call {} rule={}", c.tool, c.cap.id),
                vec![format!("{}: {explanation} ({verb})", over.reason())],
            )
        });
        let raw = RawId::new(id);
        let hint = over.hint();
        self.audit.record(&Entry {
            message_id: Some(&raw),
            method: Some("tools/call"),
            tool: Some(&c.tool),
            rule: &c.cap.id,
            reason: over.reason(),
            explanation: &explanation,
            hint: &hint,
            argument: None,
            action,
            would_have: if action == AuditAction::Monitored {
                would_have
            } else {
                None
            },
            details: details.as_bytes(),
            details_is_json: true,
            approval: None,
        });
    }
}

/// Cuts a result's text content to about `max` bytes in all, drops what does not fit
/// (structured content included, which no longer matches), and says so in a last text item.
fn cut_text(result: &mut Value, max: usize, cap: &str) {
    let budget = max.saturating_sub(512);
    let mut used = 0usize;
    let mut kept = Vec::new();
    if let Some(Value::Array(content)) = result.get_mut("content") {
        for mut item in content.drain(..) {
            if used >= budget {
                break;
            }
            let len = serde_json::to_string(&item).map_or(0, |s| s.len());
            if used + len <= budget {
                used += len;
                kept.push(item);
                continue;
            }
            if let Some(Value::String(text)) = item.get_mut("text") {
                let mut cut = budget - used;
                while cut > 0 && !text.is_char_boundary(cut.min(text.len())) {
                    cut -= 1;
                }
                text.truncate(cut.min(text.len()));
                kept.push(item);
            }
            break;
        }
    }
    kept.push(json!({"type": "text", "text": format!(
        "[Sentinel: the rest of this response was withheld by the response cap {cap}]"
    )}));
    if let Some(obj) = result.as_object_mut() {
        obj.remove("structuredContent");
        obj.insert("content".into(), Value::Array(kept));
    }
}
