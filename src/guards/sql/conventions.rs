//! SQL read the way each database reads it, before sqlparser sees it: one small lexer per
//! lexical convention (SQLite, PostgreSQL, MySQL, SQL Server) that knows where that database's
//! comments end (nested or not, `--` ended by a carriage return or not, `--` needing a space,
//! `#`), how its strings escape (backslashes, `E'...'`, dollar quoting, `"..."` as a string)
//! and where its statements end. Each reading is re-emitted as canonical text that any of
//! sqlparser's dialects reads the same way: comments become spaces, MySQL's executable
//! comments become code, strings are plain `'...'` literals. The guard parses the canonical
//! text, never the raw one, so a LIMIT that is code for the guard is code for the database.

use super::lexical::Word;

/// A database's lexical rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Convention {
    Sqlite,
    Postgres,
    MySql,
    MsSql,
}

/// Every convention the guard knows, in the order their verdicts are reported.
pub const ALL: [Convention; 4] = [
    Convention::Postgres,
    Convention::Sqlite,
    Convention::MySql,
    Convention::MsSql,
];

impl Convention {
    /// The sqlparser dialect that parses this convention's canonical text.
    pub fn parser_name(self) -> &'static str {
        match self {
            Convention::Sqlite => "sqlite",
            Convention::Postgres => "postgres",
            Convention::MySql => "mysql",
            Convention::MsSql => "mssql",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Convention::Sqlite => "SQLite",
            Convention::Postgres => "PostgreSQL",
            Convention::MySql => "MySQL",
            Convention::MsSql => "SQL Server",
        }
    }

    /// The convention of a dialect name (`--dialect`, `sql.dialect`), if it has one of its own.
    pub fn of_dialect(name: &str) -> Option<Convention> {
        match name {
            "sqlite" => Some(Convention::Sqlite),
            "postgres" | "postgresql" | "redshift" => Some(Convention::Postgres),
            "mysql" => Some(Convention::MySql),
            "mssql" => Some(Convention::MsSql),
            _ => None,
        }
    }

    fn nested_comments(self) -> bool {
        matches!(self, Convention::Postgres | Convention::MsSql)
    }
    fn cr_ends_line_comment(self) -> bool {
        matches!(self, Convention::Postgres | Convention::MsSql)
    }
    fn backslash_escapes(self) -> bool {
        self == Convention::MySql
    }
}

/// The database a server fronts, from what is known of it: its command line or
/// `--server-name`, its `serverInfo.name`, its tools' descriptions. `None` when nothing names
/// exactly one database.
pub fn infer(hints: &[&str]) -> Option<Convention> {
    let mut found = None;
    for hint in hints {
        let h = hint.to_ascii_lowercase();
        let words = h.split(|c: char| !c.is_ascii_alphanumeric());
        for w in words {
            let c = match w {
                "sqlite" | "sqlite3" => Convention::Sqlite,
                "postgres" | "postgresql" | "psql" | "pg" | "supabase" | "neon" => {
                    Convention::Postgres
                }
                "mysql" | "mariadb" => Convention::MySql,
                "mssql" | "sqlserver" | "tsql" => Convention::MsSql,
                _ => continue,
            };
            match found {
                None => found = Some(c),
                Some(f) if f == c => {}
                Some(_) => return None,
            }
        }
    }
    found
}

/// One statement of a reading: canonical text and its first word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    pub text: String,
    pub first: Option<Word>,
}

/// Why a text has no reading under a convention: the database would refuse it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexError {
    /// A string literal is not closed.
    String,
    /// A block comment is not closed.
    Comment,
    /// A quoted identifier is not closed.
    Identifier,
}

impl std::fmt::Display for LexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LexError::String => "a string literal is not closed",
            LexError::Comment => "a block comment is not closed",
            LexError::Identifier => "a quoted identifier is not closed",
        })
    }
}

/// A text as one database reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The whole canonical text, statements separated by `;`.
    pub whole: String,
    /// Its statements one by one (empty ones left out).
    pub stmts: Vec<Stmt>,
}

/// `text` as `conv`'s database reads it.
pub fn read_whole(text: &str, conv: Convention) -> Result<Reading, LexError> {
    let mut lx = Lexer {
        b: text.as_bytes(),
        text,
        i: 0,
        conv,
        in_exec: 0,
        out: String::with_capacity(text.len() + 8),
        whole: String::with_capacity(text.len() + 8),
        stmts: Vec::new(),
    };
    lx.run()?;
    Ok(Reading {
        whole: lx.whole,
        stmts: lx.stmts,
    })
}

/// The statements of `text` as `conv`'s database reads them (empty statements left out).
#[cfg(test)]
pub fn read(text: &str, conv: Convention) -> Result<Vec<Stmt>, LexError> {
    read_whole(text, conv).map(|r| r.stmts)
}

struct Lexer<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
    conv: Convention,
    /// Depth of MySQL executable comments (`/*! ... */`) the cursor is in.
    in_exec: u32,
    out: String,
    whole: String,
    stmts: Vec<Stmt>,
}

impl Lexer<'_> {
    fn at(&self, s: &[u8]) -> bool {
        self.b[self.i..].starts_with(s)
    }

    fn run(&mut self) -> Result<(), LexError> {
        let mut code_from = 0;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            let special = matches!(
                c,
                b'-' | b'/' | b'#' | b'\'' | b'"' | b'`' | b'[' | b'$' | b';'
            ) || (c == b'*' && self.in_exec > 0);
            if !special {
                self.i += 1;
                continue;
            }
            let start = self.i;
            let before = &self.text[code_from..start];
            if c == b'*' {
                if !self.at(b"*/") {
                    self.i += 1;
                    continue;
                }
                // The end of an executable comment.
                self.in_exec -= 1;
                self.i += 2;
                self.out.push_str(before);
                self.out.push(' ');
            } else if self.comment()? || self.executable_comment() {
                self.out.push_str(before);
                self.out.push(' ');
            } else if c == b';' {
                self.out.push_str(before);
                self.i += 1;
                self.end_statement();
                self.whole.push(';');
            } else if let Some((value, prefixed)) = self.string()? {
                // `E'...'`: the prefix letter went out with `before`; take it back.
                let before = if prefixed {
                    &before[..before.len() - 1]
                } else {
                    before
                };
                self.out.push_str(before);
                push_string(&mut self.out, &value, self.conv);
            } else if let Some(ident) = self.quoted_identifier()? {
                self.out.push_str(before);
                push_identifier(&mut self.out, &ident, self.conv);
            } else {
                self.i += 1;
                continue;
            }
            code_from = self.i;
        }
        self.out.push_str(&self.text[code_from..]);
        self.end_statement();
        Ok(())
    }

    fn end_statement(&mut self) {
        self.whole.push_str(&self.out);
        let text = std::mem::take(&mut self.out);
        if text.trim().is_empty() {
            return;
        }
        let first = super::lexical::first_word(&text);
        self.stmts.push(Stmt { text, first });
    }

    /// Skips a comment at the cursor; false (cursor unmoved) when there is none.
    fn comment(&mut self) -> Result<bool, LexError> {
        if self.at(b"--") {
            if self.conv == Convention::MySql {
                // MySQL: `--` starts a comment only when followed by a space or control
                // character (or the end); otherwise it is two minus signs.
                if let Some(&c) = self.b.get(self.i + 2) {
                    if c > b' ' {
                        return Ok(false);
                    }
                }
            }
            self.line_comment();
            return Ok(true);
        }
        if self.conv == Convention::MySql && self.at(b"#") {
            self.line_comment();
            return Ok(true);
        }
        if self.at(b"/*") && !(self.conv == Convention::MySql && self.at(b"/*!")) {
            let mut depth = 1;
            self.i += 2;
            while depth > 0 {
                if self.i >= self.b.len() {
                    // SQLite ends an unclosed block comment at the end of the input.
                    if self.conv == Convention::Sqlite {
                        return Ok(true);
                    }
                    return Err(LexError::Comment);
                }
                if self.at(b"*/") {
                    depth -= 1;
                    self.i += 2;
                } else if self.conv.nested_comments() && self.at(b"/*") {
                    depth += 1;
                    self.i += 2;
                } else {
                    self.i += 1;
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn line_comment(&mut self) {
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == b'\n' || (c == b'\r' && self.conv.cr_ends_line_comment()) {
                break;
            }
            self.i += 1;
        }
    }

    /// MySQL runs the body of `/*! ... */` and `/*!50000 ... */`: open it up.
    fn executable_comment(&mut self) -> bool {
        if self.conv != Convention::MySql || !self.at(b"/*!") {
            return false;
        }
        self.i += 3;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.in_exec += 1;
        true
    }

    fn ident_char_before(&self, at: usize) -> bool {
        at > 0 && {
            let p = self.b[at - 1];
            p.is_ascii_alphanumeric() || p == b'_' || p == b'$' || p >= 0x80
        }
    }

    /// A string literal at the cursor: its value, and whether an `E` prefix (PostgreSQL's
    /// backslash-escape strings) was part of it. `None`, cursor unmoved, when there is none.
    fn string(&mut self) -> Result<Option<(String, bool)>, LexError> {
        let start = self.i;
        let c = self.b[start];
        if c == b'$' && self.conv == Convention::Postgres {
            return self.dollar_string().map(|s| s.map(|v| (v, false)));
        }
        let quote = match c {
            b'\'' => b'\'',
            b'"' if self.conv == Convention::MySql => b'"',
            _ => return Ok(None),
        };
        let prefixed = self.conv == Convention::Postgres
            && quote == b'\''
            && start > 0
            && matches!(self.b[start - 1], b'E' | b'e')
            && !self.ident_char_before(start - 1);
        let backslash = self.conv.backslash_escapes() || prefixed;
        let mut value = Vec::new();
        let mut i = start + 1;
        loop {
            let Some(&ch) = self.b.get(i) else {
                return Err(LexError::String);
            };
            if ch == quote {
                if self.b.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            if ch == b'\\' && backslash {
                let Some(&next) = self.b.get(i + 1) else {
                    return Err(LexError::String);
                };
                value.push(match next {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'0' => 0,
                    b'b' => 8,
                    b'Z' => 26,
                    other => other,
                });
                i += 2;
                continue;
            }
            value.push(ch);
            i += 1;
        }
        self.i = i;
        Ok(Some((
            String::from_utf8_lossy(&value).into_owned(),
            prefixed,
        )))
    }

    /// PostgreSQL's `$tag$ ... $tag$`; `$1` and `a$b` are not strings.
    fn dollar_string(&mut self) -> Result<Option<String>, LexError> {
        let start = self.i;
        if self.ident_char_before(start) {
            return Ok(None);
        }
        let mut j = start + 1;
        while j < self.b.len() && (self.b[j].is_ascii_alphanumeric() || self.b[j] == b'_') {
            j += 1;
        }
        if self.b.get(j) != Some(&b'$') || self.b.get(start + 1).is_some_and(u8::is_ascii_digit) {
            return Ok(None);
        }
        let tag = &self.text[start..=j];
        let body_from = j + 1;
        let Some(end) = self.text[body_from..].find(tag) else {
            return Err(LexError::String);
        };
        self.i = body_from + end + tag.len();
        Ok(Some(self.text[body_from..body_from + end].to_owned()))
    }

    /// A quoted identifier at the cursor (`"x"`, and per convention `` `x` `` or `[x]`).
    fn quoted_identifier(&mut self) -> Result<Option<String>, LexError> {
        let (open, close) = match (self.b[self.i], self.conv) {
            (b'"', Convention::MySql) => return Ok(None),
            (b'"', _) => (b'"', b'"'),
            (b'`', Convention::Sqlite | Convention::MySql) => (b'`', b'`'),
            (b'[', Convention::Sqlite | Convention::MsSql) => (b'[', b']'),
            _ => return Ok(None),
        };
        let doubling = open == close || self.conv == Convention::MsSql;
        let mut value = Vec::new();
        let mut i = self.i + 1;
        loop {
            let Some(&ch) = self.b.get(i) else {
                return Err(LexError::Identifier);
            };
            if ch == close {
                if doubling && self.b.get(i + 1) == Some(&close) {
                    value.push(close);
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            value.push(ch);
            i += 1;
        }
        self.i = i;
        Ok(Some(String::from_utf8_lossy(&value).into_owned()))
    }
}

/// A string literal every parser dialect reads as `value` (MySQL's also reads backslashes).
fn push_string(out: &mut String, value: &str, conv: Convention) {
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' if conv == Convention::MySql => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn push_identifier(out: &mut String, name: &str, conv: Convention) {
    let q = if conv == Convention::MySql { '`' } else { '"' };
    out.push(q);
    for ch in name.chars() {
        if ch == q {
            out.push(q);
        }
        out.push(ch);
    }
    out.push(q);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str, conv: Convention) -> Vec<String> {
        read(sql, conv)
            .unwrap()
            .into_iter()
            .map(|s| s.text.trim().to_owned())
            .collect()
    }

    #[test]
    fn nested_comments_nest_where_the_database_nests_them() {
        let sql = "/* a /* b */ c */ DROP TABLE users";
        assert_eq!(texts(sql, Convention::Postgres), ["DROP TABLE users"]);
        assert_eq!(texts(sql, Convention::Sqlite), ["c */ DROP TABLE users"]);
    }

    #[test]
    fn carriage_return_ends_a_line_comment_in_postgres_only() {
        let sql = "-- x\rDROP TABLE users";
        assert_eq!(texts(sql, Convention::Postgres), ["DROP TABLE users"]);
        assert!(texts(sql, Convention::Sqlite).is_empty());
        assert!(texts(sql, Convention::MySql).is_empty());
    }

    #[test]
    fn mysql_dashes_need_a_space_and_hash_is_a_comment() {
        assert_eq!(texts("SELECT 1--2", Convention::MySql), ["SELECT 1--2"]);
        assert_eq!(texts("SELECT 1--2", Convention::Sqlite), ["SELECT 1"]);
        assert_eq!(texts("SELECT 1 # x\n", Convention::MySql), ["SELECT 1"]);
        assert_eq!(texts("SELECT 1 # x", Convention::Sqlite), ["SELECT 1 # x"]);
    }

    #[test]
    fn strings_are_re_emitted_plainly() {
        let sql = r"SELECT * FROM t WHERE a = 'x\' LIMIT 5 -- '";
        assert_eq!(
            texts(sql, Convention::MySql),
            [r"SELECT * FROM t WHERE a = 'x'' LIMIT 5 -- '"]
        );
        assert_eq!(
            texts(sql, Convention::Sqlite),
            [r"SELECT * FROM t WHERE a = 'x\' LIMIT 5"]
        );
        assert_eq!(
            texts("SELECT E'a\\'b', $q$x;y$q$; DROP", Convention::Postgres),
            ["SELECT 'a''b', 'x;y'", "DROP"]
        );
        assert_eq!(
            texts("SELECT $1, a$b$", Convention::Postgres),
            ["SELECT $1, a$b$"]
        );
    }

    #[test]
    fn executable_comments_are_code_for_mysql() {
        assert_eq!(
            texts(
                "SELECT 1 /*!50000 UNION SELECT ssn FROM u */",
                Convention::MySql
            ),
            ["SELECT 1   UNION SELECT ssn FROM u"]
        );
        assert_eq!(
            texts("SELECT 1 /*! UNION SELECT 2 */", Convention::Postgres),
            ["SELECT 1"]
        );
    }

    #[test]
    fn the_target_is_inferred_only_when_one_database_is_named() {
        assert_eq!(
            infer(&["uvx mcp-server-sqlite --db-path x.db"]),
            Some(Convention::Sqlite)
        );
        assert_eq!(
            infer(&[
                "npx",
                "@modelcontextprotocol/server-postgres postgresql://h/db"
            ]),
            Some(Convention::Postgres)
        );
        assert_eq!(infer(&["sqlite", "a MySQL mirror"]), None);
        assert_eq!(infer(&["fetch"]), None);
    }

    #[test]
    fn unclosed_things() {
        assert_eq!(
            read("SELECT 'x", Convention::Postgres),
            Err(LexError::String)
        );
        assert_eq!(
            read("SELECT 1 /* x", Convention::Postgres),
            Err(LexError::Comment)
        );
        assert_eq!(texts("SELECT 1 /* x", Convention::Sqlite), ["SELECT 1"]);
        assert_eq!(
            texts("; ; VACUUM INTO '/tmp/x'", Convention::Sqlite),
            ["VACUUM INTO '/tmp/x'"]
        );
    }
}
