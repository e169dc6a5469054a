//! The listener over TLS: a request and keep-alive round-trip with a rustls client trusting a
//! self-signed certificate that `openssl` makes for each test, `client_gone` seeing a
//! `close_notify` yet keeping a pipelined request, a stalled handshake dropped at the head
//! deadline, and `tls_config` naming the file that is missing or not PEM.

use super::tests::{closed, connect, echo, read_answer, read_chunk, read_line, start_with};
use super::*;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Mutex};
use std::thread;

/// A self-signed certificate for `localhost` and 127.0.0.1, made by `openssl` in a fresh
/// folder: (folder, certificate, key).
fn test_certificate() -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sentinel-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "2"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA (webpki refuses a CA certificate as a server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (dir, cert, key)
}

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A TLS connection to `addr` trusting only `cert`, for the name `localhost`.
fn tls_client(addr: std::net::SocketAddr, cert: &std::path::Path) -> TlsClient {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::pem::PemObject::from_pem_file(cert).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    rustls::StreamOwned::new(conn, connect(addr))
}

#[test]
fn a_request_over_tls_round_trips() {
    let (dir, cert, key) = test_certificate();
    let config = tls_config(&cert, &key).unwrap();
    let server = start_with(Limits::default(), Some(config), echo);

    let mut tls = tls_client(server.addr, &cert);
    tls.write_all(b"GET /secure?q HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(tls);
    let a = read_answer(&mut r);
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "GET /secure?q /secure - tls=true []")
    );
    // Keep-alive over TLS too.
    r.get_mut()
        .write_all(b"POST /two HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_answer(&mut r).body, "POST /two /two - tls=true [abc]");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stalled_tls_handshake_is_dropped() {
    let (dir, cert, key) = test_certificate();
    let limits = Limits {
        head_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start_with(limits, Some(tls_config(&cert, &key).unwrap()), echo);
    let started = Instant::now();
    let mut sock = connect(server.addr);
    sock.write_all(&[0x16, 0x03, 0x01]).unwrap(); // the start of a ClientHello, never finished
    assert!(closed(&mut sock));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_config_names_the_file_that_is_wrong() {
    let (dir, cert, key) = test_certificate();
    let missing = dir.join("missing.pem");
    let err = tls_config(&missing, &key).unwrap_err();
    assert!(
        err.contains("missing.pem") && err.contains("--tls-cert"),
        "{err}"
    );
    let err = tls_config(&cert, &missing).unwrap_err();
    assert!(
        err.contains("missing.pem") && err.contains("--tls-key"),
        "{err}"
    );
    let text = dir.join("not-pem.txt");
    std::fs::write(&text, "this is not a certificate\n").unwrap();
    let err = tls_config(&text, &key).unwrap_err();
    assert!(
        err.contains("not-pem.txt") && err.contains("no CERTIFICATE"),
        "{err}"
    );
    let err = tls_config(&cert, &text).unwrap_err();
    assert!(
        err.contains("not-pem.txt") && err.contains("no private key"),
        "{err}"
    );
    // Key and certificate swapped.
    assert!(tls_config(&key, &cert).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

/// Streams "hello", then reports `client_gone()` each time the test asks (by sending on
/// `ask`), until the test says to finish (false).
fn gone_reporter(ask: mpsc::Receiver<bool>, report: mpsc::Sender<bool>) -> impl Handler {
    let (ask, report) = (Mutex::new(ask), Mutex::new(report));
    move |req: Request, resp: Responder| {
        if req.path() != "/stream" {
            return echo(req, resp);
        }
        let mut stream = resp.stream(200, &[]);
        stream.write(b"hello");
        let ask = ask.lock().unwrap();
        while ask.recv_timeout(Duration::from_secs(10)) == Ok(true) {
            let until = Instant::now() + Duration::from_secs(5);
            let mut gone = stream.client_gone();
            while !gone && Instant::now() < until && req.header("x-wait") == Some("gone") {
                thread::sleep(Duration::from_millis(10));
                gone = stream.client_gone();
            }
            report.lock().unwrap().send(gone).unwrap();
        }
        stream.finish();
    }
}

/// Reads a streamed answer's head and its first chunk, "hello".
fn read_hello(r: &mut impl BufRead) {
    assert_eq!(read_line(r), "HTTP/1.1 200 OK");
    while !read_line(r).is_empty() {}
    assert_eq!(read_chunk(r).unwrap(), b"hello");
}

#[test]
fn client_gone_over_tls_sees_close_notify() {
    let (dir, cert, key) = test_certificate();
    let (ask_tx, ask) = mpsc::channel();
    let (report_tx, report) = mpsc::channel();
    let config = Some(tls_config(&cert, &key).unwrap());
    let server = start_with(Limits::default(), config, gone_reporter(ask, report_tx));
    let mut tls = tls_client(server.addr, &cert);
    tls.write_all(b"GET /stream HTTP/1.1\r\nX-Wait: gone\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(tls);
    read_hello(&mut r);
    // The client ends its side cleanly but keeps the socket open: a peek would see bytes.
    r.get_mut().conn.send_close_notify();
    r.get_mut().flush().unwrap();
    ask_tx.send(true).unwrap();
    let wait = Duration::from_secs(10);
    assert_eq!(report.recv_timeout(wait), Ok(true));
    ask_tx.send(false).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn client_gone_over_tls_keeps_a_pipelined_request() {
    let (dir, cert, key) = test_certificate();
    let (ask_tx, ask) = mpsc::channel();
    let (report_tx, report) = mpsc::channel();
    let config = Some(tls_config(&cert, &key).unwrap());
    let server = start_with(Limits::default(), config, gone_reporter(ask, report_tx));
    let mut tls = tls_client(server.addr, &cert);
    tls.write_all(b"GET /stream HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(tls);
    read_hello(&mut r);
    // The next request arrives while the stream runs; client_gone reads its records.
    r.get_mut()
        .write_all(b"GET /next HTTP/1.1\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    let wait = Duration::from_secs(10);
    for _ in 0..2 {
        ask_tx.send(true).unwrap();
        assert_eq!(report.recv_timeout(wait), Ok(false));
    }
    ask_tx.send(false).unwrap();
    assert!(read_chunk(&mut r).is_none());
    assert_eq!(read_answer(&mut r).body, "GET /next /next - tls=true []");
    let _ = std::fs::remove_dir_all(dir);
}
