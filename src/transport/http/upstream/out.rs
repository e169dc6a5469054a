//! What the bridge writes: each message from the server as exactly one line on stdout (its
//! original bytes, surrounding whitespace stripped, raw line breaks between tokens turned into
//! spaces, a batch split into its elements; anything that is not JSON skipped with a note),
//! under one lock so lines never interleave; the JSON-RPC errors it answers for requests the
//! server could not be asked; and notes for people on stderr. Also what it needs to know of a
//! message: its id, whether it is a request, a response, the initialize result's version.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::sync::Mutex;

/// The JSON-RPC error code of every answer the bridge makes itself.
pub const UPSTREAM_ERROR: i64 = -32000;

/// The fields of a message the bridge looks at.
#[derive(Deserialize)]
pub struct Head<'a> {
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Head<'a> {
    /// The fields of one message (a JSON object; not a batch, whose elements serde would
    /// otherwise take for the fields in order).
    pub fn of(bytes: &'a [u8]) -> Option<Head<'a>> {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// A request: a method and an id.
    pub fn is_request(&self) -> bool {
        self.method.is_some() && self.id.is_some()
    }

    /// A response: an id, a result or an error, no method.
    pub fn is_response(&self) -> bool {
        self.method.is_none()
            && self.id.is_some()
            && (self.result.is_some() || self.error.is_some())
    }

    /// The id as a value, for comparing a response with its request.
    pub fn id_value(&self) -> Option<serde_json::Value> {
        self.id.and_then(|id| serde_json::from_str(id.get()).ok())
    }

    /// `result.protocolVersion` of an initialize result.
    pub fn protocol_version(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Init {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
        }
        let r: Init = serde_json::from_str(self.result?.get()).ok()?;
        r.protocol_version
    }
}

/// This process's stdout, written whole lines at a time under one lock, and stderr.
pub struct Out {
    stdout: Mutex<ManuallyDrop<File>>,
}

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

impl Out {
    pub fn new() -> Out {
        // SAFETY: fd 1 is open for the life of the process and ManuallyDrop never closes it.
        Out {
            stdout: Mutex::new(ManuallyDrop::new(unsafe { File::from_raw_fd(1) })),
        }
    }

    /// Writes one line (a newline is added). False when stdout is gone.
    pub fn line(&self, line: &[u8]) -> bool {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let mut out = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(&buf).is_ok()
    }

    /// The server's message (`bytes`, one JSON text) as lines; returns the lines written (a
    /// batch gives one per element). What is not JSON is skipped with a note on stderr.
    pub fn message(&self, bytes: &[u8], origin: &str) -> Vec<Vec<u8>> {
        let lines = one_line_each(bytes);
        match &lines {
            None => note(&format!(
                "skipped {} bytes from the server ({origin}) that are not a JSON-RPC message",
                bytes.len()
            )),
            Some(lines) => {
                for l in lines {
                    self.line(l);
                }
            }
        }
        lines.unwrap_or_default()
    }

    /// Ends the process with `code` once no line is being written.
    pub fn exit(&self, code: i32) -> ! {
        let _held = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
        std::process::exit(code)
    }

    /// The bridge's own error answer to request `id` (its raw JSON text).
    pub fn error(&self, id: &str, message: &str) {
        let text = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".into());
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{UPSTREAM_ERROR},\"message\":{text}}}}}"
        );
        self.line(line.as_bytes());
    }
}

/// A note for people on stderr.
pub fn note(text: &str) {
    eprintln!("sentinel upstream: {text}");
}

/// `bytes` as one line per message: `None` when it is not JSON (or an empty batch).
pub fn one_line_each(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let trimmed = bytes.trim_ascii();
    let one: Vec<u8> = trimmed
        .iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect();
    if one.first() == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(&one).ok()?;
        if items.is_empty() {
            return None;
        }
        return Some(items.iter().map(|i| i.get().as_bytes().to_vec()).collect());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&one).ok()?;
    Some(vec![one])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_its_original_bytes_on_one_line() {
        let l = one_line_each(b"  {\"id\":1,\r\n \"result\":{\"a\":\"x y\"}}\n").unwrap();
        assert_eq!(l, [b"{\"id\":1,   \"result\":{\"a\":\"x y\"}}".to_vec()]);
        let l = one_line_each(b"[{\"id\":1,\"result\":{}}, {\"id\":2 ,\"result\":[]}]").unwrap();
        assert_eq!(
            l,
            [
                b"{\"id\":1,\"result\":{}}".to_vec(),
                b"{\"id\":2 ,\"result\":[]}".to_vec()
            ]
        );
        assert!(one_line_each(b"not json").is_none());
        assert!(one_line_each(b"{\"a\":1} x").is_none());
        assert!(one_line_each(b"[]").is_none());
    }

    #[test]
    fn heads() {
        let h =
            Head::of(br#"{"jsonrpc":"2.0","id":"a","result":{"protocolVersion":"2025-06-18"}}"#)
                .unwrap();
        assert!(h.is_response() && !h.is_request());
        assert_eq!(h.protocol_version().as_deref(), Some("2025-06-18"));
        assert_eq!(h.id_value(), Some(serde_json::json!("a")));
        let h = Head::of(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#).unwrap();
        assert!(!h.is_response() && !h.is_request());
    }
}
