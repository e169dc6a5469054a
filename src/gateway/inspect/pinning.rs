//! Pinning in the gateway: the tools of each `tools/list` answer are checked against the pins
//! of this server (`guards::pins`, kept per server identity: `--server-name`, else the
//! command line), and what pinning says of each tool is handed to `lists`. The first listing
//! of a server pins it; a change, a tool added later, a duplicate or a store that cannot be
//! read makes a tool untrusted (reported, or hidden under `pins: enforce`).

use super::lists::PinNote;
use crate::gateway::Gateway;
use crate::guards::pins::{Page, Pins, Status, ESCALATION};
use crate::guards::Mode;
use serde_json::Value;
use std::collections::HashMap;

/// Where this gateway keeps its pins, and how its server was launched.
pub struct PinContext {
    pub pins: Pins,
    /// The server's launch command line (recorded with the pins; a change is reported).
    pub command: String,
}

impl Gateway {
    /// What pinning says of each listed tool, by name (`page`: which part of a paged list).
    pub(super) fn pin_notes(
        &self,
        tools: &[Value],
        mode: Mode,
        page: Page,
    ) -> HashMap<String, PinNote> {
        let cx = match &self.pins {
            Ok(cx) => cx,
            Err(e) => return self.pins_unreadable(tools, mode, e),
        };
        let identity = self.pins_identity();
        let report = match cx
            .pins
            .check(&identity, &cx.command, tools, page, self.clock.now())
        {
            Ok(r) => r,
            Err(e) => return self.pins_unreadable(tools, mode, &e.to_string()),
        };
        if report.first_seen {
            let n = report
                .tools
                .iter()
                .filter(|t| t.status == Status::Pinned)
                .count();
            let what = format!(
                "pinned {n} tool definitions of {identity} at first sight (in {})",
                cx.pins.dir().display()
            );
            self.term.info(&what);
            self.audit.event(
                crate::audit::Action::Pinned.as_str(),
                "server.pins",
                "first_seen",
                None,
                &what,
            );
        }
        if let Some(c) = &report.command {
            let what = format!(
                "{identity} was pinned when launched as {:?} and is now launched as {:?}",
                c.pinned, c.now
            );
            self.term.warn(&format!(
                "pins: {what}; `sentinel pins accept {}` trusts the new command",
                super::lists::shell_word(&identity)
            ));
            self.audit
                .event("monitored", "server.pins", "command_changed", None, &what);
        }
        for name in &report.removed {
            self.audit.event(
                "monitored",
                "server.pins",
                "pin_removed",
                Some(name),
                &format!("tool {name} is pinned but the server no longer lists it"),
            );
        }
        let mut out = HashMap::new();
        for t in report.tools {
            let note = match t.status {
                Status::Pinned => PinNote::Trusted,
                Status::Changed(c) => {
                    let mut fields: Vec<String> =
                        c.fields.iter().take(5).map(|f| f.path.clone()).collect();
                    if c.fields.len() + c.more > 5 {
                        fields.push(format!("{} more", c.fields.len() + c.more - 5));
                    }
                    let fields = if c.unstored {
                        "its definition".to_owned()
                    } else {
                        fields.join(", ")
                    };
                    let what = if c.escalation {
                        format!("changed from {ESCALATION} since it was pinned ({fields} changed)")
                    } else {
                        format!("its definition changed since it was pinned ({fields})")
                    };
                    PinNote::Untrusted {
                        what,
                        escalation: c.escalation,
                    }
                }
                Status::Added => PinNote::Untrusted {
                    what: "not pinned: the server did not list it when it was pinned".into(),
                    escalation: false,
                },
                Status::Duplicate { count, .. } => PinNote::Untrusted {
                    what: format!("listed {count} times with different definitions"),
                    escalation: false,
                },
                Status::Untracked => PinNote::Untrusted {
                    what: "not pinned: the server has more tools than Sentinel pins".into(),
                    escalation: false,
                },
            };
            out.insert(t.name, note);
        }
        out
    }

    /// The pins could not be read or written: said loudly; under `enforce` no tool is
    /// trusted (fail closed), else every tool passes as it would without pins.
    fn pins_unreadable(&self, tools: &[Value], mode: Mode, e: &str) -> HashMap<String, PinNote> {
        let what = format!("the pins of {} cannot be used: {e}", self.pins_identity());
        self.term.error(&what);
        self.audit
            .event("monitored", "server.pins", "pins_unavailable", None, &what);
        if mode != Mode::Enforce {
            return HashMap::new();
        }
        tools
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(|n| {
                (
                    n.to_owned(),
                    PinNote::Untrusted {
                        what: format!("cannot be checked against its pin ({e})"),
                        escalation: false,
                    },
                )
            })
            .collect()
    }

    /// The name the pins of this server are kept under.
    pub(super) fn pins_identity(&self) -> String {
        self.server_name.clone()
    }
}
