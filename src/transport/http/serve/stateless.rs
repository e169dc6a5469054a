//! Protocol 2026-07-28 requests on the `/mcp` endpoint: no session, every request standing
//! alone with its metadata mirrored in headers (`MCP-Protocol-Version`, `Mcp-Method`,
//! `Mcp-Name`) that must agree with the body, else `400` with the spec's `HeaderMismatch`
//! error (-32020), and closing the response stream cancels the request. The stdio server
//! behind still speaks an initialize-based version, so each request is run on a session of a
//! per-tenant pool that Sentinel itself initialized (declaring no client capabilities: this
//! revision sends no server requests on a stream), one request at a time per session; a
//! cancelled request's session is ended with its server (two seconds after the server is
//! told) rather than reused.

use super::router::Requests;
use super::sessions::Session;
use super::streamable::{pump, Expected};
use super::{error, Endpoint};
use crate::base::jsonrpc::RawId;
use crate::transport::http::auth::Tenant;
use crate::transport::http::server::{Request, Responder};
use crate::transport::http::sse;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

/// The revision served here.
pub const VERSION: &str = "2026-07-28";
/// The JSON-RPC error of a header that disagrees with the body (or is missing).
const HEADER_MISMATCH: i64 = -32020;
/// How long a cancelled request's server has to wind down before its session ends.
const CANCEL_GRACE: Duration = Duration::from_secs(2);
/// How long the pool's own `initialize` may take.
const INIT_WAIT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Params>,
}

#[derive(Deserialize, Default)]
struct Params {
    #[serde(default)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    uri: Option<serde_json::Value>,
    #[serde(default, rename = "_meta")]
    meta: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A header value as the spec encodes it: plain, or `=?base64?...?=`.
fn decode(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(b64) => String::from_utf8(base64(b64)?).ok(),
        None => Some(value.to_owned()),
    }
}

/// Standard base64 (with or without padding).
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Checks the mirrored headers against the body: the mismatch message when they disagree.
fn mismatch(req: &Request, body: &Body) -> Option<String> {
    let method = body.method.as_deref().unwrap_or("");
    let params = body.params.as_ref();
    let meta_version = params
        .and_then(|p| p.meta.as_ref())
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .and_then(|v| v.as_str());
    if meta_version != Some(VERSION) {
        return Some(format!(
            "Header mismatch: MCP-Protocol-Version header value '{VERSION}' does not match \
             body value '{}' (params._meta[\"io.modelcontextprotocol/protocolVersion\"])",
            meta_version.unwrap_or("(missing)")
        ));
    }
    match req.header("mcp-method") {
        None => return Some("Header mismatch: the Mcp-Method header is missing".into()),
        Some(h) if h != method => {
            return Some(format!(
                "Header mismatch: Mcp-Method header value '{h}' does not match body value \
                 '{method}'"
            ))
        }
        Some(_) => {}
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.and_then(|p| p.name.as_ref()),
        "resources/read" => params.and_then(|p| p.uri.as_ref()),
        _ => return None,
    };
    let body_name = named.and_then(|v| v.as_str()).unwrap_or("");
    match req.header("mcp-name").map(|h| (h, decode(h))) {
        None => Some("Header mismatch: the Mcp-Name header is missing".into()),
        Some((h, None)) => Some(format!(
            "Header mismatch: Mcp-Name header value '{h}' is not valid base64"
        )),
        Some((h, Some(name))) if name != body_name => Some(format!(
            "Header mismatch: Mcp-Name header value '{h}' does not match body value \
             '{body_name}'"
        )),
        Some(_) => None,
    }
}

/// A 2026-07-28 POST (its body already accepted by the JSON-RPC parser as `line`).
pub(super) fn post(
    ep: &Endpoint,
    req: Request,
    resp: Responder,
    tenant: Option<&Tenant>,
    line: Vec<u8>,
    sse: bool,
) {
    let Ok(body) = serde_json::from_slice::<Body>(&line) else {
        let why = "a 2026-07-28 request body must be one JSON-RPC request (no batches)";
        return error(resp, 400, None, -32600, why, &[]);
    };
    let id = body.id.map(|i| RawId::new(i.get()));
    if let Some(why) = mismatch(&req, &body) {
        ep.table
            .factory()
            .refused(400, "header_mismatch", &format!("{why}; from {}", req.peer));
        return error(resp, 400, id.as_ref(), HEADER_MISMATCH, &why, &[]);
    }
    let Some(id) = id else {
        let why = "protocol 2026-07-28 defines no client notifications over HTTP (closing a \
                   response stream cancels its request)";
        return error(resp, 400, None, -32600, why, &[]);
    };
    let session = match acquire(ep, tenant) {
        Ok(s) => s,
        Err((status, why)) => return error(resp, status, Some(&id), -32000, &why, &[]),
    };
    let requests = Requests::of(&line);
    let Ok(reg) = session.router.register(&requests, sse) else {
        ep.table.end(&session.id);
        return error(
            resp,
            503,
            Some(&id),
            -32000,
            "the session ended at once",
            &[],
        );
    };
    let mut expected = Expected::new(&requests);
    if !session.send(&line) {
        session.router.forget(reg.stream, Vec::new());
        ep.table.end(&session.id);
        let why = "the MCP server exited before the request reached it";
        return error(resp, 502, Some(&id), -32603, why, &[]);
    }
    let headers = [
        ("Cache-Control", "no-store"),
        ("Content-Type", "text/event-stream"),
    ];
    if sse {
        let mut stream = resp.stream(200, &headers);
        if pump(&mut stream, &reg.rx, &mut expected).is_err() {
            // Closing the stream is the cancellation: the server is told, and the session,
            // which may still answer, is not handed to another request.
            session.router.forget(reg.stream, Vec::new());
            let cancel = format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{},"reason":"the client closed the response stream"}}}}"#,
                id.as_json()
            );
            session.send(cancel.as_bytes());
            // The server gets a moment to act on it; then its session ends, never reused.
            let (table, id) = (ep.table.clone(), session.id.clone());
            let _ = std::thread::Builder::new()
                .name("cancel-grace".into())
                .spawn(move || {
                    std::thread::sleep(CANCEL_GRACE);
                    table.end(&id);
                });
            return;
        }
        for e in expected.missing() {
            if !stream.write(&sse::event(None, Some("message"), &e)) {
                return;
            }
        }
        stream.finish();
    } else {
        let mut answer = None;
        for e in reg.rx.iter() {
            expected.seen(&e.line);
            answer = Some(e.line);
        }
        let body = answer
            .or_else(|| expected.missing().pop())
            .unwrap_or_default();
        resp.send(
            200,
            &[
                ("Cache-Control", "no-store"),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
    }
    ep.table.release(session);
}

/// An idle initialized session of the tenant's pool, or a new one.
fn acquire(ep: &Endpoint, tenant: Option<&Tenant>) -> Result<Arc<Session>, (u16, String)> {
    if let Some(s) = ep.table.take_pooled(tenant) {
        return Ok(s);
    }
    let session = ep
        .table
        .start(tenant, false)
        .map_err(|e| (e.status(), e.to_string()))?;
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":"sentinel-stateless-init","method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"sentinel (for 2026-07-28 clients)","version":"{}"}}}}}}"#,
        env!("CARGO_PKG_VERSION")
    );
    let requests = Requests::of(init.as_bytes());
    let fail = |why: &str| {
        ep.table.end(&session.id);
        (502, format!("the MCP server did not initialize: {why}"))
    };
    let reg = session
        .router
        .register(&requests, false)
        .map_err(|_| fail("its session ended"))?;
    if !session.send(init.as_bytes()) {
        return Err(fail("it exited"));
    }
    match reg.rx.recv_timeout(INIT_WAIT) {
        Ok(e) if !e.line.windows(8).any(|w| w == b"\"error\":") => {}
        Ok(e) => return Err(fail(&String::from_utf8_lossy(&e.line))),
        Err(_) => return Err(fail("no answer to initialize")),
    }
    session.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    ep.term.info(&format!(
        "MCP session {} started for 2026-07-28 requests{}",
        session.id,
        tenant
            .map(|t| format!(" of tenant {}", t.name))
            .unwrap_or_default()
    ));
    Ok(session)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_decode_from_the_base64_sentinel() {
        assert_eq!(super::decode("get_weather").as_deref(), Some("get_weather"));
        assert_eq!(
            super::decode("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            super::decode("=?base64?IHBhZGRlZCA=?=").as_deref(),
            Some(" padded ")
        );
        assert_eq!(super::decode("=?base64?!!?="), None);
    }
}
