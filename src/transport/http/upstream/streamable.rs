//! The Streamable HTTP client (MCP 2025-03-26 and later): one POST per message, its answer
//! read as JSON or as an SSE stream as it arrives; the `Mcp-Session-Id` captured from the
//! initialize answer and the negotiated `MCP-Protocol-Version` sent on every later request;
//! the GET stream of the server's own messages; resuming a broken stream with GET and
//! `Last-Event-ID` (honouring `retry:`); the closing DELETE. Every request handed to
//! [`Client::deliver`] gets exactly one answer on stdout: the server's, or the bridge's error
//! saying why there is none.

use super::headers::Headers;
use super::out::{note, Head, Out};
use super::sse::Parser;
use serde_json::Value;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// Largest JSON answer read whole.
const MAX_BODY: u64 = 64 * 1024 * 1024;
/// Reconnections of a broken stream before giving up on it.
const RESUME_ATTEMPTS: u32 = 3;
/// Streams in a row the GET listener may open without receiving anything before it stops.
const GET_EMPTY_STREAMS: u32 = 5;

/// A request being delivered: its raw id (for the bridge's own answer) and its value (to find
/// the server's answer).
pub struct Request {
    pub raw_id: String,
    pub id: Value,
}

/// What became of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The server answered the POST (whatever it said); the request, if any, is answered.
    Done,
    /// The POST never reached the server; the request, if any, is answered with an error.
    Unreached,
    /// The server does not take POSTs here (404 or 405 to the first one): nothing written.
    NotStreamable,
}

/// One MCP session over Streamable HTTP.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    headers: Headers,
    out: Arc<Out>,
    session: Mutex<Option<String>>,
    protocol: Mutex<Option<String>>,
    /// The id of the initialize request, whose answer sets the protocol version.
    init_id: Mutex<Option<Value>>,
    closing: AtomicBool,
    listening: AtomicBool,
}

impl Client {
    pub fn new(agent: ureq::Agent, url: String, headers: Headers, out: Arc<Out>) -> Client {
        Client {
            agent,
            url,
            headers,
            out,
            session: Mutex::new(None),
            protocol: Mutex::new(None),
            init_id: Mutex::new(None),
            closing: AtomicBool::new(false),
            listening: AtomicBool::new(false),
        }
    }

    fn session(&self) -> Option<String> {
        lock(&self.session).clone()
    }

    /// The configured headers, the session id and the protocol version.
    fn apply<B>(&self, mut rb: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        for (name, value) in &self.headers.0 {
            rb = rb.header(name.as_str(), value.as_str());
        }
        if let Some(s) = self.session() {
            rb = rb.header("Mcp-Session-Id", s);
        }
        if let Some(v) = lock(&self.protocol).clone() {
            rb = rb.header("MCP-Protocol-Version", v);
        }
        rb
    }

    /// POSTs one message (`line`, a JSON-RPC message; `head` its fields) and writes what the
    /// server answers. `first`: the first message of an undecided transport, whose 404 or 405
    /// means "not Streamable HTTP".
    pub fn deliver(&self, line: &[u8], head: &Head<'_>, first: bool) -> Delivery {
        let req = head.is_request().then(|| Request {
            raw_id: head.id.map(|i| i.get().to_owned()).unwrap_or_default(),
            id: head.id_value().unwrap_or(Value::Null),
        });
        if head.method.as_deref() == Some("initialize") {
            *lock(&self.init_id) = head.id_value();
        }
        let what = head.method.as_deref().unwrap_or("response").to_owned();
        let rb = self
            .apply(self.agent.post(&self.url))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        let resp = match rb.send(line) {
            Ok(r) => r,
            Err(e) => {
                self.fail(
                    req.as_ref(),
                    &what,
                    &format!(
                        "could not reach the MCP server at {} ({e}); check that it is running \
                         and that the URL is right",
                        self.url
                    ),
                );
                return Delivery::Unreached;
            }
        };
        let status = resp.status().as_u16();
        if first && (status == 404 || status == 405) {
            return Delivery::NotStreamable;
        }
        if let Some(s) = header(&resp, "mcp-session-id") {
            let mut session = lock(&self.session);
            if session.is_none() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                *session = Some(s);
            }
        }
        match status {
            202 => {}
            200..=299 => self.answer(resp, req.as_ref(), &what),
            _ => {
                let expired = status == 404 && self.session().is_some();
                let detail = body_snippet(resp);
                let msg = if expired {
                    note(
                        "the MCP server ended the session (HTTP 404 for its session id); \
                         restart Sentinel to start a new one",
                    );
                    "the MCP server's session has expired (HTTP 404); restart Sentinel (the \
                     client) to start a new session"
                        .to_owned()
                } else if status == 401 || status == 403 {
                    format!(
                        "the MCP server refused the request (HTTP {status}{detail}): check the \
                         credentials in SENTINEL_UPSTREAM_HEADERS or --upstream-headers"
                    )
                } else {
                    format!("the MCP server answered HTTP {status}{detail}")
                };
                self.fail(req.as_ref(), &what, &msg);
            }
        }
        Delivery::Done
    }

    /// A 2xx answer to a POST: JSON or an event stream.
    fn answer(&self, resp: Response<Body>, req: Option<&Request>, what: &str) {
        let sse = header(&resp, "content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/event-stream"));
        if sse {
            let mut parser = Parser::new(resp.into_body().into_reader());
            let (seen, error) = self.read_stream(&mut parser, req);
            if seen || req.is_none() {
                return;
            }
            let req = req.expect("checked");
            if let Some(last) = parser.last_id().map(str::to_owned) {
                if self.resume(last, parser.retry(), req) {
                    return;
                }
            }
            let why = error.map_or_else(String::new, |e| format!(" ({e})"));
            self.fail(
                Some(req),
                what,
                &format!(
                    "the MCP server's event stream ended before it answered{why}; the server \
                     may have gone away"
                ),
            );
            return;
        }
        let body = resp.into_body().with_config().limit(MAX_BODY).read_to_vec();
        match body {
            Ok(body) if !body.trim_ascii().is_empty() => {
                let seen = self.emit(&body, req, "POST answer");
                if !seen {
                    if let Some(req) = req {
                        self.fail(Some(req), what, "the MCP server's answer did not answer it");
                    }
                }
            }
            Ok(_) => {
                if req.is_some() {
                    self.fail(req, what, "the MCP server answered with an empty body");
                }
            }
            Err(e) => self.fail(req, what, &format!("reading the MCP server's answer: {e}")),
        }
    }

    /// Writes the events of `parser` until it ends; true when `req`'s answer was among them.
    fn read_stream<R: Read>(
        &self,
        parser: &mut Parser<R>,
        req: Option<&Request>,
    ) -> (bool, Option<String>) {
        let mut seen = false;
        loop {
            match parser.next_event() {
                Ok(Some(ev)) if ev.kind == "message" && !ev.data.trim_ascii().is_empty() => {
                    seen |= self.emit(&ev.data, req, "event stream");
                    if seen && req.is_some() {
                        // The answer came: the server should end the stream now; done with it.
                        return (true, None);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return (seen, None),
                Err(e) => return (seen, Some(e.to_string())),
            }
        }
    }

    /// Writes a message from the server; true when it answers `req`. The initialize answer
    /// sets the protocol version.
    fn emit(&self, bytes: &[u8], req: Option<&Request>, origin: &str) -> bool {
        let mut seen = false;
        for line in self.out.message(bytes, origin) {
            let Some(head) = Head::of(&line) else {
                continue;
            };
            if !head.is_response() {
                continue;
            }
            let id = head.id_value();
            if id.is_some() && *lock(&self.init_id) == id {
                if let Some(v) = head.protocol_version() {
                    *lock(&self.protocol) = Some(v);
                }
            }
            if req.is_some_and(|r| Some(&r.id) == id.as_ref()) {
                seen = true;
            }
        }
        seen
    }

    /// Resumes a broken stream with GET and `Last-Event-ID`; true when `req`'s answer came.
    fn resume(&self, mut last: String, mut retry: Option<u64>, req: &Request) -> bool {
        for attempt in 0..RESUME_ATTEMPTS {
            std::thread::sleep(wait(retry, attempt));
            let rb = self
                .apply(self.agent.get(&self.url))
                .header("Accept", "text/event-stream")
                .header("Last-Event-ID", last.as_str());
            let resp = match rb.call() {
                Ok(r) => r,
                Err(_) => continue,
            };
            if resp.status().as_u16() != 200 {
                return false;
            }
            let mut parser = Parser::new(resp.into_body().into_reader());
            if self.read_stream(&mut parser, Some(req)).0 {
                return true;
            }
            if let Some(id) = parser.last_id() {
                last = id.to_owned();
            }
            retry = parser.retry().or(retry);
        }
        false
    }

    /// Starts the GET stream of the server's own messages, once.
    pub fn listen(self: &Arc<Self>) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("upstream-get".into())
            .spawn(move || me.get_stream());
        if let Err(e) = spawned {
            note(&format!("cannot start the GET stream's thread: {e}"));
        }
    }

    fn get_stream(&self) {
        let mut last: Option<String> = None;
        let mut retry = None;
        let mut empty = 0;
        while !self.closing.load(Ordering::SeqCst) {
            let mut rb = self
                .apply(self.agent.get(&self.url))
                .header("Accept", "text/event-stream");
            if let Some(id) = &last {
                rb = rb.header("Last-Event-ID", id.as_str());
            }
            let got = match rb.call() {
                Ok(resp) => match resp.status().as_u16() {
                    200 => {
                        let mut parser = Parser::new(resp.into_body().into_reader());
                        let mut got = false;
                        while let Ok(Some(ev)) = parser.next_event() {
                            got = true;
                            if ev.kind == "message" && !ev.data.trim_ascii().is_empty() {
                                self.emit(&ev.data, None, "GET stream");
                            }
                        }
                        last = parser.last_id().map(str::to_owned).or(last);
                        retry = parser.retry().or(retry);
                        got
                    }
                    // The server offers no stream of its own messages: fine.
                    405 => return,
                    status => {
                        if !self.closing.load(Ordering::SeqCst) {
                            note(&format!(
                                "the MCP server refused the stream of its own messages (GET: \
                                 HTTP {status}); requests still work, server-initiated \
                                 messages will not arrive"
                            ));
                        }
                        return;
                    }
                },
                Err(_) => false,
            };
            empty = if got { 0 } else { empty + 1 };
            if empty >= GET_EMPTY_STREAMS {
                if !self.closing.load(Ordering::SeqCst) {
                    note("the MCP server's stream of its own messages keeps failing; stopped reconnecting");
                }
                return;
            }
            std::thread::sleep(wait(retry, empty));
        }
    }

    /// Ends the session: DELETE with its id (a 405 means the server keeps sessions itself).
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        if self.session().is_none() {
            return;
        }
        let rb = self
            .apply(self.agent.delete(&self.url))
            .config()
            .timeout_global(Some(Duration::from_millis(400)))
            .build();
        let _ = rb.call();
    }

    /// No answer from the server: the request gets the bridge's error, a notification or
    /// response a note on stderr.
    fn fail(&self, req: Option<&Request>, what: &str, msg: &str) {
        match req {
            Some(r) => self.out.error(&r.raw_id, msg),
            None => note(&format!("{what} not delivered: {msg}")),
        }
    }
}

/// A header's value as text.
fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The start of an error answer's body, for the error message (`: ...`, or nothing).
fn body_snippet(resp: Response<Body>) -> String {
    let body = resp
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// How long to wait before reconnection `attempt` (0-based): the stream's `retry:`, else a
/// backoff from 500 ms doubling to 8 s.
fn wait(retry: Option<u64>, attempt: u32) -> Duration {
    match retry {
        Some(ms) => Duration::from_millis(ms.min(60_000)),
        None => Duration::from_millis(500u64 << attempt.min(4)),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
