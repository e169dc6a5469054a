//! What the gateway learns about the server from its own answers, for the SQL guard: the
//! tools it defines (from `tools/list` results: which arguments carry SQL) and the database
//! it fronts (from its command line, `serverInfo` and tool descriptions). The gateway watches
//! the ids of the client's `initialize` and `tools/list` requests; the transport hands it the
//! server's complete lines only while such an answer is awaited, so other traffic is never
//! parsed twice.

use super::Gateway;
use crate::base::jsonrpc;
use crate::base::small_str::SmallStr;
use crate::guards::sql::{conventions, Convention};
use crate::policy::ToolDef;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Requests whose answers tell about the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Watch {
    Initialize,
    ToolsList,
}

/// How many tool definitions are kept (a server listing more keeps its first ones).
const MAX_TOOLS: usize = 4096;
/// How many watched requests may wait at once (more are not watched).
const MAX_WATCHED: usize = 64;

/// What is known of the server.
#[derive(Default)]
pub(super) struct Facts {
    watched: Vec<(SmallStr, Watch)>,
    tools: HashMap<String, Arc<ToolDef>>,
    server_info: Option<String>,
    target: Option<Convention>,
}

impl Gateway {
    /// Notes that the answer to the request `id` (raw JSON) is to be read.
    pub(super) fn watch(&self, id: &str, what: Watch) {
        let mut f = self.facts();
        if f.watched.len() < MAX_WATCHED {
            f.watched.push((SmallStr::new(&jsonrpc::id_key(id)), what));
            self.wants_lines.store(true, Ordering::Release);
        }
    }

    /// Whether the transport should hand over the server's complete lines
    /// ([`Gateway::server_line`]): true while an answer the gateway reads is awaited.
    pub fn wants_server_lines(&self) -> bool {
        self.wants_lines.load(Ordering::Acquire)
    }

    /// One complete line from the server, while [`Gateway::wants_server_lines`]. Lines that
    /// are not the awaited answers are ignored.
    pub fn server_line(&self, line: &[u8]) {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            return;
        };
        let Some(id) = msg.get("id").filter(|_| msg.get("method").is_none()) else {
            return;
        };
        let Ok(raw) = serde_json::to_string(id) else {
            return;
        };
        let key = SmallStr::new(&jsonrpc::id_key(&raw));
        let mut f = self.facts();
        let Some(i) = f.watched.iter().position(|(k, _)| *k == key) else {
            return;
        };
        let (_, what) = f.watched.remove(i);
        if f.watched.is_empty() {
            self.wants_lines.store(false, Ordering::Release);
        }
        let Some(result) = msg.get("result") else {
            return;
        };
        match what {
            Watch::Initialize => {
                let info = result.get("serverInfo");
                let name = ["name", "title"]
                    .iter()
                    .filter_map(|k| info.and_then(|i| i.get(*k)).and_then(|v| v.as_str()))
                    .collect::<Vec<_>>()
                    .join(" ");
                f.server_info = Some(name);
            }
            Watch::ToolsList => {
                for tool in result
                    .get("tools")
                    .and_then(|t| t.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(def) = ToolDef::from_json(tool) {
                        if f.tools.len() < MAX_TOOLS || f.tools.contains_key(&def.name) {
                            f.tools.insert(def.name.clone(), Arc::new(def));
                        }
                    }
                }
            }
        }
        f.target = self.infer_target(&f);
    }

    /// The database behind the server: from its name and `serverInfo` when they name one,
    /// else from its tools' descriptions.
    fn infer_target(&self, f: &Facts) -> Option<Convention> {
        let mut hints = vec![self.server_name.as_str()];
        if let Some(info) = &f.server_info {
            hints.push(info);
        }
        if let Some(c) = conventions::infer(&hints) {
            return Some(c);
        }
        let texts: Vec<&str> = f.tools.values().map(|d| d.text()).collect();
        conventions::infer(&texts)
    }

    /// The definition of `tool` and the inferred database, for judging a call to it.
    pub(super) fn server_facts(
        &self,
        tool: Option<&str>,
    ) -> (Option<Arc<ToolDef>>, Option<Convention>) {
        let f = self.facts();
        let def = tool.and_then(|t| f.tools.get(t).cloned());
        let target = f.target.or(self.name_target);
        (def, target)
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }
}
