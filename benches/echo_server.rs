//! `bench_echo`: a deliberately minimal, fast MCP server for `scripts/bench`.
//!
//! It does not parse JSON. The benchmark driver controls the message format, so the server
//! only looks at the start of each line (the first 512 bytes):
//!
//! * `"id":` gives the request id (the text up to the next `,` or `}`); a line without one is
//!   a notification or a response and gets no answer.
//! * `"method":"ping"` and `"method":"initialize"` get canned results.
//! * `"method":"tools/call"` with `"name":"big"` gets a result whose text is
//!   [`BIG_BYTES`] bytes of `x`; any other `tools/call` gets a small `ok` result.
//! * Any other request gets a `-32601` error.
//!
//! Input is read through a large buffer and output goes through a `BufWriter` that is flushed
//! only when no more input is buffered, so the server is never the bottleneck of a benchmark.

use std::io::{self, BufRead, BufReader, BufWriter, Write};

/// Size of the text of the `big` tool's result.
const BIG_BYTES: usize = 8 * 1024 * 1024;
/// How much of each line is searched for the id, method and tool name.
const HEAD: usize = 512;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JSON text of the top-level id: the value after the first `"id":`.
fn id_of(head: &[u8]) -> Option<&[u8]> {
    let start = find(head, b"\"id\":")? + 5;
    let rest = &head[start..];
    let end = rest.iter().position(|&c| c == b',' || c == b'}')?;
    Some(rest[..end].trim_ascii())
}

/// The string value after `"key":"`, up to the next quote (no escapes: the driver's names
/// have none).
fn string_of<'a>(head: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut pat = Vec::with_capacity(key.len() + 4);
    pat.push(b'"');
    pat.extend_from_slice(key);
    pat.extend_from_slice(b"\":\"");
    let start = find(head, &pat)? + pat.len();
    let rest = &head[start..];
    let end = rest.iter().position(|&c| c == b'"')?;
    Some(&rest[..end])
}

fn main() -> io::Result<()> {
    let stdin = io::stdin().lock();
    let stdout = io::stdout().lock();
    let mut input = BufReader::with_capacity(1 << 20, stdin);
    let mut out = BufWriter::with_capacity(1 << 20, stdout);
    let mut big_text: Vec<u8> = Vec::new();
    let mut line = Vec::with_capacity(1 << 16);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let head = &line[..line.len().min(HEAD)];
        if let Some(id) = id_of(head) {
            let method = string_of(head, b"method").unwrap_or(b"");
            out.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":")?;
            out.write_all(id)?;
            match method {
                b"tools/call" if string_of(head, b"name") == Some(b"big") => {
                    if big_text.is_empty() {
                        big_text = vec![b'x'; BIG_BYTES];
                    }
                    out.write_all(b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"")?;
                    out.write_all(&big_text)?;
                    out.write_all(b"\"}]}}\n")?;
                }
                b"tools/call" => out.write_all(
                    b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n",
                )?,
                b"ping" => out.write_all(b",\"result\":{}}\n")?,
                b"initialize" => out.write_all(
                    b",\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":\
                      {\"tools\":{}},\"serverInfo\":{\"name\":\"bench_echo\",\"version\":\"1\"}}}\n",
                )?,
                _ => out.write_all(
                    b",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n",
                )?,
            }
        }
        if input.buffer().is_empty() {
            out.flush()?;
        }
    }
    out.flush()
}
