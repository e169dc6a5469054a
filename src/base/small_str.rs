//! [`SmallStr`]: an immutable string kept inline when it is short (request ids, their keys),
//! so that a message's id costs no allocation, and a table filled by one thread and emptied
//! by another (the requests waiting for the server) never frees on one thread what the other
//! allocated; and [`IdMap`], the hash map such tables use.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest text kept inline.
const INLINE: usize = 22;

/// A string of any length, inline up to 22 bytes.
#[derive(Clone)]
pub struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    /// Always a whole copy of a `str`'s bytes (written only by [`SmallStr::new`]).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl SmallStr {
    pub fn new(text: &str) -> SmallStr {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SmallStr(Repr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            SmallStr(Repr::Heap(text.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let b = &bytes[..usize::from(*len)];
                // SAFETY: `Inline` is only built by `new`, from all the bytes of a `str` (so a
                // whole sequence of UTF-8 characters), and never changed afterwards. This is
                // read on every message; checking it again each time showed in profiles.
                unsafe { std::str::from_utf8_unchecked(b) }
            }
            Repr::Heap(s) => s,
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
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

/// A hash map keyed by [`SmallStr`] request ids, with a fast keyed hash (multiply-rotate over
/// 8-byte words, seeded at random per map) instead of SipHash: every message is hashed twice
/// (when it is sent and when it is answered). The keys are the client's own request ids, so
/// crafted collisions could only slow down the client's own session, never another's. The
/// circuit breaker's per-session tables use the same hash ([`IdHashing`]) for the same reason.
pub type IdMap<V> = std::collections::HashMap<SmallStr, V, IdHashing>;

/// Builds [`IdHasher`]s with one random seed.
#[derive(Clone)]
pub struct IdHashing(u64);

impl Default for IdHashing {
    fn default() -> IdHashing {
        use std::hash::BuildHasher;
        IdHashing(std::collections::hash_map::RandomState::new().hash_one(0x05e4_71e1_u64) | 1)
    }
}

impl std::hash::BuildHasher for IdHashing {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.0)
    }
}

/// See [`IdMap`].
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut chunks = bytes.chunks_exact(8);
        for c in chunks.by_ref() {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(K);
        }
        // The last bytes, gathered one by one (a copy would call memcpy for a few bytes).
        let tail = chunks
            .remainder()
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let w = tail ^ ((bytes.len() as u64) << 56);
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(K);
    }

    fn finish(&self) -> u64 {
        // Mix the high bits down: the table uses the low ones.
        self.0 ^ (self.0 >> 29)
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
            assert_eq!(matches!(s.0, Repr::Inline { .. }), text.len() <= INLINE);
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

    #[test]
    fn id_maps_tell_close_ids_apart() {
        let mut m: IdMap<usize> = IdMap::default();
        let ids: Vec<String> = (0..5000)
            .map(|i| match i % 3 {
                0 => i.to_string(),
                1 => format!("\"req-{i}\""),
                _ => format!("\"{}\"", "x".repeat(i % 40)),
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            m.insert(SmallStr::new(id), i);
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(m.len(), distinct.len());
        for id in &distinct {
            assert!(m.remove(&SmallStr::new(id)).is_some(), "{id}");
        }
        assert!(m.is_empty());
        // A zero byte at the end is part of the key, not padding.
        let (a, b) = (SmallStr::new("a"), SmallStr::new("a\0"));
        let hash = |s: &SmallStr| {
            use std::hash::BuildHasher;
            IdHashing(7).hash_one(s)
        };
        assert_ne!(hash(&a), hash(&b));
    }
}
