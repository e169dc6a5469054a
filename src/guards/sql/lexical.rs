//! The lexical layer under the parser: the first-word pre-filter (a packed keyword lookup that
//! keeps natural-language strings away from sqlparser) and the token scan for `INTO
//! OUTFILE`-style exports the AST does not show.

use sqlparser::dialect::Dialect;
use sqlparser::keywords::ALL_KEYWORDS;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Longest first word looked up among sqlparser's keywords (longer words are never SQL).
const MAX_WORD: usize = 16;

/// A word of at most [`MAX_WORD`] ASCII letters and underscores, upper-cased, kept inline: the
/// pre-filter runs on every string of every call and allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Word {
    bytes: [u8; MAX_WORD],
    len: u8,
}

impl Word {
    fn new(word: &[u8]) -> Word {
        let mut bytes = [0u8; MAX_WORD];
        for (b, c) in bytes.iter_mut().zip(word) {
            *b = c.to_ascii_uppercase();
        }
        Word {
            bytes,
            len: word.len() as u8,
        }
    }

    /// The word as one number (big-endian bytes, zero-padded): one comparison per keyword.
    fn packed(&self) -> u128 {
        u128::from_be_bytes(self.bytes)
    }
}

impl std::ops::Deref for Word {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII letters and underscores are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// Whether `word` is one of sqlparser's keywords (every statement it parses starts with one).
pub(super) fn is_keyword(word: &Word) -> bool {
    static KEYWORDS: std::sync::OnceLock<Vec<u128>> = std::sync::OnceLock::new();
    let packed = KEYWORDS.get_or_init(|| {
        let mut v: Vec<u128> = ALL_KEYWORDS
            .iter()
            .filter(|k| k.len() <= MAX_WORD)
            .map(|k| Word::new(k.as_bytes()).packed())
            .collect();
        v.sort_unstable();
        v
    });
    packed.binary_search(&word.packed()).is_ok()
}

/// The first word of `text` in upper case, skipping whitespace, SQL comments, opening
/// parentheses and empty statements (`;`); `None` if it does not start with a word (of at most
/// 16 letters).
pub fn first_word(text: &str) -> Option<Word> {
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'(' || b[i] == b';') {
            i += 1;
        }
        if b[i..].starts_with(b"--") || b[i..].starts_with(b"#") {
            match b[i..].iter().position(|&c| c == b'\n') {
                Some(n) => i += n + 1,
                None => return None,
            }
        } else if b[i..].starts_with(b"/*") {
            match text[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => return None,
            }
        } else {
            break;
        }
    }
    let end = b[i..]
        .iter()
        .position(|c| !(c.is_ascii_alphabetic() || *c == b'_'))
        .map_or(b.len(), |n| i + n);
    (end > i && end - i <= MAX_WORD).then(|| Word::new(&b[i..end]))
}

/// `SELECT ... INTO OUTFILE|DUMPFILE`, which sqlparser does not parse, found by tokens (so the
/// words inside string literals and comments do not count); also SQLite's `VACUUM ... INTO
/// 'file'`, which copies the whole database to a file.
pub(super) fn exports_into_file(dialect: &dyn Dialect, text: &str) -> bool {
    // Every export this scan finds has the word INTO: text without it is not tokenized again
    // (this runs on every statement the guard judges, not only on unparseable ones).
    if !text
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"into"))
    {
        return false;
    }
    let Ok(tokens) = Tokenizer::new(dialect, text).tokenize() else {
        return false;
    };
    let mut words = tokens.iter().filter_map(|t| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        Token::Whitespace(_) => None,
        _ => Some(String::new()),
    });
    let mut prev_into = false;
    let mut vacuum = false;
    for (i, w) in words.by_ref().enumerate() {
        if prev_into && (w == "OUTFILE" || w == "DUMPFILE") {
            return true;
        }
        vacuum |= i == 0 && w == "VACUUM";
        if vacuum && w == "INTO" {
            return true;
        }
        prev_into = w == "INTO";
    }
    false
}
