//! The MCP sessions of `sentinel serve`: one server process per session (a stdio server serves
//! one client), started when a client's `initialize` arrives (or a legacy event stream opens),
//! run by the stdio transport's own pumps and lifecycle on a thread of its own, with a pipe as
//! the client's input and a [`Router`] as its output. A session ends on `DELETE`, when it has
//! been idle too long, when its server exits, or at shutdown; the table holds at most `max`.

use super::router::{Output, Router};
use crate::base::term::Term;
use crate::gateway::Gateway;
use crate::transport::http::auth::Tenant;
use crate::transport::stdio::{self, ClientEnds};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{PipeWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A new session's gateway, as the command line builds it (policy profile of the tenant, an
/// audit session with the tenant in every entry, the tenant's breaker state).
pub struct NewSession {
    pub gateway: Arc<Gateway>,
    /// The session's id: its audit session id (128 random bits), also its `Mcp-Session-Id`.
    pub id: String,
    /// Called once the session is over (writes the audit session's closing checkpoint).
    pub on_end: Box<dyn FnOnce() + Send>,
}

/// What the listener needs from the layers above the transport.
pub trait Factory: Send + Sync {
    /// A gateway for a new session of `tenant` (`None` without `--tokens`).
    fn session(&self, tenant: Option<&Tenant>) -> Result<NewSession, String>;
    /// Records a request refused before any session (401, 403, 400) in the audit log.
    fn refused(&self, status: u16, reason: &str, explanation: &str);
}

/// One MCP session.
pub struct Session {
    pub id: String,
    pub tenant: Option<String>,
    pub router: Arc<Router>,
    input: Mutex<Option<PipeWriter>>,
    last: Mutex<Instant>,
}

impl Session {
    /// Writes one message line to the session's gateway; false when the session is over.
    pub fn send(&self, line: &[u8]) -> bool {
        self.touch();
        let mut input = lock(&self.input);
        let Some(pipe) = input.as_mut() else {
            return false;
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        if pipe.write_all(&bytes).is_err() {
            *input = None;
            return false;
        }
        true
    }

    /// Marks the session as used now.
    pub fn touch(&self) {
        *lock(&self.last) = Instant::now();
    }

    /// Ends the client side: the server's stdin closes and the lifecycle ends it.
    fn end(&self) {
        lock(&self.input).take();
    }
}

/// Why a session could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// `max` sessions are open.
    Full(usize),
    /// Sentinel is shutting down.
    Closing,
    /// The gateway could not be built (the message says why).
    Failed(String),
}

impl StartError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            StartError::Full(_) | StartError::Closing => 503,
            StartError::Failed(_) => 500,
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Full(max) => write!(
                f,
                "too many MCP sessions ({max} open): try again later, or end unused sessions \
                 with DELETE"
            ),
            StartError::Closing => f.write_str("Sentinel is shutting down"),
            StartError::Failed(why) => write!(f, "cannot start an MCP session: {why}"),
        }
    }
}

/// The sessions of one listener.
pub struct Table {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions being started, counted against `max`.
    starting: Mutex<usize>,
    max: usize,
    idle: Duration,
    argv: Vec<OsString>,
    term: Term,
    factory: Arc<dyn Factory>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    closing: AtomicBool,
    /// Idle initialized sessions for 2026-07-28 requests, per tenant ("" without tokens).
    pool: Mutex<HashMap<String, Vec<Arc<Session>>>>,
}

impl Table {
    pub fn new(
        argv: Vec<OsString>,
        max: usize,
        idle: Duration,
        factory: Arc<dyn Factory>,
        term: Term,
    ) -> Arc<Table> {
        Arc::new(Table {
            sessions: Mutex::new(HashMap::new()),
            starting: Mutex::new(0),
            max,
            idle,
            argv,
            term,
            factory,
            threads: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
            pool: Mutex::new(HashMap::new()),
        })
    }

    pub fn factory(&self) -> &dyn Factory {
        &*self.factory
    }

    /// Starts a session for `tenant`: its gateway, and its server process on a thread of its
    /// own. `legacy`: the session of a legacy HTTP+SSE event stream.
    pub fn start(
        self: &Arc<Self>,
        tenant: Option<&Tenant>,
        legacy: bool,
    ) -> Result<Arc<Session>, StartError> {
        {
            let open = lock(&self.sessions).len();
            let mut starting = lock(&self.starting);
            if self.closing.load(Ordering::SeqCst) {
                return Err(StartError::Closing);
            }
            if open + *starting >= self.max {
                return Err(StartError::Full(self.max));
            }
            *starting += 1;
        }
        let started = self.start_reserved(tenant, legacy);
        *lock(&self.starting) -= 1;
        started
    }

    fn start_reserved(
        self: &Arc<Self>,
        tenant: Option<&Tenant>,
        legacy: bool,
    ) -> Result<Arc<Session>, StartError> {
        let new = self.factory.session(tenant).map_err(StartError::Failed)?;
        let (reader, writer) =
            std::io::pipe().map_err(|e| StartError::Failed(format!("cannot make a pipe: {e}")))?;
        let router = Arc::new(if legacy {
            Router::legacy()
        } else {
            Router::default()
        });
        let session = Arc::new(Session {
            id: new.id.clone(),
            tenant: tenant.map(|t| t.name.clone()),
            router: router.clone(),
            input: Mutex::new(Some(writer)),
            last: Mutex::new(Instant::now()),
        });
        lock(&self.sessions).insert(new.id.clone(), session.clone());
        if self.closing.load(Ordering::SeqCst) {
            // Shutdown began while this one was starting: it ends at once with the rest.
            lock(&self.sessions).remove(&new.id);
            session.end();
        }
        let table = self.clone();
        let NewSession {
            gateway,
            id,
            on_end,
        } = new;
        let handle = thread::Builder::new()
            .name("mcp-session".into())
            .spawn(move || {
                let ends = ClientEnds {
                    input: Box::new(reader),
                    output: Box::new(Output::new(router.clone())),
                };
                // The thread lives until the server has exited (its parent-death signal
                // follows the spawning thread).
                let _ = stdio::run_session(gateway, &table.argv, &table.term, ends);
                router.close();
                if let Some(s) = lock(&table.sessions).remove(&id) {
                    s.end();
                }
                table.term.info(&format!("MCP session {id} ended"));
                on_end();
            })
            .map_err(|e| StartError::Failed(format!("cannot start a session thread: {e}")))?;
        let mut threads = lock(&self.threads);
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
        Ok(session)
    }

    /// The open session with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// An idle session of `tenant`'s pool that is still open.
    pub fn take_pooled(&self, tenant: Option<&Tenant>) -> Option<Arc<Session>> {
        let key = tenant.map_or("", |t| t.name.as_str()).to_owned();
        let mut pool = lock(&self.pool);
        let idle = pool.get_mut(&key)?;
        while let Some(s) = idle.pop() {
            if self.get(&s.id).is_some() {
                s.touch();
                return Some(s);
            }
        }
        None
    }

    /// Gives a pooled session back once its request is answered.
    pub fn release(&self, session: Arc<Session>) {
        if self.get(&session.id).is_none() {
            return;
        }
        let key = session.tenant.clone().unwrap_or_default();
        let mut pool = lock(&self.pool);
        let idle = pool.entry(key).or_default();
        idle.retain(|s| self.get(&s.id).is_some());
        idle.push(session);
    }

    /// Ends a session (`DELETE`, or its legacy event stream closed). False when there is none.
    pub fn end(&self, id: &str) -> bool {
        match lock(&self.sessions).remove(id) {
            Some(s) => {
                s.end();
                true
            }
            None => false,
        }
    }

    /// Hands the events of POST streams nobody resumed in time to their GET streams, and ends
    /// the sessions with no stream or request open that have not been used for the idle
    /// timeout.
    pub fn reap_idle(&self) {
        let now = Instant::now();
        for s in lock(&self.sessions).values() {
            s.router.expire_orphans(now);
        }
        let idle: Vec<Arc<Session>> = lock(&self.sessions)
            .values()
            .filter(|s| !s.router.busy() && lock(&s.last).elapsed() >= self.idle)
            .cloned()
            .collect();
        for s in idle {
            self.term.info(&format!(
                "MCP session {} idle for {} s: ending it",
                s.id,
                self.idle.as_secs()
            ));
            self.end(&s.id);
        }
    }

    /// Starts the thread that ends idle sessions.
    pub fn start_reaper(self: &Arc<Self>) {
        let table = Arc::downgrade(self);
        let every = (self.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        thread::Builder::new()
            .name("session-reaper".into())
            .spawn(move || loop {
                thread::sleep(every);
                match table.upgrade() {
                    Some(t) if !t.closing.load(Ordering::SeqCst) => t.reap_idle(),
                    _ => return,
                }
            })
            .expect("cannot start the session reaper thread");
    }

    /// Ends every session and waits for their servers to be gone.
    pub fn shutdown(&self) {
        self.closing.store(true, Ordering::SeqCst);
        // Sessions being started finish starting (and see `closing`) before the rest end.
        let deadline = Instant::now() + Duration::from_secs(5);
        while *lock(&self.starting) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let all: Vec<Arc<Session>> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        for s in &all {
            s.end();
        }
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
