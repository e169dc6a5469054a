//! `sentinel serve`: MCP's Streamable HTTP transport (protocol versions 2025-03-26 to
//! 2025-11-25) towards clients, and the legacy HTTP+SSE transport (2024-11-05) for older ones,
//! with a stdio server per MCP session behind the same gateway as the stdio proxy. This module
//! owns the listener's configuration and its start and shutdown; every request first passes
//! the `Origin` allow-list and the bearer tokens, then goes to `streamable` (the `/mcp`
//! endpoint) or `legacy` (`/sse` and its message endpoint). Nothing here judges a message: the
//! session's gateway does, exactly as over stdio.

mod legacy;
pub mod router;
pub mod sessions;
mod stateless;
mod streamable;

use super::auth::{Tenant, Tokens};
use super::origin::Origins;
use super::server::{Handler, Limits, Request, Responder, Server};
use crate::base::jsonrpc::write_error;
use crate::base::jsonrpc::{RawId, Refusal};
use crate::base::term::Term;
use crate::transport::signals;
use sessions::Table;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The protocol versions whose HTTP transport is served.
pub const VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// How `sentinel serve` listens.
pub struct Config {
    pub listen: SocketAddr,
    /// The Streamable HTTP endpoint (`/mcp`).
    pub endpoint: String,
    /// The legacy transport's event stream (`/sse`) and message endpoint (`/messages`).
    pub sse: String,
    pub messages: String,
    pub max_sessions: usize,
    pub idle: Duration,
    pub origins: Origins,
    pub tokens: Option<Arc<Tokens>>,
    pub limits: Limits,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The server command each session runs.
    pub argv: Vec<OsString>,
    /// How often the tokens file is checked for changes (zero: only on SIGHUP).
    pub reload_interval: Duration,
}

/// The request handler shared by every connection.
pub(crate) struct Endpoint {
    endpoint: String,
    sse: String,
    messages: String,
    origins: Origins,
    tokens: Option<Arc<Tokens>>,
    table: Arc<Table>,
    term: Term,
}

/// Runs the listener until SIGINT or SIGTERM, then ends every session. Returns the exit code.
/// The caller has blocked the forwarded signals before starting any thread.
pub fn run(
    config: Config,
    factory: Arc<dyn sessions::Factory>,
    term: Term,
    reload: Option<Sender<()>>,
) -> u8 {
    let server = match Server::bind(config.listen, config.limits, config.tls.clone()) {
        Ok(s) => s,
        Err(e) => {
            term.error(&format!(
                "cannot listen on {} ({e}); pick another address or port with --listen",
                config.listen
            ));
            return 1;
        }
    };
    let addr = server.local_addr();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    // The one line scripts wait for (the port is the real one when --listen asked for 0).
    term.notice(&format!(
        "listening on {scheme}://{addr}{} (legacy SSE: {}), {} sessions at most",
        config.endpoint, config.sse, config.max_sessions
    ));
    if !addr.ip().is_loopback() && config.tokens.is_none() {
        term.warn(&format!(
            "WARNING: listening on {addr}, which is not a loopback address, WITHOUT \
             AUTHENTICATION: anyone who can reach it can use the MCP server. Pass --tokens FILE \
             (see README, \"Tokens\"), or listen on 127.0.0.1 behind an authenticating proxy"
        ));
    }
    let table = Table::new(
        config.argv,
        config.max_sessions,
        config.idle,
        factory,
        term.clone(),
    );
    table.start_reaper();
    if let Some(tokens) = &config.tokens {
        watch_tokens(tokens.clone(), config.reload_interval, term.clone());
    }
    let stopper = server.stopper();
    {
        let (term, tokens) = (term.clone(), config.tokens.clone());
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let sig = signals::wait_signal();
                if sig == libc::SIGHUP {
                    if let Some(r) = &reload {
                        let _ = r.send(());
                    }
                    if let Some(t) = &tokens {
                        reload_tokens(t, &term);
                    }
                    continue;
                }
                term.info(&format!("received signal {sig}; ending every session"));
                stopper.stop();
                return;
            })
            .expect("cannot start the signal thread");
    }
    let handler = Arc::new(Endpoint {
        endpoint: config.endpoint,
        sse: config.sse,
        messages: config.messages,
        origins: config.origins,
        tokens: config.tokens,
        table: table.clone(),
        term: term.clone(),
    });
    server.run(handler);
    table.shutdown();
    term.info("every session ended");
    0
}

fn reload_tokens(tokens: &Tokens, term: &Term) {
    match tokens.reload_if_changed() {
        Ok(true) => term.notice("tokens file reloaded"),
        Ok(false) => {}
        Err(e) => term.error(&format!(
            "the tokens file was not reloaded, the tokens in force stay: {}",
            e.0
        )),
    }
}

fn watch_tokens(tokens: Arc<Tokens>, every: Duration, term: Term) {
    if every.is_zero() {
        return;
    }
    thread::Builder::new()
        .name("tokens-reload".into())
        .spawn(move || loop {
            thread::sleep(every);
            reload_tokens(&tokens, &term);
        })
        .expect("cannot start the tokens reload thread");
}

impl Handler for Endpoint {
    fn handle(&self, req: Request, resp: Responder) {
        if !self.origins.check(req.header("origin")) {
            let why = format!(
                "Origin {} is not allowed (DNS-rebinding protection); add it with --allow-origin",
                req.header("origin").unwrap_or("?")
            );
            self.table.factory().refused(
                403,
                "origin_rejected",
                &format!("{why}; from {}", req.peer),
            );
            return error(resp, 403, None, -32000, &why, &[]);
        }
        let tenant = match self.authenticate(&req) {
            Ok(t) => t,
            Err(challenge) => {
                let why = "authentication required: send Authorization: Bearer TOKEN with a \
                           token from the tokens file";
                return error(
                    resp,
                    401,
                    None,
                    -32000,
                    why,
                    &[("WWW-Authenticate", challenge)],
                );
            }
        };
        let path = req.path().to_owned();
        let tenant = tenant.as_deref();
        if path == self.endpoint {
            streamable::handle(self, req, resp, tenant)
        } else if path == self.sse {
            legacy::stream(self, req, resp, tenant)
        } else if path == self.messages {
            legacy::message(self, req, resp, tenant)
        } else {
            let why = format!(
                "no MCP endpoint at {path}: the endpoint is {} (legacy SSE: {})",
                self.endpoint, self.sse
            );
            error(resp, 404, None, -32000, &why, &[])
        }
    }
}

impl Endpoint {
    /// The tenant of the request (`None` when no tokens file is in force), or the
    /// `WWW-Authenticate` challenge of a 401 (the failure is audited).
    fn authenticate(&self, req: &Request) -> Result<Option<Arc<Tenant>>, &'static str> {
        let Some(tokens) = &self.tokens else {
            return Ok(None);
        };
        tokens
            .check(req.header("authorization"))
            .map(Some)
            .map_err(|f| {
                self.table.factory().refused(
                    401,
                    "unauthenticated",
                    &format!("{f:?} bearer token from {}", req.peer),
                );
                f.challenge()
            })
    }

    /// The session a request names, checked against its tenant; the error response when
    /// there is none.
    fn session_of(
        &self,
        id: Option<&str>,
        tenant: Option<&Tenant>,
    ) -> Result<Arc<sessions::Session>, (u16, String)> {
        let Some(id) = id else {
            return Err((
                400,
                "no Mcp-Session-Id: send initialize first, then the session id it returns".into(),
            ));
        };
        let Some(session) = self.table.get(id) else {
            return Err((
                404,
                "session not found (it ended, or its server exited): start a new session with \
                 initialize"
                    .into(),
            ));
        };
        if session.tenant.as_deref() != tenant.map(|t| t.name.as_str()) {
            self.table.factory().refused(
                403,
                "wrong_tenant",
                &format!("a token of another tenant used session {id}"),
            );
            return Err((
                403,
                "this session belongs to another tenant: use the token it was started with".into(),
            ));
        }
        Ok(session)
    }
}

/// A JSON-RPC error as an HTTP response (the body a client's SDK shows).
fn error(
    resp: Responder,
    status: u16,
    id: Option<&RawId>,
    code: i64,
    message: &str,
    headers: &[(&str, &str)],
) {
    let mut body = Vec::new();
    write_error(&mut body, id, code, message, None);
    let mut all = vec![
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ];
    all.extend_from_slice(headers);
    resp.send(status, &all, &body);
}

/// A session that could not start: 503 (with `Retry-After` when the table is full) or 500,
/// said on stderr when something is wrong with Sentinel or the server command.
fn start_refused(ep: &Endpoint, resp: Responder, id: Option<&RawId>, e: &sessions::StartError) {
    let why = e.to_string();
    let code = match e {
        sessions::StartError::Failed(_) => {
            ep.term.error(&why);
            -32603
        }
        _ => -32000,
    };
    let retry: &[(&str, &str)] = match e {
        sessions::StartError::Full(_) => &[("Retry-After", "5")],
        _ => &[],
    };
    error(resp, e.status(), id, code, &why, retry);
}

/// A body the JSON-RPC parser refused (invalid JSON, duplicate keys, bad UTF-8, ...): 400
/// with the JSON-RPC error (the request's id when it could be read), audited.
fn refuse_body(ep: &Endpoint, peer: SocketAddr, refusal: &Refusal, resp: Responder) {
    let why = format!(
        "refused: {}; send one well-formed JSON-RPC message",
        refusal.problem
    );
    ep.table
        .factory()
        .refused(400, "malformed", &format!("{why}, from {peer}"));
    error(resp, 400, refusal.id.as_ref(), refusal.code, &why, &[]);
}

/// A body as one message line: valid JSON has line breaks only between tokens, where a space
/// means the same.
fn one_line(body: &[u8]) -> Vec<u8> {
    body.trim_ascii()
        .iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect()
}
