//! The extra HTTP headers sent to the remote server (typically `Authorization`): read from
//! `SENTINEL_UPSTREAM_HEADERS` and from the `--upstream-headers` file, one `Name: value` a
//! line, `#` comments and blank lines allowed. A malformed line is an error naming its source
//! and line, never its value: header values are credentials, and nothing here prints them.

use std::path::Path;

/// Headers the transport sets itself; a configured one would break the protocol.
const RESERVED: [&str; 9] = [
    "accept",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// Configured headers, in order (a name may repeat).
#[derive(Clone, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl std::fmt::Debug for Headers {
    // The names only: the values are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "Headers({names:?})")
    }
}

/// Parses `text` in the headers format; `source` names it in errors (a file's path, or the
/// environment variable).
pub fn parse(text: &str, source: &str) -> Result<Headers, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{source} line {}", i + 1);
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("{at}: expected `Name: value` (no ':' found)"));
        };
        let name = name.trim();
        let value = value.trim();
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(format!(
                "{at}: the header name is not a valid HTTP token (letters, digits and \
                 !#$%&'*+-.^_`|~ only)"
            ));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(format!("{at}: the value of {name} has control characters"));
        }
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{at}: {name} is set by the MCP transport itself and cannot be configured"
            ));
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(Headers(out))
}

/// The headers from the environment variable's text and the file, the file's last.
pub fn load(env: Option<&str>, file: Option<&Path>) -> Result<Headers, String> {
    let mut all = match env {
        Some(text) => parse(text, "SENTINEL_UPSTREAM_HEADERS")?,
        None => Headers::default(),
    };
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the headers file {}: {e}", path.display()))?;
        all.0
            .extend(parse(&text, &format!("headers file {}", path.display()))?.0);
    }
    Ok(all)
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_blank_lines() {
        let h = parse(
            "# auth\n\nAuthorization: Bearer abc:def\r\nX-Team:  blue  \n",
            "f",
        )
        .unwrap();
        assert_eq!(
            h.0,
            [
                ("Authorization".to_owned(), "Bearer abc:def".to_owned()),
                ("X-Team".to_owned(), "blue".to_owned())
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let e = parse("A: ok\nBearer s3cret-token\n", "headers file h.txt").unwrap_err();
        assert_eq!(
            e,
            "headers file h.txt line 2: expected `Name: value` (no ':' found)"
        );
        let e = parse("Bad Name: s3cret\n", "f").unwrap_err();
        assert!(e.contains("line 1") && !e.contains("s3cret"), "{e}");
        let e = parse("Mcp-Session-Id: s3cret\n", "f").unwrap_err();
        assert!(e.contains("set by the MCP transport") && !e.contains("s3cret"));
        let e = parse("X: a\u{7}s3cret\n", "f").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(!format!("{:?}", parse("A: s3cret", "f").unwrap()).contains("s3cret"));
    }
}
