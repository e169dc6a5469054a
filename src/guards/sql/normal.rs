//! SQL in a normal form for comparing calls (the circuit breaker's loop detection): the same
//! query spelled with other whitespace, comments, keyword case or a trailing `;` is the same
//! query. Read with sqlparser's tokenizer, so string literals and quoted identifiers stay
//! exactly as written; text that does not start like a statement is left alone.

use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Words a statement starts with; other text is not SQL to this module.
const STATEMENT_STARTS: &[&str] = &[
    "ALTER", "ANALYZE", "ATTACH", "BEGIN", "CALL", "COMMIT", "COPY", "CREATE", "DELETE",
    "DESCRIBE", "DETACH", "DO", "DROP", "EXEC", "EXECUTE", "EXPLAIN", "GRANT", "INSERT", "MERGE",
    "PRAGMA", "REPLACE", "REVOKE", "ROLLBACK", "SELECT", "SET", "SHOW", "TABLE", "TRUNCATE",
    "UPDATE", "UPSERT", "VACUUM", "VALUES", "WITH",
];

/// Longest text normalised; longer text is compared as written (a loop of megabyte queries is
/// still a loop when they are byte-identical).
const MAX_LEN: usize = 64 * 1024;

/// The normal form of `text` if it reads as SQL: its tokens without whitespace or comments,
/// unquoted keywords in upper case, trailing `;` dropped, each token written unambiguously
/// (literals and quoted identifiers exactly, with their quotes) and separated by a NUL.
/// `None` for text that does not start with a statement keyword (after whitespace, `(` and
/// comments) or that the tokenizer cannot read.
pub fn normal_form(text: &str) -> Option<String> {
    if text.len() > MAX_LEN || !may_be_sql(text) {
        return None;
    }
    let tokens = Tokenizer::new(&GenericDialect {}, text).tokenize().ok()?;
    let mut kept: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .collect();
    let first = kept.iter().find(|t| !matches!(t, Token::LParen))?;
    match first {
        Token::Word(w) if w.quote_style.is_none() && is_start(&w.value) => {}
        _ => return None,
    }
    while kept.last().is_some_and(|t| matches!(t, Token::SemiColon)) {
        kept.pop();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, t) in kept.iter().enumerate() {
        if i > 0 {
            out.push('\0');
        }
        match t {
            Token::Word(w) if w.quote_style.is_none() && w.keyword != Keyword::NoKeyword => {
                out.push_str(&w.value.to_ascii_uppercase())
            }
            Token::Word(w) if w.quote_style.is_none() => out.push_str(&w.value),
            // Debug output quotes and escapes the value and names the kind of token: two
            // different literals or quoted names never write the same.
            other => out.push_str(&format!("{other:?}")),
        }
    }
    Some(out)
}

/// A cheap look at the first word before tokenizing anything: most strings are not SQL.
fn may_be_sql(text: &str) -> bool {
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    if t.starts_with("--") || t.starts_with("/*") {
        return true;
    }
    let word: &str = &t[..t
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(t.len())];
    is_start(word)
}

fn is_start(word: &str) -> bool {
    STATEMENT_STARTS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) {
        let (x, y) = (normal_form(a), normal_form(b));
        assert!(x.is_some(), "{a:?} is SQL");
        assert_eq!(x, y, "{a:?} and {b:?}");
    }

    fn different(a: &str, b: &str) {
        assert_ne!(normal_form(a), normal_form(b), "{a:?} and {b:?}");
    }

    #[test]
    fn spelling_that_does_not_change_the_query_does_not_count() {
        let q = "SELECT id, name FROM users WHERE id = 1";
        same(q, "select id, name from users where id = 1");
        same(q, "  SELECT\n\tid ,name\r\nFROM   users WHERE id=1 ;");
        same(q, "SELECT id, name FROM users WHERE id = 1;;  ");
        same(
            q,
            "/* look up */ SELECT id, name -- the user\nFROM users WHERE id = 1",
        );
        same(q, "SeLeCt id, name FROM users WhErE id = 1");
        same("(SELECT 1)", "( select 1 )");
    }

    #[test]
    fn literals_identifiers_and_statements_stay_exact() {
        let q = "SELECT * FROM users WHERE name = 'Bob' LIMIT 5";
        different(q, "SELECT * FROM users WHERE name = 'bob' LIMIT 5");
        different(q, "SELECT * FROM users WHERE name = 'Bob  ' LIMIT 5");
        different(q, "SELECT * FROM users WHERE name = 'Bob' LIMIT 50");
        different(q, "SELECT * FROM users WHERE name = \"Bob\" LIMIT 5");
        different("SELECT \"Id\" FROM t", "SELECT \"id\" FROM t");
        different("SELECT 'a''b'", "SELECT 'a', 'b'");
        different("SELECT '--x'", "SELECT ''");
        // Unquoted names keep their case (MySQL table names on Linux are case-sensitive); a
        // name sqlparser knows as a keyword (name, key, ...) folds, as unquoted column names
        // compare without case in every database.
        different("SELECT Nombre FROM Clientes", "SELECT nombre FROM clientes");
        same("SELECT Name FROM t", "SELECT name FROM t");
        // Only trailing semicolons go: a second statement is a different call.
        different("SELECT 1", "SELECT 1; DROP TABLE t");
        different("SELECT 1", "SELECT1");
    }

    #[test]
    fn text_that_is_not_a_statement_is_left_alone() {
        for text in [
            "",
            "hello world",
            "selection of shoes",
            "users",
            "'SELECT 1'",
            "SELECT 'unterminated",
            "/* only a comment */",
            "\"SELECT\" 1",
        ] {
            assert_eq!(normal_form(text), None, "{text:?}");
        }
        assert_eq!(
            normal_form(&format!("SELECT {}", "1+".repeat(MAX_LEN))),
            None
        );
        // Prose that starts with a statement word is normalised too; harmless for loops.
        same("drop shipping  suppliers", "DROP shipping suppliers");
    }
}
