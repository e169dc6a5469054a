//! `sentinel --upstream URL`: the bridge from stdio to an MCP server over HTTP. In upstream
//! mode the stdio proxy runs unchanged, and its "server command" is Sentinel itself
//! re-executed as this bridge (`sentinel __upstream URL ...`, [`bridge_argv`]): to the
//! gateway it is a stdio MCP server like any other (own process group, lifecycle, every
//! request answered once). The bridge reads JSON-RPC lines on stdin and sends them over
//! Streamable HTTP (`streamable.rs`) or the legacy HTTP+SSE transport (`legacy.rs`), chosen
//! as `mcp-remote` does: Streamable HTTP first, HTTP+SSE when the first POST gets 404 or 405.
//! What the server sends comes back one line per message on stdout (`out.rs`); `sse.rs` reads
//! event streams, `headers.rs` the configured headers. Nothing here decides about a message.

mod headers;
mod legacy;
mod out;
mod sse;
mod streamable;

use crate::base::lines::{read_line, Line, MAX_LINE};
use out::{note, Head, Out};
use std::ffi::OsString;
use std::fs::File;
use std::io::BufReader;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use streamable::{Client, Delivery};
use url::Url;

pub use headers::load as load_headers;

/// The environment variable holding upstream headers, `Name: value` a line.
pub const HEADERS_ENV: &str = "SENTINEL_UPSTREAM_HEADERS";
/// Requests in flight at once; past it the next waits for one to end.
const MAX_IN_FLIGHT: usize = 64;
/// How long stdin's end waits for requests still in flight (the proxy's grace is 1 s).
const EOF_WAIT: Duration = Duration::from_millis(500);

/// Which HTTP transport to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Streamable HTTP, falling back to HTTP+SSE on a 404 or 405 to the first POST.
    Auto,
    StreamableHttp,
    Sse,
}

impl Kind {
    pub fn parse(v: &str) -> Option<Kind> {
        match v {
            "auto" => Some(Kind::Auto),
            "streamable-http" => Some(Kind::StreamableHttp),
            "sse" => Some(Kind::Sse),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Auto => "auto",
            Kind::StreamableHttp => "streamable-http",
            Kind::Sse => "sse",
        }
    }
}

/// What the bridge is told on its command line.
#[derive(Clone, Debug)]
pub struct Config {
    pub url: Url,
    pub transport: Kind,
    pub headers_file: Option<PathBuf>,
}

/// Checks an upstream URL: absolute, http or https.
pub fn parse_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v).map_err(|e| format!("'{v}' is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "'{}:' URLs are not MCP over HTTP: expected http:// or https://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{v}' has no host"));
    }
    Ok(url)
}

/// The URL as a server name: without userinfo, query or fragment.
pub fn display_name(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The argv that re-executes this binary as the bridge (the headers variable is inherited).
/// `--transport` only when it is not `auto`.
pub fn bridge_argv(config: &Config) -> Vec<OsString> {
    let exe = std::env::current_exe().map_or_else(|_| OsString::from("sentinel"), Into::into);
    let mut argv = vec![exe, "__upstream".into(), config.url.as_str().into()];
    // Only when chosen: the command line names the server (pins, audit) and stays the same.
    if config.transport != Kind::Auto {
        argv.push("--transport".into());
        argv.push(config.transport.name().into());
    }
    if let Some(file) = &config.headers_file {
        argv.push("--upstream-headers".into());
        argv.push(file.clone().into_os_string());
    }
    argv
}

/// Where messages go once the transport is known.
enum Mode {
    /// Auto, before a POST got an answer.
    Undecided,
    Streamable,
    Legacy(legacy::Legacy),
}

/// Runs the bridge over this process's stdin and stdout until stdin ends: 0, or 2 for bad
/// headers, 1 when the server cannot be reached at all over HTTP+SSE.
pub fn run_bridge(config: Config) -> u8 {
    let env = std::env::var(HEADERS_ENV).ok();
    let headers = match headers::load(env.as_deref(), config.headers_file.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            note(&e);
            return 2;
        }
    };
    let out = Arc::new(Out::new());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .user_agent(concat!("mcp-sentinel/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let client = Arc::new(Client::new(
        agent.clone(),
        config.url.to_string(),
        headers.clone(),
        out.clone(),
    ));
    let mut mode = Mode::Undecided;
    if config.transport == Kind::StreamableHttp {
        mode = Mode::Streamable;
    }
    if config.transport == Kind::Sse {
        match legacy::Legacy::connect(agent.clone(), &config.url, headers.clone(), out.clone()) {
            Ok(l) => mode = Mode::Legacy(l),
            Err(e) => {
                note(&e);
                return 1;
            }
        }
    }
    let flight = Arc::new(InFlight::default());
    let mut bridge = Bridge {
        mode,
        client: client.clone(),
        agent,
        url: config.url.clone(),
        headers,
        out,
        flight: flight.clone(),
    };
    // SAFETY: fd 0 is open for the life of the process and ManuallyDrop never closes it.
    let stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut input = BufReader::with_capacity(64 * 1024, &*stdin);
    let mut line = Vec::new();
    loop {
        match read_line(&mut input, &mut line, MAX_LINE) {
            Ok(Line::Complete { .. }) => {}
            Ok(Line::TooLong) => {
                note("skipped a message longer than 64 MiB");
                continue;
            }
            Ok(Line::Eof) | Err(_) => break,
        }
        let msg = line.trim_ascii();
        if msg.first() == Some(&b'[') {
            // A batch (2025-03-26): each message on its own, as the later revisions send them.
            match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(msg) {
                Ok(items) => {
                    for item in items {
                        bridge.handle(item.get().as_bytes());
                    }
                }
                Err(_) => note("skipped a line from the client that is not a JSON-RPC message"),
            }
        } else if !msg.is_empty() {
            bridge.handle(msg);
        }
    }
    flight.wait_idle(EOF_WAIT);
    client.close();
    0
}

/// The bridge's state between messages.
struct Bridge {
    mode: Mode,
    client: Arc<Client>,
    agent: ureq::Agent,
    url: Url,
    headers: headers::Headers,
    out: Arc<Out>,
    flight: Arc<InFlight>,
}

impl Bridge {
    /// Sends one message from the client by the transport in use (deciding it first, in auto).
    fn handle(&mut self, msg: &[u8]) {
        let Some(head) = Head::of(msg) else {
            note("skipped a line from the client that is not a JSON-RPC message");
            return;
        };
        match &self.mode {
            Mode::Undecided => {
                match self.client.deliver(msg, &head, true) {
                    Delivery::Unreached => {}
                    Delivery::Done => {
                        self.mode = Mode::Streamable;
                        after(&self.client, &head);
                    }
                    Delivery::NotStreamable => {
                        note("the server does not take Streamable HTTP POSTs (404/405): trying HTTP+SSE");
                        match legacy::Legacy::connect(
                            self.agent.clone(),
                            &self.url,
                            self.headers.clone(),
                            self.out.clone(),
                        ) {
                            Ok(l) => {
                                l.send(msg, &head);
                                self.mode = Mode::Legacy(l);
                            }
                            Err(e) => {
                                note(&e);
                                if head.is_request() {
                                    self.out.error(
                                    head.id.map_or("null", |i| i.get()),
                                    &format!("the MCP server speaks neither Streamable HTTP nor HTTP+SSE at this URL: {e}"),
                                );
                                }
                            }
                        }
                    }
                }
            }
            Mode::Legacy(l) => l.send(msg, &head),
            Mode::Streamable
                if head.is_request() && head.method.as_deref() != Some("initialize") =>
            {
                // Its own thread: a long call's stream must not hold up the next messages.
                self.flight.enter();
                let (client, done, msg) = (self.client.clone(), self.flight.clone(), msg.to_vec());
                let spawned = std::thread::Builder::new()
                    .name("upstream-post".into())
                    .spawn(move || {
                        if let Some(head) = Head::of(&msg) {
                            client.deliver(&msg, &head, false);
                        }
                        done.leave();
                    });
                if spawned.is_err() {
                    self.flight.leave();
                    self.out.error(
                        head.id.map_or("null", |i| i.get()),
                        "the bridge could not start a thread for this request",
                    );
                }
            }
            Mode::Streamable => {
                self.client.deliver(msg, &head, false);
                after(&self.client, &head);
            }
        }
    }
}

/// After a message delivered in order: the initialized notification opens the GET stream.
fn after(client: &Arc<Client>, head: &Head<'_>) {
    if head.method.as_deref() == Some("notifications/initialized") {
        client.listen();
    }
}

/// The count of requests in flight, bounded.
#[derive(Default)]
struct InFlight {
    n: Mutex<usize>,
    changed: Condvar,
}

impl InFlight {
    fn enter(&self) {
        let mut n = self.n.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= MAX_IN_FLIGHT {
            n = self.changed.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
    }

    fn leave(&self) {
        let mut n = self.n.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.changed.notify_all();
    }

    fn wait_idle(&self, limit: Duration) {
        let end = Instant::now() + limit;
        let mut n = self.n.lock().unwrap_or_else(|p| p.into_inner());
        while *n > 0 {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            n = self
                .changed
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_and_named_without_credentials() {
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("mcp.example.com/mcp").is_err());
        let u = parse_url("https://user:pw@mcp.example.com:8443/mcp?key=s3cret#f").unwrap();
        assert_eq!(display_name(&u), "https://mcp.example.com:8443/mcp");
    }

    #[test]
    fn the_bridge_argv_carries_url_transport_and_headers_file() {
        let c = Config {
            url: parse_url("http://127.0.0.1:9/mcp").unwrap(),
            transport: Kind::Sse,
            headers_file: Some("/h".into()),
        };
        let argv = bridge_argv(&c);
        let tail: Vec<&str> = argv[1..].iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            tail,
            [
                "__upstream",
                "http://127.0.0.1:9/mcp",
                "--transport",
                "sse",
                "--upstream-headers",
                "/h"
            ]
        );
    }
}
