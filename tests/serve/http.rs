//! A small HTTP/1.1 client for the `sentinel serve` tests, written against the raw socket so
//! the tests control every byte (malformed requests, dribbled heads, streams read event by
//! event), and the `sentinel serve` process under test: started on a free port, its stderr
//! collected, killed when dropped.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const LIMIT: Duration = Duration::from_secs(20);

/// A running `sentinel serve`.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// `sentinel serve --listen 127.0.0.1:0 ARGS -- fake_server SERVER_ARGS`, in `dir`.
    pub fn start(dir: &Path, args: &[&str], server_args: &[&str]) -> Serve {
        let mut cmd = serve_command(dir);
        cmd.args(["--listen", "127.0.0.1:0"]).args(args);
        cmd.arg("--")
            .arg(super::util::fake_server())
            .args(server_args);
        Serve::spawn(cmd).expect("sentinel serve did not start listening")
    }

    /// Spawns `cmd` and waits for its "listening on" line; `Err(stderr)` if it exits first.
    pub fn spawn(mut cmd: Command) -> Result<Serve, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sentinel serve");
        let mut err = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let start = Instant::now();
        loop {
            let text = stderr.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http").nth(1) {
                let addr = rest
                    .trim_start_matches('s')
                    .trim_start_matches("://")
                    .split('/')
                    .next()
                    .unwrap()
                    .parse()
                    .expect("address in the listening line");
                return Ok(Serve {
                    child,
                    addr,
                    stderr,
                });
            }
            if let Ok(Some(_)) = child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                return Err(stderr.lock().unwrap().clone());
            }
            assert!(start.elapsed() < LIMIT, "serve did not start: {text}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// One request on a new connection.
    pub fn request(&self, method: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let mut c = self.connect();
        c.send(method, "/mcp", headers, body.as_bytes());
        c.response()
    }

    /// A POST of one message to /mcp, accepting JSON and event streams.
    pub fn post(&self, session: Option<&str>, body: &str) -> Response {
        let mut h = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        if let Some(s) = session {
            h.push(("Mcp-Session-Id", s));
        }
        self.request("POST", &h, body)
    }

    /// A POST of `body` on session `sid`, answered as an event stream: the connection with
    /// its 200 head read, to read the events from.
    pub fn stream(&self, sid: &str, body: &str) -> Conn {
        let mut c = self.connect();
        c.send(
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "text/event-stream"),
                ("Mcp-Session-Id", sid),
            ],
            body.as_bytes(),
        );
        let (status, headers) = c.head();
        assert_eq!(status, 200);
        assert!(headers
            .iter()
            .any(|(n, v)| n == "content-type" && v == "text/event-stream"));
        c
    }

    /// A GET of session `sid`'s stream (resuming after `last`, when given): the connection
    /// with its 200 head read.
    pub fn get_stream(&self, sid: &str, last: Option<&str>) -> Conn {
        let mut c = self.connect();
        let mut h = vec![("Accept", "text/event-stream"), ("Mcp-Session-Id", sid)];
        if let Some(l) = last {
            h.push(("Last-Event-ID", l));
        }
        c.send("GET", "/mcp", &h, b"");
        assert_eq!(c.head().0, 200);
        c
    }

    /// initialize + notifications/initialized; the session id.
    pub fn init(&self, extra: &[(&str, &str)]) -> String {
        let mut h = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        h.extend_from_slice(extra);
        let r = self.request("POST", &h, INITIALIZE);
        assert_eq!(r.status, 200, "{}", r.text());
        let sid = r.header("mcp-session-id").expect("session id").to_owned();
        let mut h2 = h.clone();
        h2.push(("Mcp-Session-Id", &sid));
        let r2 = self.request(
            "POST",
            &h2,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        assert_eq!(r2.status, 202, "{}", r2.text());
        sid
    }

    /// SIGTERM, then the exit status within the limit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        super::util::send_signal(self.child.id(), libc::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < LIMIT, "serve did not stop");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sentinel serve --no-color --audit-log DIR/audit.log`, [`hermetic`](super::util::hermetic).
pub fn serve_command(dir: &Path) -> Command {
    let mut c = super::util::bare(dir);
    c.args(["serve", "--no-color", "--audit-log"])
        .arg(dir.join("audit.log"));
    c
}

pub const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}"#;

/// One connection.
pub struct Conn {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

/// A response read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The messages of an event-stream body, or the JSON body's one message.
    pub fn messages(&self) -> Vec<Value> {
        if self
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
        {
            events(&self.text())
                .into_iter()
                .filter(|(_, kind, _)| kind.as_deref().unwrap_or("message") == "message")
                .map(|(_, _, data)| serde_json::from_str(&data).unwrap())
                .collect()
        } else {
            vec![self.json()]
        }
    }
}

/// (id, event, data) of each event in an event-stream text.
pub fn events(text: &str) -> Vec<(Option<String>, Option<String>, String)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut id, mut kind, mut data) = (None, None, Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push(v.to_owned());
            }
        }
        if !data.is_empty() {
            out.push((id, kind, data.join("\n")));
        }
    }
    out
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Conn { stream, reader }
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).expect("send request");
    }

    /// The status line and headers of the next response.
    pub fn head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).expect("header");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':').expect("header line");
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        if status == 100 {
            return self.head();
        }
        (status, headers)
    }

    /// The next chunk of a chunked body (`None` at its end).
    pub fn chunk(&mut self) -> Option<Vec<u8>> {
        let mut size = String::new();
        if self.reader.read_line(&mut size).ok()? == 0 {
            return None;
        }
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        let mut data = vec![0u8; n + 2];
        self.reader.read_exact(&mut data).ok()?;
        data.truncate(n);
        (n > 0).then_some(data)
    }

    pub fn response(&mut self) -> Response {
        let (status, headers) = self.head();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            while let Some(c) = self.chunk() {
                body.extend_from_slice(&c);
            }
        } else if let Some(n) = get("content-length") {
            body = vec![0u8; n.parse().unwrap()];
            self.reader.read_exact(&mut body).expect("body");
        } else {
            let _ = self.reader.read_to_end(&mut body);
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// Reads events of a streamed response until `n` messages arrived.
    pub fn messages(&mut self, n: usize) -> Vec<(Option<String>, Value)> {
        let mut text = String::new();
        let mut out = Vec::new();
        while out.len() < n {
            let c = self.chunk().expect("the stream ended early");
            text.push_str(&String::from_utf8_lossy(&c));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                for (id, kind, data) in events(&block) {
                    if kind.as_deref().unwrap_or("message") == "message" {
                        out.push((id, serde_json::from_str(&data).unwrap()));
                    }
                }
            }
        }
        out
    }
}

/// A `tools/call` request line.
pub fn call(id: u64, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}
