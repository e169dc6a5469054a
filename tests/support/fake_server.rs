//! `fake_server`: a small, fast, configurable fake MCP server for Sentinel's
//! integration tests and benchmarks.
//!
//! It speaks newline-delimited JSON-RPC 2.0 on stdin/stdout and answers
//! `initialize`, `ping`, `tools/list` and `tools/call` (tools `query`, `echo`,
//! `big`, `sleep`, `fail`, plus the unlisted `progress` (progress notifications, then the
//! echo), `silent`, which never answers, `flaky`, which
//! fails when its arguments say `"fail":"result"` or `"fail":"error"`, and `ask`, which sends
//! the client its own `elicitation/create` request, with a string id `"sentinel-N"` chosen to
//! look like Sentinel's, and answers the call with `answered sentinel-N` when the client's
//! response to it arrives).
//! Any other request gets a `-32601 Method not found` error; notifications and
//! responses produce no output. Request ids are echoed byte for byte (big
//! integers, strings, ...). A JSON array line is treated as a batch and
//! answered with one JSON array line. Anything else is ignored with a note
//! on stderr.
//!
//! Built as the `fake_server` example (`cargo build --example fake_server`).
//!
//! Flags (they combine):
//!
//! * `--log FILE`: append every raw input line (plus `\n`) to FILE before
//!   handling it.
//! * `--exit-after N`: exit (with the `--exit-code`) after handling line N.
//! * `--exit-code C`: exit code for `--exit-after` and for stdin EOF
//!   (default 0).
//! * `--ignore-eof`: on stdin EOF, sleep forever instead of exiting.
//! * `--ignore-sigterm`: ignore SIGTERM and SIGINT.
//! * `--trap-term-exit C`: on SIGTERM, `_exit(C)` immediately.
//! * `--grandchild PIDFILE`: spawn `sleep 1000` (same process group) and
//!   write its pid to PIDFILE.
//! * `--pid-file FILE`: write our own pid to FILE.
//! * `--stderr TEXT`: write TEXT to stderr at start.
//! * `--env-file FILE`: write the cwd, then every env var as `KEY=VALUE`, to
//!   FILE at start.
//! * `--notify-at-start`: send a `notifications/message` at start.
//! * `--flush-each`: flush stdout after every input line (default: flush only
//!   when no more input is buffered).
//! * `--tools FILE`: play a real server: FILE is a JSON object whose `tools`
//!   array is served as the `tools/list` result and whose `serverInfo` (if any)
//!   `initialize` reports; its `prompts`, `resources` and `resourceTemplates`
//!   arrays (if any) answer `prompts/list`, `resources/list` and
//!   `resources/templates/list` (other members, such as `_source`, are
//!   ignored); every `tools/call` of a tool it does not know is echoed, as
//!   usual. FILE is read again for every list request, so a test can change
//!   the server's tools under a running session (a rug pull).
//!
//! More tools, for server-side inspection: `rows` answers `n` rows in the text
//! `shape` its arguments name (`json`, `python`, `csv`, `markdown`, or
//! `structured` for `structuredContent`); `list_changed` first sends
//! `notifications/tools/list_changed`, then echoes; `big` with `"id_last": true`
//! writes the `id` after the result, as the TypeScript SDK does.
//!
//! Files written at start go to `FILE.tmp` first and are then renamed, so
//! readers never see partial contents. The pid file is written last, after
//! signal dispositions are set and the grandchild is spawned.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// Default protocol version reported by `initialize`.
const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// Notification sent by `--notify-at-start`.
const START_NOTIFICATION: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"fake_server started"}}"#;

/// `tools/list` result.
const TOOLS_LIST_RESULT: &[u8] = br#"{"tools":[{"name":"query","description":"Run a query","inputSchema":{"type":"object","properties":{"query":{"type":"string"}}}},{"name":"echo","description":"Echo the arguments back as text","inputSchema":{"type":"object"}},{"name":"big","description":"Return a text of `bytes` 'x' characters","inputSchema":{"type":"object","properties":{"bytes":{"type":"integer"}}}},{"name":"sleep","description":"Sleep `ms` milliseconds, then answer","inputSchema":{"type":"object","properties":{"ms":{"type":"integer"}}}},{"name":"fail","description":"Always fails with isError","inputSchema":{"type":"object"}}]}"#;

/// The `tools/list` result and `serverInfo` of `--tools FILE`, when given.
static PLAYED: OnceLock<Played> = OnceLock::new();

/// What `--tools FILE` makes the server answer.
struct Played {
    tools_list: Vec<u8>,
    server_info: Vec<u8>,
    /// `prompts/list`, `resources/list`, `resources/templates/list` results, when given.
    lists: Vec<(&'static str, Vec<u8>)>,
}

/// The `--tools FILE` path, read again for every list request.
static TOOLS_PATH: OnceLock<String> = OnceLock::new();

/// Reads `--tools FILE`: its `tools` array (required) and `serverInfo` (optional).
fn load_played(path: &str) -> Played {
    let text = fs::read_to_string(path).unwrap_or_else(|e| die(&format!("cannot read {path}"), e));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| usage_error(format_args!("{path} is not JSON: {e}")));
    let Some(tools) = doc.get("tools").filter(|t| t.is_array()) else {
        usage_error(format_args!("{path} has no `tools` array"));
    };
    let info = doc
        .get("serverInfo")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"name": "fake_server", "version": "0.1"}));
    let mut lists = Vec::new();
    for (method, member) in [
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ] {
        if let Some(items) = doc.get(member).filter(|t| t.is_array()) {
            let mut result = serde_json::Map::new();
            result.insert(member.to_owned(), items.clone());
            lists.push((method, serde_json::to_vec(&result).expect("JSON")));
        }
    }
    Played {
        tools_list: serde_json::to_vec(&serde_json::json!({ "tools": tools })).expect("JSON"),
        server_info: serde_json::to_vec(&info).expect("JSON"),
        lists,
    }
}

/// `tools/call` result of the `fail` tool.
const FAIL_RESULT: &[u8] = br#"{"content":[{"type":"text","text":"tool failed"}],"isError":true}"#;

/// Error object of a failing `flaky` call.
const TOOL_ERROR: &[u8] = br#"{"code":-32603,"message":"Internal error in tool"}"#;

/// Error object for unknown methods.
const METHOD_NOT_FOUND: &[u8] = br#"{"code":-32601,"message":"Method not found"}"#;

/// Exit code used by the `--trap-term-exit` SIGTERM handler.
static TERM_EXIT_CODE: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_sigterm(_sig: libc::c_int) {
    // SAFETY: `_exit` is async-signal-safe; the atomic load is lock-free.
    unsafe { libc::_exit(TERM_EXIT_CODE.load(Ordering::Relaxed)) }
}

#[derive(Default)]
struct Options {
    log: Option<String>,
    exit_after: Option<u64>,
    exit_code: i32,
    ignore_eof: bool,
    ignore_sigterm: bool,
    grandchild: Option<String>,
    pid_file: Option<String>,
    stderr_text: Option<String>,
    env_file: Option<String>,
    notify_at_start: bool,
    flush_each: bool,
    trap_term_exit: Option<i32>,
    tools: Option<String>,
}

fn usage_error(msg: fmt::Arguments<'_>) -> ! {
    eprintln!("fake_server: {msg}");
    process::exit(2);
}

fn parse_args() -> Options {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage_error(format_args!("{flag} needs a value")))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> T {
            v.parse()
                .unwrap_or_else(|_| usage_error(format_args!("bad number for {flag}: {v:?}")))
        }
        match flag.as_str() {
            "--log" => opts.log = Some(value()),
            "--exit-after" => opts.exit_after = Some(num(&flag, value())),
            "--exit-code" => opts.exit_code = num(&flag, value()),
            "--ignore-eof" => opts.ignore_eof = true,
            "--ignore-sigterm" => opts.ignore_sigterm = true,
            "--grandchild" => opts.grandchild = Some(value()),
            "--pid-file" => opts.pid_file = Some(value()),
            "--stderr" => opts.stderr_text = Some(value()),
            "--env-file" => opts.env_file = Some(value()),
            "--notify-at-start" => opts.notify_at_start = true,
            "--flush-each" => opts.flush_each = true,
            "--trap-term-exit" => opts.trap_term_exit = Some(num(&flag, value())),
            "--tools" => opts.tools = Some(value()),
            _ => usage_error(format_args!("unknown flag {flag:?}")),
        }
    }
    opts
}

/// Writes `contents` to `path` atomically (via `path.tmp` and a rename).
fn write_atomic(path: &str, contents: &[u8]) {
    let tmp = format!("{path}.tmp");
    let result = fs::write(&tmp, contents).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        eprintln!("fake_server: cannot write {path}: {e}");
        process::exit(1);
    }
}

fn die(what: &str, e: io::Error) -> ! {
    eprintln!("fake_server: {what}: {e}");
    process::exit(1);
}

/// One JSON-RPC message; only the members the fake server cares about.
struct Message<'a> {
    id: Option<&'a RawValue>,
    method: Option<String>,
    params: Option<Value>,
}

enum Field {
    Id,
    Method,
    Params,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "id" => Field::Id,
                    "method" => Field::Method,
                    "params" => Field::Params,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for Message<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = Message<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'de>, A::Error> {
                let (mut id, mut method, mut params) = (None, None, None);
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Id if id.is_some() => return Err(de::Error::duplicate_field("id")),
                        Field::Id => id = Some(map.next_value::<Option<&'de RawValue>>()?),
                        Field::Method if method.is_some() => {
                            return Err(de::Error::duplicate_field("method"))
                        }
                        Field::Method => method = Some(map.next_value::<Option<String>>()?),
                        Field::Params if params.is_some() => {
                            return Err(de::Error::duplicate_field("params"))
                        }
                        Field::Params => params = Some(map.next_value::<Option<Value>>()?),
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Message {
                    id: id.flatten(),
                    method: method.flatten(),
                    params: params.flatten(),
                })
            }
        }
        d.deserialize_map(MessageVisitor)
    }
}

/// A run of `'x'` bytes used to write the `big` tool's text.
static XS: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// The `ask` tool's open requests to the client: (our request id, the call's id), as JSON.
static ASKS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Answers one message. Returns whether anything was written to `out`.
fn handle<W: Write>(msg: &Message<'_>, out: &mut W, scratch: &mut Vec<u8>) -> io::Result<bool> {
    if let (Some(id), None) = (msg.id, msg.method.as_deref()) {
        // A response: the answer to one of `ask`'s requests ends that call.
        let mut asks = ASKS.lock().unwrap();
        if let Some(i) = asks.iter().position(|(ours, _)| ours == id.get()) {
            let (ours, call) = asks.remove(i);
            write!(
                out,
                r#"{{"jsonrpc":"2.0","id":{call},"result":{{"content":[{{"type":"text","text":"answered {}"}}],"isError":false}}}}"#,
                ours.trim_matches('"')
            )?;
            return Ok(true);
        }
        return Ok(false);
    }
    let (Some(id), Some(method)) = (msg.id, msg.method.as_deref()) else {
        return Ok(false); // notification
    };
    if method == "tools/call"
        && msg
            .params
            .as_ref()
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            == Some("ask")
    {
        let mut asks = ASKS.lock().unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let ours = format!("\"sentinel-{}\"", NEXT.fetch_add(1, Ordering::Relaxed));
        write!(
            out,
            r#"{{"jsonrpc":"2.0","id":{ours},"method":"elicitation/create","params":{{"mode":"form","message":"the server asks","requestedSchema":{{"type":"object","properties":{{"ok":{{"type":"boolean"}}}}}}}}}}"#
        )?;
        asks.push((ours, id.get().to_owned()));
        return Ok(true);
    }
    let params = msg.params.as_ref();
    let param = |key: &str| params.and_then(|p| p.get(key));

    // Decide first, so that `silent` writes nothing at all.
    enum Answer<'v> {
        Raw(&'static [u8]),
        Owned(Vec<u8>),
        /// A result written with the id after it.
        IdLast(Vec<u8>),
        Error(&'static [u8]),
        Initialize(Option<&'v Value>),
        Big(u64),
        Echo(Option<&'v Value>),
    }
    let answer = match method {
        "initialize" => Answer::Initialize(param("protocolVersion")),
        "ping" => Answer::Raw(b"{}"),
        "tools/list" => match TOOLS_PATH.get() {
            Some(path) => Answer::Owned(load_played(path).tools_list),
            None => Answer::Raw(TOOLS_LIST_RESULT),
        },
        "prompts/list" | "resources/list" | "resources/templates/list" => {
            match TOOLS_PATH.get().map(|p| load_played(p)).and_then(|p| {
                p.lists
                    .into_iter()
                    .find(|(m, _)| *m == method)
                    .map(|(_, r)| r)
            }) {
                Some(result) => Answer::Owned(result),
                None => Answer::Error(METHOD_NOT_FOUND),
            }
        }
        "tools/call" => {
            let args = param("arguments");
            let arg_u64 = |key: &str| args.and_then(|a| a.get(key)).and_then(Value::as_u64);
            match param("name").and_then(Value::as_str).unwrap_or("") {
                "big" if args.and_then(|a| a.get("id_last")) == Some(&Value::Bool(true)) => {
                    let text = "x".repeat(arg_u64("bytes").unwrap_or(0) as usize);
                    Answer::IdLast(
                        serde_json::to_vec(&serde_json::json!({
                            "content": [{"type": "text", "text": text}], "isError": false
                        }))
                        .expect("JSON"),
                    )
                }
                "big" => Answer::Big(arg_u64("bytes").unwrap_or(0)),
                "rows" => Answer::Owned(rows_result(
                    arg_u64("n").unwrap_or(0),
                    args.and_then(|a| a.get("shape"))
                        .and_then(Value::as_str)
                        .unwrap_or("json"),
                )),
                "list_changed" => {
                    out.write_all(
                        b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n",
                    )?;
                    Answer::Echo(args)
                }
                // `n` progress notifications for the call's `_meta.progressToken` (none
                // without one), `ms` apart, each flushed at once, then the echo.
                "progress" => {
                    let token = params
                        .and_then(|p| p.get("_meta"))
                        .and_then(|m| m.get("progressToken"));
                    for i in 1..=arg_u64("n").unwrap_or(0) {
                        if let Some(token) = token {
                            writeln!(
                                out,
                                r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{token},"progress":{i}}}}}"#
                            )?;
                        }
                        out.flush()?;
                        thread::sleep(Duration::from_millis(arg_u64("ms").unwrap_or(0)));
                    }
                    Answer::Echo(args)
                }
                "sleep" => {
                    out.flush()?;
                    thread::sleep(Duration::from_millis(arg_u64("ms").unwrap_or(0)));
                    Answer::Echo(args)
                }
                "fail" => Answer::Raw(FAIL_RESULT),
                // Fails as the arguments say: `{"fail":"result"}` answers a tool result with
                // isError, `{"fail":"error"}` a JSON-RPC error; anything else is echoed.
                "flaky" => match args.and_then(|a| a.get("fail")).and_then(Value::as_str) {
                    Some("result") => Answer::Raw(FAIL_RESULT),
                    Some("error") => Answer::Error(TOOL_ERROR),
                    _ => Answer::Echo(args),
                },
                "silent" => return Ok(false),
                _ => Answer::Echo(args),
            }
        }
        _ => Answer::Error(METHOD_NOT_FOUND),
    };

    if let Answer::IdLast(result) = &answer {
        out.write_all(br#"{"jsonrpc":"2.0","result":"#)?;
        out.write_all(result)?;
        out.write_all(br#","id":"#)?;
        out.write_all(id.get().as_bytes())?;
        return out.write_all(b"}").map(|()| true);
    }
    out.write_all(br#"{"jsonrpc":"2.0","id":"#)?;
    out.write_all(id.get().as_bytes())?;
    match answer {
        Answer::IdLast(_) => unreachable!("written above"),
        Answer::Owned(result) => {
            out.write_all(br#","result":"#)?;
            out.write_all(&result)?;
        }
        Answer::Error(err) => {
            out.write_all(br#","error":"#)?;
            out.write_all(err)?;
            return out.write_all(b"}").map(|()| true);
        }
        Answer::Raw(result) => {
            out.write_all(br#","result":"#)?;
            out.write_all(result)?;
        }
        Answer::Initialize(version) => {
            out.write_all(br#","result":{"protocolVersion":"#)?;
            match version {
                Some(v) => serde_json::to_writer(&mut *out, v)?,
                None => serde_json::to_writer(&mut *out, DEFAULT_PROTOCOL_VERSION)?,
            }
            match PLAYED.get() {
                Some(p) => {
                    out.write_all(br#","capabilities":{"tools":{}},"serverInfo":"#)?;
                    out.write_all(&p.server_info)?;
                    out.write_all(b"}")?;
                }
                None => out.write_all(
                    br#","capabilities":{"tools":{}},"serverInfo":{"name":"fake_server","version":"0.1"}}"#,
                )?,
            }
        }
        Answer::Big(mut n) => {
            out.write_all(br#","result":{"content":[{"type":"text","text":""#)?;
            while n > 0 {
                let chunk = n.min(XS.len() as u64) as usize;
                out.write_all(&XS[..chunk])?;
                n -= chunk as u64;
            }
            out.write_all(br#""}],"isError":false}"#)?;
        }
        Answer::Echo(args) => {
            scratch.clear();
            match args {
                Some(a) => serde_json::to_writer(&mut *scratch, a)?,
                None => scratch.extend_from_slice(b"{}"),
            }
            // serde_json only ever writes valid UTF-8.
            let text = std::str::from_utf8(scratch).expect("serde_json output is UTF-8");
            out.write_all(br#","result":{"content":[{"type":"text","text":"#)?;
            serde_json::to_writer(&mut *out, text)?;
            out.write_all(br#"}],"isError":false}"#)?;
        }
    }
    out.write_all(b"}")?;
    Ok(true)
}

/// The result of the `rows` tool: `n` rows of (id, name) in `shape`.
fn rows_result(n: u64, shape: &str) -> Vec<u8> {
    let rows: Vec<(u64, String)> = (1..=n).map(|i| (i, format!("user {i}"))).collect();
    let text = match shape {
        "python" => format!(
            "[{}]",
            rows.iter()
                .map(|(i, name)| format!("{{'id': {i}, 'name': '{name}'}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "csv" => {
            let mut t = "id,name\n".to_owned();
            for (i, name) in &rows {
                t.push_str(&format!("{i},{name}\n"));
            }
            t
        }
        "markdown" => {
            let mut t = "| id | name |\n|---|---|\n".to_owned();
            for (i, name) in &rows {
                t.push_str(&format!("| {i} | {name} |\n"));
            }
            t
        }
        _ => serde_json::to_string(
            &rows
                .iter()
                .map(|(i, name)| serde_json::json!({"id": i, "name": name}))
                .collect::<Vec<_>>(),
        )
        .expect("JSON"),
    };
    let mut result =
        serde_json::json!({"content": [{"type": "text", "text": text}], "isError": false});
    if shape == "structured" {
        let objects: Vec<Value> = rows
            .iter()
            .map(|(i, name)| serde_json::json!({"id": i, "name": name}))
            .collect();
        result["structuredContent"] = serde_json::json!({ "rows": objects });
    }
    serde_json::to_vec(&result).expect("JSON")
}

fn unparseable() {
    eprintln!("fake_server: unparseable line");
}

/// Handles one input line (without its newline).
fn handle_line<W: Write>(
    line: &[u8],
    out: &mut W,
    scratch: &mut Vec<u8>,
    batch_buf: &mut Vec<u8>,
) -> io::Result<()> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => match serde_json::from_slice::<Message<'_>>(line) {
            Ok(msg) => {
                if handle(&msg, out, scratch)? {
                    out.write_all(b"\n")?;
                }
            }
            Err(_) => unparseable(),
        },
        Some(b'[') => {
            let Ok(elements) = serde_json::from_slice::<Vec<&RawValue>>(line) else {
                unparseable();
                return Ok(());
            };
            // A batch may contain `sleep` calls: don't hold earlier answers.
            out.flush()?;
            batch_buf.clear();
            batch_buf.push(b'[');
            let mut any = false;
            for element in elements {
                let Ok(msg) = serde_json::from_str::<Message<'_>>(element.get()) else {
                    unparseable();
                    continue;
                };
                let mark = batch_buf.len();
                if any {
                    batch_buf.push(b',');
                }
                if handle(&msg, batch_buf, scratch)? {
                    any = true;
                } else {
                    batch_buf.truncate(mark);
                }
            }
            if any {
                batch_buf.extend_from_slice(b"]\n");
                out.write_all(batch_buf)?;
            }
        }
        _ => unparseable(),
    }
    Ok(())
}

fn main() {
    let opts = parse_args();
    if let Some(path) = &opts.tools {
        let _ = PLAYED.set(load_played(path));
        let _ = TOOLS_PATH.set(path.clone());
    }

    if opts.ignore_sigterm {
        // SAFETY: setting a signal disposition to SIG_IGN is always sound.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
        }
    }
    if let Some(code) = opts.trap_term_exit {
        TERM_EXIT_CODE.store(code, Ordering::Relaxed);
        let handler: extern "C" fn(libc::c_int) = on_sigterm;
        // SAFETY: the handler only calls the async-signal-safe `_exit`.
        unsafe {
            libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        }
    }
    if let Some(text) = &opts.stderr_text {
        eprintln!("{text}");
    }
    if let Some(path) = &opts.env_file {
        let mut contents = Vec::new();
        let cwd = std::env::current_dir().unwrap_or_else(|e| die("cannot get cwd", e));
        contents.extend_from_slice(cwd.as_os_str().as_bytes());
        contents.push(b'\n');
        for (key, value) in std::env::vars_os() {
            contents.extend_from_slice(key.as_bytes());
            contents.push(b'=');
            contents.extend_from_slice(value.as_bytes());
            contents.push(b'\n');
        }
        write_atomic(path, &contents);
    }
    if let Some(path) = &opts.grandchild {
        let mut child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| die("cannot spawn grandchild", e));
        write_atomic(path, child.id().to_string().as_bytes());
        // Reap it if it ever dies before us, so it never lingers as a zombie.
        thread::spawn(move || child.wait());
    }
    if let Some(path) = &opts.pid_file {
        write_atomic(path, process::id().to_string().as_bytes());
    }
    let mut log = opts.log.as_deref().map(|path| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| die(&format!("cannot open {path}"), e))
    });

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    if opts.notify_at_start {
        let result = out
            .write_all(START_NOTIFICATION)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = result {
            die("cannot write to stdout", e);
        }
    }

    let stdin = io::stdin();
    let mut reader = BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut buf = Vec::with_capacity(4096);
    let mut scratch = Vec::new();
    let mut batch_buf = Vec::new();
    let mut handled: u64 = 0;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => die("cannot read stdin", e),
        }
        if buf.last() != Some(&b'\n') {
            buf.push(b'\n'); // final line without a newline
        }
        if let Some(file) = log.as_mut() {
            if let Err(e) = write_log(file, &buf) {
                die("cannot write log", e);
            }
        }
        let line = &buf[..buf.len() - 1];
        if let Err(e) = handle_line(line, &mut out, &mut scratch, &mut batch_buf) {
            die("cannot write to stdout", e);
        }
        handled += 1;
        let exiting = opts.exit_after == Some(handled);
        if exiting || opts.flush_each || reader.buffer().is_empty() {
            if let Err(e) = out.flush() {
                die("cannot write to stdout", e);
            }
        }
        if exiting {
            process::exit(opts.exit_code);
        }
    }
    if let Err(e) = out.flush() {
        die("cannot write to stdout", e);
    }
    if opts.ignore_eof {
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    process::exit(opts.exit_code);
}

fn write_log(file: &mut File, line_with_newline: &[u8]) -> io::Result<()> {
    file.write_all(line_with_newline)?;
    file.flush()
}
