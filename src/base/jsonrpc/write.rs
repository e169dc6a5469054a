//! The gateway's own JSON-RPC output: error and success response lines with the request's id
//! echoed exactly, small objects of strings (an error's `data`), and JSON string literals
//! escaped byte for byte as serde_json escapes them, written straight into a caller's buffer.

use super::RawId;

/// Appends a JSON-RPC error response line (with its newline) to `out`.
pub fn write_error(
    out: &mut Vec<u8>,
    id: Option<&RawId>,
    code: i64,
    message: &str,
    data: Option<&[u8]>,
) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawId::as_json).as_bytes());
    out.extend_from_slice(b",\"error\":{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    push_json_str(out, message);
    if let Some(data) = data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data);
    }
    out.extend_from_slice(b"}}\n");
}

/// A JSON object whose members are all strings (`None` writes `null`), as JSON text.
/// The keys are Sentinel's own names, written as they are (no escaping needed).
pub fn string_object(members: &[(&str, Option<&str>)]) -> Vec<u8> {
    let size: usize = members
        .iter()
        .map(|(k, v)| k.len() + v.map_or(4, str::len) + 8)
        .sum();
    let mut out = Vec::with_capacity(size + size / 8 + 2);
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        debug_assert!(!key.contains(['"', '\\']) && key.bytes().all(|b| b >= 0x20));
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        match value {
            Some(v) => push_json_str(&mut out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    out
}

/// Appends a JSON-RPC success response line (with its newline) carrying `result` (JSON text)
/// to `out`.
pub fn write_result(out: &mut Vec<u8>, id: Option<&RawId>, result: &[u8]) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawId::as_json).as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result);
    out.extend_from_slice(b"}\n");
}

/// Appends `s` as a JSON string literal, escaped exactly as serde_json escapes it (`"`, `\\`,
/// and control characters; `\b \f \n \r \t` short, the others `\u00XX`). Runs that need no
/// escape are copied whole: audit entries and answers are mostly such runs.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut i = 0;
    loop {
        let run = crate::base::bytes::find_string_stop(&b[i..]);
        out.extend_from_slice(&b[i..i + run]);
        i += run;
        let Some(&c) = b.get(i) else {
            break;
        };
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
        }
        i += 1;
    }
    out.push(b'"');
}
