//! Where each message for the client of one HTTP session goes. The session's pumps write the
//! client's messages (the server's, and the gateway's own answers) as lines, as they would to
//! stdout; the router reads each line's `id`, `method` and progress token and hands it to the
//! HTTP response waiting for it: a response to the POST that carried its request, a progress
//! notification to the POST whose request asked for it, any other server message to an open
//! POST event stream, else to the session's GET stream, else to a bounded backlog the next
//! GET stream receives first. Every event sent gets an id, and the last ones are kept, so a
//! client that lost a stream can resume it with `Last-Event-ID`. Nothing is dropped silently:
//! a response whose POST went away goes to the GET stream instead.

use crate::base::jsonrpc::id_key;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};

/// Messages kept for the GET stream while none is open.
pub const BACKLOG: usize = 1024;
/// Events kept for resumption.
const HISTORY: usize = 256;

/// A stream number: a POST's response, or the GET stream.
pub type StreamId = u64;

/// One message for a stream, with its event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub line: Vec<u8>,
}

/// What a POST registers before its messages reach the server.
pub struct Registration {
    pub stream: StreamId,
    pub rx: Receiver<Event>,
    /// A GET that resumed a POST's stream: it carries that POST's answers from now on.
    pub takeover: bool,
}

/// Why the router refused a registration.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The session's server is gone.
    Closed,
    /// A request with this id is already waiting for its answer.
    DuplicateId(String),
}

struct Post {
    tx: Sender<Event>,
    /// Requests still waiting for their answers.
    remaining: usize,
    /// Whether the POST answers with an event stream (else it waits for JSON).
    sse: bool,
}

#[derive(Default)]
struct Routes {
    next_stream: StreamId,
    next_event: u64,
    /// Request id key -> the POST waiting for its answer.
    pending: HashMap<String, StreamId>,
    /// Progress token (as JSON) -> the POST of the request that asked for it.
    progress: HashMap<String, StreamId>,
    posts: HashMap<StreamId, Post>,
    /// The GET stream, when one is open.
    get: Option<(StreamId, Sender<Event>)>,
    backlog: VecDeque<Vec<u8>>,
    /// Sent events: (event id, stream, line), for `Last-Event-ID`.
    history: VecDeque<(u64, StreamId, Vec<u8>)>,
    /// The id of the `initialize` request, until its answer gives the protocol version.
    initialize: Option<String>,
    version: Option<String>,
    closed: bool,
    /// Legacy HTTP+SSE: every message goes to the one event stream.
    legacy: bool,
    /// POST streams a resumed GET took over (the last few).
    taken: Vec<StreamId>,
    dropped: u64,
}

/// The router of one session.
#[derive(Default)]
pub struct Router {
    routes: Mutex<Routes>,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    params: Option<PeekParams<'a>>,
    #[serde(borrow, default)]
    result: Option<PeekResult<'a>>,
}

#[derive(Deserialize)]
struct PeekParams<'a> {
    #[serde(borrow, default, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<PeekMeta<'a>>,
}

#[derive(Deserialize)]
struct PeekMeta<'a> {
    #[serde(borrow, default, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PeekResult<'a> {
    #[serde(borrow, default, rename = "protocolVersion")]
    protocol_version: Option<&'a str>,
}

/// The request ids and progress tokens of a POST body (one message or a batch).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// Each request's id key ([`id_key`]).
    pub ids: Vec<String>,
    /// Each request's id as written, to answer it.
    pub raw_ids: Vec<String>,
    pub tokens: Vec<String>,
    /// The id of an `initialize` among them.
    pub initialize: Option<String>,
}

impl Requests {
    /// Reads the requests out of a body the JSON-RPC parser accepted.
    pub fn of(body: &[u8]) -> Requests {
        let mut out = Requests::default();
        for one in elements(body) {
            let Ok(p) = serde_json::from_slice::<Peek>(one) else {
                continue;
            };
            let (Some(id), Some(method)) = (p.id, p.method) else {
                continue;
            };
            let key = id_key(id.get()).into_owned();
            if method == "initialize" {
                out.initialize = Some(key.clone());
            }
            out.ids.push(key);
            out.raw_ids.push(id.get().to_owned());
            if let Some(t) = p.params.and_then(|p| p.meta).and_then(|m| m.progress_token) {
                out.tokens.push(t.get().to_owned());
            }
        }
        out
    }
}

/// The elements of a batch, or the one message.
fn elements(line: &[u8]) -> Vec<&[u8]> {
    let trimmed = line.trim_ascii();
    if trimmed.first() == Some(&b'[') {
        if let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(trimmed) {
            return items.into_iter().map(|r| r.get().as_bytes()).collect();
        }
    }
    vec![trimmed]
}

impl Router {
    /// A router for the legacy HTTP+SSE transport: one stream carries everything.
    pub fn legacy() -> Router {
        let r = Router::default();
        r.lock().legacy = true;
        r
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a POST's requests before they are written to the server: their answers will
    /// arrive on `rx`, which disconnects when the last one has.
    pub fn register(&self, requests: &Requests, sse: bool) -> Result<Registration, RouteError> {
        let mut r = self.lock();
        if r.closed {
            return Err(RouteError::Closed);
        }
        if let Some(dup) = requests.ids.iter().find(|id| r.pending.contains_key(*id)) {
            return Err(RouteError::DuplicateId(dup.clone()));
        }
        let (tx, rx) = mpsc::channel();
        r.next_stream += 1;
        let stream = r.next_stream;
        for id in &requests.ids {
            r.pending.insert(id.clone(), stream);
        }
        for t in &requests.tokens {
            r.progress.insert(t.clone(), stream);
        }
        if let Some(init) = &requests.initialize {
            r.initialize = Some(init.clone());
        }
        r.posts.insert(
            stream,
            Post {
                tx,
                remaining: requests.ids.len(),
                sse,
            },
        );
        Ok(Registration {
            stream,
            rx,
            takeover: false,
        })
    }

    /// Opens a GET stream. With `resume_after` (`Last-Event-ID`), the events sent after it on
    /// the stream it belonged to are sent again first, and when that was a POST's stream still
    /// waiting for answers, this stream takes it over: the rest of its answers and progress
    /// come here, in order (the client has shown the old one is gone for it). Otherwise it is
    /// the session's GET stream (replacing an earlier one, which ends), and what waited in the
    /// backlog comes next.
    pub fn open_get(&self, resume_after: Option<u64>) -> Result<Registration, RouteError> {
        let mut r = self.lock();
        if r.closed {
            return Err(RouteError::Closed);
        }
        let (tx, rx) = mpsc::channel();
        r.next_stream += 1;
        let stream = r.next_stream;
        let resumed = resume_after
            .and_then(|after| r.history.iter().find(|(id, _, _)| *id == after))
            .map(|&(after, of, _)| (after, of));
        if let Some((after, of)) = resumed {
            for (id, s, line) in r.history.iter_mut() {
                if *s == of {
                    // Resuming this stream later resumes its continuation.
                    *s = stream;
                    if *id > after {
                        let _ = tx.send(Event {
                            id: *id,
                            line: line.clone(),
                        });
                    }
                }
            }
            if let Some(post) = r.posts.remove(&of) {
                if r.taken.len() == HISTORY {
                    r.taken.remove(0);
                }
                r.taken.push(of);
                let routes = &mut *r;
                for s in routes
                    .pending
                    .values_mut()
                    .chain(routes.progress.values_mut())
                {
                    if *s == of {
                        *s = stream;
                    }
                }
                r.posts.insert(
                    stream,
                    Post {
                        tx,
                        remaining: post.remaining,
                        sse: true,
                    },
                );
                return Ok(Registration {
                    stream,
                    rx,
                    takeover: true,
                });
            }
        }
        let waiting: Vec<Vec<u8>> = r.backlog.drain(..).collect();
        for line in waiting {
            let id = r.event_id(stream, &line);
            let _ = tx.send(Event { id, line });
        }
        r.get = Some((stream, tx));
        Ok(Registration {
            stream,
            rx,
            takeover: false,
        })
    }

    /// Whether a resumed GET took this POST's stream over (its handler then writes nothing
    /// more: the answers it did not get went to the new stream).
    pub fn taken_over(&self, stream: StreamId) -> bool {
        self.lock().taken.contains(&stream)
    }

    /// The GET stream `stream` ended (its client went away); `unsent`, what was on the way to
    /// it, waits for the next one.
    pub fn close_get(&self, stream: StreamId, unsent: Vec<Event>) {
        let mut r = self.lock();
        if r.get.as_ref().is_some_and(|(s, _)| *s == stream) {
            r.get = None;
        }
        for e in unsent {
            // Never sent: not to be replayed under its old id, but sent anew.
            r.history.retain(|(id, _, _)| *id != e.id);
            r.queue_get(e.line);
        }
    }

    /// A POST's client went away before all its answers came: they, and what was already on
    /// the way to it (`unsent`), go to the GET stream instead.
    pub fn detach(&self, stream: StreamId, unsent: Vec<Event>) {
        let mut r = self.lock();
        if r.taken.contains(&stream) {
            return; // a resumed stream has it all, replayed from the history
        }
        r.posts.remove(&stream);
        r.pending.retain(|_, s| *s != stream);
        r.progress.retain(|_, s| *s != stream);
        for e in unsent {
            r.history.retain(|(id, _, _)| *id != e.id);
            r.queue_get(e.line);
        }
    }

    /// The protocol version the server answered `initialize` with.
    pub fn version(&self) -> Option<String> {
        self.lock().version.clone()
    }

    /// The session's server is gone: every stream ends, and no POST registers any more.
    pub fn close(&self) {
        let mut r = self.lock();
        r.closed = true;
        r.posts.clear();
        r.pending.clear();
        r.progress.clear();
        r.get = None;
    }

    /// Whether a stream or request is open (the session is not idle).
    pub fn busy(&self) -> bool {
        let r = self.lock();
        !r.posts.is_empty() || r.get.is_some()
    }

    /// Messages dropped because the backlog was full since this was last asked.
    pub fn take_dropped(&self) -> u64 {
        std::mem::take(&mut self.lock().dropped)
    }

    /// Routes one complete line (a message or a batch of them) for the client.
    pub fn route(&self, line: &[u8]) {
        let mut r = self.lock();
        for one in elements(line) {
            r.route_one(one);
        }
    }
}

impl Routes {
    fn event_id(&mut self, stream: StreamId, line: &[u8]) -> u64 {
        self.next_event += 1;
        let id = self.next_event;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((id, stream, line.to_vec()));
        id
    }

    fn send(&mut self, stream: StreamId, line: &[u8]) -> bool {
        let Some(tx) = self.posts.get(&stream).map(|p| p.tx.clone()) else {
            return false;
        };
        let id = self.event_id(stream, line);
        tx.send(Event {
            id,
            line: line.to_vec(),
        })
        .is_ok()
    }

    fn queue_get(&mut self, line: Vec<u8>) {
        if let Some((stream, tx)) = self.get.clone() {
            let id = self.event_id(stream, &line);
            match tx.send(Event { id, line }) {
                Ok(()) => return,
                Err(mpsc::SendError(unsent)) => {
                    self.get = None;
                    return self.queue_get(unsent.line);
                }
            }
        }
        if self.backlog.len() == BACKLOG {
            self.backlog.pop_front();
            self.dropped += 1;
        }
        self.backlog.push_back(line);
    }

    fn route_one(&mut self, one: &[u8]) {
        let peek = serde_json::from_slice::<Peek>(one).ok();
        let line = one.to_vec();
        if self.legacy {
            return self.queue_get(line);
        }
        let Some(p) = peek else {
            return self.queue_get(line);
        };
        match (p.method, p.id) {
            (None, Some(id)) => {
                let key = id_key(id.get());
                if self.initialize.as_deref() == Some(&*key) {
                    self.version = p.result.and_then(|r| r.protocol_version).map(str::to_owned);
                    self.initialize = None;
                }
                let Some(stream) = self.pending.remove(&*key) else {
                    return self.queue_get(line);
                };
                let sent = self.send(stream, &line);
                let done = match self.posts.get_mut(&stream) {
                    Some(post) => {
                        post.remaining = post.remaining.saturating_sub(1);
                        post.remaining == 0
                    }
                    None => false,
                };
                if done {
                    // Dropping the sender ends the POST's response after this answer.
                    self.posts.remove(&stream);
                    self.progress.retain(|_, s| *s != stream);
                }
                if !sent {
                    self.queue_get(line);
                }
            }
            (Some(method), _) => {
                let token = p
                    .params
                    .as_ref()
                    .filter(|_| method == "notifications/progress")
                    .and_then(|p| p.progress_token)
                    .map(|t| t.get().to_owned());
                if let Some(stream) = token.and_then(|t| self.progress.get(&t).copied()) {
                    if self.posts.get(&stream).is_some_and(|p| p.sse) && self.send(stream, &line) {
                        return;
                    }
                }
                // A server request or notification not tied to a request: the newest POST
                // event stream still waiting (most likely the call that caused it), else GET.
                let newest = self
                    .posts
                    .iter()
                    .filter(|(_, p)| p.sse)
                    .map(|(s, _)| *s)
                    .max();
                if let Some(stream) = newest {
                    if self.send(stream, &line) {
                        return;
                    }
                }
                self.queue_get(line)
            }
            (None, None) => self.queue_get(line),
        }
    }
}

/// The session's pumps write here as they would to stdout: complete lines are routed.
pub struct Output {
    router: Arc<Router>,
    partial: Vec<u8>,
}

impl Output {
    pub fn new(router: Arc<Router>) -> Output {
        Output {
            router,
            partial: Vec::new(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..nl]);
            let line = std::mem::take(&mut self.partial);
            if !line.trim_ascii().is_empty() {
                self.router.route(&line);
            }
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rx: &Receiver<Event>) -> Vec<String> {
        rx.try_iter()
            .map(|e| String::from_utf8(e.line).unwrap())
            .collect()
    }

    #[test]
    fn answers_go_to_the_post_that_asked_and_end_it() {
        let r = Router::default();
        let a = r
            .register(
                &Requests::of(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#),
                true,
            )
            .unwrap();
        let b = r
            .register(
                &Requests::of(br#"{"jsonrpc":"2.0","id":"1","method":"y"}"#),
                true,
            )
            .unwrap();
        r.route(br#"{"jsonrpc":"2.0","id":"1","result":{}}"#);
        r.route(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert_eq!(
            lines(&a.rx),
            vec![r#"{"jsonrpc":"2.0","id":1,"result":{}}"#]
        );
        assert_eq!(
            lines(&b.rx),
            vec![r#"{"jsonrpc":"2.0","id":"1","result":{}}"#]
        );
        // Both senders are gone: the responses end.
        assert!(a.rx.recv().is_err() && b.rx.recv().is_err());
        assert!(!r.busy());
    }

    #[test]
    fn progress_follows_its_token_and_server_requests_the_newest_stream() {
        let r = Router::default();
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"progressToken":"t"}}}"#;
        let a = r.register(&Requests::of(body), true).unwrap();
        let b = r
            .register(
                &Requests::of(br#"{"jsonrpc":"2.0","id":8,"method":"x"}"#),
                true,
            )
            .unwrap();
        r.route(br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#);
        r.route(br#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}"#);
        assert_eq!(lines(&a.rx).len(), 1);
        assert!(lines(&b.rx)[0].contains("elicitation/create"));
    }

    #[test]
    fn the_backlog_waits_for_a_get_stream_and_history_resumes_one() {
        let r = Router::default();
        r.route(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#);
        let g = r.open_get(None).unwrap();
        let first: Vec<Event> = g.rx.try_iter().collect();
        assert_eq!(first.len(), 1);
        r.route(br#"{"jsonrpc":"2.0","method":"a"}"#);
        r.route(br#"{"jsonrpc":"2.0","method":"b"}"#);
        let got: Vec<Event> = g.rx.try_iter().collect();
        assert_eq!(got.len(), 2);
        r.close_get(g.stream, Vec::new());
        // Resuming after the first event sends the two after it again, in order.
        let again = r.open_get(Some(first[0].id)).unwrap();
        assert_eq!(again.rx.try_iter().collect::<Vec<_>>(), got);
    }

    #[test]
    fn a_get_resuming_a_post_stream_takes_over_its_answers_in_order() {
        let r = Router::default();
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"progressToken":"t"}}}"#;
        let post = r.register(&Requests::of(body), true).unwrap();
        let progress = |n: u32| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"t","progress":{n}}}}}"#
            )
        };
        for n in 1..=3 {
            r.route(progress(n).as_bytes());
        }
        let sent: Vec<Event> = post.rx.try_iter().collect();
        // The client saw the first only; it resumes from there.
        let resumed = r.open_get(Some(sent[0].id)).unwrap();
        assert!(resumed.takeover);
        assert!(r.taken_over(post.stream));
        r.route(progress(4).as_bytes());
        r.route(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
        let got: Vec<String> = resumed
            .rx
            .iter()
            .map(|e| String::from_utf8(e.line).unwrap())
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].contains("\"progress\":2") && got[2].contains("\"progress\":4"));
        assert!(got[3].contains("\"result\""));
        // The old handler's late detach duplicates nothing.
        r.detach(post.stream, sent);
        let g = r.open_get(None).unwrap();
        assert!(g.rx.try_iter().next().is_none());
    }

    #[test]
    fn a_detached_post_sends_its_answers_to_get_and_duplicates_are_refused() {
        let r = Router::default();
        let req = Requests::of(
            br#"[{"jsonrpc":"2.0","id":1,"method":"x"},{"jsonrpc":"2.0","id":2,"method":"y"}]"#,
        );
        assert_eq!(req.ids.len(), 2);
        let a = r.register(&req, true).unwrap();
        assert_eq!(
            r.register(&req, true).err(),
            Some(RouteError::DuplicateId("1".into()))
        );
        r.detach(
            a.stream,
            vec![Event {
                id: 99,
                line: b"{\"unsent\":1}".to_vec(),
            }],
        );
        r.route(br#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]"#);
        let g = r.open_get(None).unwrap();
        assert_eq!(lines(&g.rx).len(), 3);
        r.close();
        assert_eq!(r.register(&req, true).err(), Some(RouteError::Closed));
    }

    #[test]
    fn output_routes_complete_lines_only_and_reads_the_protocol_version() {
        let r = Arc::new(Router::default());
        let a = r
            .register(
                &Requests::of(br#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#),
                false,
            )
            .unwrap();
        let mut out = Output::new(r.clone());
        out.write_all(br#"{"jsonrpc":"2.0","id":0,"#).unwrap();
        assert!(lines(&a.rx).is_empty());
        out.write_all(b"\"result\":{\"protocolVersion\":\"2025-06-18\"}}\n")
            .unwrap();
        assert_eq!(lines(&a.rx).len(), 1);
        assert_eq!(r.version().as_deref(), Some("2025-06-18"));
    }
}
