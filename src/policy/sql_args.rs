//! Which arguments carry SQL: decided per argument from the best evidence there is. First the
//! policy (`sql.keys` names SQL-bearing arguments, `sql.prose` prose ones); then the server's
//! own definition of the tool as seen in `tools/list` (an argument is SQL when its name or
//! description says so, or when it is a query-like argument of a tool that says it runs SQL;
//! any other argument of a defined tool is prose); then, with no definition, the tool's and
//! the argument's names. What is not decided either way is "maybe": judged when it parses as
//! SQL, taken for prose when it does not.

/// What the gateway knows of one tool from the server's `tools/list`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolDef {
    pub name: String,
    /// Name, title and description, in lower case.
    text: String,
    /// Its input schema's properties: name, and description in lower case.
    props: Vec<(String, String)>,
}

impl ToolDef {
    /// A tool of a `tools/list` result (`{"name", "title"?, "description"?, "inputSchema"}`);
    /// `None` without a name.
    pub fn from_json(tool: &serde_json::Value) -> Option<ToolDef> {
        let name = tool.get("name")?.as_str()?.to_owned();
        let mut text = name.to_ascii_lowercase();
        for field in ["title", "description"] {
            if let Some(t) = tool.get(field).and_then(|v| v.as_str()) {
                text.push(' ');
                text.push_str(&t.to_lowercase());
            }
        }
        let props = tool
            .get("inputSchema")
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.as_object())
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        let d = v
                            .get("description")
                            .and_then(|d| d.as_str())
                            .unwrap_or("")
                            .to_lowercase();
                        (k.clone(), d)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(ToolDef { name, text, props })
    }

    /// Name, title and description (lower case), for inferring the database behind it.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// How an argument is treated by the SQL guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Runs SQL: judged, and refused when it cannot be verified.
    Sql,
    /// Might: judged when it parses as SQL.
    Maybe,
    /// Does not run SQL: not judged.
    Prose,
}

/// Words naming SQL or a SQL database.
const SQL_WORDS: &[&str] = &[
    "sql",
    "sqlite",
    "sqlite3",
    "postgres",
    "postgresql",
    "psql",
    "pg",
    "mysql",
    "mariadb",
    "mssql",
    "tsql",
    "duckdb",
    "database",
    "databases",
    "db",
];

/// Argument names that hold a statement when the tool runs SQL.
const QUERY_NAMES: &[&str] = &[
    "query",
    "queries",
    "statement",
    "statements",
    "stmt",
    "command",
    "script",
    "input",
    "code",
];

/// Words in a tool's name that say what it does is not running SQL.
const PROSE_TOOL_WORDS: &[&str] = &[
    "search",
    "web",
    "fetch",
    "browse",
    "todo",
    "todos",
    "task",
    "tasks",
    "note",
    "notes",
    "memory",
    "memories",
    "entity",
    "entities",
    "observation",
    "observations",
    "relation",
    "relations",
    "graph",
    "knowledge",
    "node",
    "nodes",
    "issue",
    "issues",
    "comment",
    "comments",
    "pull",
    "message",
    "messages",
    "email",
    "mail",
    "chat",
    "calendar",
    "event",
    "doc",
    "docs",
    "document",
    "documents",
    "page",
    "pages",
    "wiki",
    "translate",
    "summarize",
    "vector",
    "semantic",
    "embedding",
    "file",
    "files",
    "directory",
    "url",
    "http",
    "news",
    "weather",
    "local",
    "image",
    "images",
    "video",
    "repository",
    "repositories",
    "code",
    "commit",
    "branch",
    "reminder",
    "project",
    "thought",
];

/// Argument names that hold prose, a path or a name, never a statement to run.
const PROSE_NAMES: &[&str] = &[
    "title",
    "subject",
    "name",
    "names",
    "description",
    "summary",
    "body",
    "content",
    "contents",
    "text",
    "message",
    "note",
    "notes",
    "comment",
    "observation",
    "observations",
    "label",
    "labels",
    "tag",
    "tags",
    "prompt",
    "instructions",
    "answer",
    "reason",
    "caption",
    "url",
    "uri",
    "path",
    "paths",
    "filename",
    "thought",
    "keywords",
    "insight",
    "entity_name",
    "entityname",
];

/// The words of a name: split at `_`, `-`, `.`, `/`, spaces and lower-to-upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn says_sql(text: &str) -> bool {
    words(text).iter().any(|w| SQL_WORDS.contains(&w.as_str()))
}

fn any_in(ws: &[String], list: &[&str]) -> bool {
    ws.iter().any(|w| list.contains(&w.as_str()))
}

/// Whether a tool's name says it runs SQL (`read_query`, `execute_sql`, `pg_query`), and
/// whether it says it does something else (`brave_web_search`, `create_task`).
fn tool_name_signals(tool: &str) -> (bool, bool) {
    let ws = words(tool);
    let prose = any_in(&ws, PROSE_TOOL_WORDS);
    let sql =
        any_in(&ws, SQL_WORDS) || (!prose && ws.iter().any(|w| w == "query" || w == "queries"));
    (sql, prose)
}

/// How the argument `key` of a call to `tool` is treated, from the policy's lists (`keys`:
/// `None` leaves it to the evidence), the tool's definition if the server listed it, and the
/// names.
pub fn classify(
    keys: Option<&[String]>,
    prose: &[String],
    tool: &str,
    def: Option<&ToolDef>,
    key: &str,
) -> ArgKind {
    if prose.iter().any(|k| k.eq_ignore_ascii_case(key)) {
        return ArgKind::Prose;
    }
    if keys.is_some_and(|ks| ks.iter().any(|k| k.eq_ignore_ascii_case(key))) {
        return ArgKind::Sql;
    }
    let key_words = words(key);
    let sql_named = key_words.iter().any(|w| w == "sql");
    let query_named = any_in(&key_words, QUERY_NAMES);
    if let Some(def) = def {
        if let Some((_, desc)) = def.props.iter().find(|(k, _)| k == key) {
            if sql_named || says_sql(desc) || (query_named && says_sql(&def.text)) {
                return ArgKind::Sql;
            }
            return ArgKind::Prose;
        }
    }
    if sql_named {
        return ArgKind::Sql;
    }
    let (sql_tool, prose_tool) = tool_name_signals(tool);
    let prose_named = any_in(&key_words, PROSE_NAMES) && !query_named;
    if sql_tool {
        // The statement argument of a SQL tool carries SQL; its other arguments (a note, a
        // database name, a limit) are judged if they parse as SQL.
        return if query_named && !prose_named {
            ArgKind::Sql
        } else {
            ArgKind::Maybe
        };
    }
    if prose_tool || prose_named {
        return ArgKind::Prose;
    }
    ArgKind::Maybe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(tool: &str, key: &str) -> ArgKind {
        classify(None, &[], tool, None, key)
    }

    #[test]
    fn names_decide_without_a_definition() {
        assert_eq!(by_name("read_query", "query"), ArgKind::Sql);
        assert_eq!(by_name("query", "sql"), ArgKind::Sql);
        assert_eq!(by_name("executeSql", "statement"), ArgKind::Sql);
        assert_eq!(by_name("brave_web_search", "query"), ArgKind::Prose);
        assert_eq!(by_name("add_todo", "title"), ArgKind::Prose);
        assert_eq!(by_name("write_file", "content"), ArgKind::Prose);
        assert_eq!(by_name("lookup", "query"), ArgKind::Maybe);
        assert_eq!(by_name("run", "input"), ArgKind::Maybe);
    }

    #[test]
    fn a_definition_decides_over_names() {
        let def = ToolDef::from_json(&serde_json::json!({
            "name": "lookup",
            "description": "Look things up on the web",
            "inputSchema": {"properties": {"query": {"description": "what to look for"}}}
        }))
        .unwrap();
        assert_eq!(
            classify(None, &[], "lookup", Some(&def), "query"),
            ArgKind::Prose
        );
        let def = ToolDef::from_json(&serde_json::json!({
            "name": "lookup",
            "description": "Run a read-only query on the SQLite database",
            "inputSchema": {"properties": {"query": {}, "limit": {}}}
        }))
        .unwrap();
        assert_eq!(
            classify(None, &[], "lookup", Some(&def), "query"),
            ArgKind::Sql
        );
        // An argument the definition does not list falls back to the names.
        assert_eq!(
            classify(None, &[], "lookup", Some(&def), "sql"),
            ArgKind::Sql
        );
    }

    #[test]
    fn the_policy_decides_first() {
        let prose = vec!["query".to_owned()];
        assert_eq!(
            classify(None, &prose, "read_query", None, "query"),
            ArgKind::Prose
        );
        let keys = vec!["q".to_owned()];
        assert_eq!(
            classify(Some(&keys), &[], "search", None, "q"),
            ArgKind::Sql
        );
    }
}
