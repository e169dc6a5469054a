//! What the gateway writes when it refuses something: the JSON-RPC answer (an error, or a
//! tool result with `isError` under `--block-as result`), the alert on stderr and the audit
//! entry, with every secret the message holds redacted from all three, and the argument
//! paths the policy's `audit.redact` names from every audit entry (the forwarded bytes are
//! never touched).

use super::session::{remember_answered, ClientSide};
use super::{BlockAs, Gateway};
use crate::audit::{Action as AuditAction, Entry};
use crate::base::jsonrpc::{self, Kind, Message, RawId, Refusal};
use crate::guards::secrets;
use crate::policy::{self, Hit};
use std::borrow::Cow;

impl Gateway {
    /// Audits a decision about a message; returns its explanation, with any secret redacted.
    pub(super) fn record<'h>(
        &self,
        msg: &Message,
        raw: &[u8],
        hit: &'h Hit,
        action: AuditAction,
    ) -> Cow<'h, str> {
        self.record_note(msg, raw, hit, action, None)
    }

    /// [`Gateway::record`] with the `approval` object of a held, approved or denied call.
    pub(super) fn record_note<'h>(
        &self,
        msg: &Message,
        raw: &[u8],
        hit: &'h Hit,
        action: AuditAction,
        approval: Option<crate::audit::ApprovalNote>,
    ) -> Cow<'h, str> {
        let would_have = (action == AuditAction::Monitored
            && hit.action != policy::Action::Monitor)
            .then(|| hit.action.as_str());
        let policy = self.policy();
        let redactor = policy.redactor();
        // The argument paths the policy keeps out of the log (`audit.redact`) go first, then
        // any secret left.
        let (by_path, hidden) = redact_paths(&policy.audit.redact, raw).unwrap_or_default();
        let source = by_path.as_deref().map_or(raw, str::as_bytes);
        let details = redacted(&redactor, source);
        // The id and the tool name are the message's too: a secret there is redacted as well.
        let message_id = msg
            .id
            .as_ref()
            .map(|id| match redactor.redact(id.as_json()) {
                Some(r) => Cow::Owned(RawId::new(&r)),
                None => Cow::Borrowed(id),
            });
        let tool = msg.tool_name().map(|t| clean(&redactor, t));
        let explanation = hide(&hidden, clean(&redactor, &hit.detail));
        let hint = hide(&hidden, Cow::Borrowed(hit.hint.as_str()));
        self.audit.record(&Entry {
            message_id: message_id.as_deref(),
            method: msg.method.as_deref(),
            tool: tool.as_deref(),
            rule: &hit.rule,
            reason: &hit.reason,
            explanation: &explanation,
            hint: &hint,
            argument: Some(hit.pointer.as_str()).filter(|p| !p.is_empty()),
            action,
            would_have,
            details: details.as_deref().map_or(source, str::as_bytes),
            details_is_json: true,
            approval,
        });
        if action == AuditAction::Monitored {
            self.term.monitored(&format!(
                "{} rule={}{}",
                self.headline(msg),
                hit.rule,
                would_have.map_or(String::new(), |w| format!(" (would {w})"))
            ));
        }
        explanation
    }

    /// Text derived from a message (an explanation quoting it, its id, its tool name) with
    /// any secret redacted.
    pub(super) fn clean<'t>(&self, text: &'t str) -> Cow<'t, str> {
        clean(&self.policy().redactor(), text)
    }

    /// `method id=.. tool=..` for stderr, with any secret in the id or tool name redacted.
    pub(super) fn headline(&self, msg: &Message) -> String {
        self.clean(&headline(msg)).into_owned()
    }

    pub(super) fn block(
        &self,
        client: &mut ClientSide,
        msg: &Message,
        raw: &[u8],
        hit: &Hit,
        reply: &mut Vec<u8>,
    ) {
        let approve = hit.action == policy::Action::Approve;
        let action = if approve {
            AuditAction::ApprovalRequired
        } else {
            AuditAction::Blocked
        };
        let detail = self.record(msg, raw, hit, action);
        let rule = hit.rule.as_str();
        self.term.alert(|| {
            (
                format!("{} rule={rule}", self.headline(msg)),
                vec![
                    format!("{}: {detail}", hit.reason),
                    format!("hint: {}", hit.hint),
                ],
            )
        });

        let Some(id) = msg.id.as_ref().filter(|_| msg.kind == Kind::Request) else {
            return; // a notification: dropped and audited, nothing to answer
        };
        self.write_refusal(msg, id, hit, &detail, None, reply);
        remember_answered(client, id);
    }

    /// Writes the answer refusing request `id` (an error, or a tool result under
    /// `--block-as result`), saying `detail`.
    pub(super) fn write_refusal(
        &self,
        msg: &Message,
        id: &RawId,
        hit: &Hit,
        detail: &str,
        outcome: Option<&str>,
        reply: &mut Vec<u8>,
    ) {
        let rule = hit.rule.as_str();
        let approve = hit.action == policy::Action::Approve;
        // "Blocked by Sentinel (RULE): DETAIL. Hint: HINT."
        let (detail_text, hint_text) =
            (detail.trim_end_matches('.'), hit.hint.trim_end_matches('.'));
        let mut text = String::with_capacity(40 + rule.len() + detail_text.len() + hint_text.len());
        let lead = match outcome {
            Some(_) => "Not approved (",
            None => "Blocked by Sentinel (",
        };
        for part in [lead, rule, "): ", detail_text, ". Hint: ", hint_text, "."] {
            text.push_str(part);
        }
        let tool = msg.tool_name();
        reply.reserve(2 * text.len() + 256);
        // Unreadable params are a protocol error, answered as one whatever --block-as says.
        let invalid = rule == INVALID_PARAMS;
        // Only a tool call can be answered with a tool result.
        let block_as = match msg.method.as_deref() {
            Some("tools/call") => self.block_as,
            _ => BlockAs::Error,
        };
        match block_as {
            _ if invalid => {
                let data = jsonrpc::string_object(&[
                    ("rule", Some(rule)),
                    ("reason", Some(&hit.reason)),
                    ("detail", Some(detail)),
                    ("hint", Some(&hit.hint)),
                ]);
                let message = format!("Invalid params: {detail}");
                jsonrpc::write_error(
                    reply,
                    Some(id),
                    jsonrpc::INVALID_PARAMS,
                    &message,
                    Some(&data),
                );
            }
            BlockAs::Error => {
                let data = jsonrpc::string_object(&[
                    ("rule", Some(rule)),
                    ("reason", Some(&hit.reason)),
                    ("detail", Some(detail)),
                    ("hint", Some(&hit.hint)),
                    (
                        "argument",
                        Some(hit.pointer.as_str()).filter(|p| !p.is_empty()),
                    ),
                    ("tool", tool),
                    ("action", Some(hit.action.as_str())),
                    ("approval", outcome),
                    ("retry_at", hit.retry_at.as_deref()),
                ]);
                let code = if approve {
                    jsonrpc::APPROVAL_REQUIRED
                } else {
                    jsonrpc::BLOCKED
                };
                jsonrpc::write_error(reply, Some(id), code, &text, Some(&data));
            }
            BlockAs::Result => {
                let mut result = b"{\"content\":[{\"type\":\"text\",\"text\":".to_vec();
                jsonrpc::push_json_str(&mut result, &text);
                result.extend_from_slice(b"}],\"isError\":true}");
                jsonrpc::write_result(reply, Some(id), &result);
            }
        }
    }

    /// Answers and audits a line that could not be parsed unambiguously.
    pub(super) fn refuse(
        &self,
        client: &mut ClientSide,
        r: &Refusal,
        raw: &[u8],
        reply: &mut Vec<u8>,
    ) {
        let policy = self.policy();
        let redactor = policy.redactor();
        let (by_path, hidden) = redact_paths(&policy.audit.redact, raw).unwrap_or_default();
        let problem = hide(&hidden, clean(&redactor, &r.problem.to_string())).into_owned();
        let source = match by_path {
            Some(text) => Cow::Owned(text.into_bytes()),
            None if withheld(&policy.audit.redact, raw) => Cow::Borrowed(WITHHELD.as_bytes()),
            None => Cow::Borrowed(raw),
        };
        let details = redacted(&redactor, &source);
        let hint = "send exactly one JSON-RPC 2.0 object (or batch) per line: valid UTF-8 JSON, \
                    no duplicate keys, nested at most 100 levels";
        let (title, rule) = (policy::MALFORMED_TITLE, policy::MALFORMED);
        self.audit.record(&Entry {
            message_id: r.id.as_ref(),
            method: None,
            tool: None,
            rule,
            reason: title,
            explanation: &problem,
            hint,
            argument: None,
            action: AuditAction::Blocked,
            would_have: None,
            details: details.as_deref().map_or(&source, str::as_bytes),
            details_is_json: false,
            approval: None,
        });
        self.term.alert(|| {
            (
                format!("malformed message rule={rule}"),
                vec![problem.clone()],
            )
        });
        let message = if r.code == jsonrpc::PARSE_ERROR {
            format!("Parse error: {problem}")
        } else {
            format!("Invalid Request: {problem}")
        };
        let data = jsonrpc::string_object(&[
            ("rule", Some(rule)),
            ("reason", Some(title)),
            ("detail", Some(&problem)),
            ("hint", Some(hint)),
        ]);
        jsonrpc::write_error(reply, r.id.as_ref(), r.code, &message, Some(&data));
        if let Some(id) = &r.id {
            remember_answered(client, id);
        }
    }
}

/// The message with every secret in it redacted, when it has one: the audit log never holds
/// a detected secret in clear. Redacted messages are re-serialized (compact, keys sorted); the
/// others are kept byte for byte.
pub(super) fn redacted(redactor: &secrets::Scanner, raw: &[u8]) -> Option<String> {
    // A judged message is UTF-8 already; only a refused line may not be.
    let text = match std::str::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(raw),
    };
    // Without escapes, every string of the message is in the raw text verbatim: a secret the
    // raw text does not show is in no string either (the common, cheap case).
    let in_clear = redactor.find(&text).is_some();
    if !text.contains('\\') && !in_clear {
        return None;
    }
    // A line JSON cannot represent faithfully (a duplicated key keeps only its last value)
    // may show a secret the parsed form has lost: redact the text itself then.
    redactor
        .redact_json(&text)
        .or_else(|| in_clear.then(|| redactor.redact(&text)).flatten())
}

/// What a value at a redacted argument path is replaced with (in the style of the secret
/// redactor's `[REDACTED <kind>]`).
pub(super) const REDACTED_ARGUMENT: &str = "[REDACTED argument]";

/// The `details` of a line that is not JSON when it may hold a value the policy redacts.
const WITHHELD: &str = "[REDACTED message: not JSON, and it may hold a redacted argument]";

/// The message with the value at each of `paths` (JSON Pointers into `params.arguments`)
/// replaced by [`REDACTED_ARGUMENT`], re-serialized (compact, keys sorted), and the texts of
/// the values it hid (to hide them from the explanation too). `None` when no path finds a
/// value (or the message is not JSON): the message is kept as it is.
fn redact_paths(paths: &[String], raw: &[u8]) -> Option<(Option<String>, Vec<String>)> {
    use serde_json::Value;
    if paths.is_empty() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(raw).ok()?;
    let args = v.get_mut("params")?.get_mut("arguments")?;
    let mut hidden = Vec::new();
    let mut changed = false;
    for p in paths {
        if let Some(slot) = locate(args, &policy::audit_policy::pointer_tokens(p)) {
            leaves(slot, &mut hidden);
            *slot = Value::String(REDACTED_ARGUMENT.into());
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    hidden.retain(|h| h != REDACTED_ARGUMENT && !h.is_empty());
    // Longest first, so a value containing another is hidden whole.
    hidden.sort_by_key(|h| std::cmp::Reverse(h.len()));
    // Writing a value read from JSON does not fail; if it did, nothing of it is kept.
    let text = serde_json::to_string(&v).unwrap_or_else(|_| format!("\"{WITHHELD}\""));
    Some((Some(text), hidden))
}

/// The value `tokens` lead to from `v`, if there is one. RFC 6901: an array index is digits,
/// without leading zeros.
fn locate<'v>(
    v: &'v mut serde_json::Value,
    tokens: &[String],
) -> Option<&'v mut serde_json::Value> {
    use serde_json::Value;
    let Some((first, rest)) = tokens.split_first() else {
        return Some(v);
    };
    let next = match v {
        Value::Object(map) => map.get_mut(first)?,
        Value::Array(items) => {
            let digits = !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit());
            if !digits || (first.len() > 1 && first.starts_with('0')) {
                return None;
            }
            items.get_mut(first.parse::<usize>().ok()?)?
        }
        _ => return None,
    };
    locate(next, rest)
}

/// The scalar texts inside `v` (strings as they are, numbers and booleans as JSON writes them).
fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::Null => {}
        Value::String(s) => out.push(s.clone()),
        Value::Bool(_) | Value::Number(_) => out.push(v.to_string()),
        Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        Value::Object(map) => map.values().for_each(|i| leaves(i, out)),
    }
}

/// `text` with each of `hidden` replaced by [`REDACTED_ARGUMENT`]: wherever it appears quoted
/// (`"v"` as JSON or Rust write it, `'v'`), and anywhere at all when it is 4 characters or
/// longer (a shorter value is too likely to be an ordinary word of the sentence).
fn hide<'t>(hidden: &[String], text: Cow<'t, str>) -> Cow<'t, str> {
    let mut out = text;
    for h in hidden {
        let quoted = [
            serde_json::to_string(h).unwrap_or_default(),
            format!("{h:?}"),
            format!("'{h}'"),
        ];
        for q in quoted {
            if out.contains(q.as_str()) {
                let marker = format!("\"{REDACTED_ARGUMENT}\"");
                out = Cow::Owned(out.replace(q.as_str(), &marker));
            }
        }
        if h.chars().count() >= 4 && out.contains(h.as_str()) {
            out = Cow::Owned(out.replace(h.as_str(), REDACTED_ARGUMENT));
        }
    }
    out
}

/// Whether a line that is not JSON may hold a value the policy redacts: it names (quoted, as
/// a key would be) the last step of one of the paths. Such a line's `details` are withheld.
fn withheld(paths: &[String], raw: &[u8]) -> bool {
    if paths.is_empty() || serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok() {
        return false;
    }
    let text = String::from_utf8_lossy(raw);
    paths.iter().any(|p| {
        let last = policy::audit_policy::pointer_tokens(p)
            .pop()
            .unwrap_or_default();
        text.contains(&format!("\"{last}\""))
    })
}

/// `text` with any secret redacted.
pub(super) fn clean<'t>(redactor: &secrets::Scanner, text: &'t str) -> Cow<'t, str> {
    redactor
        .redact(text)
        .map_or(Cow::Borrowed(text), Cow::Owned)
}

/// The refusal when inspecting a call panicked (fail closed).
/// The rule id of a `tools/call` refused because its `params` cannot be read unambiguously.
pub(super) const INVALID_PARAMS: &str = "jsonrpc.invalid_params";

/// The refusal of a `tools/call` whose `params` is there but not an object, or whose `name` or
/// `arguments` is there but not a string or an object: judging it would mean guessing what the
/// server makes of it, so it is refused (in every mode), never forwarded unread. A call without
/// params or without a name, or with `arguments: null`, hides nothing and goes on (the server
/// answers its own error, or reads null as no arguments).
pub(super) fn invalid_params(msg: &Message) -> Option<Hit> {
    use crate::base::jsonrpc::Json;
    let kind = |v: &Json| match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Int(_) | Json::UInt(_) | Json::Float(_) => "a number",
        Json::Str(_) => "a string",
        Json::Arr(_) => "an array",
        Json::Obj(_) => "an object",
    };
    let detail = match &msg.params {
        None => return None,
        Some(p @ Json::Obj(_)) => match (p.get("name"), p.get("arguments")) {
            (Some(n), _) if n.as_str().is_none() => {
                format!("tools/call params.name is {}, not a string", kind(n))
            }
            // null is "no arguments" to the Python SDK (an error to the TypeScript one): it
            // hides nothing, and is judged as no arguments.
            (_, Some(a)) if !matches!(a, Json::Obj(_) | Json::Null) => {
                format!("tools/call params.arguments is {}, not an object", kind(a))
            }
            _ => return None,
        },
        Some(p) => format!("tools/call params is {}, not an object", kind(p)),
    };
    Some(Hit {
        rule: INVALID_PARAMS.into(),
        action: policy::Action::Block,
        enforced: true,
        reason: "Invalid Params".into(),
        detail,
        hint: "send params as an object: {\"name\": \"TOOL\", \"arguments\": {...}}, with \
               arguments an object (or left out)"
            .into(),
        pointer: String::new(),
        retry_at: None,
        approval: None,
    })
}

/// The entry of a `tools/call` no rule decided, forwarded with nothing to report (written
/// when the policy's `audit.log_allowed` is on; a call an `allow` rule let through is
/// recorded with that rule's own id and reason instead).
pub(super) fn allowed(msg: &Message) -> Hit {
    Hit {
        rule: "default".into(),
        action: policy::Action::Allow,
        enforced: true,
        reason: "Allowed".into(),
        detail: format!(
            "no rule refused tool {:?}: forwarded (default_action: allow)",
            msg.tool_name().unwrap_or("")
        ),
        hint: String::new(),
        pointer: String::new(),
        retry_at: None,
        approval: None,
    }
}

pub(super) fn internal_error() -> Hit {
    Hit {
        rule: "sentinel.internal_error".into(),
        action: policy::Action::Block,
        enforced: true,
        reason: "Inspection Failed".into(),
        detail: "the arguments could not be inspected (internal error)".into(),
        hint: "simplify the arguments; report this to your Sentinel maintainers".into(),
        pointer: String::new(),
        retry_at: None,
        approval: None,
    }
}

fn headline(msg: &Message) -> String {
    let id = msg.id.as_ref().map_or("-", RawId::as_json);
    let method = msg.method.as_deref().unwrap_or("-");
    match msg.tool_name() {
        Some(tool) => format!("{method} id={id} tool={tool}"),
        None => format!("{method} id={id}"),
    }
}
