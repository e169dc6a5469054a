//! `bench_echo`: a deliberately minimal, fast MCP server for `scripts/bench`, at least as fast
//! as the minimal C server beside it (`benches/echo.c`, measured in the same run), so that
//! every ratio of the benchmark shows Sentinel's own cost and not the server's.
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
//! One `read` fills a 1 MiB buffer; every complete line in it is answered into one output
//! buffer, written with one `write` (nothing is allocated per line); a partial line at the end
//! moves to the front for the next read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;

/// Index of the first `byte` in `hay`: the C library's `memchr`, as the C server uses.
fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    // SAFETY: memchr reads at most `hay.len()` bytes from `hay`, which is valid for them.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), i32::from(byte), hay.len()) };
    (!p.is_null()).then(|| p as usize - hay.as_ptr() as usize)
}

/// Size of the text of the `big` tool's result.
const BIG_BYTES: usize = 8 * 1024 * 1024;
/// How much of each line is searched for the id, method and tool name.
const HEAD: usize = 512;
/// Input buffer size: the longest line answered (the 8 MiB request of the benchmark fits).
const IN: usize = 16 * 1024 * 1024;

/// Index of the first `needle` in `hay`: `memchr` for its second byte (the needles are
/// `"key":`, whose quote is everywhere), then a byte-by-byte check.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 1;
    while from < hay.len() {
        let i = from + find_byte(needle[1], &hay[from..])?;
        if hay[i - 1..].starts_with(needle) {
            return Some(i - 1);
        }
        from = i + 1;
    }
    None
}

/// The JSON text of the top-level id (the value after the first `"id":`), and where it ends.
fn id_of(head: &[u8]) -> Option<(&[u8], usize)> {
    let start = find(head, b"\"id\":")? + 5;
    let rest = &head[start..];
    let end = rest.iter().position(|&c| c == b',' || c == b'}')?;
    Some((rest[..end].trim_ascii(), start + end))
}

/// The string value after `"key":"` (given whole, as `pat`), up to the next quote (no escapes:
/// the driver's names have none), and where it ends.
fn string_of<'a>(head: &'a [u8], pat: &[u8]) -> Option<(&'a [u8], usize)> {
    let start = find(head, pat)? + pat.len();
    let end = start + find_byte(b'"', &head[start..])?;
    Some((&head[start..end], end))
}

fn answer(line: &[u8], out: &mut Vec<u8>, big_text: &mut Vec<u8>) {
    let head = &line[..line.len().min(HEAD)];
    // The driver writes the id, then the method, then the tool's name: each is looked for
    // after the one before.
    let Some((id, after_id)) = id_of(head) else {
        return;
    };
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id);
    let (method, after_method) = string_of(&head[after_id..], b"\"method\":\"").unwrap_or((b"", 0));
    let tool = || string_of(&head[after_id + after_method..], b"\"name\":\"").map(|(t, _)| t);
    match method {
        b"tools/call" if tool() == Some(b"big") => {
            if big_text.is_empty() {
                *big_text = vec![b'x'; BIG_BYTES];
            }
            out.extend_from_slice(b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"");
            out.extend_from_slice(big_text);
            out.extend_from_slice(b"\"}]}}\n");
        }
        b"tools/call" => out.extend_from_slice(
            b",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n",
        ),
        b"ping" => out.extend_from_slice(b",\"result\":{}}\n"),
        b"initialize" => out.extend_from_slice(
            b",\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":\
              {\"tools\":{}},\"serverInfo\":{\"name\":\"bench_echo\",\"version\":\"1\"}}}\n",
        ),
        _ => out
            .extend_from_slice(b",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n"),
    }
}

fn main() -> io::Result<()> {
    // Raw fds 0 and 1: no line buffering in the way of one write per buffer.
    // SAFETY: fds 0 and 1 are open for the life of the process; ManuallyDrop never closes them.
    let mut stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut stdout = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut input = vec![0u8; IN];
    let mut out: Vec<u8> = Vec::with_capacity(4 << 20);
    let mut big_text: Vec<u8> = Vec::new();
    let mut have = 0;
    loop {
        let n = match stdin.read(&mut input[have..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Only the new bytes can hold the first newline after a partial line.
        let mut start = 0;
        let mut scan = have;
        have += n;
        while let Some(i) = find_byte(b'\n', &input[scan..have]) {
            let end = scan + i;
            answer(&input[start..end], &mut out, &mut big_text);
            start = end + 1;
            scan = start;
        }
        input.copy_within(start..have, 0);
        have -= start;
        if have == IN {
            have = 0; // a line longer than the buffer: dropped
        }
        if !out.is_empty() {
            stdout.write_all(&out)?;
            out.clear();
        }
    }
    Ok(())
}
