//! The Streamable HTTP endpoint (`/mcp`): `POST` carries client messages (a new session's
//! `initialize` starts its server), answered with `202` when it holds no request, else with an
//! event stream (or JSON, for a client that accepts only JSON) carrying the answers and the
//! server's messages about them; `GET` opens the session's stream for the server's other
//! messages, resumable with `Last-Event-ID`; `DELETE` ends the session. Every response says
//! `Cache-Control: no-store`: what one principal's policy let through is never cached for
//! another.

use super::router::{Event, Registration, Requests, RouteError};
use super::sessions::Session;
use super::{error, one_line, refuse_body, start_refused, stateless, Endpoint, VERSIONS};
use crate::base::jsonrpc::write_error;
use crate::base::jsonrpc::{self, RawId};
use crate::transport::http::auth::Tenant;
use crate::transport::http::server::{Request, Responder, Stream};
use crate::transport::http::sse;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often an open stream checks that its client is still there.
const CHECK: Duration = Duration::from_millis(500);
/// An SSE comment on a stream quiet this long keeps proxies from closing it.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub(super) fn handle(ep: &Endpoint, req: Request, resp: Responder, tenant: Option<&Tenant>) {
    let stateless = req.header("mcp-protocol-version") == Some(stateless::VERSION);
    if stateless && req.method != "POST" {
        let why = "protocol 2026-07-28 has no sessions and no GET stream: send each request as a \
                   POST";
        return error(resp, 405, None, -32000, why, &[("Allow", "POST")]);
    }
    match req.method.as_str() {
        "POST" => post(ep, req, resp, tenant),
        "GET" => get(ep, req, resp, tenant),
        "DELETE" => delete(ep, req, resp, tenant),
        _ => error(
            resp,
            405,
            None,
            -32000,
            "method not allowed: the MCP endpoint takes POST, GET and DELETE",
            &[("Allow", "POST, GET, DELETE")],
        ),
    }
}

/// Checks `MCP-Protocol-Version` (absent: the client is older than the header): one this
/// gateway serves, and the session's own once `initialize` has settled it.
fn version_ok(req: &Request, session: Option<&Session>) -> Result<(), String> {
    let Some(v) = req.header("mcp-protocol-version") else {
        return Ok(());
    };
    if !VERSIONS.contains(&v) {
        return Err(format!(
            "unsupported MCP-Protocol-Version {v}: this gateway serves {}",
            VERSIONS.join(", ")
        ));
    }
    match session.and_then(|s| s.router.version()) {
        Some(agreed) if agreed != v => Err(format!(
            "MCP-Protocol-Version {v} is not this session's: initialize settled on {agreed}"
        )),
        _ => Ok(()),
    }
}

fn post(ep: &Endpoint, req: Request, resp: Responder, tenant: Option<&Tenant>) {
    let json = req
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return error(
            resp,
            415,
            None,
            -32000,
            "a POST to the MCP endpoint must have Content-Type: application/json",
            &[],
        );
    }
    let accept = req.header("accept").unwrap_or("*/*").to_ascii_lowercase();
    let sse = accept.contains("text/event-stream") || !accept.contains("application/json");
    let stateless = req.header("mcp-protocol-version") == Some(stateless::VERSION);
    if let (false, Err(why)) = (stateless, version_ok(&req, None)) {
        return error(resp, 400, None, -32000, &why, &[]);
    }
    let line = one_line(&req.body);
    match jsonrpc::parse_line(&line) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                resp,
                400,
                None,
                -32600,
                "empty body: send a JSON-RPC message",
                &[],
            )
        }
        Err(refusal) => return refuse_body(ep, req.peer, &refusal, resp),
    }
    if stateless {
        return stateless::post(ep, req, resp, tenant, line, sse);
    }
    let requests = Requests::of(&line);
    let mut new_session = None;
    let session = match req.header("mcp-session-id") {
        None if requests.initialize.is_some() && requests.ids.len() == 1 => {
            match ep.table.start(tenant, false) {
                Ok(s) => {
                    ep.term.info(&format!(
                        "MCP session {} started{} for {}{}",
                        s.id,
                        s.tenant
                            .as_deref()
                            .map(|t| format!(" (tenant {t})"))
                            .unwrap_or_default(),
                        req.peer,
                        if req.tls { " (TLS)" } else { "" }
                    ));
                    new_session = Some(s.id.clone());
                    s
                }
                Err(e) => return start_refused(ep, resp, None, &e),
            }
        }
        id => match ep.session_of(id, tenant) {
            Ok(s) => s,
            Err((status, why)) => return error(resp, status, None, -32000, &why, &[]),
        },
    };
    if let Err(why) = version_ok(&req, Some(&session)) {
        return error(resp, 400, None, -32000, &why, &[]);
    }
    if requests.ids.is_empty() {
        // Notifications and responses only: accepted once the gateway has them.
        if !session.send(&line) {
            return error(resp, 404, None, -32000, "the session has ended", &[]);
        }
        return resp.send(202, &[("Cache-Control", "no-store")], b"");
    }
    let reg = match session.router.register(&requests, sse) {
        Ok(r) => r,
        Err(RouteError::Closed) => {
            return error(resp, 404, None, -32000, "the session has ended", &[])
        }
        Err(RouteError::DuplicateId(id)) => {
            let why = format!("a request with id {id} is already waiting for its answer");
            return error(resp, 400, None, -32600, &why, &[]);
        }
    };
    let sent = session.send(&line);
    let mut headers = vec![("Cache-Control", "no-store")];
    if let Some(id) = &new_session {
        headers.push(("Mcp-Session-Id", id.as_str()));
    }
    let mut expected = Expected::new(&requests);
    if !sent {
        session.router.forget(reg.stream, Vec::new());
    }
    if sse {
        headers.push(("Content-Type", "text/event-stream"));
        let mut stream = resp.stream(200, &headers);
        if sent {
            if let Err(unsent) = pump(&mut stream, &reg.rx, &mut expected) {
                session.router.detach(reg.stream, unsent);
                return;
            }
            if session.router.taken_over(reg.stream) {
                return; // a resumed stream carries the rest
            }
        }
        for e in expected.missing() {
            if !stream.write(&sse::event(None, Some("message"), &e)) {
                return;
            }
        }
        stream.finish();
    } else {
        headers.push(("Content-Type", "application/json"));
        let mut answers: Vec<Vec<u8>> = Vec::new();
        if sent {
            for e in reg.rx.iter() {
                expected.seen(&e.line);
                answers.push(e.line);
            }
        }
        answers.extend(expected.missing());
        let body = if answers.len() == 1 && !line.starts_with(b"[") {
            answers.pop().unwrap_or_default()
        } else {
            let mut b = b"[".to_vec();
            b.extend_from_slice(&answers.join(&b","[..]));
            b.push(b']');
            b
        };
        resp.send(200, &headers, &body);
    }
}

/// The requests of a POST that have not been answered yet.
pub(super) struct Expected {
    waiting: Vec<(String, String)>,
}

impl Expected {
    pub(super) fn new(requests: &Requests) -> Expected {
        Expected {
            waiting: requests
                .ids
                .iter()
                .cloned()
                .zip(requests.raw_ids.iter().cloned())
                .collect(),
        }
    }

    pub(super) fn seen(&mut self, line: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Id<'a> {
            #[serde(borrow)]
            id: Option<&'a serde_json::value::RawValue>,
            method: Option<&'a str>,
        }
        if let Ok(Id {
            id: Some(id),
            method: None,
        }) = serde_json::from_slice::<Id>(line)
        {
            let key = jsonrpc::id_key(id.get());
            self.waiting.retain(|(k, _)| *k != *key);
        }
    }

    /// Errors for the requests never answered (their server went away first).
    pub(super) fn missing(&mut self) -> Vec<Vec<u8>> {
        self.waiting
            .drain(..)
            .map(|(_, raw)| {
                let mut out = Vec::new();
                write_error(
                    &mut out,
                    Some(&RawId::new(&raw)),
                    -32603,
                    "the session's MCP server exited before answering: start a new session",
                    None,
                );
                out.pop(); // the newline
                out
            })
            .collect()
    }
}

/// Writes the events of `rx` to `stream` until the router ends it; what could not be sent
/// when the client went away.
pub(super) fn pump(
    stream: &mut Stream,
    rx: &Receiver<Event>,
    expected: &mut Expected,
) -> Result<(), Vec<Event>> {
    let mut quiet_since = Instant::now();
    loop {
        match rx.recv_timeout(CHECK) {
            Ok(e) => {
                let id = e.id.to_string();
                if !stream.write(&sse::event(Some(&id), Some("message"), &e.line)) {
                    let mut unsent = vec![e];
                    unsent.extend(rx.try_iter());
                    return Err(unsent);
                }
                expected.seen(&e.line);
                quiet_since = Instant::now();
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Err(RecvTimeoutError::Timeout) => {
                if stream.client_gone()
                    || (quiet_since.elapsed() >= KEEPALIVE && !stream.write(b": keepalive\n\n"))
                {
                    return Err(rx.try_iter().collect());
                }
                if quiet_since.elapsed() >= KEEPALIVE {
                    quiet_since = Instant::now();
                }
            }
        }
    }
}

fn get(ep: &Endpoint, req: Request, resp: Responder, tenant: Option<&Tenant>) {
    let accept = req.header("accept").unwrap_or("").to_ascii_lowercase();
    if !accept.contains("text/event-stream") {
        return error(
            resp,
            406,
            None,
            -32000,
            "a GET of the MCP endpoint opens an event stream: send Accept: text/event-stream",
            &[],
        );
    }
    let session = match ep.session_of(req.header("mcp-session-id"), tenant) {
        Ok(s) => s,
        Err((status, why)) => return error(resp, status, None, -32000, &why, &[]),
    };
    if let Err(why) = version_ok(&req, Some(&session)) {
        return error(resp, 400, None, -32000, &why, &[]);
    }
    let dropped = session.router.take_dropped();
    if dropped > 0 {
        ep.term.warn(&format!(
            "MCP session {}: {dropped} server message(s) were dropped while no GET stream was \
             open (more than {} waited)",
            session.id,
            super::router::BACKLOG
        ));
    }
    let resume = req
        .header("last-event-id")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Ok(reg) = session.router.open_get(resume) else {
        return error(resp, 404, None, -32000, "the session has ended", &[]);
    };
    let stream = resp.stream(
        200,
        &[
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-store"),
        ],
    );
    get_stream(&session, stream, reg);
}

/// Sends a session's GET stream events until its client goes (what was on the way waits for
/// the next stream) or the session ends (the stream ends cleanly).
pub(super) fn get_stream(session: &Arc<Session>, mut stream: Stream, reg: Registration) {
    let mut none = Expected {
        waiting: Vec::new(),
    };
    if reg.takeover {
        // A POST's stream resumed: it ends with the POST's last answer.
        match pump(&mut stream, &reg.rx, &mut none) {
            Ok(()) if !session.router.taken_over(reg.stream) => stream.finish(),
            Ok(()) => {}
            Err(unsent) => session.router.detach(reg.stream, unsent),
        }
        return;
    }
    match pump(&mut stream, &reg.rx, &mut none) {
        Ok(()) => {
            session.router.close_get(reg.stream, Vec::new());
            stream.finish();
        }
        Err(unsent) => session.router.close_get(reg.stream, unsent),
    }
}

fn delete(ep: &Endpoint, req: Request, resp: Responder, tenant: Option<&Tenant>) {
    let session = match ep.session_of(req.header("mcp-session-id"), tenant) {
        Ok(s) => s,
        Err((status, why)) => return error(resp, status, None, -32000, &why, &[]),
    };
    ep.table.end(&session.id);
    ep.term.info(&format!(
        "MCP session {} ended by its client (DELETE)",
        session.id
    ));
    resp.send(200, &[("Cache-Control", "no-store")], b"");
}
