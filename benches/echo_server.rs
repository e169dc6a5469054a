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
//! * `"method":"tools/list"` gets [`TOOLS`] tool definitions of the shape real servers list
//!   (a name, a title, a description of a few sentences, an input schema of three to six
//!   described properties, annotations), none of which carries anything a description scanner
//!   should report; built once, on the first request.
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

/// How many tools `tools/list` lists (the driver checks the count).
const TOOLS: usize = 200;

/// What the listed tools act on, and the verbs they do it with.
const NOUNS: &[(&str, &str)] = &[
    ("issue", "issue in a repository's tracker"),
    ("pull_request", "pull request and its review state"),
    ("branch", "branch of a Git repository"),
    ("release", "tagged release with its notes and assets"),
    ("workflow_run", "run of a continuous-integration workflow"),
    ("calendar_event", "event in the user's calendar"),
    ("document", "document in the team's shared drive"),
    ("spreadsheet_row", "row of a spreadsheet tab"),
    ("ticket", "support ticket and its conversation"),
    ("invoice", "invoice in the accounting system"),
];
const VERBS: &[(&str, &str, bool, bool)] = &[
    // (verb, what it does to one of the nouns, read-only, destructive)
    ("get", "Fetch one", true, false),
    ("list", "List, newest first, every", true, false),
    (
        "search",
        "Search by keywords and filters for any",
        true,
        false,
    ),
    ("create", "Create one", false, false),
    ("update", "Change the given fields of one", false, false),
    ("delete", "Permanently delete one", false, true),
    (
        "archive",
        "Archive (hide from default views) one",
        false,
        false,
    ),
    ("comment_on", "Add a comment to one", false, false),
    ("assign", "Assign a person to one", false, false),
    ("export", "Export as CSV or JSON one", true, false),
];

/// The `,"result":{"tools":[...]}}` answer (and newline) that follows the id.
fn tools_list_tail() -> Vec<u8> {
    let mut tools = Vec::with_capacity(TOOLS);
    'all: for round in 0.. {
        for (noun, what) in NOUNS {
            for (verb, does, read_only, destructive) in VERBS {
                if tools.len() == TOOLS {
                    break 'all;
                }
                let name = if round == 0 {
                    format!("{verb}_{noun}")
                } else {
                    format!("{verb}_{noun}_v{}", round + 1)
                };
                let title = format!("{} {}", verb.replace('_', " "), noun.replace('_', " "));
                let mut props = vec![
                    format!("\"owner\":{{\"type\":\"string\",\"description\":\"The account or organisation that owns the {what}.\"}}"),
                    format!("\"project\":{{\"type\":\"string\",\"description\":\"The project's short name, as shown in its address.\"}}"),
                    format!("\"{noun}_id\":{{\"type\":\"integer\",\"minimum\":1,\"description\":\"The number of the {} (from a list or search result).\"}}", noun.replace('_', " ")),
                ];
                let mut required = vec!["\"owner\"".to_owned(), "\"project\"".to_owned()];
                if !matches!(*verb, "list" | "search" | "create") {
                    required.push(format!("\"{noun}_id\""));
                }
                match tools.len() % 4 {
                    0 => props.push("\"page\":{\"type\":\"integer\",\"minimum\":1,\"default\":1,\"description\":\"Page of results to return.\"},\"per_page\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"default\":30,\"description\":\"Results per page, at most 100.\"}".into()),
                    1 => props.push("\"body\":{\"type\":\"string\",\"description\":\"Text in Markdown; mentions and links are rendered.\"}".into()),
                    2 => props.push("\"labels\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"Labels to apply, by name; unknown names are created.\"},\"state\":{\"type\":\"string\",\"enum\":[\"open\",\"closed\",\"all\"],\"description\":\"Which items to include.\"}".into()),
                    _ => props.push("\"since\":{\"type\":\"string\",\"format\":\"date-time\",\"description\":\"Only items changed after this time (ISO 8601).\"}".into()),
                }
                tools.push(format!(
                    "{{\"name\":\"{name}\",\"title\":\"{title}\",\"description\":\"{does} \
                     {}. Returns the {} as JSON with its number, title, state, author, timestamps \
                     and web address. Requires access to the project; results follow the \
                     project's visibility settings.\",\"inputSchema\":{{\"type\":\"object\",\
                     \"properties\":{{{}}},\"required\":[{}],\"additionalProperties\":false}},\
                     \"annotations\":{{\"title\":\"{title}\",\"readOnlyHint\":{read_only},\
                     \"destructiveHint\":{destructive},\"idempotentHint\":{read_only},\
                     \"openWorldHint\":true}}}}",
                    what,
                    noun.replace('_', " "),
                    props.join(","),
                    required.join(","),
                ));
            }
        }
    }
    format!(",\"result\":{{\"tools\":[{}]}}}}\n", tools.join(",")).into_bytes()
}

fn answer(line: &[u8], out: &mut Vec<u8>, big_text: &mut Vec<u8>, tools: &mut Vec<u8>) {
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
        b"tools/list" => {
            if tools.is_empty() {
                *tools = tools_list_tail();
            }
            out.extend_from_slice(tools);
        }
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
    let mut tools: Vec<u8> = Vec::new();
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
            answer(&input[start..end], &mut out, &mut big_text, &mut tools);
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
