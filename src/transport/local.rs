//! The local approval channel's socket: each Sentinel listens on `<pid>.sock` in the per-user
//! runtime directory (`rundir`), accepts only its own user (the peer's uid), and speaks one
//! JSON object per line each way: `list`, `approve`, `deny` and `watch` (a subscription that
//! streams `held` and `resolved` events). [`start`] binds it and attaches it to the gateway as
//! its [`LocalChannel`]; [`LocalListener`] removes the socket when dropped. Announcements never
//! block the gateway: each watcher has a bounded queue and its own writer thread, and one that
//! falls behind is dropped. Also the client side the `approvals` subcommand uses ([`Client`],
//! [`Request`], [`Held`]).

use super::rundir::{self, DirError, Entry, Poke, RunDir};
use crate::base::lines::{read_line, Line};
use crate::base::term::Term;
use crate::gateway::approvals::local::{
    Announcement, AnswerError, HeldCall, LocalAnswer, LocalChannel,
};
use crate::gateway::Gateway;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Longest request line accepted (a denial's reason is the only long field).
pub const MAX_REQUEST: usize = 1024 * 1024;
/// Events a watcher may have waiting before it counts as too slow and is dropped.
pub const WATCH_QUEUE: usize = 256;
/// How long a write to a client may take before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request connection may stay silent before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an ending Sentinel waits for answers in flight to be confirmed to their senders.
const CONFIRM_GRACE: Duration = Duration::from_secs(2);

/// One request, as a line of JSON: `{"op":"list"}`, `{"op":"approve","id":..,"session":..}`,
/// `{"op":"deny","id":..,"reason":..}`, `{"op":"watch"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    List,
    Approve {
        id: String,
        #[serde(default)]
        session: bool,
    },
    Deny {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Watch,
}

/// Reads one request line, with an error message fit to send back.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| format!("request is not JSON: {e}"))?;
    let Some(op) = value.get("op") else {
        return Err("request has no \"op\": expected list, approve, deny or watch".into());
    };
    match op.as_str() {
        Some("list" | "approve" | "deny" | "watch") => {}
        _ => {
            return Err(format!(
                "unknown op {op}: expected list, approve, deny or watch"
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| format!("invalid request: {e}"))
}

/// A success reply line.
fn ok_reply() -> String {
    r#"{"ok":true}"#.to_owned()
}

/// A failure reply line.
fn error_reply(message: &str) -> String {
    json!({"ok": false, "error": message}).to_string()
}

/// The `held` event line for a call.
pub fn held_event(call: &HeldCall) -> String {
    let mut v = serde_json::to_value(call).unwrap_or_else(|_| json!({}));
    if let Some(map) = v.as_object_mut() {
        map.insert("event".into(), "held".into());
    }
    v.to_string()
}

/// The event line for an announcement.
pub fn event_line(event: &Announcement) -> String {
    match event {
        Announcement::Held(call) => held_event(call),
        Announcement::Resolved { id, outcome } => {
            json!({"event": "resolved", "id": id, "outcome": outcome}).to_string()
        }
    }
}

/// What the listener needs of the gateway (a seam, so the listener is tested on its own).
trait Backend: Send + Sync + 'static {
    fn attach(&self, channel: Arc<dyn LocalChannel>);
    fn held(&self) -> Vec<HeldCall>;
    fn answer(&self, answer: LocalAnswer) -> Result<(), AnswerError>;
}

impl Backend for Gateway {
    fn attach(&self, channel: Arc<dyn LocalChannel>) {
        self.set_local_channel(channel);
    }
    fn held(&self) -> Vec<HeldCall> {
        self.held_calls()
    }
    fn answer(&self, answer: LocalAnswer) -> Result<(), AnswerError> {
        self.answer_local(answer)
    }
}

/// The gateways of the many sessions of one process (`sentinel serve`) behind its one
/// listener: `list` shows the held calls of all of them, an answer goes to the one holding
/// the call (held-call ids are unique in the process).
#[derive(Default)]
pub struct Gateways {
    all: Mutex<Joined>,
}

/// The gateways, and the listener's channel once it is attached.
type Joined = (Vec<Arc<Gateway>>, Option<Arc<dyn LocalChannel>>);

impl Gateways {
    fn lock(&self) -> MutexGuard<'_, Joined> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session's gateway joins (its held calls are shown, its channel is the listener).
    pub fn add(&self, gateway: Arc<Gateway>) {
        let mut all = self.lock();
        if let Some(channel) = &all.1 {
            gateway.set_local_channel(channel.clone());
        }
        all.0.push(gateway);
    }

    /// A session's gateway leaves (its session ended).
    pub fn remove(&self, gateway: &Arc<Gateway>) {
        self.lock().0.retain(|g| !Arc::ptr_eq(g, gateway));
    }

    fn each(&self) -> Vec<Arc<Gateway>> {
        self.lock().0.clone()
    }
}

impl Backend for Gateways {
    fn attach(&self, channel: Arc<dyn LocalChannel>) {
        let mut all = self.lock();
        for g in &all.0 {
            g.set_local_channel(channel.clone());
        }
        all.1 = Some(channel);
    }
    fn held(&self) -> Vec<HeldCall> {
        self.each().iter().flat_map(|g| g.held_calls()).collect()
    }
    fn answer(&self, answer: LocalAnswer) -> Result<(), AnswerError> {
        for g in self.each() {
            match g.answer_local(answer.clone()) {
                Err(AnswerError::Unknown(_)) => continue,
                done => return done,
            }
        }
        Err(AnswerError::Unknown(answer.id))
    }
}

/// Why the listener did not start (Sentinel runs on without the local channel).
#[derive(Debug)]
pub enum Error {
    /// The runtime directory cannot be used.
    Dir(DirError),
    /// The socket could not be bound.
    Bind { path: PathBuf, error: io::Error },
    /// A live process already listens on our socket's name (another PID namespace sharing
    /// the directory).
    InUse { path: PathBuf },
    /// The listener thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Dir(e) => write!(f, "{e}"),
            Error::Bind { path, error } => {
                write!(f, "cannot listen on {} ({error})", path.display())
            }
            Error::InUse { path } => write!(
                f,
                "another live process listens on {} (a Sentinel of the same pid in another \
                 PID namespace?); give each container its own XDG_RUNTIME_DIR",
                path.display()
            ),
            Error::Thread(e) => write!(f, "cannot start the approvals-socket thread ({e})"),
        }
    }
}

impl std::error::Error for Error {}

/// One subscribed watcher: its queue and a handle to shut its connection down.
struct Watcher {
    id: u64,
    queue: SyncSender<Arc<str>>,
    stream: UnixStream,
}

/// What the listener thread, the connection threads and the gateway share.
struct Hub {
    dir: RunDir,
    watchers: Mutex<Vec<Watcher>>,
    next_watcher: AtomicU64,
    closed: AtomicBool,
    /// Answers taken but not yet confirmed to their sender: the listener's drop waits for
    /// them, so a Sentinel that ends because the answer settled its last call still says so.
    answering: Mutex<usize>,
    confirmed: Condvar,
}

/// One answer between its arrival and its confirmation (see `Hub::answering`).
struct Answering<'a>(&'a Hub);

impl<'a> Answering<'a> {
    fn begin(hub: &'a Hub) -> Self {
        *hub.answering.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Answering(hub)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        *self.0.answering.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.confirmed.notify_all();
    }
}

impl Hub {
    /// Waits up to `limit` for every answer in flight to be confirmed.
    fn wait_confirmed(&self, limit: Duration) {
        let guard = self.answering.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .confirmed
            .wait_timeout_while(guard, limit, |n| *n > 0)
            .unwrap_or_else(|p| p.into_inner());
    }

    fn watchers(&self) -> MutexGuard<'_, Vec<Watcher>> {
        self.watchers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unsubscribe(&self, id: u64) {
        self.watchers().retain(|w| w.id != id);
    }

    /// Pokes every live watch marker (so its watcher subscribes now) and removes dead ones.
    fn poke_markers(&self) -> bool {
        let mut live = false;
        for entry in self.dir.entries() {
            if let Entry::Watch(_) = entry {
                match rundir::poke(&self.dir.entry(&entry)) {
                    Poke::Live => live = true,
                    Poke::Stale => self.dir.remove_stale(&entry),
                    Poke::Absent => {}
                }
            }
        }
        live
    }
}

impl LocalChannel for Hub {
    fn is_open(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        if !self.watchers().is_empty() {
            return true;
        }
        self.poke_markers()
    }

    fn announce(&self, event: &Announcement) {
        if self.watchers().is_empty() {
            return;
        }
        let line: Arc<str> = event_line(event).into();
        self.watchers()
            .retain(|w| match w.queue.try_send(line.clone()) {
                Ok(()) => true,
                Err(_) => {
                    // Full (too slow) or its writer is gone: drop it; it may subscribe again.
                    let _ = w.stream.shutdown(Shutdown::Both);
                    false
                }
            });
    }
}

/// A socket file this process bound, removed when dropped (only if it is still the same
/// file: a successor's socket of the same name is left alone).
pub struct SocketFile {
    path: PathBuf,
    /// The file's (device, inode).
    file: (u64, u64),
}

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Listens on `path` (mode 0600), replacing the socket file of a dead process of the same
/// name.
pub fn listen(path: &Path) -> Result<(UnixListener, SocketFile), Error> {
    let listener = bind(path)?;
    let bind_err = |error| Error::Bind {
        path: path.to_owned(),
        error,
    };
    // The directory is already owner-only; the socket is too, whatever the umask.
    let chmod = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    let meta = chmod.and_then(|()| std::fs::symlink_metadata(path));
    match meta {
        Ok(m) => Ok((
            listener,
            SocketFile {
                path: path.to_owned(),
                file: (m.dev(), m.ino()),
            },
        )),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(bind_err(e))
        }
    }
}

/// The running listener. Dropping it stops accepting and removes the socket file.
pub struct LocalListener {
    hub: Arc<Hub>,
    file: SocketFile,
    thread: Option<thread::JoinHandle<()>>,
}

impl LocalListener {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Drop for LocalListener {
    fn drop(&mut self) {
        // An answer that settled the last held call may still be on its way to its sender.
        self.hub.wait_confirmed(CONFIRM_GRACE);
        self.hub.closed.store(true, Ordering::Release);
        for w in self.hub.watchers().drain(..) {
            let _ = w.stream.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees `closed`; wait for it only if the wake-up got in.
        let woke = UnixStream::connect(self.file.path()).is_ok();
        if let Some(t) = self.thread.take() {
            if woke {
                let _ = t.join();
            }
        }
        // The socket file goes with `self.file`.
    }
}

/// Starts this Sentinel's listener on `<runtime dir>/<pid>.sock` and attaches it to
/// `gateway` as its local channel. On an error Sentinel runs without the local channel (the
/// caller says so on stderr).
pub fn start(gateway: Arc<Gateway>, term: Term) -> Result<LocalListener, Error> {
    let dir = RunDir::open().map_err(Error::Dir)?;
    start_in(dir, std::process::id(), gateway, term)
}

/// [`start`] for the sessions of `sentinel serve`: one listener for every gateway in
/// `gateways`, present and future.
pub fn start_many(gateways: Arc<Gateways>, term: Term) -> Result<LocalListener, Error> {
    let dir = RunDir::open().map_err(Error::Dir)?;
    start_in(dir, std::process::id(), gateways, term)
}

fn start_in(
    dir: RunDir,
    pid: u32,
    backend: Arc<dyn Backend>,
    term: Term,
) -> Result<LocalListener, Error> {
    let (listener, file) = listen(&dir.entry(&Entry::Sentinel(pid)))?;
    let hub = Arc::new(Hub {
        dir,
        watchers: Mutex::new(Vec::new()),
        next_watcher: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        answering: Mutex::new(0),
        confirmed: Condvar::new(),
    });
    let thread = {
        let (hub, backend, term) = (hub.clone(), backend.clone(), term.clone());
        thread::Builder::new()
            .name("approvals-socket".into())
            .spawn(move || accept_loop(&listener, &hub, &backend, &term))
    };
    // A failure drops `file`, which removes the socket.
    let thread = thread.map_err(Error::Thread)?;
    backend.attach(hub.clone());
    let listener = LocalListener {
        hub,
        file,
        thread: Some(thread),
    };
    term.info(&format!(
        "approvals: listening on {} (sentinel approvals list|watch)",
        listener.path().display()
    ));
    Ok(listener)
}

/// Binds `path`, replacing the socket file of a dead process of the same pid.
fn bind(path: &Path) -> Result<UnixListener, Error> {
    match UnixListener::bind(path) {
        Ok(l) => return Ok(l),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
        Err(error) => {
            return Err(Error::Bind {
                path: path.to_owned(),
                error,
            })
        }
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(Error::InUse {
            path: path.to_owned(),
        }),
        Err(_) => {
            let _ = std::fs::remove_file(path);
            UnixListener::bind(path).map_err(|error| Error::Bind {
                path: path.to_owned(),
                error,
            })
        }
    }
}

fn accept_loop(listener: &UnixListener, hub: &Arc<Hub>, backend: &Arc<dyn Backend>, term: &Term) {
    for conn in listener.incoming() {
        if hub.closed.load(Ordering::Acquire) {
            return;
        }
        match conn {
            Ok(stream) => {
                let (hub, backend, term) = (hub.clone(), backend.clone(), term.clone());
                // A connection that cannot get a thread is closed (dropped with the closure).
                let _ = thread::Builder::new()
                    .name("approvals-conn".into())
                    .spawn(move || serve(stream, &hub, &*backend, &term));
            }
            // Out of descriptors or the like: let it pass instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Who answered, for the audit log.
fn answered_by(peer: rundir::Peer) -> String {
    let pid = peer.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    format!(
        "user {} (uid {}, pid {pid})",
        rundir::user_name(peer.uid),
        peer.uid
    )
}

/// One connection: requests answered in order until the client closes it, or a `watch`.
fn serve(stream: UnixStream, hub: &Arc<Hub>, backend: &dyn Backend, term: &Term) {
    let peer = match rundir::peer(&stream) {
        Ok(p) => p,
        Err(_) => return,
    };
    if peer.uid != rundir::euid() {
        term.warn(&format!(
            "approvals: refused a connection from uid {} (only uid {} may answer)",
            peer.uid,
            rundir::euid()
        ));
        return;
    }
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, &mut line, MAX_REQUEST) {
            Err(_) | Ok(Line::Eof) => return,
            Ok(Line::TooLong) => {
                let reply = error_reply(&format!("request over {MAX_REQUEST} bytes"));
                let _ = write_line(&mut writer, &reply);
                return;
            }
            Ok(Line::Complete { .. }) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = parse_request(&line);
        let _answering = matches!(request, Ok(Request::Approve { .. } | Request::Deny { .. }))
            .then(|| Answering::begin(hub));
        let reply = match request {
            Err(message) => error_reply(&message),
            Ok(Request::List) => json!({"ok": true, "held": backend.held()}).to_string(),
            Ok(Request::Approve { id, session }) => answer(
                backend,
                LocalAnswer {
                    id,
                    approve: true,
                    session,
                    reason: None,
                    by: answered_by(peer),
                },
            ),
            Ok(Request::Deny { id, reason }) => answer(
                backend,
                LocalAnswer {
                    id,
                    approve: false,
                    session: false,
                    reason: reason.filter(|r| !r.trim().is_empty()),
                    by: answered_by(peer),
                },
            ),
            Ok(Request::Watch) => return watch(reader, writer, hub, backend),
        };
        if write_line(&mut writer, &reply).is_err() {
            return;
        }
    }
}

fn answer(backend: &dyn Backend, answer: LocalAnswer) -> String {
    match backend.answer(answer) {
        Ok(()) => ok_reply(),
        Err(e) => error_reply(&e.to_string()),
    }
}

fn write_line(w: &mut impl Write, line: &str) -> io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    w.write_all(&buf)?;
    w.flush()
}

/// A subscription: `{"ok":true}`, every call held now, then every announcement, written by a
/// thread of its own from a bounded queue; this thread waits for the watcher to hang up.
fn watch(
    mut reader: BufReader<UnixStream>,
    stream: UnixStream,
    hub: &Arc<Hub>,
    backend: &dyn Backend,
) {
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    let (queue, events) = mpsc::sync_channel::<Arc<str>>(WATCH_QUEUE);
    let id = hub.next_watcher.fetch_add(1, Ordering::Relaxed);
    // Subscribed before the snapshot, so no call falls between them; a call in both is
    // announced twice (watchers go by id).
    hub.watchers().push(Watcher {
        id,
        queue,
        stream: handle,
    });
    let snapshot = backend.held();
    let mut out = stream;
    let writer = thread::Builder::new()
        .name("approvals-watch".into())
        .spawn(move || {
            let mut ok = write_line(&mut out, &ok_reply()).is_ok();
            for call in &snapshot {
                ok = ok && write_line(&mut out, &held_event(call)).is_ok();
            }
            while ok {
                match events.recv() {
                    Ok(line) => ok = write_line(&mut out, &line).is_ok(),
                    Err(_) => break,
                }
            }
            let _ = out.shutdown(Shutdown::Both);
        });
    if writer.is_ok() {
        let _ = reader.get_ref().set_read_timeout(None);
        let mut sink = [0u8; 512];
        // Whatever the watcher sends is ignored; its hanging up ends the subscription.
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    }
    hub.unsubscribe(id);
    let _ = reader.get_ref().shutdown(Shutdown::Both);
}

/// A held call as a client reads it off the wire.
pub use crate::gateway::approvals::local::HeldCall as Held;

/// Why a Sentinel could not be reached.
#[derive(Debug)]
pub enum Reach {
    /// No socket of that pid in the directory.
    Missing,
    /// Its socket was left by a process that is gone (the file has been removed).
    Stale,
    Io(io::Error),
}

/// A connection to one Sentinel's socket.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    line: Vec<u8>,
}

impl Client {
    /// Connects to Sentinel `pid`; a socket nobody listens on is removed as stale (after a
    /// second try, so a Sentinel between `bind` and `listen` is not mistaken for a dead one).
    pub fn connect(dir: &RunDir, pid: u32, timeout: Duration) -> Result<Client, Reach> {
        let entry = Entry::Sentinel(pid);
        let path = dir.entry(&entry);
        let mut refused_before = false;
        loop {
            match UnixStream::connect(&path) {
                Ok(s) => return Client::over(s, timeout).map_err(Reach::Io),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Reach::Missing),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    if refused_before {
                        dir.remove_stale(&entry);
                        return Err(Reach::Stale);
                    }
                    refused_before = true;
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(Reach::Io(e)),
            }
        }
    }

    /// A client over a connected stream; reads and writes time out after `timeout`.
    pub fn over(stream: UnixStream, timeout: Duration) -> io::Result<Client> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            line: Vec::new(),
        })
    }

    /// Sends `request` and reads its reply: `Ok` with the reply object when it says
    /// `"ok":true`, `Err` with the Sentinel's message otherwise.
    pub fn request(&mut self, request: &Request) -> io::Result<Result<Value, String>> {
        let text = serde_json::to_string(request).map_err(io::Error::other)?;
        write_line(&mut self.writer, &text)?;
        let reply = self
            .next()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the Sentinel hung up"))?;
        Ok(if reply.get("ok") == Some(&Value::Bool(true)) {
            Ok(reply)
        } else {
            Err(reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the Sentinel refused the request")
                .to_owned())
        })
    }

    /// The next line as JSON (`None` at the end of the stream).
    pub fn next(&mut self) -> io::Result<Option<Value>> {
        loop {
            match read_line(&mut self.reader, &mut self.line, 64 * 1024 * 1024)? {
                Line::Eof => return Ok(None),
                Line::TooLong => return Err(io::Error::other("line too long")),
                Line::Complete { .. } => {}
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&self.line)
                .map(Some)
                .map_err(io::Error::other);
        }
    }

    /// Sets (or with `None` clears) the read timeout, e.g. for a watch stream.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }
}

#[cfg(test)]
mod tests;
