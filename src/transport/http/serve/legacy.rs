//! The legacy HTTP+SSE transport (protocol 2024-11-05), for older clients: `GET /sse` starts
//! a session and its server and opens its one event stream, whose first event (`endpoint`)
//! names the message endpoint (`/messages?session_id=ID`); each client message is POSTed
//! there (`202 Accepted`) and every answer and server message arrives on the event stream.
//! The session ends when its event stream closes.

use super::streamable::get_stream;
use super::{error, one_line, refuse_body, start_refused, Endpoint};
use crate::base::jsonrpc;
use crate::transport::http::auth::Tenant;
use crate::transport::http::server::{Request, Responder};
use crate::transport::http::sse;

pub(super) fn stream(ep: &Endpoint, req: Request, resp: Responder, tenant: Option<&Tenant>) {
    if req.method != "GET" {
        let why =
            "the legacy SSE endpoint takes GET; messages go to the endpoint its first event names";
        return error(resp, 405, None, -32000, why, &[("Allow", "GET")]);
    }
    let session = match ep.table.start(tenant, true) {
        Ok(s) => s,
        Err(e) => return start_refused(ep, resp, None, &e),
    };
    ep.term.info(&format!(
        "MCP session {} started (legacy SSE) for {}",
        session.id, req.peer
    ));
    let Ok(reg) = session.router.open_get(None) else {
        return error(resp, 500, None, -32603, "the session ended at once", &[]);
    };
    let mut out = resp.stream(
        200,
        &[
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-store"),
        ],
    );
    let endpoint = format!("{}?session_id={}", ep.messages, session.id);
    if out.write(&sse::event(None, Some("endpoint"), endpoint.as_bytes())) {
        get_stream(&session, out, reg);
    }
    // The stream was the session: it is over.
    ep.table.end(&session.id);
}

pub(super) fn message(ep: &Endpoint, req: Request, resp: Responder, tenant: Option<&Tenant>) {
    if req.method != "POST" {
        return error(
            resp,
            405,
            None,
            -32000,
            "the message endpoint takes POST",
            &[("Allow", "POST")],
        );
    }
    let id =
        query_param(&req.target, "session_id").or_else(|| query_param(&req.target, "sessionId"));
    let session = match ep.session_of(id.as_deref(), tenant) {
        Ok(s) => s,
        Err((status, why)) => return error(resp, status, None, -32000, &why, &[]),
    };
    let line = one_line(&req.body);
    if let Err(refusal) = jsonrpc::parse_line(&line) {
        return refuse_body(ep, req.peer, &refusal, resp);
    }
    if !session.send(&line) {
        return error(resp, 404, None, -32000, "the session has ended", &[]);
    }
    resp.send(202, &[("Cache-Control", "no-store")], b"Accepted");
}

/// A query parameter's value (session ids are hex: no decoding needed).
fn query_param(target: &str, name: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}
