//! What a person is shown and how their answer is read, whatever the channel: the approval
//! request's text (server, tool, rule, reason, the exact arguments with control, bidi,
//! zero-width and escape characters made visible rather than interpreted), the form-mode
//! `elicitation/create` schema with its required decision field, and the reading of an
//! `ElicitResult` (only `accept` with an approving decision approves).

use serde_json::{json, Value};
use std::fmt::Write as _;

/// The decision field of Sentinel's form.
pub const FIELD: &str = "decision";
pub const APPROVE: &str = "approve";
pub const APPROVE_SESSION: &str = "approve_session";
pub const DENY: &str = "deny";

/// What the person is asked about.
pub struct Request<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    pub detail: &'a str,
    pub arguments: Option<&'a Value>,
    pub timeout_s: u64,
    pub allow_session: bool,
}

/// The message of the elicitation: everything a person needs to decide, as plain text.
pub fn message(r: &Request) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "Sentinel is holding a tool call until you approve or deny it."
    );
    let _ = writeln!(m, "Server: {}", visible(r.server));
    let _ = writeln!(m, "Tool: {}", visible(r.tool));
    let _ = writeln!(m, "Rule: {} ({})", visible(r.rule), visible(r.reason));
    let _ = writeln!(m, "Why: {}", visible(r.detail));
    m.push_str(&arguments_text(r.arguments));
    let _ = write!(
        m,
        "Approve only if you expect this exact call. No answer within {} s denies it.",
        r.timeout_s
    );
    m
}

/// `Arguments:` and one line (or block) per argument: strings whole, other values as
/// compact JSON, all with invisible characters made visible.
pub fn arguments_text(args: Option<&Value>) -> String {
    let mut m = String::from("Arguments:");
    match args {
        None | Some(Value::Null) => m.push_str(" (none)\n"),
        Some(Value::Object(map)) if !map.is_empty() => {
            m.push('\n');
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let shown = visible(&text);
                if shown.contains('\n') {
                    let _ = writeln!(m, "  {}:", visible(k));
                    for line in shown.lines() {
                        let _ = writeln!(m, "    {line}");
                    }
                } else {
                    let _ = writeln!(m, "  {}: {shown}", visible(k));
                }
            }
        }
        Some(other) => {
            let _ = writeln!(m, " {}", visible(&other.to_string()));
        }
    }
    m
}

/// `text` with every character that could hide or disguise what it says written as an
/// escape (`\u{202e}`): C0 and C1 controls (so ANSI escapes), bidirectional controls,
/// zero-width characters, tag characters, line and paragraph separators, the BOM. Newlines
/// and tabs stay as they are (SQL is shown whole); a backslash is kept as is.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || crate::base::visible::hidden(c)
}

/// The form's schema: one required decision.
pub fn schema(allow_session: bool) -> Value {
    let (values, names): (Vec<&str>, Vec<&str>) = if allow_session {
        (
            vec![APPROVE, APPROVE_SESSION, DENY],
            vec![
                "Approve once",
                "Approve this exact call for the rest of the session",
                "Deny",
            ],
        )
    } else {
        (vec![APPROVE, DENY], vec!["Approve once", "Deny"])
    };
    json!({
        "type": "object",
        "properties": {
            FIELD: {
                "type": "string",
                "title": "Your decision",
                "description": "approve lets this call through; deny refuses it",
                "enum": values,
                "enumNames": names,
            }
        },
        "required": [FIELD],
    })
}

/// The params of Sentinel's form-mode `elicitation/create`.
pub fn params(r: &Request) -> Value {
    json!({
        "mode": "form",
        "message": message(r),
        "requestedSchema": schema(r.allow_session),
    })
}

/// A person's answer, read from an `ElicitResult`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    Approve {
        session: bool,
    },
    /// Not an approval, and why (for the audit log and the agent).
    Deny(String),
}

/// Reads an `ElicitResult`: only `action: "accept"` with an approving decision approves.
pub fn read_result(result: &Value) -> Reading {
    match result.get("action").and_then(Value::as_str) {
        Some("accept") => {
            match result
                .get("content")
                .and_then(|c| c.get(FIELD))
                .and_then(Value::as_str)
            {
                Some(APPROVE) => Reading::Approve { session: false },
                Some(APPROVE_SESSION) => Reading::Approve { session: true },
                Some(DENY) => Reading::Deny("the user chose deny".into()),
                Some(other) => Reading::Deny(format!(
                    "the answer's decision {:?} is not one Sentinel offered",
                    visible(other)
                )),
                None => Reading::Deny("the accepted form carried no decision".into()),
            }
        }
        Some("decline") => Reading::Deny("the user declined".into()),
        Some("cancel") => Reading::Deny("the user dismissed the request".into()),
        _ => Reading::Deny("the client's answer was not a valid ElicitResult".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_shown_as_escapes_and_sql_stays_whole() {
        assert_eq!(visible("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(visible("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(visible("x\u{200b}y\u{e0041}"), "x\\u{200b}y\\u{e0041}");
        assert_eq!(visible("\u{9b}"), "\\u{9b}");
        assert_eq!(
            visible("DROP TABLE t;\n\tDELETE FROM u"),
            "DROP TABLE t;\n\tDELETE FROM u"
        );
        assert_eq!(visible("caf\u{e9} \u{4e2d}"), "caf\u{e9} \u{4e2d}");
        let args = json!({"sql": "DROP TABLE users\u{202e} --", "n": 1});
        let text = arguments_text(Some(&args));
        assert!(
            text.contains("  sql: DROP TABLE users\\u{202e} --\n"),
            "{text}"
        );
        assert!(text.contains("  n: 1\n"), "{text}");
    }

    #[test]
    fn only_an_accepted_approving_decision_approves() {
        let r = |v: Value| read_result(&v);
        assert_eq!(
            r(json!({"action":"accept","content":{"decision":"approve"}})),
            Reading::Approve { session: false }
        );
        assert_eq!(
            r(json!({"action":"accept","content":{"decision":"approve_session"}})),
            Reading::Approve { session: true }
        );
        for v in [
            json!({"action":"accept","content":{"decision":"deny"}}),
            json!({"action":"accept","content":{"decision":"yes"}}),
            json!({"action":"accept","content":{}}),
            json!({"action":"accept"}),
            json!({"action":"decline","content":{"decision":"approve"}}),
            json!({"action":"cancel"}),
            json!({"content":{"decision":"approve"}}),
            json!("approve"),
        ] {
            assert!(matches!(r(v.clone()), Reading::Deny(_)), "{v}");
        }
    }

    #[test]
    fn the_session_choice_is_offered_only_when_allowed() {
        assert!(schema(true).to_string().contains(APPROVE_SESSION));
        assert!(!schema(false).to_string().contains(APPROVE_SESSION));
        assert_eq!(schema(false)["required"], json!([FIELD]));
    }
}
