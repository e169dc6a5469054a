//! What the gateway learns about the server from its own answers, for the SQL guard: the
//! tools it defines (from `tools/list` results: which arguments carry SQL) and the database
//! it fronts (from its command line, `serverInfo` and tool descriptions). `inspect` watches
//! the answers and hands them here before judging them.

use super::Gateway;
use crate::guards::sql::{conventions, Convention};
use crate::policy::ToolDef;
use std::collections::HashMap;
use std::sync::Arc;

/// How many tool definitions are kept (a server listing more keeps its first ones).
const MAX_TOOLS: usize = 4096;

/// What is known of the server.
#[derive(Default)]
pub(super) struct Facts {
    tools: HashMap<String, Arc<ToolDef>>,
    /// Whether each tool called so far takes SQL (cleared when the definitions change).
    takes_sql: HashMap<String, bool>,
    server_info: Option<String>,
    target: Option<Convention>,
}

impl Gateway {
    /// Learns from an `initialize` result: the server's name and title.
    pub(super) fn learn_initialize(&self, result: &serde_json::Value) {
        let mut f = self.facts();
        let info = result.get("serverInfo");
        let name = ["name", "title"]
            .iter()
            .filter_map(|k| info.and_then(|i| i.get(*k)).and_then(|v| v.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        f.server_info = Some(name);
        f.target = self.infer_target(&f);
    }

    /// Learns from a `tools/list` result (before it is judged): the tools' definitions.
    pub(super) fn learn_tools(&self, result: &serde_json::Value) {
        let mut f = self.facts();
        f.takes_sql.clear();
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

    /// Whether `tool` takes SQL (its name says so, or its definition has an argument that
    /// carries SQL), remembered per tool so a call pays one lookup.
    pub(super) fn takes_sql(&self, tool: &str) -> bool {
        let mut f = self.facts();
        if let Some(&known) = f.takes_sql.get(tool) {
            return known;
        }
        let def = f.tools.get(tool).cloned();
        let sql = crate::policy::sql_args::is_sql_tool(tool, def.as_deref());
        if f.takes_sql.len() < MAX_TOOLS {
            f.takes_sql.insert(tool.to_owned(), sql);
        }
        sql
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }
}
