//! The listener over real sockets on 127.0.0.1: answers, keep-alive, pipelining, bodies by
//! length and chunked, every refusal and its status, the deadlines (a dribbling client cut off
//! while another is served), the connection limit, streaming with `client_gone`, panicking
//! handlers, stopping. The TLS tests are in `tls_tests.rs`, with these helpers.

use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;

/// A server running on its own thread, stopped when dropped.
pub(super) struct Running {
    pub addr: SocketAddr,
    pub stopper: Stopper,
    pub done: mpsc::Receiver<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

pub(super) fn start_with(
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: impl Handler,
) -> Running {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), limits, tls).unwrap();
    let (addr, stopper) = (server.local_addr(), server.stopper());
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        server.run(Arc::new(handler));
        let _ = tx.send(());
    });
    Running {
        addr,
        stopper,
        done,
    }
}

fn start(limits: Limits, handler: impl Handler) -> Running {
    start_with(limits, None, handler)
}

/// Answers with what it was asked: method, target, path, the `x-test` header, tls, body.
pub(super) fn echo(req: Request, resp: Responder) {
    let text = format!(
        "{} {} {} {} tls={} [{}]",
        req.method,
        req.target,
        req.path(),
        req.header("X-Test").unwrap_or("-"),
        req.tls,
        String::from_utf8_lossy(&req.body)
    );
    resp.send(200, &[("content-type", "text/plain")], text.as_bytes());
}

pub(super) fn connect(addr: SocketAddr) -> TcpStream {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock
}

pub(super) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }
}

pub(super) fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.trim_end_matches(['\r', '\n']).to_string()
}

/// Reads one answer: head, then the body by its length, chunked, or to the end.
pub(super) fn read_answer(r: &mut impl BufRead) -> Answer {
    let status_line = read_line(r);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_line(r);
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap();
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
    };
    let mut body = Vec::new();
    if let Some(n) = answer.header("content-length") {
        body.resize(n.parse().unwrap(), 0);
        r.read_exact(&mut body).unwrap();
    } else if answer.header("transfer-encoding") == Some("chunked") {
        while let Some(chunk) = read_chunk(r) {
            body.extend_from_slice(&chunk);
        }
    } else {
        let _ = r.read_to_end(&mut body);
    }
    answer.body = String::from_utf8(body).unwrap();
    answer
}

/// One chunk of a chunked answer; None for the last one (and its empty trailer line).
pub(super) fn read_chunk(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let size = usize::from_str_radix(&read_line(r), 16).unwrap();
    if size == 0 {
        assert_eq!(read_line(r), "");
        return None;
    }
    let mut chunk = vec![0; size + 2];
    r.read_exact(&mut chunk).unwrap();
    assert!(chunk.ends_with(b"\r\n"));
    chunk.truncate(size);
    Some(chunk)
}

/// Sends `raw` on a new connection and reads one answer.
fn ask(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut sock = connect(addr);
    sock.write_all(raw).unwrap();
    read_answer(&mut BufReader::new(sock))
}

/// Whether the server closed the connection (end of stream, or a reset) with nothing more.
pub(super) fn closed(r: &mut impl Read) -> bool {
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn a_request_gets_its_answer() {
    let server = start(Limits::default(), echo);
    let a = ask(
        server.addr,
        b"GET /mcp?x=1 HTTP/1.1\r\nHost: h\r\nX-Test:  A b \r\n\r\n",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body, "GET /mcp?x=1 /mcp A b tls=false []");
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.header("connection"), None);
}

#[test]
fn request_accessors_read_path_and_headers() {
    let req = Request {
        method: "GET".into(),
        target: "http://Example/p/q?x#f".into(),
        headers: vec![
            ("a".into(), b" one ".to_vec()),
            ("b".into(), vec![0xff]),
            ("a".into(), b"two".to_vec()),
        ],
        body: Vec::new(),
        peer: "127.0.0.1:1".parse().unwrap(),
        tls: false,
    };
    assert_eq!(req.path(), "/p/q");
    assert_eq!(req.header("A"), Some("one"));
    assert_eq!(req.header("b"), None);
    assert_eq!(req.header("c"), None);
    let all: Vec<&[u8]> = req.headers_named("A").collect();
    assert_eq!(all, [&b" one "[..], b"two"]);
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let server = start(Limits::default(), echo);
    let mut sock = connect(server.addr);
    let mut r = BufReader::new(sock.try_clone().unwrap());
    for target in ["/one", "/two"] {
        write!(sock, "GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let a = read_answer(&mut r);
        assert_eq!((a.status, a.body.split(' ').nth(1)), (200, Some(target)));
    }
    // Connection: close is honoured: the answer says so and the connection ends.
    sock.write_all(b"GET /three HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let a = read_answer(&mut r);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(closed(&mut r));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(Limits::default(), echo);
    let mut sock = connect(server.addr);
    sock.write_all(
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(sock);
    let bodies: Vec<String> = (0..3).map(|_| read_answer(&mut r).body).collect();
    assert_eq!(
        bodies,
        [
            "GET /a /a - tls=false []",
            "POST /b /b - tls=false [hello]",
            "GET /c /c - tls=false []"
        ]
    );
}

#[test]
fn a_chunked_body_is_decoded_and_the_connection_goes_on() {
    let server = start(Limits::default(), echo);
    let mut sock = connect(server.addr);
    sock.write_all(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    assert_eq!(
        read_answer(&mut r).body,
        "POST /c /c - tls=false [hello world]"
    );
    sock.write_all(b"GET /next HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut r).status, 200);
}

#[test]
fn broken_chunked_bodies_are_400() {
    let server = start(Limits::default(), echo);
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nbroken\ntrailer\r\n\r\n",
    ] {
        let mut raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(body);
        let a = ask(server.addr, &raw);
        assert_eq!(
            a.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            a.body
        );
        assert!(a.body.contains("chunk"), "{}", a.body);
    }
}

#[test]
fn framing_conflicts_are_refused() {
    let server = start(Limits::default(), echo);
    let cases: [(&[u8], u16, &str); 5] = [
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
            400,
            "both Content-Length and Transfer-Encoding",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            400,
            "differing Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello",
            400,
            "not a number",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "gzip, chunked",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
            501,
            "identity",
        ),
    ];
    for (raw, status, says) in cases {
        let a = ask(server.addr, raw);
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(raw));
        assert!(a.body.contains(says), "{}", a.body);
        assert_eq!(a.header("connection"), Some("close"));
    }
    // The same length twice is one length.
    let a = ask(
        server.addr,
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "POST / / - tls=false [ok]")
    );
}

fn small_limits() -> Limits {
    Limits {
        max_head: 256,
        max_headers: 4,
        max_body: 10,
        ..Limits::default()
    }
}

#[test]
fn a_body_too_large_is_413_before_it_is_sent() {
    let server = start(small_limits(), echo);
    // Only the head is sent: the answer comes without waiting for the body.
    let a = ask(
        server.addr,
        b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n",
    );
    assert_eq!(a.status, 413);
    assert!(a.body.contains("larger than 10 bytes"), "{}", a.body);
    let huge = ask(
        server.addr,
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    );
    assert_eq!(huge.status, 413);
    let chunked = ask(
        server.addr,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\n",
    );
    assert_eq!(chunked.status, 413);
    // Within the limit is fine.
    let ok = ask(
        server.addr,
        b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn heads_too_large_or_with_too_many_fields_are_431() {
    let server = start(small_limits(), echo);
    let long = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(300));
    let a = ask(server.addr, long.as_bytes());
    assert_eq!(a.status, 431);
    assert!(a.body.contains("larger than 256 bytes"), "{}", a.body);
    // An incomplete head past the limit is refused too, without waiting for its end.
    let a = ask(
        server.addr,
        format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(300)).as_bytes(),
    );
    assert_eq!(a.status, 431);
    let many = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n";
    let a = ask(server.addr, many.as_bytes());
    assert_eq!(a.status, 431);
    assert!(a.body.contains("more than 4 header fields"), "{}", a.body);
    let four = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
    assert_eq!(ask(server.addr, four.as_bytes()).status, 200);
}

#[test]
fn malformed_heads_are_400_and_other_versions_505() {
    let server = start(Limits::default(), echo);
    for raw in [
        &b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
    ] {
        let a = ask(server.addr, raw);
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(raw));
        assert!(a.body.contains("malformed request head"), "{}", a.body);
    }
    for raw in [&b"GET / HTTP/2.0\r\n\r\n"[..], b"GET / HTTP/1.2\r\n\r\n"] {
        let a = ask(server.addr, raw);
        assert_eq!(a.status, 505, "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = start(small_limits(), echo);
    let mut sock = connect(server.addr);
    sock.write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    let interim = read_answer_head_only(&mut r);
    assert_eq!(interim, "HTTP/1.1 100 Continue");
    sock.write_all(b"ok").unwrap();
    assert_eq!(read_answer(&mut r).body, "POST / / - tls=false [ok]");
    // Too large: 413 at once, no 100.
    let a = ask(
        server.addr,
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n",
    );
    assert_eq!(a.status, 413);
}

/// The status line of an interim answer, and its empty end line.
fn read_answer_head_only(r: &mut impl BufRead) -> String {
    let line = read_line(r);
    assert_eq!(read_line(r), "");
    line
}

#[test]
fn http_1_0_closes_after_each_answer() {
    let server = start(Limits::default(), echo);
    let mut sock = connect(server.addr);
    sock.write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(sock);
    let a = read_answer(&mut r);
    assert_eq!((a.status, a.header("connection")), (200, Some("close")));
    assert!(closed(&mut r));
}

#[test]
fn an_idle_connection_is_closed_silently() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(limits, echo);
    let mut sock = connect(server.addr);
    sock.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(sock);
    assert_eq!(read_answer(&mut r).status, 200);
    let waited = Instant::now();
    assert!(closed(&mut r));
    assert!(waited.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_dribbled_head_is_cut_off_while_others_are_served() {
    let limits = Limits {
        head_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let server = start(limits, echo);
    let started = Instant::now();
    let dribbler = connect(server.addr);
    let answered = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut sock, answered) = (dribbler.try_clone().unwrap(), answered.clone());
        thread::spawn(move || {
            for byte in b"GET / HTTP/1.1\r\nX-Slow: one byte at a time, never ending".iter() {
                if answered.load(Ordering::SeqCst) || sock.write_all(&[*byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(200));
            }
        })
    };
    thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let other = ask(server.addr, b"GET /other HTTP/1.1\r\n\r\n");
    let other_took = asked.elapsed();
    assert_eq!(other.status, 200);
    assert!(other_took < Duration::from_millis(900), "{other_took:?}");

    let mut got = Vec::new();
    let mut r = dribbler;
    let mut buf = [0u8; 1024];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        answered.store(true, Ordering::SeqCst);
        got.extend_from_slice(&buf[..n]);
    }
    let cut_after = started.elapsed();
    answered.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
    assert!(got.contains("request not received in time"), "{got}");
    assert!(
        cut_after >= Duration::from_millis(900) && cut_after < Duration::from_millis(3500),
        "{cut_after:?}"
    );
}

#[test]
fn past_the_connection_limit_clients_get_503_until_a_slot_frees() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = start(limits, echo);
    let mut holder = connect(server.addr);
    // The holder is accepted first (the accept queue is in order), so this one is over.
    let mut refused = connect(server.addr);
    let mut text = String::new();
    let _ = refused.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(text.contains("retry-after: 1\r\n"), "{text}");
    assert!(text.contains("too many connections"), "{text}");
    // The holder is served, and once its thread ends the count lets another in.
    holder
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(holder);
    assert_eq!(read_answer(&mut r).status, 200);
    assert!(closed(&mut r));
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let a = ask(server.addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        if a.status == 200 {
            break;
        }
        assert_eq!(a.status, 503);
        assert!(Instant::now() < until, "the slot was never released");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_streamed_answer_arrives_write_by_write() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go = Mutex::new(go_rx);
    let server = start(Limits::default(), move |req: Request, resp: Responder| {
        if req.path() != "/stream" {
            return echo(req, resp);
        }
        let mut stream = resp.stream(200, &[("content-type", "text/event-stream")]);
        for i in 0..3 {
            assert!(stream.write(format!("event {i}\n").as_bytes()));
            // The next write waits until the client has read this one.
            go.lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
                .unwrap();
        }
        stream.finish();
    });
    let mut sock = connect(server.addr);
    sock.write_all(b"GET /stream HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    assert_eq!(read_line(&mut r), "HTTP/1.1 200 OK");
    let mut head = Vec::new();
    loop {
        let line = read_line(&mut r);
        if line.is_empty() {
            break;
        }
        head.push(line.to_ascii_lowercase());
    }
    assert!(
        head.contains(&"transfer-encoding: chunked".to_string()),
        "{head:?}"
    );
    for i in 0..3 {
        assert_eq!(
            read_chunk(&mut r).unwrap(),
            format!("event {i}\n").as_bytes()
        );
        go_tx.send(()).unwrap();
    }
    assert!(read_chunk(&mut r).is_none());
    // Finished: the connection serves the next request.
    sock.write_all(b"GET /after HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut r).body, "GET /after /after - tls=false []");
}

#[test]
fn a_stream_to_http_1_0_is_unchunked_and_closed() {
    let server = start(Limits::default(), |_req: Request, resp: Responder| {
        let mut stream = resp.stream(200, &[]);
        stream.write(b"one ");
        stream.write(b"two");
        stream.finish();
    });
    let a = ask(server.addr, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        (a.body.as_str(), a.header("connection")),
        ("one two", Some("close"))
    );
    assert_eq!(a.header("transfer-encoding"), None);
}

#[test]
fn a_stream_dropped_unfinished_closes_without_the_last_chunk() {
    let server = start(Limits::default(), |_req: Request, resp: Responder| {
        let mut stream = resp.stream(200, &[]);
        stream.write(b"partial");
        drop(stream);
    });
    let mut sock = connect(server.addr);
    sock.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(sock);
    assert_eq!(read_line(&mut r), "HTTP/1.1 200 OK");
    while !read_line(&mut r).is_empty() {}
    assert_eq!(read_chunk(&mut r).unwrap(), b"partial");
    // No terminating chunk: the connection just ends.
    assert!(closed(&mut r));
}

#[test]
fn answers_to_head_have_no_body_and_headers_cannot_split_an_answer() {
    let server = start(Limits::default(), |req: Request, resp: Responder| {
        let headers = [
            ("x-ok", "1"),
            ("x-bad", "a\r\ninjected: 1"),
            ("content-length", "99"),
        ];
        if req.path() == "/stream" {
            let mut stream = resp.stream(200, &headers);
            stream.write(b"not sent to HEAD");
            stream.finish();
        } else {
            resp.send(200, &headers, b"body");
        }
    });
    let mut sock = connect(server.addr);
    sock.write_all(b"HEAD / HTTP/1.1\r\n\r\nHEAD /stream HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(sock);
    let mut heads = Vec::new();
    for _ in 0..2 {
        let mut head = vec![read_line(&mut r)];
        while let Some(line) = Some(read_line(&mut r)).filter(|l| !l.is_empty()) {
            head.push(line);
        }
        heads.push(head.join("|"));
    }
    assert_eq!(heads[0], "HTTP/1.1 200 OK|x-ok: 1|content-length: 4");
    assert_eq!(
        heads[1],
        "HTTP/1.1 200 OK|x-ok: 1|transfer-encoding: chunked"
    );
    // The third answer follows at once: nothing of a body came in between.
    let a = read_answer(&mut r);
    assert_eq!((a.body.as_str(), a.header("injected")), ("body", None));
}

#[test]
fn client_gone_turns_true_when_the_client_closes() {
    let (report_tx, report) = mpsc::channel::<(bool, bool)>();
    let report_tx = Mutex::new(report_tx);
    let server = start(Limits::default(), move |_req: Request, resp: Responder| {
        let mut stream = resp.stream(200, &[]);
        stream.write(b"hello");
        let report_tx = report_tx.lock().unwrap().clone();
        report_tx.send((stream.client_gone(), true)).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while !stream.client_gone() && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        let gone = stream.client_gone();
        // Once gone, writes fail.
        let mut wrote = true;
        for _ in 0..100 {
            wrote = stream.write(b"more");
            if !wrote {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        report_tx.send((gone, wrote)).unwrap();
    });
    let mut sock = connect(server.addr);
    sock.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    while !read_line(&mut r).is_empty() {}
    assert_eq!(read_chunk(&mut r).unwrap(), b"hello");
    let wait = Duration::from_secs(10);
    assert_eq!(report.recv_timeout(wait).unwrap(), (false, true));
    drop(r);
    drop(sock);
    assert_eq!(report.recv_timeout(wait).unwrap(), (true, false));
}

#[test]
fn a_panicking_or_silent_handler_gets_500_and_the_server_goes_on() {
    let server = start(
        Limits::default(),
        |req: Request, resp: Responder| match req.path() {
            "/panic" => panic!("a handler bug (this panic is expected by the test)"),
            "/silent" => drop(resp),
            _ => echo(req, resp),
        },
    );
    for path in ["/panic", "/silent"] {
        let a = ask(
            server.addr,
            format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes(),
        );
        assert_eq!(a.status, 500, "{path}");
        assert!(a.body.contains("no answer"), "{}", a.body);
        assert_eq!(a.header("connection"), Some("close"));
    }
    assert_eq!(ask(server.addr, b"GET /ok HTTP/1.1\r\n\r\n").status, 200);
}

#[test]
fn the_stopper_stops_run() {
    let server = start(Limits::default(), echo);
    assert_eq!(ask(server.addr, b"GET / HTTP/1.1\r\n\r\n").status, 200);
    server.stopper.stop();
    server
        .done
        .recv_timeout(Duration::from_secs(5))
        .expect("run() returned");
    // The listener is closed with it.
    assert!(TcpStream::connect(server.addr).is_err());
}
