//! Server -> client inspection: which of the server's answers the gateway reads before the
//! client may see them, and what becomes of them. A forwarded request whose answer matters
//! (`initialize`, the `tools/list`, `prompts/list` and `resources/list` families, a
//! `tools/call` under a response cap) is *watched*; while any answer is watched (or the
//! policy audits the server's own requests) the transport holds each of the server's lines
//! whole, up to [`Gateway::inspect_limit`], and asks [`Gateway::server_line`] for a verdict:
//! forward it, or forward a replacement (a list with items removed or sanitised, a capped
//! response). Lines that are not watched answers go on untouched, without being parsed.
//! `lists` judges lists (description scanning, pins, hidden tools), `caps` responses;
//! removed items are remembered here so calls to them are refused.

mod caps;
mod lists;
mod pinning;

pub use pinning::PinContext;

use super::Gateway;
use crate::audit::{Action as AuditAction, Entry};
use crate::base::jsonrpc::{self, RawId};
use crate::base::small_str::SmallStr;
use crate::policy::server::{CapAction, ResponseCap};
use crate::policy::{self, Hit, Policy};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// How many answers may be watched at once. A capped call past it is refused (its answer
/// could not be inspected); a list past it is not inspected (reported).
pub(super) const MAX_WATCHED: usize = 4096;
/// The most of a line held for a list or an uncapped inspection.
pub const MAX_INSPECTED: usize = 16 << 20;

/// Requests whose answers are read.
#[derive(Clone, Debug)]
pub(super) enum Watch {
    Initialize,
    /// `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`;
    /// `continued`: the request carried a cursor (a later page).
    List {
        kind: ListKind,
        continued: bool,
    },
    /// A `tools/call` under a response cap.
    Call(CallWatch),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    fn of(method: &str) -> Option<ListKind> {
        Some(match method {
            "tools/list" => ListKind::Tools,
            "prompts/list" => ListKind::Prompts,
            "resources/list" => ListKind::Resources,
            "resources/templates/list" => ListKind::Templates,
            _ => return None,
        })
    }

    fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::Templates => "resources/templates/list",
        }
    }

    /// The result member holding the items, and the member naming one.
    fn members(self) -> (&'static str, &'static str) {
        match self {
            ListKind::Tools => ("tools", "name"),
            ListKind::Prompts => ("prompts", "name"),
            ListKind::Resources => ("resources", "uri"),
            ListKind::Templates => ("resourceTemplates", "uriTemplate"),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ListKind::Tools => "tool",
            ListKind::Prompts => "prompt",
            ListKind::Resources => "resource",
            ListKind::Templates => "resource template",
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct CallWatch {
    pub(super) tool: String,
    pub(super) cap: ResponseCap,
    /// Whether the tool takes SQL (rows are counted only then).
    pub(super) sql: bool,
}

/// Why an item the server listed was kept from the client.
#[derive(Clone, Debug)]
pub(super) struct Removal {
    pub(super) rule: String,
    pub(super) reason: String,
    pub(super) detail: String,
    pub(super) hint: String,
}

/// The inspection state of a session.
#[derive(Default)]
pub(super) struct Inspect {
    watched: HashMap<SmallStr, Watch>,
    /// Watched requests the client cancelled, oldest first.
    cancelled: Vec<SmallStr>,
    /// Per list kind, the items removed from its last answer, by name (or uri).
    removed: HashMap<(ListKind, String), Removal>,
}

/// What to send the client for one of the server's lines.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerVerdict {
    /// The line as the server wrote it.
    Forward,
    /// This instead (one line, newline included).
    Replace(Vec<u8>),
}

/// What to do with a held line that outgrew [`Gateway::inspect_limit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Send what was held and the rest as it comes (nothing enforced depends on it).
    Stream,
    /// Drop it; [`Gateway::server_discarded`] says what the client gets instead.
    Discard,
}

impl Gateway {
    fn inspect(&self) -> std::sync::MutexGuard<'_, Inspect> {
        self.inspect.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches the answer to request `id` (raw JSON) of `method`, when it is to be read.
    /// Returns a refusal when the answer would have to be inspected and cannot be.
    pub(super) fn watch_answer(
        &self,
        policy: &Policy,
        method: &str,
        tool: Option<&str>,
        continued: bool,
        id: &RawId,
    ) -> Option<Hit> {
        let what = match method {
            "initialize" => Watch::Initialize,
            "tools/call" => {
                let tool = tool.unwrap_or("");
                let cap = policy.server.cap_for(tool)?;
                let sql = self.takes_sql(tool);
                if cap.max_bytes.is_none() && !sql {
                    return None; // only rows, and this tool has none
                }
                Watch::Call(CallWatch {
                    tool: tool.to_owned(),
                    cap: cap.clone(),
                    sql,
                })
            }
            m => Watch::List {
                kind: ListKind::of(m)?,
                continued,
            },
        };
        let mut ins = self.inspect();
        if ins.watched.len() >= MAX_WATCHED {
            // Room first from the requests the client cancelled.
            let cancelled = std::mem::take(&mut ins.cancelled);
            for key in &cancelled {
                ins.watched.remove(key);
            }
        }
        if ins.watched.len() >= MAX_WATCHED {
            drop(ins);
            if let Watch::Call(c) = &what {
                if c.cap.action != policy::server::CapAction::Monitor {
                    return Some(caps::too_many(&c.cap));
                }
            }
            self.term.warn(&format!(
                "{method}: more than {MAX_WATCHED} answers awaited at once; this one is not \
                 inspected"
            ));
            return None;
        }
        ins.watched
            .insert(SmallStr::new(&jsonrpc::id_key(id.as_json())), what);
        self.wants_lines.store(true, Ordering::Release);
        None
    }

    /// Whether the transport should hold the server's lines and ask [`Gateway::server_line`]:
    /// true while an answer the gateway reads is awaited, or the policy audits the server's
    /// own requests.
    pub fn wants_server_lines(&self) -> bool {
        self.wants_lines.load(Ordering::Acquire) || self.policy().audit.server_requests
    }

    /// The most of one line the transport may hold now: the largest byte cap among the
    /// watched calls, else [`MAX_INSPECTED`].
    pub fn inspect_limit(&self) -> usize {
        let ins = self.inspect();
        let mut limit = 0usize;
        for w in ins.watched.values() {
            limit = limit.max(match w {
                // Truncating needs the whole answer (to cut it validly); counting rows too.
                Watch::Call(c) => match c.cap.max_bytes {
                    Some(b) if !c.sql && c.cap.action != CapAction::Truncate => b.saturating_add(1),
                    _ => MAX_INSPECTED,
                },
                _ => MAX_INSPECTED,
            });
        }
        if limit == 0 {
            MAX_INSPECTED
        } else {
            limit
        }
    }

    /// Notes that watched request `key` (an id key) was cancelled: its answer may never come.
    /// The watch stays, so an answer that comes anyway is inspected like any other; when
    /// [`MAX_WATCHED`] answers are awaited, the cancelled ones are forgotten first.
    pub(super) fn watch_cancelled(&self, key: &str) {
        let key = SmallStr::new(key);
        let mut ins = self.inspect();
        if ins.watched.contains_key(&key) && ins.cancelled.len() < MAX_WATCHED {
            ins.cancelled.push(key);
        }
    }

    /// Takes the watches of `ids` (the ids the scanner saw answered on the line).
    fn take_watches(&self, ids: &[String]) -> Vec<(String, Watch)> {
        let mut ins = self.inspect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(w) = ins.watched.remove(&SmallStr::new(&jsonrpc::id_key(id))) {
                out.push((id.clone(), w));
            }
        }
        if !out.is_empty() && !ins.cancelled.is_empty() {
            let Inspect {
                watched, cancelled, ..
            } = &mut *ins;
            cancelled.retain(|k| watched.contains_key(k));
        }
        if ins.watched.is_empty() {
            self.wants_lines.store(false, Ordering::Release);
        }
        out
    }

    /// One complete line of the server's (without its newline), held while
    /// [`Gateway::wants_server_lines`]; `ids` are the response ids the scanner read in it.
    pub fn server_line(&self, line: &[u8], ids: &[String]) -> ServerVerdict {
        let watches = self.take_watches(ids);
        let policy = self.policy();
        if watches.is_empty() {
            if ids.is_empty() && policy.audit.server_requests {
                self.audit_server_request(line);
            }
            return ServerVerdict::Forward;
        }
        // Judged strictly: an ambiguous answer (duplicate keys, bad UTF-8) is not passed on.
        let parsed = std::str::from_utf8(line).ok().and_then(|text| {
            let mut p = crate::base::json::Parser::new(text);
            p.value(0).ok()?;
            p.end().ok()?;
            serde_json::from_str::<Value>(text).ok()
        });
        let Some(mut msg) = parsed else {
            return self.refuse_answers(&watches, "it is not unambiguous JSON");
        };
        let changed = match &mut msg {
            Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.judge_answer(&policy, item, &watches, line.len());
                }
                changed
            }
            one => self.judge_answer(&policy, one, &watches, line.len()),
        };
        if !changed {
            return ServerVerdict::Forward;
        }
        let mut out = serde_json::to_vec(&msg).unwrap_or_default();
        out.push(b'\n');
        ServerVerdict::Replace(out)
    }

    /// Judges one answer against its watch; true when it was changed.
    fn judge_answer(
        &self,
        policy: &Policy,
        msg: &mut Value,
        watches: &[(String, Watch)],
        size: usize,
    ) -> bool {
        let Some(id) = msg.get("id").map(|v| v.to_string()) else {
            return false;
        };
        let key = jsonrpc::id_key(&id);
        let Some((_, watch)) = watches.iter().find(|(i, _)| jsonrpc::id_key(i) == key) else {
            return false;
        };
        let Some(result) = msg.get_mut("result") else {
            return false; // an error answer: nothing to inspect
        };
        match watch {
            Watch::Initialize => {
                self.learn_initialize(result);
                false
            }
            Watch::List { kind, continued } => {
                if *kind == ListKind::Tools {
                    self.learn_tools(result);
                }
                self.judge_list(policy, *kind, *continued, result)
            }
            Watch::Call(c) => self.judge_response(c, &id, msg, size),
        }
    }

    /// A held line outgrew [`Gateway::inspect_limit`] (`ids`: the response ids seen so far).
    pub fn server_overflow(&self) -> Overflow {
        let ins = self.inspect();
        let policy = self.policy();
        let enforced = ins.watched.values().any(|w| match w {
            Watch::Call(c) => c.cap.action != policy::server::CapAction::Monitor,
            Watch::List { .. } => lists::enforces(&policy),
            Watch::Initialize => false,
        });
        if enforced {
            Overflow::Discard
        } else {
            Overflow::Stream
        }
    }

    /// A held line that outgrew the limit was streamed on ([`Overflow::Stream`]) and has
    /// ended (`ids`: the response ids in it): what it answered is reported, not judged.
    pub fn server_streamed(&self, ids: &[String], size: usize) {
        for (id, watch) in self.take_watches(ids) {
            match watch {
                Watch::Call(c) => {
                    if c.cap.max_bytes.is_some_and(|max| size > max) {
                        let max = c.cap.max_bytes.unwrap_or(0);
                        caps::streamed_over(self, &c, &id, size, max);
                    } else {
                        self.term.warn(&format!(
                            "the answer to {} ({size} bytes) was too large to count its rows; \
                             passed on",
                            c.tool
                        ));
                    }
                }
                Watch::List { kind, .. } => self.term.warn(&format!(
                    "the {} answer ({size} bytes) was too large to inspect; passed on",
                    kind.method()
                )),
                Watch::Initialize => {}
            }
        }
    }

    /// What the client gets for a line dropped by [`Overflow::Discard`] (`ids`: the response
    /// ids the scanner read in it): an error for each of them, said on stderr and audited.
    pub fn server_discarded(&self, ids: &[String], size: usize) -> Vec<u8> {
        let watches = self.take_watches(ids);
        let mut out = Vec::new();
        let why = format!(
            "it is larger than Sentinel inspects ({size} bytes or more, limit {})",
            self.inspect_limit()
        );
        for id in ids {
            let watch = watches
                .iter()
                .find(|(i, _)| jsonrpc::id_key(i) == jsonrpc::id_key(id));
            match watch.map(|(_, w)| w) {
                Some(Watch::Call(c)) => out.extend(caps::oversized(self, c, id, size)),
                _ => out.extend(self.refusal_line(id, &why)),
            }
        }
        if ids.is_empty() {
            self.term.warn(&format!(
                "dropped a message from the server that {why}, while an inspected answer was \
                 awaited"
            ));
            self.audit.event(
                "dropped",
                "server.inspect",
                "too_large_to_inspect",
                None,
                &format!("a message from the server that {why}"),
            );
        }
        out
    }

    /// Error answers for watched requests whose answer could not be judged.
    fn refuse_answers(&self, watches: &[(String, Watch)], why: &str) -> ServerVerdict {
        let mut out = Vec::new();
        for (id, _) in watches {
            out.extend(self.refusal_line(id, why));
        }
        ServerVerdict::Replace(out)
    }

    /// An error answer to request `id` saying the server's answer was withheld because `why`.
    fn refusal_line(&self, id: &str, why: &str) -> Vec<u8> {
        let text = format!(
            "Sentinel withheld the server's answer: {why}. Hint: ask the server's operator; \
             retrying will not help."
        );
        self.term
            .warn(&format!("withheld the server's answer to {id}: {why}"));
        self.audit.event(
            "withheld",
            "server.inspect",
            "uninspectable_answer",
            None,
            &format!("answer to request {id}: {why}"),
        );
        let raw = RawId::new(id);
        let mut out = Vec::new();
        jsonrpc::write_error(&mut out, Some(&raw), jsonrpc::WITHHELD, &text, None);
        out
    }

    /// Records a request the server sent the client (sampling, elicitation, roots).
    fn audit_server_request(&self, line: &[u8]) {
        let Ok(msg) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            return;
        };
        if msg.get("id").is_none() {
            return; // a notification
        }
        let explanation = format!("the server asked the client: {method}");
        let redactor = policy::Policy::redactor(&self.policy());
        let details = crate::gateway::answers::redacted(&redactor, line)
            .unwrap_or_else(|| String::from_utf8_lossy(line).into_owned());
        let id = msg.get("id").map(Value::to_string);
        let raw = id.as_deref().map(RawId::new);
        self.audit.record(&Entry {
            message_id: raw.as_ref(),
            method: Some(method),
            tool: None,
            rule: "audit.server_requests",
            reason: "server_request",
            explanation: &explanation,
            hint: "",
            argument: None,
            action: AuditAction::ServerRequest,
            would_have: None,
            details: details.as_bytes(),
            details_is_json: serde_json::from_str::<Value>(&details).is_ok(),
            approval: None,
        });
    }

    /// Why an item of the server's lists was removed, if it was: calls to it are refused.
    pub(super) fn removal(&self, method: &str, name: &str) -> Option<Removal> {
        let kind = match method {
            "tools/call" => ListKind::Tools,
            "prompts/get" => ListKind::Prompts,
            "resources/read" => ListKind::Resources,
            _ => return None,
        };
        self.inspect()
            .removed
            .get(&(kind, name.to_owned()))
            .cloned()
    }
}

impl Gateway {
    /// The refusal of a call to an item the gateway removed from the server's lists.
    pub(super) fn removed_item(
        &self,
        msg: &crate::base::jsonrpc::Message,
    ) -> Option<policy::Decision> {
        let method = msg.method.as_deref()?;
        let params = msg.params.as_ref();
        let name = match method {
            "tools/call" => msg.tool_name(),
            "prompts/get" => params.and_then(|p| p.get("name")).and_then(|n| n.as_str()),
            "resources/read" => params.and_then(|p| p.get("uri")).and_then(|n| n.as_str()),
            _ => None,
        }?;
        let r = self.removal(method, name)?;
        Some(policy::Decision {
            terminal: Some(Hit {
                rule: r.rule,
                action: policy::Action::Block,
                enforced: true,
                reason: r.reason,
                detail: r.detail,
                hint: r.hint,
                pointer: String::new(),
                retry_at: None,
                approval: None,
            }),
            monitored: Vec::new(),
        })
    }
}
