//! `fake_http_server`: a small fake MCP server over HTTP for the `--upstream` integration
//! tests (tests/upstream.rs), hand-written on std's `TcpListener` (test code only: one thread
//! per connection, `Connection: close` on every answer).
//!
//! `/mcp` is Streamable HTTP: `initialize` answers JSON with `Mcp-Session-Id: sess-1`; every
//! later request must carry that session id and `MCP-Protocol-Version: 2025-06-18`
//! (else 400); notifications and responses get 202. `tools/call` of `query` answers JSON
//! (`ran: <sql>`); `progress` answers an SSE stream: a priming event, three progress
//! notifications, then the result; `resume` sends a priming event with `retry: 50`, a
//! progress notification and closes the stream without answering, and a GET with
//! `Last-Event-ID: r-1` then brings the result; `crash` sends a progress notification then
//! exits the whole server; `expire` answers, then the session is over (404 to every request
//! carrying its id). A request whose `Authorization` is `Bearer bad-s3cret` gets 401. A GET without `Last-Event-ID` opens the server's own stream (one
//! `notifications/message`, then keep-alive comments); DELETE ends the session.
//! `/sse` is the legacy HTTP+SSE transport: POST gets 405, GET opens the stream whose
//! `endpoint` event names `/messages?session=1`, where POSTed messages get 202 and their
//! answers come on the stream.
//!
//! Flags: `--port-file FILE` (written once listening on 127.0.0.1, a free port), `--log FILE`
//! (appends `METHOD PATH` and the body of every request, and `authorization: VALUE` when sent).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct State {
    log: Option<String>,
    /// The legacy session's stream: messages to write on it.
    legacy: Mutex<Option<Sender<String>>>,
    legacy_rx: Mutex<Option<Receiver<String>>>,
    /// The session was ended (`expire`).
    expired: std::sync::atomic::AtomicBool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut state = State::default();
    let mut port_file = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port-file" => port_file = args.get(i + 1).cloned(),
            "--log" => state.log = args.get(i + 1).cloned(),
            other => panic!("unknown flag {other}"),
        }
        i += 2;
    }
    let (tx, rx) = mpsc::channel();
    *state.legacy.lock().unwrap() = Some(tx);
    *state.legacy_rx.lock().unwrap() = Some(rx);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    if let Some(f) = port_file {
        std::fs::write(format!("{f}.tmp"), port.to_string()).unwrap();
        std::fs::rename(format!("{f}.tmp"), f).unwrap();
    }
    let state = Arc::new(state);
    for stream in listener.incoming().flatten() {
        let state = state.clone();
        thread::spawn(move || {
            if let Some(req) = read_request(&stream) {
                handle(&state, req, stream);
            }
        });
    }
}

fn read_request(stream: &TcpStream) -> Option<Req> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

fn log(state: &State, text: &str) {
    if let Some(path) = &state.log {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{text}").unwrap();
    }
}

fn respond(mut s: &TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

/// Starts an SSE answer (no length: the stream ends when the connection closes).
fn start_sse(mut s: &TcpStream) {
    let _ = s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
    );
}

fn event(mut s: &TcpStream, id: Option<&str>, data: &str) -> bool {
    let mut e = String::new();
    if let Some(id) = id {
        e.push_str(&format!("id: {id}\n"));
    }
    e.push_str(&format!("data: {data}\n\n"));
    s.write_all(e.as_bytes()).and_then(|_| s.flush()).is_ok()
}

fn handle(state: &State, req: Req, s: TcpStream) {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    log(state, &format!("{} {} {}", req.method, req.path, body));
    if let Some(auth) = req.headers.get("authorization") {
        log(state, &format!("authorization: {auth}"));
    }
    if req.headers.get("authorization").map(String::as_str) == Some("Bearer bad-s3cret") {
        return respond(&s, "401 Unauthorized", &[], b"invalid token");
    }
    if req.path == "/mcp"
        && req.headers.contains_key("mcp-session-id")
        && state.expired.load(std::sync::atomic::Ordering::SeqCst)
    {
        return respond(&s, "404 Not Found", &[], b"no such session");
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/mcp") => post(state, &req, &s),
        ("GET", "/mcp") => get(&req, &s),
        ("DELETE", "/mcp") => respond(&s, "200 OK", &[], b""),
        ("POST", "/sse") => respond(&s, "405 Method Not Allowed", &[], b""),
        ("GET", "/sse") => legacy_stream(state, &s),
        ("POST", p) if p.starts_with("/messages") => {
            respond(&s, "202 Accepted", &[], b"Accepted");
            let msg: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if let Some(answer) = answer(&msg) {
                if let Some(tx) = &*state.legacy.lock().unwrap() {
                    let _ = tx.send(answer.to_string());
                }
            }
        }
        _ => respond(&s, "404 Not Found", &[], b"no such endpoint"),
    }
}

/// The JSON answer to a request, for the calls that answer at once.
fn answer(msg: &Value) -> Option<Value> {
    let id = msg.get("id")?.clone();
    let method = msg.get("method")?.as_str()?;
    let result = match method {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-http", "version": "1"}
        }),
        "ping" => json!({}),
        "tools/list" => json!({"tools": [
            {"name": "query", "description": "Run SQL", "inputSchema": {"type": "object", "properties": {"sql": {"type": "string"}}}},
            {"name": "progress", "description": "Reports progress", "inputSchema": {"type": "object"}}
        ]}),
        "tools/call" => {
            let args = &msg["params"]["arguments"];
            let text = format!("ran: {}", args["sql"].as_str().unwrap_or(""));
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        _ => {
            return Some(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}),
            )
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn post(state: &State, req: &Req, s: &TcpStream) {
    let msg: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return respond(s, "400 Bad Request", &[], b"not JSON"),
    };
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    if method == "initialize" {
        let a = answer(&msg).unwrap().to_string();
        // Pretty-printed across lines, as some servers do: the bridge must make it one line.
        let pretty = a.replacen(",\"result\"", ",\n  \"result\"", 1);
        return respond(
            s,
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Mcp-Session-Id", "sess-1"),
            ],
            pretty.as_bytes(),
        );
    }
    if req.headers.get("mcp-session-id").map(String::as_str) != Some("sess-1")
        || req.headers.get("mcp-protocol-version").map(String::as_str) != Some("2025-06-18")
    {
        return respond(
            s,
            "400 Bad Request",
            &[],
            b"missing session or protocol version",
        );
    }
    if msg.get("id").is_none() || msg.get("method").is_none() {
        return respond(s, "202 Accepted", &[], b"");
    }
    let id = msg["id"].clone();
    let token = msg["params"]["_meta"]["progressToken"].clone();
    let progress = |n: u32| {
        json!({"jsonrpc": "2.0", "method": "notifications/progress",
               "params": {"progressToken": token, "progress": n, "total": 3}})
        .to_string()
    };
    let tool = msg["params"]["name"].as_str().unwrap_or("");
    match (method, tool) {
        ("tools/call", "progress") => {
            start_sse(s);
            event(s, Some("p-0"), "");
            for n in 1..=3 {
                event(s, Some(&format!("p-{n}")), &progress(n));
                thread::sleep(Duration::from_millis(30));
            }
            let done = json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "progress done"}]}});
            event(s, Some("p-4"), &done.to_string());
        }
        ("tools/call", "resume") => {
            start_sse(s);
            let _ = (&*s).write_all(b"retry: 50\n");
            event(s, Some("r-0"), "");
            event(s, Some("r-1"), &progress(1));
            // Closed without the answer: the client resumes with GET and Last-Event-ID.
        }
        ("tools/call", "expire") => {
            state
                .expired
                .store(true, std::sync::atomic::Ordering::SeqCst);
            respond(
                s,
                "200 OK",
                &[("Content-Type", "application/json")],
                answer(&msg).unwrap().to_string().as_bytes(),
            );
        }
        ("tools/call", "crash") => {
            start_sse(s);
            event(s, Some("c-1"), &progress(1));
            thread::sleep(Duration::from_millis(50));
            std::process::exit(0);
        }
        _ => respond(
            s,
            "200 OK",
            &[("Content-Type", "application/json")],
            answer(&msg).unwrap().to_string().as_bytes(),
        ),
    }
}

fn get(req: &Req, s: &TcpStream) {
    if req.headers.get("mcp-session-id").map(String::as_str) != Some("sess-1") {
        return respond(s, "400 Bad Request", &[], b"missing session");
    }
    start_sse(s);
    match req.headers.get("last-event-id").map(String::as_str) {
        Some("r-1") => {
            let done = json!({"jsonrpc": "2.0", "id": 99, "result": {"content": [{"type": "text", "text": "resumed"}]}});
            // The id of the `resume` call is not known here: the tests call it with id 99.
            event(s, Some("r-2"), &done.to_string());
        }
        Some(_) => {}
        None => {
            let hello = json!({"jsonrpc": "2.0", "method": "notifications/message",
                               "params": {"level": "info", "data": "hello from the GET stream"}});
            event(s, Some("g-1"), &hello.to_string());
            while (&*s).write_all(b": keep-alive\n\n").is_ok() {
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn legacy_stream(state: &State, s: &TcpStream) {
    let Some(rx) = state.legacy_rx.lock().unwrap().take() else {
        return respond(s, "409 Conflict", &[], b"one legacy session at a time");
    };
    start_sse(s);
    let _ = (&*s).write_all(b"event: endpoint\ndata: /messages?session=1\n\n");
    let _ = (&*s).flush();
    while let Ok(msg) = rx.recv() {
        if (&*s)
            .write_all(format!("event: message\ndata: {msg}\n\n").as_bytes())
            .is_err()
        {
            break;
        }
    }
}
