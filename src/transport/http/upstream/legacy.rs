//! The legacy HTTP+SSE transport (MCP 2024-11-05): a GET on the URL opens the event stream,
//! whose first `endpoint` event names the URL messages are POSTed to (resolved against the
//! stream's URL, and refused when it is on another origin, so credentials go nowhere else);
//! every message from the server, answers included, is a `message` event on that stream.
//! The session lives as long as the stream: when it ends the bridge exits, and the gateway
//! answers what was still waiting, as for any stdio server that went away.

use super::headers::Headers;
use super::out::{note, Head, Out};
use super::sse::Parser;
use std::sync::Arc;
use url::Url;

/// A legacy session: where to POST.
pub struct Legacy {
    agent: ureq::Agent,
    endpoint: String,
    headers: Headers,
    out: Arc<Out>,
}

impl Legacy {
    /// Opens the event stream at `url`, waits for its `endpoint` event, and starts the thread
    /// that writes the stream's messages to stdout.
    pub fn connect(
        agent: ureq::Agent,
        url: &Url,
        headers: Headers,
        out: Arc<Out>,
    ) -> Result<Legacy, String> {
        let mut rb = agent
            .get(url.as_str())
            .header("Accept", "text/event-stream");
        for (name, value) in &headers.0 {
            rb = rb.header(name.as_str(), value.as_str());
        }
        let resp = rb.call().map_err(|e| {
            format!("could not open the event stream at {url} ({e}); check that the server is running and the URL is right")
        })?;
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if status != 200 || !kind.starts_with("text/event-stream") {
            return Err(format!(
                "{url} is not an MCP event stream (GET: HTTP {status}, content type '{kind}')"
            ));
        }
        let mut parser = Parser::new(resp.into_body().into_reader());
        let endpoint = loop {
            match parser.next_event() {
                Ok(Some(ev)) if ev.kind == "endpoint" => break ev.data,
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(format!(
                        "the event stream at {url} ended before its endpoint event"
                    ))
                }
                Err(e) => return Err(format!("reading the event stream at {url}: {e}")),
            }
        };
        let text = String::from_utf8_lossy(&endpoint);
        let endpoint = url
            .join(text.trim())
            .map_err(|e| format!("the server's endpoint '{}' is not a URL: {e}", text.trim()))?;
        if endpoint.origin() != url.origin() {
            return Err(format!(
                "the server's endpoint {} is not on the origin of {url}; refused",
                endpoint.origin().ascii_serialization()
            ));
        }
        let reader = out.clone();
        std::thread::Builder::new()
            .name("upstream-sse".into())
            .spawn(move || {
                loop {
                    match parser.next_event() {
                        Ok(Some(ev)) if ev.kind == "message" => {
                            reader.message(&ev.data, "event stream");
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            note(&format!("reading the event stream: {e}"));
                            break;
                        }
                    }
                }
                note("the MCP server closed its event stream (HTTP+SSE): the session is over");
                reader.exit(1);
            })
            .map_err(|e| format!("cannot start the event stream's thread: {e}"))?;
        Ok(Legacy {
            agent,
            endpoint: endpoint.into(),
            headers,
            out,
        })
    }

    /// POSTs one message to the endpoint; the answer comes on the stream. A request the POST
    /// could not deliver is answered with an error.
    pub fn send(&self, line: &[u8], head: &Head<'_>) {
        let mut rb = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", "application/json");
        for (name, value) in &self.headers.0 {
            rb = rb.header(name.as_str(), value.as_str());
        }
        let failure = match rb.send(line) {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) => format!(
                "the MCP server refused the message (HTTP {}{})",
                resp.status().as_u16(),
                if resp.status().as_u16() == 401 || resp.status().as_u16() == 403 {
                    ": check the credentials in SENTINEL_UPSTREAM_HEADERS or --upstream-headers"
                } else {
                    ""
                }
            ),
            Err(e) => format!("could not reach the MCP server ({e}); check that it is running"),
        };
        match head.is_request().then_some(head.id).flatten() {
            Some(id) => self.out.error(id.get(), &failure),
            None => note(&format!(
                "{} not delivered: {failure}",
                head.method.as_deref().unwrap_or("response")
            )),
        }
    }
}
