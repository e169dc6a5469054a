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

/// Calls `f` on each word of a name (split at anything but letters and digits, and where a
/// lower-case letter meets an upper-case one) until it returns true; allocates nothing, as
/// it runs for every string argument of every call.
fn any_word(name: &str, f: impl Fn(&str) -> bool) -> bool {
    let b = name.as_bytes();
    let mut start = None;
    for i in 0..=b.len() {
        let c = b.get(i).copied();
        let word_char = c.is_some_and(|c| c.is_ascii_alphanumeric() || c >= 0x80);
        let camel = i > 0
            && c.is_some_and(|c| c.is_ascii_uppercase())
            && (b[i - 1].is_ascii_lowercase() || b[i - 1].is_ascii_digit());
        if let Some(s) = start {
            if !word_char || camel {
                if f(&name[s..i]) {
                    return true;
                }
                start = None;
            }
        }
        if word_char && start.is_none() {
            start = Some(i);
        }
    }
    false
}

/// Whether a word of `name` is in `list` (in any case).
fn has_word(name: &str, list: &[&str]) -> bool {
    any_word(name, |w| list.iter().any(|l| l.eq_ignore_ascii_case(w)))
}

fn says_sql(text: &str) -> bool {
    has_word(text, SQL_WORDS)
}

/// Whether a tool's name says it runs SQL (`read_query`, `execute_sql`, `pg_query`), and
/// whether it says it does something else (`brave_web_search`, `create_task`).
fn tool_name_signals(tool: &str) -> (bool, bool) {
    let prose = has_word(tool, PROSE_TOOL_WORDS);
    let sql = has_word(tool, SQL_WORDS) || (!prose && has_word(tool, &["query", "queries"]));
    (sql, prose)
}

/// Whether `tool` takes SQL: its name says so, or an argument of its definition carries SQL.
pub fn is_sql_tool(tool: &str, def: Option<&ToolDef>) -> bool {
    tool_name_signals(tool).0
        || def.is_some_and(|d| {
            d.props
                .iter()
                .any(|(k, _)| classify(None, &[], tool, Some(d), k) == ArgKind::Sql)
        })
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
    let sql_named = has_word(key, &["sql"]);
    let query_named = has_word(key, QUERY_NAMES);
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
    let prose_named = has_word(key, PROSE_NAMES) && !query_named;
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
    fn words_split_at_separators_and_case_changes() {
        let words = |n: &str| {
            let out = std::cell::RefCell::new(Vec::new());
            any_word(n, |w| {
                out.borrow_mut().push(w.to_owned());
                false
            });
            out.into_inner()
        };
        assert_eq!(
            words("brave_web-search.v2"),
            ["brave", "web", "search", "v2"]
        );
        assert_eq!(words("executeSql"), ["execute", "Sql"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert!(has_word("runSQL", &["sql"]));
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
