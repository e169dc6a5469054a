//! [`SmallStr`]: an immutable string kept inline when it is short (request ids, their keys),
//! so that a message's id costs no allocation, and a table filled by one thread and emptied
//! by another (the requests waiting for the server) never frees on one thread what the other
//! allocated.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest text kept inline.
const INLINE: usize = 22;

/// A string of any length, inline up to 22 bytes.
#[derive(Clone)]
pub enum SmallStr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl SmallStr {
    pub fn new(text: &str) -> SmallStr {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SmallStr::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            SmallStr::Heap(text.into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // The inline bytes are always a whole copy of a `str`.
            SmallStr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or("")
            }
            SmallStr::Heap(s) => s,
        }
    }
}

impl SmallStr {
    fn bytes(&self) -> &[u8] {
        match self {
            SmallStr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            SmallStr::Heap(s) => s.as_bytes(),
        }
    }
}

// Compared and hashed as bytes: a lookup never re-checks UTF-8. (Look values up with a
// `SmallStr` too: there is deliberately no `Borrow<str>`, whose hash would have to match
// `str`'s exactly.)
impl PartialEq for SmallStr {
    fn eq(&self, other: &SmallStr) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for SmallStr {}

impl Hash for SmallStr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write(self.bytes());
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_and_long_texts_read_back_and_compare_as_str() {
        for text in ["", "1", "\"abc\"", &"x".repeat(22), &"y".repeat(23), "é😀"] {
            let s = SmallStr::new(text);
            assert_eq!(s.as_str(), text);
            assert_eq!(matches!(s, SmallStr::Inline { .. }), text.len() <= INLINE);
            let mut m = HashMap::new();
            m.insert(s.clone(), 1);
            assert_eq!(
                m.get(&SmallStr::new(text)),
                Some(&1),
                "looked up by its text"
            );
            assert_eq!(s, SmallStr::new(text));
        }
        assert_ne!(SmallStr::new("ab"), SmallStr::new("abc"));
    }
}
