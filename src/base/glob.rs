//! Shell-style globs for names: `*` matches any run of characters (including none), `?` any
//! one character, everything else itself, case-sensitively. Used to scope policy rules to tools
//! and servers; hand-rolled because it is a dozen lines.

/// A compiled glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    text: String,
    shape: Shape,
}

/// What a pattern needs to be matched: most are `*` or a plain name, checked on every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Only stars: matches every name.
    Everything,
    /// No `*` or `?`: matches itself only.
    Exact,
    Wildcards,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let shape = if !pattern.is_empty() && pattern.bytes().all(|b| b == b'*') {
            Shape::Everything
        } else if pattern.contains(['*', '?']) {
            Shape::Wildcards
        } else {
            Shape::Exact
        };
        Glob {
            pattern: pattern.chars().collect(),
            text: pattern.to_owned(),
            shape,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `name` matches (iterative, with one backtrack point: linear in
    /// practice, never exponential).
    pub fn matches(&self, name: &str) -> bool {
        match self.shape {
            Shape::Everything => return true,
            Shape::Exact => return self.text == name,
            Shape::Wildcards => {}
        }
        if name.is_ascii() && self.text.is_ascii() {
            // The common case, without allocating: bytes are characters.
            return wildcard(self.text.as_bytes(), name.as_bytes(), |a, b| a == b);
        }
        let s: Vec<char> = name.chars().collect();
        wildcard(&self.pattern, &s, |a, b| a == b)
    }
}

/// Whether the whole of `name` matches `pattern` (`*`, `?`), comparing ASCII letters without
/// regard to case: for host names (`*.Corp.example` matches `api.corp.EXAMPLE`).
pub fn matches_ascii_nocase(pattern: &str, name: &str) -> bool {
    wildcard(pattern.as_bytes(), name.as_bytes(), |a, b| {
        a.eq_ignore_ascii_case(&b)
    })
}

/// `*`/`?` matching over any sequence of symbols, `eq` comparing a pattern symbol with a name
/// symbol (iterative, one backtrack point).
fn wildcard<T: Copy + PartialEq + From<u8>>(p: &[T], s: &[T], eq: impl Fn(T, T) -> bool) -> bool {
    let (star_sym, any_sym) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == any_sym || (p[pi] != star_sym && eq(p[pi], s[si]))) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == star_sym {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == star_sym {
        pi += 1;
    }
    pi == p.len()
}

/// Whether any glob in `globs` matches `name`.
pub fn any(globs: &[Glob], name: &str) -> bool {
    globs.iter().any(|g| g.matches(name))
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_like_a_shell() {
        let m = |p: &str, s: &str| Glob::new(p).matches(s);
        assert!(m("*", ""));
        assert!(m("read_*", "read_query"));
        assert!(!m("read_*", "write_query"));
        assert!(m("*sqlite*", "uvx mcp-server-sqlite --db-path x"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b", "xaxxb"));
        assert!(!m("*a*b", "xaxxbc"));
        assert!(m("delete_repo", "delete_repo"));
        assert!(!m("Delete_repo", "delete_repo"));
        assert!(!m("delete_repo", "delete_repo2"));
        assert!(m("**", "anything at all") && m("**", "") && m("*", "é"));
        assert!(m("", "") && !m("", "a"));
        assert!(m("é?", "éa") && !m("é", "e"));
        let h = super::matches_ascii_nocase;
        assert!(h("*.corp.example", "API.Corp.EXAMPLE"));
        assert!(h("*.corp.example", "a.b.corp.example"));
        assert!(!h("*.corp.example", "corp.example"));
        assert!(!h("*.corp.example", "evilcorp.example"));
    }
}
