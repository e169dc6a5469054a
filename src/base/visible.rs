//! Which characters can hide or disguise what a text says when it is shown to a person: C1
//! controls and the invisible or text-reordering characters (soft hyphen, bidi marks,
//! embeddings, overrides and isolates, zero-width characters and joiners, invisible
//! operators, fillers, variation selectors, the BOM, interlinear annotation, tags). The one
//! list both places that show agents' text to people use (the approval prompt sent to the
//! client, `sentinel approvals`); how each writes such a character is its own business.

/// True for a character a person would not see, or that reorders what they read. C0
/// controls and DEL are left to the caller (some keep newlines and tabs).
pub fn hidden(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f            // C1 controls (0x9b is a CSI: an ANSI escape on its own)
        | 0xad                 // soft hyphen
        | 0x34f                // combining grapheme joiner
        | 0x61c                // Arabic letter mark
        | 0x115f | 0x1160 | 0x3164 | 0xffa0 // Hangul fillers
        | 0x17b4 | 0x17b5      // Khmer inherent vowels
        | 0x180b..=0x180f      // Mongolian variation selectors, vowel separator
        | 0x200b..=0x200f      // zero-width space, joiners, LRM, RLM
        | 0x2028..=0x202e      // separators, bidi embeddings and overrides
        | 0x2060..=0x206f      // word joiner, invisible operators, bidi isolates
        | 0xfe00..=0xfe0f      // variation selectors
        | 0xfeff               // BOM, zero-width no-break space
        | 0xfff0..=0xfffb      // specials, interlinear annotation
        | 0x1d173..=0x1d17a    // musical formatting
        | 0xe0000..=0xe0fff) // tag characters, variation selectors supplement
}

#[cfg(test)]
mod tests {
    use super::hidden;

    #[test]
    fn invisible_and_reordering_characters_are_hidden_and_text_is_not() {
        for c in [
            '\u{9b}',
            '\u{202e}',
            '\u{2066}',
            '\u{200b}',
            '\u{feff}',
            '\u{e0041}',
            '\u{e0100}',
        ] {
            assert!(hidden(c), "{:x}", c as u32);
        }
        for c in ['a', '\u{e9}', '\u{4e2d}', '\u{2713}', ' ', '\\'] {
            assert!(!hidden(c), "{:x}", c as u32);
        }
    }
}
